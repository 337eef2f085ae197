"""Datasets: the shipped digits, XOR and spirals, users' .npz files, feeding."""

import numpy as np
import pytest

import graphlab as gl
from graphlab import data
from graphlab.errors import TrainingError
from graphlab.train import Trainer


def test_digits_are_scaled_to_unit_interval():
    d = data.digits()
    assert d["images"].shape == (1797, 8, 8) and d["images"].dtype == np.float32
    assert d["images"].min() == 0 and d["images"].max() == 1
    assert d["labels"].dtype == np.int64
    assert set(np.unique(d["labels"])) == set(range(10))


def test_xor_is_the_truth_table():
    d = data.xor()
    assert d["inputs"].tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert d["labels"].tolist() == [0, 1, 1, 0]


def test_xor_cloud_follows_the_quadrants_and_is_seeded():
    d = data.xor(n=200, seed=3)
    x, y = d["inputs"][:, 0], d["inputs"][:, 1]
    np.testing.assert_array_equal(d["labels"], (x * y >= 0).astype(int))
    assert np.abs(d["inputs"]).min() >= 0.3  # pushed off the axes
    np.testing.assert_array_equal(d["inputs"], data.xor(n=200, seed=3)["inputs"])


def test_spiral_has_two_interleaved_classes_and_is_seeded():
    d = data.spiral(n=100, noise=0.1, seed=1)
    assert d["inputs"].shape == (100, 2)
    assert np.bincount(d["labels"]).tolist() == [50, 50]
    r = np.linalg.norm(d["inputs"], axis=1)
    assert r.max() < 5.5
    np.testing.assert_array_equal(d["inputs"], data.spiral(n=100, noise=0.1,
                                                           seed=1)["inputs"])
    assert not np.array_equal(d["inputs"], data.spiral(n=100, noise=0.1,
                                                       seed=2)["inputs"])


def test_split_is_seeded_disjoint_and_complete():
    arrays = {"a": np.arange(100), "b": np.arange(100) * 2}
    train, test = data.split(arrays, 0.2, seed=0)
    assert len(train["a"]) == 80 and len(test["a"]) == 20
    assert set(train["a"]) | set(test["a"]) == set(range(100))
    assert not set(train["a"]) & set(test["a"])
    np.testing.assert_array_equal(train["b"], train["a"] * 2)
    again, _ = data.split(arrays, 0.2, seed=0)
    np.testing.assert_array_equal(train["a"], again["a"])


def test_split_with_no_test_fraction_evaluates_on_the_training_set():
    train, test = data.split({"a": np.arange(4)}, 0.0)
    assert test["a"].tolist() == train["a"].tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("shape", [["N", 64], ["N", 1, 8, 8], ["N", 8, 8]])
def test_digits_are_reshaped_to_the_input_shape(shape):
    d = data.digits()
    inputs = {"x": ("x", tuple(shape), "float32"), "y": ("y", ("N",), "int64")}
    out = data.fit_feeds(d, {"x": "images", "y": "labels"}, inputs)
    assert out["x"].shape == (1797,) + tuple(shape[1:])
    np.testing.assert_array_equal(out["x"].reshape(1797, 64),
                                  d["images"].reshape(1797, 64))
    assert out["y"].dtype == np.int64


def test_misfit_array_names_the_feed_and_both_shapes():
    inputs = {"x": ("x", ("N", 7), "float32")}
    with pytest.raises(TrainingError) as e:
        data.fit_feeds(data.digits(), {"x": "images"}, inputs)
    assert e.value.node == "x"
    assert "'images'" in e.value.message and "8×8" in e.value.message
    assert "N×7" in e.value.message


def test_input_without_batch_dimension_is_refused():
    inputs = {"x": ("x", (4, 2), "float32")}
    with pytest.raises(TrainingError, match="first dimension must be the batch"):
        data.fit_feeds(data.xor(), {"x": "inputs"}, inputs)


def test_fractional_values_refused_for_integer_input():
    inputs = {"y": ("y", ("N",), "int64")}
    with pytest.raises(TrainingError, match="fractions"):
        data.fit_feeds({"t": np.array([0.5, 1.0])}, {"y": "t"}, inputs)


def test_unknown_dataset_is_named():
    with pytest.raises(TrainingError, match="unknown dataset 'mnist'"):
        data.load_dataset({"dataset": "mnist"})


def test_npz_dataset_is_read_relative_to_the_graph_file(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3)).astype(np.float32)
    np.savez(tmp_path / "mine.npz", features=x, classes=(x[:, 0] > 0).astype(np.int64))
    b = gl.GraphBuilder("linear classifier")
    xi = b.input("x", ["N", 3])
    yi = b.input("y", ["N"], dtype="int64")
    logits = b.linear(xi, 2, name="fc")
    b.output(b.cross_entropy_loss(logits, yi, name="loss"), logits)
    b.train(loss="loss", data={"dataset": "npz:mine.npz",
                               "feeds": {"x": "features", "y": "classes"}},
            optimizer={"type": "adam", "lr": 0.1}, batch_size=16, epochs=30)
    g = b.build()
    gl.save(g, tmp_path / "lin.graph.json")
    g = gl.load(tmp_path / "lin.graph.json")
    history = Trainer(g).fit()
    assert history.final["test_accuracy"] >= 0.95


def test_missing_npz_file_is_named(tmp_path):
    with pytest.raises(TrainingError, match="does not exist"):
        data.load_dataset({"dataset": "npz:nope.npz"}, str(tmp_path))


def test_batch_indices_cover_every_example_once():
    rng = np.random.default_rng(0)
    batches = data.batch_indices(10, 4, rng)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))
