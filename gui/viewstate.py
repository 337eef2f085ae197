"""What the canvas shows of a graph: which boxes are visible, and how big.

Three things decide it, none of them stored in the graph's structure:
- the direction (top to bottom, or left to right), which puts the ports on
  the borders the wires run between;
- weights inside their layer (:mod:`gui.weights`): absorbed Parameters get no
  box, their consumer gets a row per weight;
- collapsed groups (``ui.collapsed`` of the members): one summary box, the
  group's representative, stands for all of them.

:class:`ViewState` computes all of it from a :class:`graphlab.Graph` without
any item, so that the layout can place boxes for a view before it is shown
(and tests can check it windowless).
"""

from .items.port import geometry_for, summary_geometry
from .weights import absorbed, shared

__all__ = ["ViewState", "COLLAPSE_ABOVE", "representative"]

COLLAPSE_ABOVE = 60  # graphs with more nodes open with their groups collapsed


def representative(name, members):
    """The node that stands for a collapsed group: the one named like the
    group (a layer's op), else the last member."""
    return name if name in members else members[-1]


def groups_of(graph):
    """``{group name: [member ids in file order]}`` from the nodes' ``ui.group``."""
    groups = {}
    for n in graph.nodes:
        name = graph.node(n).ui.get("group")
        if isinstance(name, str) and name:
            groups.setdefault(name, []).append(n)
    return groups


class ViewState:
    """The visible boxes of ``graph`` in one view.

    Attributes
    ----------
    absorbed : dict
        ``{parameter: (consumer, port)}`` drawn inside their consumer (the
        first one, for weights ``shared`` by several).
    shared : dict
        ``{parameter: [(consumer, port), ...]}`` drawn inside each consumer.
    rows : dict
        ``{consumer: {port: parameter}}``.
    inside : dict
        ``{consumer: frozenset of ports}`` with a weight row.
    rep_of_hidden : dict
        ``{member: representative}`` of collapsed groups.
    hidden : set
        Nodes without a box (absorbed or inside a collapsed group).
    """

    def __init__(self, graph, vertical=True, weights_inside=True, shown=()):
        self.graph = graph
        self.vertical = vertical
        self.absorbed = absorbed(graph, weights_inside, shown)
        self.shared = shared(graph, weights_inside, shown)
        self.rows = {}  # consumer -> {port: parameter}
        for param, (dst, port) in self.absorbed.items():
            self.rows.setdefault(dst, {})[port] = param
        for param, uses in self.shared.items():
            self.absorbed[param] = uses[0]
            for dst, port in uses:
                self.rows.setdefault(dst, {})[port] = param
        self.inside = {n: frozenset(ports) for n, ports in self.rows.items()}
        self.groups = groups_of(graph)
        self.rep_of_hidden = {}
        self.collapsed_reps = {}
        for name, members in self.groups.items():
            collapsed = any(graph.node(n).ui.get("collapsed") for n in members)
            if collapsed and len(members) > 1:
                rep = representative(name, members)
                self.collapsed_reps[rep] = name
                for n in members:
                    if n != rep:
                        self.rep_of_hidden[n] = rep
        self.hidden = set(self.absorbed) | set(self.rep_of_hidden)

    def geometry(self, node_id):
        """The box of a visible node in this view."""
        if node_id in self.collapsed_reps:
            return summary_geometry(self.vertical)
        return geometry_for(self.graph.node(node_id), self.vertical,
                            self.inside.get(node_id, ()))

    def visible(self):
        return [n for n in self.graph.nodes if n not in self.hidden]
