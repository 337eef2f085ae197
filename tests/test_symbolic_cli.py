"""``graphlab explain`` on the command line."""

import json

import pytest

import graphlab as gl
import graphlab.cli as cli

from .conftest import sample


@pytest.fixture
def run(capsys):
    """``run(*argv)`` → (status, stdout, stderr)."""
    def go(*argv):
        status = cli.main(list(argv))
        out, err = capsys.readouterr()
        return status, out, err
    return go


def test_explain_prints_the_steps(run):
    status, out, err = run("explain", sample("cs231n"))
    assert status == 0 and err == ""
    for line in ("q = x + y = 3", "f = q·z = -12",
                 "∂f/∂q = z = -4 (local) × 1 (upstream) = -4",
                 "∂f/∂x = -4", "∂f/∂y = -4", "∂f/∂z = 3"):
        assert line in out


def test_explain_at_overrides_the_point(run):
    status, out, _ = run("explain", sample("cs231n"), "--at", "x=1", "--at", "z=2")
    assert status == 0 and "q = x + y = 6" in out and "∂f/∂z = 6" in out


def test_explain_json_is_one_spec_object(run):
    status, out, _ = run("explain", sample("cs231n"), "--json")
    obj = json.loads(out)
    assert status == 0
    assert [f["expr"] for f in obj["forward"]] == ["x + y", "q*z"]
    assert obj["backward"][0]["local"] == "z"
    assert obj["grads"] == {"x": -4.0, "y": -4.0, "z": 3.0}
    assert obj["warnings"] == []


def test_explain_latex(run):
    status, out, _ = run("explain", sample("cs231n"), "--latex")
    assert status == 0
    assert r"\frac{\partial f}{\partial x} = {-4}" in out.splitlines()


def test_explain_norms_jacobian_and_unroll(run):
    status, out, _ = run("explain", sample("vanishing_sigmoid"), "--norms")
    assert status == 0 and "the gradient vanishes" in out
    assert "random batch of 2" in out
    status, out, _ = run("explain", sample("neuron"), "--jacobian", "s=z", "--json")
    jac = json.loads(out)["jacobians"][0]
    assert jac["wrt"] == "z" and len(jac["matrix"]) == 2
    status, out, _ = run("explain", sample("rnn_digits"), "--unroll", "rnn")
    assert status == 0 and "unrolled over T = 8" in out and "‖∂h_T/∂h_t−1‖" in out


def test_explain_collapse_small_and_refused(run, tmp_path):
    status, out, _ = run("explain", sample("sigmoid_neuron"), "--collapse")
    assert status == 0 and "f = σ(w0·x0 + w1·x1 + w2)" in out and "agree" in out
    b = gl.GraphBuilder("a long chain")
    refs = [b.input("x", [], value=0.3), b.input("y", [], value=-0.2)]
    for i in range(40):
        refs.append(b.op("Mul" if i % 2 else "Add", refs[-1], refs[-2], name=f"n{i}"))
    b.output(refs[-1])
    path = tmp_path / "chain.graph.json"
    gl.save(b.build(), str(path))
    status, out, _ = run("explain", str(path), "--collapse")
    assert status == 0 and "collapse: refusing to collapse 40 op nodes" in out
    status, out, _ = run("explain", str(path), "--collapse", "--json")
    refused = json.loads(out)["collapse"]
    assert refused["nodes"] == 40 and refused["tree_size"] > 10 ** 8


def test_explain_errors_name_the_problem(run):
    status, _, err = run("explain", sample("cs231n"), "--at", "w=1")
    assert status == 1 and err.startswith("error: ") and "'w'" in err
    status, _, err = run("explain", sample("mlp_xor"), "--unroll", "fc1")
    assert status == 1 and "only RNN, LSTM and GRU" in err
