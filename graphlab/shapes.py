"""Shapes: symbolic dimensions, broadcasting, window arithmetic, inference.

A shape is a tuple whose entries are non-negative ints or strings. A string
(``"N"``) is a symbolic dimension, usually the batch, carried through
inference unchanged. Two different symbols, or a symbol and an int, are
assumed to agree: only concrete sizes can contradict each other.
"""

import contextvars
import json
import math

from .errors import ShapeError

__all__ = [
    "fmt",
    "numel",
    "is_concrete",
    "same_dim",
    "broadcast",
    "normalise_axis",
    "window",
    "window_warning",
    "warn",
    "collect_warnings",
    "Report",
    "analyse",
]


def fmt(shape):
    """``(N, 6, 28, 28)`` → ``'N×6×28×28'``; a scalar is ``'scalar'``."""
    if shape is None:
        return "?"
    if len(shape) == 0:
        return "scalar"
    return "×".join(str(d) for d in shape)


def numel(shape):
    """Number of elements of a concrete shape (symbols count as 1)."""
    return math.prod(d for d in shape if isinstance(d, int))


def is_concrete(shape):
    return all(isinstance(d, int) for d in shape)


def same_dim(a, b):
    """False only when two concrete sizes differ."""
    return not (isinstance(a, int) and isinstance(b, int) and a != b)


def broadcast(*shapes, what="inputs"):
    """NumPy broadcasting of shapes that may hold symbolic dimensions.

    Raises
    ------
    ShapeError
        If two concrete sizes differ and neither is 1.
    """
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(-ndim, 0):
        dims = [s[i] for s in shapes if len(s) >= -i]
        concrete = {d for d in dims if isinstance(d, int) and d != 1}
        if len(concrete) > 1:
            raise ShapeError(f"{what} {' and '.join(fmt(s) for s in shapes)} do not "
                             "broadcast: sizes must match or be 1 on each axis")
        symbols = [d for d in dims if isinstance(d, str)]
        if concrete:
            out.append(concrete.pop())
        elif symbols:
            out.append(symbols[0])
        else:
            out.append(1)
    return tuple(out)


def normalise_axis(axis, ndim, what="axis"):
    """Map a negative axis into ``range(ndim)``; raise ``ShapeError`` if outside."""
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{what} {axis} is out of range for a tensor of rank {ndim}")
    return axis % ndim


# ---- windows: convolution and pooling arithmetic --------------------------------

def window(size, kernel, stride, padding, dilation=1, *, axis_name="axis"):
    """Output length and padding of a sliding window along one axis.

    Parameters
    ----------
    size : int or str
        Input length (a symbol passes through as the output length).
    kernel, stride, dilation : int
    padding : int, (int, int), or "valid", "same", "full"
        Padding modes follow the textbook/TensorFlow convention (see SPEC
        section 2); an int pads both sides and follows PyTorch.

    Returns
    -------
    out : int or str
    pad : (int, int)
        Padding before and after.
    dropped : int
        Input positions at the end that no window reads.

    Raises
    ------
    ShapeError
        If the (dilated) window is larger than the padded input.

    Examples
    --------
    >>> window(13, 6, 5, "valid")
    (2, (0, 0), 2)
    >>> window(13, 6, 5, "same")
    (3, (1, 2), 0)
    """
    f = dilation * (kernel - 1) + 1
    if padding == "valid":
        pad = (0, 0)
    elif padding == "full":
        pad = (f - 1, f - 1)
    elif padding == "same":
        if isinstance(size, str):
            return size, None, 0
        out = -(-size // stride)
        total = max((out - 1) * stride + f - size, 0)
        pad = (total // 2, total - total // 2)
    elif isinstance(padding, int):
        pad = (padding, padding)
    else:
        pad = tuple(padding)
    if isinstance(size, str):
        return size, pad, 0
    span = size + pad[0] + pad[1] - f
    if span < 0:
        raise ShapeError(
            f"the window ({_window_desc(kernel, dilation)}) is larger than the padded "
            f"input along {axis_name} ({size} + {pad[0]} + {pad[1]} = "
            f"{size + pad[0] + pad[1]}): use a smaller kernel or more padding")
    out = span // stride + 1
    unread = span % stride  # trailing positions of the padded input no window reaches
    dropped = max(0, unread - pad[1])
    return out, pad, dropped


def _window_desc(kernel, dilation):
    if dilation == 1:
        return f"{kernel}"
    return f"{kernel} dilated by {dilation} = {dilation * (kernel - 1) + 1}"


def window_warning(axes):
    """Warning text for axes whose windows drop input, or ``None``.

    ``axes`` is a list of ``(noun, size, span, stride, pad, dropped)`` where
    ``noun`` names one position along the axis (``"row"``, ``"column"``,
    ``"input"``) and ``span`` is the dilated kernel length.

    Examples
    --------
    >>> window_warning([("row", 7, 3, 3, (0, 0), 1), ("column", 7, 3, 3, (0, 0), 1)])
    '(7 − 3 + 0)/3 + 1 = 2.33 → 2: the last row and column are never read'
    """
    sums, lost = [], []
    for noun, size, span, stride, pad, dropped in axes:
        if dropped <= 0:
            continue
        p = pad[0] + pad[1]
        exact = (size - span + p) / stride + 1
        text = f"({size} − {span} + {p})/{stride} + 1 = {exact:.3g} → {math.floor(exact)}"
        if text not in sums:
            sums.append(text)
        lost.append((dropped, noun))
    if not lost:
        return None
    if len({d for d, _ in lost}) == 1:
        d = lost[0][0]
        nouns = " and ".join(n if d == 1 else n + "s" for _, n in lost)
        what = f"the last {nouns}" if d == 1 else f"the last {d} {nouns}"
    else:
        what = " and ".join(f"the last {n}" if d == 1 else f"the last {d} {n}s"
                            for d, n in lost)
    verb = "is" if len(lost) == 1 and lost[0][0] == 1 else "are"
    return "; ".join(sums) + f": {what} {verb} never read"


# ---- warnings from shape rules -----------------------------------------------------

_warnings = contextvars.ContextVar("graphlab_shape_warnings", default=None)


def warn(message):
    """Called by a shape rule: record a warning for the node being inferred."""
    sink = _warnings.get()
    if sink is not None:
        sink.append(message)


class collect_warnings:
    """Context manager that collects :func:`warn` messages into a list."""

    def __enter__(self):
        self.messages = []
        self._token = _warnings.set(self.messages)
        return self.messages

    def __exit__(self, *exc):
        _warnings.reset(self._token)
        return False


# ---- whole-graph analysis -----------------------------------------------------------

class Report:
    """What :func:`analyse` found.

    Attributes
    ----------
    shapes : dict
        ``{node: (shape of each output)}``; ``None`` where it could not be inferred.
    errors : list of GraphlabError
        In topological order, each naming its node.
    node_errors : dict
        ``{node: GraphlabError}``, the first error of each node.
    warnings : list of (node, str)
    parameters : dict
        ``{node: count}`` for Parameter nodes.
    macs : dict
        ``{node: multiply-adds per example}``.
    """

    def __init__(self):
        self.shapes, self.errors, self.node_errors = {}, [], {}
        self.warnings, self.parameters, self.macs = [], {}, {}
        self.kinds = {}  # {node: ("int" or "float" per output port)}

    def fail(self, err, node):
        if err.node is None:
            err.node = node
        self.errors.append(err)
        if node is not None:
            self.node_errors.setdefault(node, err)

    def shape(self, node, port=None):
        """Shape of one output (the first by default), or ``None``."""
        shapes = self.shapes.get(node)
        if shapes is None:
            return None
        return shapes[0] if port is None else shapes[port]


def analyse(graph):
    """Infer every node's shapes; collect errors and warnings without raising.

    Nodes downstream of a failed node get no shape and no error of their own,
    so that each mistake is reported once, where it is.
    """
    from .errors import GraphlabError, PortError

    report = Report()
    try:
        order = graph.topological_order()
    except Exception:  # a cycle cannot be built through Graph's methods
        order = graph.nodes
    for node_id in order:
        node = graph.node(node_id)
        if node.placeholder:
            try:
                from .ops.base import get_op
                get_op(node.op, node=node_id)
            except GraphlabError as err:
                report.fail(err, node_id)
            continue
        op = node.op_def
        try:
            attrs = node.resolved
        except GraphlabError as err:
            report.fail(err, node_id)
            continue
        edges = graph.in_edges(node_id)
        missing = [p for p in op.required_inputs if p not in edges]
        if missing:
            report.fail(PortError(
                f"{op.name} input{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(p) for p in missing)} "
                f"{'are' if len(missing) > 1 else 'is'} not connected: wire "
                f"{'them' if len(missing) > 1 else 'it'} to a node's output"),
                node_id)
            continue
        in_shapes, upstream_failed = [], False
        for port in op.input_ports:
            e = edges.get(port)
            if e is None:
                in_shapes.append(None)
                continue
            src_shapes = report.shapes.get(e.src)
            if src_shapes is None:
                upstream_failed = True
                break
            src_index = graph.node(e.src).output_ports.index(e.src_port)
            in_shapes.append(src_shapes[src_index])
        if upstream_failed:
            continue
        kinds = _in_kinds(graph, op, edges, report)
        bad = [p for p in op.int_inputs if kinds.get(p) == "float"]
        if bad:
            src = edges[bad[0]].src
            report.fail(PortError(
                f"{op.name}: input '{bad[0]}' takes integers (a MaxPool2D's indices "
                f"or an int64 Input), but '{src}' gives floats: wire the integer "
                "output there"), node_id)
            continue
        report.kinds[node_id] = tuple(
            "int" if p in op.int_outputs or (kinds and all(
                k == "int" for k in kinds.values())) else "float"
            for p in op.outputs)
        try:
            with collect_warnings() as messages:
                out = op.shape(*in_shapes, **attrs)
        except GraphlabError as err:
            report.fail(err, node_id)
            continue
        shapes = tuple(tuple(s) for s in out) if len(op.outputs) > 1 else (tuple(out),)
        report.shapes[node_id] = shapes
        report.warnings.extend((node_id, m) for m in messages)
        if op.name == "Parameter":
            report.parameters[node_id] = op.parameters(attrs)
        try:
            report.macs[node_id] = int(op.macs(in_shapes, shapes, **attrs))
        except Exception:  # a count for display only; never blocks a check
            report.macs[node_id] = 0
    _check_outputs(graph, report)
    _check_train(graph, report)
    return report


def _in_kinds(graph, op, edges, report):
    """``{port: "int" or "float"}`` of what each wired input carries: an Input
    its dtype, an op's output "int" where the op declares it (``int_outputs``)
    or where all its own inputs are integers."""
    kinds = {}
    for port in op.input_ports:
        e = edges.get(port)
        if e is None:
            continue
        src = graph.node(e.src)
        if src.op == "Input":
            kinds[port] = "int" if src.resolved["dtype"].startswith("int") else "float"
        else:
            src_kinds = report.kinds.get(e.src)
            kinds[port] = src_kinds[src.output_ports.index(e.src_port)] \
                if src_kinds else "float"
    return kinds


def _check_outputs(graph, report):
    from .errors import GraphError
    for ref in graph.outputs:
        node = ref.partition(":")[0]
        if node not in graph:
            report.fail(GraphError(f"output '{ref}' names no node: fix \"outputs\""),
                        None)


def _check_train(graph, report):
    from .errors import GraphError, ShapeError
    train = graph.train
    if not train:
        return
    loss = train.get("loss")
    if loss is not None:
        if loss not in graph:
            report.fail(GraphError(f"train.loss names node '{loss}', which does not "
                                   "exist"), None)
        elif report.shape(loss) is not None and any(
                isinstance(d, str) or d != 1 for d in report.shape(loss)):
            report.fail(ShapeError(f"train.loss must be a scalar, but its shape is "
                                   f"{fmt(report.shape(loss))}: end with a loss op or "
                                   "Mean"), loss)
    data = train.get("data")
    if data is not None and not isinstance(data, dict):
        report.fail(GraphError(f"train.data must be an object such as {{\"dataset\": "
                               f"\"digits\"}}, got {json.dumps(data)}"), None)
        return
    feeds = (data or {}).get("feeds") or {}
    if not isinstance(feeds, dict):
        report.fail(GraphError(f"train.data.feeds must be an object {{Input id: array "
                               f"name}}, got {json.dumps(feeds)}"), None)
        return
    for node in feeds:
        if node not in graph:
            report.fail(GraphError(f"train.data.feeds names node '{node}', which does "
                                   "not exist"), None)
        elif graph.node(node).op != "Input":
            report.fail(GraphError(f"train.data.feeds: '{node}' is a "
                                   f"{graph.node(node).op}, not an Input"), node)
