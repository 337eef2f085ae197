"""The training panel: train from the window, a live loss plot, Stop."""

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QSpinBox

from .conftest import sample


def snapshot(graph):
    return {k: np.array(v, copy=True) for k, v in graph.params.items()}


def test_training_one_epoch_from_the_panel(make_window, qtbot):
    w = make_window(sample("mlp_digits"))
    view = next(m for m in w.menuBar().actions() if m.text() == "&View").menu()
    assert w.actions["training"] in view.actions()
    w.actions["training"].trigger()
    p = w.findChild(type(w.training), "training")
    assert p is w.training and p.isVisible()
    assert isinstance(p.parentWidget(), QDockWidget)
    t = w.graph.train
    assert p.epochs.value() == t["epochs"]
    assert p.batch_size.value() == t["batch_size"]
    assert abs(p.lr.value() - t["optimizer"]["lr"]) < 1e-9
    before = snapshot(w.graph)
    p.epochs.setValue(1)
    qtbot.mouseClick(p.train_button, Qt.LeftButton)
    assert p.running and p.stop_button.isEnabled()
    qtbot.waitUntil(lambda: p.last_result is not None, timeout=60000)
    assert not p.running and p.train_button.isEnabled()
    assert p.last_result["epochs"] == 1 and p.last_result["stopped"] == "completed"
    assert len(p.plot.points) > 10  # one point per batch
    after = w.graph.params
    changed = [k for k in after if k not in before
               or not np.array_equal(before[k], after[k])]
    assert changed
    assert w.is_dirty()
    assert "epoch" in p.status.text()
    # one undoable step puts the old values back
    w.undo_stack.undo()
    assert all(np.array_equal(before[k], w.graph.params[k]) for k in before)
    assert set(w.graph.params) == set(before)


def test_stop_mid_epoch(make_window, qtbot):
    w = make_window(sample("mlp_digits"))
    p = w.open_training()
    p.epochs.setValue(50)
    p.start()
    qtbot.waitUntil(lambda: len(p.plot.points) >= 3, timeout=60000)
    qtbot.mouseClick(p.stop_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: p.last_result is not None, timeout=60000)
    r = p.last_result
    assert r["stopped"] == "stopped"
    assert r["epochs"] < 50
    assert not p.running and p.train_button.isEnabled()


def test_training_reports_errors(make_window, qtbot):
    w = make_window()
    p = w.open_training()
    assert not p.train_button.isEnabled()
    assert p.start() is False
    assert "cannot train" in w.statusBar().currentMessage().lower()


def test_dataset_and_optimizer_choices_train_and_record(make_window, qtbot):
    w = make_window(sample("mlp_digits"))
    p = w.open_training()
    t = w.graph.train
    assert p.dataset.currentText() == t["data"]["dataset"]
    assert p.optimizer.currentText() == t["optimizer"]["type"]
    assert [p.dataset.itemText(i) for i in range(3)] == ["digits", "xor", "spiral"]
    assert [p.optimizer.itemText(i) for i in range(3)] == ["sgd", "momentum", "adam"]
    original = dict(t["optimizer"])
    assert original["type"] != "sgd"
    p.optimizer.setCurrentText("sgd")
    p.lr.setValue(0.1)
    p.epochs.setValue(2)
    section, opt = p.overrides()
    assert opt["type"] == "sgd" and "betas" not in opt
    assert w.graph.train["optimizer"] == original  # choosing alone changes nothing
    before = snapshot(w.graph)
    qtbot.mouseClick(p.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: p.last_result is not None, timeout=60000)
    assert p.last_result["epochs"] == 2
    ys = [y for _, y in p.accuracy_plot.points]
    assert [x for x, _ in p.accuracy_plot.points] == [1.0, 2.0]
    assert all(0.0 <= y <= 1.0 for y in ys) and ys[-1] > 0.5
    # the choice is recorded with the weights, in one undo step
    assert w.graph.train["optimizer"]["type"] == "sgd"
    assert w.undo_stack.count() == 1
    w.undo_stack.undo()
    assert w.graph.train["optimizer"] == original
    assert all(np.array_equal(before[k], w.graph.params[k]) for k in before)
    w.undo_stack.redo()
    assert w.graph.train["optimizer"]["type"] == "sgd"
    img = p.accuracy_plot.grab().toImage()
    assert not img.isNull()


def test_unchanged_choices_leave_the_section_alone(make_window, qtbot):
    w = make_window(sample("mlp_digits"))
    p = w.open_training()
    t = {k: v for k, v in w.graph.train.items()}
    p.epochs.setValue(1)
    p.start()
    qtbot.waitUntil(lambda: p.last_result is not None, timeout=60000)
    assert w.graph.train == t


def test_a_wrong_dataset_reports_an_error(make_window, qtbot):
    w = make_window(sample("mlp_digits"))
    p = w.open_training()
    p.dataset.setCurrentText("xor")  # 2 features, the graph wants 64
    p.epochs.setValue(1)
    p.start()
    qtbot.waitUntil(lambda: not p.running and p.train_button.isEnabled(),
                    timeout=60000)
    assert "cannot train" in p.status.text().lower()
    assert w.graph.train["data"]["dataset"] == "digits"


def test_ten_thousand_points_paint_fast_and_decimated(make_window):
    import time
    from PySide6.QtGui import QImage, QPainter
    from gui.training import LossPlot, decimate
    w = make_window()
    plot = LossPlot()
    plot.resize(400, 160)
    rng = np.random.default_rng(0)
    ys = np.exp(-np.arange(10000) / 3000) + 0.05 * rng.standard_normal(10000)
    ys[7000] = 5.0  # a spike must survive decimation
    plot.points = [(i + 1, float(y)) for i, y in enumerate(ys)]
    img = QImage(plot.size(), QImage.Format_ARGB32)
    t0 = time.perf_counter()
    for _ in range(5):
        img.fill(0)
        plot.render(img)
    per_paint = (time.perf_counter() - t0) / 5
    assert per_paint < 0.1, per_paint
    assert 0 < plot.drawn <= 4 * plot.width()
    keep = decimate(np.arange(10000.0), ys, 0.0, 9999.0, 352)
    assert 7000 in keep and 0 in keep and 9999 in keep
    assert np.all(np.diff(keep) > 0)
    # the spike reaches the top of the plot: some pixel near the top is drawn
    r = plot.plot_rect()
    bg = img.pixel(r.left() + 5, r.top() + 3)
    top_row = [img.pixel(x, r.top() + 1) for x in range(r.left() + 1, r.right())]
    assert any(px != bg for px in top_row)
    w.close()


def _train_until_batches(p, qtbot, n=3):
    p.epochs.setValue(50)
    qtbot.mouseClick(p.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: len(p.plot.points) >= n, timeout=60000)


def test_weights_of_a_resized_layer_are_kept_out(make_window, qtbot, tmp_path):
    # fc1 goes from 64 to 32 units while it trains: its trained 64×64 weights
    # (and fc2's 10×64) no longer fit; saving must still give a file that opens
    import graphlab as gl
    w = make_window(sample("mlp_digits"))
    p = w.open_training()
    _train_until_batches(p, qtbot)
    w.scene.select_nodes(["fc1"])
    units = w.inspector.findChild(QSpinBox, "layer_units")
    units.setValue(32)
    assert w.graph.node("fc1_w").attrs["shape"] == [32, 64]
    qtbot.mouseClick(p.stop_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: p.last_result is not None, timeout=60000)
    assert {"fc1_w", "fc1_b", "fc2_w"} <= set(p.kept_out)
    for k, v in w.graph.params.items():
        assert tuple(v.shape) == tuple(w.graph.node(k).resolved["shape"]), k
    assert "fc2_b" in w.graph.params  # still fits: kept
    assert "kept out" in w.statusBar().currentMessage()
    assert "kept out" in p.status.text()
    path = tmp_path / "m.graph.json"
    assert w.save_to(str(path))
    gl.load(str(path)).check()


def test_new_file_while_training_keeps_the_values_out(make_window, qtbot):
    w = make_window(sample("mlp_digits"))
    p = w.open_training()
    _train_until_batches(p, qtbot)
    w.actions["new"].trigger()
    assert len(w.graph) == 0
    qtbot.mouseClick(p.stop_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: p.last_result is not None, timeout=60000)
    assert w.graph.params == {} and not w.is_dirty()
    assert "not kept" in w.statusBar().currentMessage()
    assert not p.train_button.isEnabled()  # the new graph has no train section


def test_status_tells_the_batch_during_the_first_epoch(make_window, qtbot):
    w = make_window(sample("mlp_digits"))
    p = w.open_training()
    seen = []
    p.bridge.batch.connect(lambda logs: seen.append(p.status.text()))
    _train_until_batches(p, qtbot, n=1)
    qtbot.waitUntil(lambda: len(seen) >= 2, timeout=10000)
    assert seen[1].startswith("epoch 1/50 · batch ")  # after the first batch
    assert "Preparing" not in seen[1]
    p.stop()
    qtbot.waitUntil(lambda: not p.running, timeout=60000)


def test_closing_the_window_mid_training_raises_nothing(make_window, qtbot):
    w = make_window(sample("mlp_digits"))
    p = w.open_training()
    _train_until_batches(p, qtbot)
    thread = p.thread
    w.close()
    thread.join(60)
    assert not thread.is_alive()
    qtbot.wait(50)  # queued signals of the last batch are delivered


def test_plots_have_axes_and_unclipped_captions(make_window):
    from PySide6.QtGui import QImage
    w = make_window(sample("mlp_digits"))
    p = w.open_training()
    for plot, pts in ((p.plot, [(i + 1, 2.0 / (i + 1)) for i in range(300)]),
                      (p.accuracy_plot, [(1, 0.5), (2, 0.8), (3, 0.91)])):
        plot.points = pts
        for width in (180, 260, 500):
            plot.resize(width, 160)
            img = QImage(plot.size(), QImage.Format_ARGB32)
            plot.render(img)
            fm = plot.fontMetrics()
            assert plot.shown_caption and "…" not in plot.shown_caption
            assert fm.horizontalAdvance(plot.shown_caption) <= width - 8
            last = f"{pts[-1][1]:.3g}"[:4]
            assert last in plot.shown_caption
            assert len(plot.x_ticks) >= 2 and len(plot.y_ticks) >= 2
    assert p.accuracy_plot.y_ticks[0] == 0 and p.accuracy_plot.y_ticks[-1] == 1
