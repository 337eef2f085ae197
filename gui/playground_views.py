"""The Playground view's drawings: the surface over the plane with its points,
one small heatmap per unit, and the loss curves (see :mod:`gui.playground`).

:func:`frame_of` computes a frame's values and colours on any thread; the
widgets only turn bytes into images and draw them.
"""

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from graphlab import surface as surf

__all__ = ["SurfaceView", "UnitGrid", "LossCurves", "frame_of", "mosaic",
           "RESOLUTION", "UNIT_STEP"]

RESOLUTION = 100  # grid points per side: 10,000 points a frame
UNIT_STEP = 2  # unit tiles use every other point, drawn twice as large
BACKGROUND = QColor("#1d1f23")
GRID_PEN = QColor("#3a3f47")
TEXT = QColor("#9aa1ad")


def frame_of(surface, state=None, cols=None):
    """One frame: the surface's values and their colours (any thread).

    Returns
    -------
    dict
        ``output`` (R×R values), ``rgb`` (R×R×3 bytes), ``units`` (U×R×R or
        None), ``unit_rgb`` (U×R×R×3 or None), ``mosaic`` (the unit tiles laid
        out ``cols`` a row, when ``cols`` is given), ``state`` (the values
        used), ``node``.
    """
    if state is not None:
        surface.load(state)
    values = surface.compute()
    out = values["output"]
    lo, hi = (0.0, 1.0) if surface.classifier or out.min() >= 0 else (-1.0, 1.0)
    frame = {"output": out, "rgb": surf.colors(out, lo, hi, strength=0.6),
             "units": values["units"], "unit_rgb": None, "state": state,
             "node": surface.node}
    u = values["units"]
    if u is not None:
        # every other grid point: the tiles are drawn twice that size, and a
        # quarter of the pixels keeps many units cheap to colour and lay out
        u = u[:, ::UNIT_STEP, ::UNIT_STEP]
        # each unit on its own symmetric scale: 0 white, its extremes full colour
        lim = np.abs(u).reshape(len(u), -1).max(axis=1)[:, None, None]
        frame["unit_rgb"] = surf.colors(u / np.maximum(lim, 1e-12))
        if cols:
            frame["mosaic"] = mosaic(frame["unit_rgb"], cols)
    return frame


def _qimage(rgb):
    rgb = np.ascontiguousarray(rgb)
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()


def _layer(width, height):
    img = QImage(max(1, int(width)), max(1, int(height)),
                 QImage.Format_ARGB32_Premultiplied)
    img.fill(Qt.transparent)
    return img


# Painting happens while the training thread runs Python: every Qt call the GUI
# thread makes gives the GIL away and may wait up to the switch interval (5 ms)
# to get it back. So the widgets draw a frame in a handful of calls: the frame's
# pixels as one image, and everything else (points, axes, labels) as layers
# drawn once per size and cached.

class SurfaceView(QWidget):
    """The output heatmap over the plane, the points on it and the axes."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("playSurface")
        self.image = None
        self.extent = surf.datasets2d.EXTENT
        self.parts = None  # (train, test) of {"points", "labels"}
        self.show_test = True
        self.message = "the output over the plane appears here"
        self._cache = None  # the cached overlay: (key, QImage)
        self.setMinimumSize(300, 300)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    def set_frame(self, rgb):
        self.image = None if rgb is None else _qimage(rgb)
        self.update()

    def set_points(self, parts):
        self.parts = parts
        self._cache = None
        self.update()

    def set_show_test(self, on):
        self.show_test = bool(on)
        self._cache = None
        self.update()

    def plot_rect(self):
        side = max(10, min(self.width() - 48, self.height() - 40))
        return QRectF(max(40, (self.width() - side) // 2), 8, side, side)

    def to_pixel(self, rect, points):
        e = self.extent
        x = rect.left() + (points[:, 0] + e) / (2 * e) * rect.width()
        y = rect.top() + (e - points[:, 1]) / (2 * e) * rect.height()
        return x, y

    def _overlay(self):
        """Points and axes: one layer, drawn again only when the size, the
        points or the test-point switch change."""
        key = (self.width(), self.height(), self.show_test, id(self.parts))
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        img = _layer(self.width(), self.height())
        p = QPainter(img)
        p.setRenderHint(QPainter.Antialiasing, True)
        rect = self.plot_rect()
        if self.parts is not None:
            fills = [QColor(*surf.ORANGE), QColor(*surf.BLUE)]
            r = max(2.5, rect.width() / 130)
            parts = [(self.parts[0], QColor("#ffffff"))]
            if self.show_test:
                parts.append((self.parts[1], QColor("#111111")))
            for part, rim in parts:
                xs, ys = self.to_pixel(rect, np.asarray(part["points"], float))
                p.setPen(QPen(rim, 1.0))
                for x, y, c in zip(xs.tolist(), ys.tolist(),
                                   np.clip(part["labels"], 0, 1).tolist()):
                    p.setBrush(fills[c])
                    p.drawEllipse(QPointF(x, y), r, r)
        p.setRenderHint(QPainter.Antialiasing, False)
        p.setBrush(Qt.NoBrush)
        p.setPen(GRID_PEN)
        p.drawRect(rect)
        p.setPen(TEXT)
        e = self.extent
        for v in range(-int(e), int(e) + 1, 2):
            x = rect.left() + (v + e) / (2 * e) * rect.width()
            y = rect.top() + (e - v) / (2 * e) * rect.height()
            p.drawLine(QPointF(x, rect.bottom()), QPointF(x, rect.bottom() + 4))
            p.drawText(QRectF(x - 15, rect.bottom() + 4, 30, 14), Qt.AlignCenter,
                       str(v))
            p.drawLine(QPointF(rect.left() - 4, y), QPointF(rect.left(), y))
            p.drawText(QRectF(rect.left() - 30, y - 7, 24, 14),
                       Qt.AlignRight | Qt.AlignVCenter, str(v))
        p.drawText(QRectF(rect.right() - 30, rect.bottom() + 16, 30, 14),
                   Qt.AlignRight, "x₁")
        p.drawText(QRectF(rect.left() - 34, rect.top() - 2, 20, 14), Qt.AlignLeft,
                   "x₂")
        p.end()
        self._cache = (key, img)
        return img

    def paintEvent(self, event):
        p = QPainter(self)
        p.fillRect(self.rect(), BACKGROUND)
        if self.image is None:
            p.setPen(TEXT)
            p.drawText(self.plot_rect(), Qt.AlignCenter | Qt.TextWordWrap,
                       self.message)
        else:
            p.setRenderHint(QPainter.SmoothPixmapTransform, True)
            p.drawImage(self.plot_rect(), self.image)
        p.drawImage(0, 0, self._overlay())


def mosaic(tiles, cols, gap=6 // UNIT_STEP, label=16 // UNIT_STEP):
    """Tiles (U×S×S×3 bytes) in rows of ``cols``, on the background colour, a
    ``label`` band above each row: one RGB array (any thread), drawn
    ``UNIT_STEP`` times its size."""
    n, s = len(tiles), tiles.shape[1]
    rows = -(-n // cols)
    sx, sy = s + gap, s + label + 4 // UNIT_STEP
    a = np.empty((rows * sy, cols * sx, 3), np.uint8)
    a[...] = (BACKGROUND.red(), BACKGROUND.green(), BACKGROUND.blue())
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = r * sy + label, c * sx
        a[y:y + s, x:x + s] = tiles[i]
    return a


class UnitGrid(QWidget):
    """One small heatmap per unit (every ``UNIT_STEP``-th grid point, drawn
    ``UNIT_STEP`` times as large); hovering a tile shows its incoming weights."""

    GAP, LABEL = 6, 16

    def __init__(self, panel, tile=RESOLUTION // UNIT_STEP * UNIT_STEP, parent=None):
        super().__init__(parent)
        self.setObjectName("playUnits")
        self.panel = panel
        self.tile_px = tile
        self.tiles = None  # U×R×R×3 bytes
        self.mosaic = None  # all tiles as one QImage
        self.cols = 1  # tiles a row (read by the training thread)
        self.node = None
        self._labels = None
        self.message = "select a hidden layer or an activation to see its units"
        self.setMouseTracking(True)
        self.setMinimumHeight(tile + self.LABEL + 8)

    @property
    def count(self):
        return 0 if self.tiles is None else len(self.tiles)

    def set_units(self, node, unit_rgb, mosaic=None):
        """Show ``unit_rgb`` (U×R×R×3 bytes, or None) of ``node``; ``mosaic``
        is them laid out already (:func:`mosaic`, for :attr:`cols` columns)."""
        self.node = node
        self.tiles = None if unit_rgb is None else np.asarray(unit_rgb)
        if self.tiles is not None:
            self.tile_px = self.tiles.shape[1] * UNIT_STEP
        self._resize()
        self._compose(mosaic)
        self.update()

    def _cols(self):
        step = self.tile_px + self.GAP
        self.cols = max(1, (max(self.width(), step + 4) - 4) // step)
        return self.cols

    def _compose(self, laid_out=None):
        """The tiles laid out in rows, as one image."""
        if self.tiles is None:
            self.mosaic = None
            return
        cols = self._cols()
        a = laid_out
        if a is None or a.shape[1] * UNIT_STEP != cols * (self.tile_px + self.GAP):
            a = mosaic(self.tiles, cols)
        self.mosaic = _qimage(a)

    def _resize(self):
        rows = -(-self.count // self._cols()) if self.count else 1
        h = rows * (self.tile_px + self.LABEL + 4) + 8
        if self.minimumHeight() != h:
            self.setMinimumHeight(h)
            self.updateGeometry()

    def resizeEvent(self, event):
        self._resize()
        self._compose()
        super().resizeEvent(event)

    def tile_rect(self, i):
        r, c = divmod(i, self._cols())
        s = self.tile_px
        return QRectF(4 + c * (s + self.GAP), 4 + self.LABEL + r * (s + self.LABEL + 4),
                      s, s)

    def unit_at(self, pos):
        for i in range(self.count):
            if self.tile_rect(i).adjusted(-2, -self.LABEL, 2, 2).contains(pos):
                return i
        return None

    def tooltip_text(self, unit):
        """``h1[3] = tanh(0.52·x1 − 1.3·x2 + 0.1)`` style text, or the name."""
        s = self.panel.surface
        name = f"{self.node}[{unit}]"
        found = None if s is None else s.incoming(unit)
        if found is None:
            return name
        names, w, b = found
        terms = " ".join(f"{'−' if v < 0 else '+'} {abs(v):.3g}·{n}"
                         for v, n in zip(w.tolist(), names))
        terms = terms[2:] if terms.startswith("+ ") else "−" + terms[2:]
        if b is not None:
            terms += f" {'−' if b < 0 else '+'} {abs(b):.3g}"
        g = self.panel.window_.graph
        op = g.node(self.node).op if self.node in g else ""
        inner = terms if op == "Linear" else f"{op.lower()}({terms})"
        return f"{name} = {inner}\nincoming weights: " + ", ".join(
            f"{n}: {v:.3g}" for n, v in zip(names, w.tolist()))

    def event(self, event):
        if event.type() == event.Type.ToolTip:
            unit = self.unit_at(QPointF(event.pos()))
            if unit is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(event.globalPos(), self.tooltip_text(unit), self)
            return True
        return super().event(event)

    def _label_layer(self):
        key = (self.node, self.count, self.width(), self.height(), self.tile_px)
        if self._labels is not None and self._labels[0] == key:
            return self._labels[1]
        img = _layer(self.width(), self.height())
        p = QPainter(img)
        font = QFont(p.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        p.setFont(font)
        for i in range(self.count):
            rect = self.tile_rect(i)
            p.setPen(TEXT)
            p.drawText(QRectF(rect.left(), rect.top() - self.LABEL, rect.width(),
                              self.LABEL - 2), Qt.AlignLeft | Qt.AlignBottom,
                       f"{self.node}[{i}]")
            p.setPen(GRID_PEN)
            p.drawRect(rect.adjusted(-0.5, -0.5, 0.5, 0.5))
        p.end()
        self._labels = (key, img)
        return img

    def paintEvent(self, event):
        p = QPainter(self)
        p.fillRect(self.rect(), BACKGROUND)
        if self.mosaic is None:
            p.setPen(TEXT)
            p.drawText(self.rect(), Qt.AlignCenter | Qt.TextWordWrap, self.message)
            return
        p.setRenderHint(QPainter.SmoothPixmapTransform, True)
        p.drawImage(QRectF(4, 4, self.mosaic.width() * UNIT_STEP,
                           self.mosaic.height() * UNIT_STEP), self.mosaic)
        p.drawImage(0, 0, self._label_layer())


class LossCurves(QWidget):
    """Train and test loss per epoch, two lines on one scale."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("playCurves")
        self.train, self.test = [], []
        self.setMinimumSize(220, 150)

    def clear(self):
        self.train, self.test = [], []
        self.update()

    def add(self, train_loss, test_loss):
        self.train.append(train_loss)
        self.test.append(test_loss)
        self.update()

    def paintEvent(self, event):
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing, True)
        p.fillRect(self.rect(), BACKGROUND)
        r = QRectF(36, 8, self.width() - 44, self.height() - 28)
        p.setPen(GRID_PEN)
        p.drawRect(r)
        vals = [v for v in self.train + self.test if v is not None and math.isfinite(v)]
        if not vals:
            p.setPen(TEXT)
            p.drawText(r, Qt.AlignCenter | Qt.TextWordWrap, "loss per epoch")
            return
        hi = max(vals) * 1.05 or 1.0
        n = max(len(self.train), 2)
        for series, color in ((self.train, "#4ea1ff"), (self.test, "#f59322")):
            pts = [QPointF(r.left() + i / (n - 1) * r.width(),
                           r.bottom() - v / hi * r.height())
                   for i, v in enumerate(series) if v is not None and math.isfinite(v)]
            p.setPen(QPen(QColor(color), 1.5))
            if len(pts) > 1:
                p.drawPolyline(pts)
            elif pts:
                p.drawEllipse(pts[0], 2, 2)
        p.setPen(TEXT)
        p.drawText(QRectF(0, r.top() - 2, 34, 14), Qt.AlignRight, f"{hi:.2g}")
        p.drawText(QRectF(0, r.bottom() - 12, 34, 14), Qt.AlignRight, "0")
        p.setPen(QColor("#4ea1ff"))
        p.drawText(QRectF(r.left(), r.bottom() + 2, 80, 16), Qt.AlignLeft, "train")
        p.setPen(QColor("#f59322"))
        p.drawText(QRectF(r.left() + 50, r.bottom() + 2, 80, 16), Qt.AlignLeft, "test")
        p.setPen(TEXT)
        p.drawText(QRectF(r.right() - 90, r.bottom() + 2, 90, 16), Qt.AlignRight,
                   f"epoch {len(self.train)}")
