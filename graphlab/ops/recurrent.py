"""Recurrent layers: RNN, LSTM, GRU over batch-first sequences ``x`` (N, T, F).

Weights, biases and gate orders are PyTorch's (``torch.nn.RNN``, ``LSTM``,
``GRU`` with ``batch_first=True``, one layer, one direction), so that a model
moves between the two unchanged: ``w_ih`` is (G·H, F), ``w_hh`` is (G·H, H) and
the biases (G·H,), with G = 1, 4 (gates i, f, g, o) or 3 (gates r, z, n). The
hidden size H is read from ``w_hh``. Absent ``h0``/``c0`` mean zeros.

The kernels are fused and batched: one GEMM projects the inputs of all time
steps (biases folded in), Python loops only over time steps, and every sigmoid
is ½·tanh(z/2) + ½ with the ½ folded into the weights, so that one ``np.tanh``
serves all gates of a step and nothing overflows. ``forward`` saves on ``ctx``
what backpropagation through time needs; ``vjp`` computes the activation
derivatives of all steps in a few calls before its loop, and the weight
gradients after it as single GEMMs over all T·N rows.

Matrix-calculus forms (``formulas``) use batch rows, as the kernels do: ``X_t``
(N, F), ``H_t`` (N, H), ``A_t = X_t W_ihᵀ + H_{t−1} W_hhᵀ + 1bᵀ``. Each entry is
``port: (latex, fn)``; ``fn(g, out, *inputs, **attrs)`` transcribes the per-step
recurrences with plain loops and is tested against ``vjp``.
"""

import numpy as np

from ..errors import ShapeError
from ..shapes import fmt, same_dim
from .base import Attr, Op, register

__all__ = ["RNN", "LSTM", "GRU"]


# ---- shared helpers ------------------------------------------------------------------

def _rnn_shape(op, x, w_ih, w_hh, b_ih, b_hh, states):
    """Check the shapes of a recurrent op; return ``(N, T, H)``.

    ``states`` lists ``(port, shape or None)`` for h0 (and c0).
    """
    name, G, gates = op.name, op.n_gates, op.gate_names
    if len(x) != 3:
        raise ShapeError(f"{name}: x must be N×T×F (batch, time, features), got "
                         f"{fmt(x)}")
    N, T, F = x
    if len(w_hh) != 2:
        raise ShapeError(f"{name}: w_hh must be a matrix {_rnn_rows_text(G)}×H, got "
                         f"{fmt(w_hh)}")
    H = w_hh[1]
    rows = G * H if isinstance(H, int) else (H if G == 1 else f"{G}·{H}")
    why = f" (gates {gates})" if gates else ""
    if not same_dim(w_hh[0], rows):
        raise ShapeError(f"{name}: w_hh is {fmt(w_hh)}: H = {H} (its columns), so "
                         f"it needs {_rnn_rows_text(G)} = {rows} rows{why}")
    if len(w_ih) != 2:
        raise ShapeError(f"{name}: w_ih must be a matrix {_rnn_rows_text(G)}×F, got "
                         f"{fmt(w_ih)}")
    if not same_dim(w_ih[0], rows):
        raise ShapeError(f"{name}: w_ih has {w_ih[0]} rows, expected "
                         f"{_rnn_rows_text(G)} = {rows}{why}")
    if not same_dim(w_ih[1], F):
        raise ShapeError(f"{name}: w_ih has {w_ih[1]} columns, but x has F = {F} "
                         f"features (x is {fmt(x)})")
    for port, b in (("b_ih", b_ih), ("b_hh", b_hh)):
        if b is not None and (len(b) != 1 or not same_dim(b[0], rows)):
            raise ShapeError(f"{name}: {port} must have {_rnn_rows_text(G)} = {rows} "
                             f"entries{why}, got {fmt(b)}")
    for port, s in states:
        if s is not None and (len(s) != 2 or not same_dim(s[0], N)
                              or not same_dim(s[1], H)):
            raise ShapeError(f"{name}: {port} must be N×H = {N}×{H} (batch × hidden), "
                             f"got {fmt(s)}")
    for port, s in states:  # a concrete batch size from a state beats a symbol
        if s is not None and len(s) == 2 and isinstance(s[0], int):
            N = s[0]
    return N, T, H


def _rnn_rows_text(G):
    return "H" if G == 1 else f"{G}·H"


def _rnn_dtype(*arrays):
    return np.result_type(*[a for a in arrays if a is not None])


def _rnn_buffers(ctx, phase, key, **shapes):
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
    return got[1]


def _rnn_time_major(x, out):
    """``(N, T, F)`` → ``out``, contiguous ``(T·N, F)``: one step's rows adjacent."""
    N, T, F = x.shape
    np.copyto(out.reshape(T, N, F), x.transpose(1, 0, 2))
    return out


def _rnn_input_grad(dz2, w_ih, buf, N, T):
    """``δZ W_ih`` for all steps in one GEMM, returned batch-first ``(N, T, F)``."""
    np.matmul(dz2, w_ih, out=buf)
    return buf.reshape(T, N, -1).transpose(1, 0, 2).copy()


def _rnn_bias(b_ih, b_hh, dt, n=None):
    """``b_ih + b_hh`` (only the first ``n`` entries of b_hh), or None."""
    if b_ih is None and b_hh is None:
        return None
    out = np.zeros((b_ih if b_ih is not None else b_hh).shape, dt)
    if b_ih is not None:
        out += b_ih
    if b_hh is not None:
        out[:n] += b_hh[:n]
    return out


def _rnn_state(out, s):
    """Write the initial state ``s`` (zeros when absent) into ``out``."""
    if s is None:
        out.fill(0)
    else:
        out[...] = s


def _rnn_grads(g, n):
    """The output gradients as a tuple of length ``n`` (None: no gradient)."""
    if not isinstance(g, (tuple, list)):
        g = (g,)
    return tuple(g) + (None,) * (n - len(g))


def _rnn_needs(ctx, inputs):
    """Which input gradients to compute: present, and wanted by the caller."""
    need = getattr(ctx, "needs_input_grad", None)
    need = (True,) * len(inputs) if need is None else tuple(need)
    return tuple(bool(n) and x is not None for n, x in zip(need, inputs))


def _rnn_bias_grads(d2, need_ih, need_hh, d2_hh=None):
    """Gradients of (b_ih, b_hh) from the pre-activation gradients ``(T·N, G·H)``:
    column sums, separate arrays, None where not needed."""
    gb_ih = d2.sum(axis=0) if need_ih else None
    if not need_hh:
        return gb_ih, None
    if d2_hh is None:
        return gb_ih, d2.sum(axis=0) if gb_ih is None else gb_ih.copy()
    return gb_ih, d2_hh.sum(axis=0)


def _rnn_weight_grads(d2, w_ih, xt, hs, need, buf, N, T, d2_hh=None):
    """Gradients of x, w_ih, w_hh (single GEMMs over all T·N rows) and biases."""
    H = hs.shape[2]
    d2_hh = d2 if d2_hh is None else d2_hh
    gx = _rnn_input_grad(d2, w_ih, buf, N, T) if need[0] else None
    gw_ih = d2.T @ xt if need[1] else None
    gw_hh = d2_hh.T @ hs[:-1].reshape(T * N, H) if need[2] else None
    gb_ih, gb_hh = _rnn_bias_grads(d2, need[3], need[4],
                                   None if d2_hh is d2 else d2_hh)
    return gx, gw_ih, gw_hh, gb_ih, gb_hh


def _rnn_sigmoid_scale(H, G, sigmoid_gates, dt):
    """Row scales ½ (sigmoid gates) or 1, and offsets ½ or 0, of G stacked gates."""
    scale = np.ones((G, H), dt)
    offset = np.zeros((G, H), dt)
    scale[list(sigmoid_gates)] = 0.5
    offset[list(sigmoid_gates)] = 0.5
    return scale.reshape(-1), offset.reshape(-1)


def _sigmoid(z):
    """Logistic function without overflow: ½·tanh(z/2) + ½."""
    return 0.5 * np.tanh(0.5 * z) + 0.5


class _Recurrent(Op):
    family = "recurrent"
    batching, batch_ports = "map", ("x", "h0")  # batch-first sequences and states
    vjp_reads_out = False  # BPTT reads what forward left on ctx
    n_gates = 1
    gate_names = ""

    def macs(self, in_shapes, out_shapes, **_):
        x, w_hh = in_shapes[0], in_shapes[2]
        T, F = x[1], x[2]
        H = w_hh[1]
        return (T if isinstance(T, int) else 1) * self.n_gates * H * (
            (F if isinstance(F, int) else 1) + H)


# ---- RNN -----------------------------------------------------------------------------

def _rnn_formula(g, out, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, *,
                 nonlinearity):
    """BPTT for the Elman RNN, step by step as in the LaTeX; all gradients."""
    gy, gh = _rnn_grads(g, 2)
    y = out[0]
    N, T, _ = x.shape
    H = w_hh.shape[1]
    hprev = [h0 if h0 is not None else np.zeros((N, H))] + [y[:, t] for t in
                                                              range(T - 1)]
    grads = {k: 0.0 for k in ("x", "w_ih", "w_hh", "b", "h0")}
    gx = np.zeros(x.shape)
    dh = np.zeros((N, H)) if gh is None else np.array(gh, dtype=float)
    for t in reversed(range(T)):
        if gy is not None:
            dh = dh + gy[:, t]
        h = y[:, t]
        deriv = 1 - h**2 if nonlinearity == "tanh" else (h > 0).astype(float)
        da = dh * deriv
        gx[:, t] = da @ w_ih
        grads["w_ih"] = grads["w_ih"] + da.T @ x[:, t]
        grads["w_hh"] = grads["w_hh"] + da.T @ hprev[t]
        grads["b"] = grads["b"] + da.sum(axis=0)
        dh = da @ w_hh
    grads["x"], grads["h0"] = gx, dh
    return grads


def _rnn_formula_port(port, key=None):
    return lambda g, out, *inputs, **attrs: _rnn_formula(g, out, *inputs,
                                                         **attrs)[key or port]


_RNN_BPTT = (r"\delta A_t &= \delta H_t \odot \phi'(A_t),\quad \phi' = 1 - H_t^{2}"
             r" \text{ (tanh)},\ \mathbb{1}[H_t > 0] \text{ (ReLU)} \\"
             r" \delta H_{t-1} &= \frac{\partial L}{\partial Y_{t-1}}"
             r" + \left(\delta H_t \odot (1 - H_t^{2})\right) W_{hh}"
             r" = \frac{\partial L}{\partial Y_{t-1}} + \delta A_t W_{hh},\quad"
             r" \delta H_T = \frac{\partial L}{\partial Y_T}"
             r" + \frac{\partial L}{\partial h}")


def _rnn_latex(first):
    return r"\begin{aligned} " + first + r" \\ " + _RNN_BPTT + r" \end{aligned}"


@register("RNN")
class RNN(_Recurrent):
    """h' = φ(W_ih x + b_ih + W_hh h + b_hh), φ = tanh or ReLU"""

    inputs = ("x", "w_ih", "w_hh", "b_ih?", "b_hh?", "h0?")
    outputs = ("y", "h")
    attrs = {"nonlinearity": Attr("str", "tanh", choices=("tanh", "relu"))}
    formulas = {
        "x": (_rnn_latex(r"\frac{\partial L}{\partial X_t} &= \delta A_t W_{ih}"),
              _rnn_formula_port("x")),
        "w_ih": (_rnn_latex(r"\frac{\partial L}{\partial W_{ih}} &= \sum_t"
                            r" \delta A_t^{\top} X_t"), _rnn_formula_port("w_ih")),
        "w_hh": (_rnn_latex(r"\frac{\partial L}{\partial W_{hh}} &= \sum_t"
                            r" \delta A_t^{\top} H_{t-1}"), _rnn_formula_port("w_hh")),
        "b_ih": (_rnn_latex(r"\frac{\partial L}{\partial b_{ih}} &= \mathbf{1}^{\top}"
                            r" \sum_t \delta A_t"), _rnn_formula_port("b_ih", "b")),
        "b_hh": (_rnn_latex(r"\frac{\partial L}{\partial b_{hh}} &= \mathbf{1}^{\top}"
                            r" \sum_t \delta A_t"), _rnn_formula_port("b_hh", "b")),
        "h0": (_rnn_latex(r"\frac{\partial L}{\partial H_0} &= \delta A_1 W_{hh}"),
               _rnn_formula_port("h0")),
    }

    def shape(self, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, **_):
        N, T, H = _rnn_shape(self, x, w_ih, w_hh, b_ih, b_hh, [("h0", h0)])
        return (N, T, H), (N, H)

    def forward(self, ctx, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, *,
                nonlinearity="tanh"):
        N, T, F = x.shape
        H = w_hh.shape[1]
        dt = _rnn_dtype(x, w_ih, w_hh)
        buf = _rnn_buffers(ctx, "forward", (N, T, F, H, dt), xt=(T * N, F),
                           hs=(T + 1, N, H), hh=(N, H))
        xt, hs, hh = _rnn_time_major(x, buf["xt"]), buf["hs"], buf["hh"]
        # The input projection of all steps goes straight into H_1 … H_T.
        np.matmul(xt, w_ih.T, out=hs[1:].reshape(T * N, H))
        b = _rnn_bias(b_ih, b_hh, dt)
        if b is not None:
            hs[1:] += b
        _rnn_state(hs[0], h0)
        w_hh_t = w_hh.T.astype(dt, copy=False)
        for t in range(T):
            if t > 0 or h0 is not None:
                np.matmul(hs[t], w_hh_t, out=hh)
                hs[t + 1] += hh
            if nonlinearity == "tanh":
                np.tanh(hs[t + 1], out=hs[t + 1])
            else:
                np.maximum(hs[t + 1], 0, out=hs[t + 1])
        ctx.rnn = (xt, hs)
        return hs[1:].transpose(1, 0, 2).copy(), hs[T].copy()

    def vjp(self, ctx, g, out, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, *,
            nonlinearity="tanh"):
        need = _rnn_needs(ctx, (x, w_ih, w_hh, b_ih, b_hh, h0))
        if not any(need):
            return (None,) * 6
        if getattr(ctx, "rnn", None) is None:
            self.forward(ctx, x, w_ih, w_hh, b_ih, b_hh, h0, nonlinearity=nonlinearity)
        xt, hs = ctx.rnn
        gy, gh = _rnn_grads(g, 2)
        T1, N, H = hs.shape
        T, F, dt = T1 - 1, xt.shape[1], hs.dtype
        buf = _rnn_buffers(ctx, "vjp", (N, T, F, H, dt), da=(T, N, H), gx=(T * N, F))
        # φ'(A_t) of all steps at once, from the outputs; δA_t overwrites it.
        da = buf["da"]
        if nonlinearity == "tanh":
            np.multiply(hs[1:], hs[1:], out=da)
            np.subtract(1, da, out=da)
        else:
            np.greater(hs[1:], 0, out=da)
        dh = np.zeros((N, H), dt) if gh is None else np.array(gh, dtype=dt)
        w_hh = w_hh.astype(dt, copy=False)
        for t in reversed(range(T)):
            if gy is not None:
                dh += gy[:, t]
            da[t] *= dh
            if t > 0 or need[5]:
                np.matmul(da[t], w_hh, out=dh)
        grads = _rnn_weight_grads(da.reshape(T * N, H), w_ih, xt, hs, need, buf["gx"],
                                  N, T)
        return grads + (dh if need[5] else None,)


# ---- LSTM ----------------------------------------------------------------------------

def _lstm_formula(g, out, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None):
    """BPTT for the LSTM, step by step as in the LaTeX; all gradients."""
    gy, gh, gc = _rnn_grads(g, 3)
    N, T, _ = x.shape
    H = w_hh.shape[1]
    b = (0 if b_ih is None else b_ih) + (0 if b_hh is None else b_hh)
    h = np.zeros((N, H)) if h0 is None else h0
    c = np.zeros((N, H)) if c0 is None else c0
    steps = []
    for t in range(T):
        z = x[:, t] @ w_ih.T + h @ w_hh.T + b
        i, f = _sigmoid(z[:, :H]), _sigmoid(z[:, H:2 * H])
        gg, o = np.tanh(z[:, 2 * H:3 * H]), _sigmoid(z[:, 3 * H:])
        c_new = f * c + i * gg
        steps.append((h, c, i, f, gg, o, c_new))
        h, c = o * np.tanh(c_new), c_new
    grads = {"w_ih": 0.0, "w_hh": 0.0, "b": 0.0}
    gx = np.zeros(x.shape)
    dh = np.zeros((N, H)) if gh is None else np.array(gh, dtype=float)
    dc = np.zeros((N, H)) if gc is None else np.array(gc, dtype=float)
    for t in reversed(range(T)):
        h_prev, c_prev, i, f, gg, o, c = steps[t]
        if gy is not None:
            dh = dh + gy[:, t]
        dc = dc + dh * o * (1 - np.tanh(c) ** 2)
        dz = np.concatenate([dc * gg * i * (1 - i), dc * c_prev * f * (1 - f),
                             dc * i * (1 - gg**2), dh * np.tanh(c) * o * (1 - o)],
                            axis=1)
        gx[:, t] = dz @ w_ih
        grads["w_ih"] = grads["w_ih"] + dz.T @ x[:, t]
        grads["w_hh"] = grads["w_hh"] + dz.T @ h_prev
        grads["b"] = grads["b"] + dz.sum(axis=0)
        dh, dc = dz @ w_hh, dc * f
    grads.update(x=gx, h0=dh, c0=dc)
    return grads


def _lstm_formula_port(port, key=None):
    return lambda g, out, *inputs, **attrs: _lstm_formula(g, out, *inputs,
                                                          **attrs)[key or port]


_LSTM_BPTT = (r"\delta C_t &= \delta H_t \odot O_t \odot (1 - \tanh^{2} C_t)"
              r" + \delta C_{t+1} \odot F_{t+1} \\"
              r" \delta Z_t &= \left[\delta C_t \odot G_t \odot I_t (1 - I_t),\ "
              r" \delta C_t \odot C_{t-1} \odot F_t (1 - F_t),\ "
              r" \delta C_t \odot I_t \odot (1 - G_t^{2}),\ "
              r" \delta H_t \odot \tanh C_t \odot O_t (1 - O_t)\right] \\"
              r" \delta H_{t-1} &= \frac{\partial L}{\partial Y_{t-1}}"
              r" + \delta Z_t W_{hh},\quad \delta H_T = \frac{\partial L}{\partial Y_T}"
              r" + \frac{\partial L}{\partial h},\quad"
              r" \delta C_T \ni \frac{\partial L}{\partial c}")


def _lstm_latex(first):
    return r"\begin{aligned} " + first + r" \\ " + _LSTM_BPTT + r" \end{aligned}"


@register("LSTM")
class LSTM(_Recurrent):
    """c' = f⊙c + i⊙g, h' = o⊙tanh(c'); [i, f, g, o] = [σ, σ, tanh, σ](W x + b)"""

    inputs = ("x", "w_ih", "w_hh", "b_ih?", "b_hh?", "h0?", "c0?")
    outputs = ("y", "h", "c")
    batch_ports = ("x", "h0", "c0")
    n_gates = 4
    gate_names = "i, f, g, o"
    formulas = {
        "x": (_lstm_latex(r"\frac{\partial L}{\partial X_t} &= \delta Z_t W_{ih}"),
              _lstm_formula_port("x")),
        "w_ih": (_lstm_latex(r"\frac{\partial L}{\partial W_{ih}} &= \sum_t"
                             r" \delta Z_t^{\top} X_t"), _lstm_formula_port("w_ih")),
        "w_hh": (_lstm_latex(r"\frac{\partial L}{\partial W_{hh}} &= \sum_t"
                             r" \delta Z_t^{\top} H_{t-1}"),
                 _lstm_formula_port("w_hh")),
        "b_ih": (_lstm_latex(r"\frac{\partial L}{\partial b_{ih}} &= \mathbf{1}^{\top}"
                             r" \sum_t \delta Z_t"), _lstm_formula_port("b_ih", "b")),
        "b_hh": (_lstm_latex(r"\frac{\partial L}{\partial b_{hh}} &= \mathbf{1}^{\top}"
                             r" \sum_t \delta Z_t"), _lstm_formula_port("b_hh", "b")),
        "h0": (_lstm_latex(r"\frac{\partial L}{\partial H_0} &= \delta Z_1 W_{hh}"),
               _lstm_formula_port("h0")),
        "c0": (_lstm_latex(r"\frac{\partial L}{\partial C_0} &= \delta C_1 \odot F_1"),
               _lstm_formula_port("c0")),
    }

    def shape(self, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None, **_):
        N, T, H = _rnn_shape(self, x, w_ih, w_hh, b_ih, b_hh,
                             [("h0", h0), ("c0", c0)])
        return (N, T, H), (N, H), (N, H)

    def forward(self, ctx, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None,
                **_):
        N, T, F = x.shape
        H = w_hh.shape[1]
        dt = _rnn_dtype(x, w_ih, w_hh)
        buf = _rnn_buffers(ctx, "forward", (N, T, F, H, dt), xt=(T * N, F),
                           w_ih_t=(F, 4 * H), w_hh_t=(H, 4 * H), z=(T, N, 4 * H),
                           hs=(T + 1, N, H), cs=(T + 1, N, H), tc=(T, N, H),
                           zh=(N, 4 * H), tmp=(N, H))
        xt, z, hs, cs, tc = (buf[k] for k in ("xt", "z", "hs", "cs", "tc"))
        zh, tmp = buf["zh"], buf["tmp"]
        _rnn_time_major(x, xt)
        # σ(z) = ½·tanh(z/2) + ½: halve the rows of i, f, o, then one tanh per step.
        scale, offset = _rnn_sigmoid_scale(H, 4, (0, 1, 3), dt)
        w_ih_t = np.multiply(w_ih.T, scale, out=buf["w_ih_t"])
        w_hh_t = np.multiply(w_hh.T, scale, out=buf["w_hh_t"])
        np.matmul(xt, w_ih_t, out=z.reshape(T * N, 4 * H))
        b = _rnn_bias(b_ih, b_hh, dt)
        if b is not None:
            z += b * scale
        _rnn_state(hs[0], h0)
        _rnn_state(cs[0], c0)
        for t in range(T):
            a = z[t]  # becomes the gate values i, f, g, o of step t, in place
            if t > 0 or h0 is not None:
                np.matmul(hs[t], w_hh_t, out=zh)
                a += zh
            np.tanh(a, out=a)
            a *= scale
            a += offset
            i, f, gg, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            np.multiply(f, cs[t], out=cs[t + 1])
            np.multiply(i, gg, out=tmp)
            cs[t + 1] += tmp
            np.tanh(cs[t + 1], out=tc[t])
            np.multiply(o, tc[t], out=hs[t + 1])
        ctx.rnn = (xt, z, hs, cs, tc)
        y = hs[1:].transpose(1, 0, 2).copy()  # a fresh array: hs is reused
        return y, hs[T].copy(), cs[T].copy()

    def vjp(self, ctx, g, out, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None,
            **_):
        need = _rnn_needs(ctx, (x, w_ih, w_hh, b_ih, b_hh, h0, c0))
        if not any(need):
            return (None,) * 7
        if getattr(ctx, "rnn", None) is None:
            self.forward(ctx, x, w_ih, w_hh, b_ih, b_hh, h0, c0)
        xt, act, hs, cs, tc = ctx.rnn
        gy, gh, gc = _rnn_grads(g, 3)
        T, N, H4 = act.shape
        H, F, dt = H4 // 4, xt.shape[1], act.dtype
        buf = _rnn_buffers(ctx, "vjp", (N, T, F, H, dt), dz=(T, N, H4),
                           dtc=(T, N, H), tmp=(N, H), gx=(T * N, F))
        dz, dtc, tmp = buf["dz"], buf["dtc"], buf["tmp"]
        a4 = act.reshape(T, N, 4, H)
        i, f, gg, o = a4[:, :, 0], a4[:, :, 1], a4[:, :, 2], a4[:, :, 3]
        # Activation derivatives of all steps at once, as factors that the loop
        # multiplies in place: δZ_t = [δC_t, δC_t, δC_t, δH_t] ⊙ dz[t].
        dz4 = dz.reshape(T, N, 4, H)
        np.multiply(act, act, out=dz)
        np.subtract(act, dz, out=dz)  # σ' = s − s² (the g slot is redone below)
        np.multiply(gg, gg, out=dz4[:, :, 2])
        np.subtract(1, dz4[:, :, 2], out=dz4[:, :, 2])
        dz4[:, :, 0] *= gg
        dz4[:, :, 1] *= cs[:-1]
        dz4[:, :, 2] *= i
        dz4[:, :, 3] *= tc
        np.multiply(tc, tc, out=dtc)  # ∂H_t/∂C_t = O_t ⊙ (1 − tanh² C_t)
        np.subtract(1, dtc, out=dtc)
        dtc *= o
        dh = np.zeros((N, H), dt) if gh is None else np.array(gh, dtype=dt)
        dc = np.zeros((N, H), dt) if gc is None else np.array(gc, dtype=dt)
        w_hh = w_hh.astype(dt, copy=False)
        for t in reversed(range(T)):
            if gy is not None:
                dh += gy[:, t]
            np.multiply(dh, dtc[t], out=tmp)
            dc += tmp
            dz4[t, :, :3] *= dc[:, None, :]
            dz4[t, :, 3] *= dh
            dc *= f[t]
            if t > 0 or need[5]:
                np.matmul(dz[t], w_hh, out=dh)
        grads = _rnn_weight_grads(dz.reshape(T * N, H4), w_ih, xt, hs, need,
                                  buf["gx"], N, T)
        return grads + (dh if need[5] else None, dc if need[6] else None)


# ---- GRU -----------------------------------------------------------------------------

def _gru_formula(g, out, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None):
    """BPTT for the GRU, step by step as in the LaTeX; all gradients."""
    gy, gh = _rnn_grads(g, 2)
    N, T, _ = x.shape
    H = w_hh.shape[1]
    b_i = np.zeros(3 * H) if b_ih is None else b_ih
    b_h = np.zeros(3 * H) if b_hh is None else b_hh
    h = np.zeros((N, H)) if h0 is None else h0
    steps = []
    for t in range(T):
        gi = x[:, t] @ w_ih.T + b_i
        gh_ = h @ w_hh.T + b_h
        r = _sigmoid(gi[:, :H] + gh_[:, :H])
        z = _sigmoid(gi[:, H:2 * H] + gh_[:, H:2 * H])
        n = np.tanh(gi[:, 2 * H:] + r * gh_[:, 2 * H:])
        steps.append((h, r, z, n, gh_[:, 2 * H:]))
        h = (1 - z) * n + z * h
    grads = {"w_ih": 0.0, "w_hh": 0.0, "b_ih": 0.0, "b_hh": 0.0}
    gx = np.zeros(x.shape)
    dh = np.zeros((N, H)) if gh is None else np.array(gh, dtype=float)
    for t in reversed(range(T)):
        h_prev, r, z, n, hn = steps[t]
        if gy is not None:
            dh = dh + gy[:, t]
        da_n = dh * (1 - z) * (1 - n**2)
        da_z = dh * (h_prev - n) * z * (1 - z)
        da_r = da_n * hn * r * (1 - r)
        d_gi = np.concatenate([da_r, da_z, da_n], axis=1)
        d_gh = np.concatenate([da_r, da_z, da_n * r], axis=1)
        gx[:, t] = d_gi @ w_ih
        grads["w_ih"] = grads["w_ih"] + d_gi.T @ x[:, t]
        grads["w_hh"] = grads["w_hh"] + d_gh.T @ h_prev
        grads["b_ih"] = grads["b_ih"] + d_gi.sum(axis=0)
        grads["b_hh"] = grads["b_hh"] + d_gh.sum(axis=0)
        dh = dh * z + d_gh @ w_hh
    grads.update(x=gx, h0=dh)
    return grads


def _gru_formula_port(port):
    return lambda g, out, *inputs, **attrs: _gru_formula(g, out, *inputs,
                                                         **attrs)[port]


_GRU_BPTT = (r"\delta N^{a}_t &= \delta H_t \odot (1 - Z_t) \odot (1 - N_t^{2}),\quad"
             r" \delta Z^{a}_t = \delta H_t \odot (H_{t-1} - N_t) \odot Z_t (1 - Z_t),"
             r"\quad \delta R^{a}_t = \delta N^{a}_t \odot \hat N_t \odot R_t (1 - R_t)"
             r" \\ \delta A^{i}_t &= [\delta R^{a}_t, \delta Z^{a}_t, \delta N^{a}_t],"
             r"\quad \delta A^{h}_t = [\delta R^{a}_t, \delta Z^{a}_t,"
             r" \delta N^{a}_t \odot R_t],\quad \hat N_t = H_{t-1} W_{hn}^{\top}"
             r" + b_{hn} \\ \delta H_{t-1} &= \frac{\partial L}{\partial Y_{t-1}}"
             r" + \delta H_t \odot Z_t + \delta A^{h}_t W_{hh},\quad \delta H_T"
             r" = \frac{\partial L}{\partial Y_T} + \frac{\partial L}{\partial h}")


def _gru_latex(first):
    return r"\begin{aligned} " + first + r" \\ " + _GRU_BPTT + r" \end{aligned}"


@register("GRU")
class GRU(_Recurrent):
    """h' = (1−z)⊙n + z⊙h, n = tanh(W_in x + b_in + r⊙(W_hn h + b_hn)); gates r, z, n"""

    inputs = ("x", "w_ih", "w_hh", "b_ih?", "b_hh?", "h0?")
    outputs = ("y", "h")
    n_gates = 3
    gate_names = "r, z, n"
    formulas = {
        "x": (_gru_latex(r"\frac{\partial L}{\partial X_t} &= \delta A^{i}_t W_{ih}"),
              _gru_formula_port("x")),
        "w_ih": (_gru_latex(r"\frac{\partial L}{\partial W_{ih}} &= \sum_t"
                            r" (\delta A^{i}_t)^{\top} X_t"),
                 _gru_formula_port("w_ih")),
        "w_hh": (_gru_latex(r"\frac{\partial L}{\partial W_{hh}} &= \sum_t"
                            r" (\delta A^{h}_t)^{\top} H_{t-1}"),
                 _gru_formula_port("w_hh")),
        "b_ih": (_gru_latex(r"\frac{\partial L}{\partial b_{ih}} &= \mathbf{1}^{\top}"
                            r" \sum_t \delta A^{i}_t"), _gru_formula_port("b_ih")),
        "b_hh": (_gru_latex(r"\frac{\partial L}{\partial b_{hh}} &= \mathbf{1}^{\top}"
                            r" \sum_t \delta A^{h}_t"), _gru_formula_port("b_hh")),
        "h0": (_gru_latex(r"\frac{\partial L}{\partial H_0} &= \delta H_1 \odot Z_1"
                          r" + \delta A^{h}_1 W_{hh}"), _gru_formula_port("h0")),
    }

    def shape(self, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, **_):
        N, T, H = _rnn_shape(self, x, w_ih, w_hh, b_ih, b_hh, [("h0", h0)])
        return (N, T, H), (N, H)

    def forward(self, ctx, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, **_):
        N, T, F = x.shape
        H = w_hh.shape[1]
        H2 = 2 * H
        dt = _rnn_dtype(x, w_ih, w_hh)
        buf = _rnn_buffers(ctx, "forward", (N, T, F, H, dt), xt=(T * N, F),
                           w_ih_t=(F, 3 * H), w_hh_t=(H, 3 * H), act=(T, N, 3 * H),
                           hs=(T + 1, N, H), hn=(T, N, H), zh=(N, 3 * H),
                           tmp=(N, H))
        xt, act, hs, hn = (buf[k] for k in ("xt", "act", "hs", "hn"))
        zh, tmp = buf["zh"], buf["tmp"]
        _rnn_time_major(x, xt)
        # σ(z) = ½·tanh(z/2) + ½: halve the rows of r and z (not n).
        scale, _ = _rnn_sigmoid_scale(H, 3, (0, 1), dt)
        w_ih_t = np.multiply(w_ih.T, scale, out=buf["w_ih_t"])
        w_hh_t = np.multiply(w_hh.T, scale, out=buf["w_hh_t"])
        np.matmul(xt, w_ih_t, out=act.reshape(T * N, 3 * H))
        # b_hn stays inside r ⊙ (·); the r and z parts of b_hh fold into the GEMM.
        b = _rnn_bias(b_ih, b_hh, dt, n=H2)
        if b is not None:
            act += b * scale
        b_hn = None if b_hh is None else b_hh[H2:].astype(dt, copy=False)
        _rnn_state(hs[0], h0)
        for t in range(T):
            a = act[t]  # becomes r, z, n of step t, in place
            if t > 0 or h0 is not None:
                np.matmul(hs[t], w_hh_t, out=zh)
            else:
                zh.fill(0)
            if b_hn is not None:
                np.add(zh[:, H2:], b_hn, out=hn[t])
            else:
                hn[t] = zh[:, H2:]
            rz = a[:, :H2]
            rz += zh[:, :H2]
            np.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5
            n = a[:, H2:]
            np.multiply(rz[:, :H], hn[t], out=tmp)
            n += tmp
            np.tanh(n, out=n)
            # H_t = N_t + Z_t ⊙ (H_{t−1} − N_t)
            np.subtract(hs[t], n, out=tmp)
            tmp *= rz[:, H:]
            np.add(n, tmp, out=hs[t + 1])
        ctx.rnn = (xt, act, hs, hn)
        return hs[1:].transpose(1, 0, 2).copy(), hs[T].copy()

    def vjp(self, ctx, g, out, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, **_):
        need = _rnn_needs(ctx, (x, w_ih, w_hh, b_ih, b_hh, h0))
        if not any(need):
            return (None,) * 6
        if getattr(ctx, "rnn", None) is None:
            self.forward(ctx, x, w_ih, w_hh, b_ih, b_hh, h0)
        xt, act, hs, hn = ctx.rnn
        gy, gh = _rnn_grads(g, 2)
        T, N, H3 = act.shape
        H, F, dt = H3 // 3, xt.shape[1], act.dtype
        buf = _rnn_buffers(ctx, "vjp", (N, T, F, H, dt), d_gi=(T, N, 3, H),
                           d_gh=(T, N, 3, H), tmp=(N, H), gx=(T * N, F))
        d_gi, d_gh, tmp = buf["d_gi"], buf["d_gh"], buf["tmp"]
        a3 = act.reshape(T, N, 3, H)
        r, z, n = a3[:, :, 0], a3[:, :, 1], a3[:, :, 2]
        # Every pre-activation gradient of step t is δH_t times a factor known now,
        # computed for all steps here and multiplied in place by the loop:
        # δA^h_t = δH_t ⊙ d_gh[t] = δH_t ⊙ [fr, fz, fn ⊙ R_t], δA^i_t(n) = δH_t ⊙ fn.
        f_r, f_z, f_hn, f_n = d_gh[:, :, 0], d_gh[:, :, 1], d_gh[:, :, 2], d_gi[:, :, 2]
        np.subtract(1, z, out=f_z)
        f_z *= z
        np.subtract(hs[:-1], n, out=f_r)  # f_r as scratch
        f_z *= f_r
        np.multiply(n, n, out=f_n)
        np.subtract(1, f_n, out=f_n)
        np.subtract(1, z, out=f_r)
        f_n *= f_r
        np.multiply(f_n, r, out=f_hn)
        np.subtract(1, r, out=f_r)
        f_r *= r
        f_r *= hn
        f_r *= f_n
        dh = np.zeros((N, H), dt) if gh is None else np.array(gh, dtype=dt)
        w_hh = w_hh.astype(dt, copy=False)
        for t in reversed(range(T)):
            if gy is not None:
                dh += gy[:, t]
            d_gh[t] *= dh[:, None, :]
            f_n[t] *= dh
            if t > 0 or need[5]:
                np.matmul(d_gh[t].reshape(N, H3), w_hh, out=tmp)
                dh *= z[t]
                dh += tmp
        d_gi[:, :, :2] = d_gh[:, :, :2]
        grads = _rnn_weight_grads(d_gi.reshape(T * N, H3), w_ih, xt, hs, need,
                                  buf["gx"], N, T, d_gh.reshape(T * N, H3))
        return grads + (dh if need[5] else None,)
