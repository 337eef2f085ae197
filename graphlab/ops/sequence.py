"""Sequences: Embedding, the lookup that turns tokens into vectors.

``Embedding`` is ``torch.nn.Embedding``'s lookup (``F.embedding(x, w)``): ``x``
holds integer token indices of any shape (a batch of sequences ``(N, T)``),
``w`` is ``num × dim`` (one row per token, PyTorch's layout), and the output is
``x``'s shape with ``dim`` appended: row ``x[n, t]`` of ``w``. Gradients reach
only ``w``, summed into each row once per occurrence of its token.

Matrix-calculus form: with ``X`` the one-hot matrix of the flattened indices
(one row per position, ``num`` columns), the lookup is ``Y = X W`` and
``∂L/∂W = Xᵀ ∂L/∂Y``; the kernel adds rows instead of multiplying by ``Xᵀ``.
"""

import numpy as np

from ..errors import ExecutionError, ShapeError
from ..shapes import fmt, numel
from .base import Op, register

__all__ = ["Embedding"]


def _embedding_indices(x, num, name):
    """``x`` as int64 indices; raise ``ExecutionError`` for a token outside the
    table (negative indices do not wrap around, as in PyTorch)."""
    if x.dtype.kind == "f":
        if not np.all(np.mod(x, 1) == 0):
            raise ExecutionError(f"{name}: x holds non-integer values; it must hold "
                                 f"token indices 0 … {num - 1}")
        x = x.astype(np.int64)
    elif x.dtype.kind not in "iu":
        raise ExecutionError(f"{name}: x has dtype {x.dtype}, expected integer token "
                             "indices")
    if x.size and (x.min() < 0 or x.max() >= num):
        bad = x[(x < 0) | (x >= num)].flat[0]
        raise ExecutionError(f"{name}: x holds token {int(bad)}, but w has {num} rows "
                             f"(tokens 0 … {num - 1}): enlarge w or check the "
                             "vocabulary")
    return x


def _embedding_grad_w(g, x, num):
    """Rows of ``g`` summed by token: ``onehot(x)ᵀ g`` without the one-hot.

    A stable sort groups the positions of each token and ``np.add.reduceat``
    sums each group in one call (measured at 2,048 positions: 0.7 ms against
    1.4 ms for ``np.add.at`` with 65 tokens of 32, 2.6 against 3.3 ms with 3,000
    of 64, and no num × positions one-hot matrix).
    """
    dim = g.shape[-1]
    flat = x.reshape(-1)
    rows = g.reshape(-1, dim)
    gw = np.zeros((num, dim), dtype=g.dtype)
    if flat.size == 0:
        return gw
    order = np.argsort(flat, kind="stable")
    tokens = flat[order]
    starts = np.flatnonzero(np.concatenate(([True], tokens[1:] != tokens[:-1])))
    gw[tokens[starts]] = np.add.reduceat(rows[order], starts, axis=0)
    return gw


def _embedding_formula_w(g, out, x, w):
    # Xᵀ ∂L/∂Y with X the explicit one-hot matrix of the indices
    onehot = np.eye(w.shape[0])[np.asarray(x, dtype=np.int64).reshape(-1)]
    return onehot.T @ np.asarray(g).reshape(-1, w.shape[1])


@register("Embedding")
class Embedding(Op):
    """out[..., :] = w[x[...], :] (row x of the num × dim table w)"""

    family = "sequences"
    inputs = ("x", "w")
    nondiff = ("x",)
    formulas = {"w": (
        r"\frac{\partial L}{\partial W} = \operatorname{onehot}(x)^{\top}"
        r" \frac{\partial L}{\partial Y}", _embedding_formula_w)}
    batching, batch_ports = "map", ("x",)
    vjp_reads_out = False

    def shape(self, x, w):
        if len(w) != 2:
            raise ShapeError(f"{self.name}: w must be a table num × dim (one row per "
                             f"token), got {fmt(w)}")
        return tuple(x) + (w[1],)

    def forward(self, ctx, x, w):
        x = _embedding_indices(np.asarray(x), w.shape[0], self.name)
        return w[x]

    def vjp(self, ctx, g, out, x, w):
        need = getattr(ctx, "needs_input_grad", None)
        if need is not None and not need[1]:
            return None, None
        x = _embedding_indices(np.asarray(x), w.shape[0], self.name)
        return None, _embedding_grad_w(np.asarray(g, dtype=w.dtype), x, w.shape[0])

    def macs(self, in_shapes, out_shapes, **_):
        return numel(in_shapes[0][1:]) * (in_shapes[1][1] if len(in_shapes[1]) == 2
                                          else 1)
