"""Arithmetic: elementwise binary and unary ops, broadcasting as NumPy does.

Every op here is elementwise: it declares its scalar SymPy form (the chain-rule
view shows its ``sp.diff``), an inline ``template`` for generated code and one
``vjp_templates`` line per input. Kernels keep the input's float dtype: they
mix arrays only with Python numbers, which NumPy does not let promote
float32 to float64.
"""

import numpy as np
import sympy as sp

from ..shapes import broadcast, numel
from ._sympy import number
from .base import Attr, Op, register

__all__ = ["Add", "Sub", "Mul", "Div", "Maximum", "Neg", "Exp", "Log", "Sqrt",
           "Abs", "Pow"]


class _Elementwise(Op):
    family = "arithmetic"
    elementwise = True
    batching = "map"

    def macs(self, in_shapes, out_shapes, **attrs):
        # One operation per output element; a symbolic dimension (the batch)
        # counts as 1.
        return numel(out_shapes[0])


class _Binary(_Elementwise):
    inputs = ("a", "b")

    def shape(self, a, b, **_):
        return broadcast(a, b, what=f"{self.name}: inputs")


class _Unary(_Elementwise):
    inputs = ("x",)

    def shape(self, x, **_):
        return tuple(x)


# ---- binary --------------------------------------------------------------------------

@register("Add")
class Add(_Binary):
    """out = a + b"""

    batching = "linear"  # a loss plus a penalty, or scaled, still splits
    template = "{a} + {b}"
    vjp_templates = {"a": "{g}", "b": "{g}"}

    def forward(self, ctx, a, b):
        return a + b

    def vjp(self, ctx, g, out, a, b):
        return g, g

    def sympy(self, a, b):
        return a + b


@register("Sub")
class Sub(_Binary):
    """out = a − b"""

    batching = "linear"
    template = "{a} - {b}"
    vjp_templates = {"a": "{g}", "b": "-{g}"}

    def forward(self, ctx, a, b):
        return a - b

    def vjp(self, ctx, g, out, a, b):
        return g, -g

    def sympy(self, a, b):
        return a - b


@register("Mul")
class Mul(_Binary):
    """out = a · b"""

    batching = "linear"
    template = "{a} * {b}"
    vjp_templates = {"a": "{g} * {b}", "b": "{g} * {a}"}

    def forward(self, ctx, a, b):
        return a * b

    def vjp(self, ctx, g, out, a, b):
        return g * b, g * a

    def sympy(self, a, b):
        return a * b


@register("Div")
class Div(_Binary):
    """out = a / b"""

    batching = "linear"
    template = "{a} / {b}"
    # ∂(a/b)/∂b = −a/b² = −out/b: reuses the output, one division fewer.
    vjp_templates = {"a": "{g} / {b}", "b": "-{g} * {out} / {b}"}

    def forward(self, ctx, a, b):
        return a / b

    def vjp(self, ctx, g, out, a, b):
        return g / b, -g * out / b

    def sympy(self, a, b):
        return a / b


@register("Maximum")
class Maximum(_Binary):
    """out = max(a, b); ties split the gradient equally, as in PyTorch"""

    template = "np.maximum({a}, {b})"
    # np.where with g (not 1.0 and 0.5 literals) keeps g's dtype.
    vjp_templates = {
        "a": "np.where({a} == {b}, 0.5 * {g}, np.where({a} > {b}, {g}, 0))",
        "b": "np.where({a} == {b}, 0.5 * {g}, np.where({b} > {a}, {g}, 0))",
    }

    def forward(self, ctx, a, b):
        return np.maximum(a, b)

    def vjp(self, ctx, g, out, a, b):
        half = 0.5 * g
        tie = a == b
        return (np.where(tie, half, np.where(a > b, g, 0)),
                np.where(tie, half, np.where(b > a, g, 0)))

    def sympy(self, a, b):
        # The tie branch makes sp.diff give 1/2 there, matching the kernel.
        return sp.Piecewise((a, a > b), (b, a < b), ((a + b) / 2, True))


# ---- unary ---------------------------------------------------------------------------

@register("Neg")
class Neg(_Unary):
    """out = −x"""

    batching = "linear"
    template = "-{x}"
    vjp_templates = {"x": "-{g}"}

    def forward(self, ctx, x):
        return -x

    def vjp(self, ctx, g, out, x):
        return (-g,)

    def sympy(self, x):
        return -x


@register("Exp")
class Exp(_Unary):
    """out = eˣ"""

    template = "np.exp({x})"
    vjp_templates = {"x": "{g} * {out}"}

    def forward(self, ctx, x):
        return np.exp(x)

    def vjp(self, ctx, g, out, x):
        return (g * out,)

    def sympy(self, x):
        return sp.exp(x)


@register("Log")
class Log(_Unary):
    """out = ln x"""

    template = "np.log({x})"
    vjp_templates = {"x": "{g} / {x}"}

    def forward(self, ctx, x):
        return np.log(x)

    def vjp(self, ctx, g, out, x):
        return (g / x,)

    def sympy(self, x):
        return sp.log(x)


@register("Sqrt")
class Sqrt(_Unary):
    """out = √x"""

    template = "np.sqrt({x})"
    vjp_templates = {"x": "{g} / (2 * {out})"}

    def forward(self, ctx, x):
        return np.sqrt(x)

    def vjp(self, ctx, g, out, x):
        return (g / (2 * out),)

    def sympy(self, x):
        return sp.sqrt(x)


@register("Abs")
class Abs(_Unary):
    """out = |x|; its derivative at 0 is 0, as in PyTorch"""

    template = "np.abs({x})"
    vjp_templates = {"x": "{g} * np.sign({x})"}

    def forward(self, ctx, x):
        return np.abs(x)

    def vjp(self, ctx, g, out, x):
        return (g * np.sign(x),)

    def sympy(self, x):
        # sp.Abs differentiates to sign(x) only for symbols declared real (and
        # to an re/im expression otherwise); the cases form differentiates to
        # 1, −1, 0 whatever the symbol's assumptions, the 0 matching PyTorch.
        return sp.Piecewise((x, x > 0), (-x, x < 0), (0, True))


@register("Pow")
class Pow(_Unary):
    """out = x^exponent"""

    attrs = {"exponent": Attr("float", doc="the power, e.g. 2 or 0.5")}
    template = "{x} ** {exponent}"
    # exponent 0 gives 0·x⁻¹, NaN at x = 0; the gradient of a constant is 0
    # (PyTorch special-cases it the same way).
    vjp_templates = {"x": "{g} * {exponent} * {x} ** ({exponent} - 1)"}

    def vjp_template(self, port, attrs):
        if attrs["exponent"] == 0:
            return "np.zeros_like({g})"
        return super().vjp_template(port, attrs)

    def forward(self, ctx, x, *, exponent):
        return x ** exponent

    def vjp(self, ctx, g, out, x, *, exponent):
        if exponent == 0:
            return (np.zeros_like(g),)
        return (g * exponent * x ** (exponent - 1),)

    def sympy(self, x, *, exponent):
        return x ** number(exponent)
