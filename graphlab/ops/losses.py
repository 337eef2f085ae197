"""Losses: MSE, cross-entropy, Kullback–Leibler and Jensen–Shannon divergence.

Every loss returns a scalar (shape ``()``) of its input's float dtype. Their
``formulas`` give ∂L/∂input for the loss as the graph's L (so ∂L/∂L = 1); the
NumPy transcriptions multiply by the upstream gradient ``g`` as well, so that a
loss can also sit inside a larger objective.

CrossEntropyLoss takes logits ``(N, C)``, ``(C,)``, or ``(N, T, C)`` with
targets ``(N, T)``: a sequence's class axis is the last (PyTorch's
``cross_entropy`` wants it second), and the mean runs over every position of
every sequence, as PyTorch's does over ``(N, C, T)``.

Divergences take distributions along the last axis and average over the
others (the batch), with 0·log 0 = 0.
"""

import numpy as np

from ..errors import ExecutionError, ShapeError
from ..shapes import fmt, numel, same_dim
from .activations import softmax
from .base import Op, register

__all__ = ["MSELoss", "CrossEntropyLoss", "KLDivLoss", "JSDivLoss"]


class _Loss(Op):
    family = "losses"
    batching = "mean"  # every loss here is a mean over the batch

    def macs(self, in_shapes, out_shapes, **attrs):
        return numel(in_shapes[0])


def _scalar_grad(g, x):
    # The backward seed may arrive as a Python or float64 number; cast it so
    # that float32 inputs get float32 gradients.
    return np.asarray(g, dtype=x.dtype) if x.dtype.kind == "f" else g


def _same_shape(op, first, second, a, b):
    """Check that port ``second`` (shape ``b``) has the shape of ``first`` (``a``)."""
    if len(a) != len(b) or not all(same_dim(i, j) for i, j in zip(a, b)):
        raise ShapeError(f"{op}: {second} has shape {fmt(b)}, expected {fmt(a)} (the "
                         f"shape of {first})")


# ---- regression ----------------------------------------------------------------------

def _mse_grad_pred(g, out, pred, target):
    # (2/n)(ŷ − y)
    return 2 / pred.size * (pred - target) * g


def _mse_grad_target(g, out, pred, target):
    # −(2/n)(ŷ − y)
    return -2 / pred.size * (pred - target) * g


@register("MSELoss")
class MSELoss(_Loss):
    """out = (1/n) Σ (pred − target)²"""

    inputs = ("pred", "target")
    formulas = {
        "pred": (r"\frac{\partial L}{\partial \hat{y}} = \frac{2}{n} \left(\hat{y} - "
                 r"y\right)", _mse_grad_pred),
        "target": (r"\frac{\partial L}{\partial y} = -\frac{2}{n} \left(\hat{y} - "
                   r"y\right)", _mse_grad_target),
    }

    def shape(self, pred, target):
        # No broadcasting: pred N×1 against target N would silently give an
        # N×N mean (PyTorch warns about exactly this).
        _same_shape(self.name, "pred", "target", pred, target)
        return ()

    def forward(self, ctx, pred, target):
        d = pred - target
        return np.asarray((d * d).mean())

    def vjp(self, ctx, g, out, pred, target):
        d = (pred - target) * (2 / pred.size * _scalar_grad(g, pred))
        return d, -d


# ---- classification ------------------------------------------------------------------

def _ce_labels(target, classes, name):
    """Class indices as int64; raise ``ExecutionError`` for non-classes."""
    t = np.asarray(target)
    if t.dtype.kind == "f":
        # Labels fed through a float Input still work if they are whole numbers.
        if not np.all(np.mod(t, 1) == 0):
            raise ExecutionError(f"{name}: target holds non-integer values; it must "
                                 "hold class indices 0 … C−1")
        t = t.astype(np.int64)
    elif t.dtype.kind not in "iu":
        raise ExecutionError(f"{name}: target has dtype {t.dtype}, expected integer "
                             "class indices")
    if t.size and (t.min() < 0 or t.max() >= classes):
        bad = (t < 0) | (t >= classes)
        raise ExecutionError(f"{name}: target holds class {int(t[bad].flat[0])}, but "
                             f"logits have {classes} classes (0 … {classes - 1})")
    return t


def _cross_entropy_grad_logits(g, out, logits, target):
    # (1/N)(softmax(z) − onehot(y)), N rows (N·T rows for sequences)
    z = np.reshape(logits, (-1, np.shape(logits)[-1]))
    onehot = np.eye(z.shape[1], dtype=z.dtype)[np.ravel(target).astype(np.int64)]
    return ((softmax(z) - onehot) / z.shape[0] * g).reshape(np.shape(logits))


@register("CrossEntropyLoss")
class CrossEntropyLoss(_Loss):
    """out = (1/N) Σ_n (log Σ_c e^{z_nc} − z_{n,y_n}), n over every row (N or N·T)"""

    inputs = ("logits", "target")
    nondiff = ("target",)
    formulas = {"logits": (
        r"\frac{\partial L}{\partial z} = \frac{1}{N}\left(\operatorname{softmax}(z) - "
        r"\operatorname{onehot}(y)\right)",
        _cross_entropy_grad_logits)}

    def shape(self, logits, target):
        if len(logits) == 2:
            want, what = (logits[0],), "one class index per row of logits"
        elif len(logits) == 1:
            want, what = (), "one class index for the single row of logits"
        elif len(logits) == 3:
            want, what = tuple(logits[:2]), "one class index per position: N×T"
        else:
            raise ShapeError(f"{self.name}: logits has shape {fmt(logits)}, expected "
                             "N×C (a batch of rows of class scores), C, or N×T×C "
                             "(sequences, classes last)")
        if len(target) != len(want) or not all(map(same_dim, target, want)):
            raise ShapeError(f"{self.name}: target has shape {fmt(target)}, expected "
                             f"{fmt(want)} ({what})")
        return ()

    def forward(self, ctx, logits, target):
        z = logits.reshape(-1, logits.shape[-1])
        y = _ce_labels(target, z.shape[1], self.name).reshape(-1)
        m = z.max(axis=1, keepdims=True)
        # log Σ e^z = m + log Σ e^(z − m): every exponent ≤ 0, no overflow.
        e = np.subtract(z, m)
        np.exp(e, out=e)
        s = e.sum(axis=1)
        rows = np.arange(len(y))
        # Kept for the vjp, whose softmax is e / s (a small batch's step spends
        # more on NumPy calls than on arithmetic).
        ctx.ce_saved = (logits, target, e, s, y, rows)
        lse = np.log(s)
        lse += m[:, 0]
        lse -= z[rows, y]
        return np.asarray(lse.sum() / len(y), dtype=lse.dtype)

    def vjp(self, ctx, g, out, logits, target):
        saved = getattr(ctx, "ce_saved", None)
        if saved is None or saved[0] is not logits or saved[1] is not target:
            self.forward(ctx, logits, target)  # a vjp without its forward
            saved = ctx.ce_saved
        _, _, e, s, y, rows = saved
        ctx.ce_saved = None
        dz = e / s[:, None]  # softmax(z)
        dz[rows, y] -= 1
        dz *= _scalar_grad(g, dz) / len(y)
        return dz.reshape(logits.shape), None


# ---- divergences ---------------------------------------------------------------------

def _divergence_shape(op, p, q):
    if len(p) == 0:
        raise ShapeError(f"{op}: p is a scalar, expected distributions along the last "
                         "axis (C or N×C)")
    _same_shape(op, "p", "q", p, q)
    return ()


def _xlogy_ratio(x, y):
    """x·log(x/y) elementwise, 0 where x = 0 (even if y = 0)."""
    # Where x = 0 take log 1 − log 1 = 0: no log 0 warning, no 0·∞ NaN. A
    # negative x still gives NaN, flagging input that is not a distribution.
    nz = x != 0
    return x * (np.log(np.where(nz, x, 1)) - np.log(np.where(nz, y, 1)))


def _rows(p):
    """Number of distributions (rows): all axes but the last."""
    return p.size // p.shape[-1]


def _kl_grad_p(g, out, p, q):
    # (1/B)(log p − log q + 1)
    return (np.log(p) - np.log(q) + 1) / _rows(p) * g


def _kl_grad_q(g, out, p, q):
    # −(1/B) p/q
    return -(p / q) / _rows(p) * g


@register("KLDivLoss")
class KLDivLoss(_Loss):
    """out = mean over rows of Σ p·log(p/q) along the last axis"""

    inputs = ("p", "q")
    formulas = {
        "p": (r"\frac{\partial L}{\partial p} = \frac{1}{B}\left(\log p - \log q + 1"
              r"\right)", _kl_grad_p),
        "q": (r"\frac{\partial L}{\partial q} = -\frac{1}{B} \frac{p}{q}", _kl_grad_q),
    }

    def shape(self, p, q):
        return _divergence_shape(self.name, p, q)

    def forward(self, ctx, p, q):
        return np.asarray(_xlogy_ratio(p, q).sum(axis=-1).mean())

    def vjp(self, ctx, g, out, p, q):
        s = _scalar_grad(g, p) / _rows(p)
        nz = p != 0
        # Where p = 0 the term is the constant 0 (0·log 0 = 0): no gradient to
        # either input, as PyTorch's kl_div masks it.
        p1, q1 = np.where(nz, p, 1), np.where(nz, q, 1)
        dp = np.where(nz, (np.log(p1) - np.log(q1) + 1) * s, 0)
        dq = np.where(nz, -(p1 / q1) * s, 0)
        return dp, dq


def _js_grad_p(g, out, p, q):
    # (1/2B) log(p/m)
    return np.log(p / ((p + q) / 2)) / (2 * _rows(p)) * g


def _js_grad_q(g, out, p, q):
    # (1/2B) log(q/m)
    return np.log(q / ((p + q) / 2)) / (2 * _rows(p)) * g


@register("JSDivLoss")
class JSDivLoss(_Loss):
    """out = ½ KL(p‖m) + ½ KL(q‖m), m = (p + q)/2, averaged over rows"""

    inputs = ("p", "q")
    formulas = {
        "p": (r"\frac{\partial L}{\partial p} = \frac{1}{2B} \log\frac{p}{m}, \quad "
              r"m = \tfrac{1}{2}(p + q)", _js_grad_p),
        "q": (r"\frac{\partial L}{\partial q} = \frac{1}{2B} \log\frac{q}{m}, \quad "
              r"m = \tfrac{1}{2}(p + q)", _js_grad_q),
    }

    def shape(self, p, q):
        return _divergence_shape(self.name, p, q)

    def forward(self, ctx, p, q):
        m = (p + q) / 2
        per_row = (_xlogy_ratio(p, m) + _xlogy_ratio(q, m)).sum(axis=-1) / 2
        return np.asarray(per_row.mean())

    def vjp(self, ctx, g, out, p, q):
        # ∂/∂p of ½[p log(p/m) + q log(q/m)] is ½ log(p/m): the +1 from p·log p
        # cancels the −(p + q)/(2m) = −1 that m's dependence on p contributes.
        s = _scalar_grad(g, p) / (2 * _rows(p))
        m = (p + q) / 2
        return _js_half_grad(p, m) * s, _js_half_grad(q, m) * s


def _js_half_grad(x, m):
    # log(x/m), 0 where x = 0 (the 0·log 0 term is a constant, as in KLDivLoss).
    nz = x != 0
    return np.log(np.where(nz, x, 1)) - np.log(np.where(nz, m, 1))
