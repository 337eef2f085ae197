"""Graph files: round trips, atomic saves, and one clear error per mistake."""

import json
import os
import stat

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphlab as gl
from graphlab import io
from graphlab.errors import GraphError, GraphlabError

from .conftest import SAMPLES, sample

SAMPLE_FILES = sorted(f for f in os.listdir(SAMPLES) if f.endswith(".graph.json"))


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_every_sample_round_trips_byte_for_byte(name):
    path = os.path.join(SAMPLES, name)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    assert gl.dumps(gl.load(path)) == text


def test_save_is_atomic_and_leaves_no_temporary(tmp_path, cs231n):
    out = tmp_path / "copy.graph.json"
    gl.save(cs231n, out)
    assert os.listdir(tmp_path) == ["copy.graph.json"]
    assert gl.load(out).nodes == cs231n.nodes


def test_failed_save_keeps_the_old_file(tmp_path, cs231n, monkeypatch):
    out = tmp_path / "g.graph.json"
    gl.save(cs231n, out)
    before = out.read_text()

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    cs231n.name = "changed"
    with pytest.raises(GraphError, match="No space left"):
        gl.save(cs231n, out)
    assert out.read_text() == before
    assert os.listdir(tmp_path) == ["g.graph.json"]


def test_unknown_ui_keys_survive(tmp_path, cs231n):
    cs231n.update_ui("q", colour="#ff0000", note={"text": "sum"})
    out = tmp_path / "g.graph.json"
    gl.save(cs231n, out)
    assert gl.load(out).node("q").ui["note"] == {"text": "sum"}


def test_params_sidecar_round_trip(tmp_path):
    g = gl.Graph("p")
    g.add_node("w", "Parameter", {"shape": [2, 3], "trainable": False})
    g.params["w"] = np.arange(6.0).reshape(2, 3)
    out = tmp_path / "p.graph.json"
    gl.save(g, out)
    assert json.loads(out.read_text())["params"] == "p.params.npz"
    back = gl.load(out)
    np.testing.assert_array_equal(back.params["w"], g.params["w"])
    assert back.node("w").attrs["trainable"] is False


def test_a_graph_without_values_names_no_sidecar(tmp_path):
    # values undone (or every Parameter deleted) after a save: the old sidecar
    # must not come back on open, nor name nodes that are gone
    g = gl.Graph("p")
    g.add_node("w", "Parameter", {"shape": [2]})
    g.params["w"] = np.ones(2)
    out = tmp_path / "p.graph.json"
    gl.save(g, out)
    g.params = {}
    g.remove_node("w")
    gl.save(g, out)
    assert "params" not in json.loads(out.read_text())
    assert len(gl.load(out)) == 0


def _write(tmp_path, text):
    p = tmp_path / "bad.graph.json"
    p.write_text(text)
    return str(p)


GOOD = {"graphlab": 1, "nodes": [{"id": "x", "op": "Input", "attrs": {"shape": [2]}},
                                 {"id": "t", "op": "Tanh"}],
        "edges": [["x", "t:x"]], "outputs": ["t"]}


def _variant(**changes):
    d = json.loads(json.dumps(GOOD))
    for k, v in changes.items():
        d[k] = v
    return json.dumps(d)


@pytest.mark.parametrize("text, message", [
    ('{"graphlab": 1, "nodes": [', "ends early at line 1, column 27: the file looks "
                                   "truncated"),
    ('{"graphlab": 1,, }', "invalid JSON at line 1, column 16"),
    (_variant(graphlab=7), "format version 7, written by a newer graphlab"),
    (json.dumps({"nodes": []}), "no \"graphlab\" format version"),
    (_variant(nodes=[{"id": "x", "op": "Tanhh"}]), "node 'x': unknown op 'Tanhh'; did "
                                                   "you mean 'Tanh'"),
    (_variant(nodes=[{"id": "x", "op": "Input", "attrs": {"shape": [2], "dtyp": 1}}],
              edges=[], outputs=[]), "node 'x': Input has no attribute 'dtyp' (did you "
                                     "mean 'dtype'?)"),
    (_variant(nodes=[{"id": "p", "op": "Parameter", "attrs": {"shape": "big"}}],
              edges=[], outputs=[]), "node 'p': Parameter: attribute 'shape' must be a "
                                     "list"),
    (_variant(edges=[["x", "t:x"], ["x", "t:x"]]), "node 't': input 'x' already has"),
    (_variant(edges=[["y", "t:x"]]), "names node 'y', which does not exist"),
    (_variant(nodes=[{"id": "x", "op": "Input", "attrs": {"shape": [2]}},
                     {"id": "x", "op": "Tanh"}]),
     "node 'x': node id 'x' is used twice"),
    (_variant(nodes=[{"id": "2x", "op": "Tanh"}], edges=[], outputs=[]),
     "node '2x': node id '2x' is not valid"),
    (_variant(outputs=["nope"]), "node 'nope': \"outputs\" names 'nope'"),
    (_variant(nodes=[{"id": "a", "op": "Tanh"}, {"id": "b", "op": "Tanh"}],
              edges=[["a", "b:x"], ["b", "a:x"]], outputs=[]),
     "would make a cycle: a → b → a"),
    (_variant(nodes=[{"id": "x", "op": "Input", "atrs": {}}]),
     "node 'x': unknown key \"atrs\" (did you mean \"attrs\"?)"),
    ('[1, 2]', "one JSON object"),
])
def test_load_errors_name_file_node_and_fix(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(GraphError) as info:
        gl.load(path)
    assert str(info.value).startswith(path + ": ")
    assert message in str(info.value)


def test_missing_input_and_shape_mismatch_are_check_errors(tmp_path):
    d = json.loads(json.dumps(GOOD))
    d["nodes"].append({"id": "s", "op": "Add"})
    d["edges"].append(["x", "s:a"])
    g = gl.loads(json.dumps(d))
    with pytest.raises(GraphError, match="node 's': Add input 'b' is not connected"):
        g.check()


def test_lenient_load_keeps_unknown_ops_for_the_editor(tmp_path):
    text = _variant(nodes=[{"id": "x", "op": "Input", "attrs": {"shape": [2]}},
                           {"id": "t", "op": "FutureOp", "attrs": {"k": [1, 2]}}])
    g = gl.loads(text, lenient=True)
    assert g.node("t").placeholder
    assert json.loads(gl.dumps(g))["nodes"][1] == {"id": "t", "op": "FutureOp",
                                                   "attrs": {"k": [1, 2]}}


# ---- property-based: random and mutated files -------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-2, 2) |
    st.sampled_from(["x", "t", "t:x", "Tanh", "Input", "N", "shape", ""]),
    lambda inner: st.lists(inner, max_size=4) |
    st.dictionaries(st.sampled_from(["graphlab", "nodes", "edges", "outputs", "id",
                                     "op", "attrs", "ui", "shape", "params", "train"]),
                    inner, max_size=4),
    max_leaves=20)


def _must_be_graph_error_or_graph(text):
    try:
        g = gl.loads(text)
    except GraphlabError:
        return
    assert isinstance(g, gl.Graph)
    try:
        g.check()
    except GraphlabError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(_json)
def test_random_json_gives_graph_error_or_graph(data):
    _must_be_graph_error_or_graph(json.dumps(data))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_mutated_sample_gives_graph_error_or_graph(data):
    with open(sample("lenet5"), encoding="utf-8") as f:
        doc = json.load(f)
    for _ in range(data.draw(st.integers(1, 3))):
        section = data.draw(st.sampled_from(["nodes", "edges", "outputs"]))
        items = doc[section]
        if not items:
            continue
        i = data.draw(st.integers(0, len(items) - 1))
        items[i] = data.draw(_json)
    _must_be_graph_error_or_graph(json.dumps(doc))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_random_text_gives_graph_error(text):
    _must_be_graph_error_or_graph(text)


# ---- hardening (issue 16): numbers JSON cannot hold, damaged sidecars ----------------

def _value_graph(op, value_text, **attrs):
    attrs = dict(attrs, value=12345)
    text = json.dumps({"graphlab": 1, "nodes": [{"id": "x", "op": op, "attrs": attrs},
                                                {"id": "s", "op": "Sum"}],
                       "edges": [["x", "s:x"]], "outputs": ["s"]})
    return text.replace("12345", value_text)


@pytest.mark.parametrize("op", ["Input", "Parameter", "Constant"])
@pytest.mark.parametrize("value", ["1e400", "-1e400", "[1, 1e400]", "NaN",
                                   "1" + "0" * 400])
def test_value_attribute_beyond_float64_is_refused(op, value):
    attrs = {"shape": [2] if value.startswith("[") else []} if op != "Constant" else {}
    with pytest.raises(GraphlabError, match="must be finite and within float64's "
                                            "range") as e:
        gl.loads(_value_graph(op, value, **attrs)).check()
    assert e.value.node == "x"


def test_int64_input_value_must_fit_int64():
    text = _value_graph("Input", "9" * 300, shape=[], dtype="int64")
    with pytest.raises(GraphlabError, match="within int64's range") as e:
        gl.loads(text).check()
    assert e.value.node == "x"
    with pytest.raises(GraphlabError, match="whole numbers"):
        gl.loads(_value_graph("Input", "0.5", shape=[], dtype="int64")).check()


def test_a_number_of_thousands_of_digits_is_a_file_format_error():
    with pytest.raises(GraphlabError, match="cannot read the JSON: Exceeds the limit"):
        gl.loads(_value_graph("Constant", "9" * 5000))


@pytest.mark.parametrize("content", [b"PK\x03\x04garbage", b"", b"not a zip"])
def test_damaged_sidecar_npz_is_an_error_line(tmp_path, content):
    (tmp_path / "p.npz").write_bytes(content)
    d = json.load(open(sample("mlp_xor")))
    d["params"] = "p.npz"
    path = tmp_path / "g.graph.json"
    path.write_text(json.dumps(d))
    with pytest.raises(GraphlabError, match="cannot read the parameter file") as e:
        gl.load(path)
    assert e.value.file == str(path)


def test_a_single_npy_where_an_npz_belongs_is_refused(tmp_path):
    from graphlab.io import read_npz
    np.save(tmp_path / "one.npy", np.ones(3))
    with pytest.raises(GraphlabError, match="one array \\(.npy\\), not an .npz"):
        read_npz(str(tmp_path / "one.npy"), "the checkpoint")


def test_saved_files_get_the_usual_permissions_not_a_temporary_files(tmp_path):
    # the atomic save writes a private temporary file first; what lands must
    # be readable as any file the user makes (umask), and a replaced file
    # keeps its own mode
    old = os.umask(0o022)
    try:
        g = io.load(os.path.join(SAMPLES, "mlp_xor.graph.json"))
        g.params = {"fc1_w": np.ones((8, 2))}
        path = tmp_path / "g.graph.json"
        io.save(g, path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
        assert stat.S_IMODE(os.stat(tmp_path / "g.params.npz").st_mode) == 0o644
        os.chmod(path, 0o664)
        io.save(g, path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o664
    finally:
        os.umask(old)
