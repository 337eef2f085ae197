"""The model and the undo commands, without a window: events and round trips."""

import pytest

import graphlab as gl
from graphlab.errors import CycleError, DuplicateEdgeError

from .conftest import sample


@pytest.fixture
def model(qapp):
    from gui.model import GraphModel
    return GraphModel(gl.load(sample("cs231n")))


def snapshot(g):
    return gl.dumps(g)


def roundtrip(command):
    """apply, undo, redo: the graph after redo equals the graph after apply."""
    g = command.model.graph
    before = snapshot(g)
    command.apply()
    after = snapshot(g)
    assert after != before or command.text().startswith("Move")
    command.undo()
    assert snapshot(g) == before
    command.redo()
    assert snapshot(g) == after
    return before, after


def test_model_reemits_graph_events_as_signals(model):
    from gui import commands as cmd
    seen = []
    model.node_added.connect(lambda n: seen.append(("node_added", n)))
    model.edge_added.connect(lambda e: seen.append(("edge_added", str(e))))
    model.analysed.connect(lambda r: seen.append(("analysed", len(r.shapes))))
    macro = cmd.Macro(model, "two", [cmd.AddNode(model, "r", "ReLU", check=True),
                                     cmd.Connect(model, "f", "r:x", check=False)])
    macro.apply()
    assert seen == [("node_added", "r"), ("edge_added", "f:out → r:x"), ("analysed", 6)]
    assert model.report.shapes["r"] == ((),)


def test_ui_changes_do_not_reanalyse(model):
    seen = []
    model.analysed.connect(lambda r: seen.append(r))
    model.graph.update_ui("x", pos=[5, 5])
    assert seen == []


def test_add_node_roundtrip(model):
    from gui.commands import AddNode
    roundtrip(AddNode(model, "r", "ReLU", ui={"pos": [1, 2]}))


def test_remove_node_reinserts_at_same_index_with_edges_and_outputs(model):
    from gui.commands import RemoveNode
    g = model.graph
    order, edges, outputs = g.nodes, g.edges, list(g.outputs)
    c = RemoveNode(model, "q")
    c.apply()
    assert "q" not in g and len(g.edges) == 1
    c.undo()
    assert g.nodes == order and g.edges == edges and g.outputs == outputs
    c2 = RemoveNode(model, "f")
    c2.apply()
    assert g.outputs == []
    c2.undo()
    assert g.outputs == outputs and g.nodes == order


def test_connect_and_disconnect_roundtrip(model):
    from gui.commands import Connect, Disconnect
    roundtrip(Disconnect(model, "f", "b"))
    c = Disconnect(model, "q", "a")
    c.apply()
    roundtrip(Connect(model, "x", "q:a"))


def test_connect_rejects_cycle_before_anything_changes(model):
    from gui.commands import Connect, Disconnect
    Disconnect(model, "q", "a").apply()
    before = snapshot(model.graph)
    with pytest.raises(CycleError):
        Connect(model, "f", "q:a")
    assert snapshot(model.graph) == before


def test_connect_rejects_taken_port(model):
    from gui.commands import Connect
    with pytest.raises(DuplicateEdgeError):
        Connect(model, "z", "q:a")


def test_set_attrs_merges_typing_into_one_step(model, qapp):
    from PySide6.QtGui import QUndoStack

    from gui.commands import SetAttrs
    stack = QUndoStack()
    for v in (1.0, 12.0, 123.0):
        c = SetAttrs(model, "x", {"shape": [], "value": v}, merge_key=("x", "value"))
        c.apply()
        stack.push(c)
    assert stack.count() == 1
    assert model.graph.node("x").attrs["value"] == 123.0
    stack.undo()
    assert model.graph.node("x").attrs["value"] == -2.0


def test_rename_updates_group_train_and_tests(qapp):
    from gui.commands import Rename
    from gui.model import GraphModel
    m = GraphModel(gl.load(sample("mlp_digits")))
    g = m.graph
    layer = next(n for n in g.nodes if g.node(n).op == "Linear")
    members = [n for n in g.nodes if g.node(n).ui.get("group") == layer]
    before = snapshot(g)
    c = Rename(m, layer, "dense_a")
    c.apply()
    assert "dense_a" in g and layer not in g
    assert all(g.node(n if n != layer else "dense_a").ui["group"] == "dense_a"
               for n in members)
    c.undo()
    assert snapshot(g) == before
    loss = g.train["loss"]
    c = Rename(m, loss, "objective")
    c.apply()
    assert g.train["loss"] == "objective"
    c.undo()
    assert snapshot(g) == before


def test_macro_rolls_back_when_a_part_fails(model):
    from gui import commands as cmd
    before = snapshot(model.graph)
    macro = cmd.Macro(model, "bad", [cmd.AddNode(model, "r", "ReLU"),
                                     cmd.Connect(model, "r", "q:a", check=False)])
    with pytest.raises(DuplicateEdgeError):
        macro.apply()
    assert snapshot(model.graph) == before


def test_notes_are_saved_in_the_file(model):
    from gui.commands import SetNotes
    c = SetNotes(model, [{"id": "note1", "text": "hello", "pos": [1, 2]}])
    roundtrip(c)
    d = gl.io.to_dict(model.graph)
    assert d["notes"] == [{"id": "note1", "text": "hello", "pos": [1, 2]}]
    g2 = gl.loads(gl.dumps(model.graph))
    assert g2.extra["notes"][0]["text"] == "hello"


def test_layer_fit_shapes_follow_the_input(qapp):
    from gui.layers import fit_shapes, settings_of
    g = gl.load(sample("lenet5"))
    kind, settings, n_in = settings_of(g, "fc1")
    assert kind.name == "Dense" and settings == {"units": 120} and n_in == 400
    assert fit_shapes(g, g.analyse(), "fc1") == {}
    assert fit_shapes(g, g.analyse(), "fc1", {"units": 50}) == {
        "fc1_w": [50, 400], "fc1_b": [50]}
    kind, settings, _ = settings_of(g, "conv2")
    assert settings == {"filters": 16, "kernel": [5, 5]}


def test_rename_rewrites_tests_through_the_core_rename(model):
    from gui.commands import Rename
    g = model.graph
    before = snapshot(g)
    events = []
    model.edge_removed.connect(lambda e: events.append(e))
    c = Rename(model, "x", "x0")
    c.apply()
    assert g.tests[0]["at"] == {"x0": -2, "y": 5, "z": -4}
    assert [str(e) for e in g.edges][0].startswith("x0:")
    c.undo()
    assert snapshot(g) == before
    # one core rename each way, nothing re-wired after it
    assert len(events) == 2 * sum(1 for e in g.edges if "x" in (e.src, e.dst))


def test_parameter_values_change_through_graph_methods(qapp):
    # deleting a node takes its values out with an event; undo brings them back
    import numpy as np

    from gui.commands import RemoveNode, SetParams
    from gui.model import GraphModel
    m = GraphModel(gl.load(sample("mlp_digits")))
    seen = []
    m.params_changed.connect(seen.append)
    SetParams(m, {"fc1_w": np.ones((64, 64))}, "Train").apply()
    assert seen == [["fc1_w"]]
    c = RemoveNode(m, "fc1_w")
    c.apply()
    assert "fc1_w" not in m.graph.params and seen[-1] == ["fc1_w"]
    c.undo()
    assert m.graph.params["fc1_w"].shape == (64, 64) and len(seen) == 3
