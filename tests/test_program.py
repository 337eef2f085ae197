"""Lowering and generated code: against the interpreter, finite differences,
and the textbook numbers."""

import os

import numpy as np
import pytest

import graphlab as gl
from graphlab.errors import ExecutionError
from graphlab.interpret import trace

from .conftest import SAMPLES, sample

SAMPLE_FILES = sorted(f for f in os.listdir(SAMPLES) if f.endswith(".graph.json"))


def test_cs231n_numbers(cs231n):
    prog = gl.compile(cs231n, dtype="float64")
    assert float(prog.forward({"x": -2, "y": 5, "z": -4})["f"]) == -12.0
    grads = {k: float(v) for k, v in prog.backward().items()}
    assert grads == {"x": -4.0, "y": -4.0, "z": 3.0}


def test_neuron_output():
    prog = gl.compile(gl.load(sample("neuron")), dtype="float64")
    out = prog.forward()
    np.testing.assert_allclose(out["s"], [0.98201379, 0.11920292], rtol=1e-7)


def test_generated_source_reads_one_line_per_node(cs231n):
    src = gl.compile(cs231n).source
    assert "    q = x + y" in src and "    f = q * z" in src
    assert "    g_q = g_f * z" in src
    body = src[src.index("def backward"):]
    assert body.index("g_q =") < body.index("g_x =")  # reverse topological order


def test_value_used_twice_accumulates_gradient():
    b = gl.GraphBuilder("square")
    x = b.input("x", [3])
    sq = b.mul(x, x, name="sq")
    b.output(b.sum(sq, name="f"))
    prog = gl.compile(b.graph, dtype="float64")
    prog.forward({"x": [1.0, -2.0, 3.0]})
    np.testing.assert_allclose(prog.backward()["x"], [2.0, -4.0, 6.0])


def test_broadcast_gradient_is_summed_to_input_shape():
    b = gl.GraphBuilder("bias")
    x = b.input("x", ["N", 3])
    bias = b.parameter("b", [3], value=[0.0, 0.0, 0.0])
    b.output(b.sum(b.add(x, bias), name="f"))
    prog = gl.compile(b.graph, dtype="float64")
    prog.forward({"x": np.ones((5, 3))})
    np.testing.assert_allclose(prog.backward()["b"], [5.0, 5.0, 5.0])


def test_float32_by_default_and_float64_on_request(cs231n):
    assert gl.compile(cs231n).forward()["f"].dtype == np.float32
    assert gl.compile(cs231n, dtype="float64").forward()["f"].dtype == np.float64


def test_feed_of_wrong_shape_names_the_input():
    g = gl.load(sample("mlp_digits"))
    prog = gl.compile(g)
    with pytest.raises(ExecutionError, match="node 'x': fed shape 5×63 does not fit"):
        prog.forward({"x": np.zeros((5, 63)), "y": np.zeros(5, int)})


def test_inconsistent_batch_sizes_are_refused():
    prog = gl.compile(gl.load(sample("mlp_digits")))
    with pytest.raises(ExecutionError, match="N = 4, but another input has N = 5"):
        prog.forward({"x": np.zeros((5, 64)), "y": np.zeros(4, int)})


def test_nan_is_reported_at_the_node_that_made_it():
    b = gl.GraphBuilder("nan")
    x = b.input("x", [2])
    lg = b.log(x, name="lg")
    b.output(b.sum(b.tanh(lg, name="t"), name="f"))
    prog = gl.compile(b.graph)
    with pytest.raises(ExecutionError, match="node 'lg': produced NaN"):
        prog.forward({"x": [-1.0, 2.0]})


def test_an_infinite_gradient_is_reported_at_its_node():
    b = gl.GraphBuilder("inf")
    x = b.input("x", [2])
    b.output(b.sum(b.sqrt(x, name="r"), name="f"))  # d√x/dx = ∞ at 0
    prog = gl.compile(b.graph, dtype="float64")
    prog.forward({"x": [0.0, 1.0]})
    with pytest.raises(ExecutionError, match="node 'x': the gradient became NaN"):
        prog.backward()


def test_huge_finite_gradients_are_not_reported():
    # Their squares overflow the quick check; the exact check lets them pass.
    b = gl.GraphBuilder("huge")
    x = b.input("x", [2])
    b.output(b.sum(b.op("Mul", x, b.constant([3e30, 1.0], name="k")), name="f"))
    prog = gl.compile(b.graph)
    prog.forward({"x": [1.0, 2.0]})
    np.testing.assert_allclose(prog.backward()["x"], [3e30, 1.0], rtol=1e-6)


def test_backward_from_non_scalar_needs_seed():
    b = gl.GraphBuilder("vec")
    x = b.input("x", [2])
    b.output(b.tanh(x, name="t"))
    prog = gl.compile(b.graph, dtype="float64")
    prog.forward({"x": [0.0, 1.0]})
    with pytest.raises(ExecutionError, match="'t', whose shape is 2"):
        prog.backward()
    np.testing.assert_allclose(prog.backward(seed=[1.0, 0.0])["x"], [1.0, 0.0])


def _random_feeds(prog, rng, batch=2):
    feeds = {}
    for node, (_, shape, dtype) in prog.schedule.inputs.items():
        shp = [batch if isinstance(d, str) else d for d in shape]
        if dtype.startswith("int"):
            feeds[node] = rng.integers(0, 2, size=shp)
        else:
            feeds[node] = rng.uniform(0.1, 0.9, size=shp)
    return feeds


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_generated_code_matches_interpreter_on_every_sample(name):
    g = gl.load(os.path.join(SAMPLES, name))
    prog = gl.compile(g, dtype="float64", training=False)
    feeds = _random_feeds(prog, np.random.default_rng(0))
    out = prog.forward(feeds)
    grads = prog.backward()
    t = trace(g, feeds, params=prog.params)
    for ref, var in prog.schedule.outputs:
        np.testing.assert_allclose(out[ref], t.values[var], rtol=1e-10, atol=1e-12)
    for node, gvar in prog.schedule.grads.items():
        np.testing.assert_allclose(grads[node], t.grads[gvar[2:]], rtol=1e-8,
                                   atol=1e-12)


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_every_sample_loss_gradient_matches_finite_differences(name):
    g = gl.load(os.path.join(SAMPLES, name))
    prog = gl.compile(g, dtype="float64", training=False)
    rng = np.random.default_rng(1)
    feeds = _random_feeds(prog, rng)
    loss_ref = prog.schedule.outputs[0][0]

    def loss():
        v = prog.forward(feeds)[loss_ref]
        return float(np.sum(v))

    if np.size(prog.forward(feeds)[loss_ref]) != 1:
        pytest.skip("first output is not a scalar")
    prog.forward(feeds)
    grads = prog.backward()
    assert grads, "no gradients"
    for node, gr in grads.items():
        arr = prog.params[node] if node in prog.params else None
        if arr is None:
            continue
        d = rng.standard_normal(arr.shape)
        eps = 1e-6
        arr += eps * d
        up = loss()
        arr -= 2 * eps * d
        down = loss()
        arr += eps * d
        numeric = (up - down) / (2 * eps)
        assert np.isclose(float(np.sum(gr * d)), numeric, rtol=1e-4, atol=1e-7), node


def test_training_programs_can_skip_input_gradients():
    g = gl.load(sample("lenet5"))
    prog = gl.compile(g, outputs=["loss"], input_grads=False)
    assert "x" not in prog.schedule.grads and "conv1_w" in prog.schedule.grads
    assert "g_up" not in prog.source  # no gradient flows into the data


# ---- hardening (issue 16): feeds, non-finite results, memory, blame -----------------

def _one_input(shape, dtype="float32", op="Sum", **attrs):
    g = gl.Graph("one")
    g.add_node("x", "Input", dict({"shape": shape, "dtype": dtype}, **attrs))
    g.add_node("f", op)
    g.connect("x", "f:x")
    g.set_outputs(["f"])
    return g


def test_int_input_refuses_fractions_instead_of_truncating():
    prog = gl.compile(_one_input([2], "int64"))
    with pytest.raises(ExecutionError, match="holds 0.5, but the Input is int64") as e:
        prog.forward({"x": [0.5, 1.7]})
    assert e.value.node == "x"
    assert prog.forward({"x": [1.0, 2]})["f"] == 3  # whole floats are fine


@pytest.mark.parametrize("value", [[10**30, 1], [1e30, 1], [2.0**63, 0]])
def test_int_input_refuses_numbers_beyond_int64(value):
    with pytest.raises(ExecutionError, match="too large for int64") as e:
        gl.compile(_one_input([2], "int64")).forward({"x": value})
    assert e.value.node == "x"


def test_float_feed_beyond_float64_is_an_error():
    with pytest.raises(ExecutionError, match="too large for float64"):
        gl.compile(_one_input([], op="Exp"), dtype="float64").forward({"x": 10**400})


@pytest.mark.parametrize("value, what", [(0.0, "infinite"), (-1.0, "NaN")])
def test_scalar_result_that_is_not_finite_names_its_node(value, what):
    prog = gl.compile(_one_input([], op="Log"), dtype="float64")
    with pytest.raises(ExecutionError, match=f"produced {what} values") as e:
        prog.forward({"x": value})
    assert e.value.node == "f"


@pytest.mark.parametrize("value", [None, [1.0, None, 2.0], [1.0, float("inf"), 0.0]])
def test_nan_fed_in_is_blamed_on_the_input(value):
    shape = [] if value is None else [3]
    prog = gl.compile(_one_input(shape, op="Exp"), dtype="float64")
    with pytest.raises(ExecutionError, match="the value fed holds") as e:
        prog.forward({"x": value})
    assert e.value.node == "x"


def test_parameter_too_big_for_memory_says_how_many_bytes():
    g = gl.Graph("huge")
    g.add_node("w", "Parameter", {"shape": [100000, 100000, 100]})
    g.add_node("f", "Sum")
    g.connect("w", "f:x")
    with pytest.raises(ExecutionError, match=r"needs 8,000,000,000,000 bytes \(7.28 "
                                             r"TiB\)") as e:
        gl.compile(g, dtype="float64")
    assert e.value.node == "w"


def test_an_op_refusing_its_values_is_named_by_node():
    prog = gl.compile(gl.load(sample("mlp_xor")))
    with pytest.raises(ExecutionError, match="target holds class 7") as e:
        prog.forward({"x": [[1.0, 2.0]], "y": [7]})
    assert e.value.node == "loss"
    with pytest.raises(ExecutionError, match="target holds class 7") as e:
        trace(gl.load(sample("mlp_xor")), {"x": [[1.0, 2.0]], "y": [7]})
    assert e.value.node == "loss"


# ---- frozen programs: Parameters as constants ----------------------------------------

def _lstm_step_graph():
    b = gl.GraphBuilder("lstm step")
    x = b.input("x", ["N", 1, 3])
    h0, c0 = b.input("h0", ["N", 4]), b.input("c0", ["N", 4])
    cell = b.lstm(x, 4, h0=h0, c0=c0, name="lstm")
    b.output(b.port(cell, "h"), b.port(cell, "c"))
    return b.build()


@pytest.mark.parametrize("T", [1, 3])
def test_frozen_recurrent_program_keeps_its_stacked_weights_until_new_ones_load(T):
    b = gl.GraphBuilder("rnn")
    x = b.input("x", ["N", T, 3])
    lstm = b.lstm(x, 4, name="lstm")
    rnn = b.rnn(b.port(lstm, "y"), 5, name="rnn")
    b.output(b.port(rnn, "h"))
    g = b.build()
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((2, T, 3))}
    frozen = gl.compile(g, dtype="float64", grad=False).freeze()
    plain = gl.compile(g, dtype="float64", grad=False)
    for _ in range(3):  # new values each time: none may come from a stale stack
        new = {k: rng.standard_normal(v.shape) for k, v in plain.params.items()}
        plain.load_state_dict(new)
        frozen.load_state_dict(new)
        for _ in range(2):
            got, want = frozen.forward(feeds), plain.forward(feeds)
            np.testing.assert_allclose(got["rnn:h"], want["rnn:h"], rtol=1e-12)
    assert frozen._contexts["lstm"].stacked is not None  # kept between calls
    assert plain._contexts["lstm"].__dict__.get("stacked") is None


def test_frozen_parameters_refuse_writes_in_place():
    prog = gl.compile(_lstm_step_graph(), grad=False).freeze()
    w = prog.params["lstm_w_hh"]
    with pytest.raises(ValueError, match="read-only"):
        w += 1
    prog.load_state_dict({"lstm_w_hh": np.ones(w.shape)})
    assert (prog.params["lstm_w_hh"] == 1).all()
    assert prog.params["lstm_w_hh"].dtype == np.float32


def test_a_writeable_view_is_never_taken_for_a_constant():
    from graphlab.ops._rnn import frozen
    a = np.zeros(3)
    view = a[:]
    view.flags.writeable = False
    assert not frozen(view)  # a, its owner, can still change it
    a.flags.writeable = False
    assert frozen(a, None)


def test_feeds_like_the_last_ones_skip_conversion_but_others_are_checked():
    prog = gl.compile(_lstm_step_graph(), grad=False)
    rng = np.random.default_rng(0)
    feeds = {"x": rng.random((2, 1, 3), dtype=np.float32),
             "h0": np.zeros((2, 4), np.float32), "c0": np.zeros((2, 4), np.float32)}
    prog.forward(feeds)
    assert prog.feeds_for(feeds)["h0"] is feeds["h0"]  # taken as it is
    with pytest.raises(ExecutionError, match="node 'c0'"):  # batch 3 against 2
        prog.forward(dict(feeds, c0=np.zeros((3, 4), np.float32)))
    with pytest.raises(ExecutionError, match="node 'h0'"):
        prog.forward(dict(feeds, h0=np.zeros((2, 5), np.float32)))
    out = prog.forward(dict(feeds, h0=np.zeros((2, 4))))  # float64: converted
    assert out["lstm:h"].dtype == np.float32
    three = {k: np.concatenate([v, v[:1]]) for k, v in feeds.items()}
    assert prog.forward(three)["lstm:h"].shape == (3, 4)  # a new batch size
