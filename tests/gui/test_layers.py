"""Layer shortcuts: an op with its Parameter nodes, wired, grouped, sized."""

import pytest

from .util import drag_wire, drop_op, show_scene_point


def ops_of(window):
    g = window.graph
    return {n: g.node(n).op for n in g.nodes}


def test_dense_is_placed_with_its_parameters_wired_and_grouped(window):
    from PySide6.QtCore import QPointF
    show_scene_point(window, QPointF(0, 0))
    assert drop_op(window, "Dense", QPointF(50, 0))
    g = window.graph
    assert sorted(ops_of(window).values()) == ["Linear", "Parameter", "Parameter"]
    layer = next(n for n, op in ops_of(window).items() if op == "Linear")
    assert {g.node(n).ui["group"] for n in g.nodes} == {layer}
    ins = g.in_edges(layer)
    assert g.node(ins["w"].src).attrs["shape"] == [32, 32]
    assert g.node(ins["b"].src).attrs["shape"] == [32]
    assert window.undo_stack.count() == 1
    from gui.layout import overlapping
    assert overlapping(g) == []
    window.undo_stack.undo()
    assert len(g) == 0


@pytest.mark.parametrize("name,op,n_params", [
    ("Conv2D layer", "Conv2D", 2), ("Conv1D layer", "Conv1D", 2),
    ("LSTM layer", "LSTM", 4), ("GRU layer", "GRU", 4), ("RNN layer", "RNN", 4),
    ("BatchNorm layer", "BatchNorm", 2),
    ("ConvTranspose2D layer", "ConvTranspose2D", 2),
])
def test_every_layer_shortcut_places_a_valid_group(window, name, op, n_params):
    layer = window.editor.place(name, (0, 0))
    ops = ops_of(window)
    assert ops[layer] == op
    assert sorted(ops.values()).count("Parameter") == n_params
    x = window.editor.place_op("Input", (-500, 0), {"shape": ["N", 3, 16, 16]
                                                   if "2D" in op or op == "BatchNorm"
                                                   else ["N", 5, 12]})
    assert window.editor.connect(x, f"{layer}:x")
    assert window.model.report.node_errors == {}, window.model.report.node_errors


def test_connecting_a_layer_resizes_its_weights_in_the_same_undo_step(window):
    x = window.editor.place_op("Input", (-400, 0), {"shape": ["N", 64]})
    layer = window.editor.place("Dense", (0, 0))
    count = window.undo_stack.count()
    drag_wire(window, (x, "out"), (layer, "x"))
    g = window.graph
    w = g.in_edges(layer)["w"].src
    assert g.node(w).attrs["shape"] == [32, 64]
    assert window.undo_stack.count() == count + 1
    assert window.scene.node_items[layer].shapes[0][1] == ("N", 32)
    assert window.scene.node_items[layer].params == 32 * 64 + 32
    window.undo_stack.undo()
    assert g.edges and len(g.edges) == 2 and g.node(w).attrs["shape"] == [32, 32]


def test_conv_layer_takes_the_input_channels(window):
    x = window.editor.place_op("Input", (-400, 0), {"shape": ["N", 3, 32, 32]})
    layer = window.editor.place("Conv2D layer", (0, 0))
    window.editor.connect(x, f"{layer}:x")
    g = window.graph
    assert g.node(g.in_edges(layer)["w"].src).attrs["shape"] == [8, 3, 3, 3]
    assert window.editor.set_layer_settings(layer, {"filters": 16, "kernel": [5, 5]})
    assert g.node(g.in_edges(layer)["w"].src).attrs["shape"] == [16, 3, 5, 5]
    assert window.model.report.shapes[layer][0] == ("N", 16, 28, 28)


def test_collapsed_layer_is_one_box_and_saved_so(window, tmp_path):
    layer = window.editor.place("LSTM layer", (0, 0))
    window.editor.set_group_collapsed(layer, True)
    visible = [n for n, it in window.scene.node_items.items() if it.isVisible()]
    assert visible == [layer]
    path = tmp_path / "l.graph.json"
    window.save_to(str(path))
    from gui.window import MainWindow
    w2 = MainWindow(str(path), recover=False)
    try:
        visible = [n for n, it in w2.scene.node_items.items() if it.isVisible()]
        assert visible == [layer]
    finally:
        w2.deleteLater()
