"""Shapes: symbolic dimensions, broadcasting, window arithmetic, warnings.

A shape is a tuple whose entries are non-negative ints or strings. A string
(``"N"``) is a symbolic dimension, usually the batch, carried through
inference unchanged. Two different symbols, or a symbol and an int, are
assumed to agree: only concrete sizes can contradict each other.

The ops' shape rules are written with these helpers; whole-graph inference,
which runs those rules node by node, is :mod:`graphlab.validate`.
"""

import contextvars
import math

from .errors import ShapeError

__all__ = [
    "fmt",
    "numel",
    "is_concrete",
    "same_dim",
    "broadcast",
    "normalise_axis",
    "window",
    "window_warning",
    "warn",
    "collect_warnings",
]


def fmt(shape):
    """``(N, 6, 28, 28)`` → ``'N×6×28×28'``; a scalar is ``'scalar'``."""
    if shape is None:
        return "?"
    if len(shape) == 0:
        return "scalar"
    return "×".join(str(d) for d in shape)


def numel(shape):
    """Number of elements of a concrete shape (symbols count as 1)."""
    return math.prod(d for d in shape if isinstance(d, int))


def is_concrete(shape):
    return all(isinstance(d, int) for d in shape)


def same_dim(a, b):
    """False only when two concrete sizes differ."""
    return not (isinstance(a, int) and isinstance(b, int) and a != b)


def broadcast(*shapes, what="inputs"):
    """NumPy broadcasting of shapes that may hold symbolic dimensions.

    Raises
    ------
    ShapeError
        If two concrete sizes differ and neither is 1.
    """
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(-ndim, 0):
        dims = [s[i] for s in shapes if len(s) >= -i]
        concrete = {d for d in dims if isinstance(d, int) and d != 1}
        if len(concrete) > 1:
            raise ShapeError(f"{what} {' and '.join(fmt(s) for s in shapes)} do not "
                             "broadcast: sizes must match or be 1 on each axis")
        symbols = [d for d in dims if isinstance(d, str)]
        if concrete:
            out.append(concrete.pop())
        elif symbols:
            out.append(symbols[0])
        else:
            out.append(1)
    return tuple(out)


def normalise_axis(axis, ndim, what="axis"):
    """Map a negative axis into ``range(ndim)``; raise ``ShapeError`` if outside."""
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{what} {axis} is out of range for a tensor of rank {ndim}")
    return axis % ndim


# ---- windows: convolution and pooling arithmetic --------------------------------

def window(size, kernel, stride, padding, dilation=1, *, axis_name="axis"):
    """Output length and padding of a sliding window along one axis.

    Parameters
    ----------
    size : int or str
        Input length (a symbol passes through as the output length).
    kernel, stride, dilation : int
    padding : int, (int, int), or "valid", "same", "full"
        Padding modes follow the textbook/TensorFlow convention (see SPEC
        section 2); an int pads both sides and follows PyTorch.

    Returns
    -------
    out : int or str
    pad : (int, int)
        Padding before and after.
    dropped : int
        Input positions at the end that no window reads.

    Raises
    ------
    ShapeError
        If the (dilated) window is larger than the padded input.

    Examples
    --------
    >>> window(13, 6, 5, "valid")
    (2, (0, 0), 2)
    >>> window(13, 6, 5, "same")
    (3, (1, 2), 0)
    """
    f = dilation * (kernel - 1) + 1
    if padding == "valid":
        pad = (0, 0)
    elif padding == "full":
        pad = (f - 1, f - 1)
    elif padding == "same":
        if isinstance(size, str):
            return size, None, 0
        out = -(-size // stride)
        total = max((out - 1) * stride + f - size, 0)
        pad = (total // 2, total - total // 2)
    elif isinstance(padding, int):
        pad = (padding, padding)
    else:
        pad = tuple(padding)
    if isinstance(size, str):
        return size, pad, 0
    span = size + pad[0] + pad[1] - f
    if span < 0:
        raise ShapeError(
            f"the window ({_window_desc(kernel, dilation)}) is larger than the padded "
            f"input along {axis_name} ({size} + {pad[0]} + {pad[1]} = "
            f"{size + pad[0] + pad[1]}): use a smaller kernel or more padding")
    out = span // stride + 1
    unread = span % stride  # trailing positions of the padded input no window reaches
    dropped = max(0, unread - pad[1])
    return out, pad, dropped


def _window_desc(kernel, dilation):
    if dilation == 1:
        return f"{kernel}"
    return f"{kernel} dilated by {dilation} = {dilation * (kernel - 1) + 1}"


def window_warning(axes):
    """Warning text for axes whose windows drop input, or ``None``.

    ``axes`` is a list of ``(noun, size, span, stride, pad, dropped)`` where
    ``noun`` names one position along the axis (``"row"``, ``"column"``,
    ``"input"``) and ``span`` is the dilated kernel length.

    Examples
    --------
    >>> window_warning([("row", 7, 3, 3, (0, 0), 1), ("column", 7, 3, 3, (0, 0), 1)])
    '(7 − 3 + 0)/3 + 1 = 2.33 → 2: the last row and column are never read'
    """
    sums, lost = [], []
    for noun, size, span, stride, pad, dropped in axes:
        if dropped <= 0:
            continue
        p = pad[0] + pad[1]
        exact = (size - span + p) / stride + 1
        text = (f"({size} − {span} + {p})/{stride} + 1 = {exact:.3g} → "
                f"{math.floor(exact)}")
        if text not in sums:
            sums.append(text)
        lost.append((dropped, noun))
    if not lost:
        return None
    if len({d for d, _ in lost}) == 1:
        d = lost[0][0]
        nouns = " and ".join(n if d == 1 else n + "s" for _, n in lost)
        what = f"the last {nouns}" if d == 1 else f"the last {d} {nouns}"
    else:
        what = " and ".join(f"the last {n}" if d == 1 else f"the last {d} {n}s"
                            for d, n in lost)
    verb = "is" if len(lost) == 1 and lost[0][0] == 1 else "are"
    return "; ".join(sums) + f": {what} {verb} never read"


# ---- warnings from shape rules -----------------------------------------------------

_warnings = contextvars.ContextVar("graphlab_shape_warnings", default=None)


def warn(message):
    """Called by a shape rule: record a warning for the node being inferred."""
    sink = _warnings.get()
    if sink is not None:
        sink.append(message)


class collect_warnings:
    """Context manager that collects :func:`warn` messages into a list."""

    def __enter__(self):
        self.messages = []
        self._token = _warnings.set(self.messages)
        return self.messages

    def __exit__(self, *exc):
        _warnings.reset(self._token)
        return False
