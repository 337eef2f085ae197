"""The exported PyTorch source, run in a fresh interpreter that cannot import
graphlab, gives the executor's numbers (float64, evaluation mode) for every
sample and for the ops that need helpers. One subprocess runs them all."""

import glob
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")

import graphlab as gl  # noqa: E402
from graphlab.cli import main  # noqa: E402
from graphlab.testing import example_feeds  # noqa: E402
from graphlab.torch.export import to_source, write_export  # noqa: E402
from tests.conftest import SAMPLES, sample  # noqa: E402
from tests.torch.test_module import _graph  # noqa: E402

OP_CASES = ["MaxPool2D same odd", "MaxUnpool2D same odd", "AvgPool2D same odd",
            "Conv2D same odd", "Maxout", "JSDivLoss", "KLDivLoss", "LSTM", "GRU",
            "BatchNorm", "Upsample2D"]

DRIVER = r'''
import importlib.util, sys
sys.modules["graphlab"] = None  # the exported files must not need it
import numpy as np, torch
for name in sys.argv[1:]:
    spec = importlib.util.spec_from_file_location(name, name + ".py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cls = [v for v in vars(mod).values() if isinstance(v, type)
           and issubclass(v, torch.nn.Module) and v.__module__ == name
           and v.__name__ != "Stats"][0]
    model = mod.load_weights(cls().double(), name + ".npz").eval()
    feeds = dict(np.load(name + "_feeds.npz"))
    with torch.no_grad():
        out = model(**{k: torch.from_numpy(v) for k, v in feeds.items()})
    np.savez(name + "_out.npz", **{k.replace(":", "__"): v.numpy()
                                   for k, v in out.items()})
print("ok")
'''


def _fresh_python(args, cwd):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-I"] + args, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_exported_source_matches_executor_in_a_fresh_process(tmp_path):
    graphs = {os.path.basename(p)[:-11]: gl.load(p)
              for p in sorted(glob.glob(os.path.join(SAMPLES, "*.graph.json")))}
    graphs.update({"op_" + c.replace(" ", "_"): _graph(c) for c in OP_CASES})
    want = {}
    for name, g in graphs.items():
        if "BatchNorm" in name:  # running statistics worth loading
            bn = next(n for n in g.nodes if g.node(n).op == "BatchNorm")
            g.params = {**g.params, f"{bn}.running_mean": np.array([0.3, -0.2]),
                        f"{bn}.running_var": np.array([1.5, 0.7])}
        write_export(g, str(tmp_path / f"{name}.py"))
        prog = gl.compile(g, dtype="float64", training=False)
        feeds = example_feeds(prog, batch=3)
        np.savez(tmp_path / f"{name}_feeds.npz", **feeds)
        want[name] = prog.forward(feeds)
    (tmp_path / "driver.py").write_text(DRIVER)
    run = _fresh_python(["driver.py"] + list(graphs), tmp_path)
    assert run.returncode == 0, run.stderr
    for name, outputs in want.items():
        got = np.load(tmp_path / f"{name}_out.npz")
        for ref, value in outputs.items():
            np.testing.assert_allclose(got[ref.replace(":", "__")], value, rtol=1e-10,
                                       atol=1e-10, err_msg=f"{name}: {ref}")


def test_export_command_writes_a_file_that_runs_on_its_own(tmp_path, capsys):
    out = tmp_path / "lenet.py"
    assert main(["export", sample("lenet5"), "-o", str(out)]) == 0
    assert (tmp_path / "lenet.npz").exists()
    text = out.read_text()
    assert "graphlab" not in "\n".join(ln for ln in text.splitlines()
                                       if ln.startswith(("import", "from")))
    assert "conv1 = F.conv2d(up, self.conv1_w, self.conv1_b)  # conv1: Conv2D" in text
    run = _fresh_python(["lenet.py"], tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("loss ()")


def test_export_refuses_another_suffix(tmp_path, capsys):
    try:
        code = main(["export", sample("lenet5"), "-o", str(tmp_path / "x.txt")])
    except SystemExit as e:  # a usage error, as argparse reports it
        code = e.code
    assert code == 2
    assert ".py" in capsys.readouterr().err


def test_source_has_one_forward_line_per_node():
    g = gl.load(sample("lstm_digits"))
    src = to_source(g)
    steps = [n for n in g.nodes if g.node(n).op not in ("Input", "Parameter",
                                                        "Constant")]
    for n in steps:
        assert sum(f"  # {n}: " in ln for ln in src.splitlines()) == 1, n


def test_export_overwrites_only_its_own_earlier_export(tmp_path, capsys):
    out = tmp_path / "digits.py"
    data = tmp_path / "digits.npz"  # the user's data set, not an export
    data.write_bytes(b"mine")
    assert main(["export", sample("mlp_digits"), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (f"error: {data}: already exists and is not the weights "
                           "of an earlier export: pick another -o or delete it first")
    assert data.read_bytes() == b"mine" and not out.exists()
    data.unlink()
    mine = tmp_path / "train.py"  # the user's own script
    mine.write_text("print('my training loop')\n")
    assert main(["export", sample("mlp_digits"), "-o", str(mine)]) == 1
    assert "train.py: already exists and is not a graphlab export" in (
        capsys.readouterr().err)
    assert mine.read_text() == "print('my training loop')\n"
    # exporting again over an export is fine
    assert main(["export", sample("mlp_digits"), "-o", str(out)]) == 0
    assert main(["export", sample("lenet5"), "-o", str(out)]) == 0
    assert "lenet" in out.read_text().lower()
