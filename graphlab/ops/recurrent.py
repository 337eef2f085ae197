"""Recurrent layers: RNN, LSTM, GRU over batch-first sequences ``x`` (N, T, F).

Weights, biases and gate orders are PyTorch's (``torch.nn.RNN``, ``LSTM``,
``GRU`` with ``batch_first=True``, one layer, one direction), so that a model
moves between the two unchanged: ``w_ih`` is (G·H, F), ``w_hh`` is (G·H, H) and
the biases (G·H,), with G = 1, 4 (gates i, f, g, o) or 3 (gates r, z, n). The
hidden size H is read from ``w_hh``. Absent ``h0``/``c0`` mean zeros.

The kernels are fused and batched, and Python loops only over time steps. They
work feature-major (one column per example): step t's one GEMM multiplies
stacked weights ``[w_ih | b_ih + b_hh | w_hh]`` (gates reordered, sigmoid rows
scaled) by ``[x_t; 1; h_{t−1}]``, block t of a buffer whose x and ones rows are
filled once and whose h rows step t−1 writes; every gate and state of a step is
then a contiguous block. Every sigmoid is ½·tanh(z/2) + ½ with the inner ½ folded
into the weights, so that one ``np.tanh`` serves all gates of a step and nothing
overflows. The GRU keeps ``W_in x + b_in`` (all steps in one batched GEMM) apart
from ``W_hn h + b_hn``, which r multiplies. ``forward`` builds only the outputs
that ``ctx.needs_output`` asks for, and saves on ``ctx`` what backpropagation
through time needs; ``vjp`` computes the activation derivatives of all steps in
a few calls before its loop, and the gradients of all weights and biases after
it as one GEMM over all T·N columns (without step 0's h columns, zeros, when
there is no h0). Returned arrays never share memory with the scratch buffers
kept on ``ctx``.

Matrix-calculus forms (``formulas``) use batch rows (the kernels hold the same
matrices transposed): ``X_t`` (N, F), ``H_t`` (N, H), ``A_t = X_t W_ihᵀ +
H_{t−1} W_hhᵀ + 1bᵀ``. Each entry is
``port: (latex, fn)``; ``fn(g, out, *inputs, **attrs)`` transcribes the per-step
recurrences with plain loops and is tested against ``vjp``.
"""

from collections import namedtuple
from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError
from ..shapes import fmt, same_dim
from ._rnn import (frozen, rnn_bias, rnn_buffers, rnn_dtype, rnn_first_preacts,
                   rnn_grads, rnn_kept_weights, rnn_needs, rnn_output_grad,
                   rnn_param_grads, rnn_sigmoid, rnn_stack, rnn_stack_weights,
                   rnn_state, rnn_step_gemm, rnn_wanted, rnn_weight_grad,
                   rnn_weights)
from .base import Attr, Op, register

__all__ = ["RNN", "LSTM", "GRU", "Recurrence", "CellOp", "GateSplit"]


# ---- shared helpers ------------------------------------------------------------------

def _rnn_shape(op, x, w_ih, w_hh, b_ih, b_hh, states):
    """Check the shapes of a recurrent op; return ``(N, T, H)``.

    ``states`` lists ``(port, shape or None)`` for h0 (and c0).
    """
    name, G, gates = op.name, op.n_gates, ", ".join(op.recurrence.gates)
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


# ---- the time step, declared as ops of the catalog --------------------------------

CellOp = namedtuple("CellOp", "name op inputs")
CellOp.__doc__ = ("One op of a recurrent cell: ``name = op(**inputs)``, each input "
                  "naming a value bound before it (or None: left unconnected).")
GateSplit = namedtuple("GateSplit", "src gates")
GateSplit.__doc__ = ("The gate blocks of value ``src`` (N, G·H): ``src[k]`` (N, H) for "
                     "each gate ``k`` of ``gates``.")


@dataclass(eq=False, frozen=True)
class Recurrence:
    """What a recurrent op computes per time step, as ops of the catalog.

    The fused kernels compute the same step; :func:`graphlab.symbolic.unroll`
    builds its unrolled graph from ``cell``, training reads ``state`` to carry
    the state across truncated-BPTT windows, and the editor reads both.

    Attributes
    ----------
    gates : tuple of str
        The gates, in the order of the row blocks of ``w_ih``, ``w_hh`` and the
        biases (PyTorch's); empty for a single block (G = 1).
    state : dict
        ``{input port: output port}`` of the state carried from step to step.
    cell : callable
        ``cell(**attrs)`` → the step's ops in order (:class:`CellOp`,
        :class:`GateSplit`). They read ``x`` (x_t), the weights and biases by
        port name and the previous state by its output port's name (``h``,
        ``c``); binding that name again makes the new state.
    """

    gates: tuple
    state: dict
    cell: object

    @property
    def n_gates(self):
        """G, the number of row blocks of the weights."""
        return max(len(self.gates), 1)


_CELL_LINEAR = (CellOp("ih", "Linear", {"x": "x", "w": "w_ih", "b": "b_ih"}),
                CellOp("hh", "Linear", {"x": "h", "w": "w_hh", "b": "b_hh"}))


def _rnn_cell(*, nonlinearity="tanh", **_):
    """h' = φ(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)"""
    act = "Tanh" if nonlinearity == "tanh" else "ReLU"
    return _CELL_LINEAR + (CellOp("a", "Add", {"a": "ih", "b": "hh"}),
                           CellOp("h", act, {"x": "a"}))


def _lstm_cell(**_):
    """c' = f⊙c + i⊙g, h' = o⊙tanh(c')"""
    return _CELL_LINEAR + (
        CellOp("z", "Add", {"a": "ih", "b": "hh"}),
        GateSplit("z", ("i", "f", "g", "o")),
        CellOp("i", "Sigmoid", {"x": "z[i]"}), CellOp("f", "Sigmoid", {"x": "z[f]"}),
        CellOp("g", "Tanh", {"x": "z[g]"}), CellOp("o", "Sigmoid", {"x": "z[o]"}),
        CellOp("fc", "Mul", {"a": "f", "b": "c"}),
        CellOp("ig", "Mul", {"a": "i", "b": "g"}),
        CellOp("c", "Add", {"a": "fc", "b": "ig"}),
        CellOp("tc", "Tanh", {"x": "c"}),
        CellOp("h", "Mul", {"a": "o", "b": "tc"}))


def _gru_cell(**_):
    """n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn)), h' = n + z ⊙ (h − n)"""
    return _CELL_LINEAR + (
        CellOp("s", "Add", {"a": "ih", "b": "hh"}),
        GateSplit("s", ("r", "z")),  # r and z from x and h together
        CellOp("r", "Sigmoid", {"x": "s[r]"}),
        CellOp("u", "Sigmoid", {"x": "s[z]"}),
        GateSplit("ih", ("n",)), GateSplit("hh", ("n",)),
        CellOp("rhn", "Mul", {"a": "r", "b": "hh[n]"}),
        CellOp("na", "Add", {"a": "ih[n]", "b": "rhn"}),
        CellOp("n", "Tanh", {"x": "na"}),
        CellOp("d", "Sub", {"a": "h", "b": "n"}),
        CellOp("zd", "Mul", {"a": "u", "b": "d"}),
        CellOp("h", "Add", {"a": "n", "b": "zd"}))


class _Recurrent(Op):
    family = "recurrent"
    batching, batch_ports = "map", ("x", "h0")  # batch-first sequences and states
    vjp_reads_out = False  # BPTT reads what forward left on ctx
    step_calls = 2  # NumPy calls per time step of forward

    @property
    def n_gates(self):
        return self.recurrence.n_gates

    def macs(self, in_shapes, out_shapes, **_):
        x, w_hh = in_shapes[0], in_shapes[2]
        T, F = x[1], x[2]
        H = w_hh[1]
        return (T if isinstance(T, int) else 1) * self.n_gates * H * (
            (F if isinstance(F, int) else 1) + H)

    def calls(self, in_shapes, out_shapes, **_):
        # Counted, so that graphlab.parallel does not cut a batch into chunks on
        # threads for calls this small: RNN, LSTM and GRU training steps of batch
        # 64 ran 1.3–1.8× slower as two chunks of 32 than whole (BLAS on both
        # cores), every call a hand-over of the GIL.
        T = in_shapes[0][1]
        return 16 + self.step_calls * (T if isinstance(T, int) else 1)


# ---- RNN -----------------------------------------------------------------------------

def _rnn_formula(g, out, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, *,
                 nonlinearity):
    """BPTT for the Elman RNN, step by step as in the LaTeX; all gradients."""
    gy, gh = rnn_grads(g, 2)
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


def _formula_port(formula, port, key=None):
    """A port's entry of ``formulas``: that gradient of ``formula``'s result."""
    return lambda g, out, *inputs, **attrs: formula(g, out, *inputs,
                                                    **attrs)[key or port]


def _rnn_formula_port(port, key=None):
    return _formula_port(_rnn_formula, port, key)


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
    recurrence = Recurrence((), {"h0": "h"}, _rnn_cell)
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
        K = F + 1 + H
        dt = rnn_dtype(x, w_ih, w_hh)
        buf = rnn_buffers(ctx, "forward", (N, T, F, H, dt), w=(H, K),
                           xh=(T + 1, K, N))
        xh = rnn_stack(x, h0, buf["xh"])
        w = rnn_kept_weights(ctx, buf["w"], w_ih, w_hh, b_ih, b_hh)
        if w is None and T == 1 and not frozen(w_ih, w_hh, b_ih, b_hh):
            rnn_first_preacts(xh[1, F + 1:], w_ih, w_hh, b_ih, b_hh, xh[0],
                              ((0, 0, H, 1.0),), h0 is not None)
        elif w is None:
            w = rnn_weights(ctx, buf["w"], w_ih, w_hh, b_ih, b_hh, ((0, 0, H, 1.0),),
                            dt)
        for t in range(T):
            h = xh[t + 1, F + 1:]  # A_t, then H_t in place
            if w is not None:  # (else step 0 is done above)
                rnn_step_gemm(w, xh[t], F + 1, t > 0 or h0 is not None, h)
            if nonlinearity == "tanh":
                np.tanh(h, out=h)
            else:
                np.maximum(h, 0, out=h)
        ctx.rnn = (xh,)
        want = rnn_wanted(ctx, 2)  # fresh arrays: the buffers are reused
        return (xh[1:, F + 1:].transpose(2, 0, 1).copy() if want[0] else None,
                xh[T, F + 1:].T.copy() if want[1] else None)

    def vjp(self, ctx, g, out, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, *,
            nonlinearity="tanh"):
        need = rnn_needs(ctx, (x, w_ih, w_hh, b_ih, b_hh, h0))
        if not any(need):
            return (None,) * 6
        if getattr(ctx, "rnn", None) is None:
            self.forward(ctx, x, w_ih, w_hh, b_ih, b_hh, h0, nonlinearity=nonlinearity)
        xh, = ctx.rnn
        gy, gh = rnn_grads(g, 2)
        T1, K, N = xh.shape
        H, dt = w_hh.shape[1], xh.dtype
        T, F = T1 - 1, K - 1 - H
        buf = rnn_buffers(ctx, "vjp", (N, T, F, H, dt), da=(T, H, N), gy=(T, H, N),
                           dh=(H, N), dzt=(H, T, N), xht=(T, N, K))
        da, dh = buf["da"], buf["dh"]
        # φ'(A_t) of all steps at once, from the outputs; δA_t overwrites it.
        hs = xh[1:, F + 1:]
        if nonlinearity == "tanh":
            np.multiply(hs, hs, out=da)
            np.subtract(1, da, out=da)
        else:
            np.greater(hs, 0, out=da)
        gy = rnn_output_grad(gy, buf["gy"])
        rnn_state(dh, gh)
        w_hh_t = w_hh.T.astype(dt, copy=False)
        for t in reversed(range(T)):
            if gy is not None:
                dh += gy[t]
            da[t] *= dh
            if t > 0 or need[5]:
                np.matmul(w_hh_t, da[t], out=dh)
        return rnn_param_grads(da, w_ih, xh, buf, need, h0 is None, dt) + (
            dh.T.copy() if need[5] else None,)


# ---- LSTM ----------------------------------------------------------------------------

def _lstm_formula(g, out, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None):
    """BPTT for the LSTM, step by step as in the LaTeX; all gradients."""
    gy, gh, gc = rnn_grads(g, 3)
    N, T, _ = x.shape
    H = w_hh.shape[1]
    b = (0 if b_ih is None else b_ih) + (0 if b_hh is None else b_hh)
    h = np.zeros((N, H)) if h0 is None else h0
    c = np.zeros((N, H)) if c0 is None else c0
    steps = []
    for t in range(T):
        z = x[:, t] @ w_ih.T + h @ w_hh.T + b
        i, f = rnn_sigmoid(z[:, :H]), rnn_sigmoid(z[:, H:2 * H])
        gg, o = np.tanh(z[:, 2 * H:3 * H]), rnn_sigmoid(z[:, 3 * H:])
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
    return _formula_port(_lstm_formula, port, key)


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


def _lstm_runs(H):
    """Rows of the LSTM's stacked weights: gates i, f, o (sigmoids, halved) and
    then g, so that the three sigmoids are one block of each step's gates."""
    return ((0, 0, 2 * H, 0.5), (2 * H, 3 * H, H, 0.5), (3 * H, 2 * H, H, 1.0))


@register("LSTM")
class LSTM(_Recurrent):
    """c' = f⊙c + i⊙g, h' = o⊙tanh(c'); [i, f, g, o] = [σ, σ, tanh, σ](W x + b)"""

    inputs = ("x", "w_ih", "w_hh", "b_ih?", "b_hh?", "h0?", "c0?")
    outputs = ("y", "h", "c")
    batch_ports = ("x", "h0", "c0")
    recurrence = Recurrence(("i", "f", "g", "o"), {"h0": "h", "c0": "c"}, _lstm_cell)
    step_calls = 8
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
        H2, H3, H4, K = 2 * H, 3 * H, 4 * H, F + 1 + H
        dt = rnn_dtype(x, w_ih, w_hh)
        buf = rnn_buffers(ctx, "forward", (N, T, F, H, dt), w=(H4, K),
                           xh=(T + 1, K, N), z=(T + 1, 5 * H, N), p=(T, H2, N),
                           tc=(T, H, N))
        z, p, tc = buf["z"], buf["p"], buf["tc"]
        xh = rnn_stack(x, h0, buf["xh"])
        w = rnn_kept_weights(ctx, buf["w"], w_ih, w_hh, b_ih, b_hh)
        if w is None and T == 1 and not frozen(w_ih, w_hh, b_ih, b_hh):
            rnn_first_preacts(z[0, :H4], w_ih, w_hh, b_ih, b_hh, xh[0], _lstm_runs(H),
                              h0 is not None)
        elif w is None:
            w = rnn_weights(ctx, buf["w"], w_ih, w_hh, b_ih, b_hh, _lstm_runs(H), dt)
        # z[t] holds the gates I, F, O, G of step t, then C_{t−1}: so that
        # p[t] = [I ⊙ G, F ⊙ C_{t−1}] is one call on adjacent blocks (and kept:
        # backpropagation reuses both products).
        rnn_state(z[0, H4:], c0)
        for t in range(T):
            a = z[t, :H4]
            if w is not None:  # (else step 0 is done above)
                rnn_step_gemm(w, xh[t], F + 1, t > 0 or h0 is not None, a)
            np.tanh(a, out=a)
            s = a[:H3]  # σ(z) = ½·tanh(z/2) + ½ (the ½ inside is in w)
            s *= 0.5
            s += 0.5
            np.multiply(a[:H2], z[t, H3:], out=p[t])
            np.add(p[t, :H], p[t, H:], out=z[t + 1, H4:])
            np.tanh(z[t + 1, H4:], out=tc[t])
            np.multiply(a[H2:H3], tc[t], out=xh[t + 1, F + 1:])
        ctx.rnn = (xh, z, p, tc)
        want = rnn_wanted(ctx, 3)  # fresh arrays: the buffers are reused
        return (xh[1:, F + 1:].transpose(2, 0, 1).copy() if want[0] else None,
                xh[T, F + 1:].T.copy() if want[1] else None,
                z[T, H4:].T.copy() if want[2] else None)

    def vjp(self, ctx, g, out, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None,
            **_):
        need = rnn_needs(ctx, (x, w_ih, w_hh, b_ih, b_hh, h0, c0))
        if not any(need):
            return (None,) * 7
        if getattr(ctx, "rnn", None) is None:
            self.forward(ctx, x, w_ih, w_hh, b_ih, b_hh, h0, c0)
        xh, z, p, tc = ctx.rnn
        gy, gh, gc = rnn_grads(g, 3)
        T, H, N = tc.shape
        K, dt = xh.shape[1], z.dtype
        H2, H3, H4, F = 2 * H, 3 * H, 4 * H, K - 1 - H
        buf = rnn_buffers(ctx, "vjp", (N, T, F, H, dt), dz=(T, H4, N),
                           fq=(T, H2, N), gy=(T, H, N), dd=(H2, N), tmp=(H2, N),
                           dzt=(H4, T, N), xht=(T, N, K))
        dz, fq, dd, tmp = buf["dz"], buf["fq"], buf["dd"], buf["tmp"]
        i, f, o, gg = (z[:T, k * H:(k + 1) * H] for k in range(4))
        hs = xh[1:, F + 1:]  # H_t = O_t ⊙ tanh C_t
        # Activation derivatives of all steps at once (a few calls on big blocks),
        # as factors that the loop multiplies in place: δZ_t = [δC_t, δC_t, δC_t,
        # δH_t] ⊙ dz[t], in PyTorch's gate order i, f, g, o (rows of w_ih, w_hh).
        # From the products p = [I ⊙ G, F ⊙ C_{t−1}] and H_t = O_t ⊙ tanh C_t:
        # G ⊙ I(1 − I) = IG − IG ⊙ I, C_{t−1} ⊙ F(1 − F) = FC − FC ⊙ F,
        # I(1 − G²) = I − IG ⊙ G, tanh C ⊙ O(1 − O) = H − H ⊙ O.
        d_if, d_g, d_o = dz[:, :H2], dz[:, H2:H3], dz[:, H3:]
        np.multiply(p, z[:T, :H2], out=d_if)
        np.subtract(p, d_if, out=d_if)
        np.multiply(p[:, :H], gg, out=d_g)
        np.subtract(i, d_g, out=d_g)
        np.multiply(hs, o, out=d_o)
        np.subtract(hs, d_o, out=d_o)
        # δC_t = δC_{t+1} ⊙ F_{t+1} + δH_t ⊙ Q_t, Q_t = ∂H_t/∂C_t = O_t(1 − tanh² C_t)
        # = O_t − H_t ⊙ tanh C_t: one product of [δC, δH] and fq[t] = [F_{t+1}, Q_t]
        # (F_{T+1} = 1), then one sum.
        q = fq[:, H:]
        np.multiply(hs, tc, out=q)
        np.subtract(o, q, out=q)
        np.copyto(fq[:-1, :H], f[1:])
        fq[-1, :H] = 1
        gy = rnn_output_grad(gy, buf["gy"])
        dc, dh = dd[:H], dd[H:]
        rnn_state(dh, gh)
        rnn_state(dc, gc)
        w_hh_t = w_hh.T.astype(dt, copy=False)
        for t in reversed(range(T)):
            if gy is not None:
                dh += gy[t]
            np.multiply(dd, fq[t], out=tmp)
            np.add(tmp[:H], tmp[H:], out=dc)
            d_ifg = dz[t, :H3].reshape(3, H, N)
            d_ifg *= dc
            dz[t, H3:] *= dh
            if t > 0 or need[5]:
                np.matmul(w_hh_t, dz[t], out=dh)
        return rnn_param_grads(dz, w_ih, xh, buf, need, h0 is None, dt) + (
            dh.T.copy() if need[5] else None, (dc * f[0]).T.copy() if need[6] else None)


# ---- GRU -----------------------------------------------------------------------------

def _gru_formula(g, out, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None):
    """BPTT for the GRU, step by step as in the LaTeX; all gradients."""
    gy, gh = rnn_grads(g, 2)
    N, T, _ = x.shape
    H = w_hh.shape[1]
    b_i = np.zeros(3 * H) if b_ih is None else b_ih
    b_h = np.zeros(3 * H) if b_hh is None else b_hh
    h = np.zeros((N, H)) if h0 is None else h0
    steps = []
    for t in range(T):
        gi = x[:, t] @ w_ih.T + b_i
        gh_ = h @ w_hh.T + b_h
        r = rnn_sigmoid(gi[:, :H] + gh_[:, :H])
        z = rnn_sigmoid(gi[:, H:2 * H] + gh_[:, H:2 * H])
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
    return _formula_port(_gru_formula, port)


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


def _gru_n_bias(out, b):
    """The n part of a GRU bias (zeros when absent) into ``out``."""
    if b is None:
        out.fill(0)
    else:
        np.copyto(out, b[2 * out.shape[0]:])


@register("GRU")
class GRU(_Recurrent):
    """h' = (1−z)⊙n + z⊙h, n = tanh(W_in x + b_in + r⊙(W_hn h + b_hn)); gates r, z, n"""

    inputs = ("x", "w_ih", "w_hh", "b_ih?", "b_hh?", "h0?")
    outputs = ("y", "h")
    recurrence = Recurrence(("r", "z", "n"), {"h0": "h"}, _gru_cell)
    step_calls = 10
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
        H2, K = 2 * H, F + 1 + H
        dt = rnn_dtype(x, w_ih, w_hh)
        buf = rnn_buffers(ctx, "forward", (N, T, F, H, dt), w=(3 * H, K),
                           w_n=(H, F + 1), xh=(T + 1, K, N), act=(T, 3 * H, N),
                           nx=(T, H, N), ns=(T, H, N), zd=(T, H, N))
        act, ns, zd = buf["act"], buf["ns"], buf["zd"]
        # Rows r, z (halved: σ(z) = ½·tanh(z/2) + ½) take x, h and b_ih + b_hh;
        # rows n only h and b_hn, as W_hn h + b_hn is multiplied by r before
        # W_in x + b_in (w_n, all steps in one batched GEMM) is added.
        b = rnn_bias(b_ih, b_hh, dt, n=H2)
        w = buf["w"]
        rnn_stack_weights(w[:H2], w_ih, w_hh, b, ((0, 0, H2, 0.5),))
        w[H2:, :F] = 0
        _gru_n_bias(w[H2:, F], b_hh)
        np.copyto(w[H2:, F + 1:], w_hh[H2:])
        w_n = buf["w_n"]
        np.copyto(w_n[:, :F], w_ih[H2:])
        _gru_n_bias(w_n[:, F], b_ih)
        xh = rnn_stack(x, h0, buf["xh"])
        nx = np.matmul(w_n, xh[:T, :F + 1], out=buf["nx"])
        for t in range(T):
            a = act[t]  # becomes R_t, Z_t, then Ĥn_t = H_{t−1} W_hnᵀ + b_hn
            rnn_step_gemm(w, xh[t], F + 1, t > 0 or h0 is not None, a)
            rz = a[:H2]
            np.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5
            r, z, hn, n = a[:H], a[H:H2], a[H2:], ns[t]
            np.multiply(r, hn, out=n)
            n += nx[t]
            np.tanh(n, out=n)
            # H_t = N_t + Z_t ⊙ (H_{t−1} − N_t), the product kept for BPTT
            np.subtract(xh[t, F + 1:], n, out=zd[t])
            zd[t] *= z
            np.add(n, zd[t], out=xh[t + 1, F + 1:])
        ctx.rnn = (xh, act, ns, zd)
        want = rnn_wanted(ctx, 2)  # fresh arrays: the buffers are reused
        return (xh[1:, F + 1:].transpose(2, 0, 1).copy() if want[0] else None,
                xh[T, F + 1:].T.copy() if want[1] else None)

    def vjp(self, ctx, g, out, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, **_):
        need = rnn_needs(ctx, (x, w_ih, w_hh, b_ih, b_hh, h0))
        if not any(need):
            return (None,) * 6
        if getattr(ctx, "rnn", None) is None:
            self.forward(ctx, x, w_ih, w_hh, b_ih, b_hh, h0)
        xh, act, ns, zd = ctx.rnn
        gy, gh = rnn_grads(g, 2)
        T, H3, N = act.shape
        K, dt = xh.shape[1], act.dtype
        H = H3 // 3
        H2, F = 2 * H, K - 1 - H
        buf = rnn_buffers(ctx, "vjp", (N, T, F, H, dt), fac=(T, H3, N),
                           f_n=(T, H, N), dhs=(T + 1, H, N), gy=(T, H, N),
                           tmp=(H, N), dzt=(H3, T, N), xht=(T, N, K),
                           dnt=(H, T, N))
        fac, f_n, dhs, tmp = buf["fac"], buf["f_n"], buf["dhs"], buf["tmp"]
        r, z, hn = act[:, :H], act[:, H:H2], act[:, H2:]
        f_r, f_z, f_hn = fac[:, :H], fac[:, H:H2], fac[:, H2:]
        # Every pre-activation gradient of step t is δH_t times a factor known now,
        # computed for all steps here and multiplied in place by the loop:
        # δA^h_t = δH_t ⊙ fac[t] = δH_t ⊙ [f_r, f_z, f_n ⊙ R_t], δA^i_t(n) = δH_t ⊙ f_n.
        np.subtract(1, z, out=f_n)
        np.multiply(zd, f_n, out=f_z)  # Z(1 − Z)(H_{t−1} − N)
        np.multiply(ns, ns, out=f_hn)  # (1 − Z)(1 − N²)
        np.subtract(1, f_hn, out=f_hn)
        f_n *= f_hn
        np.multiply(f_n, r, out=f_hn)
        np.subtract(1, r, out=f_r)  # R(1 − R) Ĥn f_n = (1 − R) Ĥn (f_n ⊙ R)
        f_r *= hn
        f_r *= f_hn
        gy = rnn_output_grad(gy, buf["gy"])
        rnn_state(dhs[T], gh)
        w_hh_t = w_hh.T.astype(dt, copy=False)
        for t in reversed(range(T)):
            dh = dhs[t + 1]  # δH_t: all steps' are kept for δA^i_t(n) below
            if gy is not None:
                dh += gy[t]
            d = fac[t].reshape(3, H, N)
            d *= dh
            if t > 0 or need[5]:
                np.matmul(w_hh_t, fac[t], out=tmp)
                np.multiply(dh, z[t], out=dhs[t])
                dhs[t] += tmp
        f_n *= dhs[1:]
        gx = None
        if need[0]:
            gx = np.matmul(w_ih[:H2].T.astype(dt, copy=False), fac[:, :H2])
            gx += np.matmul(w_ih[H2:].T.astype(dt, copy=False), f_n)
            gx = gx.transpose(2, 0, 1).copy()
        grads = (None,) * 4
        if any(need[1:5]):
            # w_hh, b_hh and the r, z rows of w_ih, b_ih from the stacked weights;
            # the n rows of w_ih, b_ih from δA^i(n) and the x and bias columns.
            gw = rnn_weight_grad(fac, xh, buf, F + 1, h0 is None)
            xht = buf["xht"].reshape(T * N, K)[:, :F + 1]
            dnt = buf["dnt"]
            np.copyto(dnt, f_n.transpose(1, 0, 2))
            gw_n = dnt.reshape(H, T * N) @ xht
            gw_ih = np.concatenate([gw[:H2, :F], gw_n[:, :F]]) if need[1] else None
            gb_ih = np.concatenate([gw[:H2, F], gw_n[:, F]]) if need[3] else None
            grads = (gw_ih, gw[:, F + 1:] if need[2] else None, gb_ih,
                     gw[:, F].copy() if need[4] else None)
        return (gx,) + grads + (dhs[0].T.copy() if need[5] else None,)
