"""Unrolling recurrent nodes: the same gradients as the fused ops, and BPTT norms."""

import numpy as np
import pytest

import graphlab as gl
from graphlab.symbolic import explain, unroll

from .conftest import sample


@pytest.mark.parametrize("name, node", [("rnn_digits", "rnn"), ("lstm_digits", "lstm"),
                                        ("gru_digits", "gru")])
def test_unrolled_cells_give_the_fused_ops_gradients(name, node):
    u = unroll(gl.load(sample(name)), node)
    assert u.T == 8 and u.grad_error < 1e-12 and u.agrees
    assert u.explanation.mismatches == []
    for k, g in u.original.grads.items():
        np.testing.assert_allclose(u.explanation.grads[k], g, rtol=1e-10, atol=1e-14)
    # the weights are shared: one Parameter node, one gradient summed over steps
    assert sum(1 for n in u.graph.nodes if n == f"{node}_w_hh") == 1
    sums = [s for s in u.explanation.backward if s.kind == "sum"
            and s.ref == f"{node}_w_hh"]
    (w_hh,) = sums
    assert len(w_hh.terms) == 8  # one term per time step (BPTT: Σ_t)


def test_bptt_table_is_the_product_of_jacobians():
    u = unroll(gl.load(sample("rnn_digits")), "rnn")
    assert [s.t for s in u.steps] == list(range(8, 0, -1))
    product = np.eye(u.hidden)
    for s in u.steps:
        product = product @ s.jacobian
        assert s.product_norm == pytest.approx(np.linalg.norm(product, 2))
        assert s.jacobian_norm == pytest.approx(np.linalg.norm(s.jacobian, 2))
    # the RNN's Jacobian is diag(1 − h_t²) W_hh, for the example measured
    w_hh = u.original.params["rnn_w_hh"]
    uvals = u.explanation.values
    for s in u.steps:
        h = uvals[s.h][u.example]
        np.testing.assert_allclose(s.jacobian, (1 - h**2)[:, None] * w_hh, atol=1e-12)
    # the gradient reaching h_t shrinks step by step towards the start
    g = [s.grad_norm for s in u.steps]
    assert all(a > b for a, b in zip(g, g[1:]))
    text = u.to_text()
    assert "‖∂h_T/∂h_t−1‖" in text and "vanishes" in text


def _rnn_graph(T, w_hh, nonlinearity="tanh", w_ih=None, bias=0.0):
    H = w_hh.shape[0]
    b = gl.GraphBuilder("small RNN")
    x = b.input("x", [1, T, 2], value=np.full((1, T, 2), 0.5).tolist())
    wi = b.parameter("w_ih", [H, 2], value=(np.full((H, 2), 0.1) if w_ih is None
                                           else w_ih).tolist())
    wh = b.parameter("w_hh", [H, H], value=w_hh.tolist())
    bi = b.parameter("b_ih", [H], value=[bias] * H)
    r = b.op("RNN", x, wi, wh, bi, name="rnn", nonlinearity=nonlinearity)
    out = b.sum(b.port(r, "h"), name="f")
    b.output(out)
    return b.build()


def test_small_recurrent_weights_make_gradients_vanish_step_by_step():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    u = unroll(_rnn_graph(12, 0.3 * q), "rnn")
    p = [s.product_norm for s in u.steps]
    assert all(a > b for a, b in zip(p, p[1:]))
    assert p[-1] < 1e-5
    assert "vanishes" in u.verdict()


def test_large_recurrent_weights_make_gradients_explode_step_by_step():
    u = unroll(_rnn_graph(10, 1.5 * np.eye(3), nonlinearity="relu", bias=0.1), "rnn")
    p = [s.product_norm for s in u.steps]
    assert all(a < b for a, b in zip(p, p[1:]))
    assert p[-1] == pytest.approx(1.5 ** 10)
    assert "explodes" in u.verdict()
    assert u.grad_error < 1e-12


def test_unrolling_keeps_the_y_output_when_it_is_used():
    b = gl.GraphBuilder("RNN y")
    x = b.input("x", ["N", 3, 2])
    r = b.rnn(x, 4, name="rnn")
    b.output(b.sum(r, name="f"))  # reads y (N, T, H), the first output
    g = b.build()
    u = unroll(g, "rnn", batch=3)
    assert u.grad_error < 1e-12
    assert float(u.explanation.values["f"]) == pytest.approx(
        float(u.original.values["f"]))
    assert "x" in u.explanation.grads  # x's gradient through transpose(x) @ e_t


def test_unroll_refuses_other_ops():
    with pytest.raises(gl.GraphlabError, match="only RNN, LSTM and GRU"):
        unroll(gl.load(sample("mlp_xor")), "fc1")
    with pytest.raises(gl.GraphlabError, match="no node"):
        unroll(gl.load(sample("mlp_xor")), "nope")


def test_explanation_unroll_uses_its_point():
    g = gl.load(sample("gru_digits"))
    steps = explain(g, seed=3)
    u = steps.unroll("gru")
    np.testing.assert_array_equal(u.original.at["x"], steps.at["x"])
    assert u.to_json()["T"] == 8 and len(u.to_json()["steps"]) == 8
