"""The graphlab command: output, --json, exit codes, error lines."""

import json
import os
import subprocess
import sys

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
