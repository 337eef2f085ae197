"""A layer group's frame: a rounded box behind its nodes, with a title tab.

Members are the nodes whose ``ui.group`` names the group. Clicking the
triangle collapses the group to its main node (the scene asks the editor,
which pushes an undo command); dragging the tab moves the whole group.
"""

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem

from ..style import C, font
from .text import _fm

__all__ = ["GroupItem"]

PAD = 12.0
TAB = 20.0


class GroupItem(QGraphicsItem):
    def __init__(self, scene, name):
        super().__init__()
        self._scene = scene
        self.name = name
        self.members = []
        self.caption = ""
        self.colour = QColor(C.group_border)
        self.setZValue(0)
        self.setAcceptHoverEvents(True)
        self.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
        self._rect = QRectF()
        self._links = []
        self._tab_origin = QPointF()
        self._tab_width = None
        self._bounds = QRectF()
        self.hulls = []
        self._drag = None

    def set_members(self, items, caption, colour=None):
        self.members = list(items)
        if caption != self.caption:
            self._tab_width = None
        self.caption = caption
        self.prepareGeometryChange()
        if colour is not None:
            self.colour = QColor(colour)
        self.update_rect()

    def update_rect(self):
        """The outline: one box per column of members, joined by bridges, so
        that a node of another column standing beside the group stays outside."""
        cols = {}
        rep = None
        for it in self.members:
            if not it.isVisible():
                continue
            r = it.mapRectToScene(it.geo.rect)
            # top to bottom, the layout keeps a group in one block: one box
            key = 0 if self._scene.vertical else round(it.pos().x() / 40)
            cols[key] = cols[key].united(r) if key in cols else r
            if rep is None or rep[1].node_id != self.name:
                rep = (key, it)  # the member named like the group, else the last
        hulls = {k: r.adjusted(-PAD, -PAD, PAD, PAD) for k, r in cols.items()}
        if rep is not None:
            h = hulls[rep[0]]
            hulls[rep[0]] = h.adjusted(0, -TAB, 0, 0)
            self._tab_origin = hulls[rep[0]].topLeft()
        ordered = [hulls[k] for k in sorted(hulls)]
        self.hulls = ordered
        # connectors fill the gap between consecutive boxes, without a border
        # and without overlapping them (translucent fills would darken there)
        links = []
        for a, b in zip(ordered, ordered[1:]):
            if b.left() <= a.right():
                continue
            top, bottom = max(a.top(), b.top()), min(a.bottom(), b.bottom())
            if bottom - top >= 0.5 * min(a.height(), b.height()):
                links.append(QPolygonF(QRectF(a.right(), top + 8, b.left() - a.right(),
                                              bottom - top - 16)))
                continue
            # a funnel into the op's body, below its title and the group's tab
            b_top = min(b.top() + TAB + PAD + 30, b.bottom() - 12)
            links.append(QPolygonF([QPointF(a.right(), a.top() + 8),
                                    QPointF(b.left(), b_top),
                                    QPointF(b.left(), b.bottom() - 8),
                                    QPointF(a.right(), a.bottom() - 8)]))
        r = QRectF()
        for h in ordered:
            r = r.united(h)
        self.prepareGeometryChange()
        self._links = links
        self._rect = r
        self._bounds = r.united(self.tab_rect()).adjusted(-1, -1, 1, 1)

    def boundingRect(self):
        return self._bounds

    def tab_rect(self):
        if self._tab_width is None:
            self._tab_width = max(_fm("small").horizontalAdvance(self.caption) + 34, 60)
        o = self._tab_origin
        return QRectF(o.x(), o.y(), self._tab_width, TAB)

    def paint(self, painter, option, widget=None):
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        fill = QColor(self.colour)
        fill.setAlpha(26)
        border = QColor(self.colour)
        border.setAlpha(120)
        pen = QPen(border, 1)
        pen.setCosmetic(True)
        painter.setRenderHint(painter.RenderHint.Antialiasing, lod > 0.3)
        painter.setPen(Qt.NoPen)
        painter.setBrush(QBrush(fill))
        for poly in self._links:
            painter.drawPolygon(poly)
        painter.setPen(pen if lod >= 0.3 else Qt.NoPen)
        for h in self.hulls:
            painter.drawRoundedRect(h, 8, 8)
        if lod < 0.45:
            return
        tab = self.tab_rect()
        bg = QColor(self.colour)
        bg.setAlpha(70)
        painter.setPen(Qt.NoPen)
        painter.setBrush(bg)
        painter.drawRoundedRect(tab, 6, 6)
        painter.setPen(C.text)
        painter.setFont(font("small"))
        painter.drawText(QRectF(tab.x() + 6, tab.y(), 14, TAB), Qt.AlignVCenter, "▾")
        painter.drawText(QRectF(tab.x() + 20, tab.y(), tab.width() - 24, TAB),
                         Qt.AlignVCenter | Qt.AlignLeft,
                         _fm("small").elidedText(self.caption, Qt.ElideRight,
                                                 tab.width() - 24))

    def _in_tab(self, pos):
        return self.tab_rect().contains(pos)

    def shape(self):
        p = QPainterPath()
        p.addRect(self.tab_rect())
        return p

    def mousePressEvent(self, event):
        if event.button() != Qt.LeftButton or not self._in_tab(event.pos()):
            event.ignore()
            return
        if event.pos().x() < self.tab_rect().x() + 20:
            self._scene.request_collapse(self.name, True)
            event.accept()
            return
        if not event.modifiers() & Qt.ControlModifier:
            self._scene.clearSelection()
        for it in self.members:
            it.setSelected(True)
        self._drag = event.scenePos()
        self._scene.begin_move()
        event.accept()

    def mouseMoveEvent(self, event):
        if self._drag is None:
            return
        d = event.scenePos() - self._drag
        self._drag = event.scenePos()
        for it in self._scene.selectedItems():
            if it.flags() & QGraphicsItem.ItemIsMovable:
                it.setPos(it.pos() + QPointF(d))

    def mouseReleaseEvent(self, event):
        if self._drag is not None:
            self._drag = None
            self._scene.end_move()

    def mouseDoubleClickEvent(self, event):
        if self._in_tab(event.pos()):
            self._scene.request_collapse(self.name, True)
