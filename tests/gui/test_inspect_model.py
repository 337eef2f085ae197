"""Model inspection: conv filters, feature maps, the handwriting pad."""

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QDockWidget

from .conftest import sample


def drag(qtbot, widget, points):
    from PySide6.QtTest import QTest
    QTest.mousePress(widget, Qt.LeftButton, Qt.NoModifier, QPoint(*points[0]))
    for pt in points[1:]:
        QTest.mouseMove(widget, QPoint(*pt))
    QTest.mouseRelease(widget, Qt.LeftButton, Qt.NoModifier, QPoint(*points[-1]))


def test_inspect_lenet(make_window, qtbot):
    w = make_window(sample("lenet5"))
    view = next(m for m in w.menuBar().actions() if m.text() == "&View").menu()
    assert w.actions["inspectModel"] in view.actions()
    assert w.actions["inspectModel"].text().replace("&", "") == "Inspect model"
    w.actions["inspectModel"].trigger()
    ins = w.findChild(type(w.inspect_model), "inspectModel")
    assert ins is w.inspect_model and ins.isVisible()
    assert isinstance(ins.parentWidget(), QDockWidget)

    # (a) filters of conv1: 6 tiles of 5×5
    assert [ins.conv_node.itemText(i) for i in range(ins.conv_node.count())] == \
        ["conv1", "conv2"]
    ins.conv_node.setCurrentText("conv1")
    assert ins.filters.tiles.shape == (6, 5, 5)
    ins.conv_node.setCurrentText("conv2")
    assert ins.filters.tiles.shape == (16, 5, 5)

    # (b) feature maps at pool1 of image 0: 6 tiles
    ins.map_node.setCurrentText("pool1")
    ins.image_index.setValue(0)
    assert ins.maps.tiles.shape[0] == 6
    first = ins.maps.tiles.copy()
    ins.image_index.setValue(5)
    assert ins.maps.tiles.shape[0] == 6
    assert not np.array_equal(first, ins.maps.tiles)
    ins.map_node.setCurrentText("conv2")
    assert ins.maps.tiles.shape[0] == 16

    # (c) the pad: strokes → non-zero 8×8 in [0, 1] → 10 probabilities
    assert ins.predict() is None  # nothing drawn yet
    drag(qtbot, ins.pad, [(80, 20), (80, 60), (80, 100), (82, 140)])
    drag(qtbot, ins.pad, [(50, 40), (100, 30)])
    x = ins.pad.image8()
    assert x.shape == (8, 8) and x.any()
    assert 0.0 <= x.min() and x.max() <= 1.0
    p = ins.probs.probs
    assert p.shape == (10,)
    assert abs(p.sum() - 1.0) < 1e-6 and (p >= 0).all()
    assert np.array_equal(ins.pad_input.tiles[0], x)
    ins.pad.clear()
    assert not ins.pad.image8().any() and len(ins.probs.probs) == 0



def test_inspect_follows_trained_values_and_undo(make_window, qtbot):
    w = make_window(sample("lenet5"))
    ins = w.open_inspect_model()
    ins.conv_node.setCurrentText("conv1")
    before = ins.filters.tiles.copy()
    params = dict(w.graph.params)
    params["conv1_w"] = np.ones((6, 1, 5, 5), np.float32) * \
        np.arange(6, dtype=np.float32)[:, None, None, None]
    params["conv1_w"][:, :, 0, 0] = -1
    from gui.commands import SetParams
    w.undo_stack.push(SetParams(w.model, params, "set"))
    assert not np.array_equal(before, ins.filters.tiles)
    w.undo_stack.undo()
    assert np.allclose(before, ins.filters.tiles)


def test_inspect_a_graph_without_convs(make_window):
    w = make_window(sample("mlp_digits"))
    ins = w.open_inspect_model()
    assert ins.conv_node.count() == 0 and len(ins.filters.tiles) == 0
    assert "no Conv2D" in ins.filters.message
    # the MLP still classifies drawings
    ins.pad.canvas.fill(255)
    p = ins.predict()
    assert p.shape == (10,) and abs(p.sum() - 1) < 1e-6


def test_inspect_an_empty_graph(window):
    ins = window.open_inspect_model()
    assert ins.predict() is None
    assert ins.conv_node.count() == 0 and ins.map_node.count() == 0
