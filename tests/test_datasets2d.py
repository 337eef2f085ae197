"""The 2-D sets of the Playground: shapes, labels, seeds, features, loading."""

import math

import numpy as np
import pytest

from graphlab import data, datasets2d
from graphlab.errors import TrainingError


@pytest.mark.parametrize("name", ["circle", "xor", "gauss", "spiral"])
def test_set_has_its_size_half_each_class_and_is_seeded(name):
    d = datasets2d.SETS[name](size=200, noise=0.1, seed=4)
    assert d["inputs"].shape == (200, 2) and d["inputs"].dtype == np.float32
    assert d["points"].shape == (200, 2) and d["labels"].dtype == np.int64
    assert set(np.unique(d["labels"]).tolist()) == {0, 1}
    again = datasets2d.SETS[name](size=200, noise=0.1, seed=4)
    np.testing.assert_array_equal(d["inputs"], again["inputs"])
    np.testing.assert_array_equal(d["labels"], again["labels"])
    other = datasets2d.SETS[name](size=200, noise=0.1, seed=5)
    assert not np.array_equal(d["inputs"], other["inputs"])
    assert np.abs(d["points"]).max() < datasets2d.EXTENT + 2


def test_circle_without_noise_is_inside_against_ring():
    d = datasets2d.circle(size=400, seed=0)
    r = np.hypot(*d["points"].T.astype(np.float64))
    assert (r[d["labels"] == 1] < 2.5).all()
    assert ((r[d["labels"] == 0] >= 3.5) & (r[d["labels"] == 0] <= 5)).all()
    assert (d["labels"] == 1).sum() == 200


def test_circle_noise_flips_labels_near_the_boundary_only():
    d = datasets2d.circle(size=2000, noise=0.3, seed=1)
    r = np.hypot(*d["points"].T.astype(np.float64))
    wrong = (r < 2.5) != (d["labels"] == 1)
    assert 0 < wrong.sum() < 0.3 * len(r)


def test_gauss_blobs_sit_at_their_centres_with_the_playground_variance():
    d = datasets2d.gauss(size=4000, noise=0.2, seed=0)
    p = d["points"].astype(np.float64)
    ones = p[d["labels"] == 1]
    np.testing.assert_allclose(ones.mean(axis=0), [2, 2], atol=0.1)
    np.testing.assert_allclose(ones.std(axis=0), math.sqrt(0.5 + 7 * 0.2), rtol=0.05)
    np.testing.assert_allclose(p[d["labels"] == 0].mean(axis=0), [-2, -2], atol=0.1)


def test_xor_labels_follow_the_quadrants():
    d = datasets2d.xor(size=300, seed=2)
    p = d["points"]
    np.testing.assert_array_equal(d["labels"], (p[:, 0] * p[:, 1] >= 0))


def test_spiral_and_xor_keep_the_bits_of_the_older_sets():
    # data.spiral / data.xor drew these before the module existed; the same
    # generator calls in the same order give the same arrays
    rng = np.random.default_rng(7)
    half = 50
    i = np.arange(half)
    r = i / half * 5
    parts = []
    for delta in (0.0, math.pi):
        t = 1.75 * i / half * 2 * math.pi + delta
        xy = np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
        parts.append(xy + rng.uniform(-1, 1, xy.shape) * 0.2)
    np.testing.assert_array_equal(data.spiral(n=100, noise=0.2, seed=7)["inputs"],
                                  np.concatenate(parts).astype(np.float32))
    rng = np.random.default_rng(3)
    p = rng.uniform(-5, 5, (40, 2))
    p += np.where(p > 0, 0.3, -0.3)
    np.testing.assert_array_equal(data.xor(n=40, seed=3)["inputs"],
                                  p.astype(np.float32))
    assert data.xor()["inputs"].tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]


def test_features_are_the_named_columns_in_order():
    d = datasets2d.circle(size=10, seed=0,
                          features=["x1", "x2", "x1^2", "x2^2", "x1x2", "sin(x1)",
                                    "sin(x2)"])
    x1, x2 = d["points"].astype(np.float64).T
    want = np.stack([x1, x2, x1 ** 2, x2 ** 2, x1 * x2, np.sin(x1), np.sin(x2)], 1)
    np.testing.assert_allclose(d["inputs"], want, rtol=1e-6)
    only = datasets2d.circle(size=10, seed=0, features=["sin(x2)"])
    np.testing.assert_allclose(only["inputs"][:, 0], np.sin(x2), rtol=1e-6)


def test_unknown_feature_is_named():
    with pytest.raises(ValueError, match="unknown feature 'x3'"):
        datasets2d.featurize([[0, 0]], ["x1", "x3"])


def test_load_dataset_reads_size_noise_and_features():
    d = data.load_dataset({"dataset": "gauss", "size": 60, "noise": 0.1,
                           "features": ["x1", "x2", "x1x2"], "seed": 2})
    assert d["inputs"].shape == (60, 3)
    np.testing.assert_array_equal(
        d["inputs"], datasets2d.gauss(60, 0.1, 2, ["x1", "x2", "x1x2"])["inputs"])
    assert len(data.load_dataset({"dataset": "circle"})["labels"]) == 500
    assert len(data.load_dataset({"dataset": "xor", "n": 30})["labels"]) == 30


@pytest.mark.parametrize("spec, message", [
    ({"dataset": "circle", "features": ["x9"]}, "unknown feature 'x9'"),
    ({"dataset": "spiral", "noise": 3}, "noise must be a number from 0 to 1"),
    ({"dataset": "gauss", "size": 1}, "size must be a whole number"),
    ({"dataset": "circle", "size": 10, "n": 20}, "not both"),
])
def test_bad_options_raise_one_line_training_errors(spec, message):
    with pytest.raises(TrainingError, match=message) as e:
        data.load_dataset(spec)
    assert f"train.data for '{spec['dataset']}'" in str(e.value)
    assert "\n" not in str(e.value)
