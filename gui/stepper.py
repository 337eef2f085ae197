"""The chain-rule stepper: walk :func:`graphlab.explain` one step at a time.

``Stepper(window)`` is the panel (objectName ``stepper``, shown in a dock by
:func:`open_stepper`). Opening it explains ``window.graph`` at its default
point; moving to position ``k`` (``k`` steps done, ``0 ≤ k ≤ len(steps)``)
highlights step ``k``'s node and edges on the canvas and shows, on the
edges, the values computed so far (green, above the wire) and the gradients
sent back so far (red, below the wire). Nothing here edits the graph: the
numbers live in overlay items the stepper adds to the scene and removes when
it closes, and in two attributes it sets on each :class:`EdgeItem`,
``value_text`` and ``grad_text`` (``""`` when nothing is shown).

A node whose output feeds no edge (the loss, a graph output) gets a short
stub wire out of its output port to carry its value; ``stub_text(node)``
reads it.
"""

import logging

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen
from PySide6.QtWidgets import (
    QDockWidget,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from graphlab.errors import GraphlabError
from graphlab.symbolic.forms import fmt_number

from .style import font

__all__ = ["Stepper", "open_stepper", "short_value"]

log = logging.getLogger("gui")

VALUE = QColor("#5fd35f")
GRAD = QColor("#ff6b6b")
HOT = QColor("#ffd24d")
_LABEL_BG = QColor(20, 22, 25, 230)


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


def _text_rect(text, centre):
    from .items.node import _fm
    w = _fm("label").horizontalAdvance(text) + 10
    return QRectF(centre.x() - w / 2, centre.y() - 8, w, 16)


class _Overlay(QGraphicsItem):
    """Draws one wire's stepper annotations: highlight, value and gradient.

    ``target`` is an EdgeItem, or ``(node_item, port)`` for an output stub.
    """

    def __init__(self, target):
        super().__init__()
        self.target = target
        self.setZValue(5)
        self.setAcceptedMouseButtons(Qt.NoButton)
        self.setAcceptHoverEvents(False)
        self.value_text = ""
        self.grad_text = ""
        self.hot = False
        self._rect = QRectF()
        self.relayout()

    @property
    def stub(self):
        return isinstance(self.target, tuple)

    def _geometry(self):
        """(wire path or None, anchor point) in scene coordinates."""
        if self.stub:
            item, port = self.target
            p1 = item.port_pos("out", port)
            p2 = QPointF(p1.x() + 36, p1.y())
            path = QPainterPath(p1)
            path.lineTo(p2)
            return path, p1
        e = self.target
        if not e.label_rect.isEmpty():
            return e.path, e.label_rect.center()
        return e.path, e.path.pointAtPercent(0.5)

    def relayout(self):
        self.prepareGeometryChange()
        path, c = self._geometry()
        self.path = path if (self.stub or self.hot) else None
        self.value_rect = _text_rect(self.value_text, c + QPointF(0, -19)) \
            if self.value_text else QRectF()
        if self.stub and self.value_text:  # above the stub, starting at the port
            self.value_rect.moveLeft(c.x() + 6)
        self.grad_rect = _text_rect(self.grad_text, c + QPointF(0, 19)) \
            if self.grad_text else QRectF()
        r = QRectF()
        if self.path is not None:
            r = self.path.boundingRect()
        for x in (self.value_rect, self.grad_rect):
            if not x.isEmpty():
                r = r.united(x)
        self._rect = r.adjusted(-4, -4, 4, 4)
        self.update()

    def set_texts(self, value, grad, hot):
        if (value, grad, hot) != (self.value_text, self.grad_text, self.hot):
            self.value_text, self.grad_text, self.hot = value, grad, hot
            self.relayout()

    def boundingRect(self):
        return self._rect

    def paint(self, painter, option, widget=None):
        if not self.stub and not self.target.logical_visible:
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


class _NodeHalo(QGraphicsItem):
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


class Stepper(QWidget):
    """The stepper panel; ``position`` is how many steps are done."""

    def __init__(self, window):
        super().__init__(window)
        self.setObjectName("stepper")
        self.window_ = window
        self.scene = window.scene
        self.explanation = None
        self.steps = []
        self.position = 0
        self.stale = False
        self._overlays = {}   # Edge -> _Overlay
        self._stubs = {}      # (node, port) -> _Overlay
        self._halo = None
        self._edge_items = []  # EdgeItems given value_text / grad_text

        self.back_button = QPushButton("◀")
        self.back_button.setObjectName("stepBack")
        self.back_button.setToolTip("Previous step")
        self.next_button = QPushButton("▶")
        self.next_button.setObjectName("stepNext")
        self.next_button.setToolTip("Next step")
        self.recompute_button = QPushButton("Recompute")
        self.recompute_button.setObjectName("stepRecompute")
        self.recompute_button.setToolTip("Explain the graph again (after edits)")
        self.where = QLabel()
        self.where.setObjectName("stepPosition")
        self.list = QListWidget()
        self.list.setObjectName("stepList")
        self.formula = QLabel()
        self.formula.setObjectName("stepFormula")
        self.formula.setWordWrap(True)
        self.formula.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.formula.setMinimumHeight(40)
        f = self.formula.font()
        f.setPointSizeF(f.pointSizeF() * 1.15)
        self.formula.setFont(f)

        row = QHBoxLayout()
        row.addWidget(self.back_button)
        row.addWidget(self.next_button)
        row.addWidget(self.where, 1)
        row.addWidget(self.recompute_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(row)
        lay.addWidget(self.formula)
        lay.addWidget(self.list, 1)

        self.back_button.clicked.connect(lambda: self.go(self.position - 1))
        self.next_button.clicked.connect(lambda: self.go(self.position + 1))
        self.recompute_button.clicked.connect(self.recompute)
        self.list.currentRowChanged.connect(self._row_chosen)
        window.model.changed.connect(self._graph_changed)
        window.model.graph_reset.connect(self._graph_changed)
        self.scene.contents_changed.connect(self._relayout)

    # ---- explaining ------------------------------------------------------------------
    def recompute(self):
        """Explain the window's graph; False (and a status message) if it cannot."""
        self.clear_overlays()
        self.explanation, self.steps, self.position = None, [], 0
        self.stale = False
        self.list.clear()
        try:
            import graphlab as gl
            ex = gl.explain(self.window_.graph)
        except GraphlabError as e:
            return self._fail(e.message)
        except Exception as e:  # an explanation must never take the editor down
            log.exception("explaining the graph")
            return self._fail(f"{type(e).__name__}: {e}")
        self.explanation = ex
        self.steps = list(ex.steps)
        self.list.blockSignals(True)
        for i, s in enumerate(self.steps):
            self.list.addItem(f"{i + 1}. {s.text}")
        self.list.blockSignals(False)
        self._make_overlays()
        self.go(0)
        self.window_.statusBar().showMessage(
            f"Chain-rule stepper: {len(self.steps)} steps (loss {ex.loss})", 8000)
        return True

    def _fail(self, message):
        self.formula.setText(f"Cannot explain this graph: {message}")
        self.where.setText("")
        self._update_buttons()
        self.window_.statusBar().showMessage(
            f"Chain-rule stepper: cannot explain the graph: {message}", 15000)
        return False

    def _graph_changed(self):
        if self.explanation is not None and not self.stale:
            self.stale = True
            self.clear_overlays()
            self.formula.setText("The graph changed: press Recompute to explain it "
                                 "again.")
            self._update_buttons()

    # ---- overlays --------------------------------------------------------------------
    def _make_overlays(self):
        s = self.scene
        for edge, item in s.edge_items.items():
            ov = _Overlay(item)
            s.addItem(ov)
            self._overlays[edge] = ov
            item.value_text = ""
            item.grad_text = ""
            self._edge_items.append(item)
        fed = {(e.src, e.src_port) for e in s.edge_items}
        for step in self.steps:
            if step.kind != "forward" or step.node not in s.node_items:
                continue
            for port in list(step.values)[:1]:  # the node's value, not e.g. indices
                if (step.node, port) not in fed:
                    ov = _Overlay((s.node_items[step.node], port))
                    s.addItem(ov)
                    self._stubs[(step.node, port)] = ov
        self._halo = _NodeHalo()
        self._halo.setVisible(False)
        s.addItem(self._halo)

    def clear_overlays(self):
        for ov in list(self._overlays.values()) + list(self._stubs.values()) + (
                [self._halo] if self._halo is not None else []):
            if ov.scene() is not None:
                ov.scene().removeItem(ov)
        for item in self._edge_items:
            item.value_text = ""
            item.grad_text = ""
        self._overlays, self._stubs, self._halo, self._edge_items = {}, {}, None, []

    def _relayout(self):
        for ov in list(self._overlays.values()) + list(self._stubs.values()):
            ov.relayout()
        self._place_halo()

    def stub_text(self, node, port=None):
        """The value shown on the stub wire of an output that feeds no edge."""
        for (n, p), ov in self._stubs.items():
            if n == node and (port is None or p == port):
                return ov.value_text
        return ""

    # ---- moving ----------------------------------------------------------------------
    def go(self, k):
        """Show the state after ``k`` steps (clamped to ``0..len(steps)``)."""
        if self.explanation is None or self.stale:
            return
        k = max(0, min(int(k), len(self.steps)))
        self.position = k
        ex = self.explanation
        values = {}   # (node, port) -> value known so far
        grads = {}    # Edge -> gradient sent back so far
        for n, v in list(ex.at.items()) + list(ex.params.items()):
            values[(n, None)] = v
        for step in self.steps[:k]:
            if step.kind == "forward":
                for port, v in step.values.items():
                    values[(step.node, port)] = v
            elif step.kind == "edge":
                grads[step.edge] = step.grad
        current = self.steps[k - 1] if k else None
        hot = set(current.edges) if current is not None else set()
        for edge, ov in self._overlays.items():
            v = values.get((edge.src, edge.src_port), values.get((edge.src, None)))
            value = short_value(v) if v is not None else ""
            grad = short_value(grads[edge]) if edge in grads else ""
            ov.set_texts(value, grad, edge in hot)
            ov.target.value_text, ov.target.grad_text = value, grad
        for (node, port), ov in self._stubs.items():
            v = values.get((node, port))
            ov.set_texts(short_value(v) if v is not None else "", "",
                         current is not None and current.kind == "forward"
                         and current.node == node)
        self._place_halo()
        self.list.blockSignals(True)
        self.list.setCurrentRow(k - 1)
        self.list.blockSignals(False)
        if current is not None:
            self.formula.setText(current.text)
            self.where.setText(f"step {k} / {len(self.steps)} · "
                               + {"forward": "forward", "edge": "backward",
                                  "sum": "backward (sum)"}[current.kind])
        else:
            self.formula.setText("Inputs and parameters at the point; ▶ computes "
                                 "the first node.")
            self.where.setText(f"step 0 / {len(self.steps)}")
        self._update_buttons()

    def go_end(self):
        self.go(len(self.steps))

    def _row_chosen(self, row):
        if row >= 0:
            self.go(row + 1)

    def _place_halo(self):
        if self._halo is None:
            return
        k = self.position
        current = self.steps[k - 1] if k and self.steps else None
        node = getattr(current, "node", None)
        item = self.scene.node_items.get(node) if node else None
        if item is None or not item.isVisible():
            self._halo.setVisible(False)
            return
        self._halo.frame(item.sceneBoundingRect())
        self._halo.setVisible(True)

    def _update_buttons(self):
        ok = self.explanation is not None and not self.stale
        self.back_button.setEnabled(ok and self.position > 0)
        self.next_button.setEnabled(ok and self.position < len(self.steps))


def open_stepper(window):
    """Show the stepper dock (created on first use) and explain the graph."""
    dock = getattr(window, "stepper_dock", None)
    if dock is None:
        dock = QDockWidget("Chain-rule stepper", window)
        dock.setObjectName("stepperDock")
        dock.setWidget(Stepper(window))
        window.addDockWidget(Qt.BottomDockWidgetArea, dock)
        window.resizeDocks([dock], [230], Qt.Vertical)
        window.stepper_dock = dock
        window.stepper = dock.widget()
        dock.visibilityChanged.connect(
            lambda on: None if on or dock.isVisible() else window.stepper.clear_overlays())
    dock.show()
    dock.raise_()
    window.stepper.recompute()
    return window.stepper
