"""SymPy helpers for the ops' scalar forms: the sigmoid function and attr numbers.

The chain-rule view differentiates each elementwise op's ``sympy`` form and
prints it, so these forms are chosen for how their derivatives read (see
``/work/shared/MATH_NOTES.md``), not for how SymPy would simplify them.
"""

import sympy as sp

__all__ = ["sigma", "number"]


class sigma(sp.Function):  # noqa: N801  (lower case so LaTeX prints \sigma)
    r"""The logistic sigmoid σ(u) = 1 / (1 + e^(−u)), printed as ``\sigma``.

    Its derivative is σ(u)(1 − σ(u)), the textbook form, instead of the
    ``e^{-u}/(1 + e^{-u})^2`` that SymPy derives from the exponential form.

    Examples
    --------
    >>> import sympy as sp
    >>> u = sp.Symbol("u")
    >>> sp.diff(sigma(u), u)
    sigma(u)*(1 - sigma(u))
    >>> sp.latex(sp.diff(sigma(u), u))
    '\\sigma{\\left(u \\right)} \\left(1 - \\sigma{\\left(u \\right)}\\right)'
    >>> sigma(sp.Float(0.5)).evalf(6)
    0.622459
    """

    nargs = 1

    @classmethod
    def class_key(cls):
        # Printers sort the factors of a product by class key; an applied
        # function sorts after sums, which printed σ′ as (1 − σ(u))σ(u).
        # Sorting with the symbols puts σ(u) first, the textbook order.
        return 2, 0, cls.__name__

    @classmethod
    def eval(cls, u):
        if u.is_zero:
            return sp.S.Half
        if u is sp.S.Infinity:
            return sp.S.One
        if u is sp.S.NegativeInfinity:
            return sp.S.Zero
        if u.is_Float:
            # Substituting a point (the chain-rule view does) gives a number.
            return 1 / (1 + sp.exp(-u))
        return None

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise sp.ArgumentIndexError(self, argindex)
        u = self.args[0]
        return sp.Mul(sigma(u), 1 - sigma(u), evaluate=False)

    def _eval_rewrite_as_exp(self, u, **kwargs):
        return 1 / (1 + sp.exp(-u))

    def _eval_evalf(self, prec):
        return self.rewrite(sp.exp)._eval_evalf(prec)

    def _eval_is_extended_real(self):
        return self.args[0].is_extended_real

    def _eval_is_positive(self):
        if self.args[0].is_extended_real:
            return True
        return None

    def _numpycode(self, printer):
        # lambdify: e^(−log(1 + e^(−u))) never overflows, unlike 1/(1 + e^(−u)).
        return "{exp}(-{logaddexp}(0, -({u})))".format(
            exp=printer._module_format("numpy.exp"),
            logaddexp=printer._module_format("numpy.logaddexp"),
            u=printer._print(self.args[0]))


def number(value):
    """An attribute value as a SymPy number: 2.0 → 2 (so x² prints as x^{2}).

    Examples
    --------
    >>> number(2.0), number(0.01)
    (2, 0.0100000000000000)
    """
    value = float(value)
    if value.is_integer():
        return sp.Integer(int(value))
    return sp.Float(value)
