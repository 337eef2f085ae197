"""Sticky notes: yellow boxes of text on the canvas, saved in the file.

Double-click a note to edit its text in place; the edit becomes one undo
command when the note loses focus.
"""

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFontMetricsF, QPen, QPolygonF, QTextOption
from PySide6.QtWidgets import QGraphicsItem, QGraphicsTextItem

from ..style import C, font

__all__ = ["NoteItem", "NOTE_WIDTH"]

NOTE_WIDTH = 220.0
PAD = 9.0


class _Editor(QGraphicsTextItem):
    def __init__(self, note):
        super().__init__(note)
        self.note = note

    def focusOutEvent(self, event):
        super().focusOutEvent(event)
        self.note.finish_edit()

    def keyPressEvent(self, event):
        if event.key() == Qt.Key_Escape:
            self.note.finish_edit(cancel=True)
            return
        super().keyPressEvent(event)


class NoteItem(QGraphicsItem):
    def __init__(self, scene, data):
        super().__init__()
        self._scene = scene
        self.setFlags(QGraphicsItem.ItemIsMovable | QGraphicsItem.ItemIsSelectable
                      | QGraphicsItem.ItemSendsGeometryChanges)
        self.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
        self.setZValue(1.5)
        self.editor = None
        self.data = {}
        self._rect = QRectF()
        self.set_data(data)

    @property
    def note_id(self):
        return self.data.get("id")

    def set_data(self, data):
        self.data = dict(data)
        pos = data.get("pos") or [0, 0]
        try:
            self.setPos(float(pos[0]), float(pos[1]))
        except (TypeError, ValueError, IndexError):
            self.setPos(0, 0)
        width = NOTE_WIDTH
        size = data.get("size")
        if isinstance(size, list) and size and isinstance(size[0], (int, float)):
            width = max(80.0, float(size[0]))
        fm = QFontMetricsF(font("note"))
        text = str(data.get("text", ""))
        br = fm.boundingRect(QRectF(0, 0, width - 2 * PAD, 100000),
                             Qt.TextWordWrap, text or " ")
        h = max(60.0, br.height() + 2 * PAD)
        self.prepareGeometryChange()
        self._rect = QRectF(0, 0, width, h)
        self.update()

    def boundingRect(self):
        return self._rect.adjusted(-2, -2, 4, 4)

    def paint(self, painter, option, widget=None):
        r = self._rect
        painter.setRenderHint(painter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.NoPen)
        painter.setBrush(QColor(0, 0, 0, 60))
        painter.drawRect(r.translated(3, 3))
        colour = QColor(self.data.get("color") or C.note_fill)
        painter.setBrush(QBrush(colour))
        painter.setPen(QPen(C.selected, 2) if self.isSelected() else Qt.NoPen)
        fold = 14.0
        painter.drawPolygon(QPolygonF([r.topLeft(), r.topRight(),
                                       r.bottomRight() - QPointF(0, fold),
                                       r.bottomRight() - QPointF(fold, 0),
                                       r.bottomLeft()]))
        painter.setBrush(colour.darker(125))
        painter.setPen(Qt.NoPen)
        painter.drawPolygon(QPolygonF([r.bottomRight() - QPointF(0, fold),
                                       r.bottomRight() - QPointF(fold, fold),
                                       r.bottomRight() - QPointF(fold, 0)]))
        if self.editor is None:
            painter.setPen(C.note_text)
            painter.setFont(font("note"))
            opt = QTextOption()
            opt.setWrapMode(QTextOption.WordWrap)
            painter.drawText(r.adjusted(PAD, PAD, -PAD, -PAD),
                             str(self.data.get("text", "")), opt)

    def mouseDoubleClickEvent(self, event):
        self.start_edit()

    def start_edit(self):
        if self.editor is not None:
            return
        self.editor = _Editor(self)
        self.editor.setDefaultTextColor(C.note_text)
        self.editor.setFont(font("note"))
        self.editor.setTextWidth(self._rect.width() - 2 * PAD + 8)
        self.editor.setPos(PAD - 4, PAD - 4)
        self.editor.setPlainText(str(self.data.get("text", "")))
        self.editor.setTextInteractionFlags(Qt.TextEditorInteraction)
        self.editor.setFocus()
        self.update()

    def finish_edit(self, cancel=False):
        ed = self.editor
        if ed is None:
            return
        self.editor = None
        text = ed.toPlainText()
        ed.setParentItem(None)
        if ed.scene() is not None:
            ed.scene().removeItem(ed)
        self.update()
        if not cancel and text != self.data.get("text", ""):
            self._scene.request_note_text(self.note_id, text)

