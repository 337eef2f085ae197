"""The plane's pictures: the grid and per-unit values equal the executor's and
the node-by-node interpreter's forward on the same points."""

import numpy as np
import pytest

import graphlab as gl
from graphlab import datasets2d, surface
from graphlab.errors import TrainingError
from graphlab.interpret import trace

from .conftest import sample


def _trained_like(name, seed=3):
    """A sample with random (not initial) parameters, so that every unit differs."""
    g = gl.load(sample(name))
    prog = gl.compile(g, grad=False)
    rng = np.random.default_rng(seed)
    g.params = {k: rng.normal(0, 1, v.shape).astype(np.float32)
                for k, v in prog.params.items()}
    return g


def test_plane_grid_rows_run_top_down():
    p = surface.plane_grid(4, 2.0)
    assert p.shape == (16, 2)
    assert p[0].tolist() == [-1.5, 1.5] and p[-1].tolist() == [1.5, -1.5]


def test_output_grid_equals_the_executor_on_the_same_points():
    g = _trained_like("playground_spiral")
    s = surface.Surface(g, resolution=20)
    s.load(g.params)
    got = s.compute()["output"]
    prog = gl.compile(g, dtype="float64", training=False, grad=False)
    y = np.zeros(len(s.points), np.int64)
    logits = prog.forward({"x": s.points, "y": y})["out"]
    p = np.exp(logits - logits.max(1, keepdims=True))
    p1 = (p[:, 1] / p.sum(1)).reshape(20, 20)
    np.testing.assert_allclose(got, p1, atol=1e-5)
    np.testing.assert_allclose(s.predict(s.points[:7]), p1.ravel()[:7], atol=1e-5)
    assert got.std() > 0.05  # a picture, not a flat colour


@pytest.mark.parametrize("node", ["fc1", "h1", "h2", "fc3"])
def test_unit_heatmaps_equal_the_nodes_outputs(node):
    g = _trained_like("playground_spiral")
    s = surface.Surface(g, resolution=12, node=node, dtype="float64")
    units = s.compute()["units"]
    t = trace(g, {"x": s.points, "y": np.zeros(len(s.points), np.int64)},
              params=g.params, grad=False)
    want = t.node_value(node)  # 144 × 16
    assert units.shape == (16, 12, 12)
    for u in (0, 5, 15):
        np.testing.assert_allclose(units[u], want[:, u].reshape(12, 12), rtol=1e-10)
    # unit u at pixel (row, col) is the value at that grid point
    np.testing.assert_allclose(units[5][2, 7], want[2 * 12 + 7, 5], rtol=1e-10)


def test_features_feed_the_input_and_the_grid_uses_them(tmp_path):
    b = gl.GraphBuilder("circle from squares")
    x = b.input("x", ["N", 3])
    y = b.input("y", ["N"], dtype="int64")
    h = b.tanh(b.linear(x, 3, name="fc1"), name="h1")
    b.output(b.cross_entropy_loss(b.linear(h, 2, name="out"), y, name="loss"))
    b.train(loss="loss", data={"dataset": "circle", "size": 100,
                               "features": ["x1^2", "x2^2", "sin(x1)"],
                               "feeds": {"x": "inputs", "y": "labels"}})
    g = b.build()
    s = surface.Surface(g, resolution=8, node="h1", dtype="float64")
    assert s.input == "x" and s.features == ["x1^2", "x2^2", "sin(x1)"]
    feats = datasets2d.featurize(s.points, s.features)
    t = trace(g, {"x": feats, "y": np.zeros(64, np.int64)}, params=dict(
        (k, v) for k, v in s.program.params.items()), grad=False)
    np.testing.assert_allclose(s.compute()["units"][1].ravel(),
                               t.node_value("h1")[:, 1], rtol=1e-6)
    names, w, bias = s.incoming(1)
    assert names == ["x1^2", "x2^2", "sin(x1)"]
    np.testing.assert_array_equal(w, s.program.params["fc1_w"][1])
    assert bias == s.program.params["fc1_b"][1]


def test_incoming_weights_of_a_deeper_unit_name_the_layer_below():
    g = _trained_like("playground_spiral")
    s = surface.Surface(g, resolution=4, node="h2")
    names, w, _ = s.incoming(3)
    assert names[0] == "h1[0]" and len(names) == 16
    np.testing.assert_array_equal(w, g.params["fc2_w"][3])


def test_unit_nodes_are_those_with_a_feature_axis():
    g = gl.load(sample("playground_spiral"))
    assert surface.unit_nodes(g) == ["fc1", "h1", "fc2", "h2", "fc3", "h3", "out"]
    with pytest.raises(TrainingError, match="'loss' has no N×U output"):
        surface.Surface(g, node="loss")


def test_a_graph_off_the_plane_has_no_playground():
    g = gl.load(sample("mlp_digits"))
    assert surface.playground_input(g) is None
    with pytest.raises(TrainingError, match="not a point of the plane"):
        surface.Surface(g)
    assert surface.playground_input(gl.load(sample("mlp_xor")))[:2] == ("x", ["x1",
                                                                             "x2"])


def test_dataset_split_matches_training():
    g = gl.load(sample("playground_circle_2"))
    train, test = surface.Surface(g, resolution=4).dataset()
    t = gl.Trainer(g)
    np.testing.assert_array_equal(train["points"], t.train_data["x"])
    np.testing.assert_array_equal(test["labels"], t.test_data["y"])


def test_colors_run_orange_white_blue():
    c = surface.colors(np.array([0.0, 0.5, 1.0, np.nan]), 0.0, 1.0)
    assert c[0].tolist() == list(surface.ORANGE) and c[2].tolist() == list(surface.BLUE)
    assert c[1].tolist() == list(surface.WHITE) == c[3].tolist()
