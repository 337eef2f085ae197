"""Values and gradients written on the wires (what the chain-rule stepper shows).

The stepper describes what to show as a :class:`StepView` and hands it to
:meth:`gui.model.GraphModel.set_annotations`; the model emits
``annotations_changed`` and the scene's :class:`AnnotationLayer` draws it: a
:class:`WireLabel` per wire (value in green above, gradient in red below, a
highlight on the wires of the current step), a dashed stub out of outputs
that feed no edge, and a :class:`NodeHalo` around the current node. The layer
belongs to the scene: a rebuilt scene (File→New, Open) draws the model's
annotations again, which the model dropped with the old graph, so no item
outlives its scene. Labels that would overlap (many wires into one node) are
moved apart.

Hovering a tensor's label shows a heatmap of its first 2-D slice
(:func:`heatmap_tooltip`).
"""

import base64

import numpy as np
from PySide6.QtCore import QBuffer, QIODevice, QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem

from graphlab.symbolic.forms import fmt_number

from .style import font

__all__ = ["StepView", "WireLabel", "NodeHalo", "AnnotationLayer", "short_value",
           "heatmap_image", "heatmap_tooltip"]

VALUE = QColor("#5fd35f")
GRAD = QColor("#ff6b6b")
HOT = QColor("#ffd24d")
_LABEL_BG = QColor(20, 22, 25, 230)


# ---- texts and heatmaps --------------------------------------------------------------

def short_value(v):
    """A value short enough for a wire: ``-12``; ``[0.5, -1]``; ``2×16 ‖0.05‖``."""
    if v is None:
        return ""
    if isinstance(v, (tuple, list)):
        return ", ".join(short_value(x) for x in v)
    a = np.asarray(v)
    if a.ndim == 0:
        return fmt_number(a, 4)
    shape = "×".join(str(d) for d in a.shape)
    if a.size <= 3 and a.dtype.kind in "fiu":
        return "[" + ", ".join(fmt_number(x, 3) for x in a.ravel()) + "]"
    if a.dtype.kind == "f" and a.size:
        return f"{shape} ‖{fmt_number(float(np.linalg.norm(a)), 3)}‖"
    return shape


def _slice2d(v):
    """The first 2-D slice of a tensor (first example, first channel), or None."""
    if isinstance(v, (tuple, list)):
        v = v[0] if v else None
    if v is None:
        return None
    a = np.asarray(v)
    if a.dtype.kind not in "fiub" or a.ndim == 0 or a.size == 0:
        return None
    a = a.astype(float)
    while a.ndim > 2:
        a = a[0]
    return a[None, :] if a.ndim == 1 else a


def heatmap_image(v, size=120):
    """A QImage heatmap of ``v``'s first 2-D slice (blue < 0 < red), or None.

    Each cell becomes a square block, so the longer side is about ``size``
    pixels (at least one pixel per cell).
    """
    a = _slice2d(v)
    if a is None:
        return None
    h, w = a.shape
    finite = np.isfinite(a)
    m = float(np.max(np.abs(a[finite]))) if finite.any() else 0.0
    t = np.where(finite, a / m if m > 0 else 0.0, 0.0)  # in -1..1
    pos, neg = np.clip(t, 0, 1), np.clip(-t, 0, 1)
    rgb = np.empty((h, w, 3), dtype=np.uint8)   # white at 0, red +, blue -
    rgb[..., 0] = (255 * (1 - neg)).round()
    rgb[..., 1] = (255 * (1 - np.maximum(pos, neg))).round()
    rgb[..., 2] = (255 * (1 - pos)).round()
    rgb[~finite] = (40, 40, 40)
    k = max(1, int(size // max(h, w)))
    rgb = np.ascontiguousarray(np.repeat(np.repeat(rgb, k, axis=0), k, axis=1))
    img = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.shape[1] * 3,
                 QImage.Format_RGB888)
    return img.copy()  # own the pixels: rgb is freed on return


def heatmap_tooltip(v, what="value"):
    """Tooltip HTML for a tensor: heatmap (inline PNG), shape, min and max.

    ``""`` for scalars and values with no 2-D slice.
    """
    img = heatmap_image(v)
    if img is None:
        return ""
    a = np.asarray(v[0] if isinstance(v, (tuple, list)) else v, dtype=float)
    if a.size <= 1:
        return ""
    buf = QBuffer()
    buf.open(QIODevice.WriteOnly)
    img.save(buf, "PNG")
    png = base64.b64encode(bytes(buf.data())).decode("ascii")
    shape = "×".join(str(d) for d in a.shape)
    sliced = " (first slice)" if a.ndim > 2 else ""
    return (f"<b>{what}</b> {shape}{sliced}<br>"
            f'<img src="data:image/png;base64,{png}" width="{img.width()}" '
            f'height="{img.height()}"><br>'
            f"min {fmt_number(np.nanmin(a), 4)} · max {fmt_number(np.nanmax(a), 4)}")


# ---- what to show --------------------------------------------------------------------

class StepView:
    """What the wires show at one step (plain data; the model carries it).

    Attributes
    ----------
    wires : dict
        ``{Edge: (value, gradient)}``, arrays or None (not known yet).
    stubs : dict
        ``{(node, port): value}`` for outputs that feed no edge.
    hot : set
        Edges of the current step (highlighted).
    node : str or None
        The current step's node (framed).
    hot_stub : tuple or None
        ``(node, port)`` of the stub highlighted with the current step.
    """

    def __init__(self, wires=None, stubs=None, hot=(), node=None, hot_stub=None):
        self.wires = dict(wires or {})
        self.stubs = dict(stubs or {})
        self.hot = set(hot)
        self.node = node
        self.hot_stub = hot_stub


# ---- items ---------------------------------------------------------------------------

def _text_rect(text, centre):
    from .items.text import _fm
    w = _fm("label").horizontalAdvance(text) + 10
    return QRectF(centre.x() - w / 2, centre.y() - 8, w, 16)


class WireLabel(QGraphicsItem):
    """Draws one wire's annotations: highlight, value and gradient.

    ``target`` is an EdgeItem, or ``(node_item, port)`` for an output stub.
    """

    def __init__(self, target):
        super().__init__()
        self.target = target
        self.setZValue(5)
        self.setAcceptedMouseButtons(Qt.NoButton)
        self.setAcceptHoverEvents(True)  # only over the labels: see shape()
        self.value_text = ""
        self.grad_text = ""
        self.value = None   # the arrays behind the texts, for the heatmap tooltip
        self.grad = None
        self.hot = False
        self.path = None
        self.value_rect = QRectF()
        self.grad_rect = QRectF()
        self._rect = QRectF()

    @property
    def stub(self):
        return isinstance(self.target, tuple)

    @property
    def visible(self):
        return self.stub or self.target.logical_visible

    def _geometry(self):
        """(wire path, anchor rect, whether the wire runs downwards), in scene
        coordinates; the anchor is the wire's shape label (or its middle)."""
        if self.stub:
            item, port = self.target
            p1 = item.port_pos("out", port)
            down = bool(getattr(item.scene(), "vertical", False))
            p2 = QPointF(p1.x(), p1.y() + 30) if down else QPointF(p1.x() + 36,
                                                                   p1.y())
            path = QPainterPath(p1)
            path.lineTo(p2)
            return path, QRectF(p1, p1), down
        e = self.target
        p1, p2 = getattr(e, "p1", None), getattr(e, "p2", None)
        down = (p1 is not None and p2 is not None
                and p2.y() - p1.y() > abs(p2.x() - p1.x()))
        if not e.label_rect.isEmpty():
            return e.path, e.label_rect, down
        c = e.path.pointAtPercent(0.5)
        return e.path, QRectF(c, c), down

    def place(self):
        """Put the labels at their wire (before overlaps are resolved): above
        and below a wire that runs across, left and right of one that runs
        down (beside its shape label, off the boxes it joins)."""
        path, anchor, down = self._geometry()
        c = anchor.center()
        self.path = path if (self.stub or self.hot) else None
        self.value_rect = _text_rect(self.value_text, c) if self.value_text \
            else QRectF()
        self.grad_rect = _text_rect(self.grad_text, c) if self.grad_text \
            else QRectF()
        if self.stub:  # beside the stub, starting at the port
            if down:
                self.value_rect.moveTopLeft(QPointF(c.x() + 6, c.y() + 8))
            else:
                self.value_rect.moveBottomLeft(QPointF(c.x() + 6, c.y() - 3))
        elif down:
            self.value_rect.moveRight(anchor.left() - 4)
            self.grad_rect.moveLeft(anchor.right() + 4)
        else:
            self.value_rect.translate(0, -19)
            self.grad_rect.translate(0, 19)
        self.settle()

    def settle(self):
        """Recompute the bounding rect after the label rects moved."""
        self.prepareGeometryChange()
        r = QRectF() if self.path is None else self.path.boundingRect()
        for x in (self.value_rect, self.grad_rect):
            if not x.isEmpty():
                r = r.united(x)
        self._rect = r.adjusted(-4, -4, 4, 4)
        self.update()

    def set(self, value_text, grad_text, hot, value=None, grad=None):
        self.value, self.grad = value, grad
        if (value_text, grad_text, hot) != (self.value_text, self.grad_text, self.hot):
            self.value_text, self.grad_text, self.hot = value_text, grad_text, hot
            return True
        return False

    def boundingRect(self):
        return self._rect

    def shape(self):
        path = QPainterPath()
        for r in (self.value_rect, self.grad_rect):
            if not r.isEmpty():
                path.addRect(r)
        return path

    def tooltip_at(self, pos):
        """The heatmap tooltip for the label under ``pos`` (item coordinates)."""
        if not self.grad_rect.isEmpty() and self.grad_rect.contains(pos):
            return heatmap_tooltip(self.grad, "gradient")
        if not self.value_rect.isEmpty() and self.value_rect.contains(pos):
            return heatmap_tooltip(self.value, "value")
        return ""

    def hoverMoveEvent(self, event):
        tip = self.tooltip_at(event.pos())
        if tip != self.toolTip():
            self.setToolTip(tip)
        super().hoverMoveEvent(event)

    hoverEnterEvent = hoverMoveEvent

    def paint(self, painter, option, widget=None):
        if not self.visible:
            return
        if self.stub and not self.value_text and not self.hot:
            return
        painter.setRenderHint(painter.RenderHint.Antialiasing, True)
        if self.path is not None:
            pen = QPen(HOT if self.hot else QColor("#7d8696"), 3 if self.hot else 1)
            pen.setCosmetic(True)
            if self.stub and not self.hot:
                pen.setStyle(Qt.DashLine)
            painter.setPen(pen)
            painter.setBrush(Qt.NoBrush)
            painter.drawPath(self.path)
        painter.setFont(font("label"))
        for text, rect, colour in ((self.value_text, self.value_rect, VALUE),
                                   (self.grad_text, self.grad_rect, GRAD)):
            if not text:
                continue
            painter.setPen(QPen(colour, 1))
            painter.setBrush(QBrush(_LABEL_BG))
            painter.drawRoundedRect(rect, 4, 4)
            painter.setPen(colour)
            painter.drawText(rect, Qt.AlignCenter, text)


class NodeHalo(QGraphicsItem):
    """A yellow frame around the node of the current step."""

    def __init__(self):
        super().__init__()
        self.setZValue(4)
        self.setAcceptedMouseButtons(Qt.NoButton)
        self._rect = QRectF()

    def frame(self, rect):
        self.prepareGeometryChange()
        self._rect = rect.adjusted(-6, -6, 6, 6)
        self.update()

    def boundingRect(self):
        return self._rect.adjusted(-3, -3, 3, 3)

    def paint(self, painter, option, widget=None):
        painter.setRenderHint(painter.RenderHint.Antialiasing, True)
        pen = QPen(HOT, 3)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.setBrush(Qt.NoBrush)
        painter.drawRoundedRect(self._rect, 9, 9)


# ---- the layer -----------------------------------------------------------------------

class AnnotationLayer:
    """The scene's wire labels, drawn from ``model.annotations``.

    ``labels`` (``{Edge: WireLabel}``) and ``stubs`` (``{(node, port):
    WireLabel}``) exist while the model has annotations; ``halo`` frames the
    current node.
    """

    def __init__(self, scene):
        self.scene = scene
        self.labels = {}
        self.stubs = {}
        self.halo = None

    def forget(self):
        """The scene cleared its items (they are deleted): drop the references."""
        self.labels, self.stubs, self.halo = {}, {}, None

    def clear(self):
        for item in self._items():
            if item.scene() is self.scene:
                self.scene.removeItem(item)
        self.forget()

    def _items(self):
        return list(self.labels.values()) + list(self.stubs.values()) + (
            [self.halo] if self.halo is not None else [])

    def sync(self):
        """Show the model's annotations (or none)."""
        view = self.scene.model.annotations
        if view is None:
            self.clear()
            return
        s = self.scene
        for edge in list(self.labels):
            if edge not in s.edge_items or self.labels[edge].target \
                    is not s.edge_items[edge]:
                s.removeItem(self.labels.pop(edge))
        for edge, item in s.edge_items.items():
            if edge not in self.labels:
                label = self.labels[edge] = WireLabel(item)
                s.addItem(label)
            value, grad = view.wires.get(edge, (None, None))
            self.labels[edge].set(short_value(value) if value is not None else "",
                                  short_value(grad) if grad is not None else "",
                                  edge in view.hot, value, grad)
        for key in list(self.stubs):
            if key not in view.stubs or key[0] not in s.node_items:
                s.removeItem(self.stubs.pop(key))
        for key, value in view.stubs.items():
            if key[0] not in s.node_items:
                continue
            if key not in self.stubs:
                label = self.stubs[key] = WireLabel((s.node_items[key[0]], key[1]))
                s.addItem(label)
            self.stubs[key].set(short_value(value) if value is not None else "", "",
                                key == view.hot_stub, value)
        if self.halo is None:
            self.halo = NodeHalo()
            s.addItem(self.halo)
        self.relayout()

    def relayout(self):
        """Place every label at its wire, then move overlapping ones apart."""
        if self.scene.model.annotations is None:
            return
        for label in list(self.labels.values()) + list(self.stubs.values()):
            label.place()
        self._spread()
        self._place_halo()

    def _spread(self):
        """Move labels that overlap others up or down (wires fanning into one
        node put their labels in one column), a label's own two rects apart."""
        rects = []
        for label in list(self.labels.values()) + list(self.stubs.values()):
            if not label.visible:
                continue
            for which in ("value_rect", "grad_rect"):
                r = getattr(label, which)
                if not r.isEmpty():
                    rects.append((r.center().x(), r.center().y(), label, which))
        moved = set()
        cell = 256.0  # placed rects by column of the scene, so that a label is
        buckets = {}  # compared with its neighbours only (big graphs stay fast)

        def columns(r):
            return range(int(r.left() // cell), int(r.right() // cell) + 1)

        def free(r):
            return not any(r.intersects(p) for c in columns(r)
                           for p in buckets.get(c, ()))

        for _, _, label, which in sorted(rects, key=lambda t: (t[0], t[1])):
            r = QRectF(getattr(label, which))
            direction = -1 if which == "value_rect" else 1
            for i in range(40):
                if free(r):
                    break
                step = 18 * (i // 2 + 1) * (direction if i % 2 == 0 else -direction)
                r = QRectF(getattr(label, which)).translated(0, step)
            grown = r.adjusted(-1, -1, 1, 1)
            for c in columns(grown):
                buckets.setdefault(c, []).append(grown)
            if r != getattr(label, which):
                setattr(label, which, r)
                moved.add(label)
        for label in moved:
            label.settle()

    def _place_halo(self):
        if self.halo is None:
            return
        view = self.scene.model.annotations
        item = self.scene.node_items.get(view.node) if view and view.node else None
        if item is None or not item.isVisible():
            self.halo.setVisible(False)
            return
        self.halo.frame(item.sceneBoundingRect())
        self.halo.setVisible(True)

    # ---- reading (tests, tooltips) ---------------------------------------------------
    def label(self, edge):
        return self.labels.get(edge)

    def stub_text(self, node, port=None):
        """The value shown on the stub wire of an output that feeds no edge."""
        for (n, p), label in self.stubs.items():
            if n == node and (port is None or p == port):
                return label.value_text
        return ""

    def rects(self):
        """Every visible label rect (value and gradient), in scene coordinates."""
        out = []
        for label in list(self.labels.values()) + list(self.stubs.values()):
            if label.visible:
                out += [r for r in (label.value_rect, label.grad_rect)
                        if not r.isEmpty()]
        return out
