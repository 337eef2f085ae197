"""The editor's model: the core :class:`graphlab.Graph`, told to Qt.

:class:`GraphModel` subscribes to the graph's plain-Python events and re-emits
each as one Qt signal (``node_added``, ``edge_removed``…). After every change
that can alter shapes it re-runs :meth:`graphlab.Graph.analyse` and emits
``analysed`` with the report, so that the canvas and the inspector show shapes,
errors, parameter counts and multiply-adds without computing anything.

The GUI keeps no second copy of the graph: the scene reads ``model.graph``.
Sticky notes live in the file's top-level ``"notes"`` key (``graph.extra``);
:meth:`GraphModel.set_notes` is the one place that edits them, and tells the
listeners itself because the core does not know notes.
"""

import copy
from contextlib import contextmanager

from PySide6.QtCore import QObject, Signal

from graphlab.graph import Graph

__all__ = ["GraphModel", "Stats"]

NOTES_KEY = "notes"

# Events that cannot change any shape, error or count.
_VIEW_ONLY = {"ui_changed", "params_changed"}


class Stats:
    """Per-node numbers derived from a report, for display."""

    __slots__ = ("params", "macs")

    def __init__(self, params=0, macs=0):
        self.params = params
        self.macs = macs


class GraphModel(QObject):
    """Qt face of one :class:`graphlab.Graph`.

    Signals
    -------
    node_added(str), node_removed(str), edge_added(Edge), edge_removed(Edge),
    attrs_changed(str), ui_changed(str), node_renamed(str, str),
    meta_changed(str), params_changed(list), notes_changed(), analysed(Report),
    graph_reset(), annotations_changed(),
    changed()  (after any of the above but ``params_changed``, once per batch).
    """

    node_added = Signal(str)
    node_removed = Signal(str)
    edge_added = Signal(object)
    edge_removed = Signal(object)
    attrs_changed = Signal(str)
    ui_changed = Signal(str)
    node_renamed = Signal(str, str)
    meta_changed = Signal(str)
    params_changed = Signal(list)
    notes_changed = Signal()
    analysed = Signal(object)
    graph_reset = Signal()
    changed = Signal()
    annotations_changed = Signal()

    def __init__(self, graph=None, parent=None):
        super().__init__(parent)
        self._graph = None
        self._depth = 0
        self._pending_analysis = False
        self._pending_changed = False
        self._pending_annotations = False
        self.report = None
        self.stats = {}
        self.annotations = None  # what the wires show (gui.annotations.StepView)
        self.set_graph(graph if graph is not None else Graph("untitled"))

    # ---- the graph ----------------------------------------------------------------
    @property
    def graph(self):
        return self._graph

    def set_graph(self, graph):
        """Show another graph (new or opened file); emits ``graph_reset``."""
        if self._graph is not None:
            self._graph.unsubscribe(self._on_event)
        self._graph = graph
        self.annotations = None  # they described the old graph
        graph.subscribe(self._on_event)
        self._analyse()
        self.graph_reset.emit()
        self.analysed.emit(self.report)

    def _on_event(self, event, payload):
        if event == "node_added":
            self.node_added.emit(payload)
        elif event == "node_removed":
            self.node_removed.emit(payload)
        elif event == "edge_added":
            self.edge_added.emit(payload)
        elif event == "edge_removed":
            self.edge_removed.emit(payload)
        elif event == "attrs_changed":
            self.attrs_changed.emit(payload)
        elif event == "ui_changed":
            self.ui_changed.emit(payload)
        elif event == "node_renamed":
            self.node_renamed.emit(*payload)
        elif event == "meta_changed":
            self.meta_changed.emit(payload)
        elif event == "params_changed":
            self.params_changed.emit(list(payload))
        if event not in _VIEW_ONLY:
            self._pending_analysis = True
        if event != "ui_changed" and self.annotations is not None:
            # values and gradients were computed for the graph as it was
            self.annotations = None
            self._pending_annotations = True
        if event != "params_changed":  # values, not the graph: params_changed only
            self._pending_changed = True
        if self._depth == 0:
            self._flush()

    # ---- batching -------------------------------------------------------------------
    @contextmanager
    def batch(self):
        """Defer analysis (and ``changed``) to the end of a compound edit."""
        self._depth += 1
        try:
            yield self
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._flush()

    def _flush(self):
        if self._pending_annotations:
            self._pending_annotations = False
            self.annotations_changed.emit()
        if self._pending_analysis:
            self._pending_analysis = False
            self._analyse()
            self.analysed.emit(self.report)
        if self._pending_changed:
            self._pending_changed = False
            self.changed.emit()

    def _analyse(self):
        g = self._graph
        self.report = g.analyse()
        # Parameter count of an op = the Parameter nodes wired straight into it
        # (a layer's weights); a Parameter counts itself.
        feeds = {}
        for e in g.edges:
            if e.src in self.report.parameters:
                feeds.setdefault(e.dst, set()).add(e.src)
        stats = {}
        for n in g.nodes:
            if n in self.report.parameters:
                params = self.report.parameters[n]
            else:
                params = sum(self.report.parameters[p] for p in feeds.get(n, ()))
            stats[n] = Stats(params, self.report.macs.get(n, 0))
        self.stats = stats

    # ---- reading helpers ------------------------------------------------------------
    def totals(self):
        """``(parameters, trainable parameters, multiply-adds, errors, warnings)``."""
        r = self.report
        g = self._graph
        trainable = 0
        for n, count in r.parameters.items():
            try:
                if g.node(n).resolved.get("trainable", True):
                    trainable += count
            except Exception:
                pass
        return (sum(r.parameters.values()), trainable, sum(r.macs.values()),
                len(r.errors), len(r.warnings))

    def output_shapes(self, node_id):
        """``[(port, shape or None)]`` for a node's outputs."""
        node = self._graph.node(node_id)
        shapes = self.report.shapes.get(node_id)
        return [(p, shapes[i] if shapes is not None and i < len(shapes) else None)
                for i, p in enumerate(node.output_ports)]

    def port_shape(self, node_id, port):
        shapes = self.report.shapes.get(node_id)
        if shapes is None:
            return None
        ports = self._graph.node(node_id).output_ports
        try:
            return shapes[ports.index(port)]
        except (ValueError, IndexError):
            return None

    def warnings_of(self, node_id):
        return [m for n, m in self.report.warnings if n == node_id]

    # ---- annotations -----------------------------------------------------------------
    def set_annotations(self, view):
        """Show values and gradients on the wires (a
        :class:`gui.annotations.StepView`), or none (``None``). They are
        dropped by any change to the graph but moving nodes."""
        self.annotations = view
        self.annotations_changed.emit()

    # ---- sticky notes ----------------------------------------------------------------
    def notes(self):
        """The sticky notes, a list of dicts (a deep copy)."""
        notes = self._graph.extra.get(NOTES_KEY, [])
        if not isinstance(notes, list):
            return []
        return [copy.deepcopy(n) for n in notes if isinstance(n, dict)]

    def set_notes(self, notes):
        """Replace the sticky notes (commands call this; it notifies listeners)."""
        notes = copy.deepcopy(list(notes))
        if notes:
            self._graph.extra[NOTES_KEY] = notes
        else:
            self._graph.extra.pop(NOTES_KEY, None)
        self.notes_changed.emit()
        self._pending_changed = True
        if self._depth == 0:
            self._flush()
