"""The training panel: train from the window, a live loss plot, Stop."""

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget

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
