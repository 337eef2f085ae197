"""The op table: every mapping between graphlab ops and ONNX ops, written once.

A :class:`Mapping` names the graphlab ops it exports (``graphlab``) and the
ONNX op types it imports (``onnx``) and holds both directions, ``export(ex)``
(an :class:`~graphlab.onnx.exporter.Exporter` positioned on one graphlab
node) and ``import_(im)`` (an :class:`~graphlab.onnx.importer.Importer`
positioned on one ONNX node). Ops whose semantics agree exactly map one to
one; others compose a few ops of the other side. ``import_`` raises
:class:`~graphlab.onnx.importer.Refused` with the reason when the ONNX node
cannot be represented exactly.

This module holds the elementwise, linear-algebra and shape ops;
:mod:`graphlab.onnx.table_nn` the layers (convolution, pooling,
normalisation, recurrent, losses); :mod:`graphlab.onnx.fold` the values
computed at import time.
"""

import numpy as np

from ._common import Mapping, Refused, axis_of, check_attrs, mapping

__all__ = []


# ---- elementwise ------------------------------------------------------------------

# graphlab op → (ONNX op type, {graphlab attr: (ONNX attr, ONNX default)})
_ELEMENTWISE = {
    "Add": ("Add", {}), "Sub": ("Sub", {}), "Mul": ("Mul", {}), "Div": ("Div", {}),
    "Maximum": ("Max", {}), "Neg": ("Neg", {}), "Exp": ("Exp", {}), "Log": ("Log", {}),
    "Sqrt": ("Sqrt", {}), "Abs": ("Abs", {}), "Sigmoid": ("Sigmoid", {}),
    "Tanh": ("Tanh", {}), "ReLU": ("Relu", {}),
    "LeakyReLU": ("LeakyRelu", {"alpha": ("alpha", 0.01)}),
    "ELU": ("Elu", {"alpha": ("alpha", 1.0)}),
    "Softmax": ("Softmax", {"axis": ("axis", -1)}),
    "LogSoftmax": ("LogSoftmax", {"axis": ("axis", -1)}),
}


def _ports(op):
    from ..ops import get_op
    return get_op(op).input_ports


class _Elementwise(Mapping):
    graphlab = tuple(_ELEMENTWISE)
    onnx = tuple(t for t, _ in _ELEMENTWISE.values())
    _by_onnx = {t: (op, a) for op, (t, a) in _ELEMENTWISE.items()}

    def export(self, ex):
        op = ex.graph.node(ex.node_id).op
        op_type, names = _ELEMENTWISE[op]
        attrs = {onnx_name: ex.attrs[name] for name, (onnx_name, _) in names.items()}
        ex.add(op_type, [ex.input(p) for p in _ports(op)], [ex.output()], **attrs)

    def import_(self, im):
        op, names = self._by_onnx[im.node.op_type]
        defaults = {o: d for o, d in names.values()}
        attrs = check_attrs(im, tuple(defaults))
        values = {name: attrs.get(o, d) for name, (o, d) in names.items()}
        if im.node.op_type in ("Softmax", "LogSoftmax") and im.opset < 13:
            raise Refused(f"opset {im.opset}'s {im.node.op_type} flattens to 2-D; "
                          "graphlab's works along one axis (opset 13 and newer)")
        inputs = [n for n in im.node.input]
        ports = _ports(op)
        if op == "Maximum" and len(inputs) != 2:
            return _variadic(im, "Maximum", inputs)
        im.bind(0, im.add(op, {p: im.ref(n) for p, n in zip(ports, inputs)}, values))


def _variadic(im, op, inputs):
    """``Max``/``Sum`` of any number of inputs as a chain of binary ops."""
    if not inputs:
        raise Refused("it has no inputs")
    ref = im.ref(inputs[0])
    for k, name in enumerate(inputs[1:]):
        ref = im.add(op, {"a": ref, "b": im.ref(name)}, suffix=str(k) if k else "")
    im.bind(0, ref)


@mapping
class _Sum(Mapping):
    onnx = ("Sum",)

    def import_(self, im):
        _variadic(im, "Add", list(im.node.input))


@mapping
class _Min(Mapping):
    """min(a, b) = −max(−a, −b): negation is exact."""
    onnx = ("Min",)

    def import_(self, im):
        if len(im.node.input) != 2:
            raise Refused("Min of other than two inputs is not supported")
        a = im.add("Neg", {"x": im.x(0)}, suffix="neg_a")
        b = im.add("Neg", {"x": im.x(1)}, suffix="neg_b")
        m = im.add("Maximum", {"a": a, "b": b}, suffix="max")
        im.bind(0, im.add("Neg", {"x": m}))


mapping(_Elementwise)


@mapping
class _Pow(Mapping):
    graphlab = ("Pow",)
    onnx = ("Pow",)

    def export(self, ex):
        e = ex.const(np.float32(ex.attrs["exponent"]), f"{ex.node_id}.exponent")
        ex.add("Pow", [ex.input("x"), e], [ex.output()])

    def import_(self, im):
        check_attrs(im, ())
        e = im.input_const(1, "the exponent")
        if e.size != 1:
            raise Refused("the exponent must be one number")
        im.bind(0, im.add("Pow", {"x": im.x(0)}, {"exponent": float(e.reshape(()))}))


@mapping
class _Clip(Mapping):
    """Clip(x, lo, hi) = −max(−max(x, lo), −hi): ReLU for lo = 0 (ReLU6)."""
    onnx = ("Clip",)

    def import_(self, im):
        attrs = check_attrs(im, ("min", "max"))
        lo, hi = attrs.get("min"), attrs.get("max")
        if im.opset >= 11:
            lo, hi = im.input_const(1, "min"), im.input_const(2, "max")
        ref = im.x(0)
        if lo is not None:
            lo = float(np.asarray(lo).reshape(()))
            if lo == 0:
                ref = im.add("ReLU", {"x": ref},
                             suffix="relu" if hi is not None else "")
            else:
                c = im.parameter(np.float32(lo), im.new_id(f"{ref}_min"))
                ref = im.add("Maximum", {"a": ref, "b": c}, suffix="min")
        if hi is not None:
            hi = float(np.asarray(hi).reshape(()))
            c = im.parameter(np.float32(-hi), im.new_id(f"{ref}_neg_max"))
            ref = im.add("Neg", {"x": ref}, suffix="neg")
            ref = im.add("Maximum", {"a": ref, "b": c}, suffix="max")
            ref = im.add("Neg", {"x": ref})
        im.bind(0, ref)


@mapping
class _Maxout(Mapping):
    """Maxout: split the axis into (C, k), ReduceMax over k."""
    graphlab = ("Maxout",)

    def export(self, ex):
        shape, k = ex.shape("x"), ex.attrs["pieces"]
        axis = ex.attrs["axis"] % len(shape)
        split = [0] * axis + [-1, k] + list(shape[axis + 1:])
        if any(isinstance(d, str) for d in shape[axis + 1:]):
            ex.refuse("Maxout over an axis followed by sizes known only at run time")
        r = ex.add("Reshape", [ex.input("x"), ex.ints(split)])
        ex.reduce("ReduceMax", r, [axis + 1], False, ex.output())


# ---- linear algebra, shape -----------------------------------------------------------

@mapping
class _MatMul(Mapping):
    graphlab = ("MatMul",)
    onnx = ("MatMul",)

    def export(self, ex):
        ex.add("MatMul", [ex.input("a"), ex.input("b")], [ex.output()])

    def import_(self, im):
        im.bind(0, im.add("MatMul", {"a": im.x(0), "b": im.x(1)}))


@mapping
class _Linear(Mapping):
    """Linear(x, w, b) = Gemm(x, w, b, transB=1) for a matrix x; MatMul with
    wᵀ (+ b) otherwise. Gemm imports as Linear (transA: a Transpose first;
    alpha, beta: a Mul)."""
    graphlab = ("Linear",)
    onnx = ("Gemm",)

    def export(self, ex):
        x, w, b = ex.input("x"), ex.input("w"), ex.input("b")
        if len(ex.shape("x")) == 2:
            ex.add("Gemm", [x, w, b], [ex.output()], transB=1)
            return
        wt = ex.add("Transpose", [w], perm=[1, 0])
        if b is None:
            ex.add("MatMul", [x, wt], [ex.output()])
            return
        y = ex.add("MatMul", [x, wt])
        ex.add("Add", [y, b], [ex.output()])

    def import_(self, im):
        attrs = check_attrs(im, ("transA", "transB", "alpha", "beta"))
        alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
        x = im.x(0)
        if attrs.get("transA", 0):
            x = im.transpose(x, [1, 0])
        name_b = im.node.input[1]
        wv = im.const(name_b)
        if attrs.get("transB", 0):
            w = im.ref(name_b, "w")
        elif wv is not None and wv.dtype != object:
            # A constant B (in×out) is stored as Linear's out×in weight.
            w = im.parameter(wv.T, im.param_hint(1, "w"),
                             im.trainable.get(name_b, False))
        else:
            w = im.transpose(im.ref(name_b), [1, 0])
        bias = None
        if im.has(2):
            cv = im.const(im.node.input[2])
            n_out = im.shapes[w][0]
            if beta == 1.0 and (cv is None and len(im.in_shape(2)) == 1 or (
                    cv is not None and cv.ndim == 1 and cv.shape[0] == n_out)):
                bias = im.x(2, "b")
            elif beta != 0:
                raise Refused("only a bias vector (C of shape [out]) with beta=1 is "
                              "supported")
        if alpha != 1.0:
            y = im.add("Linear", {"x": x, "w": w}, suffix="gemm")
            c = im.parameter(np.float32(alpha), im.new_id(f"{y}_alpha"))
            y = im.add("Mul", {"a": y, "b": c}, suffix="alpha")
            if bias is not None:
                y = im.add("Add", {"a": y, "b": bias})
            im.bind(0, y)
            return
        im.bind(0, im.add("Linear", {"x": x, "w": w, "b": bias}))


@mapping
class _Transpose(Mapping):
    graphlab = ("Transpose",)
    onnx = ("Transpose",)

    def export(self, ex):
        perm = ex.attrs["perm"]
        rank = len(ex.shape("x"))
        perm = None if perm is None else [p % rank for p in perm]
        ex.add("Transpose", [ex.input("x")], [ex.output()], perm=perm)

    def import_(self, im):
        attrs = check_attrs(im, ("perm",))
        rank = len(im.in_shape(0))
        perm = attrs.get("perm", list(reversed(range(rank))))
        im.bind(0, im.add("Transpose", {"x": im.x(0)}, {"perm": list(perm)}))


def _reshape_spec(ex, shape):
    """ONNX Reshape sizes for graphlab's ``shape`` attribute ("N": the input's
    leading size, 0 at position 0, a size read by Shape elsewhere)."""
    if "N" not in shape or list(shape).index("N") == 0 and shape.count("N") == 1:
        return ex.ints([0 if d == "N" else d for d in shape]), False
    return None, True


@mapping
class _Reshape(Mapping):
    graphlab = ("Reshape",)

    def export(self, ex):
        shape = list(ex.attrs["shape"])
        spec, dynamic = _reshape_spec(ex, shape)
        if dynamic:  # "N" elsewhere than first: read it with Shape
            n = ex.add("Shape", [ex.input("x")], start=0, end=1)
            parts = [n if d == "N" else ex.ints([d]) for d in shape]
            spec = ex.add("Concat", parts, axis=0)
        ex.add("Reshape", [ex.input("x"), spec], [ex.output()])


@mapping
class _Flatten(Mapping):
    """Flatten(start_axis=s) keeps the first s axes: ONNX Flatten for s = 1,
    Reshape [0, …, 0, −1] otherwise."""
    graphlab = ("Flatten",)

    def export(self, ex):
        rank = len(ex.shape("x"))
        s = ex.attrs["start_axis"] % rank if rank else 0
        if s == 1:
            ex.add("Flatten", [ex.input("x")], [ex.output()], axis=1)
            return
        ex.add("Reshape", [ex.input("x"), ex.ints([0] * s + [-1])], [ex.output()])


@mapping
class _Concat(Mapping):
    graphlab = ("Concat",)
    onnx = ("Concat",)

    def export(self, ex):
        ex.add("Concat", [ex.input("a"), ex.input("b")], [ex.output()],
               axis=ex.attrs["axis"])

    def import_(self, im):
        attrs = check_attrs(im, ("axis",))
        names = [n for n in im.node.input if n]
        axis = axis_of(attrs["axis"], len(im.in_shape(0)))
        ref = im.ref(names[0])
        for k, name in enumerate(names[1:]):
            ref = im.add("Concat", {"a": ref, "b": im.ref(name)}, {"axis": axis},
                         suffix=str(k) if k else "")
        im.bind(0, ref)


def _reduce_axes(im, attrs, rank):
    """The axes of a Reduce* node: an input from opset 18 (13 for ReduceSum)."""
    since = 13 if im.node.op_type == "ReduceSum" else 18
    axes = im.input_const(1, "axes") if im.opset >= since else attrs.get("axes")
    if axes is None or len(np.ravel(axes)) == 0:
        if attrs.get("noop_with_empty_axes", 0):
            return "noop"
        return None
    return sorted(axis_of(int(a), rank) for a in np.ravel(axes))


@mapping
class _Reduce(Mapping):
    """Sum and Mean; ReduceSumSquare imports as Mul + Sum, GlobalAveragePool
    as Mean over H, W with keepdims."""
    graphlab = ("Sum", "Mean")
    onnx = ("ReduceSum", "ReduceMean", "ReduceSumSquare", "GlobalAveragePool")

    def export(self, ex):
        op = ex.graph.node(ex.node_id).op
        axis, rank = ex.attrs["axis"], len(ex.shape("x"))
        if axis is not None:
            axis = [a % rank for a in np.ravel(axis)]
        ex.reduce("ReduceSum" if op == "Sum" else "ReduceMean", ex.input("x"), axis,
                  ex.attrs["keepdims"], ex.output())

    def import_(self, im):
        x, rank = im.x(0), len(im.in_shape(0))
        if im.node.op_type == "GlobalAveragePool":
            check_attrs(im, ())
            im.bind(0, im.add("Mean", {"x": x}, {"axis": list(range(2, rank)),
                                                 "keepdims": True}))
            return
        attrs = check_attrs(im, ("axes", "keepdims", "noop_with_empty_axes"))
        axes = _reduce_axes(im, attrs, rank)
        if axes == "noop":
            if im.node.op_type == "ReduceSumSquare":
                im.bind(0, im.add("Mul", {"a": x, "b": x}))
            else:
                im.bind(0, x)
            return
        keep = bool(attrs.get("keepdims", 1))
        if im.node.op_type == "ReduceSumSquare":
            x = im.add("Mul", {"a": x, "b": x}, suffix="square")
        op = "Mean" if im.node.op_type == "ReduceMean" else "Sum"
        im.bind(0, im.add(op, {"x": x}, {"axis": axes, "keepdims": keep}))
