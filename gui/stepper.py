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

The current step's formula is typeset above its plain text (a
:class:`~gui.mathview.MathView`, ``math_view``). The table ``inputs_table``
lists the graph's small Inputs (at most :data:`SMALL` numbers) at the point;
editing a value explains the graph again there (``point`` holds the edited
values; the graph is not changed) and keeps the step. Hovering a tensor's
value or gradient on a wire shows a heatmap of its first 2-D slice
(:func:`heatmap_tooltip`). While the stepper is open, a recurrent node's
context menu offers "Unroll" (:meth:`Stepper.unroll`): the backpropagation
through time table of :meth:`Explanation.unroll` in ``unroll_table``.

A node whose output feeds no edge (the loss, a graph output) gets a short
stub wire out of its output port to carry its value; ``stub_text(node)``
reads it.
"""

import base64
import logging

import numpy as np
from PySide6.QtCore import QBuffer, QIODevice, QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QImage, QPainterPath, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QGraphicsItem,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from graphlab.errors import GraphlabError
from graphlab.symbolic.forms import fmt_number

from .mathview import MathView
from .style import font

__all__ = ["SMALL", "Stepper", "heatmap_image", "heatmap_tooltip", "open_stepper",
           "short_value"]

SMALL = 4  # Inputs with at most this many numbers are editable in the panel

log = logging.getLogger("gui")

VALUE = QColor("#5fd35f")
GRAD = QColor("#ff6b6b")
HOT = QColor("#ffd24d")
_LABEL_BG = QColor(20, 22, 25, 230)


def _recurrent(graph, node):
    """Whether ``node`` is a node whose op declares a recurrence (RNN, LSTM, GRU)."""
    return (node in graph
            and getattr(graph.node(node).op_def, "recurrence", None) is not None)


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


def _text_rect(text, centre):
    from .items.text import _fm
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
        self.setAcceptHoverEvents(True)  # only over the labels: see shape()
        self.value_text = ""
        self.grad_text = ""
        self.value = None   # the arrays behind the texts, for the heatmap tooltip
        self.grad = None
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
        self.play_button = QPushButton("Play")
        self.play_button.setObjectName("stepPlay")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Step forward on its own, one step every 0.7 s")
        self._play_timer = QTimer(self)
        self._play_timer.setInterval(700)
        self._play_timer.timeout.connect(self._play_tick)
        self.recompute_button = QPushButton("Recompute")
        self.recompute_button.setObjectName("stepRecompute")
        self.recompute_button.setToolTip("Explain the graph again (after edits)")
        self.where = QLabel()
        self.where.setObjectName("stepPosition")
        self.list = QListWidget()
        self.list.setObjectName("stepList")
        self.point = {}       # Input id -> value edited in the inputs table
        self.math_view = MathView(self)
        self.math_view.setObjectName("stepMath")
        self.inputs_table = QTableWidget(0, 2)
        self.inputs_table.setObjectName("stepInputs")
        self.inputs_table.setHorizontalHeaderLabels(["Input", "value"])
        self.inputs_table.verticalHeader().setVisible(False)
        self.inputs_table.verticalHeader().setDefaultSectionSize(
            self.fontMetrics().height() + 6)
        self.inputs_table.horizontalHeader().setSectionResizeMode(
            1, QHeaderView.Stretch)
        self.inputs_table.setEditTriggers(QAbstractItemView.DoubleClicked
                                          | QAbstractItemView.EditKeyPressed
                                          | QAbstractItemView.AnyKeyPressed)
        self.inputs_table.setToolTip("The point: edit an Input's value to explain "
                                     "the graph there (the graph is not changed)")
        self.inputs_table.setVisible(False)
        self.unroll_node = None
        self.unrolled = None
        self.unroll_panel = QWidget()
        self.unroll_panel.setObjectName("stepUnrollPanel")
        self.unroll_title = QLabel()
        self.unroll_title.setObjectName("stepUnrollTitle")
        self.unroll_title.setWordWrap(True)
        self.unroll_close = QPushButton("×")
        self.unroll_close.setObjectName("stepUnrollClose")
        self.unroll_close.setToolTip("Close the unrolled view")
        self.unroll_close.setFixedWidth(28)
        self.unroll_open = QPushButton("Step through the cells")
        self.unroll_open.setObjectName("stepUnrollOpen")
        self.unroll_open.setToolTip("Open the unrolled graph (one cell per time step, "
                                    "shared weights) in a new window, with its own "
                                    "chain-rule stepper: backpropagation through time")
        self.unroll_plot = NormBars()
        self.unroll_plot.setObjectName("stepUnrollPlot")
        self.unroll_table = QTableWidget(0, 5)
        self.unroll_table.setObjectName("stepUnroll")
        self.unroll_table.verticalHeader().setVisible(False)
        self.unroll_table.verticalHeader().setDefaultSectionSize(
            self.fontMetrics().height() + 6)
        self.unroll_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.unroll_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeToContents)
        head = QHBoxLayout()
        head.addWidget(self.unroll_title, 1)
        head.addWidget(self.unroll_open, 0, Qt.AlignTop)
        head.addWidget(self.unroll_close, 0, Qt.AlignTop)
        ul = QVBoxLayout(self.unroll_panel)
        ul.setContentsMargins(0, 0, 0, 0)
        ul.addLayout(head)
        body = QHBoxLayout()
        body.addWidget(self.unroll_table, 3)
        body.addWidget(self.unroll_plot, 2)
        ul.addLayout(body, 1)
        self._unrolled_windows = []  # keep opened windows alive
        self.unroll_panel.setVisible(False)
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
        row.addWidget(self.play_button)
        row.addWidget(self.where, 1)
        row.addWidget(self.recompute_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(row)
        lay.addWidget(self.math_view)
        lay.addWidget(self.formula)
        below = QHBoxLayout()
        below.addWidget(self.list, 3)
        below.addWidget(self.unroll_panel, 3)
        below.addWidget(self.inputs_table, 1)
        lay.addLayout(below, 1)

        self.back_button.clicked.connect(lambda: self.go(self.position - 1))
        self.next_button.clicked.connect(lambda: self.go(self.position + 1))
        self.play_button.toggled.connect(self._play_toggled)
        self.recompute_button.clicked.connect(self.recompute)
        self.list.currentRowChanged.connect(self._row_chosen)
        self.inputs_table.itemChanged.connect(self._input_edited)
        self.unroll_close.clicked.connect(self.close_unroll)
        self.unroll_open.clicked.connect(self.open_unrolled)
        window.model.changed.connect(self._graph_changed)
        window.model.graph_reset.connect(self._graph_changed)
        self.scene.contents_changed.connect(self._relayout)

    # ---- explaining ------------------------------------------------------------------
    def recompute(self, keep_step=False):
        """Explain the window's graph at ``point``; False (and a status message)
        if it cannot. ``keep_step``: stay at the same step if there still is one.
        """
        old = self.position
        self.clear_overlays()
        self.explanation, self.steps, self.position = None, [], 0
        self.stale = False
        self.list.clear()
        graph = self.window_.graph
        self.point = {n: v for n, v in self.point.items()
                      if n in graph and graph.node(n).op == "Input"}
        try:
            import graphlab as gl
            ex = gl.explain(graph, at=dict(self.point) or None)
        except GraphlabError as e:
            return self._fail_at_point(e.message)
        except Exception as e:  # an explanation must never take the editor down
            log.exception("explaining the graph")
            return self._fail_at_point(f"{type(e).__name__}: {e}")
        self.explanation = ex
        self.steps = list(ex.steps)
        self.list.blockSignals(True)
        for i, s in enumerate(self.steps):
            self.list.addItem(f"{i + 1}. {s.text}")
        self.list.blockSignals(False)
        self._make_overlays()
        self._fill_inputs()
        self.go(old if keep_step else 0)
        if self.unroll_node is not None:  # at the new point, or gone with its node
            self.unroll(self.unroll_node, quiet=True)
        self.window_.statusBar().showMessage(
            f"Chain-rule stepper: {len(self.steps)} steps (loss {ex.loss})", 8000)
        return True

    def _fail_at_point(self, message):
        """Explaining failed: at the graph's own point if values were edited
        (e.g. an Input's shape changed since), else report ``message``."""
        if self.point:
            self.point = {}
            if self.recompute():
                self.window_.statusBar().showMessage(
                    f"Chain-rule stepper: the edited input values no longer fit "
                    f"({message}); explained at the graph's own point", 15000)
                return True
        return self._fail(message)

    def _fail(self, message):
        self.math_view.set_latex("")
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
            self.math_view.set_latex("")
            self.unroll_panel.setVisible(False)
            self.formula.setText("The graph changed: press Recompute to explain it "
                                 "again.")
            self._update_buttons()

    # ---- the point ----------------------------------------------------------------------
    def _fill_inputs(self):
        """List the small Inputs of the explanation's point in ``inputs_table``."""
        t = self.inputs_table
        t.blockSignals(True)
        t.setRowCount(0)
        graph = self.window_.graph
        for node, v in self.explanation.at.items():
            a = np.asarray(v)
            if (a.size > SMALL or a.dtype.kind not in "fiu" or node not in graph
                    or graph.node(node).op != "Input"):
                continue
            r = t.rowCount()
            t.insertRow(r)
            name = QTableWidgetItem(node)
            name.setFlags(Qt.ItemIsEnabled)
            t.setItem(r, 0, name)
            text = ", ".join(fmt_number(x, 6) for x in a.ravel())
            cell = QTableWidgetItem(text)
            cell.setData(Qt.UserRole, node)
            cell.setToolTip(f"{node}: shape {tuple(a.shape)}; "
                            + ("edited here" if node in self.point
                               else "the graph's value"))
            t.setItem(r, 1, cell)
        t.blockSignals(False)
        t.setVisible(t.rowCount() > 0)

    def set_input(self, node, text):
        """Explain again with Input ``node`` at ``text`` ("-3" or "1, 2");
        False (status message, table restored) if the text is not a value."""
        old = np.asarray(self.explanation.at[node])
        try:
            nums = [float(x) for x in str(text).replace(";", ",").split(",")
                    if x.strip()]
            if len(nums) != old.size:
                raise ValueError(f"{old.size} number(s) expected")
            if old.dtype.kind in "iu" and any(x != int(x) for x in nums):
                raise ValueError("whole numbers expected (class labels)")
            value = np.asarray(nums).astype(old.dtype).reshape(old.shape)
        except ValueError as e:
            self.window_.statusBar().showMessage(
                f"Chain-rule stepper: {node} = {text!r}: {e}", 8000)
            self._fill_inputs()
            return False
        self.point[node] = value
        return self.recompute(keep_step=True)

    def _input_edited(self, item):
        node = item.data(Qt.UserRole)
        if node and self.explanation is not None:
            # later: explaining again rebuilds the table, and this item is
            # still inside its own setData (and the delegate's commit)
            text = item.text()
            QTimer.singleShot(0, self, lambda: self.explanation is not None
                              and node in self.explanation.at
                              and self.set_input(node, text))

    # ---- unrolling recurrent nodes ----------------------------------------------------
    def add_context_actions(self, menu, node):
        """Add "Unroll" to a node's context menu when it applies: the stepper
        is open on an up-to-date explanation and ``node`` is an RNN/LSTM/GRU."""
        graph = self.window_.graph
        if (self.explanation is None or self.stale or not self.isVisible()
                or not _recurrent(graph, node)):
            return None
        action = menu.addAction(f"Unroll {node} (backprop through time)",
                                lambda: self.unroll(node))
        action.setObjectName("stepUnrollAction")
        return action

    def unroll(self, node, quiet=False):
        """Show ``node``'s per-step BPTT table at the explanation's point;
        False (status message, panel hidden) if it cannot be unrolled."""
        graph = self.window_.graph
        try:
            if self.explanation is None or not _recurrent(graph, node):
                raise GraphlabError(f"'{node}' is not a recurrent node of the graph")
            u = self.explanation.unroll(node)
        except GraphlabError as e:
            return self._unroll_failed(node, e.message, quiet)
        except Exception as e:  # never take the editor down
            log.exception("unrolling %s", node)
            return self._unroll_failed(node, f"{type(e).__name__}: {e}", quiet)
        self.unroll_node, self.unrolled = node, u
        state = u.state_label
        t = self.unroll_table
        t.setHorizontalHeaderLabels(["t", "h_t", "‖∂L/∂h_t‖",
                                     f"‖∂{state}_t/∂{state}_t−1‖",
                                     f"‖∂{state}_T/∂{state}_t−1‖"])
        t.setRowCount(len(u.steps))
        for r, step in enumerate(u.steps):
            cells = (str(step.t), step.h, fmt_number(step.grad_norm, 3),
                     fmt_number(step.jacobian_norm, 3), fmt_number(step.product_norm, 3))
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c != 1:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                t.setItem(r, c, item)
        self.unroll_plot.set_norms([(step.t, step.grad_norm) for step in u.steps])
        self.unroll_title.setText(f"<b>{node}</b> ({u.op}) unrolled over T = {u.T} "
                                  f"steps: {u.verdict()}")
        self.unroll_panel.setVisible(True)
        return True

    def _unroll_failed(self, node, message, quiet):
        self.unroll_node, self.unrolled = None, None
        self.unroll_panel.setVisible(False)
        if not quiet:
            self.window_.statusBar().showMessage(
                f"Chain-rule stepper: cannot unroll {node}: {message}", 15000)
        return False

    def open_unrolled(self):
        """Open the unrolled graph in a new window with its stepper at the same
        point and parameter values; returns that window (or None)."""
        u, ex = self.unrolled, self.explanation
        if u is None or ex is None:
            return None
        g = u.graph.copy()
        for k, v in ex.params.items():
            if k in g and g.node(k).op == "Parameter":
                g.params[k] = np.asarray(v)
        w = type(self.window_)(recover=False)
        w.set_graph(g)
        w.show()
        stepper = w.open_stepper()
        if stepper is not None:
            stepper.point = {k: v for k, v in ex.at.items() if k in g}
            stepper.recompute()
        self._unrolled_windows.append(w)
        return w

    def close_unroll(self):
        self.unroll_node, self.unrolled = None, None
        self.unroll_panel.setVisible(False)

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
            ov.value, ov.grad = v, grads.get(edge)
            ov.target.value_text, ov.target.grad_text = value, grad
        for (node, port), ov in self._stubs.items():
            v = values.get((node, port))
            ov.set_texts(short_value(v) if v is not None else "", "",
                         current is not None and current.kind == "forward"
                         and current.node == node)
            ov.value = v
        self._place_halo()
        self.list.blockSignals(True)
        self.list.setCurrentRow(k - 1)
        self.list.blockSignals(False)
        self.math_view.set_latex(current.latex if current is not None else "")
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

    def _play_toggled(self, on):
        if on and self.position >= len(self.steps):
            self.go(0)  # play again from the start
        self._play_timer.start() if on else self._play_timer.stop()

    def _play_tick(self):
        if self.explanation is None or self.stale or self.position >= len(self.steps):
            self.play_button.setChecked(False)
            return
        self.go(self.position + 1)

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
        self.play_button.setEnabled(ok)


class NormBars(QWidget):
    """‖∂L/∂h_t‖ per time step as bars on a log scale: vanishing gradients
    shrink towards t = 1, exploding ones grow."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.norms = []
        self.setMinimumSize(160, 90)

    def set_norms(self, norms):
        self.norms = sorted((int(t), float(n)) for t, n in norms)
        self.update()

    def paintEvent(self, event):
        from PySide6.QtGui import QPainter
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#1d1f23"))
        vals = [n for _, n in self.norms if n > 0 and np.isfinite(n)]
        if not vals:
            return
        lo, hi = np.log10(min(vals)), np.log10(max(vals))
        span = max(hi - lo, 1e-9)
        w, h = self.width(), self.height() - 16
        bw = w / len(self.norms)
        p.setPen(QColor("#9aa4b2"))
        for i, (t, n) in enumerate(self.norms):
            frac = 0.1 + 0.9 * ((np.log10(n) - lo) / span if n > 0 else 0)
            bar = QRectF(i * bw + 2, 4 + h * (1 - frac), bw - 4, h * frac - 4)
            p.fillRect(bar, QColor("#e5534b"))
            p.drawText(QRectF(i * bw, h, bw, 16), Qt.AlignCenter, str(t))


def open_stepper(window):
    """Show the stepper dock (created on first use) and explain the graph."""
    dock = getattr(window, "stepper_dock", None)
    if dock is None:
        dock = QDockWidget("Chain-rule stepper", window)
        dock.setObjectName("stepperDock")
        dock.setWidget(Stepper(window))
        window.addDockWidget(Qt.BottomDockWidgetArea, dock)
        window.resizeDocks([dock], [270], Qt.Vertical)
        window.stepper_dock = dock
        window.stepper = dock.widget()
        dock.visibilityChanged.connect(
            lambda on: None if on or dock.isVisible() else window.stepper.clear_overlays())
    dock.show()
    dock.raise_()
    window.stepper.recompute()
    return window.stepper
