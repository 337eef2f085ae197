"""Layer shortcuts: an op placed together with its Parameter nodes, wired and grouped.

A *layer* is an op node (Linear, Conv2D, LSTM…) whose weight inputs come from
Parameter nodes. Nothing about it is stored beyond what the file already has:
the op, its Parameters and ``ui.group``. Its settings (units, filters, kernel,
hidden size) are read back from the Parameters' shapes, and changing a setting
or connecting the layer's input resizes them (:func:`fit_shapes`), the way
:class:`graphlab.GraphBuilder` sizes them from the input's inferred shape: both
read the kinds of :mod:`graphlab.layers`.
"""

from graphlab.layers import BY_OP, LAYERS, LayerKind
from graphlab.shapes import fmt

__all__ = ["LAYERS", "LayerKind", "layer_of", "fit_shapes", "settings_of",
           "describe"]


def layer_of(graph, node_id):
    """``(LayerKind, {port: parameter id})`` if the node is a layer, else ``None``.

    A node is a layer when its op has a layer kind and its first weight input
    comes from a Parameter node.
    """
    if node_id not in graph:
        return None
    node = graph.node(node_id)
    kind = BY_OP.get(node.op)
    if kind is None or node.placeholder:
        return None
    edges = graph.in_edges(node_id)
    params = {}
    for port in kind.ports:
        e = edges.get(port)
        if e is not None and graph.node(e.src).op == "Parameter" \
                and not graph.node(e.src).placeholder:
            params[port] = e.src
    if kind.ports[0] not in params:
        return None
    return kind, params


def _param_shapes(graph, params):
    out = {}
    for port, p in params.items():
        try:
            out[port] = list(graph.node(p).resolved["shape"])
        except Exception:
            out[port] = list(graph.node(p).attrs.get("shape") or [])
    return out


def settings_of(graph, node_id):
    """``(kind, settings, n_in)`` read from a layer's Parameter shapes, or ``None``."""
    found = layer_of(graph, node_id)
    if found is None:
        return None
    kind, params = found
    shapes = _param_shapes(graph, params)
    try:
        settings, n_in = kind.read(shapes)
    except (IndexError, KeyError, TypeError):
        return kind, dict(kind.settings), None
    return kind, settings, n_in


def input_size(graph, report, node_id, kind):
    """Size of the layer input's ``in_axis``, or ``None`` if unknown/symbolic."""
    e = graph.in_edges(node_id).get("x")
    if e is None or report is None:
        return None
    shapes = report.shapes.get(e.src)
    if shapes is None:
        return None
    try:
        shape = shapes[graph.node(e.src).output_ports.index(e.src_port)]
        n = shape[kind.in_axis]
    except (ValueError, IndexError, TypeError):
        return None
    return n if isinstance(n, int) else None


def fit_shapes(graph, report, node_id, settings=None):
    """``{parameter id: new shape}`` that makes a layer fit its input and settings.

    Parameters keep their input size when the input's is not known yet.
    Returns ``{}`` when nothing needs to change or the node is not a layer.
    """
    found = settings_of(graph, node_id)
    if found is None:
        return {}
    kind, current, n_in = found
    want = dict(current)
    if settings:
        want.update(settings)
    n = input_size(graph, report, node_id, kind)
    if n is None:
        n = n_in if n_in is not None else kind.default_in
    shapes = kind.shapes(want, n)
    _, params = layer_of(graph, node_id)
    have = _param_shapes(graph, params)
    return {params[p]: shapes[p] for p in params
            if p in shapes and have.get(p) != shapes[p]}


def describe(kind, settings):
    """Short text for a layer: ``Dense · 120 units``."""
    if not settings:
        return kind.name
    parts = []
    for k, v in settings.items():
        if isinstance(v, (list, tuple)):
            v = fmt(v)
        parts.append(f"{v} {k}" if k in ("units", "filters") else f"{k} {v}")
    return f"{kind.name} · {', '.join(parts)}"
