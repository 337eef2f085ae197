"""Layer shortcuts: an op placed together with its Parameter nodes, wired and grouped.

A *layer* is an op node (Linear, Conv2D, LSTM…) whose weight inputs come from
Parameter nodes. Nothing about it is stored beyond what the file already has:
the op, its Parameters and ``ui.group``. Its settings (units, filters, kernel,
hidden size) are read back from the Parameters' shapes, and changing a setting
or connecting the layer's input resizes them (:func:`fit_shapes`), the way
:class:`graphlab.GraphBuilder` sizes them from the input's inferred shape.
"""

import numbers

from graphlab.shapes import fmt

__all__ = ["LAYERS", "LayerKind", "layer_of", "fit_shapes", "settings_of",
           "describe"]


class LayerKind:
    """How one kind of layer sizes its parameters.

    ``settings`` are the user-facing numbers with their defaults; ``in_axis``
    is the axis of the input that the weights must match; ``shapes(settings,
    n_in)`` gives ``{port: shape}``.
    """

    def __init__(self, name, op, prefix, settings, in_axis, shapes, read, inits,
                 default_in, doc):
        self.name = name
        self.op = op
        self.prefix = prefix
        self.settings = settings
        self.in_axis = in_axis
        self.shapes = shapes
        self.read = read
        self.inits = inits
        self.default_in = default_in
        self.doc = doc

    @property
    def ports(self):
        return list(self.inits)


def _rec(gates):
    def shapes(s, n_in):
        h = s["hidden"]
        return {"w_ih": [gates * h, n_in], "w_hh": [gates * h, h],
                "b_ih": [gates * h], "b_hh": [gates * h]}

    def read(p):
        return {"hidden": p["w_hh"][1]}, p["w_ih"][1]

    return shapes, read


def _pair(v):
    return [v, v] if isinstance(v, numbers.Integral) else list(v)


LAYERS = {}


def _add(kind):
    LAYERS[kind.name] = kind


_add(LayerKind(
    "Dense", "Linear", "fc", {"units": 32}, -1,
    lambda s, n: {"w": [s["units"], n], "b": [s["units"]]},
    lambda p: ({"units": p["w"][0]}, p["w"][1]),
    {"w": "uniform", "b": "zeros"}, 32,
    "Fully connected layer: Linear with weights units×in and bias units."))
_add(LayerKind(
    "Conv1D layer", "Conv1D", "conv", {"filters": 8, "kernel": 3}, 1,
    lambda s, n: {"w": [s["filters"], n, s["kernel"]], "b": [s["filters"]]},
    lambda p: ({"filters": p["w"][0], "kernel": p["w"][2]}, p["w"][1]),
    {"w": "uniform", "b": "zeros"}, 1,
    "1-D convolution with its filters×in×kernel weights and a bias."))
_add(LayerKind(
    "Conv2D layer", "Conv2D", "conv", {"filters": 8, "kernel": [3, 3]}, 1,
    lambda s, n: {"w": [s["filters"], n, *_pair(s["kernel"])], "b": [s["filters"]]},
    lambda p: ({"filters": p["w"][0], "kernel": list(p["w"][2:4])}, p["w"][1]),
    {"w": "uniform", "b": "zeros"}, 1,
    "2-D convolution with its filters×in×kh×kw weights and a bias."))
_add(LayerKind(
    "ConvTranspose2D layer", "ConvTranspose2D", "deconv",
    {"filters": 8, "kernel": [3, 3]}, 1,
    lambda s, n: {"w": [n, s["filters"], *_pair(s["kernel"])], "b": [s["filters"]]},
    lambda p: ({"filters": p["w"][1], "kernel": list(p["w"][2:4])}, p["w"][0]),
    {"w": "uniform", "b": "zeros"}, 1,
    "Transposed 2-D convolution with its in×filters×kh×kw weights and a bias."))
for _name, _op, _gates in (("RNN layer", "RNN", 1), ("LSTM layer", "LSTM", 4),
                           ("GRU layer", "GRU", 3)):
    _shapes, _read = _rec(_gates)
    _add(LayerKind(
        _name, _op, _op.lower(), {"hidden": 32}, -1, _shapes, _read,
        {"w_ih": "uniform", "w_hh": "uniform", "b_ih": "uniform", "b_hh": "uniform"},
        8, f"{_op} over (N, T, F) inputs with its input and recurrent weights and "
        "biases."))
_add(LayerKind(
    "BatchNorm layer", "BatchNorm", "bn", {}, 1,
    lambda s, n: {"gamma": [n], "beta": [n]},
    lambda p: ({}, p["gamma"][0]),
    {"gamma": "ones", "beta": "zeros"}, 8,
    "Batch normalisation with its per-channel scale (gamma) and shift (beta)."))

_BY_OP = {k.op: k for k in LAYERS.values()}


def layer_of(graph, node_id):
    """``(LayerKind, {port: parameter id})`` if the node is a layer, else ``None``.

    A node is a layer when its op has a layer kind and its first weight input
    comes from a Parameter node.
    """
    if node_id not in graph:
        return None
    node = graph.node(node_id)
    kind = _BY_OP.get(node.op)
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
