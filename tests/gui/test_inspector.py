"""Editing in the inspector: attributes validated as typed, applied when confirmed."""

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QPushButton, QSpinBox

from .conftest import sample


def field(window, key, cls=None):
    w = window.inspector.findChild(cls or QLineEdit.__mro__[1], f"attr_{key}")
    assert w is not None, key
    return w


def select(window, node):
    if not window.scene.node_items[node].isVisible():  # a weight drawn inside
        window.set_view(weights_inside=False)
    window.scene.select_nodes([node])
    assert window.inspector.node_id == node


def test_editing_an_attribute_changes_shapes_on_the_canvas(make_window):
    w = make_window(sample("lenet5"))
    select(w, "pool1")
    assert w.scene.node_items["pool1"].shapes[0][1] == ("N", 6, 14, 14)
    edit = field(w, "kernel", QLineEdit)
    edit.setFocus()
    edit.selectAll()
    QTest.keyClicks(edit, "4")
    assert w.graph.node("pool1").attrs["kernel"] == 2  # not before Enter
    QTest.keyClick(edit, Qt.Key_Return)
    assert w.graph.node("pool1").attrs["kernel"] == 4
    assert w.scene.node_items["pool1"].shapes[0][1] == ("N", 6, 7, 7)
    edges = {e: it for e, it in w.scene.edge_items.items() if e.src == "pool1"}
    assert [it.label for it in edges.values()] == ["N×6×7×7"]
    # conv2 (a layer) keeps fitting; the Dense after Flatten is resized to the new
    # input size in the same undo step
    assert w.graph.node("fc1_w").attrs["shape"] == [120, 16]
    assert "fc1" not in w.model.report.node_errors
    w.undo_stack.undo()
    assert w.graph.node("pool1").attrs["kernel"] == 2
    assert w.graph.node("fc1_w").attrs["shape"] == [120, 400]


def test_typing_into_one_field_is_one_undo_step(make_window):
    w = make_window(sample("lenet5"))
    select(w, "x")
    edit = field(w, "shape", QLineEdit)
    edit.setFocus()
    edit.selectAll()
    count = w.undo_stack.count()
    QTest.keyClicks(edit, "N, 1, 16, 16")
    assert w.undo_stack.count() == count  # typing applies nothing
    QTest.keyClick(edit, Qt.Key_Return)
    assert w.graph.node("x").attrs["shape"] == ["N", 1, 16, 16]
    assert w.undo_stack.count() == count + 1
    assert w.scene.node_items["up"].shapes[0][1] == ("N", 1, 64, 64)


def test_invalid_input_turns_red_with_the_op_message(make_window):
    w = make_window(sample("lenet5"))
    select(w, "conv1")
    edit = field(w, "padding", QComboBox).lineEdit()
    edit.setFocus()
    QTest.keyClicks(edit, "sam")
    msg = w.inspector.findChild(QLabel, "attrError_padding")
    assert msg.isVisible() and "'valid', 'same', 'full'" in msg.text()
    assert "padding" not in w.graph.node("conv1").attrs
    QTest.keyClicks(edit, "e")
    assert not msg.isVisible()
    QTest.keyClick(edit, Qt.Key_Return)
    assert w.graph.node("conv1").attrs["padding"] == "same"
    assert w.scene.node_items["conv1"].shapes[0][1] == ("N", 6, 32, 32)


def test_bad_shape_shows_the_error_and_how_to_fix_it(make_window):
    w = make_window(sample("mlp_digits"))
    layer = next(n for n in w.graph.nodes if w.graph.node(n).op == "Linear")
    wid = w.graph.in_edges(layer)["w"].src
    select(w, wid)
    edit = field(w, "shape", QLineEdit)
    edit.setFocus()
    edit.selectAll()
    QTest.keyClicks(edit, "64, 3")
    QTest.keyClick(edit, Qt.Key_Return)
    assert layer in w.model.report.node_errors
    assert w.scene.node_items[layer].error is not None
    assert w.scene.node_items[layer].toolTip()
    select(w, layer)
    box = w.inspector.findChild(QLabel, "errorBox")
    assert box.isVisible() and "What to do" in box.text()
    fit = w.inspector.findChild(QPushButton, "fitLayer")
    assert fit.isVisible()
    fit.click()
    assert layer not in w.model.report.node_errors


def test_rename_a_node_from_the_inspector(make_window):
    w = make_window(sample("cs231n"))
    select(w, "q")
    edit = w.inspector.findChild(QLineEdit, "nodeId")
    edit.setFocus()
    edit.selectAll()
    QTest.keyClicks(edit, "2bad")
    assert "q" in w.graph  # not applied, marked invalid
    edit.selectAll()
    QTest.keyClicks(edit, "sum_xy")
    QTest.keyClick(edit, Qt.Key_Return)
    assert "sum_xy" in w.graph and "q" not in w.graph
    assert w.graph.in_edges("f")["a"].src == "sum_xy"
    assert "sum_xy" in w.scene.node_items


def test_layer_settings_resize_the_parameters(make_window):
    w = make_window(sample("lenet5"))
    select(w, "fc2")
    units = w.inspector.findChild(QSpinBox, "layer_units")
    assert units.value() == 84
    units.setValue(50)
    assert w.graph.node("fc2_w").attrs["shape"] == [50, 120]
    assert w.graph.node("fc2_b").attrs["shape"] == [50]
    # the next layer takes 50 inputs now, in the same undo step
    assert w.graph.node("fc3_w").attrs["shape"] == [10, 50]
    assert not w.model.report.errors
    w.undo_stack.undo()
    assert w.graph.node("fc3_w").attrs["shape"] == [10, 84]


def test_graph_summary_when_nothing_is_selected(make_window):
    w = make_window(sample("lenet5"))
    w.scene.clearSelection()
    summary = w.inspector.findChild(QLabel, "graphSummary")
    assert "61,706" in summary.text()
    assert "61,706 parameters" in w.totals_label.text()


def test_retyping_a_shape_keeps_trained_values(make_window):
    # Backspace, then the same digit again: before, the intermediate shape
    # refitted the layers and dropped their trained weights
    import numpy as np
    from gui.commands import SetParams
    w = make_window(sample("mlp_digits"))
    rng = np.random.default_rng(0)
    trained = {n: rng.standard_normal(w.graph.node(n).resolved["shape"])
               for n in w.graph.nodes if w.graph.node(n).op == "Parameter"}
    w.undo_stack.push(SetParams(w.model, trained, "Train"))
    w.undo_stack.setClean()
    before = {k: np.array(v) for k, v in w.graph.params.items()}
    select(w, "x")
    edit = field(w, "shape", QLineEdit)
    edit.setFocus()
    edit.end(False)
    old = edit.text()
    QTest.keyClick(edit, Qt.Key_Backspace)
    QTest.keyClicks(edit, old[-1])
    assert edit.text() == old
    QTest.keyClick(edit, Qt.Key_Return)
    assert set(w.graph.params) == set(before)
    assert all(np.array_equal(before[k], w.graph.params[k]) for k in before)
    assert not w.is_dirty()


def test_an_invalid_final_value_leaves_the_graph_as_it_was(make_window):
    w = make_window(sample("lenet5"))
    select(w, "pool1")
    edit = field(w, "kernel", QLineEdit)
    edit.setFocus()
    edit.selectAll()
    count = w.undo_stack.count()
    QTest.keyClicks(edit, "3x")  # "3" parses on the way; "3x" does not
    QTest.keyClick(edit, Qt.Key_Return)
    assert w.graph.node("pool1").attrs["kernel"] == 2
    assert w.undo_stack.count() == count
    assert w.inspector.findChild(QLabel, "attrError_kernel").isVisible()


def test_focus_out_applies_the_field_as_one_step(make_window, qtbot):
    from .util import activate
    w = make_window(sample("lenet5"))
    activate(w, qtbot)
    select(w, "pool1")
    edit = field(w, "kernel", QLineEdit)
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus, timeout=2000)
    edit.selectAll()
    QTest.keyClicks(edit, "4")
    count = w.undo_stack.count()
    w.view.setFocus()  # focus leaves the field
    qtbot.waitUntil(lambda: w.graph.node("pool1").attrs["kernel"] == 4, timeout=2000)
    assert w.undo_stack.count() == count + 1


def test_save_applies_the_field_being_typed_into(make_window, tmp_path):
    import graphlab as gl
    w = make_window(sample("lenet5"))
    path = tmp_path / "l.graph.json"
    assert w.save_to(str(path))
    select(w, "pool1")
    edit = field(w, "kernel", QLineEdit)
    edit.setFocus()
    edit.selectAll()
    QTest.keyClicks(edit, "4")
    w.actions["save"].trigger()
    assert gl.load(str(path)).node("pool1").attrs["kernel"] == 4
    assert not w.is_dirty()


def test_save_applies_the_graph_name_being_typed(make_window, qtbot, tmp_path):
    import graphlab as gl

    from .util import activate
    w = make_window(sample("cs231n"))
    path = tmp_path / "c.graph.json"
    assert w.save_to(str(path))
    activate(w, qtbot)
    w.scene.select_nodes([])
    edit = w.inspector.findChild(QLineEdit, "graphName")
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus, timeout=2000)
    edit.selectAll()
    QTest.keyClicks(edit, "renamed")
    QTest.keyClick(edit, Qt.Key_S, Qt.ControlModifier)
    assert gl.load(str(path)).name == "renamed"
