"""Why recurrent gradients explode or vanish: the largest singular value of
``W_hh`` beside the gradient norm at every time step.

For a plain RNN, ``h_t = φ(W_ih x_t + W_hh h_{t−1} + b)``, the Jacobian from one
state to the next is ``diag(φ′(a_t)) W_hh``, and |φ′| ≤ 1 for tanh and ReLU. So
its norm is at most σ_max(W_hh): below 1, every step shrinks the gradient and
it vanishes geometrically on its way back; above 1, it may grow (it does when
the units are not saturated), and clipping the gradient norm is the remedy.
Gated cells (LSTM, GRU) add paths that the gates control (the LSTM's cell state
is carried additively), so for them σ_max of each gate's block is a hint, not a
bound.

The per-step norms ‖∂L/∂h_t‖ are exact: for each t the op's own kernels run
the steps after t from ``h_t`` (and ``c_t``) and their ``vjp`` gives the
gradient reaching that state, plus what the output at step t receives directly.
Assumes an :class:`~graphlab.symbolic.steps.Explanation` of a checked graph.
"""

from dataclasses import dataclass, field

import numpy as np

from ..ops.base import Ctx

__all__ = ["RecurrentNorms", "recurrent_norms", "spectral_verdict",
           "recurrent_norms_text"]

_GATES = {"RNN": ("",), "LSTM": ("i", "f", "g", "o"), "GRU": ("r", "z", "n")}
_PORTS = ("x", "w_ih", "w_hh", "b_ih", "b_hh", "h0", "c0")


@dataclass
class RecurrentNorms:
    """One recurrent node: σ_max of its ``W_hh`` and ‖∂L/∂h_t‖ per step.

    Attributes
    ----------
    node, op : str
    sigma : float
        Largest singular value of the whole ``W_hh`` (G·H × H).
    gate_sigmas : dict of str to float
        For LSTM and GRU: σ_max of each gate's H × H block.
    step_norms : list of float
        ‖∂L/∂h_t‖ of one example, t = 1 … T (empty when no gradient flows).
    example : int
    """

    node: str
    op: str
    sigma: float
    gate_sigmas: dict = field(default_factory=dict)
    step_norms: list = field(default_factory=list)
    example: int = 0


def spectral_verdict(sigma, op="RNN"):
    """One sentence: what σ_max(W_hh) implies for gradients through time.

    Examples
    --------
    >>> spectral_verdict(0.5)[:40]
    'σ_max(W_hh) = 0.5 < 1: each step shrinks'
    """
    hedge = "" if op == "RNN" else (" (a hint for a gated cell: its gates and, in "
                                    "an LSTM, the additive cell state change this)")
    if sigma < 1:
        return (f"σ_max(W_hh) = {sigma:.3g} < 1: each step shrinks the gradient by "
                f"at least that factor (|φ′| ≤ 1), so it vanishes over long "
                f"sequences{hedge}")
    if sigma > 1:
        return (f"σ_max(W_hh) = {sigma:.3g} > 1: gradients may explode through "
                f"time (they grow wherever the units are not saturated); clip "
                f"them (clip_norm){hedge}")
    return "σ_max(W_hh) = 1: gradients neither grow nor shrink through W_hh alone"


def _sigma(w):
    return float(np.linalg.norm(np.asarray(w, dtype=np.float64), 2))


def recurrent_norms(expl, example=0):
    """σ_max of every recurrent node's ``W_hh`` and its per-step gradient norms.

    Parameters
    ----------
    expl : Explanation
    example : int
        Which example of the batch the per-step norms follow.

    Returns
    -------
    list of RecurrentNorms
        One per RNN, LSTM or GRU node, in graph order.
    """
    t = expl.trace
    sched = t.schedule
    out = []
    for step in sched.forward:
        op = step.op
        if op.name not in _GATES:
            continue
        values = {p: (None if v is None else np.asarray(t.values[v], np.float64))
                  for p, v in zip(op.input_ports, step.inputs)}
        w_hh = values["w_hh"]
        H = w_hh.shape[1]
        gates = {}
        if op.name != "RNN":
            gates = {name: _sigma(w_hh[k * H:(k + 1) * H])
                     for k, name in enumerate(_GATES[op.name])}
        grads = [t.grads.get(v) for v in step.outputs]
        norms = []
        if any(g is not None for g in grads):
            norms = _step_norms(op, step.attrs, values, grads, example)
        out.append(RecurrentNorms(step.node, op.name, _sigma(w_hh), gates, norms,
                                  example))
    return out


def _step_norms(op, attrs, values, grads, example):
    """‖∂L/∂h_t‖, t = 1 … T, for one example, from the op's own kernels."""
    n = slice(example, example + 1)
    x = values["x"][n]
    T, H = x.shape[1], values["w_hh"].shape[1]
    weights = [values[p] for p in ("w_ih", "w_hh", "b_ih", "b_hh")]
    states = [None if values.get(p) is None else values[p][n]
              for p in ("h0", "c0")[:len(op.outputs) - 1]]
    g_y = np.zeros((1, T, H)) if grads[0] is None else np.asarray(grads[0])[n]
    g_last = [np.zeros((1, H)) if g is None else np.asarray(g)[n] for g in grads[1:]]

    def run(xs, init):
        ctx = Ctx(training=False)
        outs = op.forward(ctx, xs, *weights, *init, **attrs)
        return ctx, outs

    norms = []
    for k in range(1, T + 1):  # h_k: the state after step k
        _, outs = run(x[:, :k], states)
        state_k = [np.array(s) for s in outs[1:]]
        if k == T:
            g = g_last[0] + g_y[:, T - 1]
        else:
            ctx, outs = run(x[:, k:], state_k)
            ctx.needs_input_grad = (False,) * 5 + (True,) * len(state_k)
            got = op.vjp(ctx, (g_y[:, k:], *g_last), outs, x[:, k:], *weights,
                         *state_k, **attrs)
            g = got[5] + g_y[:, k - 1]
        norms.append(float(np.linalg.norm(g)))
    return norms


def recurrent_norms_text(rows):
    """The printout of :func:`recurrent_norms`: σ_max, its verdict, and the
    per-step norms from the last step back to the first."""
    lines = []
    for r in rows:
        lines.append(f"{r.node} ({r.op}): largest singular value of W_hh "
                     f"{r.sigma:.4g}" + ("" if not r.gate_sigmas else " (per gate: "
                     + ", ".join(f"{k} {v:.3g}" for k, v in r.gate_sigmas.items())
                     + ")"))
        lines.append("  " + spectral_verdict(r.sigma, r.op))
        if r.step_norms:
            T = len(r.step_norms)
            lines.append(f"  ‖∂L/∂h_t‖ of example {r.example}, last step first:")
            cells = [f"t={t}: {r.step_norms[t - 1]:.3g}" for t in range(T, 0, -1)]
            lines += ["    " + "  ".join(cells[i:i + 8]) for i in range(0, T, 8)]
            last, first = r.step_norms[-1], r.step_norms[0]
            if last > 0:
                lines.append(f"  ‖∂L/∂h_1‖ / ‖∂L/∂h_{T}‖ = {first / last:.3g}")
    return "\n".join(lines)
