"""``graphlab train --plot``: the picture, and a one-line error without matplotlib."""

import os
import shutil
import subprocess
import sys

import pytest

from graphlab.cli import main

from .conftest import ROOT, sample

pytest.importorskip("matplotlib")


def _png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _copy(tmp_path, name):
    path = tmp_path / f"{name}.graph.json"
    shutil.copy(sample(name), path)
    return str(path)


def test_plot_of_2d_data_has_the_surface_panel(tmp_path, capsys):
    out = tmp_path / "xor.png"
    assert main(["train", _copy(tmp_path, "playground_xor"), "--epochs", "3",
                 "--plot", str(out)]) == 0
    assert f"wrote the curves to {out}" in capsys.readouterr().out
    assert _png_size(out) == (1500, 460)  # curves, accuracy, surface
    import matplotlib.image
    img = matplotlib.image.imread(str(out))
    right = img[60:400, 1100:1420, :3].reshape(-1, 3)
    # the surface shows both classes' colours (orange and blue dominate pixels)
    orange = ((right[:, 0] > 0.8) & (right[:, 2] < 0.6)).mean()
    blue = ((right[:, 2] > 0.6) & (right[:, 0] < 0.5)).mean()
    assert orange > 0.1 and blue > 0.1, (orange, blue)
    assert not list(tmp_path.glob(".plot-*"))  # the temporary file is gone


def test_plot_of_other_data_has_the_curves_only(tmp_path):
    out = tmp_path / "x.png"
    assert main(["train", _copy(tmp_path, "mlp_xor"), "--epochs", "2",
                 "--plot", str(out)]) == 0
    assert _png_size(out)[0] == 1500  # mlp_xor's Input is the plane too
    b = tmp_path / "digits.png"
    g = _copy(tmp_path, "mlp_digits")
    assert main(["train", g, "--epochs", "1", "--plot", str(b)]) == 0
    assert _png_size(b) == (1000, 460)


def test_plot_into_a_missing_folder_fails_before_training(tmp_path, capsys):
    status = main(["train", _copy(tmp_path, "playground_xor"), "--plot",
                   str(tmp_path / "nope" / "x.png")])
    err = capsys.readouterr().err
    assert status == 1 and "does not exist" in err and "epoch" not in err


def test_without_matplotlib_the_error_says_how_to_install(tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from graphlab.cli import main\n"
            f"sys.exit(main(['train', {_copy(tmp_path, 'playground_xor')!r}, "
            f"'--plot', {str(tmp_path / 'x.png')!r}]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'playground_xor.graph.json'}: --plot needs matplotlib, "
        "which is not installed: pip install graphlab[plot]"]


def test_graphlab_never_imports_matplotlib_on_its_own():
    code = ("import sys, graphlab, graphlab.cli, graphlab.surface, graphlab.plot\n"
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize("name", ["playground_xor.graph.json", "curves.txt", "curves"])
def test_plot_to_a_non_image_fails_before_training(tmp_path, capsys, name):
    graph = _copy(tmp_path, "playground_xor")
    before = open(graph, "rb").read()
    target = tmp_path / name
    status = main(["train", graph, "--plot", str(target)])
    err = capsys.readouterr().err
    assert status == 1 and "epoch" not in err, err
    assert err.strip().splitlines() == [
        f"error: {graph}: --plot {target}: name an image file ending in .png, .svg "
        f"or .pdf (or another format matplotlib writes)"]
    assert open(graph, "rb").read() == before
