"""Building graphs in Python: one call per op, layer helpers that own weights.

Every method returns a reference (``"node"`` or ``"node:port"``) to pass on.
Layer helpers (:meth:`GraphBuilder.linear`, :meth:`~GraphBuilder.conv2d`,
:meth:`~GraphBuilder.lstm`, …) infer their input's shape and create their
Parameter nodes, named ``<layer>_w`` and ``<layer>_b``, grouped with the op in
``ui.group`` so that the editor can collapse a layer into one box.

Examples
--------
>>> import graphlab as gl
>>> b = gl.GraphBuilder("tiny MLP")
>>> x = b.input("x", ["N", 4])
>>> h = b.relu(b.linear(x, 8, name="fc1"))
>>> out = b.linear(h, 3, name="fc2")
>>> b.output(out)
>>> b.graph.parameter_count()
67
"""

import numbers

from .errors import GraphError
from .graph import Graph
from .layers import BY_OP, LAYERS
from .layout import layered_layout
from .ops.base import get_op, op_names

__all__ = ["GraphBuilder"]


class GraphBuilder:
    """Builds a :class:`Graph` op by op.

    Parameters
    ----------
    name : str
        The graph's name.
    """

    def __init__(self, name=""):
        self.graph = Graph(name)
        self._group = None

    # ---- generic ---------------------------------------------------------------------
    def op(self, op, *args, name=None, group=None, **kwargs):
        """Add any op: positional or keyword inputs by port, the rest as attrs.

        Returns a reference to its first output (use :meth:`port` for others).
        """
        op_def = get_op(op)
        ports = op_def.input_ports
        if len(args) > len(ports):
            raise GraphError(f"{op} takes {len(ports)} inputs ({', '.join(ports)}), "
                             f"got {len(args)}")
        inputs = dict(zip(ports, args))
        attrs = {}
        for k, v in kwargs.items():
            if k in ports:
                inputs[k] = v
            elif v is not None:
                attrs[k] = _plain(v)
        node_id = name or self.graph.new_id(op)
        ui = {}
        group = group or self._group
        if group:
            ui["group"] = group
        self.graph.add_node(node_id, op, attrs, ui)
        for port, ref in inputs.items():
            if ref is not None:
                self.graph.connect(ref, f"{node_id}:{port}")
        return node_id

    def port(self, ref, port):
        """Reference to another output port of a node (``"pool1:indices"``)."""
        return f"{ref.partition(':')[0]}:{port}"

    def shape(self, ref):
        """Inferred shape of a reference (raises the graph's first error)."""
        node, _, port = ref.partition(":")
        report = self.graph.analyse()
        if node in report.node_errors:
            raise report.node_errors[node]
        ports = self.graph.node(node).output_ports
        return report.shapes[node][ports.index(port) if port else 0]

    def output(self, *refs):
        """Declare the graph's outputs (the first is where backward starts)."""
        self.graph.set_outputs(list(refs))

    def train(self, **section):
        """Set the ``train`` section (loss, data, optimizer, batch_size, epochs…)."""
        self.graph.train = section

    def test(self, **case):
        """Add a case to the ``tests`` section."""
        self.graph.tests.append(case)

    def layout(self):
        """Place every node by :func:`graphlab.layout.layered_layout`."""
        for node, (x, y) in layered_layout(self.graph).items():
            self.graph.update_ui(node, pos=[round(x), round(y)])
        return self.graph

    def build(self):
        """Lay the graph out, check it, and return it."""
        self.layout()
        self.graph.check()
        return self.graph

    # ---- sources ---------------------------------------------------------------------
    def input(self, name, shape=None, *, dtype="float32", value=None):
        return self.op("Input", name=name, shape=list(shape) if shape is not None
                       else None, dtype=dtype if dtype != "float32" else None,
                       value=value)

    def parameter(self, name, shape, *, init=None, value=None, trainable=True):
        return self.op("Parameter", name=name, shape=list(shape), init=init,
                       value=value, trainable=None if trainable else False)

    def constant(self, value, *, name=None):
        return self.op("Constant", name=name, value=value)

    # ---- layers ----------------------------------------------------------------------
    def _layer(self, op, prefix, name):
        name = name or self.graph.new_id(prefix)
        return name

    def _params(self, layer, w_shape, b_shape, bias, w_init, b_init):
        w = self.parameter(f"{layer}_w", w_shape, init=w_init)
        self.graph.update_ui(w, group=layer)
        b = None
        if bias:
            b = self.parameter(f"{layer}_b", b_shape, init=b_init)
            self.graph.update_ui(b, group=layer)
        return w, b

    def linear(self, x, units, *, bias=True, name=None, init="uniform"):
        """Dense layer: ``x @ wᵀ + b`` with ``w`` of shape units × in."""
        layer = self._layer("Linear", "fc", name)
        shapes = LAYERS["Dense"].shapes({"units": units}, self.shape(x)[-1])
        w, b = self._params(layer, shapes["w"], shapes["b"], bias, init, "zeros")
        return self.op("Linear", x, w, b, name=layer, group=layer)

    dense = linear

    def conv1d(self, x, filters, kernel, *, stride=1, padding=0, dilation=1,
               bias=True, name=None, init="uniform"):
        layer = self._layer("Conv1D", "conv", name)
        k = kernel if isinstance(kernel, numbers.Integral) else kernel[0]
        shapes = LAYERS["Conv1D layer"].shapes({"filters": filters, "kernel": k},
                                               self.shape(x)[1])
        w, b = self._params(layer, shapes["w"], shapes["b"], bias, init, "zeros")
        return self.op("Conv1D", x, w, b, name=layer, group=layer,
                       stride=_nondefault(stride, 1), padding=_nondefault(padding, 0),
                       dilation=_nondefault(dilation, 1))

    def conv2d(self, x, filters, kernel, *, stride=1, padding=0, dilation=1,
               bias=True, name=None, init="uniform"):
        """2-D convolution layer with ``filters`` output channels."""
        layer = self._layer("Conv2D", "conv", name)
        shapes = LAYERS["Conv2D layer"].shapes({"filters": filters, "kernel": kernel},
                                               self.shape(x)[1])
        w, b = self._params(layer, shapes["w"], shapes["b"], bias, init, "zeros")
        return self.op("Conv2D", x, w, b, name=layer, group=layer,
                       stride=_nondefault(stride, 1), padding=_nondefault(padding, 0),
                       dilation=_nondefault(dilation, 1))

    def conv_transpose2d(self, x, filters, kernel, *, stride=1, padding=0,
                         output_padding=0, bias=True, name=None, init="uniform"):
        layer = self._layer("ConvTranspose2D", "deconv", name)
        shapes = LAYERS["ConvTranspose2D layer"].shapes(
            {"filters": filters, "kernel": kernel}, self.shape(x)[1])
        w, b = self._params(layer, shapes["w"], shapes["b"], bias, init, "zeros")
        return self.op("ConvTranspose2D", x, w, b, name=layer, group=layer,
                       stride=_nondefault(stride, 1), padding=_nondefault(padding, 0),
                       output_padding=_nondefault(output_padding, 0))

    def _recurrent(self, op, x, hidden, h0, c0, bias, name, **attrs):
        kind = BY_OP[op]
        layer = self._layer(op, kind.prefix, name)
        shapes = kind.shapes({"hidden": hidden}, self.shape(x)[-1])
        refs = {}
        for port in ("w_ih", "w_hh") + (("b_ih", "b_hh") if bias else ()):
            refs[port] = self.parameter(f"{layer}_{port}", shapes[port],
                                        init=kind.inits[port])
        for ref in refs.values():
            self.graph.update_ui(ref, group=layer)
        if h0 is not None:
            refs["h0"] = h0
        if c0 is not None:
            refs["c0"] = c0
        return self.op(op, x, name=layer, group=layer, **refs, **attrs)

    def rnn(self, x, hidden, *, nonlinearity="tanh", h0=None, bias=True, name=None):
        """Elman RNN over ``x`` (N, T, F); returns the node (outputs y, h)."""
        return self._recurrent("RNN", x, hidden, h0, None, bias, name,
                               nonlinearity=_nondefault(nonlinearity, "tanh"))

    def lstm(self, x, hidden, *, h0=None, c0=None, bias=True, name=None):
        """LSTM over ``x`` (N, T, F); returns the node (outputs y, h, c)."""
        return self._recurrent("LSTM", x, hidden, h0, c0, bias, name)

    def gru(self, x, hidden, *, h0=None, bias=True, name=None):
        """GRU over ``x`` (N, T, F); returns the node (outputs y, h)."""
        return self._recurrent("GRU", x, hidden, h0, None, bias, name)

    def embedding(self, x, num, dim, *, weight=None, name=None, init="uniform"):
        """Token lookup: ``x`` (integer indices, any shape) → vectors of ``dim``,
        from a ``num × dim`` table ``<layer>_w`` (or the table ``weight``, to
        share one between layers); returns the node."""
        layer = self._layer("Embedding", "embed", name)
        if weight is None:
            weight = self.parameter(f"{layer}_w", [num, dim], init=init)
            self.graph.update_ui(weight, group=layer)
        return self.op("Embedding", x, weight, name=layer, group=layer)

    def maxout(self, x, units, pieces, *, name=None):
        """Maxout layer: a Linear to ``units·pieces`` features, then the max of
        each group of ``pieces`` (Goodfellow et al. 2013)."""
        layer = self._layer("Maxout", "maxout", name)
        z = self.linear(x, units * pieces, name=f"{layer}_fc")
        for n in (z, f"{z}_w", f"{z}_b"):
            self.graph.update_ui(n, group=layer)
        return self.op("Maxout", z, name=layer, group=layer, pieces=pieces)

    def batchnorm(self, x, *, name=None, momentum=None, eps=None):
        layer = self._layer("BatchNorm", "bn", name)
        c = self.shape(x)[1]
        gamma = self.parameter(f"{layer}_gamma", [c], init="ones")
        beta = self.parameter(f"{layer}_beta", [c], init="zeros")
        for n in (gamma, beta):
            self.graph.update_ui(n, group=layer)
        return self.op("BatchNorm", x, gamma, beta, name=layer, group=layer,
                       momentum=momentum, eps=eps)

    def __getattr__(self, attr):
        """``b.relu(x)``, ``b.max_pool2d(x, kernel=2)``: any op by its snake name."""
        if attr.startswith("_"):
            raise AttributeError(attr)
        target = attr.replace("_", "").lower()
        for op_name in op_names():
            if op_name.lower() == target:
                return lambda *args, **kw: self.op(op_name, *args, **kw)
        raise AttributeError(f"GraphBuilder has no method {attr!r} and no op "
                             "matches it")


def _nondefault(value, default):
    return None if value == default else value


def _plain(v):
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return v
