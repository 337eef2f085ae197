"""The op table, continued: recurrent layers and losses (see
:mod:`graphlab.onnx.table`).

ONNX recurrent ops are time-first (``layout=0``; onnxruntime's CPU kernels
refuse ``layout=1``), stack their weights per direction and order the gates
differently: LSTM i, o, f, c against graphlab's (PyTorch's) i, f, g, o; GRU
z, r, h against r, z, n, equal only with ``linear_before_reset=1``.
"""

import numpy as np

from ._common import Mapping, Refused, check_attrs, mapping

__all__ = []

# graphlab op → (ONNX op, gates, ONNX block k holds graphlab block ORDER[k])
_RECURRENT = {"RNN": ("RNN", 1, [0]), "LSTM": ("LSTM", 4, [0, 3, 1, 2]),
              "GRU": ("GRU", 3, [1, 0, 2])}
_BY_ONNX = {v[0]: k for k, v in _RECURRENT.items()}
_DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}


def _rows(order, hidden):
    return np.concatenate([np.arange(b * hidden, (b + 1) * hidden) for b in order])


@mapping
class _Recurrent(Mapping):
    graphlab = tuple(_RECURRENT)
    onnx = tuple(_BY_ONNX)

    def export(self, ex):
        op = ex.graph.node(ex.node_id).op
        op_type, gates, order = _RECURRENT[op]
        hidden = ex.shape("w_hh")[1]
        rows = _rows(order, hidden)

        def weight(port):
            value, source = ex.constant_input(port)
            if value is not None:  # reordered in place of the Parameter's own
                return ex.const(np.asarray(value)[rows][None], source)
            w = ex.add("Gather", [ex.input(port), ex.ints(rows, "gate_rows")], axis=0)
            return ex.unsqueeze(w, [0])

        def bias():
            edges = ex.graph.in_edges(ex.node_id)
            if "b_ih" not in edges and "b_hh" not in edges:
                return None
            sources = [ex.graph.in_edges(ex.node_id).get(p) for p in ("b_ih", "b_hh")]
            movable = all(e is None or (ex.graph.node(e.src).op in ("Parameter",
                                                                    "Constant")
                                        and len(ex.graph.out_edges(e.src)) == 1)
                          for e in sources)
            values = [ex.constant_input(p)[0] if movable else None
                      for p in ("b_ih", "b_hh")]
            zero = np.zeros(gates * hidden, np.float32)
            if movable:
                parts = [zero if v is None else np.asarray(v)[rows] for v in values]
                return ex.const(np.concatenate(parts)[None], f"{ex.node_id}.b")
            names = [ex.input(p) for p in ("b_ih", "b_hh")]
            parts = [ex.add("Gather", [n, ex.ints(rows, "gate_rows")], axis=0)
                     if n is not None else ex.const(zero, "zero_bias") for n in names]
            return ex.unsqueeze(ex.add("Concat", parts, axis=0), [0])

        x = ex.add("Transpose", [ex.input("x")], perm=[1, 0, 2])  # time-first
        states = [ex.unsqueeze(ex.input(p), [0]) if ex.input(p) else None
                  for p in (("h0", "c0") if op == "LSTM" else ("h0",))]
        outs = [ex.fresh(f"{ex.node_id}.Y"), ex.fresh(f"{ex.node_id}.Y_h")]
        if op == "LSTM":
            outs.append(ex.fresh(f"{ex.node_id}.Y_c"))
        attrs = {"hidden_size": hidden}
        if op == "GRU":
            attrs["linear_before_reset"] = 1
        if op == "RNN":
            attrs["activations"] = ["Relu" if ex.attrs["nonlinearity"] == "relu"
                                    else "Tanh"]
        ex.add(op_type, [x, weight("w_ih"), weight("w_hh"), bias(), None] + states,
               outs, **attrs)
        y = ex.squeeze(outs[0], [1])
        ex.add("Transpose", [y], [ex.output("y")], perm=[1, 0, 2])
        ex.squeeze(outs[1], [0], ex.output("h"))
        if op == "LSTM":
            ex.squeeze(outs[2], [0], ex.output("c"))

    def import_(self, im):
        op_type = im.node.op_type
        op = _BY_ONNX[op_type]
        _, gates, order = _RECURRENT[op]
        attrs = check_attrs(im, ("hidden_size", "activations", "direction", "layout"),
                            {"input_forget": 0, "linear_before_reset": 1 if op == "GRU"
                             else 0})
        if attrs.get("direction", "forward") != "forward":
            raise Refused(f"direction={attrs['direction']} is not supported (forward "
                          "is)")
        acts = list(attrs.get("activations", _DEFAULT_ACTIVATIONS.get(op, ["Tanh"])))
        if op == "RNN":
            if acts not in (["Tanh"], ["Relu"]):
                raise Refused(f"activations={acts} is not supported (Tanh or Relu)")
            extra = {"nonlinearity": acts[0].lower()}
        else:
            if acts != _DEFAULT_ACTIVATIONS[op]:
                raise Refused(f"activations={acts} is not supported")
            extra = {}
        if op == "GRU" and attrs.get("linear_before_reset", 0) != 1:
            raise Refused("linear_before_reset=0 is not supported: graphlab's GRU "
                          "(PyTorch's) applies the reset gate after the linear map")
        layout = attrs.get("layout", 0)
        hidden = attrs["hidden_size"]
        inverse = np.argsort(order)  # graphlab block j is ONNX block inverse[j]
        rows = _rows(inverse, hidden)
        W = im.input_const(1, "W")
        R = im.input_const(2, "R")
        if W.shape[0] != 1:
            raise Refused("only one direction is supported")
        names = im.node.input
        w_ih = im.parameter(W[0][rows], im.param_hint(1, "w_ih"),
                            im.trainable.get(names[1], False))
        w_hh = im.parameter(R[0][rows], im.param_hint(2, "w_hh"),
                            im.trainable.get(names[2], False))
        inputs = {"w_ih": w_ih, "w_hh": w_hh}
        if im.has(3):
            B = im.input_const(3, "B")[0]
            n = gates * hidden
            train = im.trainable.get(names[3], False)
            hint = im.param_hint(3, "b")
            inputs["b_ih"] = im.parameter(B[:n][rows], f"{hint}_ih", train)
            inputs["b_hh"] = im.parameter(B[n:][rows], f"{hint}_hh", train)
        if im.has(4):
            raise Refused("sequence_lens is not supported (every sequence has the "
                          "full length)")
        state_ports = ("h0", "c0") if op == "LSTM" else ("h0",)
        for k, port in enumerate(state_ports):
            index = 5 + k
            if not im.has(index):
                continue
            value = im.const(names[index])
            if value is not None and (value.is_zero() if hasattr(value, "is_zero")
                                      else not np.any(value)):
                continue  # zeros: graphlab's default initial state
            ref = im.x(index)
            shape = im.shapes[ref]  # (1, N, H), or (N, 1, H) for layout 1
            inputs[port] = im.reshape(ref, [shape[0 if layout else 1], shape[2]])
        if op == "LSTM" and im.has(7):
            p = im.const(names[7])
            if p is None or np.any(p):
                raise Refused("peephole weights (P) are not supported")
        x = im.x(0)
        if not layout:
            x = im.transpose(x, [1, 0, 2])
        node_id = im.add(op, {"x": x, **inputs}, extra)
        y = node_id
        n_, t_, _ = im.shapes[y]
        if im.used(0):  # Y: (T, 1, N, H) or (N, T, 1, H)
            y4 = im.reshape(y, [n_, t_, 1, hidden])
            im.bind(0, y4 if layout else im.transpose(y4, [1, 2, 0, 3]))
        for k, port in enumerate(("h", "c")[:len(state_ports)], 1):
            if im.used(k):  # (1, N, H) or (N, 1, H)
                ref = f"{node_id}:{port}"
                h3 = im.reshape(ref, [n_, 1, hidden])
                im.bind(k, h3 if layout else im.transpose(h3, [1, 0, 2]))


# ---- losses -----------------------------------------------------------------------

@mapping
class _CrossEntropy(Mapping):
    """CrossEntropyLoss = SoftmaxCrossEntropyLoss(reduction="mean")."""
    graphlab = ("CrossEntropyLoss",)
    onnx = ("SoftmaxCrossEntropyLoss",)

    def export(self, ex):
        logits, target = ex.input("logits"), ex.input("target")
        src = ex.graph.node(ex.graph.in_edges(ex.node_id)["target"].src)
        if not (src.op == "Input" and src.resolved["dtype"] == "int64"):
            target = ex.add("Cast", [target], to=ex.onnx.TensorProto.INT64)
        if len(ex.shape("logits")) == 1:
            logits, target = ex.unsqueeze(logits, [0]), ex.unsqueeze(target, [0])
        elif len(ex.shape("logits")) == 3:  # sequences N×T×C: ONNX wants C second
            logits = ex.add("Transpose", [logits], perm=[0, 2, 1])
        ex.add("SoftmaxCrossEntropyLoss", [logits, target], [ex.output()],
               reduction="mean")

    def import_(self, im):
        attrs = check_attrs(im, (), {"reduction": "mean"})
        del attrs
        if im.has(2):
            raise Refused("class weights are not supported")
        rank = len(im.in_shape(0))
        if rank not in (2, 3):
            raise Refused("only N×C scores, or N×C×T for sequences, are supported")
        if im.used(1):
            raise Refused("its log_prob output is used")
        logits = im.x(0)
        if rank == 3:  # N×C×T → graphlab's N×T×C, classes last
            logits = im.transpose(logits, [0, 2, 1])
        im.bind(0, im.add("CrossEntropyLoss", {"logits": logits, "target": im.x(1)}))


@mapping
class _Embedding(Mapping):
    """Embedding = Gather(w, x, axis=0): row x of the table (export only; an
    imported Gather is read by :mod:`graphlab.onnx.fold`)."""
    graphlab = ("Embedding",)

    def export(self, ex):
        x = ex.input("x")
        src = ex.graph.node(ex.graph.in_edges(ex.node_id)["x"].src)
        if not (src.op == "Input" and src.resolved["dtype"] == "int64"):
            x = ex.add("Cast", [x], to=ex.onnx.TensorProto.INT64)
        ex.add("Gather", [ex.input("w"), x], [ex.output()], axis=0)


@mapping
class _MSE(Mapping):
    graphlab = ("MSELoss",)

    def export(self, ex):
        d = ex.add("Sub", [ex.input("pred"), ex.input("target")])
        ex.reduce("ReduceMean", ex.add("Mul", [d, d]), None, False, ex.output())


def _xlogy_ratio(ex, x, y):
    """x·(log x − log y) with 0 where x = 0, as the executor computes it."""
    zero = ex.add("Equal", [x, ex.const(np.float32(0), "zero")])
    one = ex.const(np.float32(1), "one")
    lx = ex.add("Log", [ex.add("Where", [zero, one, x])])
    ly = ex.add("Log", [ex.add("Where", [zero, one, y])])
    return ex.add("Mul", [x, ex.add("Sub", [lx, ly])])


@mapping
class _Divergence(Mapping):
    graphlab = ("KLDivLoss", "JSDivLoss")

    def export(self, ex):
        op = ex.graph.node(ex.node_id).op
        p, q = ex.input("p"), ex.input("q")
        if op == "KLDivLoss":
            rows = ex.reduce("ReduceSum", _xlogy_ratio(ex, p, q), [-1], False)
        else:
            m = ex.add("Div", [ex.add("Add", [p, q]), ex.const(np.float32(2), "two")])
            t = ex.add("Add", [_xlogy_ratio(ex, p, m), _xlogy_ratio(ex, q, m)])
            rows = ex.add("Div", [ex.reduce("ReduceSum", t, [-1], False),
                                  ex.const(np.float32(2), "two")])
        ex.reduce("ReduceMean", rows, None, False, ex.output())
