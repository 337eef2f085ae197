"""Tidying an imported graph: chains of Reshape and Transpose that cancel.

Importing composes layout changes that often undo each other (a time-first
ONNX LSTM between two Transposes; its output squeezed and transposed back to
batch-first). A linear chain of Reshape/Transpose/Flatten nodes (each read
only by the next) whose composite moves no element is removed; one that only
reshapes becomes one Reshape. The composite is found by pushing an index
array through the chain, at two batch sizes.

Assumes a graph whose shapes are known (``shapes`` maps refs to shapes).
"""

import numpy as np

from ._common import reshape_target

__all__ = ["simplify"]

_SHAPE_OPS = ("Reshape", "Transpose", "Flatten")


def _apply(op, attrs, a):
    if op == "Transpose":
        return np.transpose(a, attrs["perm"])
    if op == "Flatten":
        s = attrs["start_axis"] % a.ndim
        return a.reshape(a.shape[:s] + (-1,))
    return a.reshape([a.shape[0] if d == "N" else d for d in attrs["shape"]])


def _concrete(shape, n):
    return tuple(n if isinstance(d, str) else d for d in shape)


def _composite(g, chain, in_shape):
    """``"identity"``, ``"reshape"`` or None for a chain of shape ops."""
    kinds = set()
    for n in (2, 3):
        shape = _concrete(in_shape, n)
        if any(not isinstance(d, int) for d in shape):
            return None
        a = np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape)
        try:
            b = a
            for node_id in chain:
                node = g.node(node_id)
                b = _apply(node.op, node.resolved, b)
        except ValueError:
            return None
        if not np.array_equal(b.ravel(), a.ravel()):
            return None
        kinds.add("identity" if b.shape == a.shape else "reshape")
    return kinds.pop() if len(kinds) == 1 else None


def _remove_dead(g, outputs):
    """Remove nodes no output depends on (what only fed a folded Shape)."""
    import networkx as nx
    live = set(outputs)
    for o in outputs:
        live |= nx.ancestors(g.nx, o)
    for node_id in list(g.nodes):
        if node_id not in live and g.node(node_id).op != "Input":
            g.remove_node(node_id)


def simplify(g, shapes):
    """Remove or merge cancelling Reshape/Transpose chains of ``g`` in place."""
    outputs = {r.partition(":")[0] for r in g.outputs}
    _remove_dead(g, outputs)
    consumers = {}
    for e in g.edges:
        consumers.setdefault(e.src, []).append(e)
    done = set()
    for node_id in list(g.topological_order()):
        if node_id in done or node_id not in g or g.node(node_id).op not in _SHAPE_OPS:
            continue
        src = g.in_edges(node_id).get("x")
        if src is None:
            continue
        chain = [node_id]
        while True:
            last = chain[-1]
            outs = consumers.get(last, [])
            if last in outputs or len(outs) != 1 or g.node(outs[0].dst).op not in \
                    _SHAPE_OPS:  # (a chain may end at an output, not pass one)
                break
            chain.append(outs[0].dst)
        done.update(chain)
        src_ref = src.src if g.node(src.src).output_ports[0] == src.src_port else \
            f"{src.src}:{src.src_port}"
        in_shape = shapes[src_ref]
        # The longest prefix of the chain that moves no element.
        for end in range(len(chain), 0, -1):
            part = chain[:end]
            kind = _composite(g, part, in_shape)
            if kind is None:
                continue
            last = part[-1]
            if kind == "reshape" and len(part) == 1:
                break
            targets = [(e.dst, e.dst_port) for e in consumers.get(last, [])]
            new_ref = src_ref
            if kind == "reshape":
                keep = part[0]
                if g.node(keep).op != "Reshape":
                    break  # a Transpose or Flatten cannot take a shape: leave it
                out_shape = shapes[last]
                g.set_attrs(keep, {"shape": reshape_target(in_shape, out_shape)})
                new_ref = keep
                shapes[keep] = out_shape
                part = part[1:]
            listed = [new_ref if r == last else r for r in g.outputs]
            for dst, port in targets:
                g.disconnect(dst, port)
            for n in reversed(part):
                g.remove_node(n)
            for dst, port in targets:
                g.connect(new_ref, f"{dst}:{port}")
            g.set_outputs(listed)
            consumers = {}
            for e in g.edges:
                consumers.setdefault(e.src, []).append(e)
            break
