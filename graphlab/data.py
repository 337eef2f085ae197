"""Datasets for training: the shipped digits, the TensorFlow Playground sets, and
a user's own arrays.

A dataset is a dict of NumPy arrays that share their first axis (one row per
example), named as a train section's ``data.feeds`` refers to them:

- ``digits``: ``images`` (float32 N×8×8, scaled from 0..16 to [0, 1]) and
  ``labels`` (int64 0..9): the 1,797 UCI handwritten digits in
  ``samples/data/digits.npz``.
- ``xor``: ``inputs`` (float32 N×2) and ``labels`` (int64 0/1). By default the
  four points of the truth table; with ``"n"`` a noisy cloud of ``n`` points as
  in TensorFlow Playground (label 1 where x·y ≥ 0).
- ``spiral``: ``inputs`` and ``labels``, two interleaved spirals as in
  TensorFlow Playground (``"n"`` points, default 500; ``"noise"``, default 0).
- ``circle``, ``gauss`` (and ``xor``, ``spiral``): the 2-D sets of
  :mod:`graphlab.datasets2d`, with ``"size"`` (or ``"n"``), ``"noise"`` and
  ``"features"`` (input columns such as ``"x1^2"``, ``"sin(x1)"``); they also
  return ``points`` (x₁, x₂ of each example, for drawing).
- ``npz:PATH``: every array of a ``.npz`` file (a path relative to the graph
  file).

:func:`fit_feeds` turns arrays into feeds that fit a program's Inputs, and
:func:`split` holds out a seeded test fraction.
"""

import math
import os

import numpy as np

from . import datasets2d
from .errors import TrainingError
from .io import read_npz
from .shapes import fmt

__all__ = ["DATASETS", "DIGITS_PATH", "load_dataset", "digits", "xor", "spiral",
           "from_npz", "default_test_fraction", "split", "fit_feeds", "prepare",
           "batch_indices"]

DIGITS_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "samples", "data", "digits.npz")

# Held-out fraction when the data section does not say: the four XOR points are
# all there is, so that set is evaluated on itself.
_DEFAULT_TEST_FRACTION = {"digits": 0.2, "xor": 0.0, "spiral": 0.2, "circle": 0.2,
                          "gauss": 0.2}


# ---- the sets ------------------------------------------------------------------------

def digits(path=None):
    """The UCI 8×8 handwritten digits: ``{"images": N×8×8 in [0, 1], "labels": N}``.

    Examples
    --------
    >>> d = digits()
    >>> d["images"].shape, d["images"].dtype, int(d["labels"].max())
    ((1797, 8, 8), dtype('float32'), 9)
    """
    path = path or DIGITS_PATH
    try:
        with np.load(path, allow_pickle=False) as z:
            images, labels = z["images"], z["labels"]
    except (OSError, KeyError) as e:
        raise TrainingError(f"cannot read the digits from {path}: {e}") from None
    return {"images": (images.astype(np.float32) / np.float32(16.0)),
            "labels": labels.astype(np.int64)}


def xor(n=None, noise=0.0, seed=0):
    """XOR: the four truth-table points, or a Playground cloud of ``n`` points
    (see :func:`graphlab.datasets2d.xor`)."""
    d = datasets2d.xor(n, noise, seed)
    return {"inputs": d["inputs"], "labels": d["labels"]}


def spiral(n=500, noise=0.0, seed=0):
    """Two interleaved spirals, ``n`` points (:func:`graphlab.datasets2d.spiral`)."""
    d = datasets2d.spiral(n, noise, seed)
    return {"inputs": d["inputs"], "labels": d["labels"]}


def from_npz(path):
    """Every array of a ``.npz`` file, by name."""
    arrays = read_npz(path, "the dataset file", TrainingError)
    if not arrays:
        raise TrainingError(f"the dataset file '{path}' holds no arrays")
    return arrays


DATASETS = {"digits": digits, "xor": xor, "spiral": spiral,
            "circle": datasets2d.circle, "gauss": datasets2d.gauss}


def load_dataset(data, base_dir="."):
    """The arrays of a train section's ``data`` object.

    Parameters
    ----------
    data : dict
        ``{"dataset": "digits" | "circle" | "xor" | "gauss" | "spiral" |
        "npz:PATH", ...}``; ``size`` (or ``n``), ``noise``, ``seed`` and
        ``features`` shape the generated sets.
    base_dir : str
        Where a relative ``npz:PATH`` is found (the graph file's folder).

    Returns
    -------
    dict of str to ndarray

    Raises
    ------
    TrainingError
        An unknown dataset, an unreadable file, or arrays of unequal length.
    """
    name = data.get("dataset")
    if not isinstance(name, str):
        raise TrainingError("train.data needs \"dataset\": \"digits\", \"circle\", "
                            "\"xor\", \"gauss\", \"spiral\" or \"npz:PATH\"")
    if name.startswith("npz:"):
        path = name[4:]
        if not os.path.isabs(path):
            path = os.path.join(base_dir or ".", path)
        arrays = from_npz(path)
    elif name == "digits":
        arrays = digits()
    elif datasets2d.is_2d(name):
        try:
            arrays = datasets2d.make(data)
        except (TypeError, ValueError) as e:
            raise TrainingError(f"train.data for '{name}': {e}") from None
    else:
        raise TrainingError(f"unknown dataset {name!r}: use \"digits\", \"circle\", "
                            "\"xor\", \"gauss\", \"spiral\" or \"npz:PATH\" (a .npz "
                            "of your own arrays)")
    lengths = {k: len(v) for k, v in arrays.items() if np.ndim(v) > 0}
    if len(set(lengths.values())) > 1:
        raise TrainingError(f"the dataset's arrays differ in length ({lengths}): every "
                            "array needs one row per example")
    return arrays


def default_test_fraction(name):
    return _DEFAULT_TEST_FRACTION.get(name, 0.2)


def split(arrays, test_fraction, seed=0):
    """``(train, test)``: a seeded permutation, the last ``test_fraction`` held out.

    With ``test_fraction`` 0 the test set is the training set itself.

    Examples
    --------
    >>> train, test = split({"a": np.arange(10)}, 0.2, seed=0)
    >>> len(train["a"]), len(test["a"])
    (8, 2)
    """
    if not 0 <= test_fraction < 1:
        raise TrainingError(f"test_fraction must be in [0, 1), got {test_fraction}")
    n = len(next(iter(arrays.values())))
    if test_fraction == 0:
        return dict(arrays), dict(arrays)
    n_test = max(1, int(round(n * test_fraction)))
    if n_test >= n:
        raise TrainingError(f"test_fraction {test_fraction} leaves no training "
                            f"examples out of {n}")
    perm = np.random.default_rng(seed).permutation(n)
    train_idx, test_idx = np.sort(perm[:n - n_test]), np.sort(perm[n - n_test:])
    return ({k: v[train_idx] for k, v in arrays.items()},
            {k: v[test_idx] for k, v in arrays.items()})


def fit_feeds(arrays, feeds, inputs, dtype=np.float32):
    """Arrays reshaped and cast to fit the Inputs they feed.

    Parameters
    ----------
    arrays : dict of str to ndarray
        The dataset.
    feeds : dict of str to str
        ``{Input node id: array name}`` (the data section's ``feeds``).
    inputs : dict
        A schedule's ``{node id: (var, shape, dtype)}``.
    dtype : numpy dtype
        The program's float dtype.

    Returns
    -------
    dict of str to ndarray
        ``{Input node id: array}``, first axis the examples.

    Raises
    ------
    TrainingError
        An array is missing, or its examples do not fit the Input's shape (the
        message names the feed and both shapes).
    """
    out = {}
    for node, name in feeds.items():
        if node not in inputs:
            continue  # an Input the loss does not need
        if name not in arrays:
            raise TrainingError(f"train.data.feeds maps '{node}' to the array "
                                f"'{name}', but the dataset has only {sorted(arrays)}",
                                node=node)
        _, shape, in_dtype = inputs[node]
        out[node] = _fit_one(node, name, np.asarray(arrays[name]), tuple(shape),
                             in_dtype, dtype)
    return out


def _fit_one(node, name, arr, shape, in_dtype, float_dtype):
    if not shape or not isinstance(shape[0], str):
        raise TrainingError(f"Input '{node}' has the fixed shape {fmt(shape)}; "
                            "training feeds batches of examples, so its first "
                            "dimension must be the batch, e.g. [\"N\", ...]", node=node)
    if arr.ndim == 0:
        raise TrainingError(f"the array '{name}' fed to '{node}' is a single number, "
                            "not one row per example", node=node)
    example = tuple(arr.shape[1:])
    want = shape[1:]
    if any(isinstance(d, str) for d in want):
        fits = len(example) == len(want) and all(
            isinstance(d, str) or d == e for d, e in zip(want, example))
        target = None
    else:
        fits = math.prod(example) == math.prod(want)
        target = (arr.shape[0],) + tuple(want)
    if not fits:
        raise TrainingError(
            f"the array '{name}' has examples of shape {fmt(example)}, which do not "
            f"fit Input '{node}' of shape {fmt(shape)} (examples of {fmt(want)})",
            node=node)
    if target is not None and arr.shape != target:
        arr = arr.reshape(target)
    if in_dtype.startswith("float"):
        return np.ascontiguousarray(arr, dtype=float_dtype)
    want_dt = np.dtype(in_dtype)
    if arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
        raise TrainingError(f"the array '{name}' holds fractions, but Input '{node}' "
                            f"is {in_dtype}", node=node)
    return np.ascontiguousarray(arr, dtype=want_dt)


def prepare(spec, inputs, graph, *, arrays=None, base_dir=".", dtype=np.float32):
    """A train section's data, loaded, split and fitted to a program's Inputs.

    Parameters
    ----------
    spec : dict
        The section's ``data`` object (``dataset``, ``feeds``, ``test_fraction``,
        ``val_fraction``, ``seed``).
    inputs : dict
        ``{Input id: (var, shape, dtype)}`` of the Inputs training feeds.
    graph : Graph
        For the Inputs' own values (an Input with a value needs no data).
    arrays : dict of str to ndarray, optional
        Arrays to use instead of ``spec["dataset"]``.
    base_dir : str
        Folder of a relative ``npz:PATH``.
    dtype : numpy dtype
        The program's float dtype.

    Returns
    -------
    dict
        ``train``, ``test`` and ``val`` (None without ``val_fraction``) as
        ``{Input id: array}``, and ``held_out_is_train`` (no test split).

    Raises
    ------
    TrainingError
        No data, a feed that names no Input or array, an Input left without
        data, or arrays that do not fit.
    """
    if arrays is None:
        if not spec.get("dataset"):
            raise TrainingError("the train section has no data: add \"data\": "
                                "{\"dataset\": \"digits\", \"feeds\": {...}}, or pass "
                                "data= arrays")
        arrays = load_dataset(spec, base_dir)
        name = spec["dataset"]
    else:
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        name = "arrays"
    feeds = spec.get("feeds")
    if feeds is None:
        feeds = {n: n for n in inputs if n in arrays}
    if not isinstance(feeds, dict):
        raise TrainingError("train.data.feeds must map Input ids to array names, e.g. "
                            "{\"x\": \"images\", \"y\": \"labels\"}")
    for node in feeds:
        if node not in graph or graph.node(node).op != "Input":
            raise TrainingError(f"train.data.feeds names '{node}', which is not an "
                                "Input of the graph", node=node)
    for node in inputs:
        if node not in feeds and graph.node(node).resolved["value"] is None:
            raise TrainingError(f"Input '{node}' gets no data: map it to one of the "
                                f"dataset's arrays ({', '.join(sorted(arrays))}) in "
                                "train.data.feeds", node=node)
    fraction = spec.get("test_fraction", default_test_fraction(name))
    seed = spec.get("seed", 0)
    used = {feeds[n] for n in feeds if n in inputs}
    train, test = split({k: v for k, v in arrays.items() if k in used} or arrays,
                        fraction, seed)
    val = None
    if spec.get("val_fraction"):
        train, val = split(train, spec["val_fraction"], seed + 1)

    def fit(part):
        return None if part is None else fit_feeds(part, feeds, inputs, dtype)

    return {"train": fit(train), "test": fit(test), "val": fit(val),
            "held_out_is_train": fraction == 0}


def batch_indices(n, batch_size, rng=None):
    """Index arrays of the mini-batches of one epoch (shuffled when ``rng``).

    Examples
    --------
    >>> [b.tolist() for b in batch_indices(5, 2)]
    [[0, 1], [2, 3], [4]]
    """
    order = rng.permutation(n) if rng is not None else np.arange(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]
