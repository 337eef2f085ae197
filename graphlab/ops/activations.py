"""Activations: elementwise nonlinearities, softmax and maxout."""

import numpy as np
import sympy as sp

from .base import Attr, Op, register

__all__ = ["Tanh"]


class _Unary(Op):
    family = "activations"
    inputs = ("x",)
    elementwise = True

    def shape(self, x, **_):
        return x


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
