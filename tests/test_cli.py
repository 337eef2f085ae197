"""The graphlab command: output, --json, exit codes, error lines."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from .conftest import ROOT, SAMPLES, sample


def run(*args):
    return subprocess.run([sys.executable, "-m", "graphlab", *args], cwd=ROOT,
                          capture_output=True, text=True)


def test_check_prints_summary_table():
    out = run("check", sample("lenet5"))
    assert out.returncode == 0, out.stderr
    assert "N×6×28×28" in out.stdout
    assert "Total parameters: 61,706" in out.stdout


def test_check_json_lists_nodes_and_total():
    out = run("check", "--json", sample("lenet5"))
    obj = json.loads(out.stdout)
    assert obj["ok"] is True and obj["parameters"] == 61706
    assert obj["nodes"]["conv1"] == {"op": "Conv2D", "shape": ["N", 6, 28, 28],
                                     "parameters": 0}
    assert obj["nodes"]["conv1_w"]["parameters"] == 150
    assert obj["warnings"] == []


def test_grad_cs231n():
    out = run("grad", sample("cs231n"), "--at", "x=-2", "--at", "y=5", "--at", "z=-4",
              "--json")
    obj = json.loads(out.stdout)
    assert obj["outputs"] == {"f": -12.0}
    assert obj["grads"] == {"x": -4.0, "y": -4.0, "z": 3.0}


def test_run_neuron_text():
    out = run("run", sample("neuron"))
    assert out.returncode == 0
    assert "s = [0.982, 0.1192]" in out.stdout


def test_run_with_npy_feed(tmp_path):
    import numpy as np
    p = tmp_path / "x.npy"
    np.save(p, np.array([0.0, 0.0]))
    out = run("run", sample("neuron"), "--feed", f"x={p}", "--json")
    assert json.loads(out.stdout)["outputs"]["s"][1] == pytest.approx(0.5)


def test_error_line_names_file_and_node_without_traceback(tmp_path):
    bad = tmp_path / "bad.graph.json"
    bad.write_text(json.dumps({"graphlab": 1, "nodes": [{"id": "t", "op": "Tahn"}],
                               "edges": []}))
    out = run("check", str(bad))
    assert out.returncode == 1
    assert out.stderr == f"error: {bad}: node 't': unknown op 'Tahn'; did you mean " \
                         "'Tanh'?\n"


def test_warning_goes_to_stderr_and_json(tmp_path):
    import graphlab as gl
    b = gl.GraphBuilder("drop")
    b.conv2d(b.input("x", ["N", 1, 7, 7]), 2, 3, stride=3, name="conv")
    path = tmp_path / "w.graph.json"
    gl.save(b.graph, path)
    out = run("check", "--json", str(path))
    assert out.returncode == 0
    assert out.stderr.startswith(f"warning: {path}: node 'conv': (7 − 3 + 0)/3 + 1")
    assert json.loads(out.stdout)["warnings"][0].startswith("node 'conv': ")


def test_usage_error_exits_2():
    assert run("run", sample("cs231n"), "--feed", "x").returncode == 2
    assert run("frobnicate").returncode == 2


def test_bad_feed_value_is_an_error_line():
    out = run("run", sample("cs231n"), "--feed", "x=[1,")
    assert out.returncode == 1 and out.stderr.startswith("error: ")
    assert "cannot read the value" in out.stderr


def test_codegen_prints_source():
    out = run("codegen", sample("cs231n"))
    assert "def forward(_feeds):" in out.stdout and "def backward(g_f):" in out.stdout


@pytest.mark.parametrize("name", sorted(f for f in os.listdir(SAMPLES)
                                        if f.endswith(".graph.json")))
def test_every_sample_passes_check(name):
    out = run("check", os.path.join(SAMPLES, name))
    assert out.returncode == 0, out.stderr


# ---- hardening (issue 16): no tracebacks, usage errors, strict JSON -----------------

def main(capsys, *args):
    """Run the command in this process: (exit status, stdout, stderr)."""
    from graphlab.cli import main as cli_main
    try:
        code = cli_main([str(a) for a in args])
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _write(tmp_path, name, obj):
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return path


def _vector_graph(tmp_path, op="ReLU", shape=(2,), **extra):
    return _write(tmp_path, "v.graph.json", dict({
        "graphlab": 1, "nodes": [{"id": "x", "op": "Input",
                                  "attrs": {"shape": list(shape)}},
                                 {"id": "r", "op": op}],
        "edges": [["x", "r:x"]], "outputs": ["r"]}, **extra))


@pytest.mark.parametrize("make, message", [
    (lambda p: np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True),
     "Object arrays cannot be loaded"),
    (lambda p: p.write_bytes(b"\x93NUMPY garbage"), "we only support format"),
    (lambda p: p.write_bytes(b""), "cannot read"),
    (lambda p: np.savez(open(p, "wb"), a=np.ones(2)), "an .npz archive"),
])
def test_bad_npy_feed_is_an_error_line(capsys, tmp_path, make, message):
    p = tmp_path / "x.npy"
    make(p)
    code, _, err = main(capsys, "run", sample("neuron"), "--feed", f"x={p}")
    assert code == 1 and err.startswith("error: ") and message in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("value, message", [
    ("[1e30, 1]", "too large for int64"), (f"[{10**30}, 1]", "too large for int64"),
    ("[0.5, 1.7]", "holds 0.5, but the Input is int64"),
    (f"[{'9' * 5000}]", "Exceeds the limit"), ("[" * 100000, "cannot read the value"),
])
def test_bad_integer_feed_is_an_error_line(capsys, value, message):
    code, _, err = main(capsys, "run", sample("mlp_xor"), "--feed", "x=[[1, 2]]",
                        "--feed", f"y={value}")
    assert code == 1 and message in err and err.count("\n") == 1


@pytest.mark.parametrize("feed, node", [("x=0", "r"), ("x=null", "x")])
def test_scalar_nan_or_inf_exits_1_naming_the_node(capsys, tmp_path, feed, node):
    path = _vector_graph(tmp_path, op="Log", shape=())
    code, out, err = main(capsys, "run", path, "--feed", feed)
    assert code == 1 and out == "" and f"node '{node}'" in err


@pytest.mark.parametrize("argv", [
    ["bench", "--steps", "0"], ["bench", "--steps", "-1"],
    ["bench", "--batch-size", "0"], ["train", "--batch-size", "0"],
    ["train", "--threads", "0"], ["train", "--epochs", "0"],
    ["train", "--backend", "torch", "--nproc", "0"],
    ["explain", "--batch", "0"]])
def test_counts_below_one_are_usage_errors(capsys, argv):
    code, _, err = main(capsys, argv[0], sample("mlp_xor"), *argv[1:])
    assert code == 2 and "must be at least 1" in err


def test_json_output_is_strict_json(capsys, tmp_path):
    path = _write(tmp_path, "log.graph.json", {"graphlab": 1, "nodes": [
        {"id": "x", "op": "Input", "attrs": {"shape": [2]}}, {"id": "l", "op": "Log"},
        {"id": "s", "op": "Sum"}], "edges": [["x", "l:x"], ["l", "s:x"]]})
    code, out, _ = main(capsys, "explain", path, "--at", "x=[0, 1]", "--json")
    assert code == 0
    text = out.strip()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c}"))


def test_explain_refuses_a_non_scalar_output_with_grads_message(capsys, tmp_path):
    path = _vector_graph(tmp_path, **{"nodes": [
        {"id": "x", "op": "Input", "attrs": {"shape": [2], "value": [1, 2]}},
        {"id": "r", "op": "ReLU"}]})
    code_e, _, err_e = main(capsys, "explain", path)
    code_g, _, err_g = main(capsys, "grad", path)
    assert code_e == code_g == 1 and err_e == err_g
    assert "backward starts from 'r'" in err_e


def test_empty_graph_and_graph_without_outputs(capsys, tmp_path):
    empty = _write(tmp_path, "e.graph.json", {"graphlab": 1, "nodes": [], "edges": []})
    code, _, err = main(capsys, "check", empty)
    assert code == 0 and "warning: " in err and "empty" in err
    for command in ("run", "grad", "explain"):
        code, out, err = main(capsys, command, empty)
        assert code == 1 and out == "" and "the graph is empty" in err
    path = _vector_graph(tmp_path, outputs=[])
    code, _, err = main(capsys, "check", path)
    assert code == 0 and "lists no \"outputs\"" in err and "('r')" in err


@pytest.mark.parametrize("data", [3, "digits"])
def test_train_data_not_an_object_is_an_error_line(capsys, tmp_path, data):
    d = json.load(open(sample("mlp_xor")))
    d["train"]["data"] = data
    path = _write(tmp_path, "t.graph.json", d)
    for command in ("train", "bench", "check"):
        code, _, err = main(capsys, command, path)
        assert code == 1 and "train.data must be an object" in err


@pytest.mark.parametrize("flag", ["--save", "--checkpoint"])
def test_train_refuses_to_overwrite_a_graph_file(capsys, tmp_path, flag):
    d = json.load(open(sample("mlp_xor")))
    path = _write(tmp_path, "g.graph.json", d)
    other = _write(tmp_path, "other.json", d)  # a graph file by content
    before = path.read_bytes(), other.read_bytes()
    for target in (path, other, tmp_path / "new.graph.json"):
        code, out, err = main(capsys, "train", path, "--epochs", "1", flag, target)
        assert code == 1 and "graph file" in err and "epoch" not in out + err
    assert (path.read_bytes(), other.read_bytes()) == before
    code, _, err = main(capsys, "train", path, flag, tmp_path / "no" / "p.npz")
    assert code == 1 and "does not exist; create it first" in err
    code, _, err = main(capsys, "train", path, flag, tmp_path)
    assert code == 1 and "is a directory" in err


def test_resume_from_a_npy_is_an_error_line(capsys, tmp_path):
    np.save(tmp_path / "c.npy", np.ones(2))
    code, _, err = main(capsys, "train", sample("mlp_xor"), "--resume",
                        tmp_path / "c.npy")
    assert code == 1 and "not an .npz archive" in err


def test_batch_too_big_for_memory_says_how_many_bytes(capsys, tmp_path):
    d = {"graphlab": 1, "nodes": [
        {"id": "x", "op": "Input", "attrs": {"shape": ["N", 100000, 100000]}},
        {"id": "s", "op": "Sum"}], "edges": [["x", "s:x"]], "outputs": ["s"]}
    path = _write(tmp_path, "m.graph.json", d)
    code, _, err = main(capsys, "explain", path, "--batch", "100000")
    assert code == 1 and "memory" in err and "8,000,000,000,000,000 bytes" in err


INTERRUPT = """
import importlib.abc, runpy, sys
class Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == {module!r}:
            raise KeyboardInterrupt
sys.meta_path.insert(0, Hook())
sys.argv = [{argv0!r}, "check", {file!r}]
if sys.argv[0] == "-m":
    runpy.run_module("graphlab", run_name="__main__", alter_sys=True)
else:
    from graphlab.cli import main
    sys.exit(main())
"""


@pytest.mark.parametrize("module", ["numpy", "graphlab.bench"])
@pytest.mark.parametrize("argv0", ["-m", "/usr/bin/graphlab"])
def test_ctrl_c_while_importing_exits_130_quietly(module, argv0):
    code = INTERRUPT.format(module=module, argv0=argv0, file=sample("cs231n"))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True)
    assert out.returncode == 130, out.stderr
    assert out.stderr == "interrupted\n"
