"""The editor tried hard: stray windows, tiny zoom, odd files, errors in handlers."""

import json
import math

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu

import graphlab as gl

from .conftest import sample
from .util import activate, drag, vp_point


def stray_windows(window):
    """Visible top-level widgets other than editor windows and open menus."""
    from gui.window import MainWindow
    return [w for w in QApplication.topLevelWidgets()
            if w.isVisible() and not isinstance(w, (MainWindow, QMenu))
            and not w.windowFlags() & Qt.ToolTip]


def click_node(window, node):
    item = window.scene.node_items[node]
    window.view.centerOn(item)
    QApplication.processEvents()
    p = vp_point(window, item.sceneBoundingRect().center() + QPointF(0, 4))
    QTest.mouseClick(window.view.viewport(), Qt.LeftButton, Qt.NoModifier, p)
    QApplication.processEvents()


# ---- no stray top-level windows ---------------------------------------------------------

def test_clicking_conv1_makes_no_window_and_keeps_the_shortcuts(make_window, qtbot):
    w = make_window(sample("lenet5"))
    activate(w, qtbot)
    click_node(w, "conv1")
    assert w.inspector.node_id == "conv1"
    assert stray_windows(w) == []
    assert QApplication.activeWindow() is w
    n = len(w.graph)
    vp = w.view.viewport()
    QTest.keyClick(vp, Qt.Key_C, Qt.ControlModifier)
    QTest.keyClick(vp, Qt.Key_V, Qt.ControlModifier)
    assert len(w.graph) == n + 1  # the copy of conv1
    pasted = w.scene.selected_nodes()
    assert len(pasted) == 1 and pasted[0] != "conv1"
    QTest.keyClick(vp, Qt.Key_G, Qt.ControlModifier)
    assert w.graph.node(pasted[0]).ui.get("group")


def test_typical_actions_leave_no_stray_windows(make_window, qtbot):
    w = make_window(sample("lenet5"))
    activate(w, qtbot)
    for node in ("conv1", "pool1", "fc1_w", "x", "loss"):
        if node in w.graph:
            click_node(w, node)
            assert stray_windows(w) == [], node
    w.scene.select_nodes([])
    w.open_stepper().go(5)
    w.open_training()
    w.open_inspect_model()
    w.scene.select_nodes(["conv1", "pool1"])
    w.add_note(QPointF(0, 0))
    w.actions["autoLayout"].trigger()
    w.actions["new"].trigger()
    w.open_path(sample("lstm_digits"))
    click_node(w, "lstm")
    QApplication.processEvents()
    assert stray_windows(w) == []


# ---- tiny zoom --------------------------------------------------------------------------

def test_nodes_stay_selectable_and_draggable_below_twenty_percent(make_window):
    w = make_window(sample("lenet5"))
    w.view.set_scale(0.12)
    QApplication.processEvents()
    assert w.scene.overviewed
    item = w.scene.node_items["conv1"]
    w.view.centerOn(item)
    QApplication.processEvents()
    p = vp_point(w, item.sceneBoundingRect().center())
    QTest.mouseClick(w.view.viewport(), Qt.LeftButton, Qt.NoModifier, p)
    QApplication.processEvents()
    assert w.scene.selected_nodes() == ["conv1"]
    before = item.pos()
    drag(w, p, p + QPoint(30, 20))
    assert item.pos().x() > before.x() + 100  # 30 px at 12 % is 250 units
    assert w.graph.node("conv1").ui["pos"][0] > before.x() + 100
    # rubber band from empty space around two nodes
    w.scene.clearSelection()
    r = w.scene.node_items["conv1"].sceneBoundingRect().united(
        w.scene.node_items["pool1"].sceneBoundingRect())
    a = vp_point(w, r.topLeft() - QPointF(60, 60))
    b = vp_point(w, r.bottomRight() + QPointF(60, 60))
    drag(w, a, b)
    assert {"conv1", "pool1"} <= set(w.scene.selected_nodes())


# ---- files --------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [1e308, -1e308, "nan", "inf", 5e6])
def test_absurd_positions_are_laid_out_on_open(make_window, tmp_path, bad):
    d = json.loads(open(sample("cs231n")).read())
    d["nodes"][2].setdefault("ui", {})["pos"] = [bad, 0]
    path = tmp_path / "far.graph.json"
    path.write_text(json.dumps(d).replace('"nan"', "NaN").replace('"inf"', "Infinity"))
    w = make_window(str(path))
    for n in w.graph.nodes:
        x, y = w.graph.node(n).ui["pos"]
        assert math.isfinite(x) and abs(x) < 1e5 and abs(y) < 1e5
    assert "laid out" in w.statusBar().currentMessage()
    assert w.view.scale_factor > 0.2


@pytest.mark.parametrize("name", ["rnn_digits", "lstm_digits", "gru_digits"])
def test_shipped_samples_need_no_layout(name):
    from gui.layout import overlapping
    g = gl.load(sample(name))
    assert not overlapping(g, report=g.analyse())


def test_open_a_broken_file_keeps_the_current_graph(make_window, tmp_path):
    w = make_window(sample("cs231n"))
    for text in ("{", "[]", '{"nodes": 3}', '{"nodes": [{"id": "a"}]}', "\x00\xff"):
        path = tmp_path / "bad.graph.json"
        path.write_bytes(text.encode("latin-1"))
        assert w.open_path(str(path)) is False
        assert "Cannot open" in w.statusBar().currentMessage()
        assert len(w.graph) == 5 and w.path.endswith("cs231n.graph.json")


def test_a_missing_sidecar_is_reported_not_raised(make_window, tmp_path):
    d = json.loads(open(sample("cs231n")).read())
    d["params"] = "gone.params.npz"
    path = tmp_path / "nosidecar.graph.json"
    path.write_text(json.dumps(d))
    w = make_window(sample("cs231n"))
    assert w.open_path(str(path)) is False
    assert "gone.params.npz" in w.statusBar().currentMessage()


# ---- errors in handlers ----------------------------------------------------------------------

def test_every_action_reports_its_exception(make_window):
    # menu entries and shortcuts: an exception is shown, never raised into Qt
    w = make_window(sample("cs231n"))
    for name in list(w._slots):  # every action made by add_action
        action = w.actions[name]
        if not action.isEnabled():  # (the Playground, for a graph it cannot show)
            continue

        def boom(*a, name=name):
            raise RuntimeError(f"boom in {name}")
        w._slots[name] = boom
        action.trigger()
        assert f"boom in {name}" in w.statusBar().currentMessage()


def test_a_failing_drop_is_reported(make_window, monkeypatch):
    from .util import drop_op
    w = make_window()

    def boom(*a, **k):
        raise RuntimeError("boom in a drop")
    monkeypatch.setattr(w.editor, "place", boom)
    drop_op(w, "ReLU", QPointF(0, 0))
    assert "boom in a drop" in w.statusBar().currentMessage()


def test_open_with_values_that_no_longer_fit_is_refused(make_window, tmp_path):
    g = gl.load(sample("mlp_digits"))
    g.params = {"fc1_w": np.zeros((3, 3))}
    path = tmp_path / "m.graph.json"
    gl.save(g, str(path))
    w = make_window(sample("cs231n"))
    assert w.open_path(str(path)) is False
    assert "fc1_w" in w.statusBar().currentMessage()


def test_save_never_writes_a_file_that_does_not_open(make_window, tmp_path):
    # however values that no longer fit got into the graph, Save leaves them out
    w = make_window(sample("mlp_digits"))
    w.graph.params = {"fc1_w": np.zeros((3, 3)), "fc2_b": np.ones(10),
                      "gone": np.ones(2)}
    path = tmp_path / "m.graph.json"
    assert w.save_to(str(path))
    back = gl.load(str(path))
    assert set(back.params) == {"fc2_b"}
    msg = w.statusBar().currentMessage()
    assert "fc1_w (3×3, the node is 64×64)" in msg and "gone" in msg
    assert w.graph.params["fc1_w"].shape == (3, 3)  # kept in memory


def test_a_failing_autosave_timer_is_reported(make_window):
    w = make_window(sample("cs231n"))
    w.editor.place_op("Add", (600, 600))  # something to autosave

    def boom(*a, **k):
        raise RuntimeError("boom in the autosave timer")
    w.is_dirty = boom
    try:
        w.autosave.timer.timeout.emit()
    finally:
        del w.is_dirty  # closing the window asks it again
    assert "boom in the autosave timer" in w.statusBar().currentMessage()
