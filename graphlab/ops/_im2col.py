"""Shared NumPy kernels of the windowed ops: padding, im2col, col2im, GEMMs.

Layouts: images are NCHW. Columns are ``(C, kh, kw, N, Ho, Wo)``, so that a
convolution is one GEMM ``w (O, C·kh·kw) @ cols (C·kh·kw, N·Ho·Wo)`` and its
weight gradient one GEMM over all N·Ho·Wo positions. ``col2im`` is kh·kw
strided ``+=``, one per kernel offset (see ``/work/shared/PERF_NOTES.md``).

Large temporaries come from a per-thread pool (:func:`scratch`) or are kept on
the node's ``Ctx`` (:func:`ctx_buffer`): allocating a fresh multi-megabyte
array every step costs more in page faults than the GEMM it feeds.

Assumes shapes already checked by the op's shape rule.
"""

import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..errors import ShapeError
from ..shapes import warn, window, window_warning

__all__ = [
    "first_shape",
    "window_shape",
    "window_pads",
    "pad2d",
    "taps2d",
    "windows2d",
    "im2col2d",
    "col2im2d",
    "matmul2d",
    "matmul_nt",
    "scratch",
    "ctx_buffer",
    "needs_grad",
]


# ---- shape arithmetic -------------------------------------------------------------

def first_shape(out_shapes):
    """The first output shape, whether given one shape or a list of shapes."""
    if out_shapes and isinstance(out_shapes[0], (tuple, list)):
        return tuple(out_shapes[0])
    return tuple(out_shapes)


def window_shape(op, sizes, kernel, stride, padding, dilation, nouns, axis_names):
    """Output sizes of a window over each spatial axis, warning on dropped input.

    ``padding`` is a string mode or one int per axis. Raises ``ShapeError``
    prefixed with ``op`` when a window is larger than its padded input.
    """
    outs, notes = [], []
    for a, size in enumerate(sizes):
        pad = padding if isinstance(padding, str) else padding[a]
        try:
            out, pads, dropped = window(size, kernel[a], stride[a], pad, dilation[a],
                                        axis_name=axis_names[a])
        except ShapeError as e:
            raise ShapeError(f"{op}: {e.message}") from None
        outs.append(out)
        if dropped:
            span = dilation[a] * (kernel[a] - 1) + 1
            notes.append((nouns[a], size, span, stride[a], pads, dropped))
    if notes:
        warn(window_warning(notes))
    return tuple(outs)


def window_pads(sizes, kernel, stride, padding, dilation):
    """``(out sizes, ((before, after), ...))`` for concrete spatial sizes."""
    outs, pads = [], []
    for a, size in enumerate(sizes):
        pad = padding if isinstance(padding, str) else padding[a]
        out, p, _ = window(size, kernel[a], stride[a], pad, dilation[a])
        outs.append(out)
        pads.append(p)
    return tuple(outs), tuple(pads)


# ---- buffers ----------------------------------------------------------------------

_pool = threading.local()
_POOL_SIZE = 16  # buffers kept per thread: a few per conv layer of one network


def scratch(slot, shape, dtype):
    """A reusable per-thread buffer, valid until the next call with the same key.

    Only for temporaries that no caller keeps (never return one). Keyed by
    ``(slot, shape, dtype)``, so that layers of different shapes keep their own
    buffers; the least recently used is dropped beyond ``_POOL_SIZE``.
    """
    bufs = getattr(_pool, "bufs", None)
    if bufs is None:
        bufs = _pool.bufs = {}
    key = (slot, tuple(shape), dtype)  # dtype as given: a miss at worst
    buf = bufs.pop(key, None)
    if buf is None:
        buf = np.empty(shape, dtype)
        if len(bufs) >= _POOL_SIZE:
            del bufs[next(iter(bufs))]
    bufs[key] = buf  # (re)insert as the most recently used
    return buf


def needs_grad(ctx, n):
    """``ctx.needs_input_grad`` (one bool per input), all True when not given."""
    need = getattr(ctx, "needs_input_grad", None)
    return (True,) * n if need is None else tuple(need)


def ctx_buffer(ctx, name, shape, dtype):
    """A buffer owned by one node's ``ctx``, reused from step to step.

    For arrays the forward rule saves for its vjp (the columns).
    """
    buf = getattr(ctx, name, None)
    if buf is None or buf.shape != tuple(shape) or buf.dtype != dtype:
        buf = np.empty(shape, dtype)
        setattr(ctx, name, buf)
    return buf


# ---- kernels ----------------------------------------------------------------------

def pad2d(x, pads, value=0.0):
    """``x`` (N, C, H, W) padded by ``((top, bottom), (left, right))``."""
    (pt, pb), (pl, pr) = pads
    if not (pt or pb or pl or pr):
        return x
    N, C, H, W = x.shape
    xp = np.empty((N, C, H + pt + pb, W + pl + pr), x.dtype)
    # Fill only the border: a full fill then a copy writes the plane twice.
    xp[:, :, :pt] = value
    xp[:, :, pt + H:] = value
    xp[:, :, pt:pt + H, :pl] = value
    xp[:, :, pt:pt + H, pl + W:] = value
    xp[:, :, pt:pt + H, pl:pl + W] = x
    return xp


def taps2d(xp, kernel, stride, dilation, out_hw):
    """One strided view ``(N, C, Ho, Wo)`` per kernel offset, row-major."""
    (kh, kw), (sh, sw), (dh, dw), (Ho, Wo) = kernel, stride, dilation, out_hw
    return [xp[:, :, i * dh:i * dh + sh * (Ho - 1) + 1:sh,
               j * dw:j * dw + sw * (Wo - 1) + 1:sw]
            for i in range(kh) for j in range(kw)]


def windows2d(xp, kernel, stride, dilation, out_hw):
    """Read-only view ``(N, C, kh, kw, Ho, Wo)`` of every window of ``xp``."""
    (kh, kw), (sh, sw), (dh, dw), (Ho, Wo) = kernel, stride, dilation, out_hw
    sN, sC, sH, sW = xp.strides
    return as_strided(xp, (xp.shape[0], xp.shape[1], kh, kw, Ho, Wo),
                      (sN, sC, sH * dh, sW * dw, sH * sh, sW * sw), writeable=False)


def im2col2d(xp, kernel, stride, dilation, out_hw, out=None):
    """Columns ``(C, kh, kw, N, Ho, Wo)`` of the padded input ``xp``."""
    view = windows2d(xp, kernel, stride, dilation, out_hw).transpose(1, 2, 3, 0, 4, 5)
    if out is None:
        return np.ascontiguousarray(view)
    np.copyto(out, view)
    return out


def col2im2d(cols, x_shape, kernel, stride, dilation, pads, slot="col2im"):
    """Adjoint of :func:`im2col2d`: sum columns back onto an (N, C, H, W) image.

    ``cols`` is ``(C, kh, kw, N, Ho, Wo)``; ``pads`` the padding of the image the
    columns were taken from, cropped off again. Returns a new contiguous array.
    """
    N, C, H, W = x_shape
    (pt, pb), (pl, pr) = pads
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    Ho, Wo = cols.shape[-2:]
    # Accumulate channels-first: each += then writes whole (N, Ho, Wo) slabs.
    acc = scratch(slot, (C, N, H + pt + pb, W + pl + pr), cols.dtype)
    acc.fill(0)
    for i in range(kh):
        for j in range(kw):
            acc[:, :, i * dh:i * dh + sh * (Ho - 1) + 1:sh,
                j * dw:j * dw + sw * (Wo - 1) + 1:sw] += cols[:, i, j]
    # .copy(), not ascontiguousarray: with N or C = 1 the transpose is already
    # contiguous and would come back as a view of the reused buffer.
    return acc[:, :, pt:pt + H, pl:pl + W].transpose(1, 0, 2, 3).copy()


def matmul2d(a, b):
    """``a @ b`` for matrices; with an inner dimension of 1, the outer product.

    NumPy's matmul does not call BLAS when the inner dimension is 1: a weight
    gradient from one example (120×400) takes 74 µs that way, 16 µs as a
    broadcast multiply (two examples: 7 µs through BLAS).
    """
    if a.shape[1] == 1:
        return np.multiply(a, b)
    return a @ b


def matmul_nt(a, b, chunk=4096):
    """``a @ b.T`` for ``a`` (m, K), ``b`` (n, K) with a long inner dimension K.

    Weight gradients are skinny GEMMs over N·Ho·Wo positions; OpenBLAS runs them
    3–4× faster as ``b @ a.T`` in blocks of a few thousand positions (measured:
    6×25×50176 from 1.0 ms to 0.22 ms).
    """
    K = a.shape[1]
    acc = b[:, :chunk] @ a[:, :chunk].T
    for s in range(chunk, K, chunk):
        acc += b[:, s:s + chunk] @ a[:, s:s + chunk].T
    return acc.T
