"""Pooling and resampling: MaxPool2D, AvgPool2D, MaxUnpool2D, Upsample2D (NCHW).

Semantics follow PyTorch: max-pool indices are int64 flat positions within
each input H×W plane (what MaxUnpool2D consumes), ties go to the first maximum
in row-major order, padded positions are −∞ for max and 0 (counted in the
divisor) for average pooling; bilinear upsampling uses align_corners=False.
Padding strings follow SPEC section 2, as for convolution. Pool kernels are
kh·kw strided NumPy calls, one per window offset, never loops over pixels.
Multiply-adds (``macs``) count the window sums of AvgPool2D and the four taps
of bilinear upsampling; max, unpool and nearest only compare or copy (0).
Rules assume resolved attributes (``Op.resolve_attrs``).
"""

import functools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import AttrError, ExecutionError, ShapeError
from ..shapes import fmt, numel, same_dim
from ._im2col import (first_shape, needs_grad, pad2d, taps2d, window_pads,
                      window_shape)
from .base import Attr, Op, register

__all__ = ["MaxPool2D", "AvgPool2D", "MaxUnpool2D", "Upsample2D"]

_NO_DILATION = (1, 1)


def _stride(stride, kernel):
    return kernel if stride is None else stride


def _check_rank4(op, x, port="x"):
    if len(x) != 4:
        raise ShapeError(f"{op}: {port} must have rank 4 (N×C×H×W), got {fmt(x)}")


class _Pool2D(Op):
    """Shared attributes and shape rule of the two window pools."""

    family = "pooling, resampling"
    inputs = ("x",)
    batching = "map"
    attrs = {
        "kernel": Attr("pair", min=1, doc="window size, int or pair"),
        "stride": Attr("pair", None, min=1,
                       doc="step between windows (default: kernel)"),
        "padding": Attr("padding", (0, 0), n=2,
                        doc='int, pair, "valid", "same", "full", or [top, left, '
                            'bottom, right]'),
    }

    def check_attrs(self, attrs, *, node=None):
        if attrs["stride"] is None:
            attrs["stride"] = attrs["kernel"]
        padding = attrs["padding"]
        if not isinstance(padding, str):
            for p, k in zip(padding, attrs["kernel"]):
                for side in (p if isinstance(p, tuple) else (p,)):
                    if 2 * side > k:
                        raise AttrError(f"{self.name}: padding {side} is more than "
                                        f"half the kernel {k}: a window would read "
                                        "only padding", node=node)

    def _out_hw(self, x, kernel, stride, padding):
        _check_rank4(self.name, x)
        return window_shape(self.name, x[2:], kernel, _stride(stride, kernel), padding,
                            _NO_DILATION, ("row", "column"), ("H", "W"))

    @staticmethod
    def _geometry(x, kernel, stride, padding):
        stride = _stride(stride, kernel)
        out_hw, pads = window_pads(x.shape[2:], kernel, stride, padding, _NO_DILATION)
        return stride, out_hw, pads


# ---- reference transcriptions of the formulas (slow, loop-based) ------------------

def _pool_windows(x, kernel, stride, padding):
    """``(n, c, p, q, rows, cols)`` of every window, in input coordinates."""
    N, C, H, W = x.shape
    stride = _stride(stride, kernel)
    (Ho, Wo), ((pt, _), (pl, _)) = window_pads((H, W), kernel, stride, padding,
                                               _NO_DILATION)
    for n, c, p, q in np.ndindex(N, C, Ho, Wo):
        rows = range(p * stride[0] - pt, p * stride[0] - pt + kernel[0])
        cols = range(q * stride[1] - pl, q * stride[1] - pl + kernel[1])
        yield n, c, p, q, rows, cols


def _max_pool2d_formula_x(g, out, x, *, kernel, stride, padding):
    """δ of each window routed to its first (row-major) maximum."""
    g = g[0]
    N, C, H, W = x.shape
    gx = np.zeros(x.shape, x.dtype if g is None else g.dtype)
    if g is None:
        return gx
    stride = _stride(stride, kernel)
    (Ho, Wo), ((pt, pb), (pl, pr)) = window_pads((H, W), kernel, stride, padding,
                                                 _NO_DILATION)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=-np.inf)
    windows = sliding_window_view(xp, kernel, axis=(2, 3))[
        :, :, :(Ho - 1) * stride[0] + 1:stride[0], :(Wo - 1) * stride[1] + 1:stride[1]]
    at = windows.reshape(N, C, Ho, Wo, -1).argmax(axis=-1)  # the first maximum
    n, c, p, q = np.indices((N, C, Ho, Wo))
    rows = p * stride[0] - pt + at // kernel[1]
    cols = q * stride[1] - pl + at % kernel[1]
    np.add.at(gx, (n, c, rows, cols), g)
    return gx


def _avg_pool2d_formula_x(g, out, x, *, kernel, stride, padding,
                          count_include_pad=True):
    """δ of each window shared equally by its kh·kw positions (padding included),
    or by the positions inside the image (``count_include_pad`` false)."""
    N, C, H, W = x.shape
    gx = np.zeros(x.shape, g.dtype)
    for n, c, p, q, rows, cols in _pool_windows(x, kernel, stride, padding):
        inside = [(i, j) for i in rows for j in cols if 0 <= i < H and 0 <= j < W]
        count = kernel[0] * kernel[1] if count_include_pad else len(inside)
        for i, j in inside:
            gx[n, c, i, j] += g[n, c, p, q] / count
    return gx


def _avg_pool2d_counts(sizes, kernel, stride, pads, out_hw):
    """Positions inside the image of each window, (Ho, Wo)."""
    per_axis = []
    for size, k, s, (before, _), n in zip(sizes, kernel, stride, pads, out_hw):
        start = np.arange(n) * s - before
        per_axis.append(np.minimum(start + k, size) - np.maximum(start, 0))
    return np.multiply.outer(*per_axis)


def _max_unpool2d_formula_x(g, out, x, indices, **_):
    """Each input reads δ back from the position it was scattered to."""
    gx = np.zeros(x.shape, g.dtype)
    for n, c, i, j in np.ndindex(x.shape):
        gx[n, c, i, j] = g[n, c].flat[indices[n, c, i, j]]
    return gx


def _upsample2d_formula_x(g, out, x, *, scale, mode):
    """Each output pixel's δ sent back to the input pixels it was made from."""
    N, C, H, W = x.shape
    gx = np.zeros(x.shape, g.dtype)
    for n, c, i, j in np.ndindex(g.shape):
        if mode == "nearest":
            gx[n, c, i // scale[0], j // scale[1]] += g[n, c, i, j]
            continue
        taps = []
        for o, s, size in ((i, scale[0], H), (j, scale[1], W)):
            src = max((o + 0.5) / s - 0.5, 0.0)
            lo = int(src)
            hi = lo + 1 if lo < size - 1 else lo
            taps.append(((lo, 1 - (src - lo)), (hi, src - lo)))
        for r, wr in taps[0]:
            for k, wk in taps[1]:
                gx[n, c, r, k] += wr * wk * g[n, c, i, j]
    return gx


# ---- pooling ----------------------------------------------------------------------

@register("MaxPool2D")
class MaxPool2D(_Pool2D):
    """out[n,c,p,q] = max over window (p, q) of x[n,c]; indices = its flat position"""

    outputs = ("out", "indices")
    int_outputs = ("indices",)
    formulas = {
        "x": (r"\frac{\partial L}{\partial X_{i}} = \sum_{p:\ i = "
              r"\operatorname{argmax}_{j \in \mathcal{W}_{p}} X_{j}} \delta_{p}",
              _max_pool2d_formula_x),
    }

    def shape(self, x, *, kernel, stride, padding):
        out = (x[0], x[1]) + self._out_hw(x, kernel, stride, padding)
        return out, out

    def forward(self, ctx, x, *, kernel, stride, padding):
        (sh, sw), (Ho, Wo), pads = self._geometry(x, kernel, stride, padding)
        W = x.shape[3]
        taps = taps2d(pad2d(x, pads, -np.inf), kernel, (sh, sw), _NO_DILATION,
                      (Ho, Wo))
        out = taps[0].copy()
        # arg: the window offset of the maximum, small, and all the vjp needs.
        itype = np.dtype(np.uint8 if len(taps) <= 256 else np.int32)
        arg = np.zeros(out.shape, itype)
        bigger = np.empty(out.shape, bool)
        step = np.empty(out.shape, itype)
        for t, v in enumerate(taps[1:], 1):
            np.greater(v, out, out=bigger)  # strict: a tie keeps the first maximum
            np.maximum(out, v, out=out)     # (and NaN propagates, as in PyTorch)
            # arg = t where bigger; t grows, so a max does it (copyto(where=)
            # is 3× slower).
            np.multiply(bigger, itype.type(t), out=step)
            np.maximum(arg, step, out=arg)
        kh, kw = kernel
        (pt, _), (pl, _) = pads
        offset = np.array([i * W + j for i in range(kh) for j in range(kw)], np.int64)
        corner = ((np.arange(Ho) * sh - pt)[:, None] * W + np.arange(Wo) * sw - pl)
        ctx.arg, ctx.pads = arg, pads
        return out, np.take(offset, arg) + corner

    def vjp(self, ctx, g, out, x, *, kernel, stride, padding):
        g = g[0]
        if not needs_grad(ctx, 1)[0]:
            return (None,)
        if g is None:
            return (np.zeros_like(x),)
        (sh, sw), (Ho, Wo), pads = self._geometry(x, kernel, stride, padding)
        (pt, pb), (pl, pr) = pads
        N, C, H, W = x.shape
        gxp = np.zeros((N, C, H + pt + pb, W + pl + pr), g.dtype)
        taps = taps2d(gxp, kernel, (sh, sw), _NO_DILATION, (Ho, Wo))
        hit = np.empty(g.shape, bool)
        disjoint = sh >= kernel[0] and sw >= kernel[1]
        for t, tap in enumerate(taps):
            np.equal(ctx.arg, t, out=hit)
            if disjoint:  # every input position is in one window at most
                np.multiply(g, hit, out=tap)
            else:
                tap += g * hit
        return (np.ascontiguousarray(gxp[:, :, pt:pt + H, pl:pl + W]),)


@register("AvgPool2D")
class AvgPool2D(_Pool2D):
    """out[n,c,p,q] = mean over window (p, q) of x[n,c] (padding counted in the mean)"""

    attrs = dict(_Pool2D.attrs, count_include_pad=Attr(
        "bool", True, doc="divide by the whole window (true) or by the positions "
                          "inside the image (false)"))
    formulas = {
        "x": (r"\frac{\partial L}{\partial X_{i}} = \frac{1}{k_h k_w} "
              r"\sum_{p:\ i \in \mathcal{W}_{p}} \delta_{p}", _avg_pool2d_formula_x),
    }

    def shape(self, x, *, kernel, stride, padding, count_include_pad):
        return (x[0], x[1]) + self._out_hw(x, kernel, stride, padding)

    @staticmethod
    def _scale(x, kernel, stride, pads, out_hw, count_include_pad, dtype):
        """1/(kh·kw), or 1/(positions inside the image) per window."""
        if count_include_pad or not any(p for pair in pads for p in pair):
            return 1.0 / (kernel[0] * kernel[1])
        counts = _avg_pool2d_counts(x.shape[2:], kernel, stride, pads, out_hw)
        return (1.0 / counts).astype(dtype)

    def forward(self, ctx, x, *, kernel, stride, padding, count_include_pad):
        stride, out_hw, pads = self._geometry(x, kernel, stride, padding)
        taps = taps2d(pad2d(x, pads), kernel, stride, _NO_DILATION, out_hw)
        out = taps[0].copy()
        for v in taps[1:]:
            out += v
        out *= self._scale(x, kernel, stride, pads, out_hw, count_include_pad,
                           out.dtype)
        return out

    def vjp(self, ctx, g, out, x, *, kernel, stride, padding, count_include_pad):
        if not needs_grad(ctx, 1)[0]:
            return (None,)
        stride, out_hw, pads = self._geometry(x, kernel, stride, padding)
        (pt, pb), (pl, pr) = pads
        N, C, H, W = x.shape
        gxp = np.zeros((N, C, H + pt + pb, W + pl + pr), g.dtype)
        share = g * self._scale(x, kernel, stride, pads, out_hw, count_include_pad,
                                g.dtype)
        disjoint = stride[0] >= kernel[0] and stride[1] >= kernel[1]
        for tap in taps2d(gxp, kernel, stride, _NO_DILATION, out_hw):
            if disjoint:  # each input position is in one window at most
                tap[...] = share
            else:
                tap += share
        return (np.ascontiguousarray(gxp[:, :, pt:pt + H, pl:pl + W]),)

    def macs(self, in_shapes, out_shapes, *, kernel, **attrs):
        return numel(first_shape(out_shapes)[1:]) * kernel[0] * kernel[1]


# ---- unpooling, resampling --------------------------------------------------------

def _max_unpool2d_size(size, k, s, p):
    return size if isinstance(size, str) else (size - 1) * s - 2 * p + k


@register("MaxUnpool2D")
class MaxUnpool2D(Op):
    """out[n,c].flat[indices[n,c,i,j]] = x[n,c,i,j], zero elsewhere"""

    batching = "map"

    family = "pooling, resampling"
    inputs = ("x", "indices")
    nondiff = ("indices",)
    int_inputs = ("indices",)
    attrs = {
        "kernel": Attr("pair", min=1, doc="kernel of the MaxPool2D it inverts"),
        "stride": Attr("pair", None, min=1,
                       doc="stride of that MaxPool2D (default: kernel)"),
        "padding": Attr("pair", (0, 0), min=0, doc="padding of that MaxPool2D"),
        "output_size": Attr("pair", None, min=1,
                            doc="H, W of the pooled input, when ambiguous"),
    }
    formulas = {
        "x": (r"\frac{\partial L}{\partial X_{p}} = \delta_{\mathrm{indices}_{p}}",
              _max_unpool2d_formula_x),
    }

    def check_attrs(self, attrs, *, node=None):
        if attrs["stride"] is None:
            attrs["stride"] = attrs["kernel"]

    def shape(self, x, indices, *, kernel, stride, padding, output_size):
        op = self.name
        _check_rank4(op, x)
        _check_rank4(op, indices, "indices")
        if not all(map(same_dim, x, indices)):
            raise ShapeError(f"{op}: indices ({fmt(indices)}) must have the shape of "
                             f"x ({fmt(x)})")
        stride = _stride(stride, kernel)
        hw = tuple(_max_unpool2d_size(*a) for a in zip(x[2:], kernel, stride, padding))
        for axis, size in zip("HW", hw):
            if isinstance(size, int) and size < 1:
                raise ShapeError(f"{op}: the padding leaves no output along {axis}")
        if output_size is None:
            return (x[0], x[1]) + hw
        for axis, noun, n, want, size, k, s in zip(
                "HW", ("rows", "columns"), x[2:], output_size, hw, kernel, stride):
            if isinstance(size, int) and not size - s < want < size + s:
                sizes = [str(v) for v in range(max(size - s + 1, 1), size + s)]
                sizes = ", ".join(sizes[:-1]) + " or " + sizes[-1] if len(
                    sizes) > 1 else sizes[0]
                raise ShapeError(
                    f"{op}: output_size {want} along {axis} cannot come from {n} "
                    f"{noun} pooled with kernel {k}, stride {s} (it must be {sizes})")
        return (x[0], x[1]) + tuple(output_size)

    def _out_hw(self, x, kernel, stride, padding, output_size):
        if output_size is not None:
            return tuple(output_size)
        stride = _stride(stride, kernel)
        return tuple(_max_unpool2d_size(*a)
                     for a in zip(x.shape[2:], kernel, stride, padding))

    def forward(self, ctx, x, indices, *, kernel, stride, padding, output_size):
        N, C = x.shape[:2]
        Ho, Wo = self._out_hw(x, kernel, stride, padding, output_size)
        idx = indices.reshape(N * C, -1)
        if idx.size and (idx.min() < 0 or idx.max() >= Ho * Wo):
            bad = idx.min() if idx.min() < 0 else idx.max()
            raise ExecutionError(f"{self.name}: index {bad} is outside the {Ho}×{Wo} "
                                 "output plane")
        out = np.zeros((N * C, Ho * Wo), x.dtype)
        np.put_along_axis(out, idx, x.reshape(N * C, -1), axis=1)
        return out.reshape(N, C, Ho, Wo)

    def vjp(self, ctx, g, out, x, indices, *, kernel, stride, padding, output_size):
        if not needs_grad(ctx, 2)[0]:
            return None, None
        N, C = x.shape[:2]
        g2 = g.reshape(N * C, -1)
        gx = np.take_along_axis(g2, indices.reshape(N * C, -1), axis=1)
        return gx.reshape(x.shape), None


@functools.lru_cache(maxsize=64)
def _upsample2d_matrix(size, scale, dtype):
    """Bilinear A (size·scale, size), out = A x along one axis (read-only)."""
    o = np.arange(size * scale)
    a = np.zeros((size * scale, size))
    # align_corners=False: the source of o is (o + ½)/s − ½, clamped at 0.
    src = np.maximum((o + 0.5) / scale - 0.5, 0.0)
    lo = np.minimum(src.astype(np.int64), size - 1)
    hi = np.minimum(lo + 1, size - 1)
    frac = src - lo
    np.add.at(a, (o, lo), 1 - frac)
    np.add.at(a, (o, hi), frac)
    a = a.astype(dtype)
    a.flags.writeable = False
    return a


@register("Upsample2D")
class Upsample2D(Op):
    """out = A_h x A_wᵀ: each pixel repeated (nearest) or interpolated (bilinear)"""

    batching = "map"

    family = "pooling, resampling"
    inputs = ("x",)
    attrs = {
        "scale": Attr("pair", min=1, doc="integer factor, int or pair"),
        "mode": Attr("str", "nearest", choices=("nearest", "bilinear")),
    }
    formulas = {
        "x": (r"\frac{\partial L}{\partial X} = A_h^{\top}\, \delta\, A_w",
              _upsample2d_formula_x),
    }

    def shape(self, x, *, scale, mode):
        _check_rank4(self.name, x)
        return (x[0], x[1]) + tuple(d if isinstance(d, str) else d * s
                                    for d, s in zip(x[2:], scale))

    def forward(self, ctx, x, *, scale, mode):
        N, C, H, W = x.shape
        sh, sw = scale
        if mode == "nearest":
            big = np.broadcast_to(x[:, :, :, None, :, None], (N, C, H, sh, W, sw))
            return big.reshape(N, C, H * sh, W * sw)
        ah = _upsample2d_matrix(H, sh, x.dtype.str)
        aw = _upsample2d_matrix(W, sw, x.dtype.str)
        return np.matmul(np.matmul(ah, x), aw.T)

    def vjp(self, ctx, g, out, x, *, scale, mode):
        if not needs_grad(ctx, 1)[0]:
            return (None,)
        N, C, H, W = x.shape
        sh, sw = scale
        if mode == "nearest":
            # sh·sw strided adds: 5-10× faster than reshape(...).sum(axis=(3, 5)).
            gx = g[:, :, ::sh, ::sw].copy()
            for a in range(sh):
                for b in range(sw):
                    if a or b:
                        gx += g[:, :, a::sh, b::sw]
            return (gx,)
        ah = _upsample2d_matrix(H, sh, g.dtype.str)
        aw = _upsample2d_matrix(W, sw, g.dtype.str)
        return (np.matmul(np.matmul(ah.T, g), aw),)

    def macs(self, in_shapes, out_shapes, *, mode, **attrs):
        return 4 * numel(first_shape(out_shapes)[1:]) if mode == "bilinear" else 0
