"""Convolution: Conv1D, Conv2D and ConvTranspose2D, layout NCL / NCHW.

Weights follow PyTorch: ``w`` is O×C×k (1-D), O×C×kh×kw (2-D) and
C_in×C_out×kh×kw (transposed). Like PyTorch (and every deep-learning library)
"convolution" is cross-correlation: the kernel is not flipped.

Kernels are im2col plus one GEMM (see :mod:`graphlab.ops._im2col`); Conv1D
runs the 2-D kernels on a height-1 image. Padding strings follow the
textbook/TensorFlow rule of SPEC section 2 ("same" puts the odd padding on the
right/bottom); integers pad both sides as PyTorch. Rules assume resolved
attributes (``Op.resolve_attrs``).
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import AttrError, ShapeError
from ..shapes import fmt, numel, same_dim
from ._im2col import (col2im2d, ctx_buffer, first_shape, im2col2d, matmul_nt,
                      needs_grad, pad2d, scratch, taps2d, window_pads, window_shape)
from .base import Attr, Op, register

__all__ = ["Conv1D", "Conv2D", "ConvTranspose2D"]


def _kernel_dims(op, w, wdesc):
    spatial = tuple(w[2:])
    if not all(isinstance(k, int) for k in spatial):
        raise ShapeError(f"{op}: the kernel size of w must be known, got "
                         f"{wdesc} = {fmt(w)}")
    if min(spatial, default=1) < 1:
        raise ShapeError(f"{op}: w has an empty kernel ({wdesc} = {fmt(w)})")
    return spatial


def _check_bias(op, b, n, what):
    if b is not None and (len(b) != 1 or not same_dim(b[0], n)):
        raise ShapeError(f"{op}: b must be a vector of {what} = {n} biases, "
                         f"got {fmt(b)}")


def _conv_operands(op, x, w, b, x_layout, w_layout, c_in, c_out, groups=1):
    """Check the ranks and channels of a convolution's x, w and b; return the
    kernel's sizes. ``c_in``, ``c_out``: the axes of w with the input and output
    channels. With ``groups``, a convolution's w holds C/groups input channels
    per filter; a transposed one's holds C_out/groups output channels."""
    rank = x_layout.count("×") + 1
    if len(x) != rank:
        raise ShapeError(f"{op}: x must have rank {rank} ({x_layout}), got {fmt(x)}")
    if len(w) != rank:
        raise ShapeError(f"{op}: w must have rank {rank} ({w_layout}), got {fmt(w)}")
    transposed = c_in == 0
    per = w[c_in]
    if groups == 1 or transposed:
        if not same_dim(x[1], per):
            raise ShapeError(f"{op}: x has {x[1]} channels, w expects {per} "
                             f"(w is {w_layout} = {fmt(w)})")
    elif isinstance(x[1], int) and isinstance(per, int) and x[1] != per * groups:
        raise ShapeError(f"{op}: x has {x[1]} channels, but {groups} groups of {per} "
                         f"(w is {w_layout}, C/groups = {fmt(w)}) take {per * groups}")
    split = w[c_in] if transposed else w[c_out]
    if groups > 1 and isinstance(split, int) and split % groups:
        raise ShapeError(f"{op}: {split} {'input' if transposed else 'output'} "
                         f"channels do not split into {groups} groups")
    _check_bias(op, b, _out_channels(w, c_out, groups, transposed),
                w_layout.split("×")[c_out])
    return _kernel_dims(op, w, w_layout)


def _out_channels(w, c_out, groups, transposed):
    n = w[c_out]
    return n * groups if transposed and isinstance(n, int) else n


_GROUPS = Attr("int", 1, min=1, doc="channel groups: each sees C/groups inputs "
                                    "(groups = C: depthwise)")


class _Sub:
    """The ctx of one group's kernel call (its buffers, pads, needs)."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad


def _group_ctxs(ctx, groups):
    subs = getattr(ctx, "group_ctxs", None)
    if subs is None or len(subs) != groups:
        subs = ctx.group_ctxs = [_Sub(None) for _ in range(groups)]
    for sub in subs:
        sub.needs_input_grad = getattr(ctx, "needs_input_grad", None)
    return subs


def _block(a, k, n, axis=1):
    """Block ``k`` of ``n`` equal blocks of ``a`` along ``axis``, contiguous."""
    size = a.shape[axis] // n
    index = [slice(None)] * a.ndim
    index[axis] = slice(k * size, (k + 1) * size)
    return np.ascontiguousarray(a[tuple(index)])


def _cat(parts, axis):
    return None if parts[0] is None else np.concatenate(parts, axis=axis)


# ---- Conv2D kernels (Conv1D runs them with H = 1) ---------------------------------

def _conv2d_forward(ctx, x, w, b, stride, padding, dilation):
    N, C, H, W = x.shape
    O, _, kh, kw = w.shape
    (Ho, Wo), pads = window_pads((H, W), (kh, kw), stride, padding, dilation)
    K, M = C * kh * kw, N * Ho * Wo
    cols = ctx_buffer(ctx, "cols", (C, kh, kw, N, Ho, Wo), x.dtype)
    im2col2d(pad2d(x, pads), (kh, kw), stride, dilation, (Ho, Wo), out=cols)
    y = w.reshape(O, K) @ cols.reshape(K, M)
    if b is not None:
        y += b[:, None]
    ctx.pads = pads
    return np.ascontiguousarray(y.reshape(O, N, Ho, Wo).transpose(1, 0, 2, 3))


def _conv2d_vjp(ctx, g, x, w, b, stride, dilation):
    N, C, H, W = x.shape
    O, _, kh, kw = w.shape
    Ho, Wo = g.shape[2:]
    K, M = C * kh * kw, N * Ho * Wo
    need_x, need_w, need_b = needs_grad(ctx, 3)
    g2 = np.ascontiguousarray(g.transpose(1, 0, 2, 3)).reshape(O, M)
    gw = matmul_nt(g2, ctx.cols.reshape(K, M)).reshape(w.shape) if need_w else None
    gb = g2.sum(axis=1) if b is not None and need_b else None
    gx = None
    if need_x:  # a first layer reading data skips this half of the work
        gcols = scratch("conv_gcols", (K, M), np.result_type(w, g))
        np.matmul(w.reshape(O, K).T, g2, out=gcols)
        gx = col2im2d(gcols.reshape(C, kh, kw, N, Ho, Wo), x.shape, (kh, kw), stride,
                      dilation, ctx.pads)
    return gx, gw, gb


def _depthwise(x, w, groups):
    """One input channel per group, one filter each (MobileNet's depthwise)."""
    return groups == x.shape[1] and w.shape[0] == groups and w.shape[1] == 1


def _depthwise_forward(ctx, x, w, b, stride, padding, dilation):
    """kh·kw strided multiply-adds over all channels at once."""
    N, C, H, W = x.shape
    kh, kw = w.shape[2:]
    (Ho, Wo), pads = window_pads((H, W), (kh, kw), stride, padding, dilation)
    taps = taps2d(pad2d(x, pads), (kh, kw), stride, dilation, (Ho, Wo))
    out = np.zeros((N, C, Ho, Wo), np.result_type(x, w))
    for t, tap in enumerate(taps):
        out += tap * w[:, 0].reshape(C, kh * kw)[:, t][:, None, None]
    if b is not None:
        out += b[:, None, None]
    ctx.pads = pads
    return out


def _depthwise_vjp(ctx, g, x, w, b, stride, dilation):
    N, C, H, W = x.shape
    kh, kw = w.shape[2:]
    need_x, need_w, need_b = needs_grad(ctx, 3)
    (pt, pb), (pl, pr) = pads = ctx.pads
    Ho, Wo = g.shape[2:]
    gb = g.sum(axis=(0, 2, 3)) if b is not None and need_b else None
    gw = gx = None
    if need_w:
        taps = taps2d(pad2d(x, pads), (kh, kw), stride, dilation, (Ho, Wo))
        gw = np.stack([np.einsum("ncpq,ncpq->c", g, tap) for tap in taps], axis=1)
        gw = gw.reshape(C, 1, kh, kw)
    if need_x:
        gxp = np.zeros((N, C, H + pt + pb, W + pl + pr), np.result_type(g, w))
        wt = w[:, 0].reshape(C, kh * kw)
        for t, tap in enumerate(taps2d(gxp, (kh, kw), stride, dilation, (Ho, Wo))):
            tap += g * wt[:, t][:, None, None]
        gx = np.ascontiguousarray(gxp[:, :, pt:pt + H, pl:pl + W])
    return gx, gw, gb


def _conv2d_groups_forward(ctx, x, w, b, stride, padding, dilation, groups):
    """Conv2D with channel groups: one kernel call per group, or the depthwise
    kernel when each group is one channel with one filter."""
    if groups == 1:
        return _conv2d_forward(ctx, x, w, b, stride, padding, dilation)
    if _depthwise(x, w, groups):
        return _depthwise_forward(ctx, x, w, b, stride, padding, dilation)
    subs = _group_ctxs(ctx, groups)
    outs = [_conv2d_forward(subs[k], _block(x, k, groups), _block(w, k, groups, 0),
                            None if b is None else _block(b, k, groups, 0), stride,
                            padding, dilation) for k in range(groups)]
    return np.concatenate(outs, axis=1)


def _conv2d_groups_vjp(ctx, g, x, w, b, stride, dilation, groups):
    if groups == 1:
        return _conv2d_vjp(ctx, g, x, w, b, stride, dilation)
    if _depthwise(x, w, groups):
        return _depthwise_vjp(ctx, g, x, w, b, stride, dilation)
    subs = _group_ctxs(ctx, groups)
    parts = [_conv2d_vjp(subs[k], _block(g, k, groups), _block(x, k, groups),
                         _block(w, k, groups, 0),
                         None if b is None else _block(b, k, groups, 0), stride,
                         dilation) for k in range(groups)]
    gx, gw, gb = zip(*parts)
    return _cat(gx, 1), _cat(gw, 0), _cat(gb, 0)


def _grouped_formula(f, port, transposed=False):
    """A one-group reference formula applied group by group."""
    def formula(g, out, x, w, b=None, *, groups=1, **attrs):
        if groups == 1:
            return f(g, out, x, w, b, **attrs)
        parts = [f(_block(g, k, groups), None, _block(x, k, groups),
                   _block(w, k, groups, 0), None, **attrs) for k in range(groups)]
        return np.concatenate(parts, axis=1 if port == "x" else 0)
    formula.__doc__ = f.__doc__
    return formula


# ---- Conv2D reference transcriptions of the formulas --------------------------------
# Written as the formulas read (windows of a padded array against a kernel, by
# tensordot), not as the kernels compute (im2col, phases, strided adds): an
# independent check of the kernels' vjps, and fast enough for the chain-rule
# stepper to recompute a LeNet-5 after an edit.

def _conv2d_formula_x(g, out, x, w, b=None, *, stride, padding, dilation):
    """Full correlation of δ (spread by the stride) with the flipped kernel."""
    N, C, H, W = x.shape
    O, _, kh, kw = w.shape
    (Ho, Wo), ((pt, pb), (pl, pr)) = window_pads((H, W), (kh, kw), stride, padding,
                                                 dilation)
    (sh, sw), (dh, dw) = stride, dilation
    gd = np.zeros((N, O, (Ho - 1) * sh + 1, (Wo - 1) * sw + 1), g.dtype)
    gd[:, :, ::sh, ::sw] = g
    wd = np.zeros((O, C, (kh - 1) * dh + 1, (kw - 1) * dw + 1), w.dtype)
    wd[:, :, ::dh, ::dw] = w
    fh, fw = wd.shape[2:]
    gp = np.pad(gd, ((0, 0), (0, 0), (fh - 1, fh - 1), (fw - 1, fw - 1)))
    wf = wd[:, :, ::-1, ::-1]
    windows = sliding_window_view(gp, (fh, fw), axis=(2, 3))  # (N, O, i, j, fh, fw)
    full = np.tensordot(windows, wf, axes=([1, 4, 5], [0, 2, 3]))  # (N, i, j, C)
    gxp = np.zeros((N, C, H + pt + pb, W + pl + pr), np.result_type(g, w))
    gxp[:, :, :full.shape[1], :full.shape[2]] = full.transpose(0, 3, 1, 2)
    return gxp[:, :, pt:pt + H, pl:pl + W]


def _conv2d_formula_w(g, out, x, w, b=None, *, stride, padding, dilation):
    """Σ over positions of δ ⊗ the input patch read at that position."""
    N, C, H, W = x.shape
    O, _, kh, kw = w.shape
    (Ho, Wo), pads = window_pads((H, W), (kh, kw), stride, padding, dilation)
    (sh, sw), (dh, dw) = stride, dilation
    xp = np.pad(x, ((0, 0), (0, 0)) + pads)
    spans = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
    patches = sliding_window_view(xp, spans, axis=(2, 3))[
        :, :, :(Ho - 1) * sh + 1:sh, :(Wo - 1) * sw + 1:sw, ::dh, ::dw]
    gw = np.tensordot(g, patches, axes=([0, 2, 3], [0, 2, 3]))  # (O, C, kh, kw)
    return gw.astype(np.result_type(g, x), copy=False)


def _conv_formula_b(g, out, x, w, b=None, **_):
    """Σ of δ over the batch and every position."""
    return g.sum(axis=(0,) + tuple(range(2, g.ndim)))


_CONV_TEX = {
    "x": r"\frac{\partial L}{\partial X} = \delta \star_{\mathrm{full}} "
         r"\operatorname{rot}_{180}(W)",
    "w": r"\frac{\partial L}{\partial W} = \sum_{p} \delta_{p} \otimes "
         r"\operatorname{patch}_{p}(X)",
    "b": r"\frac{\partial L}{\partial b} = \sum_{n, p} \delta_{n, p}",
}


# ---- convolution ------------------------------------------------------------------

@register("Conv2D")
class Conv2D(Op):
    """out[n,o] = b[o] + Σ_c x[n,c] ⋆ w[o,c] (⋆: 2-D cross-correlation)"""

    batching, batch_ports = "map", ("x",)

    family = "convolution"
    inputs = ("x", "w", "b?")
    attrs = {
        "stride": Attr("pair", (1, 1), min=1, doc="step between windows"),
        "padding": Attr("padding", (0, 0), n=2,
                        doc='int, pair, "valid", "same", "full", or [top, left, '
                            'bottom, right]'),
        "dilation": Attr("pair", (1, 1), min=1, doc="spacing of kernel taps"),
        "groups": _GROUPS,
    }
    formulas = {
        "x": (_CONV_TEX["x"], _grouped_formula(_conv2d_formula_x, "x")),
        "w": (_CONV_TEX["w"], _grouped_formula(_conv2d_formula_w, "w")),
        "b": (_CONV_TEX["b"], _conv_formula_b),
    }

    def shape(self, x, w, b=None, *, stride, padding, dilation, groups):
        op = self.name
        kernel = _conv_operands(op, x, w, b, "N×C×H×W", "O×C×kh×kw", 1, 0, groups)
        hw = window_shape(op, x[2:], kernel, stride, padding, dilation,
                          ("row", "column"), ("H", "W"))
        return (x[0], w[0]) + hw

    def forward(self, ctx, x, w, b=None, *, stride, padding, dilation, groups):
        return _conv2d_groups_forward(ctx, x, w, b, stride, padding, dilation, groups)

    def vjp(self, ctx, g, out, x, w, b=None, *, stride, padding, dilation, groups):
        return _conv2d_groups_vjp(ctx, g, x, w, b, stride, dilation, groups)

    def macs(self, in_shapes, out_shapes, **attrs):
        # Ho·Wo positions, each an O×(C·kh·kw) matrix-vector product.
        return numel(first_shape(out_shapes)[2:]) * numel(in_shapes[1])


def _lift(f):
    """A Conv2D reference turned into a Conv1D one (height 1)."""
    def lifted(g, out, x, w, b=None, *, stride, padding, dilation, groups=1):
        pad = padding if isinstance(padding, str) else (0,) + tuple(padding)
        r = f(g[:, :, None], None, x[:, :, None], w[:, :, None],
              stride=(1,) + tuple(stride), padding=pad,
              dilation=(1,) + tuple(dilation), groups=groups)
        return r[:, :, 0]
    return lifted


@register("Conv1D")
class Conv1D(Op):
    """out[n,o] = b[o] + Σ_c x[n,c] ⋆ w[o,c] (⋆: 1-D cross-correlation)"""

    batching, batch_ports = "map", ("x",)

    family = "convolution"
    inputs = ("x", "w", "b?")
    attrs = {
        "stride": Attr("ints", (1,), n=1, min=1, doc="step between windows"),
        "padding": Attr("padding", (0,), n=1,
                        doc='int, "valid", "same", "full", or [left, right]'),
        "dilation": Attr("ints", (1,), n=1, min=1, doc="spacing of kernel taps"),
        "groups": _GROUPS,
    }
    formulas = {
        "x": (_CONV_TEX["x"], _lift(_grouped_formula(_conv2d_formula_x, "x"))),
        "w": (_CONV_TEX["w"], _lift(_grouped_formula(_conv2d_formula_w, "w"))),
        "b": (_CONV_TEX["b"], _conv_formula_b),
    }

    def shape(self, x, w, b=None, *, stride, padding, dilation, groups):
        op = self.name
        kernel = _conv_operands(op, x, w, b, "N×C×L", "O×C×k", 1, 0, groups)
        (length,) = window_shape(op, x[2:], kernel, stride, padding, dilation,
                                 ("input",), ("L",))
        return (x[0], w[0], length)

    @staticmethod
    def _attrs2d(stride, padding, dilation):
        pad = padding if isinstance(padding, str) else (0,) + tuple(padding)
        return (1,) + tuple(stride), pad, (1,) + tuple(dilation)

    def forward(self, ctx, x, w, b=None, *, stride, padding, dilation, groups):
        s, p, d = self._attrs2d(stride, padding, dilation)
        return _conv2d_groups_forward(ctx, x[:, :, None], w[:, :, None], b, s, p, d,
                                      groups)[:, :, 0]

    def vjp(self, ctx, g, out, x, w, b=None, *, stride, padding, dilation, groups):
        s, _, d = self._attrs2d(stride, padding, dilation)
        gx, gw, gb = _conv2d_groups_vjp(ctx, g[:, :, None], x[:, :, None],
                                        w[:, :, None], b, s, d, groups)
        return (None if gx is None else gx[:, :, 0],
                None if gw is None else gw[:, :, 0], gb)

    def macs(self, in_shapes, out_shapes, **attrs):
        return numel(first_shape(out_shapes)[2:]) * numel(in_shapes[1])


# ---- transposed convolution -------------------------------------------------------

def _conv_transpose2d_size(size, k, s, p, op, d):
    if isinstance(size, str):
        return size
    return (size - 1) * s - 2 * p + d * (k - 1) + op + 1


def _conv_transpose2d_formula_x(g, out, x, w, b=None, *, stride, padding, dilation,
                                **_):  # one group
    """δ correlated with W at stride s: the convolution this op transposes."""
    N, Ci, H, W = x.shape
    _, Co, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    gp = np.pad(g, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    gx = np.zeros(x.shape, np.result_type(g, w))
    for n, c, h, v in np.ndindex(N, Ci, H, W):
        patch = gp[n, :, h * sh:h * sh + (kh - 1) * dh + 1:dh,
                   v * sw:v * sw + (kw - 1) * dw + 1:dw]
        gx[n, c, h, v] = np.sum(patch * w[c])
    return gx


def _conv_transpose2d_formula_w(g, out, x, w, b=None, *, stride, padding, dilation,
                                **_):
    """Σ over input positions of x ⊗ the patch of δ it was spread onto."""
    N, Ci, H, W = x.shape
    _, Co, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    gp = np.pad(g, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    gw = np.zeros(w.shape, np.result_type(g, x))
    for n, h, v in np.ndindex(N, H, W):
        patch = gp[n, :, h * sh:h * sh + (kh - 1) * dh + 1:dh,
                   v * sw:v * sw + (kw - 1) * dw + 1:dw]
        gw += np.multiply.outer(x[n, :, h, v], patch)
    return gw


@register("ConvTranspose2D")
class ConvTranspose2D(Op):
    """out = Conv2Dᵀ(x; w): each x[n,c,i,j] adds x·w[c] at (i·s, j·s), cropped by p"""

    batching, batch_ports = "map", ("x",)

    family = "convolution"
    inputs = ("x", "w", "b?")
    attrs = {
        "stride": Attr("pair", (1, 1), min=1, doc="spread between input pixels"),
        "padding": Attr("pair", (0, 0), min=0, doc="cropped from each side"),
        "output_padding": Attr("pair", (0, 0), min=0,
                               doc="extra rows/columns at the bottom/right"),
        "dilation": Attr("pair", (1, 1), min=1, doc="spacing of kernel taps"),
        "groups": _GROUPS,
    }
    formulas = {
        "x": (r"\frac{\partial L}{\partial X} = \delta \star W",
              _grouped_formula(_conv_transpose2d_formula_x, "x")),
        "w": (r"\frac{\partial L}{\partial W} = \sum_{p} X_{p} \otimes "
              r"\operatorname{patch}_{p}(\delta)",
              _grouped_formula(_conv_transpose2d_formula_w, "w")),
        "b": (_CONV_TEX["b"], _conv_formula_b),
    }

    def check_attrs(self, attrs, *, node=None):
        for s, d, op in zip(attrs["stride"], attrs["dilation"],
                            attrs["output_padding"]):
            if op >= max(s, d):
                raise AttrError(f"{self.name}: output_padding {op} must be smaller "
                                f"than the stride ({s}) or the dilation ({d})",
                                node=node)

    def shape(self, x, w, b=None, *, stride, padding, output_padding, dilation,
              groups):
        op = self.name
        kernel = _conv_operands(op, x, w, b, "N×C×H×W", "C_in×C_out×kh×kw", 0, 1,
                                groups)
        c_out = _out_channels(w, 1, groups, True)
        hw = tuple(_conv_transpose2d_size(*a) for a in zip(
            x[2:], kernel, stride, padding, output_padding, dilation))
        for axis, size, out in zip("HW", x[2:], hw):
            if isinstance(out, int) and out < 1:
                raise ShapeError(f"{op}: the padding crops away the whole output "
                                 f"along {axis} ({size} in → {out} out)")
        return (x[0], c_out) + hw

    def forward(self, ctx, x, w, b=None, *, stride, padding, output_padding,
                dilation, groups):
        if groups == 1:
            return self._forward1(ctx, x, w, b, stride, padding, output_padding,
                                  dilation)
        subs = _group_ctxs(ctx, groups)
        return np.concatenate([self._forward1(
            subs[k], _block(x, k, groups), _block(w, k, groups, 0),
            None if b is None else _block(b, k, groups, 0), stride, padding,
            output_padding, dilation) for k in range(groups)], axis=1)

    def vjp(self, ctx, g, out, x, w, b=None, *, stride, padding, output_padding,
            dilation, groups):
        if groups == 1:
            return self._vjp1(ctx, g, x, w, b, stride, padding, dilation)
        subs = _group_ctxs(ctx, groups)
        parts = [self._vjp1(subs[k], _block(g, k, groups), _block(x, k, groups),
                            _block(w, k, groups, 0),
                            None if b is None else _block(b, k, groups, 0), stride,
                            padding, dilation) for k in range(groups)]
        gx, gw, gb = zip(*parts)
        return _cat(gx, 1), _cat(gw, 0), _cat(gb, 0)

    @staticmethod
    def _forward1(ctx, x, w, b, stride, padding, output_padding, dilation):
        N, Ci, H, W = x.shape
        _, Co, kh, kw = w.shape
        Ho, Wo = (_conv_transpose2d_size(*a) for a in zip(
            (H, W), (kh, kw), stride, padding, output_padding, dilation))
        K, M = Co * kh * kw, N * H * W
        xt = ctx_buffer(ctx, "xt", (Ci, N, H, W), x.dtype)
        np.copyto(xt, x.transpose(1, 0, 2, 3))
        cols = scratch("convT_cols", (K, M), np.result_type(x, w))
        np.matmul(w.reshape(Ci, K).T, xt.reshape(Ci, M), out=cols)
        pads = tuple((p, p) for p in padding)
        y = col2im2d(cols.reshape(Co, kh, kw, N, H, W), (N, Co, Ho, Wo), (kh, kw),
                     stride, dilation, pads)
        if b is not None:
            y += b[:, None, None]
        return y

    @staticmethod
    def _vjp1(ctx, g, x, w, b, stride, padding, dilation):
        N, Ci, H, W = x.shape
        _, Co, kh, kw = w.shape
        K, M = Co * kh * kw, N * H * W
        need_x, need_w, need_b = needs_grad(ctx, 3)
        gb = g.sum(axis=(0, 2, 3)) if b is not None and need_b else None
        if not (need_x or need_w):
            return None, None, gb
        gp = pad2d(g, tuple((p, p) for p in padding))
        gcols = scratch("convT_gcols", (Co, kh, kw, N, H, W), g.dtype)
        im2col2d(gp, (kh, kw), stride, dilation, (H, W), out=gcols)
        gcols = gcols.reshape(K, M)
        gx = gw = None
        if need_x:
            gx = (w.reshape(Ci, K) @ gcols).reshape(Ci, N, H, W).transpose(1, 0, 2, 3)
            gx = np.ascontiguousarray(gx)
        if need_w:
            gw = matmul_nt(ctx.xt.reshape(Ci, M), gcols).reshape(w.shape)
        return gx, gw, gb

    def macs(self, in_shapes, out_shapes, **attrs):
        # Each input pixel spreads C_in×(C_out·kh·kw) products.
        return numel(in_shapes[0][2:]) * numel(in_shapes[1])
