"""The stacked-weights plumbing that the RNN, LSTM and GRU kernels share.

The kernels of :mod:`graphlab.ops.recurrent` work feature-major (one column per
example) on one buffer ``xh`` (T+1, F+1+H, N) whose block t is ``[x_t; 1;
h_{t−1}]``, the operand of step t's one GEMM with the stacked weights
``[w_ih | b_ih + b_hh | w_hh]``; these helpers fill and read that layout, keep the
scratch arrays from step to step, and turn its gradients back into the ports'.
"""

import numpy as np

from ._im2col import matmul2d

__all__ = ["frozen", "rnn_bias", "rnn_buffers", "rnn_dtype", "rnn_first_preacts",
           "rnn_grads", "rnn_input_grad", "rnn_kept_weights", "rnn_needs",
           "rnn_output_grad", "rnn_param_grads", "rnn_sigmoid", "rnn_split_grads",
           "rnn_stack", "rnn_stack_weights", "rnn_state", "rnn_step_gemm",
           "rnn_wanted", "rnn_weight_grad", "rnn_weights"]


def rnn_dtype(x, *arrays):
    """The dtype the kernels compute in: ``x``'s, unless another array's is wider."""
    if all(a is None or a.dtype == x.dtype for a in arrays):
        return x.dtype
    return np.result_type(x, *[a for a in arrays if a is not None])


def rnn_buffers(ctx, phase, key, **shapes):
    """Scratch arrays of one node for ``phase`` ("forward" or "vjp").

    Kept on ``ctx`` and reused while ``key`` (sizes and dtype) stays the same: a
    program keeps its contexts from step to step, and fresh arrays of this size
    cost page faults (measured: 2.3 ms of a 4.9 ms LSTM step, 64×8×128). Only
    scratch and saved-for-vjp arrays live here, never what a rule returns.
    """
    store = getattr(ctx, "rnn_buffers", None)
    if store is None:
        store = ctx.rnn_buffers = {}
    got = store.get(phase)
    if got is None or got[0] != key:
        dt = key[-1]
        got = store[phase] = (key, {k: np.empty(v, dt) for k, v in shapes.items()})
        if "xh" in got[1]:  # its column of ones (F = key[2]): nothing writes there
            got[1]["xh"][:, key[2]] = 1
    return got[1]


def rnn_stack(x, h0, xh):
    """Fill ``xh`` (T+1, F+1+H, N): column n of ``xh[t]`` is ``[x_t; 1; h_{t−1}]``
    of example n, the operand of step t's one GEMM. Returns ``xh``.

    Rows h of ``xh[t+1]`` are where step t writes its output, so that they are
    also the H_t that backpropagation reads. Feature-major (one column per
    example) makes every gate, state and operand of a step a contiguous block:
    elementwise calls on blocks, and weights that need no transposed copy
    (measured: a 128×512 transposed copy costs almost as much as a step's GEMM,
    and elementwise calls on strided blocks 2–3× those on contiguous ones).
    """
    N, T, F = x.shape
    np.copyto(xh[:T, :F], x.transpose(1, 2, 0))
    rnn_state(xh[0, F + 1:], h0)  # (the ones are there from rnn_buffers)
    return xh


def rnn_stack_weights(w, w_ih, w_hh, b, runs):
    """Fill ``w`` (R, F+1+H) with rows of ``[w_ih | b | w_hh]`` (b None: zeros).

    ``runs`` lists ``(row of w, row of the source, rows, scale)``: gates may be
    reordered and scaled (½ for the σ = ½·tanh(z/2) + ½ trick; exact). Returns w.
    """
    F = w_ih.shape[1]
    for dst, src, n, s in runs:
        d, r = slice(dst, dst + n), slice(src, src + n)
        np.multiply(w_ih[r], s, out=w[d, :F])
        np.multiply(w_hh[r], s, out=w[d, F + 1:])
        if b is None:
            w[d, F] = 0
        else:
            np.multiply(b[r], s, out=w[d, F])
    return w


def frozen(*arrays):
    """Whether every array given (None aside) is a constant: read-only and the
    owner of its values, as a frozen program's Parameters are
    (:meth:`graphlab.program.Program.freeze`). Nothing changes such an array
    without first making it writeable again."""
    return all(a is None or (a.flags.owndata and not a.flags.writeable)
               for a in arrays)


def rnn_kept_weights(ctx, out, w_ih, w_hh, b_ih, b_hh):
    """``out`` when it holds these constant weights stacked (:func:`rnn_weights`
    kept them), else None."""
    kept = getattr(ctx, "stacked", None)
    if kept is not None and kept[1] is out and all(
            a is b for a, b in zip(kept[0], (w_ih, w_hh, b_ih, b_hh))):
        return out
    return None


def rnn_weights(ctx, out, w_ih, w_hh, b_ih, b_hh, runs, dt):
    """The stacked weights :func:`rnn_stack_weights` makes, in ``out``.

    When every weight is a constant (:func:`frozen`), ``ctx`` remembers the
    arrays they came from, so that :func:`rnn_kept_weights` finds ``out`` while
    the same arrays come back: they are stacked once (callers ask it first).
    """
    sources = (w_ih, w_hh, b_ih, b_hh)
    rnn_stack_weights(out, w_ih, w_hh, rnn_bias(b_ih, b_hh, dt), runs)
    ctx.stacked = (sources, out) if frozen(*sources) else None
    return out


def rnn_step_gemm(w, xh_t, n_x, h_given, out):
    """Step t's pre-activations ``w @ xh[t]`` into ``out``; without ``h_given``
    (H_0 = 0) only the first ``n_x`` columns (x and bias) count."""
    if h_given:
        np.matmul(w, xh_t, out=out)
    else:
        np.matmul(w[:, :n_x], xh_t[:n_x], out=out)


def rnn_first_preacts(out, w_ih, w_hh, b_ih, b_hh, xh0, runs, h0_given):
    """Step 0's pre-activations into ``out`` (R, N), rows reordered and scaled as
    :func:`rnn_stack_weights`' ``runs`` say, from the weights as they are.

    For a run of one step (T = 1: a generation loop feeds one token at a time)
    stacking the weights would copy all of them for one GEMM (LSTM, H = 128:
    70,000 values, three times the step's own work). Equal to the stacked GEMM
    up to rounding (the sums are grouped differently). Returns ``out``.
    """
    F = w_ih.shape[1]
    z = np.matmul(w_ih, xh0[:F])
    if h0_given:
        z += np.matmul(w_hh, xh0[F + 1:])
    for b in (b_ih, b_hh):
        if b is not None:
            z += b[:, None]
    for dst, src, n, s in runs:
        np.multiply(z[src:src + n], s, out=out[dst:dst + n])
    return out


def rnn_weight_grad(dz, xh, buf, n_x, zero_h0):
    """``Σ_t δZ_t X̃_tᵀ`` (R, F+1+H) for ``δZ`` (T, R, N) and ``X̃_t = xh[t]`` =
    ``[x_t; 1; h_{t−1}]``: the gradient of stacked weights ``[w_ih | b | w_hh]``,
    as ONE GEMM over all T·N columns.

    Both operands are first copied so that the T·N columns are one dimension
    (into ``buf``): cheaper than T GEMMs and their sum, or than strided writes
    in the loop. With ``zero_h0`` (H_0 = 0) step 0 adds only to the first
    ``n_x`` columns (x and bias): 1/T of the GEMM saved.
    """
    T, R, N = dz.shape
    K = xh.shape[1]
    np.copyto(buf["dzt"], dz.transpose(1, 0, 2))
    np.copyto(buf["xht"], xh[:T].transpose(0, 2, 1))
    dzt, xht = buf["dzt"].reshape(R, T * N), buf["xht"].reshape(T * N, K)
    if not zero_h0:
        return matmul2d(dzt, xht)
    gw = matmul2d(dzt[:, N:], xht[N:])
    gw[:, :n_x] += matmul2d(dzt[:, :N], xht[:N, :n_x])
    return gw


def rnn_split_grads(gw, F, need):
    """Gradients of (w_ih, w_hh, b_ih, b_hh) from ``gw`` = ``Σ_t δZ_t X̃_tᵀ``:
    its column blocks; both biases get the bias column. None where not needed."""
    gb = np.ascontiguousarray(gw[:, F]) if need[3] or need[4] else None
    return (np.ascontiguousarray(gw[:, :F]) if need[1] else None,
            gw[:, F + 1:] if need[2] else None,
            gb if need[3] else None,
            (gb.copy() if need[3] else gb) if need[4] else None)


def rnn_param_grads(dz, w_ih, xh, buf, need, zero_h0, dt):
    """Gradients of (x, w_ih, w_hh, b_ih, b_hh) from the pre-activation
    gradients ``dz`` (T, R, N) of every step, None where not needed; the
    weights and biases stacked as in ``xh`` (see :func:`rnn_weight_grad`)."""
    F = w_ih.shape[1]
    gx = rnn_input_grad(w_ih, dz, dt) if need[0] else None
    if not any(need[1:5]):
        return (gx, None, None, None, None)
    gw = rnn_weight_grad(dz, xh, buf, F + 1, zero_h0)
    return (gx,) + rnn_split_grads(gw, F, need)


def rnn_input_grad(w_ih, dz, dt):
    """``δX_t = δZ_t W_ih`` for all steps (one batched GEMM), batch-first."""
    gx = np.matmul(w_ih.T.astype(dt, copy=False), dz)  # (T, F, N)
    return gx.transpose(2, 0, 1).copy()


def rnn_bias(b_ih, b_hh, dt, n=None):
    """``b_ih + b_hh`` (only the first ``n`` entries of b_hh), or None."""
    if b_ih is None and b_hh is None:
        return None
    out = np.zeros((b_ih if b_ih is not None else b_hh).shape, dt)
    if b_ih is not None:
        out += b_ih
    if b_hh is not None:
        out[:n] += b_hh[:n]
    return out


def rnn_state(out, s):
    """Write a state or its gradient ``s`` (N, H), transposed, into ``out`` (H, N);
    zeros when ``s`` is None."""
    if s is None:
        out.fill(0)
    else:
        out[...] = s.T


def rnn_grads(g, n):
    """The output gradients as a tuple of length ``n`` (None: no gradient)."""
    if not isinstance(g, (tuple, list)):
        g = (g,)
    return tuple(g) + (None,) * (n - len(g))


def rnn_needs(ctx, inputs):
    """Which input gradients to compute: present, and wanted by the caller."""
    need = getattr(ctx, "needs_input_grad", None)
    need = (True,) * len(inputs) if need is None else tuple(need)
    return tuple(bool(n) and x is not None for n, x in zip(need, inputs))


def rnn_wanted(ctx, n):
    """Which of the ``n`` outputs to build: ``ctx.needs_output``, or all."""
    want = getattr(ctx, "needs_output", None)
    return (True,) * n if want is None else want


def rnn_output_grad(gy, buf):
    """``δY`` (N, T, H) time-major and feature-major (T, H, N) in ``buf``, or None."""
    if gy is None:
        return None
    np.copyto(buf, gy.transpose(1, 2, 0))
    return buf


def rnn_sigmoid(z):
    """Logistic function without overflow: ½·tanh(z/2) + ½."""
    return 0.5 * np.tanh(0.5 * z) + 0.5
