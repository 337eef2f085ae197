"""Edges: a bezier from an output port to an input port, with the tensor's shape.

Edges are drawn with a 1 px cosmetic pen (a wide antialiased stroke was half
the frame time in the measurements of the shared GUI notes); the shape label
appears only when zoomed in enough to read it. An edge item takes clicks,
hovers and selection, but the scene's :class:`~gui.items.edge_layer.EdgeLayerItem`
draws it, with all the others, unless it is highlighted (selected, hovered)
or dashed: then it draws itself, on top.
"""

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem

from ..style import C
from .edge_layer import LABEL_LOD, paint_label
from .text import _fm

__all__ = ["EdgeItem", "bezier", "LABEL_LOD"]


RIGHT, LEFT = (1.0, 0.0), (-1.0, 0.0)


def _controls(p1, p2, d1=RIGHT, d2=LEFT):
    """Control points: out of ``p1`` along ``d1`` and into ``p2`` against ``d2``
    (each port's outward direction)."""
    along = (p2.x() - p1.x()) * d1[0] + (p2.y() - p1.y()) * d1[1]
    if along >= 0:
        k = max(along * 0.5, 30.0)
    elif d1[1]:  # top to bottom, back up (to the next lane): a short hook each end
        k = 60.0
    else:  # a wire going backwards loops out of its port and into the other
        k = max(-along * 0.5, 80.0) + 40.0
    return (QPointF(p1.x() + d1[0] * k, p1.y() + d1[1] * k),
            QPointF(p2.x() + d2[0] * k, p2.y() + d2[1] * k))


def bezier(p1, p2, d1=RIGHT, d2=LEFT):
    """The cubic path of a wire from ``p1`` (output) to ``p2`` (input)."""
    c1, c2 = _controls(p1, p2, d1, d2)
    path = QPainterPath(p1)
    path.cubicTo(c1, c2, p2)
    return path


def _point(p1, c1, c2, p2, t):
    u = 1 - t
    a, b, c, d = u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t
    return QPointF(a * p1.x() + b * c1.x() + c * c2.x() + d * p2.x(),
                   a * p1.y() + b * c1.y() + c * c2.y() + d * p2.y())


def routed(p1, p2, cy):
    """A wire that leaves ``p1``, runs along the free channel at height ``cy`` and
    comes back up (or down) to ``p2``: used when a straight curve would cross
    other boxes."""
    a, b = p1.x() + 60, p2.x() - 60
    path = QPainterPath(p1)
    path.cubicTo(QPointF(p1.x() + 40, p1.y()), QPointF(a - 40, cy), QPointF(a, cy))
    path.lineTo(b, cy)
    path.cubicTo(QPointF(b + 40, cy), QPointF(p2.x() - 40, p2.y()), p2)
    return path


def label_point(p1, p2, d1=RIGHT, d2=LEFT):
    """Where a wire's shape label goes: the middle, or, for a long wire, the gap
    just before its target (the only place sure to be free of other boxes)."""
    c1, c2 = _controls(p1, p2, d1, d2)
    axis = 0 if d2[0] else 1  # the target's side: approach along x or along y
    coord = (lambda q: q.x()) if axis == 0 else (lambda q: q.y())
    span = coord(p2) - coord(p1)
    if abs(span) <= 420 or span < 0:
        return _point(p1, c1, c2, p2, 0.5)
    target = coord(p2) - (52 if axis == 0 else 30)
    lo, hi = 0.5, 1.0
    for _ in range(18):
        mid = (lo + hi) / 2
        if coord(_point(p1, c1, c2, p2, mid)) < target:
            lo = mid
        else:
            hi = mid
    return _point(p1, c1, c2, p2, lo)


class EdgeItem(QGraphicsItem):
    """One edge; the scene gives it its end points and label."""

    def __init__(self, edge, layer=None):
        super().__init__()
        self.edge = edge
        self.layer = layer
        self.setFlags(QGraphicsItem.ItemIsSelectable)
        if layer is not None:  # drawn by the layer until highlighted
            self.setFlag(QGraphicsItem.ItemHasNoContents)
        self.setZValue(1)
        self.setAcceptHoverEvents(True)
        self.path = QPainterPath()
        self.label = ""
        self.label_rect = QRectF()
        self._rect = QRectF()
        self._shape = None
        self.hover = False
        self.dim = False
        self.channel = None
        self.logical_visible = True

    def set_ends(self, p1, p2, channel=None, d1=RIGHT, d2=LEFT):
        self.prepareGeometryChange()
        self.p1, self.p2 = p1, p2
        self.d1, self.d2 = d1, d2
        self.channel = channel
        self.path = bezier(p1, p2, d1, d2) if channel is None \
            else routed(p1, p2, channel)
        self._shape = None
        self._place_label()
        self.sync()

    def set_label(self, text):
        if text != self.label:
            self.prepareGeometryChange()
            self.label = text
            self._shape = None
            self._place_label()
            self.sync()

    @property
    def draws_itself(self):
        """Highlighted or dashed: drawn by this item, not by the layer."""
        return self.layer is None or self.hover or self.dim or self.isSelected()

    def sync(self):
        """Path, label, visibility or highlight changed: tell the layer (the
        scene calls it when the selection changes)."""
        alone = self.draws_itself
        if bool(self.flags() & QGraphicsItem.ItemHasNoContents) == alone:
            self.setFlag(QGraphicsItem.ItemHasNoContents, not alone)
        if self.layer is not None:
            self.layer.place(self)
        if alone:
            self.update()

    def show_wire(self, visible):
        """Show or hide the wire (a Python ``itemChange`` would do this for
        every change of every edge item: a third of building a big scene)."""
        self.setVisible(visible)
        self.sync()

    def _place_label(self):
        r = self.path.boundingRect()
        if self.label:
            w = _fm("label").horizontalAdvance(self.label) + 10
            if self.channel is None:
                c = label_point(self.p1, self.p2, self.d1, self.d2)
            else:  # on the channel, just before the wire turns to its target
                c = QPointF(self.p2.x() - 60 - w / 2 - 6, self.channel)
            self.label_rect = QRectF(c.x() - w / 2, c.y() - 8, w, 16)
            r = r.united(self.label_rect)
        else:
            self.label_rect = QRectF()
        self._rect = r.adjusted(-3, -3, 3, 3)

    def boundingRect(self):
        return self._rect

    def shape(self):
        if self._shape is None:
            s = QPainterPathStroker()
            s.setWidth(9)
            self._shape = s.createStroke(self.path)
            if self.label:
                self._shape.addRect(self.label_rect)
        return self._shape

    def hoverEnterEvent(self, event):
        self.hover = True
        self.sync()

    def hoverLeaveEvent(self, event):
        self.hover = False
        self.sync()

    def paint(self, painter, option, widget=None):
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        painter.setRenderHint(painter.RenderHint.Antialiasing, True)
        hot = self.isSelected() or self.hover
        pen = QPen(C.edge_selected if hot else C.edge, 2 if hot else 1)
        pen.setCosmetic(True)
        if self.dim:
            pen.setStyle(Qt.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.NoBrush)
        painter.drawPath(self.path)
        if self.label and lod >= LABEL_LOD:
            paint_label(painter, self.label_rect, self.label, hot)
