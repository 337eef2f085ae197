"""Layer kinds: an op together with the Parameter nodes that hold its weights.

A *layer* is an op node (Linear, Conv2D, LSTM…) whose weight inputs come from
Parameter nodes. Each :class:`LayerKind` says how its weights are shaped from
its user-facing settings (units, filters, kernel, hidden size) and the size of
its input, and how to read the settings back from the shapes.
:class:`graphlab.GraphBuilder` sizes the Parameters it creates with them, and
the editor's layer shortcuts place, read and resize layers with them.
"""

import numbers
from dataclasses import dataclass
from typing import Callable

from .ops import get_op

__all__ = ["LAYERS", "BY_OP", "LayerKind"]


@dataclass
class LayerKind:
    """How one kind of layer sizes its parameters.

    ``settings`` are the user-facing numbers with their defaults; ``in_axis``
    is the axis of the input that the weights must match; ``shapes(settings,
    n_in)`` gives ``{port: shape}`` and ``read(shapes)`` gives back
    ``(settings, n_in)``; ``inits`` the init rule of each weight port.
    """

    name: str
    op: str
    prefix: str
    settings: dict
    in_axis: int
    shapes: Callable
    read: Callable
    inits: dict
    default_in: int
    doc: str

    @property
    def ports(self):
        return list(self.inits)


def _rec(op):
    gates = get_op(op).recurrence.n_gates  # G row blocks, as the op declares

    def shapes(s, n_in):
        h = s["hidden"]
        return {"w_ih": [gates * h, n_in], "w_hh": [gates * h, h],
                "b_ih": [gates * h], "b_hh": [gates * h]}

    def read(p):
        return {"hidden": p["w_hh"][1]}, p["w_ih"][1]

    return shapes, read


def _pair(v):
    return [v, v] if isinstance(v, numbers.Integral) else list(v)


LAYERS = {}


def _add(kind):
    LAYERS[kind.name] = kind


_add(LayerKind(
    "Dense", "Linear", "fc", {"units": 32}, -1,
    lambda s, n: {"w": [s["units"], n], "b": [s["units"]]},
    lambda p: ({"units": p["w"][0]}, p["w"][1]),
    {"w": "uniform", "b": "zeros"}, 32,
    "Fully connected layer: Linear with weights units×in and bias units."))
_add(LayerKind(
    "Conv1D layer", "Conv1D", "conv", {"filters": 8, "kernel": 3}, 1,
    lambda s, n: {"w": [s["filters"], n, s["kernel"]], "b": [s["filters"]]},
    lambda p: ({"filters": p["w"][0], "kernel": p["w"][2]}, p["w"][1]),
    {"w": "uniform", "b": "zeros"}, 1,
    "1-D convolution with its filters×in×kernel weights and a bias."))
_add(LayerKind(
    "Conv2D layer", "Conv2D", "conv", {"filters": 8, "kernel": [3, 3]}, 1,
    lambda s, n: {"w": [s["filters"], n, *_pair(s["kernel"])], "b": [s["filters"]]},
    lambda p: ({"filters": p["w"][0], "kernel": list(p["w"][2:4])}, p["w"][1]),
    {"w": "uniform", "b": "zeros"}, 1,
    "2-D convolution with its filters×in×kh×kw weights and a bias."))
_add(LayerKind(
    "ConvTranspose2D layer", "ConvTranspose2D", "deconv",
    {"filters": 8, "kernel": [3, 3]}, 1,
    lambda s, n: {"w": [n, s["filters"], *_pair(s["kernel"])], "b": [s["filters"]]},
    lambda p: ({"filters": p["w"][1], "kernel": list(p["w"][2:4])}, p["w"][0]),
    {"w": "uniform", "b": "zeros"}, 1,
    "Transposed 2-D convolution with its in×filters×kh×kw weights and a bias."))
for _name, _op in (("RNN layer", "RNN"), ("LSTM layer", "LSTM"), ("GRU layer", "GRU")):
    _shapes, _read = _rec(_op)
    _add(LayerKind(
        _name, _op, _op.lower(), {"hidden": 32}, -1, _shapes, _read,
        {"w_ih": "uniform", "w_hh": "uniform", "b_ih": "uniform", "b_hh": "uniform"},
        8, f"{_op} over (N, T, F) inputs with its input and recurrent weights and "
        "biases."))
_add(LayerKind(
    "BatchNorm layer", "BatchNorm", "bn", {}, 1,
    lambda s, n: {"gamma": [n], "beta": [n]},
    lambda p: ({}, p["gamma"][0]),
    {"gamma": "ones", "beta": "zeros"}, 8,
    "Batch normalisation with its per-channel scale (gamma) and shift (beta)."))

BY_OP = {k.op: k for k in LAYERS.values()}
