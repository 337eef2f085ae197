"""Source ops: Input, Parameter, Constant.

Sources have no inputs. Their values come from the program's feeds
(``Input``), its parameter store (``Parameter``) or their own attribute
(``Constant``); ``forward`` is only used by the node-by-node interpreter.
"""

import math

import numpy as np

from ..errors import AttrError, ShapeError
from .base import Attr, Op, register

__all__ = ["Input", "Parameter", "Constant", "initial_value", "fan_in_out"]

INITS = ("zeros", "ones", "normal", "uniform", "xavier_uniform", "he_normal")


def _value_shape(value):
    return tuple(np.shape(np.asarray(value, dtype=float)))


def _check_value_shape(attrs, node):
    value, shape = attrs.get("value"), attrs.get("shape")
    if value is None or shape is None:
        return
    try:
        vshape = _value_shape(value)
    except ValueError:
        raise AttrError("attribute 'value' is a ragged list: every row must have the "
                        "same length", node=node) from None
    if len(vshape) != len(shape) or any(isinstance(d, int) and d != v
                                         for d, v in zip(shape, vshape)):
        raise AttrError(f"attribute 'value' has shape {list(vshape)} but 'shape' is "
                        f"{list(shape)}: make them agree", node=node)


@register("Input")
class Input(Op):
    """A value fed from outside: data, labels, or a point to differentiate at."""

    family = "sources"
    inputs = ()
    attrs = {
        "shape": Attr("shape", None, doc="sizes; \"N\" for the batch"),
        "dtype": Attr("dtype", "float32"),
        "value": Attr("value", None),
    }

    def check_attrs(self, attrs, *, node=None):
        if attrs["shape"] is None:
            if attrs["value"] is None:
                raise AttrError("Input needs attribute 'shape' (or a 'value' to take "
                                "it from), e.g. \"shape\": [\"N\", 64]", node=node)
            try:
                attrs["shape"] = _value_shape(attrs["value"])
            except ValueError:
                raise AttrError("attribute 'value' is a ragged list",
                                node=node) from None
        _check_value_shape(attrs, node)
        if attrs["value"] is not None and attrs["dtype"] == "int64":
            v = np.asarray(attrs["value"], dtype=float)
            info = np.iinfo(np.int64)
            if not np.all(np.mod(v, 1) == 0) or (v.size and (
                    v.min() < info.min or v.max() >= info.max)):
                raise AttrError("attribute 'value' must hold whole numbers within "
                                "int64's range (about ±9.2e18) for an int64 Input",
                                node=node)

    def shape(self, *, shape, **_):
        return tuple(shape)

    def forward(self, ctx, *, value, dtype, **_):
        return np.asarray(value, dtype=dtype)


@register("Parameter")
class Parameter(Op):
    """A learned tensor: weights or biases, updated by the optimizer if trainable."""

    family = "sources"
    inputs = ()
    attrs = {
        "shape": Attr("shape", doc="concrete sizes, e.g. [10, 64]"),
        "init": Attr("init", "xavier_uniform", choices=INITS),
        "value": Attr("value", None),
        "trainable": Attr("bool", True),
    }

    def check_attrs(self, attrs, *, node=None):
        if any(isinstance(d, str) for d in attrs["shape"]):
            raise AttrError("a Parameter's shape must be concrete integers, got "
                            f"{list(attrs['shape'])}", node=node)
        _check_value_shape(attrs, node)

    def shape(self, *, shape, **_):
        return tuple(shape)

    def parameters(self, attrs):
        return math.prod(attrs["shape"])

    def forward(self, ctx, *, value, shape, init, **_):
        if value is not None:
            return np.asarray(value, dtype=np.float64)
        return initial_value(shape, init, np.random.default_rng(0))


@register("Constant")
class Constant(Op):
    """A fixed tensor written into the graph."""

    family = "sources"
    inputs = ()
    attrs = {"value": Attr("value")}

    def shape(self, *, value, **_):
        try:
            return _value_shape(value)
        except ValueError:
            raise ShapeError("attribute 'value' is a ragged list") from None

    def forward(self, ctx, *, value, **_):
        return np.asarray(value, dtype=np.float64)


def fan_in_out(shape):
    """PyTorch's fan-in and fan-out of a weight shape.

    ``(out, in)`` → ``(in, out)``; ``(out, in, k...)`` → ``(in·k, out·k)``; a
    vector's fan-in is its length.
    """
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def initial_value(shape, init, rng, dtype=np.float64):
    """A freshly initialised parameter value.

    ``normal`` is N(0, 0.01²) as in CS231n; ``uniform`` is PyTorch's default
    U(−1/√fan_in, 1/√fan_in); ``xavier_uniform`` is U(±√(6/(fan_in+fan_out)));
    ``he_normal`` is N(0, 2/fan_in); a number fills the tensor with it.
    """
    shape = tuple(shape)
    fan_in, fan_out = fan_in_out(shape)
    if isinstance(init, (int, float)):
        v = np.full(shape, float(init))
    elif init == "zeros":
        v = np.zeros(shape)
    elif init == "ones":
        v = np.ones(shape)
    elif init == "normal":
        v = rng.normal(0.0, 0.01, shape)
    elif init == "uniform":
        bound = 1.0 / math.sqrt(max(fan_in, 1))
        v = rng.uniform(-bound, bound, shape)
    elif init == "xavier_uniform":
        bound = math.sqrt(6.0 / max(fan_in + fan_out, 1))
        v = rng.uniform(-bound, bound, shape)
    elif init == "he_normal":
        v = rng.normal(0.0, math.sqrt(2.0 / max(fan_in, 1)), shape)
    else:
        raise ValueError(f"unknown init {init!r}")
    return v.astype(dtype)
