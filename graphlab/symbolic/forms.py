"""SymPy forms of the ops, derived once per (op, attrs), and how they print.

The chain-rule view reads each elementwise op's ``sympy`` declaration and
differentiates it here; there is no second derivative table. Derivatives are
taken once per ``(op, attrs)`` on placeholder symbols and cached with their
lambdified NumPy functions; a graph's steps substitute their own symbols (the
input node ids) into the cached forms, which is cheap.

Printing: text uses ``·`` for products, ``σ`` for the sigmoid and cases as
``{1 if u > 0; 0 otherwise}``; LaTeX is SymPy's with node ids typeset as
names (``fc1_w`` → ``\\mathrm{fc1\\_w}``) and negative numbers braced as
``{-4}`` (ziamath spaces a unary minus after ``(`` as a binary one).
"""

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp
from sympy.printing.str import StrPrinter

__all__ = ["OpForm", "op_form", "ref_symbol", "latex_name", "to_latex", "to_text",
           "fmt_number", "fmt_value", "latex_value", "latex_to_text", "norm", "dfrac",
           "rel_error", "summarised"]


# ---- derived forms, cached per (op, attrs) ------------------------------------------

@dataclass(frozen=True, eq=False)  # hashed by identity: one per (op, attrs)
class OpForm:
    """An elementwise op's scalar form and its local derivatives.

    ``expr`` is written in the placeholder symbols ``dummies`` (one per input
    port, in port order); ``grads[i]`` is ``sp.diff(expr, dummies[i])`` and
    ``fns[i]`` its NumPy function of the input values.
    """

    ports: tuple
    dummies: tuple
    expr: sp.Expr
    grads: tuple
    fns: tuple

    def substitute(self, which, symbols):
        """The form (``which`` None) or its derivative by input ``which``, in
        ``symbols`` (a tuple). Cached: re-explaining a graph after a value
        changes costs no SymPy work."""
        return _substitute(self, which, tuple(symbols))


@lru_cache(maxsize=16384)
def _substitute(form, which, symbols):
    expr = form.expr if which is None else form.grads[which]
    return expr.xreplace(dict(zip(form.dummies, symbols)))


_FORMS = {}
_MISSING = object()


def _freeze(v):
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    return v


def op_form(op, attrs):
    """The cached :class:`OpForm` of ``op`` with resolved ``attrs``, or None.

    None when the op is not elementwise or declares no usable ``sympy`` form
    (the chain-rule view then falls back on the op's ``formulas``).
    """
    if not getattr(op, "elementwise", False):
        return None
    key = (op.name, _freeze(attrs))
    form = _FORMS.get(key, _MISSING)
    if form is _MISSING:
        form = _FORMS[key] = _derive(op, attrs)
    return form


def _derive(op, attrs):
    ports = op.input_ports
    dummies = tuple(sp.Dummy(p) for p in ports)
    try:
        expr = sp.sympify(op.sympy(*dummies, **attrs))
    except (NotImplementedError, TypeError, sp.SympifyError):
        return None
    grads = tuple(sp.diff(expr, d) for d in dummies)
    fns = tuple(sp.lambdify(dummies, g, modules="numpy") for g in grads)
    return OpForm(tuple(ports), dummies, expr, grads, fns)


# ---- names --------------------------------------------------------------------------

_SYMBOLS = {}


def ref_symbol(ref):
    """The SymPy symbol of a node's output: its id (``pool1:indices`` for others)."""
    sym = _SYMBOLS.get(ref)
    if sym is None:
        sym = _SYMBOLS[ref] = sp.Symbol(ref)
    return sym


_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
          "iota", "kappa", "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau",
          "upsilon", "phi", "chi", "psi", "omega", "Gamma", "Delta", "Theta",
          "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega"}


def latex_name(name):
    r"""A node id (or ``node:port``) as LaTeX.

    ``x`` → ``x``, ``w0`` → ``w_{0}``, ``alpha`` → ``\alpha``, ``W_hh`` →
    ``W_{hh}``, ``sig1`` → ``\mathrm{sig}_{1}``, ``fc1_w`` → ``\mathrm{fc1\_w}``.
    """
    if ":" in name:
        node, port = name.split(":", 1)
        return latex_name(node) + r"{:}" + _mathrm(port)
    m = re.fullmatch(r"([A-Za-z]+?)(\d*)", name)
    if m:
        base, digits = m.groups()
        if len(base) == 1:
            head = base
        elif base in _GREEK:
            head = "\\" + base
        else:
            head = _mathrm(base)
        return head + (f"_{{{digits}}}" if digits else "")
    m = re.fullmatch(r"([A-Za-z])_([A-Za-z0-9]+)", name)
    if m:
        return f"{m.group(1)}_{{{m.group(2)}}}"
    return _mathrm(name)


def _mathrm(text):
    return r"\mathrm{" + text.replace("_", r"\_") + "}"


def _symbol_names(expr):
    return {s: latex_name(s.name) for s in expr.free_symbols
            if isinstance(s, sp.Symbol)}


# ---- printing expressions -----------------------------------------------------------

class _TextPrinter(StrPrinter):
    """``sstr`` with σ for the sigmoid and cases written out."""

    def _print_sigma(self, expr):
        return f"σ({self._print(expr.args[0])})"

    def _print_Piecewise(self, expr):
        parts = []
        for e, c in expr.args:
            if c == sp.true:
                parts.append(f"{self._print(e)} otherwise")
            else:
                parts.append(f"{self._print(e)} if {self._print(c)}")
        return "{" + "; ".join(parts) + "}"

    def _print_Symbol(self, expr):
        return expr.name


_TEXT = _TextPrinter()


def to_text(expr):
    """A SymPy expression as readable text: ``σ(u)·(1 - σ(u))``, ``q·z``."""
    s = _TEXT.doprint(expr)
    return s.replace("**", "^").replace("*", "·")


def to_latex(expr):
    """A SymPy expression as LaTeX, node ids as names, products with ``\\cdot``."""
    s = sp.latex(expr, symbol_names=_symbol_names(expr), mul_symbol="dot")
    return _brace_negatives(s)


_UNARY_MINUS = re.compile(r"(^|[(\[{=,&]|\\\\)(\s*)-\s*(\d+(?:\.\d+)?)?")


def _brace_negatives(s):
    # A unary minus (at the start, after an opening bracket, a relation or a
    # row break) gets braces: "{-4}", "{-}x". ziamath would space a bare unary
    # minus as a binary one.
    def repl(m):
        num = m.group(3)
        return m.group(1) + m.group(2) + ("{-" + num + "}" if num else "{-}")
    return _UNARY_MINUS.sub(repl, s)


# ---- numbers and values --------------------------------------------------------------

def fmt_number(v, digits=6):
    """A number for text: 6 significant digits, ``-0`` as ``0``."""
    v = float(v)
    if v == 0:
        return "0"
    if not math.isfinite(v):
        return str(v)
    return f"{v:.{digits}g}"


def norm(a):
    """Frobenius (Euclidean) norm of an array, as a float."""
    return float(np.sqrt(np.sum(np.square(np.asarray(a, dtype=float)))))


def _shape_text(shape):
    return "×".join(map(str, shape)) if shape else "scalar"


def _nested(a, digits):
    if a.ndim == 0:
        return fmt_number(a, digits)
    return "[" + ", ".join(_nested(x, digits) for x in a) + "]"


def fmt_value(v, max_items=12, digits=4, *, compact=False):
    """A value for a terminal: a number; small arrays with their values, shape and
    norm (``compact``: values only); larger ones with shape and norm only."""
    if v is None:
        return "—"
    if isinstance(v, (tuple, list)):
        return "(" + ", ".join(fmt_value(x, max_items, digits, compact=compact)
                               for x in v) + ")"
    a = np.asarray(v)
    if a.ndim == 0:
        return fmt_number(a)
    summary = f"shape {_shape_text(a.shape)}"
    if a.dtype.kind == "f":  # labels and indices have no useful norm
        summary += f", norm {fmt_number(norm(a), 4)}"
    if a.size <= max_items:
        return _nested(a, digits) if compact else f"{_nested(a, digits)} ({summary})"
    return f"[{summary}]"


def latex_number(v, digits=4):
    """A number as LaTeX: ``{-4}``, ``1.5 \\times 10^{-5}``."""
    v = float(v)
    if v == 0:
        return "0"
    if not math.isfinite(v):
        return r"\infty" if v > 0 else (r"{-\infty}" if v < 0 else r"\mathrm{NaN}")
    s = f"{v:.{digits}g}"
    if "e" in s:
        mant, exp = s.split("e")
        s = f"{mant} \\times 10^{{{int(exp)}}}"
    return "{" + s + "}" if v < 0 else s


def summarised(v, max_items=12):
    """Whether :func:`latex_value` shows ``v`` by its shape and norm only."""
    if v is None or isinstance(v, (tuple, list)):
        return False
    a = np.asarray(v)
    return a.ndim > 0 and not (a.size <= max_items and a.ndim <= 2)


def latex_value(v, max_items=12, digits=4, name=None):
    r"""A value as LaTeX: a number, a small matrix, or its shape and norm.

    A tensor shown by shape and norm reads ``\in \mathbb{R}^{2 \times 84},\
    \lVert \cdot \rVert = 0.63``, or with ``name`` (LaTeX)
    ``name \in \mathbb{R}^{2 \times 84},\ \lVert name \rVert = 0.63``: a
    statement of its own, not the right-hand side of an ``=``.
    """
    if v is None:
        return r"\text{—}"
    if isinstance(v, (tuple, list)):
        return r",\ ".join(latex_value(x, max_items, digits) for x in v)
    a = np.asarray(v, dtype=float)
    if a.ndim == 0:
        return latex_number(a, digits)
    if a.size <= max_items and a.ndim <= 2:
        rows = a[None, :] if a.ndim == 1 else a
        body = r" \\ ".join(" & ".join(latex_number(x, digits) for x in row)
                            for row in rows)
        return r"\left[\begin{matrix}" + body + r"\end{matrix}\right]"
    dims = r" \times ".join(map(str, a.shape))
    if name is not None:
        return (name + r" \in \mathbb{R}^{" + dims + r"},\ \lVert " + name
                + r" \rVert = " + latex_number(norm(a), digits))
    return (r"\in \mathbb{R}^{" + dims + r"},\ \lVert \cdot \rVert = "
            + latex_number(norm(a), digits))


# ---- the ops' LaTeX templates as text ------------------------------------------------

_TEX_SYMBOLS = {
    r"\partial": "∂", r"\odot": "⊙", r"\otimes": "⊗", r"\cdot": "·", r"\times": "×",
    r"\star": "⋆", r"\sum": "Σ", r"\prod": "∏", r"\ni": "∋", r"\in": "∈",
    r"\sim": "~", r"\infty": "∞", r"\lVert": "‖", r"\rVert": "‖", r"\top": "ᵀ",
    r"\mathcal": "", r"\quad": "  ", r"\qquad": "    ", r"\,": " ", r"\:": " ",
    r"\;": " ", r"\ ": " ", r"\!": "", r"\left": "", r"\right": "", r"\le": "≤",
    r"\ge": "≥", r"\neq": "≠", r"\to": "→", r"\Rightarrow": "⇒", r"\approx": "≈",
    r"\nabla": "∇", r"\ldots": "…", r"\dots": "…", r"\cdots": "⋯",
    r"\lambda": "λ", r"\sigma": "σ", r"\delta": "δ", r"\gamma": "γ",
    r"\beta": "β", r"\alpha": "α", r"\epsilon": "ε", r"\mu": "μ", r"\phi": "φ",
    r"\pi": "π", r"\theta": "θ", r"\eta": "η", r"\tau": "τ", r"\omega": "ω",
    r"\Sigma": "Σ", r"\Delta": "Δ",
}
_SUPERSCRIPT = dict(zip("0123456789-+()niT", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺⁽⁾ⁿⁱᵀ"))
_TEX_TOKEN = re.compile(r"\\\\|\\[A-Za-z]+|\\.|\s+|.", re.DOTALL)
_TEX_WORDS = ("text", "mathrm", "operatorname", "mathbf", "mathit", "mathcal",
              "mathsf", "boldsymbol")


def latex_to_text(tex):
    r"""Best-effort plain text of an op's LaTeX template, for the terminal.

    ``\frac{\partial L}{\partial W} = \left(\frac{\partial L}{\partial Y}
    \right)^{\top} X`` → ``∂L/∂W = (∂L/∂Y)ᵀ X``. Aligned rows become lines.
    """
    out, _ = _tex_seq(_TEX_TOKEN.findall(tex), 0)
    out = re.sub(r"([A-Za-z]) ([⁰¹²³⁴⁵⁶⁷⁸⁹ᵀ⁻]+)", r"\1\2", out)  # "tanh ²" → "tanh²"
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in out.split("\n")]
    return "\n".join(line for line in lines if line)


def _tex_seq(tokens, i, stop="}"):
    parts = []
    while i < len(tokens):
        if tokens[i] == stop:
            return "".join(parts), i + 1
        text, i = _tex_item(tokens, i)
        parts.append(text)
    return "".join(parts), i


def _tex_arg(tokens, i):
    """One argument: a braced group or a single token."""
    while i < len(tokens) and tokens[i].isspace():
        i += 1
    if i >= len(tokens):
        return "", i
    if tokens[i] == "{":
        return _tex_seq(tokens, i + 1)
    return _tex_item(tokens, i)


def _tex_item(tokens, i):
    t = tokens[i]
    i += 1
    if t == "{":
        return _tex_seq(tokens, i)
    if t == "\\\\":
        return "\n", i
    if t == "&":
        return "", i
    if t.isspace():
        return " ", i
    if t in ("^", "_"):
        arg, i = _tex_arg(tokens, i)
        arg = arg.strip()
        if t == "^":
            if arg in ("ᵀ", "T"):
                return "ᵀ", i
            if arg and all(c in _SUPERSCRIPT for c in arg):
                return "".join(_SUPERSCRIPT[c] for c in arg), i
            return "^" + _paren(arg), i
        return "_" + (arg if re.fullmatch(r"\w+", arg) else f"({arg})"), i
    if not t.startswith("\\"):
        return t, i
    name = t[1:]
    if name in ("frac", "dfrac", "tfrac"):
        num, i = _tex_arg(tokens, i)
        den, i = _tex_arg(tokens, i)
        num, den = num.strip(), den.strip()
        if num.startswith("∂") and den.startswith("∂"):
            return f"∂{num[1:].strip()}/∂{den[1:].strip()}", i
        return f"{_paren(num)}/{_paren(den)}", i
    if name == "sqrt":
        arg, i = _tex_arg(tokens, i)
        return "√" + _paren(arg.strip()), i
    if name == "hat":
        arg, i = _tex_arg(tokens, i)
        arg = arg.strip()
        return (arg + "\u0302") if len(arg) == 1 else f"hat({arg})", i
    if name == "mathbb":
        arg, i = _tex_arg(tokens, i)
        return {"1": "𝟙", "R": "ℝ"}.get(arg.strip(), arg), i
    if name in _TEX_WORDS:
        arg, i = _tex_arg(tokens, i)
        return arg, i
    if name in ("begin", "end"):
        _, i = _tex_arg(tokens, i)
        return "", i
    if name in ("left", "right", "big", "Big", "bigl", "bigr"):
        return "", i
    if t in ("\\{", "\\}", "\\_", "\\%", "\\&", "\\#"):
        return t[1], i
    if t in _TEX_SYMBOLS:
        return _TEX_SYMBOLS[t], i
    if len(name) == 1 and not name.isalpha():
        return " ", i  # \, \: \; \! and friends
    return name + " ", i  # \log, \tanh: the function's name


def _paren(t):
    t = t.strip()
    return t if re.fullmatch(r"[\w∂.′\u0302]+", t) else f"({t})"


def dfrac(num, den):
    """LaTeX ``∂num/∂den`` of two refs."""
    return (r"\frac{\partial " + latex_name(num) + r"}{\partial "
            + latex_name(den) + "}")


def rel_error(a, b):
    """Largest difference of ``a`` from ``b``, relative to ``max(1, max |b|)``;
    NaNs and infinities in the same places agree."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        try:
            a = np.broadcast_to(a, b.shape)
        except ValueError:
            return float("inf")
    if a.size == 0:
        return 0.0
    with np.errstate(invalid="ignore"):
        same = (a == b) | (np.isnan(a) & np.isnan(b))  # equal infinities, NaN at both
        diff = np.where(same, 0.0, np.abs(a - b))
    scale = max(1.0, float(np.nanmax(np.abs(b))) if np.isfinite(b).any() else 1.0)
    worst = float(np.max(diff))
    return worst / scale if np.isfinite(worst) else float("inf")
