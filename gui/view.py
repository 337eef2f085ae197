"""The canvas view: zoom, pan, wire dragging, drops from the palette, Tab search.

- Wheel: zoom about the cursor. Middle button (or Alt + left): pan.
- Left drag on a port: wire (:mod:`gui.interactions`); on a node: move the
  selection (one undo step); on empty canvas: rubber-band selection.
- Tab: a search field at the cursor; type an op or layer name, Enter places it
  there. Ops dragged from the palette are placed where they are dropped.
- A minimap in the corner shows the whole graph and where the view is; click
  or drag in it to move the view.
"""

from PySide6.QtCore import QPoint, QPointF, QRectF, QStringListModel, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QCursor, QPainter, QPen, QPixmap, QPixmapCache
from PySide6.QtWidgets import (
    QCompleter,
    QFrame,
    QGraphicsView,
    QLineEdit,
    QWidget,
)

from graphlab.ops.base import op_names

from .interactions import MoveGesture, WireDrag
from .items import NodeItem, NoteItem
from .layers import LAYERS
from .style import C, family_colour

__all__ = ["CanvasView", "OpSearch", "Minimap", "OP_MIME", "placeable_names"]

OP_MIME = "application/x-graphlab-op"
MIN_SCALE, MAX_SCALE = 0.04, 3.0
# Items cache their painting per device (DeviceCoordinateCache) in the global
# QPixmapCache, whose default 10 MB holds a few dozen boxes: a full canvas
# then evicts and repaints every item on every frame (measured: 8× slower).
PIXMAP_CACHE_KB = 256 * 1024


def placeable_names():
    """Every op name and layer shortcut, for search and completion."""
    return list(LAYERS) + op_names()


class OpSearch(QLineEdit):
    """The Tab popup: a line edit with completion over op and layer names."""

    chosen = Signal(str)

    def __init__(self, parent):
        super().__init__(parent)
        self.setObjectName("opSearch")
        self.setPlaceholderText("Search ops and layers…")
        self.setFixedWidth(240)
        self.setStyleSheet("QLineEdit { background: #2b2f36; color: #e6e8eb; border: "
                           "1px solid #4ea1ff; border-radius: 4px; padding: 4px; }")
        self.names = placeable_names()
        comp = QCompleter(QStringListModel(self.names, self), self)
        comp.setCaseSensitivity(Qt.CaseInsensitive)
        comp.setFilterMode(Qt.MatchContains)
        comp.setCompletionMode(QCompleter.PopupCompletion)
        comp.setMaxVisibleItems(12)
        self.setCompleter(comp)
        comp.activated.connect(self._pick)
        self.returnPressed.connect(lambda: self._pick(self.text()))
        self.hide()

    def resolve(self, text):
        """The op or layer a typed text means: exact (any case), then prefix,
        then substring; ``None`` if nothing matches."""
        t = text.strip().lower()
        if not t:
            return None
        for match in (lambda n: n.lower() == t, lambda n: n.lower().startswith(t),
                      lambda n: t in n.lower()):
            for n in self.names:
                if match(n):
                    return n
        return None

    def _pick(self, text):
        if not self.isVisible():
            return
        name = self.resolve(text)
        self.close_popup()
        if name is not None:
            self.chosen.emit(name)

    def close_popup(self):
        self.completer().popup().hide()
        self.hide()
        self.parentWidget().setFocus()

    def keyPressEvent(self, event):
        if event.key() == Qt.Key_Escape:
            self.close_popup()
            return
        super().keyPressEvent(event)

    def focusOutEvent(self, event):
        super().focusOutEvent(event)
        popup = self.completer().popup()
        if not popup.isVisible():
            QTimer.singleShot(0, lambda: (not self.hasFocus() and not popup.isVisible()
                                          and self.hide()))


class Minimap(QWidget):
    """Overview of the whole graph in a corner of the canvas."""

    W, H = 220, 140

    def __init__(self, view):
        super().__init__(view)
        self.view = view
        self.setObjectName("minimap")
        self.setFixedSize(self.W, self.H)
        self.setCursor(Qt.PointingHandCursor)
        self._pixmap = None
        self._world = QRectF()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(120)
        self._timer.timeout.connect(self.invalidate)

    def schedule(self):
        self._timer.start()

    def invalidate(self):
        self._pixmap = None
        self.update()

    def _transform(self):
        w = self._world
        if w.isEmpty():
            return 1.0, 0.0, 0.0
        s = min((self.W - 12) / w.width(), (self.H - 12) / w.height())
        ox = (self.W - w.width() * s) / 2 - w.x() * s
        oy = (self.H - w.height() * s) / 2 - w.y() * s
        return s, ox, oy

    def _render(self):
        scene = self.view.scene()
        self._world = (scene.nodes_rect().adjusted(-40, -40, 40, 40) if scene
                       else QRectF())
        pm = QPixmap(self.W, self.H)
        pm.fill(QColor(20, 22, 25, 235))
        p = QPainter(pm)
        s, ox, oy = self._transform()
        if scene is not None:
            pen = QPen(QColor(125, 134, 150, 110), 1)
            p.setPen(pen)
            for item in scene.edge_items.values():
                if item.logical_visible:
                    a, b = item.p1, item.p2
                    p.drawLine(QPointF(a.x() * s + ox, a.y() * s + oy),
                               QPointF(b.x() * s + ox, b.y() * s + oy))
            p.setPen(Qt.NoPen)
            for item in scene.node_items.values():
                if not item.isVisible():
                    continue
                r = item.geo.rect.translated(item.pos())
                colour = C.error if item.error is not None else (
                    getattr(item, "summary_colour", None) if item.collapsed_count
                    else None) or family_colour(item.family)
                p.setBrush(colour)
                p.drawRect(QRectF(r.x() * s + ox, r.y() * s + oy,
                                  max(r.width() * s, 2), max(r.height() * s, 2)))
            p.setBrush(C.note_fill)
            for item in scene.note_items.values():
                r = item.boundingRect().translated(item.pos())
                p.drawRect(QRectF(r.x() * s + ox, r.y() * s + oy,
                                  max(r.width() * s, 2), max(r.height() * s, 2)))
        p.end()
        self._pixmap = pm

    def paintEvent(self, event):
        if self._pixmap is None:
            self._render()
        p = QPainter(self)
        p.drawPixmap(0, 0, self._pixmap)
        s, ox, oy = self._transform()
        r = self.view.visible_scene_rect()
        p.setPen(QPen(C.selected, 1))
        p.setBrush(QColor(78, 161, 255, 30))
        p.drawRect(QRectF(r.x() * s + ox, r.y() * s + oy, r.width() * s,
                          r.height() * s).intersected(QRectF(0, 0, self.W - 1,
                                                             self.H - 1)))
        p.setPen(QPen(QColor(255, 255, 255, 40), 1))
        p.setBrush(Qt.NoBrush)
        p.drawRect(0, 0, self.W - 1, self.H - 1)
        p.end()

    def _go(self, pos):
        s, ox, oy = self._transform()
        if s:
            self.view.centerOn(QPointF((pos.x() - ox) / s, (pos.y() - oy) / s))

    def mousePressEvent(self, event):
        self._go(event.position())

    def mouseMoveEvent(self, event):
        if event.buttons() & Qt.LeftButton:
            self._go(event.position())


class CanvasView(QGraphicsView):
    """The ``canvas`` widget of the main window."""

    zoom_changed = Signal(float)
    place_requested = Signal(str, QPointF)
    context_requested = Signal(QPoint, QPointF)

    def __init__(self, scene, parent=None):
        super().__init__(scene, parent)
        self.setObjectName("canvas")
        if QPixmapCache.cacheLimit() < PIXMAP_CACHE_KB:
            QPixmapCache.setCacheLimit(PIXMAP_CACHE_KB)
        self.setRenderHints(QPainter.Antialiasing | QPainter.TextAntialiasing)
        self.setDragMode(QGraphicsView.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.IntersectsItemShape)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.NoFrame)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.StrongFocus)
        self.viewport().setMouseTracking(True)
        self.setCacheMode(QGraphicsView.CacheBackground)
        self._zoom_timer = QTimer(self)
        self._zoom_timer.setSingleShot(True)
        self._zoom_timer.setInterval(250)
        self._zoom_timer.timeout.connect(self._zoom_ended)
        self._pan = None
        self._wire = None
        self._move = None
        self.last_scene_pos = None
        self.search = OpSearch(self)
        self.search.chosen.connect(self._search_chosen)
        self._search_at = QPointF()
        self.minimap = Minimap(self)
        scene.contents_changed.connect(self.minimap.schedule)
        self.horizontalScrollBar().valueChanged.connect(self.minimap.update)
        self.verticalScrollBar().valueChanged.connect(self.minimap.update)

    # ---- zoom and pan ----------------------------------------------------------------
    @property
    def scale_factor(self):
        return self.transform().m11()

    def set_scale(self, s):
        s = max(MIN_SCALE, min(MAX_SCALE, s))
        t = self.transform()
        self.scale(s / t.m11(), s / t.m11())
        self._zoomed()

    def zoom_by(self, factor):
        """Zoom step of a gesture (wheel, keys): item caches are off while the
        gesture runs, since each step would redraw every cache anyway."""
        self.scene().set_caching(False)
        self._zoom_timer.start()
        self.set_scale(self.scale_factor * factor)

    def _zoom_ended(self):
        scene = self.scene()
        if scene is not None:
            scene.set_caching(True)

    def _zoomed(self):
        self.scene().set_zoom(self.scale_factor)
        self.minimap.update()
        self.zoom_changed.emit(self.scale_factor)

    def fit_view(self, max_scale=1.25):
        r = self.scene().nodes_rect()
        if r.isEmpty():
            self.resetTransform()
            self.centerOn(0, 0)
            self._zoomed()
            return
        r = r.adjusted(-40, -40, 40, 40)
        vw, vh = max(self.viewport().width(), 1), max(self.viewport().height(), 1)
        s = min(vw / r.width(), vh / r.height(), max_scale)
        self.resetTransform()
        self.scale(s, s)
        self.centerOn(r.center())
        self._zoomed()

    def visible_scene_rect(self):
        return self.mapToScene(self.viewport().rect()).boundingRect()

    def wheelEvent(self, event):
        delta = event.angleDelta().y() or event.angleDelta().x()
        if not delta:
            return
        self.zoom_by(1.0015 ** delta)
        event.accept()

    # ---- mouse -----------------------------------------------------------------------
    def mousePressEvent(self, event):
        pos = event.position().toPoint()
        sp = self.mapToScene(pos)
        if event.button() == Qt.MiddleButton or (
                event.button() == Qt.LeftButton and event.modifiers() & Qt.AltModifier):
            self._pan = pos
            self.viewport().setCursor(Qt.ClosedHandCursor)
            event.accept()
            return
        if event.button() == Qt.LeftButton:
            hit = self.scene().port_at(sp)
            if hit is not None:
                item, side, port = hit
                self._wire = WireDrag(self, item, side, port)
                self._wire.move(sp)
                event.accept()
                return
        super().mousePressEvent(event)
        if event.button() == Qt.LeftButton:
            item = self.itemAt(pos)
            if isinstance(item, (NodeItem, NoteItem)) and item.isSelected():
                self._move = MoveGesture(self.scene())

    def mouseMoveEvent(self, event):
        pos = event.position().toPoint()
        sp = self.mapToScene(pos)
        self.last_scene_pos = sp
        if self._pan is not None:
            d = pos - self._pan
            self._pan = pos
            h, v = self.horizontalScrollBar(), self.verticalScrollBar()
            h.setValue(h.value() - d.x())
            v.setValue(v.value() - d.y())
            event.accept()
            return
        if self._wire is not None:
            self._wire.move(sp)
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event):
        sp = self.mapToScene(event.position().toPoint())
        if self._pan is not None and event.button() in (Qt.MiddleButton, Qt.LeftButton):
            self._pan = None
            self.viewport().unsetCursor()
            event.accept()
            return
        if self._wire is not None and event.button() == Qt.LeftButton:
            wire, self._wire = self._wire, None
            wire.finish(sp)
            event.accept()
            return
        super().mouseReleaseEvent(event)
        if self._move is not None and event.button() == Qt.LeftButton:
            move, self._move = self._move, None
            move.finish()

    def contextMenuEvent(self, event):
        self.context_requested.emit(event.globalPos(), self.mapToScene(event.pos()))

    # ---- keys: Tab search ------------------------------------------------------------
    def event(self, event):
        if event.type() == event.Type.KeyPress and event.key() == Qt.Key_Tab:
            focus = self.scene().focusItem() if self.scene() else None
            # Tab inside a note being edited belongs to the note
            if focus is None or not hasattr(focus, "toPlainText"):
                self.open_search()
                return True
        return super().event(event)

    def keyPressEvent(self, event):
        if event.key() == Qt.Key_Escape and self._wire is not None:
            self._wire.cancel()
            self._wire = None
            return
        super().keyPressEvent(event)

    def cursor_scene_pos(self):
        """Where the cursor is on the canvas (the view centre if it is outside)."""
        local = self.viewport().mapFromGlobal(QCursor.pos())
        if self.viewport().rect().contains(local):
            return self.mapToScene(local)
        if self.last_scene_pos is not None and self.visible_scene_rect().contains(
                self.last_scene_pos):
            return self.last_scene_pos
        return self.mapToScene(self.viewport().rect().center())

    def open_search(self, scene_pos=None):
        if scene_pos is None:
            scene_pos = self.cursor_scene_pos()
        self._search_at = scene_pos
        vp = self.mapFromScene(self._search_at)
        x = max(4, min(vp.x(), self.viewport().width() - self.search.width() - 4))
        y = max(4, min(vp.y(), self.viewport().height() - 40))
        self.search.move(x, y)
        self.search.clear()
        self.search.show()
        self.search.raise_()
        self.search.setFocus()

    def _search_chosen(self, name):
        self.place_requested.emit(name, self._search_at)

    # ---- drops from the palette ------------------------------------------------------
    def dragEnterEvent(self, event):
        if event.mimeData().hasFormat(OP_MIME):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event):
        if event.mimeData().hasFormat(OP_MIME):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event):
        if event.mimeData().hasFormat(OP_MIME):
            name = bytes(event.mimeData().data(OP_MIME)).decode()
            self.place_requested.emit(name, self.mapToScene(event.position().toPoint()))
            event.acceptProposedAction()
        else:
            super().dropEvent(event)

    # ---- look ------------------------------------------------------------------------
    def resizeEvent(self, event):
        super().resizeEvent(event)
        self.minimap.move(self.width() - Minimap.W - 12, self.height() - Minimap.H - 12)
        self.minimap.invalidate()

    def scrollContentsBy(self, dx, dy):
        super().scrollContentsBy(dx, dy)
        self.minimap.update()

    def drawBackground(self, painter, rect):
        painter.fillRect(rect, C.background)
        s = self.scale_factor
        if s < 0.3:
            return
        step = 100.0
        left = int(rect.left() // step) * step
        top = int(rect.top() // step) * step
        pen = QPen(C.grid_major, 1)
        pen.setCosmetic(True)
        painter.setPen(pen)
        lines = []
        x = left
        while x < rect.right():
            lines.append(QPointF(x, rect.top()))
            lines.append(QPointF(x, rect.bottom()))
            x += step
        y = top
        while y < rect.bottom():
            lines.append(QPointF(rect.left(), y))
            lines.append(QPointF(rect.right(), y))
            y += step
        painter.drawLines(lines)
