"""Window arithmetic (SPEC section 2 padding modes), broadcasting, warnings."""

import re

import pytest

import graphlab as gl
from graphlab.errors import ShapeError
from graphlab.shapes import broadcast, fmt, window, window_warning

from .conftest import sample


@pytest.mark.parametrize("size, k, s, padding, expected", [
    (13, 6, 5, "valid", (2, (0, 0), 2)),   # the SPEC example: last 2 inputs dropped
    (13, 6, 5, "same", (3, (1, 2), 0)),    # 1 padded left, 2 right
    (13, 6, 1, "full", (18, (5, 5), 0)),   # in + f − 1
    (28, 5, 1, "same", (28, (2, 2), 0)),
    (28, 4, 1, "same", (28, (1, 2), 0)),   # even kernel: the odd one on the right
    (7, 3, 3, 0, (2, (0, 0), 1)),
    (32, 5, 1, 0, (28, (0, 0), 0)),
    (5, 3, 2, 1, (3, (1, 1), 0)),          # PyTorch: floor((5 + 2 − 3)/2) + 1
    (10, 3, 1, (2, 0), (10, (2, 0), 0)),
])
def test_window_sizes_follow_spec(size, k, s, padding, expected):
    assert window(size, k, s, padding) == expected


def test_valid_is_ceil_and_same_is_ceil_over_stride():
    for n in range(5, 30):
        for f in range(1, 5):
            for s in range(1, 4):
                assert window(n, f, s, "valid")[0] == -(-(n - f + 1) // s)
                assert window(n, f, s, "same")[0] == -(-n // s)


def test_dilation_widens_the_window():
    assert window(10, 3, 1, 0, dilation=2) == (6, (0, 0), 0)


def test_window_larger_than_padded_input_is_an_error():
    with pytest.raises(ShapeError, match="larger than the padded input"):
        window(4, 5, 1, "valid")


def test_symbolic_size_passes_through():
    assert window("H", 3, 1, 1)[0] == "H"


def test_warning_text_shows_the_arithmetic():
    assert window_warning([("row", 7, 3, 3, (0, 0), 1),
                           ("column", 7, 3, 3, (0, 0), 1)]) \
        == "(7 − 3 + 0)/3 + 1 = 2.33 → 2: the last row and column are never read"
    assert window_warning([("input", 13, 6, 5, (0, 0), 2)]) \
        == "(13 − 6 + 0)/5 + 1 = 2.4 → 2: the last 2 inputs are never read"
    assert window_warning([("row", 8, 3, 1, (0, 0), 0)]) is None


def test_broadcast_keeps_symbols_and_rejects_mismatch():
    assert broadcast(("N", 1, 5), (3, 1)) == ("N", 3, 5)
    with pytest.raises(ShapeError):
        broadcast((2, 3), (4, 3))


def test_fmt():
    assert fmt(("N", 6, 28, 28)) == "N×6×28×28"
    assert fmt(()) == "scalar"


def test_lenet5_shapes_and_parameter_count():
    g = gl.load(sample("lenet5"))
    shapes = g.infer_shapes()
    assert fmt(shapes["conv1"]) == "N×6×28×28"
    assert fmt(shapes["pool2"]) == "N×16×5×5"
    assert fmt(shapes["flat"]) == "N×400"
    assert g.parameter_count() == 61706


def test_conv_that_drops_input_warns_in_check():
    b = gl.GraphBuilder("drop")
    x = b.input("x", ["N", 1, 7, 7])
    b.conv2d(x, 2, 3, stride=3, name="conv")
    warnings = b.graph.check()
    assert warnings == [("conv", "(7 − 3 + 0)/3 + 1 = 2.33 → 2: the last row and "
                                 "column are never read")]


def test_linear_mismatch_message_names_features():
    b = gl.GraphBuilder("fc")
    x = b.input("x", ["N", 256])
    w = b.parameter("w", [10, 400])
    b.op("Linear", x, w, name="fc1")
    with pytest.raises(ShapeError) as info:
        b.graph.check()
    assert info.value.node == "fc1"
    assert "256" in str(info.value) and "400" in str(info.value)


# ---- ports carry dtypes (issue 16) ---------------------------------------------------

def _unpool_graph(indices_from):
    g = gl.Graph("unpool")
    g.add_node("x", "Input", {"shape": ["N", 1, 4, 4]})
    g.add_node("i", "Input", {"shape": ["N", 1, 2, 2], "dtype": "int64"})
    g.add_node("p", "MaxPool2D", {"kernel": 2})
    g.add_node("r", "ReLU")
    g.add_node("u", "MaxUnpool2D", {"kernel": 2})
    g.connect("x", "p:x")
    g.connect("p", "r:x")
    g.connect("p", "u:x")
    g.connect(indices_from, "u:indices")
    return g


@pytest.mark.parametrize("src", ["p:out", "r"])
def test_float_tensor_into_integer_port_is_refused_at_check(src):
    from graphlab.errors import PortError
    with pytest.raises(PortError, match="input 'indices' takes integers") as e:
        _unpool_graph(src).check()
    assert e.value.node == "u"


@pytest.mark.parametrize("src", ["p:indices", "i"])
def test_integer_tensor_into_integer_port_checks(src):
    assert _unpool_graph(src).check() == []


@pytest.mark.parametrize("data, what", [(3, "3"), ("digits", '"digits"'),
                                        ([1], "[1]")])
def test_train_data_that_is_not_an_object_is_an_error(data, what):
    g = gl.load(sample("mlp_xor"))
    g.train = dict(g.train, data=data)
    with pytest.raises(gl.GraphError, match=f"train.data must be an object .*got "
                                             f"{re.escape(what)}"):
        g.check()
    g.train["data"] = {"dataset": "xor", "feeds": 3}
    with pytest.raises(gl.GraphError, match="train.data.feeds must be an object"):
        g.check()
