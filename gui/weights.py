"""Weights inside their layer: which Parameters the canvas draws as rows.

A Parameter (or a Constant) that feeds exactly one node (by one edge) is, by
default, drawn inside that node as a row with its name and shape
(``w 6×1×5×5``) instead of as a box of its own with a wire, as Netron draws a
model's initializers. So is a weight shared by several nodes of the same op
through the same port (the cells of an unrolled RNN, tied weights): a row in
each of them (:func:`shared`). This is a way of looking at the graph only: the
graph and its file keep every Parameter as a node, and every edit goes
through the same undo commands in both views. Plain functions of a
:class:`graphlab.Graph`, so that the scene, the layout and the tests agree.
"""

import numpy as np

from graphlab.shapes import fmt

__all__ = ["absorbed", "shared", "inside_ports", "row_text", "INSIDE_OPS"]

INSIDE_OPS = ("Parameter", "Constant")


def absorbed(graph, enabled=True, shown=()):
    """``{parameter id: (consumer id, port)}`` for the Parameters drawn inside.

    Parameters
    ----------
    graph : graphlab.Graph
    enabled : bool
        False: every Parameter is a node of its own (View → Show weights as
        nodes).
    shown : collection of str
        Consumers whose weights are shown as nodes anyway (per node, from its
        context menu).
    """
    if not enabled:
        return {}
    outputs, fed = _outputs_and_fed(graph)
    out = {}
    for n in graph.nodes:
        node = graph.node(n)
        if node.op not in INSIDE_OPS or node.placeholder or n in outputs:
            continue
        edges = fed.get(n, ())
        if len(edges) != 1:
            continue
        e = edges[0]
        if e.dst in shown or graph.node(e.dst).placeholder:
            continue
        out[n] = (e.dst, e.dst_port)
    return out


def shared(graph, enabled=True, shown=(), limit=64):
    """``{parameter id: [(consumer, port), ...]}`` for the weights shared by two
    or more nodes of one op through one port name (at most ``limit``), drawn
    inside each of them."""
    if not enabled:
        return {}
    outputs, fed = _outputs_and_fed(graph)
    out = {}
    for n, edges in fed.items():
        node = graph.node(n)
        if (node.op not in INSIDE_OPS or node.placeholder or n in outputs
                or not 2 <= len(edges) <= limit):
            continue
        dsts = [graph.node(e.dst) for e in edges]
        if len({(d.op, e.dst_port) for d, e in zip(dsts, edges)}) != 1 or any(
                d.placeholder for d in dsts) or any(e.dst in shown for e in edges):
            continue
        if len({e.dst for e in edges}) != len(edges):
            continue
        out[n] = [(e.dst, e.dst_port) for e in edges]
    return out


def inside_ports(absorbed_map):
    """``{consumer id: frozenset of ports}`` whose Parameter is drawn inside."""
    out = {}
    for dst, port in absorbed_map.values():
        out.setdefault(dst, set()).add(port)
    return {k: frozenset(v) for k, v in out.items()}


def row_text(graph, param, consumer, port):
    """``(name, shape text)`` of a weight row: the port's name when the
    Parameter is named ``<consumer>_<port>`` (as layer shortcuts name them),
    else the Parameter's own id."""
    name = port if param == f"{consumer}_{port}" else param
    node = graph.node(param)
    if node.op == "Constant":
        value = node.attrs.get("value")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return name, f"= {value:g}"
        shape = list(np.shape(value)) if value is not None else None
        return name, (fmt(shape) if shape is not None else "?") + " const"
    try:
        shape = node.resolved.get("shape")
    except Exception:
        shape = node.attrs.get("shape")
    return name, fmt(list(shape)) if shape is not None else "?"


def _outputs_and_fed(graph):
    """The ids of the graph's outputs, and ``{node: [edges it feeds]}``."""
    fed = {}
    for e in graph.edges:
        fed.setdefault(e.src, []).append(e)
    return {o.partition(":")[0] for o in graph.outputs}, fed
