"""A hostile user of the readable canvas: view toggles during a drag, undo and
redo across toggles, collapsing and expanding, a 236-node model at Fit."""

import math
import os

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

import graphlab as gl

from .conftest import ROOT, sample
from .util import vp_point


def _positions(g):
    return {n: tuple(g.node(n).ui.get("pos") or ()) for n in g.nodes}


def _consistent(w):
    s, g = w.scene, w.graph
    assert set(s.node_items) == set(g.nodes)
    assert set(s.edge_items) == set(g.edges)
    for n, it in s.node_items.items():
        p = it.pos()
        assert math.isfinite(p.x()) and math.isfinite(p.y()), n


def test_toggle_weights_as_nodes_in_the_middle_of_a_drag(make_window):
    w = make_window(sample("lenet5"))
    item = w.scene.node_items["conv1"]
    vp = w.view.viewport()
    a = vp_point(w, item.sceneBoundingRect().center())
    QTest.mousePress(vp, Qt.LeftButton, Qt.NoModifier, a)
    QTest.mouseMove(vp, a + QPoint(10, 10))
    w.actions["showWeights"].trigger()
    QApplication.processEvents()
    QTest.mouseMove(vp, a + QPoint(30, 25))
    w.actions["showWeights"].trigger()
    QTest.mouseMove(vp, a + QPoint(40, 40))
    QTest.mouseRelease(vp, Qt.LeftButton, Qt.NoModifier, a + QPoint(40, 40))
    QApplication.processEvents()
    _consistent(w)
    while w.undo_stack.canUndo():
        w.undo_stack.undo()
    _consistent(w)


def test_undo_redo_across_toggles_and_direction_changes(make_window):
    w = make_window(sample("lenet5"))
    g = w.graph
    start = _positions(g)
    w.actions["layoutLeftToRight"].trigger()
    w.actions["showWeights"].trigger()
    w.editor.move({"conv1": (123.0, 45.0)})
    w.actions["layoutTopToBottom"].trigger()
    w.actions["showWeights"].trigger()
    w.actions["layoutLeftToRight"].trigger()
    end = _positions(g)
    n = 0
    while w.undo_stack.canUndo():
        w.undo_stack.undo()
        _consistent(w)
        n += 1
    assert _positions(g) == start
    while w.undo_stack.canRedo():
        w.undo_stack.redo()
        _consistent(w)
    assert _positions(g) == end


@pytest.fixture(scope="module")
def resnet_path(tmp_path_factory):
    import runpy
    out = tmp_path_factory.mktemp("resnet") / "r.graph.json"
    build = runpy.run_path(os.path.join(ROOT, "benchmarks", "resnet_graph.py"))
    gl.save(build["resnet_graph"](), str(out))
    return str(out)


def test_collapse_expand_groups_then_undo_everything(make_window, resnet_path):
    w = make_window(resnet_path)
    g = w.graph
    ui = {n: dict(g.node(n).ui) for n in g.nodes}
    groups = sorted({g.node(n).ui.get("group") for n in g.nodes} - {None})
    for name in groups[:4]:
        w.editor.set_group_collapsed(name, False)
    w.actions["showWeights"].trigger()
    w.editor.set_group_collapsed(groups[1], True)
    w.actions["layoutLeftToRight"].trigger()
    for name in groups[:4]:
        w.editor.set_group_collapsed(name, True)
    while w.undo_stack.canUndo():
        w.undo_stack.undo()
        _consistent(w)
    assert {n: dict(g.node(n).ui) for n in g.nodes} == ui
    assert not w.isWindowModified()


def test_select_and_drag_a_236_node_model_at_fit(make_window, resnet_path, qtbot):
    w = make_window(resnet_path)
    w.view.fit_view()
    QApplication.processEvents()
    boxes = [it for it in w.scene.node_items.values() if it.isVisible()]
    item = boxes[len(boxes) // 2]
    before = item.pos()
    c = vp_point(w, item.sceneBoundingRect().center())
    vp = w.view.viewport()
    QTest.mouseClick(vp, Qt.LeftButton, Qt.NoModifier, c)
    assert item.isSelected()
    QTest.mousePress(vp, Qt.LeftButton, Qt.NoModifier, c)
    for i in range(1, 5):
        QTest.mouseMove(vp, c + QPoint(8 * i, 6 * i))
    QTest.mouseRelease(vp, Qt.LeftButton, Qt.NoModifier, c + QPoint(32, 24))
    QApplication.processEvents()
    assert item.pos() != before
    w.undo_stack.undo()
    assert item.pos() == before
    _consistent(w)


@pytest.mark.parametrize("action", ["layoutLeftToRight", "showWeights"])
def test_undoing_a_view_change_shows_the_view_its_positions_were_made_for(
        make_window, action):
    from gui.layout import overlapping
    w = make_window(sample("lenet5"))
    s = w.scene
    view = (s.vertical, s.weights_inside)
    w.actions[action].trigger()
    assert w.undo_stack.canUndo()  # the change needed a layout: one undo step
    w.undo_stack.undo()
    assert (s.vertical, s.weights_inside) == view
    assert overlapping(w.graph, view=s.view_state) == []
    assert w.actions["layoutTopToBottom"].isChecked() == s.vertical
    assert w.actions["showWeights"].isChecked() == (not s.weights_inside)
    assert not w.isWindowModified()
    remembered = w._settings()  # the next window opens as this one shows
    assert remembered.value("view/vertical", type=bool) == s.vertical
    assert remembered.value("view/weightsInside", type=bool) == s.weights_inside
    w.undo_stack.redo()
    assert (s.vertical, s.weights_inside) != view
    assert overlapping(w.graph, view=s.view_state) == []
    assert w._settings().value("view/vertical", type=bool) == s.vertical
    _consistent(w)


def test_a_view_change_that_needs_no_layout_is_no_undo_step(make_window):
    w = make_window(sample("neuron"))
    w.actions["showWeights"].trigger()
    assert not w.scene.weights_inside
    assert not w.undo_stack.canUndo() and not w.isWindowModified()
