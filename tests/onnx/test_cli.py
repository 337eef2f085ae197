"""``graphlab import``/``export`` and ``.onnx`` read wherever a graph file is."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from .helpers import gl, onnx, run_onnx

from graphlab.cli import main  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_export_then_every_command_reads_the_onnx_file(tmp_path, capsys):
    path = str(tmp_path / "lenet5.onnx")
    code, out, _ = run(capsys, "export", "samples/lenet5.graph.json", "-o", path)
    assert code == 0 and out.startswith(f"wrote {path}: ONNX opset 18")
    onnx.checker.check_model(onnx.load(path), full_check=True)
    code, out, _ = run(capsys, "check", path, "--json")
    report = json.loads(out)
    assert code == 0 and report["parameters"] == gl.load(
        "samples/lenet5.graph.json").parameter_count()
    x = np.random.default_rng(0).uniform(size=(2, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code, out, _ = run(capsys, "run", path, "--feed", f"x={tmp_path / 'x.npy'}",
                       "--feed", "y=[1, 2]", "--json", "--dtype", "float32")
    want = run_onnx(onnx.load(path), {"x": x, "y": np.array([1, 2])})
    got = json.loads(out)["outputs"]
    np.testing.assert_allclose(got["fc3"], want["fc3"], rtol=1e-4, atol=1e-5)
    code, out, _ = run(capsys, "grad", path, "--at", f"x={tmp_path / 'x.npy'}",
                       "--at", "y=[1, 2]", "--json")
    assert code == 0 and "conv1_w" in json.loads(out)["grads"]


def test_export_output_ids_and_opset(tmp_path, capsys):
    path = str(tmp_path / "m.onnx")
    code, out, _ = run(capsys, "export", "samples/lenet5.graph.json", "-o", path,
                       "--opset", "21", "--output", "fc3", "--json")
    assert code == 0 and json.loads(out)["outputs"] == ["fc3"]
    assert onnx.load(path).opset_import[0].version == 21


def test_import_writes_a_graph_file_with_a_sidecar_that_checks(tmp_path, capsys):
    src = str(tmp_path / "mlp.onnx")
    gl.to_onnx(gl.load("samples/mlp_digits.graph.json"), src)
    out_path = str(tmp_path / "mlp.graph.json")
    code, out, _ = run(capsys, "import", src, "-o", out_path)
    assert code == 0 and "values in" in out
    g = gl.load(out_path)
    assert g.params_file == "mlp.params.npz"
    assert os.path.exists(tmp_path / "mlp.params.npz")
    assert g.parameter_count() == gl.load("samples/mlp_digits.graph.json"
                                          ).parameter_count()
    assert all("pos" in g.node(n).ui for n in g.nodes)  # laid out
    code, _, _ = run(capsys, "check", out_path)
    assert code == 0


def test_export_refuses_an_unknown_format_with_a_usage_error(tmp_path, capsys):
    code, _, err = run(capsys, "export", "samples/lenet5.graph.json", "-o",
                       str(tmp_path / "m.txt"))
    assert code == 2 and ".onnx or .py" in err


def test_export_py_writes_torch_source_and_its_weights(tmp_path, capsys):
    pytest.importorskip("torch")
    code, _, _ = run(capsys, "export", "samples/mlp_xor.graph.json", "-o",
                     str(tmp_path / "m.py"))
    assert code == 0 and "class" in (tmp_path / "m.py").read_text()
    assert (tmp_path / "m.npz").exists()


def test_a_refused_model_is_one_error_line(tmp_path, capsys):
    H, T = onnx.helper, onnx.TensorProto
    node = H.make_node("MaxPool", ["x"], ["y"], name="pool3", kernel_shape=[2, 2],
                       strides=[2, 2], ceil_mode=1)
    model = H.make_model(H.make_graph(
        [node], "g", [H.make_tensor_value_info("x", T.FLOAT, [1, 1, 5, 5])],
        [H.make_tensor_value_info("y", T.FLOAT, None)]),
        opset_imports=[H.make_opsetid("", 18)])
    path = str(tmp_path / "m.onnx")
    onnx.save(model, path)
    code, _, err = run(capsys, "check", path)
    assert code == 1
    assert err.strip() == (f"error: {path}: node 'pool3' (MaxPool): ceil_mode=1 is "
                           "not supported (it adds a partial window here)")


def test_a_graph_is_never_saved_over_an_onnx_file(tmp_path):
    path = tmp_path / "m.onnx"
    gl.to_onnx(gl.load("samples/mlp_xor.graph.json"), path)
    before = path.read_bytes()
    with pytest.raises(gl.GraphError, match="never over an ONNX model"):
        gl.save(gl.load(path), path)
    assert path.read_bytes() == before


def test_without_onnx_graphlab_imports_and_says_how_to_install(tmp_path):
    code = ("import sys; sys.modules['onnx'] = None\n"
            "sys.modules['onnxruntime'] = None\n"
            "import graphlab as gl, graphlab.cli\n"
            "try:\n"
            "    gl.from_onnx('m.onnx')\n"
            "except gl.GraphlabError as e:\n"
            "    print(e)\n"
            "sys.exit(graphlab.cli.main(['check', 'm.onnx']))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    assert "pip install graphlab[onnx]" in out.stdout
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "error: m.onnx: ONNX support needs the onnx package: pip install "
        "graphlab[onnx]"]


def test_import_refuses_to_overwrite_an_existing_graph_file(tmp_path, capsys):
    model = str(tmp_path / "m.onnx")
    assert run(capsys, "export", "samples/mlp_digits.graph.json", "-o", model)[0] == 0
    mine = tmp_path / "mine.graph.json"
    mine.write_text(open("samples/mlp_digits.graph.json").read())
    before = mine.read_bytes()
    code, out, err = run(capsys, "import", model, "-o", str(mine))
    assert code == 1 and out == ""
    assert err.strip() == (f"error: {mine}: already exists: import into a new file "
                           f"or delete it first")
    assert mine.read_bytes() == before and not (tmp_path / "mine.params.npz").exists()
    # the sidecar of a new graph file is someone's too
    (tmp_path / "new.params.npz").write_bytes(b"trained")
    code, out, err = run(capsys, "import", model, "-o",
                         str(tmp_path / "new.graph.json"))
    assert code == 1 and "new.params.npz: already exists" in err
    assert (tmp_path / "new.params.npz").read_bytes() == b"trained"


def test_import_of_a_graph_file_is_a_one_line_error(tmp_path, capsys):
    code, out, err = run(capsys, "import", "samples/mlp_digits.graph.json", "-o",
                         str(tmp_path / "x.graph.json"))
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert err.startswith("error: samples/mlp_digits.graph.json: this is a graph file")
