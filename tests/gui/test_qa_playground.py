"""A hostile user of the Playground: New/Open, edits, deletes and closing
the window while it trains."""

import numpy as np
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
