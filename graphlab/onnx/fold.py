"""Values known at import time, and the shape ops that read or move data.

A node whose inputs are all constants (initializers, ``Constant`` nodes,
shapes) is computed here instead of imported: its output becomes a constant,
a trainable weight when computed from weights (PyTorch's exporter reorders
recurrent gates with ``Slice`` and ``Concat`` of the weights). Sizes known
only symbolically (``"N"``) travel in object
arrays through ``Shape``, ``Gather``, ``Slice``, ``Concat``, ``Unsqueeze`` and
``Squeeze``; arithmetic on them is refused. ``ConstantOfShape`` of such a
shape is a :class:`Filled` value, which recurrent ops read as "no initial
state" when it is zero.

On data, ``Reshape``, ``Flatten``, ``Squeeze`` and ``Unsqueeze`` become one
graphlab Reshape (or none when the shape does not change), ``Identity`` and
an inference-mode ``Dropout`` pass their input on, and ``Gather`` of
constant indices along an axis of float data is a product with a one-hot
selection matrix (exact for finite values).
"""

import numpy as np

from ._common import (Mapping, Refused, attributes, axis_of, check_attrs, mapping,
                      reshape_target)

__all__ = ["Filled", "fold"]


class Filled:
    """``ConstantOfShape`` of a shape with symbolic sizes: ``value`` everywhere."""

    dtype = np.dtype(object)

    def __init__(self, shape, value):
        self.shape, self.value = tuple(shape), value
        self.ndim = len(self.shape)

    def is_zero(self):
        return np.all(np.asarray(self.value) == 0)


_SYMBOLIC_OK = {"Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "Cast",
                "Identity", "Reshape", "Shape"}
_NEVER = {"Constant", "ConstantOfShape", "RandomNormal", "RandomUniform",
          "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli",
          "Dropout"}


def fold(im):
    """Compute the current node if its inputs are all known; True if it was."""
    node = im.node
    names = [n for n in node.input if n]
    if node.op_type in _NEVER or not names:
        return False
    values = [im.const(n) for n in names]
    if any(v is None for v in values):
        return False
    if any(isinstance(v, Filled) for v in values):
        return False
    if any(v.dtype == object for v in values):
        if node.op_type not in _SYMBOLIC_OK:
            names = [str(d) for v in values for d in v.ravel() if isinstance(d, str)]
            raise Refused("it computes with a size known only at run time ("
                          f"{', '.join(names)})")
        out = np.asarray(_symbolic(im, node, [im.const(n) if n else None
                                              for n in node.input]), dtype=object)
        if not any(isinstance(d, str) for d in out.ravel()):
            out = out.astype(np.int64)
        im.bind_const(0, out)
        return True
    try:
        from onnx.reference import ReferenceEvaluator
        results = ReferenceEvaluator(_single_node_model(im, node)).run(
            None, {n: im.const(n) for n in names})
    except Refused:
        raise
    except Exception as e:
        raise Refused(f"cannot compute it from its constant inputs: {e}") from None
    # Computed from weights alone (PyTorch reorders LSTM gates with Slice and
    # Concat): the result is a weight too, trainable where it is a Parameter.
    trainable = any(im.trainable.get(n) for n in names)
    for k, r in enumerate(results):
        im.bind_const(k, np.asarray(r))
        if k < len(node.output) and node.output[k]:
            im.trainable[node.output[k]] = trainable and np.asarray(r).dtype.kind == "f"
    return True


def _single_node_model(im, node):
    from onnx import helper, TensorProto
    from onnx.helper import np_dtype_to_tensor_dtype
    inputs = []
    for n in dict.fromkeys(x for x in node.input if x):
        v = im.const(n)
        inputs.append(helper.make_tensor_value_info(
            n, np_dtype_to_tensor_dtype(v.dtype), list(v.shape)))
    outputs = [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None)
               for o in node.output if o]
    g = helper.make_graph([node], "fold", inputs, outputs)
    return helper.make_model(g, opset_imports=list(im.model.opset_import))


def _symbolic(im, node, ins):
    """Shape arithmetic on object arrays of sizes and names."""
    op, attrs = node.op_type, attributes(node)
    x = np.asarray(ins[0], dtype=object)
    if op in ("Identity", "Cast"):
        return x
    if op == "Shape":
        return x  # a shape of a shape tensor: never symbolic here
    if op == "Gather":
        idx = np.asarray(ins[1]).astype(np.int64)
        return np.take(x, idx, axis=attrs.get("axis", 0))
    if op == "Unsqueeze":
        axes = ins[1] if len(ins) > 1 and ins[1] is not None else attrs.get("axes")
        out = x
        rank = x.ndim + len(np.ravel(axes))
        for a in sorted(int(a) % rank for a in np.ravel(axes)):
            out = np.expand_dims(out, a)
        return out
    if op == "Squeeze":
        axes = ins[1] if len(ins) > 1 and ins[1] is not None else attrs.get("axes")
        return np.squeeze(x, axis=None if axes is None else tuple(
            int(a) for a in np.ravel(axes)))
    if op == "Concat":
        return np.concatenate([np.asarray(v, dtype=object) for v in ins
                               if v is not None], axis=attrs["axis"])
    if op == "Slice":
        starts, ends = np.ravel(ins[1]), np.ravel(ins[2])
        axes = np.ravel(ins[3]) if len(ins) > 3 and ins[3] is not None else range(
            len(starts))
        steps = np.ravel(ins[4]) if len(ins) > 4 and ins[4] is not None else [1] * len(
            starts)
        index = [slice(None)] * x.ndim
        for s, e, a, st in zip(starts, ends, axes, steps):
            index[int(a)] = slice(int(s), int(min(e, 2**62)) if e > -2**62 else None,
                                  int(st))
        return x[tuple(index)]
    if op == "Reshape":
        return x.reshape([int(d) for d in np.ravel(ins[1])])
    raise Refused("it computes with a size known only at run time")


# ---- constants and shapes ---------------------------------------------------------

@mapping
class _Constant(Mapping):
    onnx = ("Constant",)

    def import_(self, im):
        from onnx import numpy_helper
        attrs = attributes(im.node)
        a = im.node.attribute[0]
        if a.name == "value":
            value = numpy_helper.to_array(a.t)
        elif a.name in ("value_float", "value_floats"):
            value = np.asarray(attrs[a.name], np.float32)
        elif a.name in ("value_int", "value_ints"):
            value = np.asarray(attrs[a.name], np.int64)
        else:
            raise Refused(f"a constant given as {a.name} is not supported")
        if value.dtype.kind == "f":
            value = value.astype(np.float32)
        im.bind_const(0, value)


@mapping
class _ConstantOfShape(Mapping):
    onnx = ("ConstantOfShape",)

    def import_(self, im):
        from onnx import numpy_helper
        shape = im.input_const(0, "the shape")
        value = np.zeros(1, np.float32)
        for a in im.node.attribute:
            value = numpy_helper.to_array(a.t)
        shape = np.ravel(shape)
        if shape.dtype == object and any(isinstance(d, str) for d in shape):
            im.bind_const(0, Filled(shape, value.reshape(())))
            return
        im.bind_const(0, np.full([int(d) for d in shape], value.reshape(()),
                                 value.dtype))


@mapping
class _Shape(Mapping):
    onnx = ("Shape",)

    def import_(self, im):
        attrs = check_attrs(im, ("start", "end"))
        shape = list(im.in_shape(0))
        shape = shape[attrs.get("start", 0):attrs.get("end", len(shape))]
        if any(isinstance(d, str) for d in shape):
            im.bind_const(0, np.asarray(shape, dtype=object))
        else:
            im.bind_const(0, np.asarray(shape, np.int64))


@mapping
class _Identity(Mapping):
    """Identity, and Dropout in inference mode (the only mode ONNX runs)."""
    onnx = ("Identity", "Dropout")

    def import_(self, im):
        if im.node.op_type == "Dropout":
            check_attrs(im, ("seed",))
            training = im.input_const(2) if im.has(2) else None
            if training is not None and bool(np.ravel(training)[0]):
                raise Refused("training_mode=True is not supported (an inference "
                              "model has no dropout)")
            if im.has(2) and training is None:
                raise Refused("training_mode must be a constant")
            ratio = im.input_const(1)
            p = 0.5 if ratio is None else float(np.ravel(ratio)[0])
            if im.used(1):
                raise Refused("its mask output is used")
            im.bind(0, im.add("Dropout", {"x": im.x(0)}, {"p": p}))
            return
        im.bind(0, im.x(0))


@mapping
class _Cast(Mapping):
    onnx = ("Cast",)

    def import_(self, im):
        from onnx import TensorProto
        attrs = check_attrs(im, ("to", "saturate"))
        to = attrs["to"]
        ref = im.x(0)
        node = im.graph.node(ref.partition(":")[0])
        is_int = node.op == "Input" and node.resolved["dtype"] == "int64"
        if to in (TensorProto.FLOAT, TensorProto.DOUBLE) and not is_int:
            im.bind(0, ref)
        elif to in (TensorProto.INT64, TensorProto.INT32) and is_int:
            im.bind(0, ref)
        else:
            raise Refused(f"a cast to {TensorProto.DataType.Name(to)} of this input is "
                          "not supported (graphlab computes in float)")


# ---- data movement ----------------------------------------------------------------

def _reshape_shape(in_shape, spec, allowzero):
    """The output shape of ONNX Reshape (sizes, names, or "?" for one unknown)."""
    spec = list(np.ravel(spec))
    out = []
    for i, d in enumerate(spec):
        if isinstance(d, str):
            out.append(d)
        elif int(d) == 0 and not allowzero:
            out.append(in_shape[i])
        else:
            out.append(int(d))
    if -1 in out:
        known = [d for d in out if d != -1]
        ints_in = np.prod([d for d in in_shape if not isinstance(d, str)],
                          dtype=np.int64)
        ints_out = np.prod([d for d in known if not isinstance(d, str)], dtype=np.int64)
        syms_in = sorted(d for d in in_shape if isinstance(d, str))
        syms_out = sorted(d for d in known if isinstance(d, str))
        for s in list(syms_out):
            if s in syms_in:
                syms_in.remove(s)
                syms_out.remove(s)
        if not syms_in and not syms_out and ints_out and ints_in % ints_out == 0:
            out[out.index(-1)] = int(ints_in // ints_out)
        elif syms_in == [] or syms_out:
            raise Refused(f"cannot work out the size -1 of {spec} for an input of "
                          f"shape {list(in_shape)}")
        else:
            out[out.index(-1)] = "?"
    return out


def _to_target(in_shape, out):
    return reshape_target(in_shape, [-1 if d == "?" else d for d in out])


@mapping
class _ReshapeLike(Mapping):
    onnx = ("Reshape", "Flatten", "Squeeze", "Unsqueeze")

    def import_(self, im):
        op = im.node.op_type
        x = im.x(0)
        shape = list(im.in_shape(0))
        if op == "Reshape":
            attrs = check_attrs(im, ("allowzero",))
            spec = im.input_const(1, "the target shape")
            out = _reshape_shape(shape, spec, attrs.get("allowzero", 0))
        elif op == "Flatten":
            attrs = check_attrs(im, ("axis",))
            a = attrs.get("axis", 1) % (len(shape) + 1) if shape else 0
            if a == 1:
                im.bind(0, im.add("Flatten", {"x": x}, {"start_axis": 1}))
                return
            out = _flatten_shape(shape, a)
        else:
            attrs = check_attrs(im, ("axes",))
            axes = im.input_const(1) if im.opset >= 13 else attrs.get("axes")
            out = _squeeze_shape(op, shape, axes)
        if out == shape:
            im.bind(0, x)
            return
        target = _to_target(shape, out)
        im.bind(0, im.add("Reshape", {"x": x}, {"shape": target}))


def _flatten_shape(shape, a):
    def prod(ds):
        if any(isinstance(d, str) for d in ds):
            if len(ds) == 1:
                return ds[0]
            return "?"
        return int(np.prod(ds, dtype=np.int64))
    out = [prod(shape[:a]), prod(shape[a:])]
    if out.count("?") > 1:
        raise Refused("both halves of the flattened shape hold sizes known only at "
                      "run time")
    return out


def _squeeze_shape(op, shape, axes):
    if op == "Unsqueeze":
        rank = len(shape) + len(np.ravel(axes))
        out = list(shape)
        for a in sorted(int(a) % rank for a in np.ravel(axes)):
            out.insert(a, 1)
        return out
    if axes is None:
        if any(isinstance(d, str) for d in shape):
            raise Refused("Squeeze without axes of a shape with sizes known only at "
                          "run time")
        return [d for d in shape if d != 1]
    drop = {axis_of(int(a), len(shape)) for a in np.ravel(axes)}
    for a in drop:
        if shape[a] != 1:
            raise Refused(f"axis {a} has size {shape[a]}, not 1")
    return [d for i, d in enumerate(shape) if i not in drop]


@mapping
class _Gather(Mapping):
    """Gather of constant indices along one axis of float data: the axis moved
    last, then a product with one-hot columns (exact for finite values)."""
    onnx = ("Gather",)

    def import_(self, im):
        attrs = check_attrs(im, ("axis",))
        shape = im.in_shape(0)
        axis = axis_of(attrs.get("axis", 0), len(shape))
        if im.input_const(1) is None and axis == 0 and len(shape) == 2:
            # Token indices known at run time, rows of a table: an Embedding.
            im.bind(0, im.add("Embedding", {"x": im.x(1), "w": im.x(0)}))
            return
        idx = im.input_const(1, "the indices")
        size = shape[axis]
        if isinstance(size, str):
            raise Refused("gathering along an axis whose size is known only at run "
                          "time is not supported")
        if idx.ndim > 1:
            raise Refused("indices of rank 2 or more are not supported")
        idx = np.where(idx < 0, idx + size, idx).astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= size):
            raise Refused(f"an index is outside the axis of size {size}")
        x = im.x(0)
        rank = len(shape)
        perm = [a for a in range(rank) if a != axis] + [axis]
        moved = im.transpose(x, perm)
        select = np.eye(size, dtype=np.float32)[:, idx]  # (size,) or (size, K)
        sel = im.parameter(select, f"{im.new_id(x)}_select")
        y = im.add("MatMul", {"a": moved, "b": sel})
        if idx.ndim == 1:  # the K picked entries are last: move them back
            back = list(range(axis)) + [rank - 1] + list(range(axis, rank - 1))
            y = im.transpose(y, back)
        im.bind(0, y)
