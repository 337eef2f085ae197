"""explain --norms on recurrent graphs: σ_max(W_hh), its verdict, and per-step
gradient norms (checked against the unrolled graph's)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphlab as gl
from graphlab.symbolic.recurrence import (recurrent_norms, recurrent_norms_text,
                                          spectral_verdict)

ROOT = Path(__file__).resolve().parents[1]


def rnn_graph(w_hh, T=4, F=2, kind="RNN"):
    H = len(w_hh[0])
    G = {"RNN": 1, "LSTM": 4, "GRU": 3}[kind]
    rng = np.random.default_rng(0)
    b = gl.GraphBuilder("hand-made W_hh")
    x = b.input("x", [1, T, F], value=rng.normal(size=(1, T, F)).tolist())
    w_ih = b.parameter("w_ih", [G * H, F], value=rng.normal(size=(G * H, F)).tolist())
    w = b.parameter("w_hh", [G * H, H], value=w_hh)
    cell = b.op(kind, x, w_ih, w, name="rnn")
    b.output(b.sum(b.port(cell, "h"), name="f"))
    return b.build()


def test_singular_value_of_a_hand_made_w_hh_and_its_verdict():
    # diag(3, 0.5) rotated: singular values 3 and 0.5 whatever the rotation.
    c, s = np.cos(0.3), np.sin(0.3)
    w = (np.array([[c, -s], [s, c]]) @ np.diag([3.0, 0.5])).tolist()
    (row,) = recurrent_norms(gl.explain(rnn_graph(w)))
    assert row.node == "rnn" and row.op == "RNN"
    assert row.sigma == pytest.approx(3.0, rel=1e-12)
    text = recurrent_norms_text([row])
    assert "largest singular value of W_hh 3" in text
    assert "> 1: gradients may explode" in text
    (small,) = recurrent_norms(gl.explain(rnn_graph([[0.5, 0.0], [0.0, 0.25]])))
    assert small.sigma == pytest.approx(0.5)
    assert "< 1: each step shrinks the gradient" in recurrent_norms_text([small])


def test_gated_cells_report_each_gate_block():
    w = np.zeros((8, 2))
    w[2:4] = np.diag([2.0, 1.0])  # the forget gate's block
    (row,) = recurrent_norms(gl.explain(rnn_graph(w.tolist(), kind="LSTM")))
    assert row.gate_sigmas == pytest.approx({"i": 0.0, "f": 2.0, "g": 0.0, "o": 0.0})
    assert "hint for a gated cell" in spectral_verdict(row.sigma, "LSTM")


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_step_norms_equal_the_unrolled_graphs(kind):
    H = 3
    G = {"RNN": 1, "LSTM": 4, "GRU": 3}[kind]
    w = np.random.default_rng(2).normal(size=(G * H, H)).tolist()
    g = rnn_graph(w, T=5, kind=kind)
    expl = gl.explain(g)
    (row,) = recurrent_norms(expl)
    unrolled = expl.unroll("rnn")
    want = {s.t: s.grad_norm for s in unrolled.steps}
    np.testing.assert_allclose(row.step_norms, [want[t] for t in range(1, 6)],
                               rtol=1e-10)


def test_explain_norms_prints_the_singular_value(tmp_path):
    path = tmp_path / "r.graph.json"
    gl.save(rnn_graph([[1.5, 0.0], [0.0, 0.2]]), path)
    r = subprocess.run([sys.executable, "-m", "graphlab", "explain", str(path),
                        "--norms"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert "rnn (RNN): largest singular value of W_hh 1.5" in r.stdout
    assert "‖∂L/∂h_t‖ of example 0, last step first:" in r.stdout
    r = subprocess.run([sys.executable, "-m", "graphlab", "explain", str(path),
                        "--norms", "--json"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    (row,) = json.loads(r.stdout)["recurrent_norms"]
    assert row["sigma"] == pytest.approx(1.5) and len(row["step_norms"]) == 4
