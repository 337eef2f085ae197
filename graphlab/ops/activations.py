"""Activations: elementwise nonlinearities, softmax and maxout.

The elementwise ops declare a scalar SymPy form, a ``template`` and
``vjp_templates``; Softmax, LogSoftmax and Maxout act along an axis and
declare ``formulas`` instead: the matrix-calculus form of their gradient with a
literal NumPy transcription that the tests check against ``vjp``.

The kernels are stable at any finite input: no overflow at ±1000. Values far
below the largest one still underflow to 0 (e^−2000 has no float), silently
under NumPy's default error state, as they do in PyTorch.

``sigmoid``, ``softmax`` and ``log_softmax`` are exported as plain NumPy
functions for other families (losses, recurrent cells).
"""

import numpy as np
import sympy as sp

from ..errors import ShapeError
from ..shapes import fmt, numel
from ._sympy import number, sigma
from .base import Attr, Op, along_axis_batching, register

__all__ = ["Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "Softmax", "LogSoftmax",
           "Maxout", "sigmoid", "softmax", "log_softmax"]


# ---- kernels shared with other families ----------------------------------------------

def sigmoid(x, out=None):
    """σ(x) = 1 / (1 + e^(−x)), elementwise, without overflow; into ``out`` if
    given (it may be ``x``: the fused kernels apply it in place).

    Computed as 1/(1 + e^(−|x|)) for x ≥ 0 and e^(−|x|)/(1 + e^(−|x|)) below,
    so that the exponential is at most 1 and small values keep their relative
    precision (σ(−40) ≈ 4.2e−18, not 0). Keeps ``x``'s float dtype.

    Examples
    --------
    >>> sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    array([0. , 0.5, 1. ])

    See also
    --------
    Sigmoid : the op, whose template is this expression written out.
    """
    e = np.exp(-np.abs(x))
    # max(e, x ≥ 0) is where(x ≥ 0, 1, e) (as 0 < e ≤ 1), bit for bit, NaN
    # included, without np.where's branches on a random mask (4× faster).
    return np.divide(np.maximum(e, x >= 0), 1 + e, out=out)


def softmax(x, axis=-1):
    """e^x / Σ e^x along ``axis``, shifted by the maximum so that every exp ≤ 1.

    Examples
    --------
    >>> softmax(np.array([[1000.0, 1000.0, -1000.0]]))
    array([[0.5, 0.5, 0. ]])
    """
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """x − log Σ e^x along ``axis``, via the shifted log-sum-exp.

    Examples
    --------
    >>> log_softmax(np.array([0.0, -1000.0]))
    array([    0., -1000.])
    """
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


# ---- elementwise ---------------------------------------------------------------------

class _Unary(Op):
    family = "activations"
    inputs = ("x",)
    elementwise = True
    batching = "map"

    def shape(self, x, **_):
        return tuple(x)

    def macs(self, in_shapes, out_shapes, **attrs):
        return numel(out_shapes[0])


@register("Sigmoid")
class Sigmoid(_Unary):
    """out = σ(x) = 1 / (1 + e^(−x))"""

    # The same expression as ``sigmoid``, written out, so that generated code
    # and the interpreter agree bit for bit.
    template = ("np.maximum(np.exp(-np.abs({x})), {x} >= 0) "
                "/ (1 + np.exp(-np.abs({x})))")
    vjp_templates = {"x": "{g} * {out} * (1 - {out})"}

    def forward(self, ctx, x):
        return sigmoid(x)

    def vjp(self, ctx, g, out, x):
        return (g * out * (1 - out),)

    def sympy(self, x):
        return sigma(x)


@register("Tanh")
class Tanh(_Unary):
    """out = tanh(x)"""

    template = "np.tanh({x})"
    vjp_templates = {"x": "{g} * (1 - {out} ** 2)"}

    def forward(self, ctx, x):
        return np.tanh(x)

    def vjp(self, ctx, g, out, x):
        return (g * (1 - out**2),)

    def sympy(self, x):
        return sp.tanh(x)


@register("ReLU")
class ReLU(_Unary):
    """out = max(x, 0); ReLU′(0) = 0, as in PyTorch"""

    template = "np.maximum({x}, 0)"
    vjp_templates = {"x": "np.where({x} > 0, {g}, 0)"}

    def forward(self, ctx, x):
        return np.maximum(x, 0)

    def vjp(self, ctx, g, out, x):
        return (np.where(x > 0, g, 0),)

    def sympy(self, x):
        # x > 0 first: the derivative prints "1 for x > 0, 0 otherwise".
        return sp.Piecewise((x, x > 0), (0, True))


@register("LeakyReLU")
class LeakyReLU(_Unary):
    """out = x if x > 0 else α·x"""

    attrs = {"alpha": Attr("float", 0.01, min=0.0, doc="slope for x ≤ 0")}
    template = "np.where({x} > 0, {x}, {alpha} * {x})"
    vjp_templates = {"x": "np.where({x} > 0, {g}, {alpha} * {g})"}

    def forward(self, ctx, x, *, alpha):
        return np.where(x > 0, x, alpha * x)

    def vjp(self, ctx, g, out, x, *, alpha):
        return (np.where(x > 0, g, alpha * g),)

    def sympy(self, x, *, alpha):
        return sp.Piecewise((x, x > 0), (number(alpha) * x, True))


@register("ELU")
class ELU(_Unary):
    """out = x if x > 0 else α·(eˣ − 1)"""

    attrs = {"alpha": Attr("float", 1.0, min=0.0, doc="out → −α as x → −∞")}
    # expm1 of min(x, 0): np.where evaluates both branches, and e^1000 in the
    # discarded one would overflow.
    template = "np.where({x} > 0, {x}, {alpha} * np.expm1(np.minimum({x}, 0)))"
    # For x ≤ 0, α·eˣ = out + α: reuses the output.
    vjp_templates = {"x": "np.where({x} > 0, {g}, {g} * ({out} + {alpha}))"}

    def forward(self, ctx, x, *, alpha):
        return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))

    def vjp(self, ctx, g, out, x, *, alpha):
        return (np.where(x > 0, g, g * (out + alpha)),)

    def sympy(self, x, *, alpha):
        return sp.Piecewise((x, x > 0), (number(alpha) * (sp.exp(x) - 1), True))


# ---- along an axis -------------------------------------------------------------------

def _axis_shape(op, x, axis):
    """Check that ``axis`` exists in shape ``x``; return it in range(len(x))."""
    if not -len(x) <= axis < len(x):
        raise ShapeError(f"{op}: x has shape {fmt(x)} (rank {len(x)}), which has no "
                         f"axis {axis}")
    return axis % len(x)


def _softmax_grad_x(g, out, x, *, axis):
    # (diag(s) − s sᵀ) g per row along the axis: the Jacobian built explicitly.
    s = np.moveaxis(out, axis, -1)
    gs = np.moveaxis(g, axis, -1)
    eye = np.eye(s.shape[-1], dtype=s.dtype)
    jac = s[..., :, None] * eye - s[..., :, None] * s[..., None, :]
    return np.moveaxis(np.einsum("...ij,...j->...i", jac, gs), -1, axis)


@register("Softmax")
class Softmax(Op):
    """out = e^x / Σ e^x along axis"""

    family = "activations"
    inputs = ("x",)
    attrs = {"axis": Attr("int", -1)}
    formulas = {"x": (
        r"\frac{\partial L}{\partial z} = \left(\operatorname{diag}(s) - s s^{\top}"
        r"\right) \frac{\partial L}{\partial s}, \quad s = \operatorname{softmax}(z)",
        _softmax_grad_x)}

    batching_for = along_axis_batching

    def shape(self, x, *, axis):
        _axis_shape(self.name, x, axis)
        return tuple(x)

    def forward(self, ctx, x, *, axis):
        return softmax(x, axis)

    def vjp(self, ctx, g, out, x, *, axis):
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)

    def macs(self, in_shapes, out_shapes, **attrs):
        return numel(out_shapes[0])


def _log_softmax_grad_x(g, out, x, *, axis):
    # g − softmax(z) (1ᵀg), softmax(z) = e^out.
    return g - np.exp(out) * g.sum(axis=axis, keepdims=True)


@register("LogSoftmax")
class LogSoftmax(Op):
    """out = x − log Σ e^x along axis"""

    family = "activations"
    inputs = ("x",)
    attrs = {"axis": Attr("int", -1)}
    formulas = {"x": (
        r"\frac{\partial L}{\partial z} = \frac{\partial L}{\partial y} - "
        r"\operatorname{softmax}(z) \left(\mathbf{1}^{\top} \frac{\partial L}"
        r"{\partial y}\right)",
        _log_softmax_grad_x)}

    batching_for = along_axis_batching

    def shape(self, x, *, axis):
        _axis_shape(self.name, x, axis)
        return tuple(x)

    def forward(self, ctx, x, *, axis):
        return log_softmax(x, axis)

    def vjp(self, ctx, g, out, x, *, axis):
        # softmax recovered from the output: e^out, no second log-sum-exp.
        return (g - np.exp(out) * g.sum(axis=axis, keepdims=True),)

    def macs(self, in_shapes, out_shapes, **attrs):
        return numel(out_shapes[0])


def _maxout_groups(x, pieces, axis):
    """``x`` with ``axis`` (size C·k) split into (C, k): the k pieces at axis + 1."""
    shape = x.shape
    return x.reshape(shape[:axis] + (shape[axis] // pieces, pieces) + shape[axis + 1:])


def _maxout_grad_x(g, out, x, *, pieces, axis):
    # Route g_c to input channel c·k + argmax_j x_{c·k+j}, scattered by index.
    axis %= x.ndim
    groups = _maxout_groups(x, pieces, axis)
    first = np.expand_dims(np.argmax(groups, axis=axis + 1), axis + 1)
    dx = np.zeros_like(groups)
    np.put_along_axis(dx, first, np.expand_dims(g, axis + 1), axis=axis + 1)
    return dx.reshape(x.shape)


@register("Maxout")
class Maxout(Op):
    """out_c = max(x_{c·k}, …, x_{c·k+k−1}) along axis, k = pieces"""

    family = "activations"
    inputs = ("x",)
    attrs = {
        "pieces": Attr("int", min=1, doc="k, the number of inputs per output channel"),
        "axis": Attr("int", 1),
    }
    formulas = {"x": (
        r"\frac{\partial L}{\partial x_{ck+j}} = \frac{\partial L}{\partial y_c} "
        r"\left[\, j = \operatorname{argmax}_{j'} x_{ck+j'} \,\right]",
        _maxout_grad_x)}

    batching_for = along_axis_batching

    def shape(self, x, *, pieces, axis):
        ax = _axis_shape(self.name, x, axis)
        size = x[ax]
        if isinstance(size, str):
            out = size if pieces == 1 else f"{size}/{pieces}"
        elif size % pieces:
            raise ShapeError(f"{self.name}: x has shape {fmt(x)}, and axis {axis} of "
                             f"size {size} is not a multiple of pieces={pieces}")
        else:
            out = size // pieces
        return tuple(x[:ax]) + (out,) + tuple(x[ax + 1:])

    def forward(self, ctx, x, *, pieces, axis):
        axis %= x.ndim
        return _maxout_groups(x, pieces, axis).max(axis=axis + 1)

    def vjp(self, ctx, g, out, x, *, pieces, axis):
        axis %= x.ndim
        groups = _maxout_groups(x, pieces, axis)
        # argmax picks the first of tied maxima, as max pooling does.
        first = np.expand_dims(np.argmax(groups, axis=axis + 1), axis + 1)
        hit = np.arange(pieces).reshape((pieces,) + (1,) * (x.ndim - axis - 1)) == first
        return (np.where(hit, np.expand_dims(g, axis + 1), 0).reshape(x.shape),)
