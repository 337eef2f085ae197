"""The View menu's ways of showing a graph, and what opening a graph does with them.

- *Layout Direction* (``layoutDirection``): Top to Bottom (``layoutTopToBottom``,
  the default, as Netron and Keras' ``plot_model`` draw deep chains) or Left to
  Right (``layoutLeftToRight``). Switching lays the graph out again, as one
  undo step.
- *Show Weights as Nodes* (``showWeights``): off by default, a Parameter that
  feeds one node is a row inside that node; on, every Parameter is a box
  again. Per node from its context menu (``showNodeWeights``).

Both are settings of the editor (remembered between sessions), not of the
graph: its file keeps every Parameter as a node either way. Opening a graph
(:func:`prepare_view`) collapses the layer groups of a big graph and lays it
out when its saved positions do not suit the view.
"""

from PySide6.QtGui import QAction, QActionGroup, QUndoCommand

from . import commands as cmd
from .layout import DEFAULT_ASPECT, auto_layout, overlapping
from .viewstate import COLLAPSE_ABOVE, ViewState

__all__ = ["build_view_actions", "add_view_menu", "add_node_view_actions",
           "sync_view_actions", "set_view", "view_aspect", "prepare_view",
           "laid_vertical"]


def _setting(window, key, default):
    v = window._settings().value(f"view/{key}", default)
    if isinstance(v, str):
        return v.lower() in ("1", "true", "yes")
    return bool(v)


def build_view_actions(window):
    """The actions, checked as the remembered settings say; sets the scene's
    view to them (before any graph is shown)."""
    vertical = _setting(window, "vertical", True)
    inside = _setting(window, "weightsInside", True)
    window.scene.set_view(vertical, inside)
    group = QActionGroup(window)
    group.setExclusive(True)
    for name, text, value in (("layoutTopToBottom", "&Top to Bottom", True),
                              ("layoutLeftToRight", "&Left to Right", False)):
        a = QAction(text, window)
        a.setObjectName(name)
        a.setCheckable(True)
        a.setActionGroup(group)
        a.setStatusTip("Lay the graph out " + ("top to bottom" if value
                                               else "left to right"))
        a.triggered.connect(lambda _=False, v=value: _set_direction(window, v))
        window.addAction(a)
        window.actions[name] = a
    a = QAction("Show &Weights as Nodes", window)
    a.setObjectName("showWeights")
    a.setCheckable(True)
    a.setStatusTip("Draw every Parameter as a node of its own instead of a row "
                   "inside the layer it feeds")
    a.toggled.connect(lambda on: _set_weights(window, not on))
    window.addAction(a)
    window.actions["showWeights"] = a
    sync_view_actions(window)


def add_view_menu(window, menu):
    menu.addSeparator()
    sub = menu.addMenu("Layout &Direction")
    sub.setObjectName("layoutDirection")
    sub.menuAction().setObjectName("layoutDirection")
    sub.addAction(window.actions["layoutTopToBottom"])
    sub.addAction(window.actions["layoutLeftToRight"])
    menu.addAction(window.actions["showWeights"])


def add_node_view_actions(window, menu, node_id):
    """"Show Weights as Nodes" for one node, if it has weights drawn inside (or
    shown as nodes by this toggle)."""
    s = window.scene
    if not s.weights_inside:
        return
    own = node_id in s.weights_shown
    if not own and not s.inside_of(node_id):
        return
    a = menu.addAction("Show Weights as Nodes (this node)")
    a.setObjectName("showNodeWeights")
    a.setCheckable(True)
    a.setChecked(own)
    shown = set(s.weights_shown)
    shown.symmetric_difference_update({node_id})
    a.triggered.connect(lambda _=False: window.set_view(shown=shown))


def sync_view_actions(window):
    s = window.scene
    for name, on in (("layoutTopToBottom", s.vertical),
                     ("layoutLeftToRight", not s.vertical),
                     ("showWeights", not s.weights_inside)):
        a = window.actions.get(name)
        if a is not None and a.isChecked() != on:
            a.blockSignals(True)
            a.setChecked(on)
            a.blockSignals(False)


def view_aspect(window):
    """Width / height of the canvas (a 1600×1000 window's before it is shown)."""
    vp = window.view.viewport()
    w, h = vp.width(), vp.height()
    if not window.isVisible() or w < 200 or h < 200:
        return DEFAULT_ASPECT
    return w / h


def set_view(window, vertical=None, weights_inside=None, shown=None, relayout=False):
    """Show the graph another way (direction, weights inside or as nodes, the
    nodes whose weights are shown as nodes); lays it out, one undo step, when
    asked (a new direction) or when boxes would overlap. The graph's
    structure is not touched. False if nothing changed."""
    s = window.scene
    changed = ((vertical is not None and vertical != s.vertical)
               or (weights_inside is not None and weights_inside != s.weights_inside)
               or (shown is not None and set(shown) != s.weights_shown))
    if not changed:
        return False
    before = (s.vertical, s.weights_inside, set(s.weights_shown))
    s.set_view(vertical, weights_inside, shown)
    sync_view_actions(window)
    after = (s.vertical, s.weights_inside, set(s.weights_shown))
    positions = None
    if relayout or overlapping(window.graph, view=s.view_state):
        g = window.graph
        positions = {n: p for n, p in auto_layout(
            g, view=s.view_state, aspect=view_aspect(window)).items()
            if list(g.node(n).ui.get("pos") or []) != list(p)}
    if positions:  # the layout and the view it is for: one undo step
        stack = window.undo_stack
        stack.beginMacro("Lay out for the view")
        stack.push(_ShowView(window, before, after))
        window.editor.push(cmd.AutoLayout(window.model, positions),
                           what="lay out the graph")
        stack.endMacro()
    window.view.fit_view()
    return True


class _ShowView(QUndoCommand):
    """The view a layout was made for: undoing the layout shows the graph
    the way its positions were made for again (else boxes overlap)."""

    def __init__(self, window, before, after):
        super().__init__("Show the graph another way")
        self.window, self.before, self.after = window, before, after
        self.done = True  # the view is already shown when this is pushed

    def redo(self):
        if not self.done:
            self._show(self.after)
        self.done = False

    def undo(self):
        self._show(self.before)

    def _show(self, view):
        vertical, inside, shown = view
        scene = self.window.scene
        scene.set_view(vertical, inside, shown & set(self.window.graph.nodes))
        sync_view_actions(self.window)
        _remember(self.window, "vertical", vertical)  # the next window opens so
        _remember(self.window, "weightsInside", inside)


def _set_direction(window, vertical):
    if window.set_view(vertical=vertical, relayout=True):
        _remember(window, "vertical", vertical)


def _set_weights(window, inside):
    if window.set_view(weights_inside=inside):
        _remember(window, "weightsInside", inside)


def _remember(window, key, value):
    st = window._settings()
    st.setValue(f"view/{key}", bool(value))
    st.sync()


def laid_vertical(graph, view):
    """Whether the saved positions run top to bottom (wires mostly go down),
    ``None`` when no wire between two placed boxes says."""
    dx = dy = 0.0
    for e in graph.edges:
        a = view.rep_of_hidden.get(e.src, e.src)
        b = view.rep_of_hidden.get(e.dst, e.dst)
        if a == b or a in view.hidden or b in view.hidden:
            continue
        pa, pb = graph.node(a).ui.get("pos"), graph.node(b).ui.get("pos")
        try:
            dx += abs(float(pb[0]) - float(pa[0]))
            dy += abs(float(pb[1]) - float(pa[1]))
        except (TypeError, ValueError, IndexError):
            continue
    if dx == dy == 0.0:
        return None
    return dy > dx


def prepare_view(graph, vertical, weights_inside, aspect, shown=()):
    """Get a graph about to be shown ready for the view; returns why it was laid
    out (``""``: it was not).

    A graph of more than :data:`COLLAPSE_ABOVE` nodes whose file says nothing
    about collapsing gets its layer groups collapsed. Positions are laid out
    again when boxes would overlap in the view or when they were saved for
    the other direction. Neither is an undo step: it is how the graph opens.
    """
    if len(graph) > COLLAPSE_ABOVE and not any(
            "collapsed" in graph.node(n).ui for n in graph.nodes):
        view = ViewState(graph, vertical, weights_inside, shown)
        for members in view.groups.values():
            if len(members) > 1:
                for n in members:
                    ui = dict(graph.node(n).ui)
                    ui["collapsed"] = True
                    graph.set_ui(n, ui)
    view = ViewState(graph, vertical, weights_inside, shown)
    reason = ""
    if overlapping(graph, report=graph.analyse(), view=view):
        reason = "the saved positions overlapped"
    elif laid_vertical(graph, view) not in (None, vertical):
        reason = "top to bottom" if vertical else "left to right"
    if reason:
        for n, (x, y) in auto_layout(graph, view=view, aspect=aspect).items():
            ui = dict(graph.node(n).ui)
            ui["pos"] = [x, y]
            graph.set_ui(n, ui)
    return reason
