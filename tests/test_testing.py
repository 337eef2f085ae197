"""graphlab.testing: expectations, the graph-level gradient check and its
culprit, the training step, one file's items, and ``graphlab test``."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import graphlab as gl
from graphlab.errors import ExecutionError, GraphError, ShapeError
from graphlab.ops import get_op
from graphlab.testing import (
    CheckSkipped,
    FileChecks,
    GraphTestFailure,
    assert_graph,
    example_feeds,
    find_graph_files,
    gradcheck,
    run_graph,
    train_step,
)

from graphlab.cli import main_test

from .conftest import ROOT, SAMPLES, sample

SAMPLE_FILES = sorted(f for f in os.listdir(SAMPLES) if f.endswith(".graph.json"))
TEXTBOOK = {"x": -2, "y": 5, "z": -4}


def sample_data(name):
    with open(sample(name), encoding="utf-8") as f:
        return json.load(f)


def write_graph(path, nodes, edges, outputs, **extra):
    path.write_text(json.dumps({"graphlab": 1, "nodes": nodes, "edges": edges,
                                "outputs": outputs, **extra}))
    return str(path)


def inp(node_id, shape, **attrs):
    return {"id": node_id, "op": "Input", "attrs": {"shape": shape, **attrs}}


def wrong_vjp(monkeypatch, op_name, factor=1.1):
    """Scale the first float gradient of an op's VJP: a subtle bug."""
    cls = type(get_op(op_name))
    orig = cls.vjp

    def vjp(self, ctx, g, out, *inputs, **attrs):
        grads = list(orig(self, ctx, g, out, *inputs, **attrs))
        i = next(i for i, x in enumerate(grads) if x is not None)
        grads[i] = grads[i] * factor
        return tuple(grads)

    monkeypatch.setattr(cls, "vjp", vjp)
    if getattr(cls, "vjp_templates", None):  # inline in generated code
        monkeypatch.setattr(cls, "vjp_templates", {
            k: f"({t}) * {factor}" for k, t in cls.vjp_templates.items()})


# ---- assert_graph --------------------------------------------------------------------

def test_assert_graph_passes_at_textbook_point(cs231n):
    out, grads = assert_graph(cs231n, at=TEXTBOOK, expect={"f": -12},
                              grads={"x": -4, "y": -4, "z": 3})
    assert float(out["f"]) == -12.0 and float(grads["z"]) == 3.0


def test_assert_graph_names_the_gradient_off(cs231n):
    with pytest.raises(GraphTestFailure) as e:
        assert_graph(cs231n, at=TEXTBOOK, grads={"x": -3})
    assert str(e.value) == "grads['x'] = -4.0, expected -3.0 (rtol 1e-6)"
    assert isinstance(e.value, AssertionError)


def test_assert_graph_lists_every_value_off(cs231n):
    with pytest.raises(GraphTestFailure) as e:
        assert_graph(cs231n, at=TEXTBOOK, expect={"f": -11}, grads={"y": 4, "z": 3})
    assert str(e.value) == ("f = -12.0, expected -11.0 (rtol 1e-6); "
                            "grads['y'] = -4.0, expected 4.0 (rtol 1e-6)")


def test_assert_graph_names_the_array_element_off():
    with pytest.raises(GraphTestFailure) as e:
        assert_graph(sample("neuron"), expect={"s": [0.9820137900379085, 0.5]})
    assert str(e.value) == ("s[1] = 0.11920292202211755, expected 0.5 "
                            "(rtol 1e-6; 1 of 2 elements off)")


def test_assert_graph_shows_atol_where_it_decides(cs231n):
    with pytest.raises(GraphTestFailure, match=r"f = -12.0, expected 0.0 \(atol 0.5\)"):
        assert_graph(cs231n, at=TEXTBOOK, expect={"f": 0}, atol=0.5)


def test_assert_graph_reports_shape_mismatch():
    with pytest.raises(GraphTestFailure, match="s has shape 2, expected 3"):
        assert_graph(sample("neuron"), expect={"s": [1, 2, 3]})


def test_assert_graph_checks_any_node_and_its_gradient(cs231n):
    assert_graph(cs231n, at=TEXTBOOK, expect={"q": 3}, grads={"q": -4})


def test_assert_graph_sets_parameters_from_at():
    assert_graph(sample("neuron"), at={"x": [0, 0], "W": [[1, 0], [0, 1]], "b": [0, 0]},
                 expect={"s": [0.5, 0.5]})


def test_assert_graph_rejects_names_that_are_not_nodes(cs231n):
    with pytest.raises(GraphError) as e:
        assert_graph(cs231n, at=TEXTBOOK, grads={"w": 1})
    assert e.value.node == "w" and "not a node" in e.value.message


def test_assert_graph_says_when_no_gradient_reaches_a_node(tmp_path):
    path = write_graph(tmp_path / "g.graph.json",
                       [inp("x", [2], value=[1.0, 2.0]),
                        inp("y", [], dtype="int64", value=0),
                        {"id": "s", "op": "Sum"}], [["x", "s"]], ["s"])
    with pytest.raises(GraphTestFailure, match=r"grads\['y'\]: no gradient of 's'"):
        assert_graph(path, grads={"y": 0})


# ---- inputs --------------------------------------------------------------------------

def test_example_feeds_batch_of_two_and_labels_below_class_count():
    prog = gl.compile(gl.load(sample("lenet5")))
    feeds = example_feeds(prog, seed=3)
    assert feeds["x"].shape == (2, 1, 8, 8) and feeds["x"].dtype == np.float32
    assert feeds["y"].dtype == np.int64 and feeds["y"].shape == (2,)
    many = example_feeds(prog, batch=500)["y"]
    assert many.min() == 0 and many.max() == 9  # C = 10 from fc3's logits


def test_example_feeds_keep_file_values_and_their_batch(tmp_path):
    path = write_graph(tmp_path / "g.graph.json",
                       [inp("a", ["N", 2], value=[[1, 2], [3, 4], [5, 6]]),
                        inp("b", ["N", 2]), {"id": "s", "op": "Add"},
                        {"id": "t", "op": "Sum"}],
                       [["a", "s:a"], ["b", "s:b"], ["s", "t"]], ["t"])
    feeds = example_feeds(gl.compile(gl.load(path)))
    assert feeds["a"].tolist() == [[1, 2], [3, 4], [5, 6]]
    assert feeds["b"].shape == (3, 2)  # N bound by a's value


# ---- gradcheck -----------------------------------------------------------------------

@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_gradcheck_passes_on_sample(name):
    assert gradcheck(os.path.join(SAMPLES, name))


def test_gradcheck_checks_every_float_input_and_parameter():
    assert gradcheck(sample("neuron")) == ["x", "W", "b"]
    assert "y" not in gradcheck(sample("mlp_digits"))  # class labels


def test_gradcheck_names_the_node_whose_vjp_is_wrong(monkeypatch):
    wrong_vjp(monkeypatch, "MatMul")
    with pytest.raises(GraphTestFailure) as e:
        gradcheck(sample("neuron"))
    assert e.value.node == "Wx"
    assert e.value.message.startswith("node 'Wx' (MatMul): its VJP disagrees with "
                                      "finite differences: gradient for input 'a'")
    assert "∂f/∂" in e.value.message  # and the gradient that showed it


@pytest.mark.parametrize("name, op, node", [
    ("lenet5", "Linear", "fc1"), ("lenet5", "Flatten", "flat"),
    ("autoencoder_digits", "ConvTranspose2D", "dec1"),
    ("autoencoder_digits", "MaxUnpool2D", "unpool"), ("lstm_digits", "LSTM", "lstm"),
])
def test_gradcheck_culprit_is_not_fooled_by_pooling_ties(monkeypatch, name, op, node):
    # ReLU zeros make max-pooling windows with ties upstream of the culprit.
    wrong_vjp(monkeypatch, op)
    with pytest.raises(GraphTestFailure) as e:
        gradcheck(sample(name))
    assert e.value.node == node


def test_gradcheck_names_node_whose_inline_template_is_wrong(monkeypatch):
    cls = type(get_op("Sigmoid"))
    monkeypatch.setattr(cls, "vjp_templates",
                        {"x": "{g} * {out} * (1 - {out}) * 1.1"})
    with pytest.raises(GraphTestFailure) as e:
        gradcheck(sample("vanishing_sigmoid"))
    assert e.value.node == "sig1"
    assert "the generated backward code disagrees with the op's VJP" in str(e.value)


def test_gradcheck_at_kinks_follows_the_executor(tmp_path):
    # ReLU at 0 and a max-pooling window of equal values: finite differences
    # straddle the kink; the check moves off it rather than failing.
    path = write_graph(tmp_path / "kink.graph.json",
                       [inp("x", [1, 1, 2, 2], value=[[[[0.0, 0.0], [0.0, 0.0]]]]),
                        {"id": "r", "op": "ReLU"},
                        {"id": "p", "op": "MaxPool2D", "attrs": {"kernel": 2}},
                        {"id": "s", "op": "Sum"}],
                       [["x", "r"], ["r", "p:x"], ["p", "s"]], ["s"])
    assert gradcheck(path) == ["x"]


def test_gradcheck_of_non_scalar_output_uses_a_seed_gradient(tmp_path):
    path = write_graph(tmp_path / "g.graph.json",
                       [inp("x", ["N", 3]), {"id": "t", "op": "Tanh"}],
                       [["x", "t"]], ["t"])
    assert gradcheck(path) == ["x"]


def test_gradcheck_of_integer_only_graph_checks_nothing(tmp_path):
    path = write_graph(tmp_path / "ints.graph.json",
                       [inp("y", ["N"], dtype="int64"), {"id": "s", "op": "Sum"}],
                       [["y", "s"]], ["s"])
    assert gradcheck(path) == []
    with pytest.raises(CheckSkipped, match="no Parameter, and Input 'y' is integer"):
        FileChecks(path).run("gradcheck")


def test_gradcheck_in_training_mode_holds_dropout_masks():
    b = gl.GraphBuilder("dropout and batchnorm")
    x, y = b.input("x", ["N", 5]), b.input("y", ["N"], dtype="int64")
    h = b.relu(b.batchnorm(b.linear(x, 8, name="fc1"), name="bn"))
    h = b.dropout(h, p=0.3, name="drop")
    b.output(b.cross_entropy_loss(b.linear(h, 3, name="fc2"), y, name="loss"))
    g = b.build()
    assert gradcheck(g, training=True) == gradcheck(g)
    assert "bn_gamma" in gradcheck(g, training=True)


def test_lenet5_file_tests_in_about_a_second():
    checks = FileChecks(sample("lenet5"))
    t0 = time.perf_counter()
    for name in checks.names():
        checks.run(name)
    assert time.perf_counter() - t0 < 3.0


# ---- run and train-step --------------------------------------------------------------

def test_run_graph_returns_outputs_of_inferred_shapes():
    out = run_graph(sample("lenet5"))
    assert out["fc3"].shape == (2, 10) and out["fc3"].dtype == np.float32


def test_run_graph_names_the_node_that_made_nan(tmp_path):
    path = write_graph(tmp_path / "nan.graph.json",
                       [inp("x", [2], value=[-1.0, 1.0]), {"id": "l", "op": "Log"},
                        {"id": "s", "op": "Sum"}], [["x", "l"], ["l", "s"]], ["s"])
    with pytest.raises(ExecutionError) as e:
        run_graph(path)
    assert e.value.node == "l"


def test_train_step_lowers_the_loss():
    losses = train_step(sample("mlp_xor"))
    assert len(losses) == 4 and losses[-1] < losses[0]


def test_train_step_fails_when_the_gradient_points_uphill(monkeypatch):
    wrong_vjp(monkeypatch, "CrossEntropyLoss", factor=-1.0)
    with pytest.raises(GraphTestFailure, match=r"'loss' went .* in 3 SGD steps "
                       r"\(lr 0.01\) on one batch of 4: the gradient does not point"):
        train_step(sample("mlp_digits"))


# ---- one file's items ----------------------------------------------------------------

def test_items_are_named_after_the_checks():
    assert FileChecks(sample("cs231n")).names() == ["check", "run", "gradcheck",
                                                    "tests[0]"]
    assert FileChecks(sample("lenet5")).names() == ["check", "run", "gradcheck",
                                                    "train-step"]


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_every_item_of_sample_passes(name):
    checks = FileChecks(os.path.join(SAMPLES, name))
    for item in checks.names():
        checks.run(item)


def test_file_that_does_not_load_has_only_check(tmp_path):
    path = tmp_path / "cut.graph.json"
    path.write_text('{"graphlab": 1, "nodes": [')
    checks = FileChecks(path, display="cut.graph.json")
    assert checks.names() == ["check"]
    with pytest.raises(GraphError) as e:
        checks.run("check")
    assert checks.failure_text("check", e.value).startswith(
        "error: cut.graph.json: the JSON ends early")


def test_items_skip_when_the_graph_does_not_check(tmp_path):
    path = write_graph(tmp_path / "shape.graph.json",
                       [inp("a", [2]), inp("b", [3]), {"id": "s", "op": "Add"}],
                       [["a", "s:a"], ["b", "s:b"]], ["s"])
    checks = FileChecks(path)
    with pytest.raises(ShapeError) as e:
        checks.run("check")
    assert e.value.node == "s"
    with pytest.raises(CheckSkipped, match=r"does not pass check \(see ::check\)"):
        checks.run("run")


def test_failure_text_reads_like_an_assertion(tmp_path):
    data = sample_data("cs231n")
    data["tests"][0]["grads"]["x"] = -3
    path = tmp_path / "cs231n.graph.json"
    path.write_text(json.dumps(data))
    checks = FileChecks(path)
    with pytest.raises(GraphTestFailure) as e:
        checks.run("tests[0]")
    assert checks.failure_text("tests[0]", e.value) == (
        "cs231n.graph.json::tests[0]: grads['x'] = -4.0, expected -3.0 (rtol 1e-6)")


def test_case_with_unknown_key_is_an_error(tmp_path):
    path = write_graph(tmp_path / "g.graph.json", [inp("x", [], value=1.0)], [], ["x"],
                       tests=[{"expected": {"x": 1}}])
    with pytest.raises(GraphError, match='unknown key "expected" \\(did you mean '
                       '"expect"\\?\\)'):
        FileChecks(path).run("tests[0]")


def test_check_returns_the_warnings(tmp_path):
    path = write_graph(tmp_path / "w.graph.json",
                       [inp("x", [1, 1, 13]),
                        {"id": "w", "op": "Parameter", "attrs": {"shape": [1, 1, 6]}},
                        {"id": "c", "op": "Conv1D",
                         "attrs": {"stride": 5, "padding": "valid"}},
                        {"id": "s", "op": "Sum"}],
                       [["x", "c:x"], ["w", "c:w"], ["c", "s"]], ["s"])
    [(node, message)] = FileChecks(path).run("check")
    assert node == "c" and "never read" in message


# ---- graphlab test -------------------------------------------------------------------

def test_find_graph_files_searches_directories(tmp_path):
    (tmp_path / "sub").mkdir()
    for p in ("b.graph.json", "sub/a.graph.json", "notes.json"):
        (tmp_path / p).write_text("{}")
    found = find_graph_files([tmp_path])
    assert [os.path.relpath(f, tmp_path) for f in found] == [
        "b.graph.json", os.path.join("sub", "a.graph.json")]


def test_command_prints_one_line_per_item_and_closing_line(capsys):
    assert main_test([sample("cs231n"), sample("lenet5")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"PASSED  {sample('cs231n')}::check"
    assert lines[-2] == f"PASSED  {sample('lenet5')}::train-step"
    assert lines[-1] == "8 passed, 0 failed"


def test_command_fails_with_exit_1_naming_the_item(tmp_path, capsys):
    data = sample_data("cs231n")
    data["tests"][0]["expect"]["f"] = 12
    path = tmp_path / "cs231n.graph.json"
    path.write_text(json.dumps(data))
    assert main_test([str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert f"FAILED  {path}::tests[0] - f = -12.0, expected 12.0 (rtol 1e-6)" in out
    assert out[-1] == "3 passed, 1 failed"


def test_command_json(tmp_path, capsys):
    bad = tmp_path / "bad.graph.json"
    bad.write_text(json.dumps({"graphlab": 1, "nodes": [{"id": "t", "op": "Tahn"}]}))
    assert main_test(["--json", sample("neuron"), str(bad)]) == 1
    captured = capsys.readouterr()
    obj = json.loads(captured.out)
    assert obj["passed"] == 4 and obj["failed"] == 1 and obj["skipped"] == 0
    assert obj["items"][0] == {"file": sample("neuron"), "item": "check", "ok": True,
                               "outcome": "passed", "message": ""}
    assert obj["items"][-1]["message"] == (
        f"error: {bad}: node 't': unknown op 'Tahn'; did you mean 'Tanh'?")
    assert obj["warnings"] == [] and captured.err == ""


def test_command_reports_skips_and_warnings(tmp_path, capsys):
    path = write_graph(tmp_path / "w.graph.json",
                       [inp("x", [1, 1, 13]),
                        {"id": "w", "op": "Parameter", "attrs": {"shape": [1, 1, 6]}},
                        {"id": "c", "op": "Conv1D",
                         "attrs": {"stride": 5, "padding": "valid"}},
                        {"id": "s", "op": "Sum"}],
                       [["x", "c:x"], ["w", "c:w"], ["c", "s"]], ["s"])
    ints = write_graph(tmp_path / "ints.graph.json",
                       [inp("y", ["N"], dtype="int64"), {"id": "s", "op": "Sum"}],
                       [["y", "s"]], ["s"])
    assert main_test([path, ints]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith(f"warning: {path}: node 'c': (13 − 6 + 0)/5 + 1")
    assert (f"SKIPPED {ints}::gradcheck - nothing to differentiate: no Parameter, "
            "and Input 'y' is integer") in captured.out
    assert captured.out.splitlines()[-1] == "5 passed, 0 failed, 1 skipped"


def test_command_directory_without_graph_files_is_an_error(tmp_path, capsys):
    assert main_test([str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        f"error: {tmp_path}: no *.graph.json files in this directory\n")


def run_module(*args):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, check=False)


def test_python_m_graphlab_testing_runs_the_samples():
    out = run_module("graphlab.testing", "samples")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines()[-1].endswith(" passed, 0 failed")


def _test_command_registered():
    try:
        from graphlab import cli
        cli._parser().parse_args(["test", "x.graph.json"])
    except (Exception, SystemExit):  # noqa: BLE001  (not registered, or mid-edit)
        return False
    return True


@pytest.mark.skipif(not _test_command_registered(),
                    reason="graphlab test is not registered in graphlab.cli yet")
def test_graphlab_test_command_closing_line(tmp_path):
    ok = run_module("graphlab", "test", "samples/cs231n.graph.json")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[-1] == "4 passed, 0 failed"
    data = sample_data("cs231n")
    data["tests"][0]["grads"]["x"] = -3
    bad = tmp_path / "cs231n.graph.json"
    bad.write_text(json.dumps(data))
    out = run_module("graphlab", "test", str(bad), "--json")
    assert out.returncode == 1
    obj = json.loads(out.stdout)
    assert (obj["passed"], obj["failed"]) == (3, 1)
    assert obj["items"][3]["message"] == "grads['x'] = -4.0, expected -3.0 (rtol 1e-6)"


def test_an_infinite_expectation_matches_only_infinity():
    from graphlab.testing import GraphTestFailure, assert_graph
    g = gl.load(os.path.join(os.path.dirname(__file__), "..", "samples",
                             "cs231n.graph.json"))
    with pytest.raises(GraphTestFailure, match="expected inf"):
        assert_graph(g, at={"x": -2, "y": 5, "z": -4}, expect={"f": float("inf")})
