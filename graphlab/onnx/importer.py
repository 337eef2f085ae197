"""ONNX → graph: each ONNX node becomes one graphlab op or a few, by the op table.

Values known at import time are folded rather than imported: initializers and
``Constant`` nodes, and what is computed from them and from input shapes
(``Shape``, ``Gather``, ``Concat``, ``Unsqueeze``, ``ConstantOfShape``...), so
that the shapes, scales and axes an op takes as inputs arrive as attributes.
A shape known only symbolically holds names (``"N"``) in an object array.
A float constant that reaches an op as data becomes a ``Parameter`` node
(trainable when it was an initializer), its value in ``graph.params``.

Anything graphlab cannot represent exactly is refused with a
:class:`GraphError` naming the ONNX node, its op type and the reason.
"""

import os
import re

import numpy as np

from ..errors import GraphError, GraphlabError
from ..graph import Graph
from ._common import Refused, require_onnx, reshape_target

__all__ = ["import_model", "Importer"]


class Importer:
    """What a mapping's ``import_`` sees. One instance per import."""

    def __init__(self, model, name):
        self.onnx = require_onnx()
        self.model = model
        self.graph = Graph(name)
        self.opset = next((o.version for o in model.opset_import
                           if o.domain in ("", "ai.onnx")), 0)
        self.consts = {}     # ONNX value name → ndarray (object dtype: symbolic)
        self.trainable = {}  # ONNX value name → trainable flag, for initializers
        self.refs = {}       # ONNX value name → graphlab ref
        self.shapes = {}     # graphlab ref → shape
        self.node = None     # the ONNX node being imported
        self.group = None
        self.consumers = {}

    # ---- naming ----------------------------------------------------------------------
    def new_id(self, hint):
        base = _identifier(hint)
        node_id, k = base, 1
        while node_id in self.graph:
            k += 1
            node_id = f"{base}_{k}"
        return node_id

    # ---- values ----------------------------------------------------------------------
    def const(self, name):
        """The value of ONNX value ``name`` if known at import time, else None."""
        if not name:
            return None
        return self.consts.get(name)

    def has(self, index):
        return len(self.node.input) > index and bool(self.node.input[index])

    def input_const(self, index, what=None):
        """The constant value of input ``index``; refuses if it is not constant."""
        if not self.has(index):
            return None
        value = self.const(self.node.input[index])
        if value is None and what:
            raise Refused(f"{what} (input {index}) must be a constant")
        return value

    def ref(self, name, port=None):
        """The graphlab reference of ONNX value ``name`` (a Parameter or Constant
        node is made for a float constant that reaches here, named after the
        initializer, or after its consumer and ``port`` when anonymous)."""
        if name in self.refs:
            return self.refs[name]
        value = self.consts.get(name)
        if value is None:
            raise Refused(f"its input '{name}' is not produced by any node")
        if value.dtype == object:
            raise Refused(f"its input '{name}' is a tensor of sizes, computed from a "
                          "shape; graphlab has no op that reads it")
        hint = name
        if port and self.node is not None and (name.startswith("onnx::")
                                               or not re.search(r"[A-Za-z]", name)):
            hint = f"{_node_hint(self.node)}_{port}"
        ref = self.parameter(value, hint, self.trainable.get(name, False))
        self.refs[name] = ref
        return ref

    def param_hint(self, index, port):
        name = self.node.input[index]
        if name.startswith("onnx::") or not re.search(r"[A-Za-z]", name):
            return f"{_node_hint(self.node)}_{port}"
        return name

    def parameter(self, value, hint, trainable=False):
        """A Parameter node holding ``value`` (a Constant for scalars)."""
        value = np.asarray(value)
        node_id = self.new_id(hint)
        if not trainable and value.size <= 1024:  # small: inline, not a parameter
            self.graph.add_node(node_id, "Constant",
                                {"value": np.asarray(value, np.float64).tolist()},
                                self._ui())
            self.shapes[node_id] = tuple(value.shape)
            return node_id
        attrs = {"shape": list(value.shape)}
        if not trainable:
            attrs["trainable"] = False
        self.graph.add_node(node_id, "Parameter", attrs, self._ui())
        self.graph.params[node_id] = np.asarray(value, np.float32)
        self.shapes[node_id] = tuple(value.shape)
        return node_id

    def x(self, index=0, port=None):
        """The graphlab ref of the node's input ``index`` (``port``: its role,
        naming a Parameter made for it)."""
        return self.ref(self.node.input[index], port)

    def shape_of(self, ref):
        return self.shapes[ref]

    def in_shape(self, index=0):
        name = self.node.input[index]
        if name in self.refs:
            return self.shapes[self.refs[name]]
        return tuple(np.shape(self.consts[name]))

    # ---- building --------------------------------------------------------------------
    def _ui(self):
        return {"group": self.group} if self.group else {}

    def add(self, op, inputs, attrs=None, *, suffix=""):
        """Add graphlab op ``op`` with ``{port: ref}`` inputs; returns its id.

        Its output shapes are inferred at once (an error here means the ONNX
        model's shapes do not fit the op: refused).
        """
        from ..ops import get_op
        base = _node_hint(self.node) + (f"_{suffix}" if suffix else "")
        node_id = self.new_id(base)
        attrs = {k: v for k, v in (attrs or {}).items() if v is not None}
        g = self.graph
        try:
            g.add_node(node_id, op, attrs, self._ui())
            for port, ref in inputs.items():
                if ref is not None:
                    g.connect(ref, f"{node_id}:{port}")
            n = g.node(node_id)
            op_def = get_op(op)
            in_shapes = [self.shapes[inputs[p]] if inputs.get(p) is not None
                         else None for p in n.input_ports]
            out = op_def.shape(*in_shapes, **n.resolved)
        except GraphlabError as e:
            raise Refused(f"as graphlab's {op}: {e.message}") from None
        ports = n.output_ports
        if len(ports) == 1:
            self.shapes[node_id] = tuple(out)
        else:
            for p, s in zip(ports, out):
                self.shapes[node_id if p == ports[0] else f"{node_id}:{p}"] = tuple(s)
        return node_id

    def bind(self, index, ref):
        """ONNX output ``index`` of the current node is graphlab ``ref``."""
        if len(self.node.output) > index and self.node.output[index]:
            self.refs[self.node.output[index]] = ref

    def bind_const(self, index, value):
        if len(self.node.output) > index and self.node.output[index]:
            self.consts[self.node.output[index]] = value

    def used(self, index):
        """Whether output ``index`` of the current node is read by anything."""
        return (len(self.node.output) > index and bool(self.node.output[index])
                and bool(self.consumers.get(self.node.output[index])))

    def reshape(self, ref, shape):
        """A Reshape of ``ref`` to ``shape`` (sizes and names), or ``ref`` itself."""
        in_shape = self.shapes[ref]
        if tuple(shape) == tuple(in_shape):
            return ref
        target = reshape_target(in_shape, shape)
        return self.add("Reshape", {"x": ref}, {"shape": target}, suffix="reshape")

    def transpose(self, ref, perm):
        if list(perm) == list(range(len(perm))):
            return ref
        return self.add("Transpose", {"x": ref}, {"perm": list(perm)},
                        suffix="transpose")



def _identifier(text):
    text = re.sub(r"[^A-Za-z0-9_]+", "_", str(text)).strip("_") or "node"
    return text if re.match(r"[A-Za-z_]", text) else f"n_{text}"


def _scopes(node_name):
    """Module scopes of a torch-style node name, ``/layer1/layer1.0/conv1/Conv``
    → ``["layer1", "layer1.0", "conv1"]``."""
    if not node_name.startswith("/"):
        return []
    return [p for p in node_name.split("/")[1:-1] if p]


def _node_hint(node):
    """A readable id for an ONNX node: its module path and op type."""
    scopes = _scopes(node.name)
    if not scopes:
        return node.name or node.op_type
    kept = []
    for s in scopes:  # "layer1", "layer1.0" → "layer1.0"
        if kept and s.startswith(kept[-1] + "."):
            kept[-1] = s
        else:
            kept.append(s)
    last = node.name.rsplit("/", 1)[-1]
    return "_".join(kept + [last])


def _block_group(node):
    """The ui group of an ONNX node: the first indexed module in its scope
    (``layer1.0``, ``features.3``: a block of a Sequential), else its first
    module (``fc1``), named as PyTorch names the module; None for nodes
    outside any module."""
    scopes = _scopes(node.name)
    for s in scopes:
        if re.search(r"\.\d+$", s):
            return s
    return scopes[0] if scopes else None


# ---- the model -----------------------------------------------------------------------

def _load(onnx, path_or_model):
    if isinstance(path_or_model, onnx.ModelProto):
        return path_or_model, None
    path = os.fspath(path_or_model)
    try:
        return onnx.load(path), path
    except FileNotFoundError:
        raise GraphError("no such file", file=path) from None
    except IsADirectoryError:
        raise GraphError("is a directory, not an ONNX model", file=path) from None
    except Exception as e:  # protobuf's DecodeError and friends
        if path.endswith(".json"):
            raise GraphError("this is a graph file, not an ONNX model: open it "
                             "directly (import reads .onnx files)", file=path) from None
        reason = str(e).splitlines()[0] if str(e).strip() else type(e).__name__
        raise GraphError(f"not a readable ONNX model: {reason}", file=path) from None


def import_model(path_or_model, *, name=None):
    """Read an ONNX model; see :func:`graphlab.from_onnx`."""
    from ..layout import layered_layout
    from .fold import fold
    from .mappings import import_mapping
    onnx = require_onnx()
    model, path = _load(onnx, path_or_model)
    if name is None:
        name = model.graph.name or (os.path.basename(path) if path else "")
        if name in ("main_graph", "torch_jit", "") and path:
            name = os.path.basename(path)
    imp = Importer(model, name)
    try:
        _import_graph(imp, onnx, import_mapping, fold)
    except GraphlabError as e:
        if path and e.file is None:
            e.file = path
        raise
    g = imp.graph
    for node_id, (x, y) in layered_layout(g).items():
        g.update_ui(node_id, pos=[round(x), round(y)])
    return g


def _import_graph(imp, onnx, import_mapping, fold):
    model = imp.model
    if model.functions:
        raise GraphError("the model defines local functions, which graphlab does not "
                         "import")
    for o in model.opset_import:
        if o.domain not in ("", "ai.onnx"):
            raise GraphError(f"the model uses operators of the domain '{o.domain}'; "
                             "graphlab imports the standard ONNX operators only")
    graph = model.graph
    for init in graph.initializer:
        imp.consts[init.name] = _array(onnx, init)
        imp.trainable[init.name] = imp.consts[init.name].dtype.kind == "f"
    for node in graph.node:
        for name in node.input:
            imp.consumers.setdefault(name, []).append(node)
    init_names = set(imp.consts)
    dynamic = {}
    for vi in graph.input:
        if vi.name in init_names:
            continue  # an initializer listed as an input (old exporters)
        imp.node = None
        _add_input(imp, vi, dynamic)
    for node in graph.node:
        imp.node = node
        imp.group = _block_group(node)
        try:
            if fold(imp):
                continue
            mapping = import_mapping(node.op_type, imp.opset)
            if mapping is None:
                raise Refused(f"graphlab has no op for {node.op_type}")
            mapping.import_(imp)
        except Refused as e:
            label = node.name or (node.output[0] if node.output else "?")
            raise GraphError(f"node '{label}' ({node.op_type}): {e}") from None
    imp.group = None
    outputs = []
    for vi in graph.output:
        if vi.name not in imp.refs:
            if vi.name in imp.consts:
                imp.node = None
                imp.ref(vi.name)
            else:
                raise GraphError(f"the graph output '{vi.name}' is not computed by any "
                                 "node")
        outputs.append(imp.refs[vi.name])
    imp.graph.set_outputs(outputs)
    from .simplify import simplify
    simplify(imp.graph, imp.shapes)
    _group_parameters(imp.graph)


def _add_input(imp, vi, dynamic):
    t = vi.type.tensor_type
    elem = t.elem_type
    onnx = imp.onnx
    if elem in (onnx.TensorProto.INT64, onnx.TensorProto.INT32):
        dtype = "int64"
    elif elem in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE,
                  onnx.TensorProto.FLOAT16):
        dtype = "float32"
    else:
        raise GraphError(f"graph input '{vi.name}' has element type "
                         f"{onnx.TensorProto.DataType.Name(elem)}; graphlab reads "
                         "float "
                         "and integer inputs")
    shape = []
    for i, d in enumerate(t.shape.dim):
        if d.HasField("dim_value"):
            shape.append(int(d.dim_value))
            continue
        key = d.dim_param or f"?{vi.name}{i}"
        if key not in dynamic:
            dynamic[key] = "N" if not dynamic and i == 0 else _dim_name(d.dim_param,
                                                                        len(dynamic))
        shape.append(dynamic[key])
    node_id = imp.new_id(vi.name)
    attrs = {"shape": shape}
    if dtype != "float32":
        attrs["dtype"] = dtype
    imp.graph.add_node(node_id, "Input", attrs)
    imp.refs[vi.name] = node_id
    imp.shapes[node_id] = tuple(shape)


def _dim_name(param, k):
    name = _identifier(param) if param else ""
    return name if name and name != "N" else f"D{k}"


def _array(onnx, tensor):
    arr = onnx.numpy_helper.to_array(tensor)
    if arr.dtype.kind == "f":
        return arr.astype(np.float64) if arr.dtype == np.float64 else arr.astype(
            np.float32)
    return arr


def _group_parameters(g):
    """Parameters and Constants outside any group join their consumer's group."""
    for node_id in g.nodes:
        node = g.node(node_id)
        if node.op not in ("Parameter", "Constant") or node.ui.get("group"):
            continue
        groups = {g.node(e.dst).ui.get("group") for e in g.out_edges(node_id)}
        if len(groups) == 1 and None not in groups:
            g.update_ui(node_id, group=groups.pop())
