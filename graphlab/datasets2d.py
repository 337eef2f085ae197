"""The 2-D classification sets of "A Neural Network Playground", and their
input features.

Each set draws ``size`` points of the plane, x₁ and x₂ in about [−6, 6], half
of each class, from a seeded generator, as the Playground's ``dataset.ts``
does (its noise slider, 0–50, is ``noise`` 0–0.5 here):

- ``circle``: class 1 within radius 2.5 of the origin, class 0 on a ring from
  3.5 to 5; ``noise``·U(−5, 5) on each coordinate before labelling.
- ``xor``: x₁ and x₂ uniform in [−5, 5], pushed 0.3 from the axes; class 1
  where x₁·x₂ ≥ 0 after ``noise``·U(−5, 5) on each coordinate. Without a
  size, the four points of the truth table.
- ``gauss``: two Gaussian blobs at (2, 2) (class 1) and (−2, −2) (class 0),
  variance 0.5 + 7·``noise``.
- ``spiral``: two interleaved spirals, radius up to 5 over 1.75 turns;
  ``noise``·U(−1, 1) on each coordinate.

A set returns ``inputs`` (float32 N×F: the feature columns), ``labels``
(int64 0/1) and ``points`` (float32 N×2: x₁, x₂, for drawing). ``features``
names the columns, in order, from :data:`FEATURES`; the default is
``["x1", "x2"]``.
"""

import math

import numpy as np

__all__ = ["SETS", "FEATURES", "DEFAULT_SIZE", "EXTENT", "circle", "xor", "gauss",
           "spiral", "featurize", "make", "is_2d", "check_features"]

DEFAULT_SIZE = 500
EXTENT = 6.0  # the plane drawn: [−6, 6]², as in the Playground

# name → column computed from x₁, x₂
FEATURES = {
    "x1": lambda x1, x2: x1,
    "x2": lambda x1, x2: x2,
    "x1^2": lambda x1, x2: x1 * x1,
    "x2^2": lambda x1, x2: x2 * x2,
    "x1x2": lambda x1, x2: x1 * x2,
    "sin(x1)": lambda x1, x2: np.sin(x1),
    "sin(x2)": lambda x1, x2: np.sin(x2),
}


def _pack(points, labels, features):
    points = np.asarray(points, dtype=np.float64)
    return {"inputs": featurize(points, features),
            "labels": np.asarray(labels, dtype=np.int64),
            "points": points.astype(np.float32)}


def check_features(features):
    """``features`` as a list of known names; ValueError naming the unknown."""
    if features is None:
        return ["x1", "x2"]
    if isinstance(features, str) or not isinstance(features, (list, tuple)) \
            or not features:
        raise ValueError("\"features\" must be a non-empty list of names from "
                         f"{', '.join(FEATURES)}")
    bad = [f for f in features if f not in FEATURES]
    if bad:
        raise ValueError(f"unknown feature {bad[0]!r}: use {', '.join(FEATURES)}")
    if len(set(features)) != len(features):
        raise ValueError("\"features\" names a column twice")
    return list(features)


def featurize(points, features=None):
    """Feature columns of points of the plane.

    Parameters
    ----------
    points : array_like, shape (N, 2)
        x₁, x₂ per row.
    features : list of str, optional
        Names from :data:`FEATURES` (default ``["x1", "x2"]``).

    Returns
    -------
    ndarray, float32, shape (N, len(features))

    Examples
    --------
    >>> featurize([[1.0, 2.0]], ["x1", "x2^2", "x1x2"]).tolist()
    [[1.0, 4.0, 2.0]]
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    cols = [FEATURES[f](p[:, 0], p[:, 1]) for f in check_features(features)]
    return np.stack(cols, axis=1).astype(np.float32)


def _halves(size):
    if int(size) != size or size < 2:
        raise ValueError(f"size must be a whole number of at least 2, got {size}")
    return int(size) // 2


def circle(size=DEFAULT_SIZE, noise=0.0, seed=0, features=None):
    """Class 1 inside a circle of radius 2.5, class 0 on a ring around it."""
    half = _halves(size)
    rng = np.random.default_rng(seed)
    radius = 5.0
    points, labels = [], []
    for lo, hi in ((0.0, radius * 0.5), (radius * 0.7, radius)):
        r = rng.uniform(lo, hi, half)
        angle = rng.uniform(0, 2 * math.pi, half)
        xy = np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)
        jitter = rng.uniform(-radius, radius, (half, 2)) * noise
        labels.append(np.hypot(*(xy + jitter).T) < radius * 0.5)
        points.append(xy)
    return _pack(np.concatenate(points), np.concatenate(labels), features)


def xor(size=None, noise=0.0, seed=0, features=None):
    """Class 1 in the quadrants where x₁·x₂ ≥ 0 (the truth table without size)."""
    if size is None:
        inputs = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
        if features is not None:
            return _pack(inputs, [0, 1, 1, 0], features)
        return {"inputs": inputs, "labels": np.array([0, 1, 1, 0], dtype=np.int64)}
    _halves(size)
    n = int(size)
    rng = np.random.default_rng(seed)
    p = rng.uniform(-5, 5, (n, 2))
    p += np.where(p > 0, 0.3, -0.3)
    jitter = rng.uniform(-5, 5, (n, 2)) * noise
    labels = (p[:, 0] + jitter[:, 0]) * (p[:, 1] + jitter[:, 1]) >= 0
    out = _pack(p, labels, features)
    if features is None:  # the same bits as before features existed
        out["inputs"] = p.astype(np.float32)
    return out


def gauss(size=DEFAULT_SIZE, noise=0.0, seed=0, features=None):
    """Two Gaussian blobs: class 1 around (2, 2), class 0 around (−2, −2)."""
    half = _halves(size)
    rng = np.random.default_rng(seed)
    std = math.sqrt(0.5 + 7.0 * noise)
    points, labels = [], []
    for centre, label in ((2.0, 1), (-2.0, 0)):
        points.append(centre + std * rng.standard_normal((half, 2)))
        labels.append(np.full(half, label))
    return _pack(np.concatenate(points), np.concatenate(labels), features)


def spiral(size=DEFAULT_SIZE, noise=0.0, seed=0, features=None):
    """Two interleaved spirals, half the points each.

    Point i of a spiral lies at radius 5·i/(size/2) and angle
    1.75·2π·i/(size/2) (+π for class 0), plus ``noise``·U(−1, 1) on each
    coordinate.
    """
    half = _halves(size)
    rng = np.random.default_rng(seed)
    i = np.arange(half)
    r = i / half * 5
    points, labels = [], []
    for label, delta in ((1, 0.0), (0, math.pi)):
        t = 1.75 * i / half * 2 * math.pi + delta
        xy = np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
        xy += rng.uniform(-1, 1, xy.shape) * noise
        points.append(xy)
        labels.append(np.full(half, label))
    return _pack(np.concatenate(points), np.concatenate(labels), features)


SETS = {"circle": circle, "xor": xor, "gauss": gauss, "spiral": spiral}


def is_2d(name):
    """Whether ``name`` is one of the 2-D sets."""
    return name in SETS


def make(data):
    """The arrays of a train section's ``data`` object naming a 2-D set.

    ``size`` (or its older spelling ``n``), ``noise``, ``seed`` and
    ``features`` are read from ``data``; ValueError or TypeError for bad ones.

    Examples
    --------
    >>> d = make({"dataset": "circle", "size": 100, "noise": 0.1})
    >>> d["inputs"].shape, sorted(set(d["labels"].tolist()))
    ((100, 2), [0, 1])
    """
    name = data["dataset"]
    size = data.get("size", data.get("n"))
    if "size" in data and "n" in data and data["size"] != data["n"]:
        raise ValueError("give \"size\" or \"n\", not both")
    kwargs = {"noise": data.get("noise", 0.0), "seed": data.get("seed", 0),
              "features": data.get("features")}
    noise = kwargs["noise"]
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or \
            not 0 <= noise <= 1:
        raise ValueError(f"noise must be a number from 0 to 1, got {noise!r}")
    if size is not None:
        kwargs["size"] = size
    return SETS[name](**kwargs)
