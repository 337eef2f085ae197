"""Automatic layout for the canvas: the core's layers, spaced by real box sizes.

:func:`graphlab.layout.layered_layout` decides the columns (topological
generations, sources pulled next to their first consumer) and the order within
each column (barycentres). It places nodes on a fixed grid, which does not
know how tall an LSTM box is or how wide an edge's shape label is. Here the
columns are spaced by the widest box in each and room for the labels, and the
rows by each box's height, with every node as close as possible to the ports
it is wired to (isotonic regression per column, a few sweeps both ways), so
chains come out straight and weights sit beside the input they feed.
"""

import math

from graphlab.layout import layered_layout

from .items.port import geometry_for

__all__ = ["auto_layout", "overlapping", "COLUMN_GAP", "ROW_GAP"]

COLUMN_GAP = 100.0  # room for a bezier and its shape label between columns
ROW_GAP = 26.0
GROUP_GAP = 50.0  # between a group's box and a node outside it: frame and title tab
_LIGHT = ("Parameter", "Constant")  # nodes that move aside for the data path


def _columns(graph):
    pos = layered_layout(graph)
    xs = sorted({round(x, 3) for x, _ in pos.values()})
    col_of_x = {x: i for i, x in enumerate(xs)}
    columns = [[] for _ in xs]
    for n, (x, y) in pos.items():
        columns[col_of_x[round(x, 3)]].append((y, graph.index_of(n), n))
    return [[n for _, _, n in sorted(c)] for c in columns]


def _pav(targets, offsets, weights=None):
    """Positions ``y`` minimising Σ w·(y − target)² with y[i+1] ≥ y[i] + offsets[i]."""
    # Shift out the spacing so that the constraint becomes z[i+1] ≥ z[i].
    shift, acc = [], 0.0
    for i in range(len(targets)):
        shift.append(acc)
        if i < len(offsets):
            acc += offsets[i]
    z = [t - s for t, s in zip(targets, shift)]
    blocks = []  # [mean, weight, count]
    for i, v in enumerate(z):
        blocks.append([v, weights[i] if weights else 1.0, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    out = []
    for m, _, c in blocks:
        out.extend([m] * c)
    return [v + s for v, s in zip(out, shift)]


def auto_layout(graph):
    """``{node id: (x, y)}`` top-left positions with no two boxes overlapping."""
    if len(graph) == 0:
        return {}
    columns = _columns(graph)
    geo = {n: geometry_for(graph.node(n)) for n in graph.nodes}
    preds = {n: [] for n in graph.nodes}
    succs = {n: [] for n in graph.nodes}
    for e in graph.edges:
        src_y = geo[e.src].outputs.get(e.src_port)
        dst_y = geo[e.dst].inputs.get(e.dst_port)
        sy = src_y.y() if src_y is not None else geo[e.src].rect.height() / 2
        dy = dst_y.y() if dst_y is not None else geo[e.dst].rect.height() / 2
        preds[e.dst].append((e.src, sy, dy))
        succs[e.src].append((e.dst, sy, dy))

    x, col_x = 0.0, []
    for col in columns:
        col_x.append(x)
        x += max(geo[n].rect.width() for n in col) + COLUMN_GAP

    y = {}
    for col in columns:  # start: each column stacked and centred on 0
        total = sum(geo[n].rect.height() for n in col) + ROW_GAP * (len(col) - 1)
        t = -total / 2
        for n in col:
            y[n] = t
            t += geo[n].rect.height() + ROW_GAP

    group = {n: graph.node(n).ui.get("group") for n in graph.nodes}
    light = {n: graph.node(n).op in _LIGHT for n in graph.nodes}
    weight = {n: 1.0 if light[n] else 12.0 for n in graph.nodes}

    def place(col, desired, reorder=True):
        if reorder:  # crossing reduction: order the column by where nodes want to be
            col.sort(key=lambda n: (desired.get(n, y[n]), y[n]))
        targets = [desired.get(n, y[n]) for n in col]
        offsets = [geo[a].rect.height()
                   + (ROW_GAP if group[a] == group[b] else GROUP_GAP)
                   for a, b in zip(col, col[1:])]
        for n, v in zip(col, _pav(targets, offsets, [weight[n] for n in col])):
            y[n] = v

    def from_preds(n):
        # follow the data (a layer's x), not its weights, when there is data
        ps = [p for p in preds[n] if not light[p[0]]] or preds[n]
        ws = [y[s] + sy - dy for s, sy, dy in ps]
        return sum(ws) / len(ws) if ws else None

    def from_succs(n):
        ws = [y[d] + dy - sy for d, sy, dy in succs[n]]
        return sum(ws) / len(ws) if ws else None

    for _ in range(3):
        for col in columns:
            desired = {}
            for n in col:
                v = from_preds(n)
                if v is not None:
                    desired[n] = v
            place(col, desired)
        for col in reversed(columns):
            desired = {}
            for n in col:
                # sources follow their consumers; others are pulled both ways
                v_s = from_succs(n)
                v_p = from_preds(n)
                if v_p is None and v_s is not None:
                    desired[n] = v_s
                elif v_p is not None and v_s is not None:
                    desired[n] = (2 * v_p + v_s) / 3
            place(col, desired)
    for col in columns:  # a last pass so that chains end straight
        desired = {n: v for n in col if (v := from_preds(n)) is not None}
        place(col, desired)

    out = {}
    for i, col in enumerate(columns):
        for n in col:
            out[n] = (round(col_x[i]), round(y[n]))
    return out


def overlapping(graph, margin=8.0, report=None):
    """Pairs of nodes whose boxes (grown by ``margin``) overlap at their ``ui.pos``.

    Nodes without a usable position (missing, not finite, or absurdly far:
    beyond :data:`FARTHEST`) count as overlapping everything (they need a
    place). With a ``report``, an edge whose shape label does not fit between
    its two boxes counts as an overlap too.
    """
    rects = []
    missing = []
    for n in graph.nodes:
        pos = graph.node(n).ui.get("pos")
        if not _is_pos(pos):
            missing.append(n)
            continue
        w, h = geometry_for(graph.node(n)).size
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
    if report is not None and not pairs:
        pairs += _cramped_labels(graph, report)
    return pairs


def _cramped_labels(graph, report):
    from graphlab.shapes import fmt

    from .items.node import _fm
    fm = _fm("label")
    out = []
    for e in graph.edges:
        a = graph.node(e.src).ui.get("pos")
        b = graph.node(e.dst).ui.get("pos")
        shapes = report.shapes.get(e.src)
        if shapes is None or not _is_pos(a) or not _is_pos(b):
            continue
        ports = graph.node(e.src).output_ports
        try:
            text = fmt(shapes[ports.index(e.src_port)])
        except (ValueError, IndexError):
            continue
        right = a[0] + geometry_for(graph.node(e.src)).size[0]
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
