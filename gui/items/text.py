"""Text metrics shared by the canvas items: a node's id at every zoom, counts.

Kept apart from :mod:`gui.items.node` so that the collapsed-group summaries and
the stepper's labels measure text without importing the node item.
"""

from PySide6.QtGui import QFontMetricsF

from ..style import font

__all__ = ["MIN_TITLE_PX", "title_px", "title_font", "title_metrics", "human"]

MIN_TITLE_PX = 9.0  # a node's id is never smaller than this on screen
_metrics = {}
_title_fonts = {}
_title_metrics = {}


def title_px(lod):
    """Pixel size (scene units) of a node's id at a level of detail ``lod``:
    12, or larger when zoomed out so that it stays :data:`MIN_TITLE_PX` on
    screen."""
    return max(12, int(-(-MIN_TITLE_PX // max(lod, 0.02))))


def title_font(lod):
    """The bold id font at ``lod`` (cached per size)."""
    px = title_px(lod)
    f = _title_fonts.get(px)
    if f is None:
        f = type(font("title"))(font("title"))
        f.setPixelSize(px)
        _title_fonts[px] = f
    return f


def title_metrics(lod):
    """Metrics of :func:`title_font` at ``lod`` (cached per size)."""
    px = title_px(lod)
    m = _title_metrics.get(px)
    if m is None:
        m = _title_metrics[px] = QFontMetricsF(title_font(lod))
    return m


def _fm(kind):
    m = _metrics.get(kind)
    if m is None:
        m = _metrics[kind] = QFontMetricsF(font(kind))
    return m


def human(n):
    """``61706`` → ``'61.7k'``, ``1234567`` → ``'1.23M'``."""
    n = int(n)
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            v = n / div
            return (f"{v:.3g}" if v < 100 else f"{v:.0f}") + unit
    return str(n)
