"""Graph → ONNX: one ONNX node (or a few) per graphlab node, by the op table.

Assumes nothing about the graph: it is checked first, and any error names its
node. Parameters and Constants become initializers holding the values the
executor would use (``graph.params``, then ``attrs.value``, then the seeded
``init`` rule); BatchNorm's running statistics come from ``graph.params``
(``ID.running_mean``, ``ID.running_var``). The model computes what the
executor computes in evaluation mode (Dropout off, running statistics).
"""

import os
import tempfile

import numpy as np

from ..errors import GraphError
from ..graph import parse_ref
from ._common import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET, require_onnx

__all__ = ["export_model", "Exporter"]


class Exporter:
    """What a mapping's ``export`` sees: the graph, its shapes and the model
    being built. One instance per export."""

    def __init__(self, graph, opset):
        self.onnx = require_onnx()
        from ..program import Program
        self.graph = graph
        self.opset = opset
        self.report = graph.analyse()
        self.values = Program(graph, dtype="float32", training=False).params
        self.nodes, self.initializers = [], []
        self._names = set()
        self._node_names = set()
        self._emitted = set()
        self.node_id = None  # the graphlab node being exported
        self.outputs = list(graph.outputs)  # what the model returns

    # ---- names and values ------------------------------------------------------------
    def _node_name(self, hint):
        return _unused(hint, self._node_names)

    def fresh(self, hint):
        """A value name not used yet, built from ``hint``."""
        return _unused(hint, self._names)

    @staticmethod
    def value_name(node_id, port, first_port):
        return node_id if port == first_port else f"{node_id}.{port}"

    def output(self, port=None):
        """The ONNX name of the current node's output ``port`` (default the first)."""
        node = self.graph.node(self.node_id)
        return self.value_name(self.node_id, port or node.output_ports[0],
                               node.output_ports[0])

    def input(self, port):
        """The ONNX name of the value feeding ``port`` of the current node, or None."""
        edge = self.graph.in_edges(self.node_id).get(port)
        if edge is None:
            return None
        src = self.graph.node(edge.src)
        self.emit_source(edge.src)
        return self.value_name(edge.src, edge.src_port, src.output_ports[0])

    def emit_source(self, node_id):
        """The initializer of a Parameter or Constant, made when first read (a
        recurrent op reorders its weights into initializers of its own)."""
        if node_id in self._emitted or self.graph.node(node_id).op not in (
                "Parameter", "Constant"):
            return
        self._emitted.add(node_id)
        self._names.discard(node_id)
        self.const(self.values[node_id], node_id, np.float32)

    def constant_input(self, port):
        """``(value, source id)`` if ``port`` reads a Parameter or a Constant that
        nothing else reads, else ``(None, None)``."""
        edge = self.graph.in_edges(self.node_id).get(port)
        if edge is None or self.graph.node(edge.src).op not in ("Parameter",
                                                                "Constant"):
            return None, None
        if len(self.graph.out_edges(edge.src)) > 1 or edge.src in self._emitted:
            return None, None
        self._emitted.add(edge.src)
        self._names.discard(edge.src)
        return self.values[edge.src], edge.src

    def shape(self, port=None, node=None):
        """The inferred shape of the current node's input ``port`` (or output
        shape when ``port`` is None)."""
        node = node or self.node_id
        if port is None:
            return tuple(self.report.shape(node))
        edge = self.graph.in_edges(node)[port]
        src = self.graph.node(edge.src)
        shapes = self.report.shapes[edge.src]
        return tuple(shapes[src.output_ports.index(edge.src_port)])

    @property
    def attrs(self):
        return self.graph.node(self.node_id).resolved

    def refuse(self, reason):
        raise GraphError(f"{reason}: ONNX has no form for it",
                         node=self.node_id)

    # ---- building --------------------------------------------------------------------
    def add(self, op_type, inputs, outputs=None, **attrs):
        """Append an ONNX node; returns its (first) output name.

        ``outputs`` may be names, or None for one fresh name.
        """
        helper = self.onnx.helper
        if outputs is None:
            outputs = [self.fresh(f"{self.node_id}.{op_type.lower()}")]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        inputs = list(inputs)
        while inputs and inputs[-1] in (None, ""):  # absent optional inputs
            inputs.pop()
        # The node making the graphlab node's value is named by its id, so that
        # a round trip keeps the ids; helper nodes are ID/OpType.
        name = (self.node_id if outputs[0] == self.output()
                else f"{self.node_id}/{op_type}")
        node = helper.make_node(op_type, ["" if i is None else i for i in inputs],
                                list(outputs), name=self._node_name(name), **attrs)
        self.nodes.append(node)
        return outputs[0]

    def const(self, value, hint, dtype=None):
        """An initializer holding ``value``; returns its name."""
        arr = np.asarray(value, dtype=dtype)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def ints(self, values, hint="shape"):
        return self.const(np.asarray(values, np.int64), f"{self.node_id}.{hint}")

    def reduce(self, op_type, x, axes, keepdims, output=None):
        """A Reduce* node: axes an input from opset 18 (13 for ReduceSum)."""
        outs = None if output is None else [output]
        since = 13 if op_type == "ReduceSum" else 18
        if axes is None:
            return self.add(op_type, [x], outs, keepdims=int(keepdims))
        if self.opset >= since:
            return self.add(op_type, [x, self.ints(list(axes), "axes")], outs,
                            keepdims=int(keepdims))
        return self.add(op_type, [x], outs, axes=list(axes), keepdims=int(keepdims))

    def unsqueeze(self, x, axes):
        return self.add("Unsqueeze", [x, self.ints(list(axes), "axes")])

    def squeeze(self, x, axes, output=None):
        return self.add("Squeeze", [x, self.ints(list(axes), "axes")],
                        None if output is None else [output])


# ---- the model -----------------------------------------------------------------------

def _value_info(onnx, name, shape, elem_type):
    dims = [d if isinstance(d, int) else str(d) for d in shape]
    return onnx.helper.make_tensor_value_info(name, elem_type, dims)


def _opset(opset):
    if opset is None:
        return DEFAULT_OPSET
    if isinstance(opset, bool) or not isinstance(opset, int) or not (
            MIN_OPSET <= opset <= MAX_OPSET):
        raise GraphError(f"opset {opset!r} is not supported: use {MIN_OPSET} to "
                         f"{MAX_OPSET}")
    return opset


def export_model(graph, path=None, *, outputs=None, opset=None):
    """Build (and write) the ONNX model of ``graph``; see :func:`graphlab.to_onnx`."""
    from .mappings import export_mapping
    onnx = require_onnx()
    opset = _opset(opset)
    graph.check()
    outputs = list(outputs) if outputs else list(graph.outputs)
    if not outputs:
        raise GraphError("the graph has no outputs to export: set \"outputs\" or "
                         "pass --output ID")
    ex = Exporter(graph, opset)
    ex.outputs = outputs
    for node_id in graph.nodes:
        ex._names.update(ex.value_name(node_id, p, graph.node(node_id).output_ports[0])
                         for p in graph.node(node_id).output_ports)
    inputs = []
    elem = onnx.TensorProto
    for node_id in graph.topological_order():
        node = graph.node(node_id)
        ex.node_id = node_id
        if node.op == "Input":
            dtype = node.resolved["dtype"]
            inputs.append(_value_info(onnx, node_id, ex.shape(),
                                      elem.INT64 if dtype == "int64" else elem.FLOAT))
            continue
        if node.op in ("Parameter", "Constant"):
            continue  # made when read (Exporter.emit_source)
        export_mapping(node.op, node_id).export(ex)
    outs = []
    for ref in outputs:
        node_id, port = parse_ref(ref)
        if node_id not in graph:
            raise GraphError(f"--output names '{ref}', which is not a node")
        node = graph.node(node_id)
        port = port or node.output_ports[0]
        if port not in node.output_ports:
            raise GraphError(f"'{ref}' names no output of this {node.op}", node=node_id)
        ex.emit_source(node_id)
        name = ex.value_name(node_id, port, node.output_ports[0])
        shape = ex.report.shapes[node_id][node.output_ports.index(port)]
        integer = node.op == "Input" and node.resolved["dtype"] == "int64" or (
            node.op == "MaxPool2D" and port == "indices")
        outs.append(_value_info(onnx, name, shape,
                                elem.INT64 if integer else elem.FLOAT))
    g = onnx.helper.make_graph(ex.nodes, _graph_name(graph), inputs, outs,
                               ex.initializers)
    model = onnx.helper.make_model(
        g, opset_imports=[onnx.helper.make_opsetid("", opset)],
        producer_name="graphlab")
    model.ir_version = min(model.ir_version, 10)  # what onnxruntime 1.18+ reads
    onnx.checker.check_model(model, full_check=True)
    if path is not None:
        _write(model, os.fspath(path))
    return model


def _graph_name(graph):
    return graph.name or "graphlab"


def _write(model, path):
    """Atomically: a temporary file beside ``path``, then a rename (graphlab.io
    sits below this package and cannot be imported from here)."""
    data = model.SerializeToString()
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path),
                                   dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError as e:
        raise GraphError(f"cannot write: {e.strerror or e}", file=path) from None


def _unused(hint, taken):
    """``hint``, or ``hint_2``, ``hint_3``… : the first not in ``taken``, which
    it joins."""
    name, k = hint, 1
    while name in taken:
        k += 1
        name = f"{hint}_{k}"
    taken.add(name)
    return name
