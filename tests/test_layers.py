"""Layer kinds: the weight shapes that the builder and the editor's palette share."""

import pytest

import graphlab as gl
from graphlab.layers import BY_OP, LAYERS


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_settings_read_back_from_the_shapes_they_make(name):
    kind = LAYERS[name]
    shapes = kind.shapes(kind.settings, 5)
    assert set(shapes) == set(kind.ports)
    settings, n_in = kind.read(shapes)
    assert n_in == 5
    assert {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()} \
        == kind.settings
    assert BY_OP[kind.op] is kind


@pytest.mark.parametrize("method, op, args", [
    ("linear", "Linear", (["N", 6], 4)), ("conv2d", "Conv2D", (["N", 3, 8, 8], 5, 3)),
    ("conv1d", "Conv1D", (["N", 3, 8], 5, 3)),
    ("conv_transpose2d", "ConvTranspose2D", (["N", 3, 8, 8], 5, 3)),
    ("rnn", "RNN", (["N", 7, 6], 4)), ("lstm", "LSTM", (["N", 7, 6], 4)),
    ("gru", "GRU", (["N", 7, 6], 4)), ("batchnorm", "BatchNorm", (["N", 3, 8, 8],))])
def test_builder_sizes_parameters_as_the_layer_kind_says(method, op, args):
    b = gl.GraphBuilder()
    x = b.input("x", args[0])
    node = getattr(b, method)(x, *args[1:])
    g = b.graph
    kind = BY_OP[op]
    params = {p: e.src for p, e in g.in_edges(node).items() if p != "x"}
    shapes = {p: g.node(n).attrs["shape"] for p, n in params.items()}
    settings, n_in = kind.read(shapes)
    assert kind.shapes(settings, n_in) == shapes
    assert n_in == args[0][kind.in_axis]
