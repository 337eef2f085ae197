"""Automatic layout: layered, left to right, from topological generations.

Each node goes in a column by the length of the longest path reaching it;
sources (inputs, parameters) go one column before their first consumer so that
weights sit beside the layer that uses them. Within a column, nodes are
ordered by the mean row of their predecessors (the barycentre heuristic) to
keep edges short and uncrossed.
"""

__all__ = ["layered_layout", "NODE_SPACING"]

NODE_SPACING = (340.0, 180.0)


def layered_layout(graph, spacing=NODE_SPACING):
    """``{node id: (x, y)}`` positions for every node of ``graph``.

    Examples
    --------
    >>> import graphlab as gl
    >>> pos = layered_layout(gl.load("samples/cs231n.graph.json"))
    >>> pos["x"][0] < pos["q"][0] < pos["f"][0]
    True
    """
    order = graph.topological_order()
    preds = {n: [e.src for e in graph.in_edges(n).values()] for n in order}
    succs = {n: [] for n in order}
    for n in order:
        for p in preds[n]:
            succs[p].append(n)
    depth = {}
    for n in order:
        depth[n] = 1 + max((depth[p] for p in preds[n]), default=-1)
    for n in reversed(order):  # pull sources next to their first consumer
        if not preds[n] and succs[n]:
            depth[n] = max(0, min(depth[s] for s in succs[n]) - 1)
    columns = {}
    for n in order:
        columns.setdefault(depth[n], []).append(n)
    row = {}
    for d in sorted(columns):
        nodes = columns[d]

        def key(n):
            rows = [row[p] for p in preds[n] if p in row]
            if rows:
                return sum(rows) / len(rows)
            rows = [row[s] for s in succs[n] if s in row]
            return sum(rows) / len(rows) if rows else order.index(n)

        nodes.sort(key=lambda n: (key(n), order.index(n)))
        for i, n in enumerate(nodes):
            row[n] = i
    # centre each column vertically
    pos = {}
    for d, nodes in columns.items():
        offset = (len(nodes) - 1) / 2.0
        for i, n in enumerate(nodes):
            pos[n] = (d * spacing[0], (i - offset) * spacing[1])
    return pos
