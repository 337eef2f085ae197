"""Automatic layout for the canvas, and the check that a layout is usable.

The graph is laid out as the canvas shows it (:mod:`gui.viewstate`: the
direction, weights drawn inside their layer, collapsed groups), by
:func:`gui.layered.layered_positions`: ranks as the core's
:func:`graphlab.layout.layered_layout` makes them, spaced by real box sizes,
groups kept together as blocks, chains straight and wrapped to the view's
shape. :func:`overlapping` says when saved positions cannot be shown as they
are.
"""

import math

from .items.port import geometry_for
from .layered import layered_positions

__all__ = ["auto_layout", "overlapping", "COLUMN_GAP", "ROW_GAP", "DEFAULT_ASPECT"]

COLUMN_GAP = 100.0  # room for a bezier and its shape label between columns
ROW_GAP = 26.0
_LIGHT = ("Parameter", "Constant")  # nodes that move aside for the data path
DEFAULT_ASPECT = 1.3  # the canvas of a 1600×1000 window, docks open


def auto_layout(graph, *, vertical=None, view=None, aspect=DEFAULT_ASPECT):
    """``{node id: (x, y)}`` top-left positions with no two boxes overlapping.

    Boxes are laid out as ``view`` (a :class:`gui.viewstate.ViewState`) shows
    them: top to bottom by default, absorbed weights and members of collapsed
    groups without a box of their own (they are put where their box stands,
    for when they are shown again: showing them lays the graph out anew).
    Without a view, every node is a box, in the given direction (left to
    right when ``vertical`` is not given, as before there were views).
    ``aspect`` (width / height of the view to fill) wraps long chains; ``None``
    never wraps.
    """
    if len(graph) == 0:
        return {}
    from .viewstate import ViewState
    if view is None:
        view = ViewState(graph, bool(vertical), weights_inside=False)
    nodes = view.visible()
    geo = {n: view.geometry(n) for n in nodes}
    visible = set(nodes)

    def port(n, side, p):
        g = geo[n]
        c = (g.inputs if side == "in" else g.outputs).get(p)
        if c is None:
            c = g.anchor(side)
        return c.x(), c.y()

    edges = []
    for e in graph.edges:
        a = view.rep_of_hidden.get(e.src, e.src)
        b = view.rep_of_hidden.get(e.dst, e.dst)
        if a == b or a not in visible or b not in visible:
            continue
        sp = e.src_port if a == e.src and a not in view.collapsed_reps else None
        dp = e.dst_port if b == e.dst and b not in view.collapsed_reps else None
        edges.append((a, sp, b, dp))
    groups = {name: [n for n in members if n in visible]
              for name, members in view.groups.items()}
    light = {n for n in nodes if graph.node(n).op in _LIGHT}
    out = layered_positions(nodes, edges, lambda n: geo[n].size, port,
                            vertical=view.vertical, groups=groups, light=light,
                            aspect=aspect)
    for n in graph.nodes:  # boxes not shown go where what stands for them is
        if n in out:
            continue
        rep = view.rep_of_hidden.get(n) or view.absorbed.get(n, (None,))[0]
        x, y = out.get(rep, (0, 0))
        out[n] = (x - 150, y) if rep in out else (x, y)
    return out


def overlapping(graph, margin=8.0, report=None, view=None):
    """Pairs of nodes whose boxes (grown by ``margin``) overlap at their ``ui.pos``.

    Nodes without a usable position (missing, not finite, or absurdly far:
    beyond :data:`FARTHEST`) count as overlapping everything (they need a
    place). With a ``report``, an edge whose shape label does not fit between
    its two boxes counts as an overlap too. With a ``view`` (a
    :class:`gui.viewstate.ViewState`) only its visible boxes count, at their
    size in that view; without one every node is a box, left to right.
    """
    rects = []
    missing = []
    for n in graph.nodes:
        if view is not None and n in view.hidden:
            continue
        pos = graph.node(n).ui.get("pos")
        if not _is_pos(pos):
            missing.append(n)
            continue
        w, h = (view.geometry(n) if view is not None
                else geometry_for(graph.node(n))).size
        rects.append((pos[0] - margin, pos[1] - margin, pos[0] + w + margin,
                      pos[1] + h + margin, n))
    pairs = [(m, None) for m in missing]
    rects.sort()
    active = []
    for r in rects:
        active = [a for a in active if a[2] > r[0]]
        for a in active:
            if a[1] < r[3] and r[1] < a[3]:
                pairs.append((a[4], r[4]))
        active.append(r)
    if report is not None and not pairs and (view is None or not view.vertical):
        pairs += _cramped_labels(graph, report, view)
    return pairs


def _cramped_labels(graph, report, view=None):
    from graphlab.shapes import fmt

    from .items.text import _fm
    fm = _fm("label")
    out = []
    for e in graph.edges:
        a = graph.node(e.src).ui.get("pos")
        b = graph.node(e.dst).ui.get("pos")
        shapes = report.shapes.get(e.src)
        if shapes is None or not _is_pos(a) or not _is_pos(b):
            continue
        if view is not None and (e.src in view.hidden or e.dst in view.hidden):
            continue
        ports = graph.node(e.src).output_ports
        try:
            text = fmt(shapes[ports.index(e.src_port)])
        except (ValueError, IndexError):
            continue
        right = a[0] + (view.geometry(e.src) if view is not None
                        else geometry_for(graph.node(e.src))).size[0]
        gap = b[0] - right
        if 0 <= gap < fm.horizontalAdvance(text) + 34:
            out.append((e.src, e.dst))
    return out


# Farther than this from the origin a position is a mistake (a scene that
# size cannot be shown: Fit to View gives "0%"), however the file came to it.
FARTHEST = 1e6


def _is_pos(pos):
    """A usable position: two finite numbers within :data:`FARTHEST`."""
    return (isinstance(pos, (list, tuple)) and len(pos) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                    and math.isfinite(v) and abs(v) <= FARTHEST for v in pos))
