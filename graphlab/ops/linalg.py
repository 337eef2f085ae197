"""Linear algebra and shape ops: MatMul, Linear, Transpose, Reshape, Flatten,
Concat, Sum, Mean.

Shapes may hold symbolic dimensions (``"N"``); as in :mod:`graphlab.shapes`,
a symbol is assumed to agree with any size, so only concrete sizes raise.

Matrix-calculus forms (``formulas``) use the layout of the kernels: rows of
``X``, ``Y`` and ``∂L/∂Y`` are examples, so ``Y = X Wᵀ + 1bᵀ`` has
``∂L/∂W = (∂L/∂Y)ᵀ X`` (the gradient has the shape of what it differentiates).
Each entry is ``port: (latex, fn)``; ``fn(g, out, *inputs, **attrs)`` is a
plain NumPy transcription of the formula, tested against ``vjp``.
"""

import math
from collections import Counter

import numpy as np

from ..errors import AttrError, ShapeError
from ..shapes import broadcast, fmt, normalise_axis, numel, same_dim
from ._im2col import matmul2d
from .base import Attr, Op, along_axis_batching, register

__all__ = ["MatMul", "Linear", "Transpose", "Reshape", "Flatten", "Concat", "Sum",
           "Mean"]

_FAMILY = "linear algebra, shape"


# ---- symbolic size arithmetic --------------------------------------------------------

def _dims_split(dims):
    """``(N, 4, T, 5)`` → ``(20, Counter({'N': 1, 'T': 1}))``."""
    ints = math.prod(d for d in dims if isinstance(d, int))
    syms = Counter(d for d in dims if isinstance(d, str))
    return ints, syms


def _dims_expr(k, syms):
    """Size ``k·∏syms`` as an int, a single symbol, or a product string ``'4·N'``."""
    names = sorted(syms.elements())
    if not names:
        return k
    if k == 1 and len(names) == 1:
        return names[0]
    return "·".join(([str(k)] if k != 1 else []) + names)


def _dims_product(dims):
    """Product of sizes that may be symbolic: ``(N, 4, 5)`` → ``'20·N'``."""
    return _dims_expr(*_dims_split(dims))


def _dims_count(dims):
    """Number of elements as text, for messages: ``(N, 20)`` → ``'20·N'``."""
    return str(_dims_product(dims))


def _dims_sum(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    return f"{a}+{b}"


def _first_concrete(a, b):
    """Of two sizes assumed equal, the concrete one if there is one."""
    return a if isinstance(a, int) or not isinstance(b, int) else b


def _needs_grad(ctx, n):
    """``ctx.needs_input_grad``, or all True when the caller did not say."""
    need = getattr(ctx, "needs_input_grad", None)
    return (True,) * n if need is None else tuple(need)


def _swap(m):
    return np.swapaxes(m, -1, -2)


def _rows(m):
    """``(..., k)`` as a 2-D ``(-1, k)`` matrix (examples as rows)."""
    return m.reshape(-1, m.shape[-1])


def _rows_tn(a, b):
    """``aᵀ @ b`` for row matrices ``a`` (n, p) and ``b`` (n, q): a weight's
    gradient summed over the n rows (examples); from one row, an outer product
    (:func:`~graphlab.ops._im2col.matmul2d`)."""
    return matmul2d(a.T, b)


# ---- matrix products -----------------------------------------------------------------

def _matmul_promote(g, a, b):
    """Promote 1-D operands (and ``g`` with them) to matrices, as np.matmul does."""
    if a.ndim == 1:
        a, g = a[None, :], np.expand_dims(g, -2 if b.ndim > 1 else -1)
    if b.ndim == 1:
        b, g = b[:, None], np.expand_dims(g, -1)
    return g, a, b


def _matmul_formula_a(g, out, a, b):
    g2, a2, b2 = _matmul_promote(np.asarray(g), a, b)
    ga = np.matmul(g2, _swap(b2))
    return ga[..., 0, :] if a.ndim == 1 else ga


def _matmul_formula_b(g, out, a, b):
    g2, a2, b2 = _matmul_promote(np.asarray(g), a, b)
    gb = np.matmul(_swap(a2), g2)
    return gb[..., 0] if b.ndim == 1 else gb


def _matmul_vjp_a(g, a, b):
    if a.ndim == 1 and b.ndim == 1:
        return g * b
    if a.ndim == 1:
        return np.matmul(b, g[..., None])[..., 0]
    if b.ndim == 1:
        return g[..., None] * b
    return np.matmul(g, _swap(b))


def _matmul_vjp_b(g, a, b):
    if a.ndim == 1 and b.ndim == 1:
        return g * a
    if a.ndim == 1:
        if b.ndim == 2:
            return np.outer(a, _rows(g).sum(axis=0))
        return a[:, None] * g[..., None, :]
    if b.ndim == 1:
        return np.matmul(_swap(a), g[..., None])[..., 0]
    if b.ndim == 2:
        # One GEMM over all batch rows instead of a batched product summed later.
        return _rows_tn(_rows(a), _rows(g))
    return np.matmul(_swap(a), g)


@register("MatMul")
class MatMul(Op):
    """out = a @ b (np.matmul: 1-D operands promoted, batch axes broadcast)"""

    family = _FAMILY
    inputs = ("a", "b")
    template = "{a} @ {b}"
    formulas = {
        "a": (r"\frac{\partial L}{\partial A} = \frac{\partial L}{\partial Y}"
              r" B^{\top}", _matmul_formula_a),
        "b": (r"\frac{\partial L}{\partial B} = A^{\top}"
              r" \frac{\partial L}{\partial Y}", _matmul_formula_b),
    }

    def batching_for(self, attrs, training, ranks):
        # A batch of matrices times a weight, or two stacks of matrices: each
        # example on its own. A batch of rows on the right contracts over it.
        ra, rb = ranks
        if rb is not None and rb >= 3 and ra is not None and ra >= 2:
            return "map", ("a", "b")
        return "map", ("a",)

    def shape(self, a, b, **_):
        for port, s in (("a", a), ("b", b)):
            if len(s) == 0:
                raise ShapeError(f"MatMul: {port} is a scalar; both inputs need rank "
                                 "1 or more (use Mul to scale)")
        k_a = a[-1]
        k_b = b[-2] if len(b) > 1 else b[0]
        if not same_dim(k_a, k_b):
            what_a = "columns" if len(a) > 1 else "entries"
            what_b = "rows" if len(b) > 1 else "entries"
            raise ShapeError(f"MatMul: a has {k_a} {what_a} but b has {k_b} {what_b} "
                             f"(a is {fmt(a)}, b is {fmt(b)})")
        try:
            batch = broadcast(a[:-2], b[:-2])
        except ShapeError:
            raise ShapeError(f"MatMul: batch dimensions {fmt(a[:-2])} of a and "
                             f"{fmt(b[:-2])} of b do not broadcast") from None
        rows = tuple(a[-2:-1])  # () for a 1-D a
        cols = tuple(b[-1:]) if len(b) > 1 else ()
        return batch + rows + cols

    def forward(self, ctx, a, b, **_):
        return np.matmul(a, b)

    def grad_broadcasts(self, port, in_shapes, out_shapes):
        # The gradient of an operand has the batch axes of the output: summed
        # back wherever the operand's own batch axes were broadcast.
        a, b = (tuple(s) for s in in_shapes)
        if port == "b" and len(b) == 2:
            return False  # its VJP sums over every batch row in one GEMM
        own, other = (a, b) if port == "a" else (b, a)
        mine, theirs = own[:-2], other[:-2]
        if len(mine) < len(theirs):
            return True
        return any(x != y and y != 1 for x, y in
                   zip(mine[len(mine) - len(theirs):], theirs))

    def vjp(self, ctx, g, out, a, b, **_):
        need_a, need_b = _needs_grad(ctx, 2)
        ga = _matmul_vjp_a(g, a, b) if need_a else None
        gb = _matmul_vjp_b(g, a, b) if need_b else None
        return ga, gb

    def macs(self, in_shapes, out_shapes, **_):
        a = in_shapes[0]
        out = out_shapes[0]
        # The leading axis of a matrix (or batch) result counts as the batch.
        return numel(out[1:] if len(out) > 1 else out) * numel(a[-1:])


def _linear_formula_x(g, out, x, w, b=None):
    return np.asarray(g) @ w


def _linear_formula_w(g, out, x, w, b=None):
    return _rows(np.asarray(g)).T @ _rows(x)


def _linear_formula_b(g, out, x, w, b=None):
    return np.ones(_rows(np.asarray(g)).shape[0]) @ _rows(np.asarray(g))


@register("Linear")
class Linear(Op):
    """out = x Wᵀ + b"""

    family = _FAMILY
    inputs = ("x", "w", "b?")
    formulas = {
        "x": (r"\frac{\partial L}{\partial X} = \frac{\partial L}{\partial Y} W",
              _linear_formula_x),
        "w": (r"\frac{\partial L}{\partial W} = \left(\frac{\partial L}{\partial Y}"
              r"\right)^{\top} X", _linear_formula_w),
        "b": (r"\frac{\partial L}{\partial b} = \mathbf{1}^{\top}"
              r" \frac{\partial L}{\partial Y}", _linear_formula_b),
    }

    batching, batch_ports = "map", ("x",)

    def shape(self, x, w, b=None, **_):
        if len(w) != 2:
            raise ShapeError("Linear: w must be a matrix out×in (rank 2), got "
                             f"{fmt(w)}")
        if len(x) == 0:
            raise ShapeError("Linear: input is a scalar; it needs a last axis of "
                             f"{w[1]} features")
        if not same_dim(x[-1], w[1]):
            raise ShapeError(f"Linear: input has {x[-1]} features, w expects {w[1]} "
                             f"(input is {fmt(x)}, w is {fmt(w)})")
        if b is not None and (len(b) != 1 or not same_dim(b[0], w[0])):
            raise ShapeError(f"Linear: b must have {w[0]} entries (one per output of "
                             f"w), got {fmt(b)}")
        return tuple(x[:-1]) + (w[0],)

    def forward(self, ctx, x, w, b=None, **_):
        out = _rows(x) @ w.T
        if b is not None:
            out += b
        return out.reshape(x.shape[:-1] + (w.shape[0],))

    def vjp(self, ctx, g, out, x, w, b=None, **_):
        need_x, need_w, need_b = _needs_grad(ctx, 3)
        g2 = _rows(g)
        gx = (g2 @ w).reshape(x.shape) if need_x else None
        gw = _rows_tn(g2, _rows(x)) if need_w else None
        gb = g2.sum(axis=0) if need_b and b is not None else None
        return gx, gw, gb

    def macs(self, in_shapes, out_shapes, **_):
        x, w = in_shapes[0], in_shapes[1]
        lead = x[1:-1] if len(x) > 1 else ()
        return numel(lead) * numel(w)


# ---- shape ops -----------------------------------------------------------------------

def _transpose_perm(perm, ndim):
    return tuple(reversed(range(ndim))) if perm is None else tuple(
        p % ndim for p in perm)


def _transpose_formula_x(g, out, x, *, perm):
    inverse = np.argsort(_transpose_perm(perm, x.ndim))
    return np.transpose(g, inverse)


@register("Transpose")
class Transpose(Op):
    """out = xᵀ: axis i of out is axis perm[i] of x (default: axes reversed)"""

    family = _FAMILY
    inputs = ("x",)
    attrs = {"perm": Attr("axes", None, doc="a permutation of the axes; default "
                                            "reverses them")}
    template = "np.transpose({x}, {perm})"
    formulas = {
        "x": (r"\frac{\partial L}{\partial X} = \operatorname{transpose}\left("
              r"\frac{\partial L}{\partial Y}, \pi^{-1}\right)", _transpose_formula_x),
    }

    def check_attrs(self, attrs, *, node=None):
        if isinstance(attrs["perm"], int):
            raise AttrError("Transpose: attribute 'perm' must be a list of axes "
                            f"such as [0, 2, 1], got {attrs['perm']!r}", node=node)

    def batching_for(self, attrs, training, ranks):
        perm = _transpose_perm(attrs["perm"], ranks[0]) if ranks[0] else None
        return ("map", ("x",)) if perm and perm[0] == 0 else (None, ())

    def shape(self, x, *, perm):
        ndim = len(x)
        if perm is None:
            return tuple(reversed(x))
        if len(perm) != ndim:
            raise ShapeError(f"Transpose: perm {list(perm)} lists {len(perm)} axes, "
                             f"but the input {fmt(x)} has rank {ndim}")
        axes = [normalise_axis(p, ndim, "Transpose: perm axis") for p in perm]
        if sorted(axes) != list(range(ndim)):
            raise ShapeError(f"Transpose: perm {list(perm)} is not a permutation of "
                             f"the axes 0…{ndim - 1}")
        return tuple(x[p] for p in axes)

    def forward(self, ctx, x, *, perm):
        return np.transpose(x, perm)

    def vjp(self, ctx, g, out, x, *, perm):
        if not _needs_grad(ctx, 1)[0]:
            return (None,)
        return (np.transpose(g, np.argsort(_transpose_perm(perm, x.ndim))),)

    def vjp_template(self, port, attrs):
        perm = attrs["perm"]
        if perm is None:
            return "np.transpose({g})"
        inverse = np.argsort([p % len(perm) for p in perm])  # perm lists every axis
        return f"np.transpose({{g}}, {tuple(int(p) for p in inverse)!r})"


def _reshape_target(in_shape, shape):
    """The target shape with ``"N"`` replaced by the input's leading size."""
    return tuple(in_shape[0] if d == "N" else d for d in shape)


def _reshape_formula_x(g, out, x, *, shape):
    return np.reshape(g, x.shape)


@register("Reshape")
class Reshape(Op):
    """out = reshape(x, shape); "N" is x's leading size, one −1 is inferred"""

    family = _FAMILY
    inputs = ("x",)
    attrs = {"shape": Attr("shape", min=-1, doc='sizes; "N" for the batch, one -1 '
                                                "inferred, e.g. [\"N\", -1]")}
    vjp_templates = {"x": "{g}.reshape({x}.shape)"}
    formulas = {
        "x": (r"\frac{\partial L}{\partial X} = \operatorname{reshape}\left("
              r"\frac{\partial L}{\partial Y}, \operatorname{shape}(X)\right)",
              _reshape_formula_x),
    }

    def check_attrs(self, attrs, *, node=None):
        shape = attrs["shape"]
        if sum(d == -1 for d in shape) > 1:
            raise AttrError(f"Reshape: attribute 'shape' {list(shape)} holds more than "
                            "one -1; only one size can be inferred", node=node)
        names = [d for d in shape if isinstance(d, str) and d != "N"]
        if names:
            raise AttrError(f"Reshape: attribute 'shape' names '{names[0]}'; the only "
                            "name allowed is \"N\" (the input's leading size)",
                            node=node)

    batching = "map"  # whether the batch stays on axis 0 is read off the shapes

    def shape(self, x, *, shape):
        if "N" in shape and len(x) == 0:
            raise ShapeError('Reshape: shape uses "N", but the input is a scalar '
                             "with no leading axis")
        target = _reshape_target(x, shape)
        known = [d for d in target if d != -1]
        in_k, in_syms = _dims_split(x)
        t_k, t_syms = _dims_split(known)
        # Cancel symbols that both sides share; what is left must match.
        common = in_syms & t_syms
        in_syms, t_syms = in_syms - common, t_syms - common
        if -1 not in target:
            if not in_syms and not t_syms and in_k != t_k:
                raise ShapeError(f"Reshape: cannot reshape {fmt(x)} ({_dims_count(x)} "
                                 f"elements) into {fmt(target)} ({_dims_count(known)} "
                                 "elements)")
            return target
        if t_syms:  # the target holds a symbol the input lacks: leave it symbolic
            fill = f"({_dims_expr(in_k, in_syms)})/({_dims_expr(t_k, t_syms)})"
        elif t_k == 0:
            raise ShapeError(f"Reshape: cannot infer -1 in {list(shape)}: the other "
                             "sizes multiply to 0")
        elif in_k % t_k == 0:
            fill = _dims_expr(in_k // t_k, in_syms)
        elif not in_syms:
            raise ShapeError(f"Reshape: cannot reshape {fmt(x)} ({in_k} elements) "
                             f"into {fmt(shape)}: {in_k} is not a multiple of {t_k}")
        else:
            d = math.gcd(in_k, t_k)
            fill = f"{_dims_expr(in_k // d, in_syms)}/{t_k // d}"
        return tuple(fill if d == -1 else d for d in target)

    def forward(self, ctx, x, *, shape):
        return np.reshape(x, _reshape_target(x.shape, shape))

    def vjp(self, ctx, g, out, x, *, shape):
        return (np.reshape(g, x.shape) if _needs_grad(ctx, 1)[0] else None,)


def _flatten_formula_x(g, out, x, *, start_axis):
    return np.reshape(g, x.shape)


@register("Flatten")
class Flatten(Op):
    """out = reshape(x, (x.shape[:start_axis], −1))"""

    family = _FAMILY
    inputs = ("x",)
    attrs = {"start_axis": Attr("int", 1, doc="first axis to flatten; it and all "
                                              "later axes become one")}
    template = "{x}.reshape({x}.shape[:{start_axis}] + (-1,))"
    vjp_templates = {"x": "{g}.reshape({x}.shape)"}
    formulas = {
        "x": (r"\frac{\partial L}{\partial X} = \operatorname{reshape}\left("
              r"\frac{\partial L}{\partial Y}, \operatorname{shape}(X)\right)",
              _flatten_formula_x),
    }

    batching = "map"

    def shape(self, x, *, start_axis):
        s = normalise_axis(start_axis, len(x), "Flatten: start_axis")
        return tuple(x[:s]) + (_dims_product(x[s:]),)

    def forward(self, ctx, x, *, start_axis):
        s = start_axis % x.ndim
        return x.reshape(x.shape[:s] + (math.prod(x.shape[s:]),))

    def vjp(self, ctx, g, out, x, *, start_axis):
        return (np.reshape(g, x.shape) if _needs_grad(ctx, 1)[0] else None,)


def _concat_formula_a(g, out, a, b, *, axis):
    return np.take(g, np.arange(a.shape[axis]), axis=axis)


def _concat_formula_b(g, out, a, b, *, axis):
    n = a.shape[axis]
    return np.take(g, np.arange(n, n + b.shape[axis]), axis=axis)


@register("Concat")
class Concat(Op):
    """out = [a, b] joined along axis"""

    family = _FAMILY
    inputs = ("a", "b")
    attrs = {"axis": Attr("int", 1, doc="axis to join along (1: features or "
                                        "channels)")}
    template = "np.concatenate(({a}, {b}), axis={axis})"
    formulas = {
        "a": (r"\frac{\partial L}{\partial A} = \left(\frac{\partial L}{\partial Y}"
              r"\right)_{[\,:n_A]}", _concat_formula_a),
        "b": (r"\frac{\partial L}{\partial B} = \left(\frac{\partial L}{\partial Y}"
              r"\right)_{[n_A:\,]}", _concat_formula_b),
    }

    batching_for = along_axis_batching

    def shape(self, a, b, *, axis):
        if len(a) != len(b):
            raise ShapeError(f"Concat: a is {fmt(a)} (rank {len(a)}) and b is {fmt(b)} "
                             f"(rank {len(b)}): inputs need the same rank")
        if len(a) == 0:
            raise ShapeError("Concat: inputs are scalars; they need an axis to join")
        ax = normalise_axis(axis, len(a), "Concat: axis")
        out = []
        for i, (da, db) in enumerate(zip(a, b)):
            if i == ax:
                out.append(_dims_sum(da, db))
            elif not same_dim(da, db):
                raise ShapeError(f"Concat: a is {fmt(a)} and b is {fmt(b)}: sizes must "
                                 f"match on every axis but axis {ax} (axis {i}: {da} "
                                 f"vs {db})")
            else:
                out.append(_first_concrete(da, db))
        return tuple(out)

    def forward(self, ctx, a, b, *, axis):
        return np.concatenate((a, b), axis=axis)

    def vjp(self, ctx, g, out, a, b, *, axis):
        ax = axis % g.ndim
        n = a.shape[ax]
        head = (slice(None),) * ax
        need_a, need_b = _needs_grad(ctx, 2)
        return (g[head + (slice(None, n),)] if need_a else None,
                g[head + (slice(n, None),)] if need_b else None)


# ---- reductions ----------------------------------------------------------------------

def _reduce_axes(op, axis, ndim):
    """Sorted, non-negative axes a reduction runs over (``None``: all)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    norm = [normalise_axis(a, ndim, f"{op}: axis") for a in axes]
    for a, n in zip(axes, norm):
        if norm.count(n) > 1:
            raise ShapeError(f"{op}: axis {n} is listed twice in axis {list(axes)}")
    return tuple(sorted(norm))


def _reduce_shape(op, x, axis, keepdims):
    axes = _reduce_axes(op, axis, len(x))
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(x))
    return tuple(d for i, d in enumerate(x) if i not in axes)


def _reduce_spread(g, x, axis, keepdims, scale=None):
    """``g`` of a reduction broadcast back over the reduced axes of ``x``."""
    axes = _reduce_axes("reduction", axis, x.ndim)
    g = np.asarray(g)
    if not keepdims:
        g = np.expand_dims(g, axes)
    if scale is not None:
        g = g * scale
    return np.broadcast_to(g, x.shape)


def _sum_formula_x(g, out, x, *, axis, keepdims):
    # ∂L/∂x[i, j] = ∂L/∂y[i] for every j on the reduced axes, written as a loop.
    axes = _reduce_axes("Sum", axis, x.ndim)
    gx = np.empty(x.shape)
    for idx in np.ndindex(*x.shape):
        if keepdims:
            kept = tuple(0 if i in axes else k for i, k in enumerate(idx))
        else:
            kept = tuple(k for i, k in enumerate(idx) if i not in axes)
        gx[idx] = np.asarray(g)[kept]
    return gx


def _mean_formula_x(g, out, x, *, axis, keepdims):
    axes = _reduce_axes("Mean", axis, x.ndim)
    n = math.prod(x.shape[a] for a in axes)
    return _sum_formula_x(g, out, x, axis=axis, keepdims=keepdims) / n


class _Reduce(Op):
    family = _FAMILY
    inputs = ("x",)
    attrs = {
        "axis": Attr("axes", None, doc="an axis or a list of axes; default: all"),
        "keepdims": Attr("bool", False, doc="keep reduced axes with size 1"),
    }

    def shape(self, x, *, axis, keepdims):
        return _reduce_shape(self.name, x, axis, keepdims)

    def batching_for(self, attrs, training, ranks):
        # Over the batch: a sum or a mean of the examples' values.
        rank = ranks[0] or 0
        if rank and 0 not in _reduce_axes(self.name, attrs["axis"], rank):
            return "map", ("x",)
        return self.name.lower(), ("x",)


@register("Sum")
class Sum(_Reduce):
    """out = Σ_axis x"""

    template = "np.sum({x}, axis={axis}, keepdims={keepdims})"
    formulas = {
        "x": (r"\frac{\partial L}{\partial x_{i,j}} = \frac{\partial L}{\partial y_{i}}"
              r"\quad (j \text{ runs over the summed axes})", _sum_formula_x),
    }

    def forward(self, ctx, x, *, axis, keepdims):
        return np.asarray(np.sum(x, axis=axis, keepdims=keepdims))

    def vjp(self, ctx, g, out, x, *, axis, keepdims):
        if not _needs_grad(ctx, 1)[0]:
            return (None,)
        return (_reduce_spread(g, x, axis, keepdims),)


@register("Mean")
class Mean(_Reduce):
    """out = (1/n) Σ_axis x, n the number of elements reduced"""

    template = "np.mean({x}, axis={axis}, keepdims={keepdims})"
    formulas = {
        "x": (r"\frac{\partial L}{\partial x_{i,j}} = \frac{1}{n}"
              r" \frac{\partial L}{\partial y_{i}}"
              r"\quad (j \text{ runs over the } n \text{ averaged elements})",
              _mean_formula_x),
    }

    def forward(self, ctx, x, *, axis, keepdims):
        return np.asarray(np.mean(x, axis=axis, keepdims=keepdims))

    def vjp(self, ctx, g, out, x, *, axis, keepdims):
        if not _needs_grad(ctx, 1)[0]:
            return (None,)
        axes = _reduce_axes("Mean", axis, x.ndim)
        n = math.prod(x.shape[a] for a in axes)
        return (_reduce_spread(g, x, axis, keepdims, scale=1.0 / max(n, 1)),)
