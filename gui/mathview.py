"""A small widget that shows one LaTeX formula, typeset.

LaTeX goes through ziamath to SVG (SVG 1.1: with ziamath's default SVG2
output QtSvg draws blank glyphs) and is painted by a :class:`QSvgRenderer`,
scaled down to fit the widget and never up beyond 1.0. SVGs are cached by
(LaTeX, size, colour). If ziamath or QtSvg cannot render a formula the widget
shows nothing and says so (``rendered`` is False), and its owner keeps the
plain text.
"""

import logging
from collections import OrderedDict

from PySide6.QtCore import QByteArray, QRectF, QSize
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QSizePolicy, QWidget

__all__ = ["MathView", "latex_to_svg"]

log = logging.getLogger("gui")

_CACHE = OrderedDict()   # (latex, size, colour) -> svg str, or None if it failed
_CACHE_MAX = 512


def latex_to_svg(latex, size=18, colour="#e6e6e6"):
    """The SVG text of ``latex`` (cached), or None if ziamath cannot render it."""
    key = (latex, size, colour)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    try:
        import ziamath
        ziamath.config.svg2 = False
        svg = ziamath.Latex(latex, size=size, color=colour).svg()
    except Exception as e:  # a formula ziamath cannot parse, or no ziamath at all
        log.info("typesetting %r failed: %s", latex, e, exc_info=True)
        svg = None
    _CACHE[key] = svg
    while len(_CACHE) > _CACHE_MAX:
        _CACHE.popitem(last=False)
    return svg


class MathView(QWidget):
    """Shows ``latex`` typeset; ``rendered`` says whether that worked.

    ``last_latex`` is the LaTeX last given, ``svg`` its SVG text ("" when
    there is none).
    """

    def __init__(self, parent=None, size=18):
        super().__init__(parent)
        self.setObjectName("mathView")
        self.size_ = size
        self.last_latex = ""
        self.svg = ""
        self.rendered = False
        self._renderer = None
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setFixedHeight(0)

    def _colour(self):
        return self.palette().windowText().color().name()

    def set_latex(self, latex):
        """Typeset ``latex`` (falsy: show nothing); returns ``rendered``."""
        self.last_latex = latex or ""
        self.svg, self.rendered, self._renderer = "", False, None
        if latex:
            svg = latex_to_svg(latex, self.size_, self._colour())
            if svg:
                r = QSvgRenderer(QByteArray(svg.encode("utf-8")))
                if r.isValid() and not r.defaultSize().isEmpty():
                    self.svg, self.rendered, self._renderer = svg, True, r
        h = 0
        if self._renderer is not None:
            h = min(self._renderer.defaultSize().height() + 8, 140)
        self.setFixedHeight(h)
        self.setToolTip(self.last_latex if self.rendered else "")
        self.update()
        return self.rendered

    def sizeHint(self):
        if self._renderer is None:
            return QSize(0, 0)
        s = self._renderer.defaultSize()
        return QSize(s.width() + 8, s.height() + 8)

    def paintEvent(self, event):
        if self._renderer is None:
            return
        from PySide6.QtGui import QPainter
        s = self._renderer.defaultSize()
        avail = QRectF(self.rect()).adjusted(4, 4, -4, -4)
        scale = min(1.0, avail.width() / max(1, s.width()),
                    avail.height() / max(1, s.height()))
        w, h = s.width() * scale, s.height() * scale
        target = QRectF(avail.left(), avail.top() + (avail.height() - h) / 2, w, h)
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing, True)
        self._renderer.render(p, target)
        p.end()
