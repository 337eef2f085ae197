"""Graph: editing methods keep the invariants, raise specific errors, notify."""

import pytest

import graphlab as gl
from graphlab.errors import (AttrError, CycleError, DuplicateEdgeError, GraphError,
                             PortError)


def _abc():
    g = gl.Graph("t")
    g.add_node("x", "Input", {"shape": [2]})
    g.add_node("y", "Input", {"shape": [2]})
    g.add_node("s", "Add")
    g.add_node("t", "Tanh")
    return g


def test_connect_fills_default_ports():
    g = _abc()
    e = g.connect("s", "t")
    assert e == gl.Edge("s", "out", "t", "x")


def test_connect_requires_port_when_op_has_several_inputs():
    g = _abc()
    with pytest.raises(PortError, match="must name an input port of Add, one of a, b"):
        g.connect("x", "s")


def test_connect_rejects_unknown_port_and_node():
    g = _abc()
    with pytest.raises(PortError, match="no input port 'c'"):
        g.connect("x", "s:c")
    with pytest.raises(GraphError, match="'nope', which does not exist"):
        g.connect("nope", "s:a")


def test_connect_rejects_second_edge_into_port():
    g = _abc()
    g.connect("x", "s:a")
    with pytest.raises(DuplicateEdgeError, match="already has an edge from 'x:out'"):
        g.connect("y", "s:a")
    assert len(g.edges) == 1


def test_connect_rejects_cycle_naming_nodes():
    g = _abc()
    g.connect("s", "t:x")
    with pytest.raises(CycleError, match="s → t → s") as info:
        g.connect("t", "s:a")
    assert info.value.cycle == ["s", "t"]
    assert len(g.edges) == 1


def test_self_loop_is_a_cycle():
    g = _abc()
    with pytest.raises(CycleError):
        g.connect("t", "t:x")


def test_add_node_rejects_bad_and_duplicate_ids():
    g = _abc()
    with pytest.raises(GraphError, match="used twice"):
        g.add_node("x", "Tanh")
    with pytest.raises(GraphError, match="not valid"):
        g.add_node("1x", "Tanh")
    assert len(g) == 4


def test_add_node_suggests_closest_op():
    g = gl.Graph()
    with pytest.raises(GraphError, match="did you mean 'Tanh'"):
        g.add_node("t", "Tahn")


def test_set_attr_validates_before_changing():
    g = gl.Graph()
    g.add_node("p", "Parameter", {"shape": [2]})
    with pytest.raises(AttrError, match="'trainable' must be true or false"):
        g.set_attr("p", "trainable", "yes")
    assert g.node("p").attrs == {"shape": [2]}


def test_events_reach_listeners_in_order():
    g = _abc()
    events = []
    g.subscribe(lambda ev, payload: events.append((ev, payload)))
    e = g.connect("x", "s:a")
    g.set_attr("x", "shape", [3])
    g.remove_node("s")
    assert events == [("edge_added", e), ("attrs_changed", "x"), ("edge_removed", e),
                      ("node_removed", "s")]


def test_remove_node_returns_edges_and_clears_outputs():
    g = _abc()
    g.connect("x", "s:a")
    g.connect("s", "t")
    g.set_outputs(["t", "s"])
    removed = g.remove_node("s")
    assert [str(e) for e in removed] == ["x:out → s:a", "s:out → t:x"]
    assert g.outputs == ["t"] and g.edges == []


def test_add_node_at_index_restores_order():
    g = _abc()
    g.remove_node("y")
    g.add_node("y", "Input", {"shape": [2]}, index=1)
    assert g.nodes == ["x", "y", "s", "t"]


def test_topological_order_breaks_ties_by_file_order(cs231n):
    assert cs231n.topological_order() == ["x", "y", "z", "q", "f"]


def test_rename_node_keeps_edges_and_outputs(cs231n):
    cs231n.rename_node("q", "sum")
    assert cs231n.nodes == ["x", "y", "z", "sum", "f"]
    assert {str(e) for e in cs231n.edges} == {
        "x:out → sum:a", "y:out → sum:b", "sum:out → f:a", "z:out → f:b"}


def test_check_reports_unconnected_input():
    g = _abc()
    g.connect("x", "s:a")
    with pytest.raises(PortError, match="node 's': Add input 'b' is not connected"):
        g.check()


def test_analyse_reports_each_error_once_at_its_node():
    g = gl.Graph()
    g.add_node("x", "Input", {"shape": [2, 3]})
    g.add_node("y", "Input", {"shape": [4]})
    g.add_node("s", "Add")
    g.add_node("t", "Tanh")
    g.connect("x", "s:a")
    g.connect("y", "s:b")
    g.connect("s", "t")
    report = g.analyse()
    assert list(report.node_errors) == ["s"]
    assert report.shape("t") is None


def test_lenient_node_keeps_unknown_op_as_placeholder():
    g = gl.Graph()
    g.add_node("x", "Input", {"shape": [2]})
    g.add_node("n", "FancyNorm", {"groups": 4}, lenient=True)
    g.connect("x", "n:input")
    assert g.node("n").placeholder and g.node("n").input_ports == ("input",)
    with pytest.raises(GraphError, match="unknown op 'FancyNorm'"):
        g.check()


def test_parameter_count_counts_frozen_separately():
    g = gl.Graph()
    g.add_node("w", "Parameter", {"shape": [10, 3, 5, 5]})
    g.add_node("b", "Parameter", {"shape": [10], "trainable": False})
    assert g.parameter_count() == 760
    assert g.parameter_count(trainable_only=True) == 750


def test_copy_keeps_placeholders_and_params(tmp_path):
    import numpy as np
    g = gl.Graph("c")
    g.add_node("w", "Parameter", {"shape": [2]})
    g.add_node("n", "FancyNorm", {"groups": 4}, lenient=True)
    g.connect("w", "n:input")
    g.params["w"] = np.ones(2)
    g.params_file = "elsewhere/c.params.npz"  # not read again by copy
    c = g.copy()
    assert c.node("n").placeholder and c.node("n").attrs == {"groups": 4}
    assert c.params["w"] is not g.params["w"] and c.params_file == g.params_file


def test_rename_keeps_edge_order_and_train_and_tests_references(cs231n):
    before = [str(e) for e in cs231n.edges]
    cs231n.train = {"loss": "f", "data": {"feeds": {"x": "a"}}}
    cs231n.rename_node("x", "x0")
    cs231n.rename_node("f", "out")
    assert [str(e) for e in cs231n.edges] == [
        s.replace("x:", "x0:").replace("f:", "out:") for s in before]
    assert cs231n.train == {"loss": "out", "data": {"feeds": {"x0": "a"}}}
    assert cs231n.tests[0]["at"] == {"x0": -2, "y": 5, "z": -4}
    assert cs231n.tests[0]["expect"] == {"out": -12}
    assert cs231n.outputs == ["out"]


def test_copy_is_deep_and_keeps_placeholders_train_and_params():
    import numpy as np
    g = gl.Graph("g")
    g.add_node("x", "Input", {"shape": [2]}, {"pos": [0, 0]})
    g.add_node("f", "FutureOp", {"k": [1]}, lenient=True)
    g.connect("x", "f:in")
    g.set_outputs(["f"])
    g.train = {"loss": "f", "data": {"feeds": {"x": "images"}}}
    g.tests = [{"at": {"x": [1, 2]}}]
    g.params = {"x": np.zeros(2)}
    c = g.copy()
    assert c.nodes == g.nodes and c.edges == g.edges and c.outputs == g.outputs
    assert c.node("f").placeholder and c.node("f").input_ports == ("in",)
    c.train["data"]["feeds"]["x"] = "other"
    c.tests[0]["at"]["x"].append(3)
    c.params["x"][0] = 1.0
    c.update_ui("x", pos=[5, 5])
    assert g.train["data"]["feeds"]["x"] == "images"
    assert g.tests[0]["at"]["x"] == [1, 2]
    assert g.params["x"][0] == 0.0 and g.node("x").ui == {"pos": [0, 0]}
    c.rename_node("x", "y")
    assert "x" in g and g.in_edges("f")["in"].src == "x"


def test_source_ref_names_a_second_output_port():
    g = gl.Graph()
    g.add_node("x", "Input", {"shape": [1, 1, 4, 4]})
    g.add_node("p", "MaxPool2D", {"kernel": 2})
    g.add_node("u", "MaxUnpool2D", {"kernel": 2})
    edges = [g.connect("x", "p"), g.connect("p", "u:x"),
             g.connect("p:indices", "u:indices")]
    assert [g.source_ref(e) for e in edges] == ["x", "p", "p:indices"]


def test_set_params_and_set_train_emit_events():
    import numpy as np
    g = gl.Graph("p")
    events = []
    g.subscribe(lambda event, payload: events.append((event, payload)))
    w = np.ones(2)
    g.set_params({"w": w})
    assert events == [("params_changed", ["w"])] and g.params["w"] is w
    events.clear()
    g.set_params({"w": w})  # nothing changed: no event
    assert events == []
    g.set_params({"b": w})
    assert events == [("params_changed", ["w", "b"])]
    events.clear()
    g.set_train({"loss": "f"})
    assert events == [("meta_changed", "train")] and g.train == {"loss": "f"}
    with pytest.raises(gl.GraphError, match="must be a dict"):
        g.set_train(3)
    assert g.train == {"loss": "f"}
