"""Small line plots with axes, for the training dock.

:class:`LinePlot` draws ``points`` (a list of ``(x, y)``) decimated to its
pixel width (:func:`decimate`), with ticks and labels on both axes, the axis
names, and a caption above the plot that is shortened, never clipped, when
the widget is narrow. :class:`LossPlot` and :class:`AccuracyPlot` are the
two plots of the training dock.
"""

import math

import numpy as np
from PySide6.QtCore import QPointF, QRect, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QWidget

__all__ = ["LinePlot", "LossPlot", "AccuracyPlot", "decimate", "nice_ticks"]

_BG = QColor("#1d1f23")
_FRAME = QColor("#3a3f47")
_TEXT = QColor("#9aa1ad")
_GRID = QColor(58, 63, 71, 110)


def decimate(xs, ys, x0, x1, width):
    """Indices of the points to draw for a line ``width`` pixels wide.

    ``xs`` must be non-decreasing. Each pixel column keeps its first, lowest,
    highest and last point (in their original order), so that spikes survive
    and the path has at most 4 points a column, however many there are.
    """
    n = len(xs)
    width = max(int(width), 1)
    if n <= 4 * width:
        return np.arange(n)
    xs = np.asarray(xs, float)
    ys = np.asarray(ys, float)
    col = np.clip(((xs - x0) / max(x1 - x0, 1e-300) * width).astype(np.int64),
                  0, width - 1)
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    ends = np.r_[starts[1:], n] - 1
    lo = np.minimum.reduceat(ys, starts)
    hi = np.maximum.reduceat(ys, starts)
    # first index within each run where the min / max occurs
    seg = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
    big = np.iinfo(np.int64).max
    idx = np.arange(n)
    imin = np.full(len(starts), big)
    imax = np.full(len(starts), big)
    np.minimum.at(imin, seg, np.where(ys == lo[seg], idx, big))
    np.minimum.at(imax, seg, np.where(ys == hi[seg], idx, big))
    keep = np.concatenate([starts, ends, imin, imax])
    return np.unique(keep)


def nice_ticks(lo, hi, most=5, integer=False):
    """At most ``most`` round tick values in ``[lo, hi]`` (1, 2 or 5 × 10^k apart).

    ``integer``: steps of at least 1 (epochs, batches).
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(most - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    steps = [m * mag for m in (10, 5, 2, 1, 0.5, 0.2, 0.1)]
    step = next(m for m in reversed(steps) if m >= raw)
    ticks = _ticks(lo, hi, step, integer)
    while len(ticks) < 2 and step > steps[-1]:  # a narrow plot: smaller steps
        step = next(m for m in steps if m < step)
        ticks = _ticks(lo, hi, step, integer)
    return ticks[:max(most, 2)]


def _ticks(lo, hi, step, integer):
    if integer:
        step = max(step, 1)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    t = first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    return ticks


def _tick_text(v):
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.3g}"


class LinePlot(QWidget):
    """A line over ``points`` with axes (ticks, labels, names) and a caption."""

    color = "#4ea1ff"
    placeholder = "values appear here"
    y_range = None  # fixed (lo, hi), or None to fit the data
    x_name = "x"
    y_name = "y"
    x_integer = True

    def __init__(self, parent=None):
        super().__init__(parent)
        self.points = []
        self.setMinimumHeight(130)
        self.setMinimumWidth(150)
        self.drawn = 0  # points in the last painted path (for tests)
        self.shown_caption = ""  # the caption as last painted
        self.x_ticks, self.y_ticks = [], []

    def clear(self):
        self.points = []
        self.update()

    def add(self, x, y):
        if y is not None and math.isfinite(y):
            self.points.append((float(x), float(y)))
            self.update()

    def captions(self):
        """The caption, longest first; the first that fits is drawn."""
        return [f"{len(self.points)} points · last {self.points[-1][1]:.4g}",
                f"last {self.points[-1][1]:.4g}"]

    def plot_rect(self):
        """Where the line is drawn: room above for the caption, left for the
        y tick labels, below for the x tick labels and the axis name."""
        fm = self.fontMetrics()
        h = fm.height()
        return self.rect().adjusted(fm.horizontalAdvance("0.0000") + 10, h + 6,
                                    -10, -(h + 8))

    def _ranges(self):
        pts = np.asarray(self.points, float)
        xs, ys = pts[:, 0], pts[:, 1]
        x0 = float(xs.min())
        x1 = max(float(xs.max()), x0 + 1)
        if self.y_range is not None:
            y0, y1 = self.y_range
        else:
            y0, y1 = float(ys.min()), float(ys.max())
            if y1 - y0 < 1e-12:
                y0, y1 = y0 - 0.5, y1 + 0.5
        return xs, ys, x0, x1, y0, y1

    def paintEvent(self, event):
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing, True)
        p.fillRect(self.rect(), _BG)
        r = self.plot_rect()
        fm = self.fontMetrics()
        p.setPen(_FRAME)
        p.drawRect(r)
        if not self.points:
            p.setPen(QColor("#7d8590"))
            p.drawText(self.rect().adjusted(6, 6, -6, -6),
                       Qt.AlignCenter | Qt.TextWordWrap, self.placeholder)
            self.drawn = 0
            self.shown_caption = ""
            self.x_ticks, self.y_ticks = [], []
            return
        xs, ys, x0, x1, y0, y1 = self._ranges()

        def px_of(x):
            return r.left() + (x - x0) / (x1 - x0) * r.width()

        def py_of(y):
            return r.bottom() - (y - y0) / (y1 - y0) * r.height()

        # axes: grid lines, ticks and their labels, axis names
        self.y_ticks = nice_ticks(y0, y1, max(2, min(5, r.height() // 28)))
        self.x_ticks = nice_ticks(x0, x1, max(2, min(6, r.width() // 60)),
                                  integer=self.x_integer)
        h = fm.height()
        for y in self.y_ticks:
            yy = py_of(y)
            p.setPen(_GRID)
            p.drawLine(QPointF(r.left(), yy), QPointF(r.right(), yy))
            p.setPen(_TEXT)
            p.drawLine(QPointF(r.left() - 4, yy), QPointF(r.left(), yy))
            p.drawText(QRect(0, int(yy - h / 2), r.left() - 6, h),
                       Qt.AlignRight | Qt.AlignVCenter, _tick_text(y))
        name_w = fm.horizontalAdvance(self.x_name) + 6
        for x in self.x_ticks:
            xx = px_of(x)
            p.setPen(_TEXT)
            p.drawLine(QPointF(xx, r.bottom()), QPointF(xx, r.bottom() + 4))
            text = _tick_text(x)
            tw = fm.horizontalAdvance(text)
            if xx + tw / 2 < r.right() - name_w:  # the axis name keeps its place
                p.drawText(QRect(int(xx - tw / 2) - 2, r.bottom() + 5, tw + 4, h),
                           Qt.AlignCenter, text)
        p.setPen(_TEXT)
        p.drawText(QRect(r.right() - name_w, r.bottom() + 5, name_w, h),
                   Qt.AlignRight, self.x_name)
        # the caption, the longest form that fits the width
        width = self.width() - 8
        self.shown_caption = next(
            (c for c in self.captions() if fm.horizontalAdvance(c) <= width),
            fm.elidedText(self.captions()[-1], Qt.ElideRight, width))
        p.drawText(QRect(4, 2, width, h + 2), Qt.AlignLeft | Qt.AlignVCenter,
                   self.shown_caption)

        keep = decimate(xs, ys, x0, x1, r.width())
        px = px_of(xs[keep])
        py = py_of(ys[keep])
        path = QPainterPath(QPointF(px[0], py[0]))
        for x, y in zip(px[1:].tolist(), py[1:].tolist()):
            path.lineTo(x, y)
        self.drawn = len(keep)
        p.setClipRect(r.adjusted(-3, -3, 3, 3))
        p.setPen(QPen(QColor(self.color), 1.5))
        p.drawPath(path)
        if len(keep) <= 40:  # few points (epochs): mark them
            p.setBrush(QColor(self.color))
            for x, y in zip(px.tolist(), py.tolist()):
                p.drawEllipse(QPointF(x, y), 2.5, 2.5)


class LossPlot(LinePlot):
    """Batch losses as a line (``points``: a list of (step, loss))."""

    placeholder = "loss per batch appears here while training"
    x_name = "batch"
    y_name = "loss"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("lossPlot")

    def captions(self):
        last = self.points[-1][1]
        return [f"loss per batch · {len(self.points)} batches · last {last:.4g}",
                f"loss · last {last:.4g}", f"loss {last:.3g}"]


class AccuracyPlot(LinePlot):
    """Test accuracy per epoch (``points``: a list of (epoch, accuracy))."""

    color = "#57c785"
    placeholder = "test accuracy per epoch appears here"
    y_range = (0.0, 1.0)
    x_name = "epoch"
    y_name = "accuracy"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("accuracyPlot")

    def captions(self):
        last = self.points[-1][1]
        return [f"test accuracy per epoch · last {last:.3f}",
                f"test accuracy {last:.3f}", f"acc. {last:.3f}"]
