"""Arithmetic: elementwise binary and unary ops, broadcasting as NumPy does."""

import numpy as np
import sympy as sp

from ..shapes import broadcast
from .base import Attr, Op, register

__all__ = ["Add", "Mul"]


class _Binary(Op):
    family = "arithmetic"
    inputs = ("a", "b")
    elementwise = True

    def shape(self, a, b, **_):
        return broadcast(a, b)


# ---- binary ---------------------------------------------------------------------------

@register("Add")
class Add(_Binary):
    """out = a + b"""

    template = "{a} + {b}"
    vjp_templates = {"a": "{g}", "b": "{g}"}

    def forward(self, ctx, a, b):
        return a + b

    def vjp(self, ctx, g, out, a, b):
        return g, g

    def sympy(self, a, b):
        return a + b


@register("Mul")
class Mul(_Binary):
    """out = a · b"""

    template = "{a} * {b}"
    vjp_templates = {"a": "{g} * {b}", "b": "{g} * {a}"}

    def forward(self, ctx, a, b):
        return a * b

    def vjp(self, ctx, g, out, a, b):
        return g * b, g * a

    def sympy(self, a, b):
        return a * b
