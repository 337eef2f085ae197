"""File → Open reads .onnx models (saving goes to a graph file); File → Export
writes ONNX."""

import os

import numpy as np
import pytest

import graphlab as gl

from .conftest import sample

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def test_open_onnx_imports_untitled_and_saves_as_a_graph_file(make_window, tmp_path):
    model = tmp_path / "lenet5.onnx"
    gl.to_onnx(gl.load(sample("lenet5")), model)
    before = model.read_bytes()
    w = make_window()
    assert w.open_path(str(model))
    assert len(w.graph) == len(gl.load(sample("lenet5")))
    assert w.path is None  # Save asks for a graph file
    assert set(w.scene.node_items) == set(w.graph.nodes)
    asked = []
    w.ask_save_path = lambda: asked.append(w._dir()) or str(tmp_path / "l.graph.json")
    assert w.save()
    assert asked == [str(tmp_path)]
    assert model.read_bytes() == before
    g = gl.load(tmp_path / "l.graph.json")
    assert g.parameter_count() == gl.load(sample("lenet5")).parameter_count()


def test_export_writes_an_onnx_model_with_the_executors_numbers(make_window, tmp_path):
    w = make_window(sample("mlp_xor"))
    path = str(tmp_path / "xor.onnx")
    w.ask_export_path = lambda: path
    w.actions["export"].trigger()
    sess = ort.InferenceSession(path)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    got = sess.run(["fc2"], {"x": x, "y": np.array([0, 1, 1, 0])})[0]
    want = gl.compile(w.graph, dtype="float32", training=False).forward(
        {"x": x, "y": [0, 1, 1, 0]})["fc2"]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    assert "Exported xor.onnx" in w.statusBar().currentMessage()


def test_export_of_a_broken_graph_names_the_node(make_window, tmp_path):
    w = make_window(sample("mlp_xor"))
    w.graph.disconnect("fc1", "x")
    assert not w.export_to(str(tmp_path / "broken.onnx"))
    assert "fc1" in w.statusBar().currentMessage()
    assert not os.path.exists(tmp_path / "broken.onnx")


def test_open_a_refused_model_keeps_the_current_graph(make_window, tmp_path):
    H, T = onnx.helper, onnx.TensorProto
    node = H.make_node("Erf", ["x"], ["y"], name="erf1")
    bad = tmp_path / "erf.onnx"
    onnx.save(H.make_model(H.make_graph(
        [node], "g", [H.make_tensor_value_info("x", T.FLOAT, [1, 2])],
        [H.make_tensor_value_info("y", T.FLOAT, [1, 2])]),
        opset_imports=[H.make_opsetid("", 18)]), str(bad))
    w = make_window(sample("mlp_xor"))
    assert not w.open_path(str(bad))
    assert len(w.graph) == len(gl.load(sample("mlp_xor")))
    assert "node 'erf1' (Erf)" in w.statusBar().currentMessage()


def test_export_to_py_writes_source_and_weights(make_window, tmp_path):
    pytest.importorskip("torch")
    w = make_window(sample("mlp_xor"))
    out = tmp_path / "model.py"
    w.ask_export_path = lambda: str(out)
    w.actions["export"].trigger()
    assert "class" in out.read_text() and (tmp_path / "model.npz").exists()
