"""The palette: every op, grouped by family, searchable, to drag onto the canvas.

Layer shortcuts (Dense, Conv2D layer, LSTM layer…) come first: they place an op
with its Parameter nodes. Drag an entry onto the canvas, or double-click it
to place it in the middle of the view.
"""

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QBrush, QDrag
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from graphlab.ops.base import FAMILIES, ops_by_family

from .layers import LAYERS
from .style import family_colour
from .view import OP_MIME

__all__ = ["Palette"]

NAME_ROLE = Qt.UserRole + 1


class _Tree(QTreeWidget):
    def mimeTypes(self):
        return [OP_MIME]

    def mimeData(self, items):
        names = [it.data(0, NAME_ROLE) for it in items if it.data(0, NAME_ROLE)]
        if not names:
            return None
        md = QMimeData()
        md.setData(OP_MIME, names[0].encode())
        md.setText(names[0])
        return md

    def startDrag(self, actions):
        item = self.currentItem()
        if item is None or not item.data(0, NAME_ROLE):
            return
        drag = QDrag(self)
        drag.setMimeData(self.mimeData([item]))
        drag.exec(Qt.CopyAction)


class Palette(QWidget):
    """The ``palette`` widget.

    Signals
    -------
    place_requested(str)
        An entry was double-clicked (or Enter pressed on it).
    """

    place_requested = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("palette")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(4)
        self.search = QLineEdit(self)
        self.search.setObjectName("paletteSearch")
        self.search.setPlaceholderText("Filter ops…")
        self.search.setClearButtonEnabled(True)
        lay.addWidget(self.search)
        self.tree = _Tree(self)
        self.tree.setObjectName("paletteTree")
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragOnly)
        self.tree.setRootIsDecorated(True)
        self.tree.setIndentation(12)
        self.tree.setUniformRowHeights(True)
        lay.addWidget(self.tree)
        self._fill()
        self.search.textChanged.connect(self.filter)
        self.search.returnPressed.connect(self._place_first)
        self.tree.itemActivated.connect(self._activated)

    def _fill(self):
        def family_item(title, family):
            top = QTreeWidgetItem(self.tree, [title])
            top.setFlags(Qt.ItemIsEnabled)
            f = top.font(0)
            f.setBold(True)
            top.setFont(0, f)
            top.setForeground(0, QBrush(family_colour(family).lighter(160)))
            return top

        top = family_item("layers", "layers")
        for name, kind in LAYERS.items():
            it = QTreeWidgetItem(top, [name])
            it.setData(0, NAME_ROLE, name)
            it.setToolTip(0, kind.doc)
        groups = ops_by_family()
        for fam in FAMILIES:
            ops = groups.get(fam, [])
            if not ops:
                continue
            top = family_item(fam, fam)
            for op in ops:
                it = QTreeWidgetItem(top, [op.name])
                it.setData(0, NAME_ROLE, op.name)
                ins = ", ".join(op.inputs) or "—"
                outs = ", ".join(op.outputs)
                it.setToolTip(0, f"<b>{op.name}</b> ({ins} → {outs})<br>{op.doc}")
        self.tree.expandAll()

    def items(self):
        """``{name: QTreeWidgetItem}`` of every placeable entry."""
        out = {}
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            for j in range(top.childCount()):
                it = top.child(j)
                out[it.data(0, NAME_ROLE)] = it
        return out

    def filter(self, text):
        t = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            family_hit = t and t in top.text(0).lower()
            shown = 0
            for j in range(top.childCount()):
                it = top.child(j)
                ok = not t or family_hit or t in it.text(0).lower()
                it.setHidden(not ok)
                shown += ok
            top.setHidden(shown == 0)
            top.setExpanded(True)

    def visible_names(self):
        return [n for n, it in self.items().items()
                if not it.isHidden() and not it.parent().isHidden()]

    def _place_first(self):
        names = self.visible_names()
        if names:
            self.place_requested.emit(names[0])

    def _activated(self, item, column):
        name = item.data(0, NAME_ROLE)
        if name:
            self.place_requested.emit(name)
