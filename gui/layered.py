"""The canvas layout: layered, group-aware, in either direction, wrapped to fit.

Nodes go in ranks by the longest path reaching them (sources one rank before
their first consumer), as :func:`graphlab.layout.layered_layout` does; ranks
run along the *main* axis (down, or right) and boxes within a rank along the
*cross* axis. Three things on top of that:

- **Groups stay together.** Each layer group (``ui.group``) is laid out on its
  own and then placed as one block, so no outside node lands inside a group's
  frame. A group whose contraction would close a cycle (a member feeding an
  outsider that feeds another member) is laid out as loose nodes instead.
- **Straight chains.** Within a rank, blocks are ordered by where their
  inputs are (barycentres) and placed as close as possible to the ports they
  are wired to (isotonic regression, a few sweeps both ways); data inputs pull
  harder than weights.
- **Wrapping.** A long chain is cut at rank boundaries into lanes set side by
  side, as many as make the whole fit a view of the given aspect ratio at
  the largest scale, so it never runs off in one direction while the other
  has room.

Everything is in (main, cross) coordinates and turned into (x, y) at the end.
"""

__all__ = ["layered_positions", "MAIN_GAP", "CROSS_GAP"]

MAIN_GAP = {False: 100.0, True: 46.0}  # between ranks: room for a wire's label
CROSS_GAP = {False: 26.0, True: 34.0}
GROUP_PAD = 14.0
GROUP_TAB = 22.0
LANE_GAP = 90.0
VIEW_MAIN = {True: 820.0, False: 1050.0}  # canvas height / width, 1600×1000 window
_LIGHT = ("Parameter", "Constant", "Input")


class _Block:
    """A box to place: one node, or a laid-out group (members at offsets)."""

    def __init__(self, key, members, main, cross, offsets, group=None):
        self.key = key
        self.members = members  # node ids
        self.main = main  # size along the main axis
        self.cross = cross
        self.offsets = offsets  # node -> (main, cross) of its box's corner
        self.group = group
        self.light = False


def layered_positions(nodes, edges, size, port, *, vertical=True, groups=None,
                      light=(), aspect=None):
    """Top-left ``{node: (x, y)}`` for boxes of the given sizes.

    Parameters
    ----------
    nodes : list of str
        The visible nodes, in file order (ties keep this order).
    edges : list of (src, src_port, dst, dst_port)
        Between visible nodes.
    size : callable
        ``size(node) -> (width, height)``.
    port : callable
        ``port(node, side, port) -> (x, y)`` in the box, ``side`` "in"/"out".
    vertical : bool
        Ranks run down (True) or right.
    groups : dict, optional
        ``{name: [members]}``: each laid out as one block.
    light : collection
        Nodes that move aside for the data path (sources).
    aspect : float, optional
        Width / height of the view to fill; ``None``: no wrapping.
    """
    if not nodes:
        return {}
    light = set(light)

    def msize(n):
        w, h = size(n)
        return (h, w) if vertical else (w, h)

    def mport(n, side, p):
        x, y = port(n, side, p)
        return (y, x) if vertical else (x, y)

    order = {n: i for i, n in enumerate(nodes)}
    groups = _acyclic_groups(nodes, edges, groups or {}, order)
    block_of, blocks = {}, []
    in_group = {n for ms in groups.values() for n in ms}
    for n in nodes:
        if n in in_group:
            continue
        m, c = msize(n)
        b = _Block(n, [n], m, c, {n: (0.0, 0.0)})
        b.light = n in light
        blocks.append(b)
        block_of[n] = b
    for name, members in groups.items():
        inner_edges = [e for e in edges if e[0] in members and e[2] in members]
        pos = _place(members, inner_edges, msize, mport, vertical, light, order)
        lo_m = min(pos[n][0] for n in members)
        lo_c = min(pos[n][1] for n in members)
        hi_m = max(pos[n][0] + msize(n)[0] for n in members)
        hi_c = max(pos[n][1] + msize(n)[1] for n in members)
        pad_m0 = GROUP_PAD + (GROUP_TAB if vertical else 0.0)
        pad_c0 = GROUP_PAD + (0.0 if vertical else GROUP_TAB)
        offsets = {n: (pos[n][0] - lo_m + pad_m0, pos[n][1] - lo_c + pad_c0)
                   for n in members}
        b = _Block(name, members, hi_m - lo_m + pad_m0 + GROUP_PAD,
                   hi_c - lo_c + pad_c0 + GROUP_PAD, offsets, group=name)
        blocks.append(b)
        for n in members:
            block_of[n] = b
    bsize = {b.key: (b.main, b.cross) for b in blocks}
    bedges = []
    for s, sp, d, dp in edges:
        a, b = block_of[s], block_of[d]
        if a is b:
            continue
        oa, ob = a.offsets[s], b.offsets[d]
        pa, pb = mport(s, "out", sp), mport(d, "in", dp)
        bedges.append((a.key, oa[1] + pa[1], b.key, ob[1] + pb[1]))
    bkeys = [b.key for b in sorted(blocks, key=lambda b: min(order[n]
                                                              for n in b.members))]
    ranks, cross = _ranks_and_cross(bkeys, bedges, bsize,
                                    {b.key for b in blocks if b.light},
                                    {b.key for b in blocks if b.group}, vertical,
                                    {k: i for i, k in enumerate(bkeys)})
    main_at, lane_of = _lanes(ranks, cross, bsize, vertical, aspect)
    out = {}
    for b in blocks:
        m0, c0 = main_at[b.key], cross[b.key]
        for n in b.members:
            om, oc = b.offsets[n]
            m, c = m0 + om, c0 + oc
            out[n] = (round(c), round(m)) if vertical else (round(m), round(c))
    return out


def _place(nodes, edges, msize, mport, vertical, light, order):
    """Members of one group: ``{node: (main, cross)}`` without wrapping."""
    sizes = {n: msize(n) for n in nodes}
    bedges = [(s, mport(s, "out", sp)[1], d, mport(d, "in", dp)[1])
              for s, sp, d, dp in edges]
    ranks, cross = _ranks_and_cross(list(nodes), bedges, sizes, light & set(nodes),
                                    set(), vertical, order)
    main_at, _ = _lanes(ranks, cross, sizes, vertical, None)
    return {n: (main_at[n], cross[n]) for n in nodes}


def _acyclic_groups(nodes, edges, groups, order):
    """The groups (of two or more visible members) that can be contracted to one
    block each without closing a cycle."""
    visible = set(nodes)
    keep = {}
    owner = {}
    succ = {n: [] for n in nodes}
    for s, _, d, _ in edges:
        succ[s].append(d)
    for name in sorted(groups, key=lambda g: min((order.get(n, 0) for n in groups[g]),
                                                 default=0)):
        members = [n for n in groups[name] if n in visible and n not in owner]
        if len(members) < 2:
            continue
        trial = dict(owner)
        for n in members:
            trial[n] = name
        if not _has_cycle(nodes, succ, trial):
            owner = trial
            keep[name] = members
    return keep


def _has_cycle(nodes, succ, owner):
    def key(n):
        return ("g", owner[n]) if n in owner else ("n", n)

    adj = {}
    for n in nodes:
        a = key(n)
        adj.setdefault(a, set())
        for d in succ[n]:
            b = key(d)
            if a != b:
                adj[a].add(b)
    state = {}
    for start in adj:
        if start in state:
            continue
        stack = [(start, iter(adj[start]))]
        state[start] = 1
        while stack:
            v, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[v] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return True
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(adj[nxt])))
    return False


def _ranks_and_cross(keys, edges, size, light, grouped, vertical, order):
    """Ranks (lists of keys along the main axis) and each key's cross position."""
    preds = {k: [] for k in keys}
    succs = {k: [] for k in keys}
    for a, oa, b, ob in edges:
        preds[b].append((a, oa, ob))
        succs[a].append((b, oa, ob))
    topo = _topo(keys, succs, order)
    depth = {}
    for k in topo:
        depth[k] = 1 + max((depth[p] for p, _, _ in preds[k]), default=-1)
    for k in reversed(topo):  # pull sources next to their first consumer
        if not preds[k] and succs[k]:
            depth[k] = max(0, min(depth[s] for s, _, _ in succs[k]) - 1)
    nranks = max(depth.values()) + 1
    ranks = [[] for _ in range(nranks)]
    for k in topo:
        ranks[depth[k]].append(k)
    ranks = [r for r in ranks if r]
    gap = CROSS_GAP[vertical]
    weight = {k: 1.0 if k in light else 12.0 for k in keys}
    cross = {}
    for r in ranks:  # start: each rank stacked and centred on 0
        total = sum(size[k][1] for k in r) + gap * (len(r) - 1)
        t = -total / 2
        for k in r:
            cross[k] = t
            t += size[k][1] + gap

    def place(r, desired):
        r.sort(key=lambda k: (desired.get(k, cross[k]), cross[k]))
        targets = [desired.get(k, cross[k]) for k in r]
        offsets = [size[a][1] + (gap * 1.5 if (a in grouped or b in grouped) else gap)
                   for a, b in zip(r, r[1:])]
        for k, v in zip(r, _pav(targets, offsets, [weight[k] for k in r])):
            cross[k] = v

    def from_preds(k):
        ps = [p for p in preds[k] if p[0] not in light] or preds[k]
        ws = [cross[a] + oa - ob for a, oa, ob in ps]
        return sum(ws) / len(ws) if ws else None

    def from_succs(k):
        ws = [cross[b] + ob - oa for b, oa, ob in succs[k]]
        return sum(ws) / len(ws) if ws else None

    for _ in range(3):
        for r in ranks:
            place(r, {k: v for k in r if (v := from_preds(k)) is not None})
        for r in reversed(ranks):
            desired = {}
            for k in r:
                v_s, v_p = from_succs(k), from_preds(k)
                if v_p is None and v_s is not None:
                    desired[k] = v_s
                elif v_p is not None and v_s is not None:
                    desired[k] = (2 * v_p + v_s) / 3
            place(r, desired)
    for r in ranks:  # a last pass so that chains end straight
        place(r, {k: v for k in r if (v := from_preds(k)) is not None})
    return ranks, cross


def _topo(keys, succs, order):
    indeg = {k: 0 for k in keys}
    for k in keys:
        for s, _, _ in succs[k]:
            indeg[s] += 1
    import heapq
    heap = [(order[k], k) for k in keys if indeg[k] == 0]
    heapq.heapify(heap)
    out = []
    while heap:
        _, k = heapq.heappop(heap)
        out.append(k)
        for s, _, _ in succs[k]:
            indeg[s] -= 1
            if indeg[s] == 0:
                heapq.heappush(heap, (order[s], s))
    if len(out) < len(keys):  # a cycle (an invalid graph): keep the rest in order
        seen = set(out)
        out += [k for k in keys if k not in seen]
    return out


def _lanes(ranks, cross, size, vertical, aspect):
    """Main-axis position of every key, after cutting the ranks into lanes.

    Shifts ``cross`` in place so that lanes sit side by side.
    """
    gap = MAIN_GAP[vertical]
    lengths = [max(size[k][0] for k in r) for r in ranks]
    extents = [(min(cross[k] for k in r), max(cross[k] + size[k][1] for k in r))
               for r in ranks]
    total = sum(lengths) + gap * (len(ranks) - 1)
    best = [list(range(len(ranks)))]
    if aspect and len(ranks) > 3:
        # view cross / view main, for the direction the ranks run in; the view
        # is about VIEW_MAIN px along the main axis, and nothing gains from a
        # scale above 1, so short chains stay in one lane
        ratio = aspect if vertical else 1.0 / aspect
        scales = []
        for k in range(1, min(len(ranks), 12) + 1):
            cut = _cut(lengths, gap, k, total)
            if cut is None:
                continue
            main_len = max(sum(lengths[i] for i in lane) + gap * (len(lane) - 1)
                           for lane in cut)
            cross_len = sum(max(extents[i][1] for i in lane)
                            - min(extents[i][0] for i in lane) for lane in cut) \
                + LANE_GAP * (len(cut) - 1)
            view_main = VIEW_MAIN[vertical]
            scale = min(ratio * view_main / cross_len, view_main / main_len, 1.0)
            scales.append((scale, cut))
        top = max(sc for sc, _ in scales)
        best = next(cut for sc, cut in scales if sc >= top * 0.97)
    main_at, lane_of = {}, {}
    offset = 0.0
    for li, lane in enumerate(best):
        lo = min(extents[i][0] for i in lane)
        hi = max(extents[i][1] for i in lane)
        t = 0.0
        for i in lane:
            for k in ranks[i]:
                main_at[k] = t
                lane_of[k] = li
                cross[k] += offset - lo
            t += lengths[i] + gap
        offset += hi - lo + LANE_GAP
    return main_at, lane_of


def _cut(lengths, gap, k, total):
    """Rank indices cut into ``k`` consecutive lanes of about equal length."""
    if k == 1:
        return [list(range(len(lengths)))]
    target = total / k
    lanes, cur, acc = [], [], 0.0
    for i, length in enumerate(lengths):
        if cur and acc + length > target * 1.04 and len(lanes) < k - 1:
            lanes.append(cur)
            cur, acc = [], 0.0
        cur.append(i)
        acc += length + gap
    lanes.append(cur)
    return lanes if len(lanes) == k else None


def _pav(targets, offsets, weights=None):
    """Positions ``y`` minimising Σ w·(y − target)² subject to
    y[i+1] ≥ y[i] + offsets[i] (pool adjacent violators)."""
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
