"""A hostile user of the Playground: New/Open, edits, deletes and closing
the window while it trains."""

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from gui.playground import open_playground

from .conftest import sample


def _slow_start(panel, epochs=100000):
    assert panel.start(epochs)
    return panel



def test_playground_keeps_trained_values_out_of_another_graph(make_window, qtbot):
    w = make_window(sample("playground_circle_2"))
    panel = open_playground(w)
    _slow_start(panel)
    qtbot.waitUntil(lambda: panel.trainer is not None, timeout=10000)
    assert w.open_path(sample("playground_circle_4"))  # same node ids, wider
    panel.stop()
    assert panel.wait(20)
    for k, v in w.graph.params.items():
        assert list(np.shape(v)) == w.graph.node(k).attrs["shape"], k
    assert w.undo_stack.isClean()  # nothing was put into the new graph
    assert "not" in panel.status.text()  # and the panel says why



def test_playground_drops_values_that_no_longer_fit_an_edited_node(
        make_window, qtbot):
    w = make_window(sample("playground_circle_4"))
    panel = open_playground(w)
    _slow_start(panel)
    qtbot.waitUntil(lambda: panel.trainer is not None, timeout=10000)
    w.graph.set_attr("fc1_w", "shape", [3, 2])
    panel.stop()
    assert panel.wait(20)
    v = w.graph.params.get("fc1_w")
    assert v is None or np.shape(v) == (3, 2)



def test_closing_the_window_stops_playground_training(make_window, qtbot):
    w = make_window(sample("playground_spiral"))
    panel = open_playground(w)
    _slow_start(panel)
    qtbot.waitUntil(lambda: panel.trainer is not None, timeout=10000)
    thread = panel.thread
    w.close()
    qtbot.waitUntil(lambda: not thread.is_alive(), timeout=10000)



def test_delete_selected_node_mid_run_then_finish(make_window, qtbot):
    w = make_window(sample("playground_spiral"))
    panel = open_playground(w)
    _slow_start(panel)
    qtbot.waitUntil(lambda: panel.trainer is not None, timeout=10000)
    w.scene.clearSelection()
    w.scene.node_items["h1"].setSelected(True)
    w.actions["delete"].trigger()
    assert "h1" not in w.graph
    panel.stop()
    assert panel.wait(20)
    QApplication.processEvents()
    # the panel catches up with the edit made during the run
    assert "h1" not in [panel.node_box.itemText(i)
                        for i in range(panel.node_box.count())]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_playground_draws_while_the_training_dock_trains(make_window, qtbot, backend):
    if backend == "torch":
        pytest.importorskip("torch")
    from gui.training import open_training
    w = make_window(sample("playground_xor"))
    panel = open_playground(w)
    dock = open_training(w)
    dock.backend.setCurrentIndex(dock.backend.findData(backend))
    dock.epochs.setValue(3)
    shown = panel.frames_shown
    assert dock.start()
    dock.backend.setCurrentIndex(0)  # switched mid-run: the next run's backend
    qtbot.waitUntil(lambda: not dock.running, timeout=30000)
    QApplication.processEvents()
    assert dock.last_result is not None, dock.status.text()
    assert panel.frames_shown > shown


def test_file_new_mid_run_and_no_stray_windows(make_window, qtbot):
    w = make_window(sample("playground_spiral"))
    panel = open_playground(w)
    _slow_start(panel)
    qtbot.waitUntil(lambda: panel.trainer is not None, timeout=10000)
    assert w.new_file()
    panel.stop()
    assert panel.wait(20)
    assert len(w.graph) == 0 and w.undo_stack.count() == 0
    assert not w.actions["playground"].isEnabled()
    # (windows of earlier tests may still be around: only this one's count)
    tops = [t for t in QApplication.topLevelWidgets()
            if t.isVisible() and t.isWindow() and t is not w
            and t.parentWidget() in (None, w) and not isinstance(t, type(w))]
    assert tops == [], tops


def test_an_input_with_a_fixed_batch_is_reported_not_raised(make_window, qtbot):
    w = make_window(sample("playground_spiral"))
    panel = open_playground(w)
    w.editor.set_attr("x", "shape", [5, 2], merge=False)  # the grid is 10000×2
    QApplication.processEvents()
    assert panel.surface is None
    assert "Cannot compute the surface" in panel.view.message
    w.undo_stack.undo()
    QApplication.processEvents()
    assert panel.surface is not None


def test_values_that_do_not_fit_are_reported_not_raised(make_window, qtbot):
    w = make_window(sample("playground_spiral"))
    panel = open_playground(w)
    w.graph.params = {"fc1_w": np.zeros((3, 3))}  # e.g. a stale sidecar
    w.undo_stack.indexChanged.emit(w.undo_stack.index())
    QApplication.processEvents()
    assert panel.surface is None
    assert "Cannot compute the surface" in panel.view.message
