"""The op table, continued: convolution, pooling, resampling, normalisation,
recurrent layers and losses (see :mod:`graphlab.onnx.table`).

Facts these rows rest on (measured, issue 22): ``auto_pad=SAME_UPPER`` is
graphlab's ``"same"``, ``SAME_LOWER`` only when the total padding is even;
ONNX pool strides default to 1, graphlab's to the kernel; ONNX MaxPool
indices are flat over N·C·H·W, graphlab's per plane (a MaxPool → MaxUnpool
pair agrees either way); ONNX BatchNormalization's momentum is 1 − PyTorch's;
ONNX LSTM gates are i, o, f, c (graphlab's i, f, g, o), GRU z, r, h with
``linear_before_reset=1`` (graphlab's r, z, n), and recurrent ops are
time-first.
"""

import numpy as np

from ..shapes import window
from ._common import Mapping, Refused, check_attrs, mapping

__all__ = []


# ---- padding -------------------------------------------------------------------------

def _export_pads(ex, kernel, stride, padding, dilation):
    """``pads`` (begin…, end…) for the input's sizes, or ``auto_pad``."""
    sizes = ex.shape("x")[2:]
    begin, end = [], []
    for a, size in enumerate(sizes):
        pad = padding if isinstance(padding, str) else padding[a]
        _, p, _ = window(size, kernel[a], stride[a], pad, dilation[a])
        if p is None:  # "same" of a size known only at run time
            return {"auto_pad": "SAME_UPPER"}
        begin.append(p[0])
        end.append(p[1])
    return {"pads": begin + end}


def _import_padding(im, attrs, kernel, stride, dilation):
    """Graphlab's ``padding`` for an ONNX node's ``auto_pad`` and ``pads``."""
    sizes = im.in_shape(0)[2:]
    n = len(kernel)
    auto = attrs.get("auto_pad", "NOTSET")
    if auto == "VALID":
        return [0] * n
    same = []
    for size, k, s, d in zip(sizes, kernel, stride, dilation):
        if isinstance(size, str):
            same.append(None)
            continue
        same.append(window(size, k, s, "same", d)[1])
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        if auto == "SAME_LOWER" and any(p is None or p[0] != p[1] for p in same):
            raise Refused("auto_pad=SAME_LOWER puts the odd padding first; graphlab's "
                          "\"same\" puts it last (equal only when the total is even)")
        return "same"
    pads = list(attrs.get("pads", [0] * 2 * n))
    pairs = list(zip(pads[:n], pads[n:]))
    if all(b == e for b, e in pairs):
        return [b for b, _ in pairs]
    if all(p is not None and tuple(p) == pr for p, pr in zip(same, pairs)):
        return "same"
    return pads  # before… then after…, as graphlab's asymmetric padding


def _ints(attrs, key, default):
    return list(attrs.get(key, default))


# ---- convolution ------------------------------------------------------------------

@mapping
class _Conv(Mapping):
    graphlab = ("Conv1D", "Conv2D")
    onnx = ("Conv",)

    def export(self, ex):
        a = ex.attrs
        kernel = ex.shape("w")[2:]
        pads = _export_pads(ex, kernel, a["stride"], a["padding"], a["dilation"])
        ex.add("Conv", [ex.input("x"), ex.input("w"), ex.input("b")], [ex.output()],
               kernel_shape=list(kernel), strides=list(a["stride"]),
               dilations=list(a["dilation"]), group=a.get("groups", 1), **pads)

    def import_(self, im):
        attrs = check_attrs(im, ("kernel_shape", "strides", "pads", "dilations",
                                 "group", "auto_pad"))
        w_shape = im.in_shape(1)
        rank = len(im.in_shape(0))
        if rank not in (3, 4):
            raise Refused(f"a {rank - 2}-D convolution is not supported (1-D and 2-D "
                          "are)")
        n = rank - 2
        kernel = list(w_shape[2:])
        stride = _ints(attrs, "strides", [1] * n)
        dilation = _ints(attrs, "dilations", [1] * n)
        padding = _import_padding(im, attrs, kernel, stride, dilation)
        op_attrs = {"stride": stride, "padding": padding, "dilation": dilation}
        group = attrs.get("group", 1)
        if group != 1:
            op_attrs["groups"] = group
        b = im.x(2, "b") if im.has(2) else None
        op = "Conv2D" if n == 2 else "Conv1D"
        im.bind(0, im.add(op, {"x": im.x(0), "w": im.x(1, "w"), "b": b}, op_attrs))


@mapping
class _ConvTranspose(Mapping):
    graphlab = ("ConvTranspose2D",)
    onnx = ("ConvTranspose",)

    def export(self, ex):
        a = ex.attrs
        kernel = ex.shape("w")[2:]
        ex.add("ConvTranspose", [ex.input("x"), ex.input("w"), ex.input("b")],
               [ex.output()], kernel_shape=list(kernel), strides=list(a["stride"]),
               dilations=list(a["dilation"]), pads=list(a["padding"]) * 2,
               output_padding=list(a["output_padding"]), group=a.get("groups", 1))

    def import_(self, im):
        attrs = check_attrs(im, ("kernel_shape", "strides", "pads", "dilations",
                                 "group", "output_padding", "auto_pad",
                                 "output_shape"))
        if len(im.in_shape(0)) != 4:
            raise Refused("only 2-D transposed convolution is supported")
        kernel = list(im.in_shape(1)[2:])
        stride = _ints(attrs, "strides", [1, 1])
        dilation = _ints(attrs, "dilations", [1, 1])
        out_pad = _ints(attrs, "output_padding", [0, 0])
        sizes = im.in_shape(0)[2:]
        auto = attrs.get("auto_pad", "NOTSET")
        if "output_shape" in attrs or auto in ("SAME_UPPER", "SAME_LOWER"):
            want = (list(attrs["output_shape"])[-2:] if "output_shape" in attrs
                    else [s * st if isinstance(s, int) else s
                          for s, st in zip(sizes, stride)])
            pads = []
            for size, k, s, d, op, out in zip(sizes, kernel, stride, dilation, out_pad,
                                              want):
                if isinstance(size, str):
                    raise Refused("output_shape or auto_pad with sizes known only "
                                  "at run time is not supported")
                total = s * (size - 1) + op + (k - 1) * d + 1 - out
                if total < 0 or total % 2:
                    raise Refused(f"an output of {out} needs {total} pixels of "
                                  "padding, not split evenly: graphlab's padding is "
                                  "symmetric")
                pads.append(total // 2)
        elif auto == "VALID":
            pads = [0, 0]
        else:
            p = _ints(attrs, "pads", [0, 0, 0, 0])
            if p[:2] != p[2:]:
                raise Refused(f"asymmetric pads {p} are not supported")
            pads = p[:2]
        op_attrs = {"stride": stride, "padding": pads, "output_padding": out_pad,
                    "dilation": dilation}
        if attrs.get("group", 1) != 1:
            op_attrs["groups"] = attrs["group"]
        b = im.x(2, "b") if im.has(2) else None
        im.bind(0, im.add("ConvTranspose2D", {"x": im.x(0), "w": im.x(1, "w"), "b": b},
                          op_attrs))


# ---- pooling ----------------------------------------------------------------------

def _ceil_mode_changes(im, kernel, stride, padding):
    sizes = im.in_shape(0)[2:]
    for a, (size, k, s) in enumerate(zip(sizes, kernel, stride)):
        if isinstance(size, str):
            return True
        pad = padding if isinstance(padding, str) else padding[a]
        _, p, _ = window(size, k, s, pad)
        if (size + p[0] + p[1] - k) % s:
            return True
    return False


def _flat_indices_agree(ex, pool_id):
    """Whether a MaxPool2D's indices can stay ONNX's flat ones: read only by
    MaxUnpool2D nodes whose output planes are the pool's input planes (then a
    flat index over N·C·H·W names the same element on both sides)."""
    if f"{pool_id}:indices" in ex.outputs:
        return False
    plane = tuple(ex.shape("x", node=pool_id)[1:])
    uses = ex.graph.out_edges(pool_id, "indices")
    return all(ex.graph.node(e.dst).op == "MaxUnpool2D" and e.dst_port == "indices"
               and tuple(ex.report.shape(e.dst)[1:]) == plane for e in uses)


def _indices_to_unpool_only(im):
    for consumer in im.consumers.get(im.node.output[1], []):
        if consumer.op_type != "MaxUnpool" or list(consumer.input).index(
                im.node.output[1]) != 1:
            return False
    return True


@mapping
class _Pool(Mapping):
    graphlab = ("MaxPool2D", "AvgPool2D")
    onnx = ("MaxPool", "AveragePool", "GlobalMaxPool")

    def export(self, ex):
        a = ex.attrs
        node = ex.graph.node(ex.node_id)
        kernel, stride = a["kernel"], a["stride"] or a["kernel"]
        pads = _export_pads(ex, kernel, stride, a["padding"], (1, 1))
        common = {"kernel_shape": list(kernel), "strides": list(stride), **pads}
        if node.op == "AvgPool2D":
            ex.add("AveragePool", [ex.input("x")], [ex.output()],
                   count_include_pad=int(a.get("count_include_pad", True)), **common)
            return
        uses = ex.graph.out_edges(ex.node_id, "indices")
        listed = f"{ex.node_id}:indices" in ex.outputs
        if not uses and not listed:
            ex.add("MaxPool", [ex.input("x")], [ex.output()], **common)
            return
        if not _flat_indices_agree(ex, ex.node_id):
            # Per-plane indices, as graphlab's: the flat ONNX index modulo H·W.
            flat = ex.fresh(f"{ex.node_id}.flat_indices")
            ex.add("MaxPool", [ex.input("x")], [ex.output(), flat], **common)
            h, w = ex.shape("x")[2:]
            if isinstance(h, str) or isinstance(w, str):
                ex.refuse("MaxPool2D indices of an image whose size is known only at "
                          "run time")
            ex.add("Mod", [flat, ex.const(np.int64(h * w), f"{ex.node_id}.plane")],
                   [ex.output("indices")])
            return
        # Read only by MaxUnpool2D: flat indices there too, so they agree.
        ex.add("MaxPool", [ex.input("x")], [ex.output(), ex.output("indices")],
               **common)

    def import_(self, im):
        op_type = im.node.op_type
        shape = im.in_shape(0)
        if len(shape) != 4:
            raise Refused(f"{len(shape) - 2}-D pooling is not supported (2-D is)")
        if op_type == "GlobalMaxPool":
            check_attrs(im, ())
            if any(isinstance(d, str) for d in shape[2:]):
                raise Refused("a global pool over sizes known only at run time")
            im.bind(0, im.add("MaxPool2D", {"x": im.x(0)}, {"kernel": list(shape[2:])}))
            return
        allowed = ("kernel_shape", "strides", "pads", "auto_pad", "ceil_mode",
                   "dilations", "storage_order", "count_include_pad")
        attrs = check_attrs(im, allowed)
        kernel = list(attrs["kernel_shape"])
        stride = _ints(attrs, "strides", [1, 1])  # ONNX: 1, graphlab: the kernel
        if _ints(attrs, "dilations", [1, 1]) != [1, 1]:
            raise Refused(f"dilations={list(attrs['dilations'])} is not supported")
        padding = _import_padding(im, attrs, kernel, stride, [1, 1])
        if attrs.get("ceil_mode", 0) and _ceil_mode_changes(im, kernel, stride,
                                                            padding):
            raise Refused("ceil_mode=1 is not supported (it adds a partial window "
                          "here)")
        if not isinstance(padding, str):
            sides = padding if len(padding) == 4 else padding * 2
            for p, k in zip(sides, kernel * 2):
                if 2 * p > k:
                    raise Refused(f"padding {p} is more than half the kernel {k}")
        op_attrs = {"kernel": kernel, "stride": stride, "padding": padding}
        if op_type == "AveragePool":
            include = bool(attrs.get("count_include_pad", 0))
            if not include and padding != [0, 0] and padding != "valid":
                op_attrs["count_include_pad"] = False
            im.bind(0, im.add("AvgPool2D", {"x": im.x(0)}, op_attrs))
            return
        node_id = im.add("MaxPool2D", {"x": im.x(0)}, op_attrs)
        im.bind(0, node_id)
        if im.used(1):
            if attrs.get("storage_order", 0):
                raise Refused("storage_order=1 (column-major indices) is not "
                              "supported")
            if not _indices_to_unpool_only(im):
                raise Refused("its indices (flat over N·C·H·W) are read by other ops "
                              "than MaxUnpool; graphlab's are per plane")
            im.bind(1, f"{node_id}:indices")


@mapping
class _MaxUnpool(Mapping):
    graphlab = ("MaxUnpool2D",)
    onnx = ("MaxUnpool",)

    def export(self, ex):
        a = ex.attrs
        kernel, stride = a["kernel"], a["stride"] or a["kernel"]
        out = ex.shape()
        edge = ex.graph.in_edges(ex.node_id)["indices"]
        idx = ex.input("indices")
        if not (ex.graph.node(edge.src).op == "MaxPool2D"
                and _flat_indices_agree(ex, edge.src)):
            # Per-plane indices made flat: + (n·C + c)·Ho·Wo.
            if any(isinstance(d, str) for d in out[1:]):
                ex.refuse("MaxUnpool2D of sizes known only at run time")
            c, hw = out[1], out[2] * out[3]
            n = ex.add("Shape", [idx], start=0, end=1)
            nc = ex.add("Mul", [ex.squeeze(n, [0]), ex.const(np.int64(c), "c")])
            r = ex.add("Range", [ex.const(np.int64(0), "zero"), nc,
                                 ex.const(np.int64(1), "one")])
            r = ex.add("Mul", [r, ex.const(np.int64(hw), "plane")])
            r = ex.add("Reshape", [r, ex.ints([-1, c, 1, 1])])
            idx = ex.add("Add", [idx, r])
        size = None
        if a["output_size"] is not None:  # N·C read at run time, H·W given
            nc = ex.add("Shape", [ex.input("x")], start=0, end=2)
            size = ex.add("Concat", [nc, ex.ints(list(a["output_size"]), "size")],
                          axis=0)
        ex.add("MaxUnpool", [ex.input("x"), idx, size], [ex.output()],
               kernel_shape=list(kernel), strides=list(stride),
               pads=list(a["padding"]) * 2)

    def import_(self, im):
        attrs = check_attrs(im, ("kernel_shape", "strides", "pads"))
        src = im.x(1)
        node_id, _, port = src.partition(":")
        if im.graph.node(node_id).op != "MaxPool2D" or port != "indices":
            raise Refused("its indices must come from a MaxPool (ONNX's are flat over "
                          "N·C·H·W, graphlab's per plane)")
        pool_input = im.shapes[im.graph.in_edges(node_id)["x"].src]
        kernel = list(attrs["kernel_shape"])
        pads = _ints(attrs, "pads", [0, 0, 0, 0])
        if pads[:2] != pads[2:]:
            raise Refused(f"asymmetric pads {pads} are not supported")
        op_attrs = {"kernel": kernel, "stride": _ints(attrs, "strides", [1, 1]),
                    "padding": pads[:2]}
        if im.has(2):
            out = im.input_const(2, "output_shape")
            op_attrs["output_size"] = [int(d) for d in np.ravel(out)[2:]]
            if any(isinstance(d, str) for d in op_attrs["output_size"]):
                raise Refused("an output_shape known only at run time")
        node = im.add("MaxUnpool2D", {"x": im.x(0), "indices": src}, op_attrs)
        if tuple(im.shapes[node][1:]) != tuple(pool_input[1:]):
            raise Refused("its output planes differ from its MaxPool's input planes, "
                          "so ONNX's flat indices (over N·C·H·W) and graphlab's per "
                          "plane name different elements")
        im.bind(0, node)


# ---- resampling -------------------------------------------------------------------

_NEAREST_EXACT = {("asymmetric", "floor"), ("half_pixel", "round_prefer_floor"),
                  ("half_pixel", "round_prefer_ceil"),
                  ("pytorch_half_pixel", "round_prefer_floor"),
                  ("pytorch_half_pixel", "round_prefer_ceil")}


@mapping
class _Resize(Mapping):
    """Upsample2D = Resize at integer scales: nearest (asymmetric, floor) and
    bilinear (linear, half_pixel, as PyTorch's align_corners=False)."""
    graphlab = ("Upsample2D",)
    onnx = ("Resize",)

    def export(self, ex):
        a = ex.attrs
        scales = ex.const(np.asarray([1, 1, *a["scale"]], np.float32),
                          f"{ex.node_id}.scales")
        if a["mode"] == "nearest":
            modes = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                     "nearest_mode": "floor"}
        else:
            modes = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
        ex.add("Resize", [ex.input("x"), "", scales], [ex.output()], **modes)

    def import_(self, im):
        attrs = check_attrs(im, ("mode", "coordinate_transformation_mode",
                                 "nearest_mode", "cubic_coeff_a", "antialias",
                                 "exclude_outside", "extrapolation_value"),
                            {"axes": None, "keep_aspect_ratio_policy": "stretch"})
        shape = im.in_shape(0)
        if len(shape) != 4:
            raise Refused("only 4-D (N×C×H×W) resizing is supported")
        scales = im.input_const(2) if im.has(2) else None
        if scales is not None and scales.size:
            scales = [float(s) for s in np.ravel(scales)]
        else:
            sizes = im.input_const(3, "sizes")
            if sizes is None or any(isinstance(d, str) for d in shape[2:]):
                raise Refused("the scales or sizes must be constants")
            sizes = [int(s) for s in np.ravel(sizes)]
            scales = [1.0, 1.0] + [o / i for o, i in zip(sizes[2:], shape[2:])]
            if sizes[:2] != [shape[0], shape[1]] and sizes[:2] != list(shape[:2]):
                raise Refused("resizing the batch or channel axes is not supported")
        if scales[:2] != [1.0, 1.0]:
            raise Refused(f"scales {scales} resize the batch or channel axes")
        if any(s < 1 or s != int(s) for s in scales[2:]):
            raise Refused(f"scales {scales[2:]} are not whole numbers ≥ 1: Upsample2D "
                          "equals Resize only at integer scales")
        mode = attrs.get("mode", "nearest")
        ctm = attrs.get("coordinate_transformation_mode", "half_pixel")
        if mode == "nearest":
            nearest = attrs.get("nearest_mode", "round_prefer_floor")
            if (ctm, nearest) not in _NEAREST_EXACT and scales[2:] != [1.0, 1.0]:
                raise Refused(f"nearest resizing with coordinate_transformation_mode="
                              f"{ctm} and nearest_mode={nearest} does not repeat "
                              "pixels as Upsample2D does")
            g_mode = "nearest"
        elif mode == "linear":
            if ctm not in ("half_pixel", "pytorch_half_pixel"):
                raise Refused(f"linear resizing with coordinate_transformation_mode="
                              f"{ctm} is not supported (half_pixel is)")
            g_mode = "bilinear"
        else:
            raise Refused(f"mode={mode} is not supported (nearest and linear are)")
        im.bind(0, im.add("Upsample2D", {"x": im.x(0)},
                          {"scale": [int(s) for s in scales[2:]], "mode": g_mode}))


# ---- regularisation ---------------------------------------------------------------

@mapping
class _Dropout(Mapping):
    """Dropout exports as ONNX Dropout (inference: the identity); it imports in
    :mod:`graphlab.onnx.fold` with Identity."""
    graphlab = ("Dropout",)

    def export(self, ex):
        ratio = ex.const(np.float32(ex.attrs["p"]), f"{ex.node_id}.ratio")
        ex.add("Dropout", [ex.input("x"), ratio], [ex.output()])


@mapping
class _BatchNorm(Mapping):
    graphlab = ("BatchNorm",)
    onnx = ("BatchNormalization",)

    def export(self, ex):
        a = ex.attrs
        c = ex.shape("x")[1]
        params = ex.graph.params
        mean = params.get(f"{ex.node_id}.running_mean", np.zeros(c))
        var = params.get(f"{ex.node_id}.running_var", np.ones(c))
        x = ex.input("x")
        rank = len(ex.shape("x"))
        if rank == 2:  # N×C: as N×C×1
            x = ex.unsqueeze(x, [2])
        y = ex.add("BatchNormalization", [
            x, ex.input("gamma"), ex.input("beta"),
            ex.const(np.asarray(mean, np.float32), f"{ex.node_id}.running_mean"),
            ex.const(np.asarray(var, np.float32), f"{ex.node_id}.running_var")],
            None if rank == 2 else [ex.output()], epsilon=a["eps"],
            momentum=1 - a["momentum"])
        if rank == 2:
            ex.squeeze(y, [2], ex.output())

    def import_(self, im):
        attrs = check_attrs(im, ("epsilon", "momentum"), {"training_mode": 0,
                                                          "spatial": 1})
        if any(im.used(k) for k in (1, 2)):
            raise Refused("training_mode outputs (running statistics) are not "
                          "supported")
        mean = im.input_const(3, "the running mean")
        var = im.input_const(4, "the running variance")
        node_id = im.add("BatchNorm", {"x": im.x(0), "gamma": im.x(1, "gamma"),
                                           "beta": im.x(2, "beta")},
                         {"eps": float(attrs.get("epsilon", 1e-5)),
                          "momentum": float(1 - attrs.get("momentum", 0.9))})
        im.graph.params[f"{node_id}.running_mean"] = np.asarray(mean, np.float32)
        im.graph.params[f"{node_id}.running_var"] = np.asarray(var, np.float32)
        im.bind(0, node_id)


@mapping
class _Penalty(Mapping):
    """L1Penalty = weight·ReduceL1; L2Penalty = ½·weight·ReduceSumSquare."""
    graphlab = ("L1Penalty", "L2Penalty")

    def export(self, ex):
        op, w = ex.graph.node(ex.node_id).op, ex.attrs["weight"]
        reduce_op, scale = ("ReduceL1", w) if op == "L1Penalty" else (
            "ReduceSumSquare", 0.5 * w)
        s = ex.reduce(reduce_op, ex.input("x"), None, False)
        ex.add("Mul", [ex.const(np.float32(scale), f"{ex.node_id}.weight"), s],
               [ex.output()])
