"""The far-out view: every node box in one ``paint`` call.

Below a zoom of about 0.2 no text can be read, and what costs is the number
of items Qt has to visit and blit (2,000 nodes: one cached pixmap each). The
scene then makes node and group items transparent (they still take clicks and
rubber bands) and this item draws all boxes as a few batched rectangle lists.
"""

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsItem

from ..style import C

__all__ = ["OverviewItem", "OVERVIEW_LOD"]

OVERVIEW_LOD = 0.2


class OverviewItem(QGraphicsItem):
    def __init__(self, scene):
        super().__init__()
        self._scene = scene
        self.setZValue(2)
        self.setAcceptedMouseButtons(Qt.NoButton)
        self._rect = QRectF()
        self._bodies = []
        self._headers = {}
        self._groups = []
        self._labels = []
        self.dirty = True

    def rebuild(self):
        self.prepareGeometryChange()
        bodies, headers, groups = [], {}, []
        rect = QRectF()
        for item in self._scene.node_items.values():
            if not item.isVisible():
                continue
            r = item.geo.rect.translated(item.pos())
            bodies.append(r)
            colour = C.error if item.error is not None else item._colour
            headers.setdefault(colour.rgba(), []).append(
                QRectF(r.x(), r.y(), r.width(), min(r.height(), 24.0)))
            rect = rect.united(r)
        by_colour = {}
        for g in self._scene.group_items.values():
            if g.isVisible():  # a group's column boxes, without the funnels
                by_colour.setdefault(g.colour.rgb(), []).extend(g.hulls)
                rect = rect.united(g._rect)
        for rgb, rects in by_colour.items():
            colour = QColor.fromRgb(rgb)
            colour.setAlpha(26)
            groups.append((colour, rects))
        self._bodies, self._headers, self._groups = bodies, headers, groups
        self._labels = _labels(self._scene)
        self._rect = rect.adjusted(-4, -4, 4, 4)
        self.dirty = False
        self.update()

    def boundingRect(self):
        return self._rect

    def paint(self, painter, option, widget=None):
        painter.setRenderHint(painter.RenderHint.Antialiasing, False)
        painter.setPen(Qt.NoPen)
        for colour, rects in self._groups:
            painter.setBrush(colour)
            painter.drawRects(rects)
        painter.setBrush(C.node_body)
        painter.drawRects(self._bodies)
        for rgba, rects in self._headers.items():
            painter.setBrush(QColor.fromRgba(rgba))
            painter.drawRects(rects)
        selected = [it.geo.rect.translated(it.pos())
                    for it in self._scene.selected_node_items()]
        if selected:
            pen = QPen(C.selected, 2)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.setBrush(Qt.NoBrush)
            painter.drawRects(selected)
        paint_labels(self, painter, option.levelOfDetailFromTransform(
            painter.worldTransform()))


def _labels(scene):
    """``(rect, text)``: a name per collapsed box and per group frame, drawn
    when there is room for it on screen (never a wall of blank blocks)."""
    out = []
    for item in scene.node_items.values():
        if item.isVisible() and item.collapsed_count:
            out.append((item.geo.rect.translated(item.pos()),
                        scene._group_of.get(item.node_id, item.node_id)))
    for g in scene.group_items.values():
        if g.isVisible():
            out.append((g._rect, g.name))
    return out


def paint_labels(item, painter, lod):
    """The names of :func:`_labels`, 9 px tall on screen, where they fit."""
    from PySide6.QtGui import QFontMetricsF

    from .node import title_font
    if not item._labels:
        return
    f = title_font(lod)
    fm = QFontMetricsF(f)
    painter.setFont(f)
    painter.setPen(C.text)
    h = fm.height()
    for rect, text in item._labels:
        if rect.width() * lod < 40:
            continue
        painter.drawText(QRectF(rect.x() + 2 / lod, rect.y(), rect.width() - 4 / lod,
                                min(h, rect.height())),
                         Qt.AlignLeft | Qt.AlignVCenter,
                         fm.elidedText(text, Qt.ElideRight, rect.width() - 4 / lod))
