"""Regularisation: Dropout, BatchNorm and the L1/L2 weight penalties.

Dropout and BatchNorm behave differently while training (``ctx.training``):
Dropout draws its mask from ``ctx.rng`` and BatchNorm normalises with batch
statistics and updates the running statistics in ``ctx.state``. Both save what
their ``vjp`` needs on the ``ctx`` of the same step, so ``vjp`` must be called
with the ``ctx`` its ``forward`` used.
"""

import numpy as np

from ..errors import AttrError, ExecutionError, ShapeError
from ..shapes import fmt, numel, same_dim
from .base import Attr, Op, register

__all__ = ["Dropout", "BatchNorm", "L1Penalty", "L2Penalty"]


def _scalar_grad(g, x):
    # The backward seed may arrive as a Python or float64 number; cast it so
    # that float32 tensors get float32 gradients.
    return np.asarray(g, dtype=x.dtype) if x.dtype.kind == "f" else g


# ---- dropout -------------------------------------------------------------------------

def _dropout_grad_x(g, out, x, *, p):
    # m/(1−p) ⊙ g, the mask read back from the output: kept entries are
    # non-zero wherever x is. (Where x = 0 the mask cannot be recovered from
    # x and y; the vjp uses the saved mask.)
    return g * (out != 0) / (1 - p)


@register("Dropout")
class Dropout(Op):
    """out = m ⊙ x / (1 − p) while training, m_i ~ Bernoulli(1 − p); x otherwise"""

    batching = "map"  # each replica of a cut batch draws from its own generator

    family = "regularisation"
    inputs = ("x",)
    attrs = {"p": Attr("float", 0.5, min=0.0, max=1.0,
                       doc="probability of zeroing an element, 0 ≤ p < 1")}
    formulas = {"x": (
        r"\frac{\partial L}{\partial x} = \frac{1}{1 - p}\, m \odot "
        r"\frac{\partial L}{\partial y}, \quad m_i \sim "
        r"\operatorname{Bernoulli}(1 - p)",
        _dropout_grad_x)}

    eval_formulas = {"x": (
        r"\frac{\partial L}{\partial x} = \frac{\partial L}{\partial y} "
        r"\quad \text{(not training: the identity)}",
        lambda g, out, x, *, p: g)}

    def formulas_for(self, training, state=None):
        return self.formulas if training else self.eval_formulas

    def check_attrs(self, attrs, *, node=None):
        if attrs["p"] >= 1:
            raise AttrError(f"{self.name}: attribute 'p' must be below 1 (p = 1 would "
                            f"zero every element), got {attrs['p']}", node=node)

    def shape(self, x, *, p):
        return tuple(x)

    def forward(self, ctx, x, *, p):
        if not ctx.training or p == 0:
            ctx.mask = None
            return x
        # A Ctx built without a generator still works, just unseeded.
        rng = ctx.rng if ctx.rng is not None else np.random.default_rng()
        dtype = x.dtype if x.dtype.kind == "f" else np.float64
        # The 1/(1−p) scale is folded into the saved mask: one multiply each way.
        ctx.mask = (rng.random(x.shape) >= p).astype(dtype) / (1 - p)
        return x * ctx.mask

    def vjp(self, ctx, g, out, x, *, p):
        if ctx.mask is None:
            return (g,)
        return (g * ctx.mask,)

    def macs(self, in_shapes, out_shapes, **attrs):
        return numel(out_shapes[0])


# ---- batch normalisation -------------------------------------------------------------

def _batchnorm_axes(ndim):
    """The axes statistics are taken over: all but the channel axis 1."""
    return (0,) + tuple(range(2, ndim))


def _per_channel(v, ndim):
    """A length-C vector shaped to broadcast against (N, C, ...)."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _batchnorm_grad_x(g, out, x, gamma, beta, *, momentum, eps):
    # γ / (m √(σ²_B + ε)) · (m g − Σ g − x̂ Σ g ⊙ x̂), batch statistics.
    axes = _batchnorm_axes(x.ndim)
    m = x.size // x.shape[1]
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    xhat = (x - mean) / np.sqrt(var + eps)
    scale = _per_channel(gamma, x.ndim) / (m * np.sqrt(var + eps))
    return scale * (m * g - g.sum(axis=axes, keepdims=True)
                    - xhat * (g * xhat).sum(axis=axes, keepdims=True))


def _batchnorm_xhat(x, eps):
    axes = _batchnorm_axes(x.ndim)
    mean = x.mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)


def _batchnorm_grad_gamma(g, out, x, gamma, beta, *, momentum, eps):
    # Σ_B g ⊙ x̂
    return (g * _batchnorm_xhat(x, eps)).sum(axis=_batchnorm_axes(x.ndim))


def _batchnorm_grad_beta(g, out, x, gamma, beta, *, momentum, eps):
    # Σ_B g
    return g.sum(axis=_batchnorm_axes(x.ndim))


@register("BatchNorm")
class BatchNorm(Op):
    """out = γ · (x − μ) / √(σ² + ε) + β, per channel (axis 1)"""

    family = "regularisation"
    inputs = ("x", "gamma", "beta")
    attrs = {
        "momentum": Attr("float", 0.1, min=0.0, max=1.0,
                         doc="weight of the new batch in the running statistics"),
        "eps": Attr("float", 1e-5, min=0.0, doc="added to the variance"),
    }
    formulas = {
        "x": (r"\frac{\partial L}{\partial x} = \frac{\gamma}{m \sqrt{\sigma_B^2 + "
              r"\epsilon}} \left(m \frac{\partial L}{\partial y} - \sum_{B} "
              r"\frac{\partial L}{\partial y} - \hat{x} \sum_{B} \frac{\partial L}"
              r"{\partial y} \odot \hat{x}\right)",
              _batchnorm_grad_x),
        "gamma": (r"\frac{\partial L}{\partial \gamma} = \sum_{B} \frac{\partial L}"
                  r"{\partial y} \odot \hat{x}",
                  _batchnorm_grad_gamma),
        "beta": (r"\frac{\partial L}{\partial \beta} = \sum_{B} \frac{\partial L}"
                 r"{\partial y}",
                 _batchnorm_grad_beta),
    }

    batch_mixing = "mixes the examples of the batch while training (batch statistics)"

    def formulas_for(self, training, state=None):
        """Training: the batch-statistics formulas. Evaluation: the running
        statistics in ``state`` (mean 0, variance 1 before any training) are
        constants, so the op is affine in x."""
        if training:
            return self.formulas
        state = state or {}
        mean, var = state.get("running_mean"), state.get("running_var")

        def xhat(x, eps):
            m = np.zeros(x.shape[1]) if mean is None else np.asarray(mean, float)
            v = np.ones(x.shape[1]) if var is None else np.asarray(var, float)
            shift, scale = _per_channel(m, x.ndim), _per_channel(v, x.ndim)
            return (x - shift) / np.sqrt(scale + eps)

        def grad_x(g, out, x, gamma, beta, *, momentum, eps):
            v = np.ones(x.shape[1]) if var is None else np.asarray(var, float)
            return g * _per_channel(gamma / np.sqrt(v + eps), x.ndim)

        def grad_gamma(g, out, x, gamma, beta, *, momentum, eps):
            return (g * xhat(x, eps)).sum(axis=_batchnorm_axes(x.ndim))

        return {
            "x": (r"\frac{\partial L}{\partial x} = \frac{\gamma}{\sqrt{\hat\sigma^2"
                  r" + \epsilon}} \odot \frac{\partial L}{\partial y} \quad \text{(not "
                  r"training: running statistics } \hat\mu, \hat\sigma^2 \text{)}",
                  grad_x),
            "gamma": (r"\frac{\partial L}{\partial \gamma} = \sum_{B} \frac{\partial L}"
                      r"{\partial y} \odot \frac{x - \hat\mu}{\sqrt{\hat\sigma^2 + "
                      r"\epsilon}}", grad_gamma),
            "beta": self.formulas["beta"],
        }

    def batching_for(self, attrs, training, ranks):
        # Batch statistics mix the examples; running statistics do not.
        return (None, ()) if training else ("map", ("x",))

    def shape(self, x, gamma, beta, *, momentum, eps):
        if len(x) < 2:
            raise ShapeError(f"{self.name}: x has shape {fmt(x)}, expected N×C or "
                             "N×C×… (channels on axis 1)")
        channels = x[1]
        for port, shape in (("gamma", gamma), ("beta", beta)):
            if len(shape) != 1 or not same_dim(shape[0], channels):
                raise ShapeError(f"{self.name}: {port} has shape {fmt(shape)}, "
                                 f"expected {channels} (one per channel of x, "
                                 "axis 1)")
        return tuple(x)

    def forward(self, ctx, x, gamma, beta, *, momentum, eps):
        axes = _batchnorm_axes(x.ndim)
        channels = x.shape[1]
        state = ctx.state
        if "running_mean" not in state:
            state["running_mean"] = np.zeros(channels, dtype=x.dtype)
            state["running_var"] = np.ones(channels, dtype=x.dtype)
        if ctx.training:
            m = x.size // channels
            if m < 2:
                # Known only once a batch is fed (N is symbolic until then).
                raise ExecutionError(
                    f"{self.name}: x has shape {fmt(x.shape)}, one value per channel: "
                    "training needs more than one to estimate a variance (feed a "
                    "batch of 2 or more, or evaluate)")
            mean = x.mean(axis=axes)
            var = x.var(axis=axes)  # biased: what the batch is normalised with
            # PyTorch's update: the running variance is the unbiased estimate.
            state["running_mean"] = ((1 - momentum) * state["running_mean"]
                                     + momentum * mean)
            state["running_var"] = ((1 - momentum) * state["running_var"]
                                    + momentum * var * (m / (m - 1)))
        else:
            # Stored statistics may be float64 (loaded from a file); keep x's dtype.
            mean = state["running_mean"].astype(x.dtype, copy=False)
            var = state["running_var"].astype(x.dtype, copy=False)
        inv_std = 1 / np.sqrt(var + eps)
        xhat = (x - _per_channel(mean, x.ndim)) * _per_channel(inv_std, x.ndim)
        ctx.xhat, ctx.inv_std, ctx.batch_stats = xhat, inv_std, ctx.training
        return _per_channel(gamma, x.ndim) * xhat + _per_channel(beta, x.ndim)

    def vjp(self, ctx, g, out, x, gamma, beta, *, momentum, eps):
        axes = _batchnorm_axes(x.ndim)
        xhat, inv_std = ctx.xhat, _per_channel(ctx.inv_std, x.ndim)
        dgamma = (g * xhat).sum(axis=axes)
        dbeta = g.sum(axis=axes)
        dxhat = g * _per_channel(gamma, x.ndim)
        if not ctx.batch_stats:
            # Running statistics are constants: the op is affine in x.
            return dxhat * inv_std, dgamma, dbeta
        # The batch mean and variance depend on x too: project out their
        # directions (the mean of dx̂, and its component along x̂).
        dx = inv_std * (dxhat - dxhat.mean(axis=axes, keepdims=True)
                        - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))
        return dx, dgamma, dbeta

    def macs(self, in_shapes, out_shapes, **attrs):
        # normalise (x − μ)·s and scale-shift γx̂ + β: two per element
        return 2 * numel(out_shapes[0])


# ---- penalties -----------------------------------------------------------------------

def _l1_grad_x(g, out, x, *, weight):
    # λ sign(x) ∂L/∂P
    return weight * np.sign(x) * g


def _l2_grad_x(g, out, x, *, weight):
    # λ x ∂L/∂P
    return weight * x * g


class _Penalty(Op):
    batching = "sum"  # of every example's |x| or x² (usually of a weight: no batch)
    family = "regularisation"
    inputs = ("x",)
    attrs = {"weight": Attr("float", 1.0, min=0.0, doc="λ, the penalty's strength")}

    def shape(self, x, *, weight):
        return ()

    def macs(self, in_shapes, out_shapes, **attrs):
        return numel(in_shapes[0])


@register("L1Penalty")
class L1Penalty(_Penalty):
    """out = λ · Σ |x|"""

    formulas = {"x": (r"\frac{\partial L}{\partial x} = \lambda \operatorname{sign}(x)"
                      r" \frac{\partial L}{\partial P}", _l1_grad_x)}

    def forward(self, ctx, x, *, weight):
        return np.asarray(weight * np.abs(x).sum())

    def vjp(self, ctx, g, out, x, *, weight):
        # sign(0) = 0: the subgradient PyTorch uses for |x| at 0.
        return (weight * np.sign(x) * _scalar_grad(g, x),)


@register("L2Penalty")
class L2Penalty(_Penalty):
    """out = ½ · λ · Σ x²"""

    formulas = {"x": (r"\frac{\partial L}{\partial x} = \lambda x \frac{\partial L}"
                      r"{\partial P}", _l2_grad_x)}

    def forward(self, ctx, x, *, weight):
        return np.asarray(0.5 * weight * (x * x).sum())

    def vjp(self, ctx, g, out, x, *, weight):
        return (weight * x * _scalar_grad(g, x),)
