"""The program: screenshots of every sample, the command line, the error guard."""

import glob
import os
import subprocess
import sys

import pytest

from .conftest import ROOT, SAMPLES, sample

SAMPLE_FILES = sorted(glob.glob(os.path.join(SAMPLES, "*.graph.json")))


def image_stats(path):
    from PySide6.QtGui import QImage
    img = QImage(path)
    assert not img.isNull()
    colours = set()
    w, h = img.width(), img.height()
    for y in range(0, h, 7):
        for x in range(0, w, 7):
            c = img.pixel(x, y)
            colours.add(c)
    return img, colours


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=os.path.basename)
def test_screenshot_of_every_sample_is_not_blank(make_window, tmp_path, path):
    w = make_window(path)
    out = str(tmp_path / "shot.png")
    w.screenshot(out)
    img, colours = image_stats(out)
    assert (img.width(), img.height()) == (1600, 1000)
    assert len(colours) > 200  # text, boxes, wires: not a flat fill
    # every box is drawn inside the visible canvas, at a readable zoom
    visible = w.view.visible_scene_rect()
    for item in w.scene.node_items.values():
        if item.isVisible():
            assert visible.contains(item.sceneBoundingRect())
    assert w.view.scale_factor >= 0.6


def test_graphlab_gui_screenshot_command(tmp_path):
    out = tmp_path / "lenet5.png"
    env = dict(os.environ, GRAPHLAB_GUI_HOME=str(tmp_path / "home"))
    env.pop("QT_QPA_PLATFORM", None)  # --screenshot must go offscreen by itself
    r = subprocess.run([sys.executable, "-m", "gui", sample("lenet5"), "--screenshot",
                        str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.exists() and out.stat().st_size > 20000


def test_screenshot_command_reports_a_missing_file(qapp, tmp_path, capsys):
    from gui.app import main
    assert main(["nope.graph.json", "--screenshot", str(tmp_path / "x.png")]) == 1
    assert "error: nope.graph.json" in capsys.readouterr().err


def test_step_option_rejects_a_bad_count():
    from gui.app import main
    with pytest.raises(SystemExit) as e:
        main(["--step", "-3"])
    assert e.value.code == 2


def test_excepthook_guard_reports_in_the_status_bar(window):
    from gui import guard
    guard.install(window)
    try:
        try:
            raise RuntimeError("a paint handler failed")
        except RuntimeError:
            sys.excepthook(*sys.exc_info())
    finally:
        guard.uninstall()
    assert "a paint handler failed" in window.statusBar().currentMessage()
