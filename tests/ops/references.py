"""Independent references for the op tests: the ops' math written another way
(Python loops, plain formulas, the PyTorch documentation's equations), and
inputs shaped to keep finite differences away from kinks and ties.

The op-spec table of :mod:`tests.ops.test_op_specs` and the family test
modules read them.
"""

import itertools
import math
import statistics

import numpy as np
import sympy as sp

from graphlab.gradcheck import run_op
from graphlab.ops import get_op

rng = np.random.default_rng(0)


def loop(f):
    """Reference for an elementwise op: ``f`` applied to each element in Python."""
    def ref(*xs):
        xs = np.broadcast_arrays(*xs)
        vals = [f(*map(float, v)) for v in zip(*(x.ravel() for x in xs))]
        return np.array(vals).reshape(xs[0].shape)
    return ref


def along(f, axis):
    """Reference for an op along ``axis``: ``f`` maps one Python list to another."""
    def ref(x):
        return np.apply_along_axis(lambda v: np.array(f(list(v))), axis, x)
    return ref


def softmax_py(v):
    total = sum(math.exp(a) for a in v)
    return [math.exp(a) / total for a in v]


def maxout_py(pieces, axis):
    def ref(x):
        xs = np.moveaxis(x, axis, 0)
        chans = [np.max(xs[c * pieces:(c + 1) * pieces], axis=0)
                 for c in range(xs.shape[0] // pieces)]
        return np.moveaxis(np.stack(chans), 0, axis)
    return ref


def away(*shape, margin=0.2):
    """Normal values at least ``margin`` from 0: clear of the kinks at 0."""
    x = rng.normal(size=shape)
    return np.where(x >= 0, 1, -1) * (margin + np.abs(x))


def spread(*shape):
    """Values whose maxima along any axis are unique by a wide margin."""
    return rng.permutation(np.arange(math.prod(shape)) * 0.1).reshape(shape)


def elu_py(alpha):
    return lambda x: x if x > 0 else alpha * (math.exp(x) - 1)


def positive(*shape):
    return rng.uniform(0.5, 2.0, size=shape)


def normal(*shape):
    return rng.standard_normal(shape)


def loop_conv2d(x, w, b, stride, pads, dilation):
    N, C, H, W = x.shape
    O, _, kh, kw = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(pads))
    Ho = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    Wo = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((N, O, Ho, Wo))
    for n in range(N):
        for o in range(O):
            for p in range(Ho):
                for q in range(Wo):
                    acc = 0.0 if b is None else b[o]
                    for c in range(C):
                        for i in range(kh):
                            for j in range(kw):
                                acc += (xp[n, c, p * sh + i * dh, q * sw + j * dw]
                                        * w[o, c, i, j])
                    out[n, o, p, q] = acc
    return out


def loop_conv1d(x, w, b, stride, pads, dilation):
    return loop_conv2d(x[:, :, None], w[:, :, None], b, (1, stride),
                       ((0, 0), pads), (1, dilation))[:, :, 0]


def loop_conv_transpose2d(x, w, b, stride, padding, output_padding, dilation):
    N, Ci, H, W = x.shape
    _, Co, kh, kw = w.shape
    (sh, sw), (ph, pw), (oh, ow), (dh, dw) = stride, padding, output_padding, dilation
    full = np.zeros((N, Co, (H - 1) * sh + dh * (kh - 1) + 1 + oh,
                     (W - 1) * sw + dw * (kw - 1) + 1 + ow))
    for n in range(N):
        for ci in range(Ci):
            for h in range(H):
                for v in range(W):
                    for co in range(Co):
                        for i in range(kh):
                            for j in range(kw):
                                full[n, co, h * sh + i * dh, v * sw + j * dw] += (
                                    x[n, ci, h, v] * w[ci, co, i, j])
    out = full[:, :, ph:full.shape[2] - ph, pw:full.shape[3] - pw]
    return out if b is None else out + b[:, None, None]


def matmul_loops(a, b):
    """np.matmul semantics written out: promote, broadcast batches, triple loop."""
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    a2 = np.broadcast_to(a2, batch + a2.shape[-2:])
    b2 = np.broadcast_to(b2, batch + b2.shape[-2:])
    n, k, m = a2.shape[-2], a2.shape[-1], b2.shape[-1]
    out = np.zeros(batch + (n, m))
    for idx in np.ndindex(*batch):
        for i, j in itertools.product(range(n), range(m)):
            out[idx + (i, j)] = sum(a2[idx + (i, q)] * b2[idx + (q, j)]
                                    for q in range(k))
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]
    return out


def linear_ref(x, w, b=None):
    out = np.einsum("...i,oi->...o", x, w)
    return out if b is None else out + b


def concat_ref(a, b, axis):
    ax = axis % a.ndim
    shape = list(a.shape)
    shape[ax] += b.shape[ax]
    out = np.empty(shape)
    head = (slice(None),) * ax
    out[head + (slice(0, a.shape[ax]),)] = a
    out[head + (slice(a.shape[ax], None),)] = b
    return out


def sum_loops(x, axes, keepdims):
    axes = tuple(a % x.ndim for a in axes)
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    out = np.zeros(shape)
    for idx in np.ndindex(*x.shape):
        out[tuple(0 if i in axes else k for i, k in enumerate(idx))] += x[idx]
    if not keepdims:
        out = out.reshape(tuple(d for i, d in enumerate(x.shape) if i not in axes))
    return out


def mean_loops(x, axes, keepdims):
    n = np.prod([x.shape[a] for a in axes])
    return sum_loops(x, axes, keepdims) / n


def dist(*shape):
    """Strictly positive distributions along the last axis."""
    e = rng.uniform(0.1, 1.0, size=shape)
    return e / e.sum(axis=-1, keepdims=True)


def rows(x):
    return x.reshape(-1, x.shape[-1]).tolist()


def mse_py(pred, target):
    d = [(a - b) ** 2 for a, b in zip(pred.ravel().tolist(), target.ravel().tolist())]
    return sum(d) / len(d)


def cross_entropy_py(logits, target):
    losses = [-math.log(math.exp(z[y]) / sum(math.exp(v) for v in z))
              for z, y in zip(rows(logits), np.ravel(target).tolist())]
    return sum(losses) / len(losses)


def kl_row(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q) if a > 0)


def kl_py(p, q):
    per_row = [kl_row(a, b) for a, b in zip(rows(p), rows(q))]
    return sum(per_row) / len(per_row)


def js_py(p, q):
    per_row = []
    for a, b in zip(rows(p), rows(q)):
        m = [(i + j) / 2 for i, j in zip(a, b)]
        per_row.append(kl_row(a, m) / 2 + kl_row(b, m) / 2)
    return sum(per_row) / len(per_row)


def loop_max_pool(x, kernel, stride, pads):
    """(out, indices): first maximum of each window in row-major order."""
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), ((pt, pb), (pl, pr)) = kernel, stride, pads
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=-np.inf)
    Ho, Wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    out, idx = np.zeros((N, C, Ho, Wo)), np.zeros((N, C, Ho, Wo), np.int64)
    for n, c, p, q in np.ndindex(N, C, Ho, Wo):
        window = xp[n, c, p * sh:p * sh + kh, q * sw:q * sw + kw]
        i, j = divmod(int(np.argmax(window)), kw)  # argmax: first occurrence
        out[n, c, p, q] = window[i, j]
        idx[n, c, p, q] = (p * sh + i - pt) * W + (q * sw + j - pl)
    return out, idx


def loop_avg_pool(x, kernel, stride, pads, count_include_pad=True):
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), ((pt, pb), (pl, pr)) = kernel, stride, pads
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    inside = np.pad(np.ones((H, W)), ((pt, pb), (pl, pr)))
    Ho, Wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    out = np.zeros((N, C, Ho, Wo))
    for n, c, p, q in np.ndindex(N, C, Ho, Wo):
        rows, cols = slice(p * sh, p * sh + kh), slice(q * sw, q * sw + kw)
        count = kh * kw if count_include_pad else inside[rows, cols].sum()
        out[n, c, p, q] = xp[n, c, rows, cols].sum() / count
    return out


def grouped(loop, groups, transposed=False):
    """A one-group loop reference run group by group (channels in blocks)."""
    def ref(x, w, b, *args):
        C, O = x.shape[1] // groups, w.shape[0] // groups
        outs = []
        for k in range(groups):
            wk = w[k * C:(k + 1) * C] if transposed else w[k * O:(k + 1) * O]
            n_out = (w.shape[1] if transposed else O)
            bk = None if b is None else b[k * n_out:(k + 1) * n_out]
            outs.append(loop(x[:, k * C:(k + 1) * C], wk, bk, *args))
        return np.concatenate(outs, axis=1)
    return ref


def loop_unpool(x, idx, out_hw):
    out = np.zeros(x.shape[:2] + tuple(out_hw))
    for n, c, i, j in np.ndindex(x.shape):
        out[n, c].flat[idx[n, c, i, j]] = x[n, c, i, j]
    return out


def loop_upsample(x, scale, mode):
    """PyTorch's interpolate(scale_factor=scale, align_corners=False), by pixel."""
    N, C, H, W = x.shape
    sh, sw = scale
    out = np.zeros((N, C, H * sh, W * sw))
    for n, c, i, j in np.ndindex(out.shape):
        if mode == "nearest":
            out[n, c, i, j] = x[n, c, i // sh, j // sw]
            continue
        r = max((i + 0.5) / sh - 0.5, 0.0)
        k = max((j + 0.5) / sw - 0.5, 0.0)
        r0, k0 = int(r), int(k)
        r1, k1 = min(r0 + 1, H - 1), min(k0 + 1, W - 1)
        a, b = r - r0, k - k0
        out[n, c, i, j] = ((1 - a) * ((1 - b) * x[n, c, r0, k0] + b * x[n, c, r0, k1])
                           + a * ((1 - b) * x[n, c, r1, k0] + b * x[n, c, r1, k1]))
    return out


def pooled(x, kernel, stride=None, padding=0):
    outs, _ = run_op("MaxPool2D", [x], {"kernel": kernel,
                                        "stride": stride or kernel, "padding": padding})
    return outs


OUT_6X8, IDX_6X8 = pooled(normal(2, 3, 6, 8), 2)


OUT_7X9, IDX_7X9 = pooled(normal(1, 2, 7, 9), 2)  # the last row and column dropped


GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


STATES = {"RNN": ("h0",), "LSTM": ("h0", "c0"), "GRU": ("h0",)}


def sigmoid_py(v):
    return 1 / (1 + np.exp(-v))


def _zeros_if_none(v, n):
    return np.zeros(n) if v is None else v


def rnn_reference(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None,
                  nonlinearity="tanh"):
    """h_t = tanh(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh) (or ReLU)."""
    N, T, _ = x.shape
    H = w_hh.shape[1]
    b_ih, b_hh = _zeros_if_none(b_ih, H), _zeros_if_none(b_hh, H)
    act = np.tanh if nonlinearity == "tanh" else (lambda v: np.maximum(v, 0))
    y = np.zeros((N, T, H))
    for n in range(N):
        h = np.zeros(H) if h0 is None else h0[n]
        for t in range(T):
            h = act(w_ih @ x[n, t] + b_ih + w_hh @ h + b_hh)
            y[n, t] = h
    return y, y[:, -1]


def lstm_reference(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None):
    """i, f, g, o = σ, σ, tanh, σ of W_i· x_t + b_i· + W_h· h_{t−1} + b_h·;
    c_t = f ⊙ c_{t−1} + i ⊙ g; h_t = o ⊙ tanh(c_t)."""
    N, T, _ = x.shape
    H = w_hh.shape[1]
    b_ih, b_hh = _zeros_if_none(b_ih, 4 * H), _zeros_if_none(b_hh, 4 * H)
    W_ii, W_if, W_ig, W_io = np.split(w_ih, 4)
    W_hi, W_hf, W_hg, W_ho = np.split(w_hh, 4)
    b_ii, b_if, b_ig, b_io = np.split(b_ih, 4)
    b_hi, b_hf, b_hg, b_ho = np.split(b_hh, 4)
    y = np.zeros((N, T, H))
    c_last = np.zeros((N, H))
    for n in range(N):
        h = np.zeros(H) if h0 is None else h0[n]
        c = np.zeros(H) if c0 is None else c0[n]
        for t in range(T):
            xt = x[n, t]
            i = sigmoid_py(W_ii @ xt + b_ii + W_hi @ h + b_hi)
            f = sigmoid_py(W_if @ xt + b_if + W_hf @ h + b_hf)
            g = np.tanh(W_ig @ xt + b_ig + W_hg @ h + b_hg)
            o = sigmoid_py(W_io @ xt + b_io + W_ho @ h + b_ho)
            c = f * c + i * g
            h = o * np.tanh(c)
            y[n, t] = h
        c_last[n] = c
    return y, y[:, -1], c_last


def gru_reference(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None):
    """r, z = σ(W_i· x_t + b_i· + W_h· h_{t−1} + b_h·);
    n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t−1} + b_hn)); h_t = (1 − z) ⊙ n + z ⊙ h."""
    N, T, _ = x.shape
    H = w_hh.shape[1]
    b_ih, b_hh = _zeros_if_none(b_ih, 3 * H), _zeros_if_none(b_hh, 3 * H)
    W_ir, W_iz, W_in = np.split(w_ih, 3)
    W_hr, W_hz, W_hn = np.split(w_hh, 3)
    b_ir, b_iz, b_in = np.split(b_ih, 3)
    b_hr, b_hz, b_hn = np.split(b_hh, 3)
    y = np.zeros((N, T, H))
    for n_ in range(N):
        h = np.zeros(H) if h0 is None else h0[n_]
        for t in range(T):
            xt = x[n_, t]
            r = sigmoid_py(W_ir @ xt + b_ir + W_hr @ h + b_hr)
            z = sigmoid_py(W_iz @ xt + b_iz + W_hz @ h + b_hz)
            n = np.tanh(W_in @ xt + b_in + r * (W_hn @ h + b_hn))
            h = (1 - z) * n + z * h
            y[n_, t] = h
    return y, y[:, -1]


REFERENCES = {"RNN": rnn_reference, "LSTM": lstm_reference, "GRU": gru_reference}


def make_inputs(name, N, T, F, H, *, biases=("b_ih", "b_hh"), states=None, seed=0,
                scale=0.6):
    """Inputs in port order; an optional input not asked for is None."""
    rng = np.random.default_rng(seed)
    G = GATES[name]
    states = STATES[name] if states is None else states
    inputs = [rng.normal(size=(N, T, F)),
              rng.normal(scale=scale, size=(G * H, F)),
              rng.normal(scale=scale, size=(G * H, H))]
    inputs += [rng.normal(scale=scale, size=G * H) if b in biases else None
               for b in ("b_ih", "b_hh")]
    inputs += [rng.normal(size=(N, H)) if s in states else None for s in STATES[name]]
    return inputs


def dropout_ref(p, seed=0):
    # The contract: element kept where ctx.rng's uniform draw is ≥ p (run_op
    # seeds ctx.rng with 0), kept values scaled by 1/(1 − p).
    def ref(x):
        u = np.random.default_rng(seed).random(x.shape)
        return np.where(u < p, 0.0, x / (1 - p))
    return ref


def batchnorm_ref(eps=1e-5):
    """Per channel, in Python: statistics over every element of that channel."""
    def ref(x, gamma, beta):
        out = np.empty_like(x)
        for c in range(x.shape[1]):
            v = x[:, c].ravel().tolist()
            mean, var = statistics.fmean(v), statistics.pvariance(v)
            out[:, c] = gamma[c] * (x[:, c] - mean) / (var + eps) ** 0.5 + beta[c]
        return out
    return ref


def penalty_ref(f):
    return lambda x: sum(f(float(v)) for v in x.ravel())


def symbolic_grads(name, attrs, inputs):
    """∂out/∂input of an elementwise op from lambdified ``sp.diff`` of its SymPy
    form, broadcast to the inputs' shape."""
    op = get_op(name)
    symbols = sp.symbols(op.input_ports)
    symbols = symbols if isinstance(symbols, tuple) else (symbols,)
    expr = op.sympy(*symbols, **op.resolve_attrs(attrs))
    return [np.broadcast_to(sp.lambdify(symbols, sp.diff(expr, s), "numpy")(*inputs),
                            np.broadcast(*inputs).shape) for s in symbols]
