"""Model inspection: conv filters, feature maps and a handwriting pad.

``ModelInspector(window)`` (objectName ``inspectModel``, shown in a dock by
:func:`open_inspect_model`, View → Inspect model) looks at the current graph
with its current values (trained ones in ``graph.params``, else the initial
ones that :func:`graphlab.compile` draws):

- the filters of a chosen Conv2D node's weight Parameter, one tile per output
  channel (averaged over the input channels when there are several);
- the feature maps of one digits image at a chosen conv / pool node, one tile
  per channel, from a forward pass in evaluation mode with that node as the
  output;
- a handwriting pad: draw with the mouse on 160×160, resampled to 8×8 in
  [0, 1] as the digits are, and the class probabilities (softmax of the logits
  of the graph's CrossEntropyLoss) as bars.

Everything is recomputed when the graph or its values change (undo stack),
while the dock is shown.
"""

import logging

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from graphlab.errors import GraphlabError

from .docks import show_dock
from .guard import guarded

__all__ = ["ImageGrid", "DrawPad", "ProbBars", "ModelInspector", "open_inspect_model"]

log = logging.getLogger("gui")

CONV_OPS = ("Conv2D",)
MAP_OPS = ("Conv2D", "MaxPool2D", "AvgPool2D")


def _gray(tile):
    """A 2-D array as a grayscale QImage, scaled to its own min..max."""
    a = np.asarray(tile, float)
    lo, hi = float(a.min()), float(a.max())
    a = (a - lo) / (hi - lo) if hi - lo > 1e-12 else np.zeros_like(a)
    b = np.ascontiguousarray((a * 255).astype(np.uint8))
    h, w = b.shape
    img = QImage(b.data, w, h, w, QImage.Format_Grayscale8)
    return img.copy()  # own the pixels


class ImageGrid(QWidget):
    """Tiles (a K×H×W array) in a grid, each scaled to its own range."""

    def __init__(self, name, tile=40, parent=None):
        super().__init__(parent)
        self.setObjectName(name)
        self.tile_px = tile
        self.tiles = np.zeros((0, 1, 1))
        self.message = ""
        self.setMinimumHeight(tile + 8)

    def set_tiles(self, tiles, message=""):
        self.tiles = np.asarray(tiles, float)
        self.message = message
        self._resize()
        self.update()

    def clear(self, message=""):
        self.set_tiles(np.zeros((0, 1, 1)), message)

    def _cols(self):
        return max(1, (max(self.width(), self.tile_px + 8) - 4) // (self.tile_px + 4))

    def _resize(self):
        rows = -(-len(self.tiles) // self._cols()) if len(self.tiles) else 1
        h = rows * (self.tile_px + 4) + 8
        if self.minimumHeight() != h:
            self.setMinimumHeight(h)
            self.updateGeometry()

    def resizeEvent(self, event):
        self._resize()
        super().resizeEvent(event)

    def paintEvent(self, event):
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#1d1f23"))
        if not len(self.tiles):
            p.setPen(QColor("#7d8590"))
            p.drawText(self.rect(), Qt.AlignCenter | Qt.TextWordWrap, self.message)
            return
        cols, s = self._cols(), self.tile_px
        for i, t in enumerate(self.tiles):
            r, c = divmod(i, cols)
            rect = QRectF(4 + c * (s + 4), 4 + r * (s + 4), s, s)
            p.drawImage(rect, _gray(t))
            p.setPen(QColor("#3a3f47"))
            p.drawRect(rect)


class DrawPad(QWidget):
    """A 160×160 canvas to write a digit on; :meth:`image8` is it as 8×8 in [0, 1]."""

    SIZE = 160

    def __init__(self, on_change=None, parent=None):
        super().__init__(parent)
        self.setObjectName("drawPad")
        self.setFixedSize(self.SIZE, self.SIZE)
        self.canvas = QImage(self.SIZE, self.SIZE, QImage.Format_Grayscale8)
        self.canvas.fill(0)
        self.on_change = on_change
        self._last = None
        self.setCursor(Qt.CrossCursor)
        self.setToolTip("Draw a digit with the mouse")

    def clear(self):
        self.canvas.fill(0)
        self.update()
        if self.on_change:
            self.on_change()

    def image8(self):
        """The drawing as 8×8 floats in [0, 1] (block means of 20×20 pixels)."""
        img = self.canvas
        bpl = img.bytesPerLine()
        a = np.frombuffer(img.constBits(), np.uint8, bpl * self.SIZE)
        a = a.reshape(self.SIZE, bpl)[:, :self.SIZE].astype(np.float32) / 255.0
        k = self.SIZE // 8
        return a.reshape(8, k, 8, k).mean(axis=(1, 3))

    def _stroke(self, pos):
        p = QPainter(self.canvas)
        p.setRenderHint(QPainter.Antialiasing, True)
        p.setPen(QPen(QColor(255, 255, 255), 18, Qt.SolidLine, Qt.RoundCap,
                      Qt.RoundJoin))
        if self._last is None:
            p.drawPoint(pos)
        else:
            p.drawLine(self._last, pos)
        p.end()
        self._last = pos
        self.update()

    def mousePressEvent(self, event):
        if event.button() == Qt.LeftButton:
            self._last = None
            self._stroke(QPointF(event.position()))

    def mouseMoveEvent(self, event):
        if event.buttons() & Qt.LeftButton:
            self._stroke(QPointF(event.position()))

    def mouseReleaseEvent(self, event):
        if event.button() == Qt.LeftButton:
            self._last = None
            if self.on_change:
                self.on_change()

    def paintEvent(self, event):
        p = QPainter(self)
        p.drawImage(0, 0, self.canvas)
        p.setPen(QColor("#3a3f47"))
        p.drawRect(self.rect().adjusted(0, 0, -1, -1))


class ProbBars(QWidget):
    """Class probabilities as horizontal bars, the most likely highlighted."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("probBars")
        self.probs = np.zeros(0)
        self.message = "draw a digit"
        self.setMinimumSize(160, 160)

    def set_probs(self, probs, message=""):
        self.probs = np.asarray(probs, float)
        self.message = message
        self.update()

    def paintEvent(self, event):
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#1d1f23"))
        n = len(self.probs)
        if not n:
            p.setPen(QColor("#7d8590"))
            p.drawText(self.rect(), Qt.AlignCenter | Qt.TextWordWrap, self.message)
            return
        h = (self.height() - 4) / n
        best = int(np.argmax(self.probs))
        width = self.width() - 70
        for i, v in enumerate(self.probs):
            y = 2 + i * h
            p.setPen(QColor("#c9d1d9"))
            p.drawText(QRectF(2, y, 20, h), Qt.AlignVCenter | Qt.AlignRight, str(i))
            p.fillRect(QRectF(26, y + 1, max(1.0, v * width), h - 2),
                       QColor("#57c785" if i == best else "#4ea1ff"))
            p.drawText(QRectF(30 + width, y, 40, h), Qt.AlignVCenter,
                       f"{100 * v:.0f}%")


def _softmax(z):
    z = np.asarray(z, float)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class ModelInspector(QWidget):
    """Filters, feature maps and a handwriting pad for the current graph."""

    def __init__(self, window):
        super().__init__(window)
        self.setObjectName("inspectModel")
        self.window_ = window
        self._digits = None
        self._programs = {}
        self._stale = True

        self.conv_node = QComboBox()
        self.conv_node.setObjectName("inspectConv")
        self.filters = ImageGrid("filterGrid", 36)
        self.map_node = QComboBox()
        self.map_node.setObjectName("inspectMapNode")
        self.image_index = QSpinBox()
        self.image_index.setObjectName("inspectImage")
        self.image_index.setRange(0, 0)
        self.digit = ImageGrid("digitImage", 48)
        self.digit_label = QLabel()
        self.maps = ImageGrid("featureMaps", 48)
        self.pad = DrawPad(self.predict)
        self.pad_input = ImageGrid("padInput", 64)
        self.probs = ProbBars()
        self.status = QLabel()
        self.status.setObjectName("inspectStatus")
        self.status.setWordWrap(True)
        clear = QPushButton("Clear")
        clear.setObjectName("padClear")
        clear.clicked.connect(self.pad.clear)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)

        box1 = QGroupBox("Conv filters")
        f1 = QFormLayout(box1)
        f1.addRow("Conv2D node", self.conv_node)
        f1.addRow(self.filters)
        box2 = QGroupBox("Feature maps of a digit")
        f2 = QFormLayout(box2)
        f2.addRow("At node", self.map_node)
        row = QHBoxLayout()
        row.addWidget(self.image_index)
        row.addWidget(self.digit_label, 1)
        f2.addRow("Digit image", row)
        f2.addRow(self.digit)
        f2.addRow(self.maps)
        box3 = QGroupBox("Handwriting pad")
        v3 = QVBoxLayout(box3)
        pads = QHBoxLayout()
        pads.addWidget(self.pad)
        side = QVBoxLayout()
        side.addWidget(self.pad_input)
        side.addWidget(clear)
        side.addStretch(1)
        pads.addLayout(side)
        pads.addStretch(1)
        v3.addLayout(pads)
        v3.addWidget(self.probs)  # below the pad: the dock stays narrow

        inner = QWidget()
        lay = QVBoxLayout(inner)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.status)
        lay.addWidget(box1)
        lay.addWidget(box2)
        lay.addWidget(box3)
        lay.addWidget(refresh)
        lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.setMinimumWidth(400)

        self.conv_node.currentTextChanged.connect(lambda _: self.show_filters())
        self.map_node.currentTextChanged.connect(lambda _: self.show_maps())
        self.image_index.valueChanged.connect(lambda _: self.show_maps())
        window.model.graph_reset.connect(self._changed)
        window.undo_stack.indexChanged.connect(self._changed)
        self.refresh()

    # ---- data and programs -----------------------------------------------------------
    @property
    def graph(self):
        return self.window_.graph

    def digits(self):
        if self._digits is None:
            from graphlab.data import digits
            self._digits = digits()
        return self._digits

    def program(self, outputs):
        """A forward-only program in evaluation mode for ``outputs`` (cached
        until the graph changes)."""
        key = tuple(outputs)
        if key not in self._programs:
            import graphlab as gl
            self._programs[key] = gl.compile(self.graph, outputs=list(outputs),
                                             training=False, grad=False)
        return self._programs[key]

    def image_input(self):
        """The Input that takes an 8×8 image: ``(node id, shape)`` or None."""
        g = self.graph
        feeds = ((g.train or {}).get("data") or {}).get("feeds") or {}
        cands = [n for n, a in feeds.items() if a == "images" and n in g]
        cands += [n for n in g.nodes if g.node(n).op == "Input"]
        for n in cands:
            shape = g.node(n).resolved.get("shape") or ()
            rest = [d for d in shape[1:]]
            if rest and all(isinstance(d, int) for d in rest) and \
                    int(np.prod(rest)) == 64:
                return n, (1,) + tuple(rest)
        return None

    def logits_ref(self):
        """The logits input of the graph's (only) CrossEntropyLoss, or None."""
        g = self.graph
        ce = [n for n in g.nodes if g.node(n).op == "CrossEntropyLoss"]
        if len(ce) != 1:
            return None
        return g.source_ref(g.in_edges(ce[0])["logits"])

    def run(self, output, image8):
        inp = self.image_input()
        if inp is None:
            raise GraphlabError("the graph has no Input that takes an 8×8 image")
        name, shape = inp
        x = np.asarray(image8, np.float32).reshape(shape)
        return self.program([output]).forward({name: x})[output]

    # ---- refreshing ------------------------------------------------------------------
    @guarded
    def _changed(self, *args):
        self._programs = {}
        self._stale = True
        if self.isVisible():
            self.refresh()

    def showEvent(self, event):
        super().showEvent(event)
        if self._stale:
            self.refresh()

    @guarded
    def refresh(self):
        """Recompute everything for the current graph and values."""
        self._programs = {}
        self._stale = False
        g = self.graph
        convs = [n for n in g.nodes if g.node(n).op in CONV_OPS]
        maps = [n for n in g.nodes if g.node(n).op in MAP_OPS]
        self._set_items(self.conv_node, convs)
        self._set_items(self.map_node, maps)
        self.image_index.setRange(0, len(self.digits()["images"]) - 1)
        try:
            g.check()
            self.status.setText("trained values" if g.params else
                                "initial values (the graph is not trained)")
        except GraphlabError as e:
            self.status.setText(f"Cannot inspect: {e.message}")
            for grid in (self.filters, self.maps):
                grid.clear("the graph does not check")
            self.probs.set_probs([], "the graph does not check")
            return
        self.show_filters()
        self.show_maps()
        self.predict()

    @staticmethod
    def _set_items(combo, items):
        cur = combo.currentText()
        combo.blockSignals(True)
        combo.clear()
        combo.addItems(items)
        if cur in items:
            combo.setCurrentText(cur)
        combo.blockSignals(False)

    def _fail(self, grid, e):
        msg = e.message if isinstance(e, GraphlabError) else f"{type(e).__name__}: {e}"
        grid.clear(msg)
        return msg

    @guarded
    def show_filters(self):
        node = self.conv_node.currentText()
        if not node:
            return self.filters.clear("the graph has no Conv2D node")
        try:
            w_node = self.graph.in_edges(node)["w"].src
            prog = self.program([node])
            w = np.asarray(prog.params[w_node])  # out × in × kh × kw
            tiles = w.mean(axis=1) if w.ndim == 4 else w.reshape(len(w), 1, -1)
            self.filters.set_tiles(tiles)
            self.filters.setToolTip(f"{w_node}: {list(w.shape)}"
                                    + (f", mean over {w.shape[1]} input channels"
                                       if w.ndim == 4 and w.shape[1] > 1 else ""))
        except Exception as e:  # a bad graph must not break the dock
            self._fail(self.filters, e)

    @guarded
    def show_maps(self):
        d = self.digits()
        i = self.image_index.value()
        img = d["images"][i]
        self.digit.set_tiles(img[None])
        self.digit_label.setText(f"label {int(d['labels'][i])}")
        node = self.map_node.currentText()
        if not node:
            return self.maps.clear("the graph has no conv or pool node")
        try:
            out = np.asarray(self.run(node, img))
            maps = out[0] if out.ndim == 4 else out.reshape(1, *out.shape[-2:])
            self.maps.set_tiles(maps)
            self.maps.setToolTip(f"{node}: {list(out.shape)}")
        except Exception as e:
            self._fail(self.maps, e)

    def predict(self):
        """The pad's 8×8 image through the classifier: sets and returns the
        probabilities (None when the graph is no digit classifier)."""
        x = self.pad.image8()
        self.pad_input.set_tiles(x[None])
        ref = self.logits_ref()
        if ref is None:
            self.probs.set_probs([], "no CrossEntropyLoss: not a classifier")
            return None
        if not x.any():
            self.probs.set_probs([], "draw a digit")
            return None
        try:
            logits = np.asarray(self.run(ref, x)).reshape(-1)
        except Exception as e:
            msg = e.message if isinstance(e, GraphlabError) else str(e)
            self.probs.set_probs([], msg)
            return None
        p = _softmax(logits)
        self.probs.set_probs(p)
        return p


def open_inspect_model(window):
    """Show the model inspection dock (created on first use)."""
    def beside_the_inspector(dock):  # full height, as a tab beside the inspector
        other = getattr(window, "inspector_dock", None)
        if other is not None:
            window.tabifyDockWidget(other, dock)

    panel, _ = show_dock(window, "inspect_model", "Inspect model", ModelInspector,
                         Qt.RightDockWidgetArea, beside_the_inspector)
    panel.refresh()
    return panel
