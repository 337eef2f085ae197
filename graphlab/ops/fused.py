"""Fused kernels: ops that only the lowering creates, never a graph file.

:func:`graphlab.fuse.fuse_steps` puts these in place of chains of steps. They
are :class:`Op` subclasses with the usual ``forward``/``vjp`` rules, so the
generated code and the backward planner treat them like any kernel, but they
are not registered: no graph file, palette or ``graphlab ops`` listing can name
them, and their numbers are those of the chain they replace (see
:mod:`graphlab.fuse` for why each fusion is exact).

How :class:`Conv2DPool2D` computes (measurements in ``/work/shared/PERF_NOTES.md``
and the comments below): the conv outputs that some pool window reads, as
``(O, P, M)``: the ``P = ph·pw`` positions of a pool window as contiguous
blocks of ``M = Hp·Wp·N`` values, one per window and example, batch
innermost. A max-pool is then ``P − 1`` elementwise maxima over whole blocks
with a small uint8 argmax, and bias and activation come after it, on P times
fewer values; a mean-pool adds the blocks (after bias and activation, if
there is one). Conv output rows and columns that no pool window covers are
never computed. The blocks come from one GEMM, over the input's phases where
the windows' taps overlap (:func:`_conv_pool_phases`), else over im2col
columns ordered ``(C·kh·kw, P, M)`` (:func:`_conv_pool_im2col`). With few
values (``M`` up to :data:`FEW`, a batch of one or two) the columns come from
one gather by an index array kept per shape, the input gradient goes back with
one ``bincount``, and the max-pool is two reductions: fewer NumPy calls, each of
whose fixed cost outweighs its arithmetic there.

Assumes shapes already checked by the ops of the fused chain.

:class:`Upsample2DBatchLast` is a nearest :class:`~graphlab.ops.pooling.Upsample2D`
that writes its output batch-last for a fused kernel, its only reader.
"""

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..errors import ShapeError
from ..shapes import fmt, numel
from ._im2col import ctx_buffer, matmul_nt, needs_grad, scratch, window_pads
from .activations import sigmoid
from .base import Attr, Op, get_op
from .pooling import Upsample2D

__all__ = ["Conv2DPool2D", "CONV2D_POOL2D", "Upsample2DBatchLast",
           "UPSAMPLE2D_BATCH_LAST"]


# ---- Conv2DPool2D: geometry and layouts ---------------------------------------------

def _conv_pool_spans(kernel, stride, dilation, pool):
    """Rows and columns ``(U, V)`` of input that one pool window's conv reads.

    Pool window ``(p, q)`` reads the padded input from row ``p·ph·sh`` and
    column ``q·pw·sw`` on, over ``U = (ph − 1)·sh + (kh − 1)·dh + 1`` rows and
    ``V`` columns alike.
    """
    (kh, kw), (sh, sw), (dh, dw), (ph, pw) = kernel, stride, dilation, pool
    return (ph - 1) * sh + (kh - 1) * dh + 1, (pw - 1) * sw + (kw - 1) * dw + 1


def _conv_pool_phased(kernel, stride, dilation, pool):
    """Whether to convolve in the phase domain (see :func:`_conv_pool_phases`):
    when the taps of a window's conv outputs overlap, so that the ``U·V``
    phases are fewer than the ``kh·kw·ph·pw`` columns."""
    U, V = _conv_pool_spans(kernel, stride, dilation, pool)
    return U * V < kernel[0] * kernel[1] * pool[0] * pool[1]


def _batch_last(x, pads, slot):
    """``x`` (N, C, H, W) as a padded ``(C, H', W', N)`` array.

    Batch innermost: every strided copy and add of the kernels then moves
    runs of N contiguous values. By rows of ``Wp`` values (5 for LeNet's
    second conv) NumPy's per-run overhead takes over (measured: 4–6× slower).
    When ``x`` is already such an array seen as NCHW (a fused kernel's output,
    see :func:`_batch_first_view`) and needs no padding, it is used as it is.
    """
    N, C, H, W = x.shape
    (pt, pb), (pl, pr) = pads
    xt_view = x.transpose(1, 2, 3, 0)
    if not (pt or pb or pl or pr) and xt_view.flags.c_contiguous:
        return xt_view
    xt = scratch(slot, (C, H + pt + pb, W + pl + pr, N), x.dtype)
    # The buffer is shared: its border may hold another layer's values.
    xt[:, :pt] = 0
    xt[:, pt + H:] = 0
    xt[:, pt:pt + H, :pl] = 0
    xt[:, pt:pt + H, pl + W:] = 0
    inner = xt[:, pt:pt + H, pl:pl + W]
    if xt_view.flags.c_contiguous:
        np.copyto(inner, xt_view)
        return xt
    # By 16 examples at a time: a whole batch at once reads x at a stride of
    # C·H·W values, a multiple of 4 KiB for 32×32 planes, and the cache
    # thrashes (LeNet-5's first conv, B=256: 0.77 ms → 0.35 ms).
    for s in range(0, N, 16):
        np.copyto(inner[..., s:s + 16], x[s:s + 16].transpose(1, 2, 3, 0))
    return xt


def _batch_first_view(xt):
    """A new ``(C, H, W, N)`` array seen as (N, C, H, W), without moving it.

    Fused kernels return their outputs and input gradients this way: the next
    fused kernel, which wants batch innermost, then reads them as they are
    (:func:`_batch_last`), and saves two transposing copies per layer and
    direction. Any other op takes the view as the NCHW array it is.
    """
    return xt.transpose(3, 0, 1, 2)


def _image_accumulator(x_shape, pads, dtype):
    """A zeroed ``(C, H', W', N)`` buffer for an input gradient, padded by ``pads``.

    Without padding it is new and becomes the gradient itself
    (:func:`_image_from_batch_last`); with padding, the forward's padded-input
    slot, dead by now, serves.
    """
    N, C, H, W = x_shape
    (pt, pb), (pl, pr) = pads
    if not (pt or pb or pl or pr):
        return np.zeros((C, H, W, N), dtype)
    acc = scratch("fused_image", (C, H + pt + pb, W + pl + pr, N), dtype)
    acc.fill(0)
    return acc


def _image_from_batch_last(acc, x_shape, pads):
    """The unpadded NCHW image of a ``(C, H', W', N)`` gradient buffer, as a view
    of a new array (:func:`_batch_first_view`)."""
    N, C, H, W = x_shape
    (pt, pb), (pl, pr) = pads
    if not (pt or pb or pl or pr):
        return _batch_first_view(acc)  # new: see _image_accumulator
    return _batch_first_view(acc[:, pt:pt + H, pl:pl + W].copy())


def _window_strides(xt, stride, pool):
    """Byte strides from one pool window to the next, down and across."""
    return xt.strides[1] * stride[0] * pool[0], xt.strides[2] * stride[1] * pool[1]


# ---- phase domain: overlapping taps -----------------------------------------------

def _conv_pool_phases(xt, kernel, stride, dilation, pool, hw_p, out):
    """Phases ``(C, U, V, M)`` of the padded batch-last input, into ``out``.

    ``X[c, u, v, (p, q, n)]`` is the input at row ``p·ph·sh + u``, column
    ``q·pw·sw + v``: every value that pool window ``(p, q)`` reads, U·V strided
    copies in all. The conv output at position ``(a, b)`` of each window is
    then ``W_ab @ X`` with ``W_ab`` the kernel shifted to ``(a·sh, b·sw)`` in a
    ``U×V`` frame (:func:`_conv_pool_frame`): one GEMM ``(O·P, C·U·V) @ X``
    for all P positions. This multiplies by ``U·V/(kh·kw)`` more weights, zeros
    included (1.44× for a 5×5 conv and a 2×2 pool) but copies no columns: they
    would be ``kh·kw·ph·pw/(U·V)`` times larger than the phases (2.8×), and
    the skinny GEMMs over them are memory-bound (LeNet-5, B=64: forward 1.5 ms
    → 0.5 ms for the first conv).
    """
    C, N = xt.shape[0], xt.shape[3]
    U, V = _conv_pool_spans(kernel, stride, dilation, pool)
    S, T = _window_strides(xt, stride, pool)
    sC, sH, sW, sN = xt.strides
    view = as_strided(xt, (C, U, V) + tuple(hw_p) + (N,), (sC, sH, sW, S, T, sN),
                      writeable=False)
    np.copyto(out.reshape(view.shape), view)
    return out


def _conv_pool_frame_views(frame, kernel, stride, dilation, pool):
    """``frame`` (O, ph, pw, C, U, V): the ``(O, C, kh, kw)`` view of the kernel
    shifted to each pool position ``(a, b)``, by position."""
    (kh, kw), (sh, sw), (dh, dw), (ph, pw) = kernel, stride, dilation, pool
    return [frame[:, a, b, :, a * sh:a * sh + (kh - 1) * dh + 1:dh,
                  b * sw:b * sw + (kw - 1) * dw + 1:dw]
            for a in range(ph) for b in range(pw)]


def _conv_pool_frame(ctx, w, stride, dilation, pool, U, V):
    """The kernel shifted to each pool position: ``(O·P, C·U·V)``, zero elsewhere.

    The frame and its P views are made once per geometry; the entries outside
    the views stay zero, and each step copies the weights into the views.
    """
    O, C = w.shape[:2]
    shape = (O, pool[0], pool[1], C, U, V)
    key = (shape, w.shape, w.dtype.str, stride, dilation)
    if getattr(ctx, "frame_key", None) != key:
        ctx.frame = np.zeros(shape, w.dtype)
        ctx.frame_views = _conv_pool_frame_views(ctx.frame, w.shape[2:], stride,
                                                 dilation, pool)
        at = np.arange(ctx.frame.size).reshape(shape)
        views = _conv_pool_frame_views(at, w.shape[2:], stride, dilation, pool)
        ctx.frame_at = np.stack([v.reshape(-1) for v in views])  # (P, w.size)
        ctx.frame_key = key
    for view in ctx.frame_views:
        np.copyto(view, w)
    return ctx.frame.reshape(O * pool[0] * pool[1], C * U * V)


def _conv_pool_unframe(ctx, gframe, w_shape):
    """Adjoint of :func:`_conv_pool_frame`: the kernel's gradient (new array),
    the P positions' parts summed in order."""
    return gframe.reshape(-1).take(ctx.frame_at, mode="wrap").sum(axis=0).reshape(
        w_shape)


def _conv_pool_unphase(gphases, x_shape, kernel, stride, dilation, pool, pads, hw_p):
    """Adjoint of :func:`_conv_pool_phases`: sum phases onto an NCHW image (new)."""
    N, C, H, W = x_shape
    (pt, pb), (pl, pr) = pads
    U, V = _conv_pool_spans(kernel, stride, dilation, pool)
    (Hp, Wp), S, T = hw_p, stride[0] * pool[0], stride[1] * pool[1]
    acc = _image_accumulator(x_shape, pads, gphases.dtype)
    g = gphases.reshape(C, U, V, Hp, Wp, N)
    for u in range(U):  # windows overlap by U − S rows: U·V adds, not one
        for v in range(V):
            acc[:, u:u + S * (Hp - 1) + 1:S, v:v + T * (Wp - 1) + 1:T] += g[:, u, v]
    return _image_from_batch_last(acc, x_shape, pads)


# ---- columns: disjoint taps -------------------------------------------------------

def _conv_pool_im2col(xt, kernel, stride, dilation, pool, hw_p, out):
    """Columns ``(C, kh, kw, ph, pw, M)`` of the padded batch-last input.

    Element ``[c, i, j, a, b, (p, q, n)]`` is the input tap ``(i, j)`` of
    channel ``c`` read by the conv output at ``(p·ph + a, q·pw + b)``: the
    position ``(a, b)`` of pool window ``(p, q)``. For convs whose windows'
    taps do not overlap (1×1, or a stride as large as the kernel), where
    these are no more than the phases.
    """
    (kh, kw), (sh, sw), (dh, dw), (ph, pw) = kernel, stride, dilation, pool
    C, N = xt.shape[0], xt.shape[3]
    S, T = _window_strides(xt, stride, pool)
    sC, sH, sW, sN = xt.strides
    view = as_strided(xt, (C, kh, kw, ph, pw) + tuple(hw_p) + (N,),
                      (sC, sH * dh, sW * dw, sH * sh, sW * sw, S, T, sN),
                      writeable=False)
    np.copyto(out.reshape(view.shape), view)
    return out


def _conv_pool_col2im(gcols, x_shape, kernel, stride, dilation, pool, pads, hw_p):
    """Adjoint of :func:`_conv_pool_im2col`: sum columns onto an NCHW image (new)."""
    N, C, H, W = x_shape
    (pt, pb), (pl, pr) = pads
    (kh, kw), (sh, sw), (dh, dw), (ph, pw) = kernel, stride, dilation, pool
    (Hp, Wp), S, T = hw_p, sh * ph, sw * pw
    acc = _image_accumulator(x_shape, pads, gcols.dtype)
    g = gcols.reshape(C, kh, kw, ph, pw, Hp, Wp, N)
    for i in range(kh):
        for j in range(kw):
            for a in range(ph):
                for b in range(pw):
                    r, c = a * sh + i * dh, b * sw + j * dw
                    acc[:, r:r + S * (Hp - 1) + 1:S, c:c + T * (Wp - 1) + 1:T] += \
                        g[:, i, j, a, b]
    return _image_from_batch_last(acc, x_shape, pads)


# ---- few values: one gather, one scatter ----------------------------------------

# At or below this many pooled outputs per channel (M = Hp·Wp·N), a layer reads
# its im2col columns with one ``take`` and sums its input gradient back with one
# ``bincount``, both by an index array made once per geometry, instead of
# strided copies and kh·kw·ph·pw (or U·V) strided adds: with a few thousand
# values every NumPy call's fixed 1–3 µs is what counts (LeNet-5's second conv
# at batch 1: 36 adds, 110 µs, against one bincount, 10 µs). Above it the
# strided calls move long runs of N values and win.
FEW = 512


def _gather(ctx, xt, kernel, stride, dilation, pool, hw_p):
    """Flat indices into the padded batch-last input ``xt`` of every value of the
    im2col columns: :func:`_conv_pool_im2col`'s strided copy applied once to
    the positions ``0, 1, …``."""
    key = (xt.shape, kernel, stride, dilation, pool)
    if getattr(ctx, "gather_key", None) != key:
        at = np.arange(xt.size).reshape(xt.shape)
        shape = _operand_shape(xt.shape, kernel, stride, dilation, pool, hw_p, False)
        ctx.gather = _conv_pool_im2col(at, kernel, stride, dilation, pool, hw_p,
                                       np.empty(shape, at.dtype))
        ctx.gather_key = key
    return ctx.gather


def _operand_shape(xt_shape, kernel, stride, dilation, pool, hw_p, phased):
    """``(rows, columns)`` of the GEMM's right operand: phases or im2col columns."""
    C, N = xt_shape[0], xt_shape[3]
    M = hw_p[0] * hw_p[1] * N
    if phased:
        U, V = _conv_pool_spans(kernel, stride, dilation, pool)
        return C * U * V, M
    return C * kernel[0] * kernel[1], pool[0] * pool[1] * M


def _scatter(ctx, g, x_shape, pads):
    """Adjoint of the gather: ``g`` (columns) summed onto the NCHW image (new),
    in float64 and then rounded to ``g``'s dtype."""
    N, C, H, W = x_shape
    (pt, pb), (pl, pr) = pads
    shape = (C, H + pt + pb, W + pl + pr, N)
    acc = np.bincount(ctx.gather.reshape(-1), weights=g.reshape(-1),
                      minlength=math.prod(shape))
    return _image_from_batch_last(acc.astype(g.dtype).reshape(shape), x_shape, pads)


# ---- Conv2DPool2D: activations, forward and vjp ----------------------------------

def _relu(v):
    np.maximum(v, 0, out=v)


def _tanh(v):
    np.tanh(v, out=v)


def _sigmoid(v):
    sigmoid(v, out=v)  # the Sigmoid op's numbers


def _relu_grad(out, g, dest):
    mask = scratch("fused_mask", out.shape, bool)
    np.greater(out, 0, out=mask)  # ReLU′(0) = 0
    np.multiply(g, mask, out=dest)


def _tanh_grad(out, g, dest):
    d = scratch("fused_deriv", out.shape, out.dtype)
    np.multiply(out, out, out=d)
    np.subtract(1, d, out=d)
    np.multiply(g, d, out=dest)


def _sigmoid_grad(out, g, dest):
    d = scratch("fused_deriv", out.shape, out.dtype)
    np.subtract(1, out, out=d)
    d *= out
    np.multiply(g, d, out=dest)


# Each activation in place, and ``dest = g·act′`` from its output ``out`` (as
# the activation ops' own vjps: ReLU′(0) = 0, 1 − tanh², σ(1 − σ)); ``g`` may
# broadcast, and be ``dest`` itself.
_ACTIVATIONS = {
    "relu": (_relu, _relu_grad),
    "tanh": (_tanh, _tanh_grad),
    "sigmoid": (_sigmoid, _sigmoid_grad),
}


def _geometry(ctx, x_shape, w_shape, stride, padding, dilation, pool):
    """Work out once per input shape, on ``ctx``: the conv's padding ``pads``,
    the pooled size ``hw_p`` and whether it runs over phases (``phased``)."""
    key = (x_shape, w_shape, stride, padding, dilation, pool)
    if getattr(ctx, "geometry", None) == key:
        return
    kernel = tuple(w_shape[2:])
    (Ho, Wo), ctx.pads = window_pads(x_shape[2:], kernel, stride, padding, dilation)
    ctx.hw_p = (Ho // pool[0], Wo // pool[1])
    # With few values (one gather by index), im2col columns, though up to 3×
    # the phases, need no frame: LeNet-5's second conv at batch 1 spends 20 µs
    # building its frame, 10 µs gathering columns.
    M = ctx.hw_p[0] * ctx.hw_p[1] * x_shape[0]
    ctx.phased = M > FEW and _conv_pool_phased(kernel, stride, dilation, pool)
    ctx.geometry = key


def _conv_blocks(ctx, x, w, stride, padding, dilation, pool, keep=False):
    """The conv outputs that some pool window reads, ``(O, P, M)``: P contiguous
    blocks, one per position in the pool window, of ``M = Hp·Wp·N`` values; in
    scratch, or with ``keep`` in a buffer of ``ctx`` (``ctx.acts``). Keeps on
    ``ctx`` what the vjp's GEMMs need."""
    N, C, H, W = x.shape
    O, _, kh, kw = w.shape
    kernel = (kh, kw)
    _geometry(ctx, x.shape, w.shape, stride, padding, dilation, pool)
    pads, hw_p = ctx.pads, ctx.hw_p
    P, M = pool[0] * pool[1], hw_p[0] * hw_p[1] * N
    xt = _batch_last(x, pads, "fused_image")
    dtype = np.result_type(x, w)
    y = ctx_buffer(ctx, "acts", (O, P, M), dtype) if keep else \
        scratch("fused_blocks", (O, P, M), dtype)
    name = "phases" if ctx.phased else "cols"
    operand = ctx_buffer(ctx, name, _operand_shape(xt.shape, kernel, stride, dilation,
                                                   pool, hw_p, ctx.phased), x.dtype)
    if M <= FEW:
        # mode="wrap": the indices are in range by construction, and NumPy's
        # default ("raise") checks them all first (22 µs → 11 µs for 19,600).
        np.take(xt.reshape(-1), _gather(ctx, xt, kernel, stride, dilation, pool, hw_p),
                out=operand, mode="wrap")
    else:
        copy = _conv_pool_phases if ctx.phased else _conv_pool_im2col
        copy(xt, kernel, stride, dilation, pool, hw_p, operand)
    if ctx.phased:
        U, V = _conv_pool_spans(kernel, stride, dilation, pool)
        frame = _conv_pool_frame(ctx, w, stride, dilation, pool, U, V)
        np.matmul(frame, operand, out=y.reshape(O * P, M))
    else:
        np.matmul(w.reshape(O, C * kh * kw), operand, out=y.reshape(O, P * M))
    return y


def _max_blocks(ctx, y):
    """Max over the P blocks of ``y`` (returned: in place, into ``y[:, 0]``, or
    with few values a new array), and ``ctx.arg``: the block of each first
    maximum."""
    O, P, M = y.shape
    if M <= FEW:  # two reductions over the blocks (ties: the first, as below)
        ctx.arg = y.argmax(axis=1)
        return y.max(axis=1)
    m = y[:, 0]
    itype = np.dtype(np.uint8 if P <= 256 else np.int32)
    arg = ctx_buffer(ctx, "arg", (O, M), itype)
    arg.fill(0)
    bigger = ctx_buffer(ctx, "bigger", (O, M), bool)
    step = ctx_buffer(ctx, "step", (O, M), itype)
    for t in range(1, P):
        np.greater(y[:, t], m, out=bigger)  # strict: a tie keeps the first block
        np.maximum(m, y[:, t], out=m)       # (and NaN propagates, as in MaxPool2D)
        # t grows, so arg = max(arg, t·bigger) sets t where bigger
        # (copyto(where=) is 3× slower).
        np.multiply(bigger, itype.type(t), out=step)
        np.maximum(arg, step, out=arg)
    return m


def _mean_blocks(y, out):
    """``out`` = the mean of the P blocks of ``y``, summed in the window's
    row-major order and then scaled, as AvgPool2D does."""
    np.copyto(out, y[:, 0])
    for t in range(1, y.shape[1]):
        out += y[:, t]
    out *= 1.0 / y.shape[1]
    return out


def _conv_pool_forward(ctx, x, w, b, stride, padding, dilation, pool, mode, act):
    # A mean of activations keeps them for the vjp: the GEMM writes there.
    keep = mode == "avg" and act is not None
    y = _conv_blocks(ctx, x, w, stride, padding, dilation, pool, keep)
    O, P, M = y.shape
    out = np.empty((O, M), y.dtype)
    bias = None if b is None else b.reshape(O, 1)
    if mode == "max":
        # Max over the blocks before bias and activation: max commutes with
        # adding a per-channel constant and with a monotone activation, so
        # this is exact and touches P times fewer elements.
        m = _max_blocks(ctx, y)
        if bias is not None:
            np.add(m, bias, out=out)
        else:
            np.copyto(out, m)
        if act:
            _ACTIVATIONS[act][0](out)
    elif act:  # a mean of activations: every block gets bias and activation
        if bias is not None:
            y += bias[:, :, None]
        _ACTIVATIONS[act][0](y)
        _mean_blocks(y, out)
    else:  # the bias commutes with the mean
        _mean_blocks(y, out)
        if bias is not None:
            out += bias
    N = x.shape[0]
    return _batch_first_view(out.reshape((O,) + ctx.hw_p + (N,)))


def _conv_pool_vjp(ctx, g, out, x, w, b, stride, dilation, pool, mode, act):
    N, C, H, W = x.shape
    O, _, kh, kw = w.shape
    kernel = (kh, kw)
    Hp, Wp = g.shape[2:]
    P, M = pool[0] * pool[1], Hp * Wp * N
    need_x, need_w, need_b = needs_grad(ctx, 3)
    dtype = np.result_type(g, w)
    gt = ctx_buffer(ctx, "g", (O, Hp, Wp, N), dtype)
    np.copyto(gt, g.transpose(1, 2, 3, 0))
    gt = gt.reshape(O, M)
    if mode == "max" and act:  # the activation's derivative at the pooled value
        _ACTIVATIONS[act][1](out.transpose(1, 2, 3, 0).reshape(O, M), gt, gt)
    gy = scratch("fused_blocks", (O, P, M), dtype)
    want_b = b is not None and need_b
    if mode == "avg" and act:  # every block: 1/P of its window's gradient, × act′
        gt *= 1.0 / P
        _ACTIVATIONS[act][1](ctx.acts, gt[:, None, :], gy)
        gb = gy.sum(axis=(1, 2)) if want_b else None
    else:  # the bias comes after the pool: its gradient is the output's
        gb = gt.sum(axis=1) if want_b else None
    if not (need_w or need_x):
        return None, None, gb
    if mode == "max" and M <= FEW:  # to each window's maximum's block
        np.multiply(gt[:, None, :], ctx.arg[:, None, :] == np.arange(P)[:, None],
                    out=gy)
    elif mode == "max":  # to each window's maximum's block; the others get 0
        hit = ctx_buffer(ctx, "hit", (O, M), bool)
        for t in range(P):
            np.equal(ctx.arg, t, out=hit)
            np.multiply(gt, hit, out=gy[:, t])
    elif not act:
        np.multiply(gt[:, None, :], 1.0 / P, out=gy)
    gw = gx = None
    if ctx.phased:
        U, V = _conv_pool_spans(kernel, stride, dilation, pool)
        gy = gy.reshape(O * P, M)
        if need_w:
            # Blocks of 1,024 positions, not 4,096: for LeNet-5's first conv
            # (24 × 36 outputs) 0.47 ms → 0.30 ms at B=64.
            gw = _conv_pool_unframe(ctx, matmul_nt(gy, ctx.phases, chunk=1024),
                                    w.shape)
        if need_x:  # a first layer reading data skips this half of the work
            gphases = scratch("fused_gphases", (C * U * V, M), dtype)
            np.matmul(ctx.frame.reshape(O * P, -1).T, gy, out=gphases)
            gx = _conv_pool_unphase(gphases, x.shape, kernel, stride, dilation, pool,
                                    ctx.pads, (Hp, Wp))
        return gx, gw, gb
    K = C * kh * kw
    gy = gy.reshape(O, P * M)
    if need_w:
        gw = matmul_nt(gy, ctx.cols).reshape(w.shape)
    if need_x:
        gcols = scratch("fused_gcols", (K, P * M), dtype)
        np.matmul(w.reshape(O, K).T, gy, out=gcols)
        gx = _scatter(ctx, gcols, x.shape, ctx.pads) if M <= FEW else \
            _conv_pool_col2im(gcols, x.shape, kernel, stride, dilation, pool,
                              ctx.pads, (Hp, Wp))
    return gx, gw, gb


# ---- the op ------------------------------------------------------------------------

class Conv2DPool2D(Op):
    """out = Pool2D(act?(Conv2D(x, w, b))), pool stride = kernel, no pool padding"""

    name = "Conv2DPool2D"
    family = "convolution"
    inputs = ("x", "w", "b?")
    outputs = ("out",)
    attrs = {
        "stride": Attr("pair", (1, 1), min=1, doc="the conv's stride"),
        "padding": Attr("padding", (0, 0), n=2, doc="the conv's padding"),
        "dilation": Attr("pair", (1, 1), min=1, doc="the conv's dilation"),
        "pool": Attr("pair", min=1, doc="the pool's kernel and stride"),
        "mode": Attr("str", "max", choices=("max", "avg"), doc="max or mean pool"),
        "act": Attr("str", None, choices=tuple(_ACTIVATIONS),
                    doc="the activation between conv and pool, if any"),
    }
    batching, batch_ports = "map", ("x",)

    def shape(self, x, w, b=None, *, stride, padding, dilation, pool, mode, act):
        n, o, ho, wo = get_op("Conv2D").shape(x, w, b, stride=stride, padding=padding,
                                              dilation=dilation, groups=1)
        hw = tuple(s if isinstance(s, str) else s // k for s, k in zip((ho, wo), pool))
        if any(s == 0 for s in hw):
            raise ShapeError(f"{self.name}: the pool window {pool[0]}×{pool[1]} is "
                             f"larger than the conv output {fmt((ho, wo))}")
        return (n, o) + hw

    def forward(self, ctx, x, w, b=None, *, stride, padding, dilation, pool, mode,
                act):
        return _conv_pool_forward(ctx, x, w, b, stride, padding, dilation, pool, mode,
                                  act)

    def vjp(self, ctx, g, out, x, w, b=None, *, stride, padding, dilation, pool, mode,
            act):
        return _conv_pool_vjp(ctx, g, out, x, w, b, stride, dilation, pool, mode, act)

    def macs(self, in_shapes, out_shapes, *, pool, **attrs):
        # Only the conv outputs that some pool window reads are computed.
        out = out_shapes[0] if isinstance(out_shapes[0], (tuple, list)) else out_shapes
        return numel(out[2:]) * pool[0] * pool[1] * numel(in_shapes[1])


CONV2D_POOL2D = Conv2DPool2D()


# ---- Upsample2D feeding a fused kernel ---------------------------------------------

class Upsample2DBatchLast(Upsample2D):
    """Nearest Upsample2D whose output is a ``(C, H, W, N)`` array seen as NCHW.

    :func:`graphlab.fuse.fuse_steps` puts it in place of an Upsample2D whose
    only reader is a fused kernel, which then reads the output as it is
    (:func:`_batch_last`). Writing runs of N values instead of NCHW's runs of
    ``scale`` values is also faster in itself (LeNet-5's 8×8 → 32×32, B=256:
    0.82 ms → 0.04 ms for the upsample and the fused kernel's copy). The
    values, the vjp (which takes any layout) and everything else are
    Upsample2D's.
    """

    name = "Upsample2DBatchLast"
    title = "Upsample2D, batch-last"  # for the generated code's comments

    def forward(self, ctx, x, *, scale, mode):
        if mode != "nearest":
            return super().forward(ctx, x, scale=scale, mode=mode)
        N, C, H, W = x.shape
        (sh, sw), xt = scale, np.ascontiguousarray(x.transpose(1, 2, 3, 0))
        out = np.empty((C, H, sh, W, sw, N), x.dtype)
        out[...] = xt[:, :, None, :, None, :]
        return _batch_first_view(out.reshape(C, H * sh, W * sw, N))


UPSAMPLE2D_BATCH_LAST = Upsample2DBatchLast()
