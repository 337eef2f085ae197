"""A hostile user of File → Open .onnx and File → Export: corrupt models,
the open graph file, unwritable paths."""

import graphlab as gl

from .conftest import sample


def test_open_a_corrupt_onnx_keeps_the_graph(make_window, tmp_path):
    w = make_window(sample("mlp_xor"))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 10)
    assert not w.open_path(str(bad))
    assert w.path.endswith("mlp_xor.graph.json") and "fc1" in w.graph
    assert "bad.onnx" in w.statusBar().currentMessage()



def test_export_refuses_to_overwrite_the_open_graph_file(make_window, tmp_path):
    src = tmp_path / "xor.graph.json"
    gl.save(gl.load(sample("mlp_xor")), src)
    before = src.read_bytes()
    w = make_window(str(src))
    assert not w.export_to(str(src))
    assert src.read_bytes() == before
    assert gl.load(src)



def test_export_to_an_unwritable_path(make_window, tmp_path):
    w = make_window(sample("mlp_xor"))
    assert not w.export_to(str(tmp_path / "no" / "such" / "dir" / "x.onnx"))
    assert "Cannot export" in w.statusBar().currentMessage()


def test_open_an_empty_onnx_file_keeps_the_graph(make_window, tmp_path):
    w = make_window(sample("mlp_xor"))
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    assert not w.open_path(str(empty))
    assert w.path.endswith("mlp_xor.graph.json") and "fc1" in w.graph
    assert "empty.onnx" in w.statusBar().currentMessage()
