"""The Playground view: the surface and the units equal the executor's values,
live frames while training, the action only for graphs on the plane."""

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage

import graphlab as gl
from graphlab import datasets2d, surface

from .conftest import sample


def _view_menu(w):
    return next(m for m in w.menuBar().actions() if m.text() == "&View").menu()


def _softmax1(logits):
    p = np.exp(logits - logits.max(1, keepdims=True))
    return p[:, 1] / p.sum(1)


def test_action_is_in_the_view_menu_and_only_for_the_plane(make_window):
    w = make_window(sample("mlp_digits"))
    assert w.actions["playground"] in _view_menu(w).actions()
    assert not w.actions["playground"].isEnabled()
    w.open_path(sample("playground_circle_6"), ask=False)
    assert w.actions["playground"].isEnabled()


def test_surface_and_units_show_what_the_executor_computes(make_window, qtbot):
    w = make_window(sample("playground_circle_4"))
    w.actions["playground"].trigger()
    p = w.findChild(type(w.playground), "playground")
    assert p is w.playground and p.isVisible()
    assert p.node == "h1" and p.units.count == 4
    res = p.surface.resolution
    grid = datasets2d.featurize(surface.plane_grid(res))
    prog = gl.compile(w.graph, training=False, grad=False, outputs=["out", "h1"])
    out = prog.forward({"x": grid})
    want = surface.colors(_softmax1(out["out"]).reshape(res, res), 0, 1, strength=0.6)
    img = p.view.image.convertToFormat(QImage.Format_RGB888)
    got = np.frombuffer(img.constBits(), np.uint8).reshape(res, img.bytesPerLine())
    got = got[:, :3 * res].reshape(res, res, 3)
    # float32 rounding may move a value across one colour step
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 2
    frame = p.units.tiles  # every other grid point (UNIT_STEP 2)
    h = out["h1"].T.reshape(4, res, res)[:, ::2, ::2]
    assert frame.shape == (4, res // 2, res // 2, 3)
    for u in range(4):
        lim = np.abs(h[u]).max()
        want_u = surface.colors(h[u] / lim)
        assert np.abs(frame[u].astype(int) - want_u.astype(int)).max() <= 2
    # the points drawn are the training and test splits
    train, test = p.view.parts
    assert len(train["labels"]) == 400 and len(test["labels"]) == 100


def test_training_draws_frames_and_puts_values_back(make_window, qtbot):
    w = make_window(sample("playground_xor"))
    from gui.playground import open_playground
    p = open_playground(w)
    before = p.frames_shown
    first = p.view.image.copy()
    p.epochs.setValue(30)
    qtbot.mouseClick(p.train_button, Qt.LeftButton)
    assert p.running and p.stop_button.isEnabled()
    qtbot.waitUntil(lambda: p.last_result is not None, timeout=60000)
    assert p.frames_shown > before + 1
    assert p.view.image != first
    assert p.last_result["test_accuracy"] >= 0.95
    assert len(p.curves.train) == 30 and "test loss" in p.loss_label.text()
    # the last frame is the trained graph's surface
    s = surface.Surface(w.graph, resolution=p.surface.resolution)
    want = surface.colors(s.compute()["output"], 0, 1, strength=0.6)
    img = p.view.image.convertToFormat(QImage.Format_RGB888)
    res = s.resolution
    got = np.frombuffer(img.constBits(), np.uint8).reshape(res, img.bytesPerLine())
    assert np.abs(got[:, :3 * res].reshape(res, res, 3).astype(int)
                  - want.astype(int)).max() <= 2
    assert w.is_dirty()
    w.undo_stack.undo()
    assert not w.graph.params


def test_selecting_a_node_on_the_canvas_shows_its_units(make_window, qtbot):
    w = make_window(sample("playground_spiral"))
    from gui.playground import open_playground
    p = open_playground(w)
    assert p.node == "h3"
    w.scene.select_nodes(["fc1"])
    assert p.node == "fc1" and p.units.count == 16
    w.scene.select_nodes(["loss"])  # no units: the choice stays
    assert p.node == "fc1"


def test_hovering_a_unit_names_its_incoming_weights(make_window):
    w = make_window(sample("playground_circle_2"))
    from gui.playground import open_playground
    p = open_playground(w)
    text = p.units.tooltip_text(1)
    wts = p.surface.program.params["fc1_w"][1]
    assert text.startswith("h1[1] = tanh(")
    assert f"x1: {wts[0]:.3g}, x2: {wts[1]:.3g}" in text
    r = p.units.tile_rect(1)
    assert p.units.unit_at(QPoint(int(r.center().x()), int(r.center().y()))) == 1
    assert p.units.unit_at(QPoint(int(r.right()) + 200, 1000)) is None


def test_screenshot_after_training_from_the_command_line(tmp_path, capsys):
    from gui.app import main
    out = tmp_path / "c.png"
    assert main([sample("playground_circle_6"), "--screenshot", str(out),
                 "--playground", "--train-epochs", "5"]) == 0
    img = QImage(str(out))
    assert img.width() >= 1000 and img.height() >= 700
    assert main([sample("mlp_digits"), "--screenshot", str(out), "--playground"]) == 1
    err = capsys.readouterr().err
    assert "point of the plane" in err and err.count("\n") == 1


def test_training_dock_offers_the_plane_sets_with_noise_and_size(make_window, qtbot):
    w = make_window(sample("playground_circle_6"))
    t = w.open_training()
    names = [t.dataset.itemText(i) for i in range(t.dataset.count())]
    assert {"circle", "xor", "gauss", "spiral"} <= set(names)
    assert t.dataset.currentText() == "circle" and t.size.value() == 500
    assert t.noise.isEnabled() and t.size.isEnabled()
    t.dataset.setCurrentText("gauss")
    t.noise.setValue(0.2)
    t.size.setValue(120)
    section, _ = t.overrides()
    assert section["data"]["dataset"] == "gauss"
    assert section["data"]["noise"] == 0.2 and section["data"]["size"] == 120
    t.size.setValue(t.size.minimum())  # "default": the set's own size
    assert "size" not in t.overrides()[0]["data"]
    t.dataset.setCurrentText("digits")
    assert not t.noise.isEnabled() and not t.size.isEnabled()
    w.open_path(sample("mlp_xor"), ask=False)  # the four-point table stays
    assert "size" not in w.training.overrides()[0]["data"]


def test_training_from_the_training_dock_is_drawn_live(make_window, qtbot):
    from gui.playground import open_playground
    w = make_window(sample("playground_circle_6"))
    p = open_playground(w)
    t = w.open_training()
    before = p.frames_shown
    # A short run (a few tenths of a second): the dock hands its trainer to the
    # Playground before the first step, so it is drawn while it runs too.
    t.epochs.setValue(20)
    t.start()
    qtbot.waitUntil(lambda: t.last_result is not None, timeout=120000)
    qtbot.waitUntil(lambda: len(p.curves.train) == 20, timeout=5000)
    assert p.frames_shown > before + 1  # frames while it ran, not only at the end
    s = surface.Surface(w.graph, resolution=p.surface.resolution)
    want = surface.colors(s.compute()["output"], 0, 1, strength=0.6)
    img = p.view.image.convertToFormat(QImage.Format_RGB888)
    res = s.resolution
    got = np.frombuffer(img.constBits(), np.uint8).reshape(res, img.bytesPerLine())
    assert np.abs(got[:, :3 * res].reshape(res, res, 3).astype(int)
                  - want.astype(int)).max() <= 2  # ends on the trained values
