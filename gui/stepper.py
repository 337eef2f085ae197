"""The chain-rule stepper: walk :func:`graphlab.explain` one step at a time.

``Stepper(window)`` is the panel (objectName ``stepper``, shown in a dock by
:func:`open_stepper`). Opening it explains ``window.graph`` at its default
point; moving to position ``k`` (``k`` steps done, ``0 ≤ k ≤ len(steps)``)
highlights step ``k``'s node and edges on the canvas and shows, on the
edges, the values computed so far (green, above the wire) and the gradients
sent back so far (red, below the wire). Nothing here edits the graph: the
stepper describes each position as a :class:`gui.annotations.StepView` and
gives it to the model (``model.set_annotations``), whose signal the scene's
annotation layer draws; closing the stepper sets none.

The current step's formula is typeset above its plain text (a
:class:`~gui.mathview.MathView`, ``math_view``). The table ``inputs_table``
lists the graph's small Inputs (at most :data:`SMALL` numbers) at the point;
editing a value explains the graph again there (``point`` holds the edited
values; the graph is not changed) and keeps the step. Hovering a tensor's
value or gradient on a wire shows a heatmap of its first 2-D slice
(:func:`gui.annotations.heatmap_tooltip`). While the stepper is open, a recurrent node's
context menu offers "Unroll" (:meth:`Stepper.unroll`): the backpropagation
through time table of :meth:`Explanation.unroll` in ``unroll_table``.

A node whose output feeds no edge (the loss, a graph output) gets a short
stub wire out of its output port to carry its value; ``stub_text(node)``
reads it.

A graph with nodes that do not check (an op dropped on the canvas and not yet
wired) is explained on the part that reaches the loss, and the panel says
which nodes were left out (:func:`explainable_part`).
"""

import logging

import networkx as nx
import numpy as np
from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
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
from graphlab.graph import parse_ref
from graphlab.symbolic.forms import fmt_number

from .annotations import StepView, heatmap_image, heatmap_tooltip, short_value
from .docks import show_dock
from .guard import guarded
from .mathview import MathView

__all__ = ["SMALL", "Stepper", "explainable_part", "heatmap_image", "heatmap_tooltip",
           "open_stepper", "short_value"]

SMALL = 4  # Inputs with at most this many numbers are editable in the panel

log = logging.getLogger("gui")

def explainable_part(graph):
    """``(graph to explain, [nodes left out])``.

    A graph that checks is explained whole. Otherwise the loss is the first
    of the graph's outputs, the train section's loss and the nodes that feed
    nothing (last first) whose node and every node before it check; the part
    explained is that node with everything before it, and the other nodes are
    left out. With no such node the whole graph is returned (and explaining
    it reports the first problem).
    """
    report = graph.analyse()
    if not report.errors:
        return graph, []
    bad = set(report.node_errors)
    g = graph.nx
    candidates = [parse_ref(o) for o in graph.outputs]
    loss = (graph.train or {}).get("loss") if isinstance(graph.train, dict) else None
    if isinstance(loss, str):
        candidates.append(parse_ref(loss))
    order = graph.topological_order() if nx.is_directed_acyclic_graph(g) else []
    candidates += [(n, None) for n in reversed(order) if g.out_degree(n) == 0]
    for node, port in candidates:
        if node not in graph or node in bad:
            continue
        keep = nx.ancestors(g, node) | {node}
        if keep & bad:
            continue
        part = graph.copy()
        for n in [n for n in part.nodes if n not in keep]:
            part.remove_node(n)
        part.set_outputs([node if port is None else f"{node}:{port}"])
        return part, [n for n in graph.nodes if n not in keep]
    return graph, []


def _recurrent(graph, node):
    """Whether ``node`` is a node whose op declares a recurrence (RNN, LSTM, GRU)."""
    return (node in graph
            and getattr(graph.node(node).op_def, "recurrence", None) is not None)


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
        self._stub_keys = []  # (node, port) of outputs that feed no edge
        self._shown = None    # the StepView this stepper gave the model
        self.left_out = []    # nodes not explained (not on the way to the loss)

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
        window.model.params_changed.connect(self._graph_changed)  # other values
        window.model.graph_reset.connect(self._graph_changed)

    # ---- explaining ------------------------------------------------------------------
    def recompute(self, keep_step=False):
        """Explain the window's graph at ``point``; False (and a status message)
        if it cannot. ``keep_step``: stay at the same step if there still is one.
        """
        old = self.position
        self.window_.commit_open_editors()
        self.clear_overlays()
        self.explanation, self.steps, self.position = None, [], 0
        self.stale = False
        self.left_out = []
        self.list.clear()
        graph = self.window_.graph
        self.point = {n: v for n, v in self.point.items()
                      if n in graph and graph.node(n).op == "Input"}
        try:
            import graphlab as gl
            part, left_out = explainable_part(graph)
            ex = gl.explain(part, at={n: v for n, v in self.point.items()
                                      if n in part} or None)
        except GraphlabError as e:
            return self._fail_at_point(e.message)
        except Exception as e:  # an explanation must never take the editor down
            log.exception("explaining the graph")
            return self._fail_at_point(f"{type(e).__name__}: {e}")
        self.explanation = ex
        self.left_out = left_out
        self.steps = list(ex.steps)
        self.list.blockSignals(True)
        for i, s in enumerate(self.steps):
            self.list.addItem(f"{i + 1}. {s.text}")
        self.list.blockSignals(False)
        self._find_stubs()
        self._fill_inputs()
        self.go(old if keep_step else 0)
        if self.unroll_node is not None:  # at the new point, or gone with its node
            self.unroll(self.unroll_node, quiet=True)
        msg = f"Chain-rule stepper: {len(self.steps)} steps (loss {ex.loss})"
        if left_out:
            msg += f" · {self._left_out_text()}"
        self.window_.statusBar().showMessage(msg, 12000)
        return True

    def _left_out_text(self):
        names = ", ".join(self.left_out[:6]) + (
            f" and {len(self.left_out) - 6} more" if len(self.left_out) > 6 else "")
        return (f"left out (not checked, or not on the way to the loss "
                f"{self.explanation.loss}): {names}")

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

    @guarded
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

    @guarded
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

    @guarded
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

    # ---- what the wires show ---------------------------------------------------------
    def _find_stubs(self):
        """Outputs that feed no edge get a stub wire to carry their value."""
        graph = self.explanation.graph
        fed = {(e.src, e.src_port) for e in graph.edges}
        self._stub_keys = []
        for step in self.steps:
            if step.kind != "forward":
                continue
            for port in list(step.values)[:1]:  # the node's value, not e.g. indices
                if (step.node, port) not in fed:
                    self._stub_keys.append((step.node, port))

    def clear_overlays(self):
        """Take the values and gradients off the wires (if they are ours)."""
        model = self.window_.model
        if self._shown is not None and model.annotations is self._shown:
            model.set_annotations(None)
        self._shown = None

    def stub_text(self, node, port=None):
        """The value shown on the stub wire of an output that feeds no edge."""
        return self.scene.annotations.stub_text(node, port)

    # ---- moving ----------------------------------------------------------------------
    @guarded
    def go(self, k):
        """Show the state after ``k`` steps (clamped to ``0..len(steps)``)."""
        self.window_.commit_open_editors()  # an edit on screen makes this stale
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
        wires = {}
        for edge in self.explanation.graph.edges:
            v = values.get((edge.src, edge.src_port), values.get((edge.src, None)))
            wires[edge] = (v, grads.get(edge))
        stubs = {key: values.get(key) for key in self._stub_keys
                 if values.get(key) is not None}
        forward = current is not None and current.kind == "forward"
        view = StepView(wires, stubs, current.edges if current is not None else (),
                        getattr(current, "node", None),
                        next((key for key in self._stub_keys if forward
                              and key[0] == current.node), None))
        self._shown = view
        self.window_.model.set_annotations(view)
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
                                 "the first node."
                                 + (f"\n{self._left_out_text()}." if self.left_out
                                    else ""))
            self.where.setText(f"step 0 / {len(self.steps)}")
        self._update_buttons()

    def go_end(self):
        self.go(len(self.steps))

    def _play_toggled(self, on):
        if on and self.position >= len(self.steps):
            self.go(0)  # play again from the start
        self._play_timer.start() if on else self._play_timer.stop()

    @guarded
    def _play_tick(self):
        if self.explanation is None or self.stale or self.position >= len(self.steps):
            self.play_button.setChecked(False)
            return
        self.go(self.position + 1)

    @guarded
    def _row_chosen(self, row):
        if row >= 0:
            self.go(row + 1)

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
    def setup(dock):
        window.resizeDocks([dock], [270], Qt.Vertical)
        dock.visibilityChanged.connect(
            lambda on: None if on or dock.isVisible()
            else window.stepper.clear_overlays())

    panel, _ = show_dock(window, "stepper", "Chain-rule stepper", Stepper,
                         Qt.BottomDockWidgetArea, setup)
    panel.recompute()
    return panel
