"""Editing in the inspector: attributes validated as typed, shapes follow at once."""

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
    assert w.graph.node("conv1").attrs["padding"] == "same"
    assert not msg.isVisible()
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
