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
- ``text:PATH``: a UTF-8 text cut into windows of ``seq_len`` characters (default
  64): ``inputs`` and ``targets`` (int64 N×seq_len, ``targets`` shifted by one
  character). ``vocab`` (a string, index i is character i) is the model's
  character vocabulary; it lives in the train section, so that it is saved and
  loaded with the graph and is what ``graphlab generate`` decodes with (when
  absent: the sorted characters of the whole file). The held-out part is the
  text's tail (``test_fraction``, default 0.1), cut before the windows, so
  that no held-out character is ever trained on.
- ``reverse``: ``n`` digit strings of ``min_len``..``max_len`` digits (default
  5..10) and their reversals, for a sequence-to-sequence model (see
  :func:`reverse`).

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
           "batch_indices", "read_text", "text_path", "text_vocab", "text_windows",
           "text_split", "bigram_loss", "reverse", "REVERSE_VOCAB", "PAD", "GO",
           "EOS"]

DIGITS_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "samples", "data", "digits.npz")

# Held-out fraction when the data section does not say: the four XOR points are
# all there is, so that set is evaluated on itself.
_DEFAULT_TEST_FRACTION = {"digits": 0.2, "xor": 0.0, "spiral": 0.2, "circle": 0.2,
                          "gauss": 0.2, "text": 0.1}

# Tokens of the reverse task: the ten digits, then padding, go and end.
REVERSE_VOCAB = "0123456789_>$"
PAD, GO, EOS = 10, 11, 12


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


def reverse(n=20000, min_len=5, max_len=10, seed=0):
    """Digit strings and their reversals, for an encoder–decoder.

    ``n`` distinct strings of ``min_len``..``max_len`` digits (lengths uniform).
    Returns ``source`` (N×max_len: the digits left-padded with ``PAD``, so that
    the encoder's last step reads the last digit), ``decoder_in`` (N×(max_len+1):
    ``GO`` then the reversed digits, padded: what teacher forcing feeds) and
    ``decoder_out`` (N×(max_len+1): the reversed digits, ``EOS``, padding).
    Tokens are indices into :data:`REVERSE_VOCAB`.

    Examples
    --------
    >>> s = lambda row: "".join(REVERSE_VOCAB[int(i)] for i in row)
    >>> d = reverse(n=1, min_len=3, max_len=6, seed=1)
    >>> s(d["source"][0]), s(d["decoder_in"][0]), s(d["decoder_out"][0])
    ('__5790', '>0975__', '0975$__')
    """
    whole = (int, np.integer)
    if not isinstance(n, whole) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a whole number ≥ 1, got {n!r}")
    if not all(isinstance(k, whole) and not isinstance(k, bool)
               for k in (min_len, max_len)):
        raise ValueError(f"min_len and max_len must be whole numbers, got "
                         f"{min_len!r}, {max_len!r}")
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 ≤ min_len ≤ max_len, got {min_len}, {max_len}")
    rng = np.random.default_rng(seed)
    seen, strings = set(), []
    room = sum(10 ** k for k in range(min_len, max_len + 1))
    if n > room // 2:
        raise ValueError(f"n = {n} is too many distinct strings of {min_len}.."
                         f"{max_len} digits")
    while len(strings) < n:
        k = int(rng.integers(min_len, max_len + 1))
        digits_ = tuple(int(d) for d in rng.integers(0, 10, k))
        if digits_ not in seen:
            seen.add(digits_)
            strings.append(digits_)
    T = max_len
    source = np.full((n, T), PAD, np.int64)
    dec_in = np.full((n, T + 1), PAD, np.int64)
    dec_out = np.full((n, T + 1), PAD, np.int64)
    for i, d in enumerate(strings):
        r = d[::-1]
        source[i, T - len(d):] = d
        dec_in[i, 0] = GO
        dec_in[i, 1:len(d) + 1] = r
        dec_out[i, :len(d)] = r
        dec_out[i, len(d)] = EOS
    return {"source": source, "decoder_in": dec_in, "decoder_out": dec_out}


DATASETS = {"digits": digits, "xor": xor, "spiral": spiral,
            "circle": datasets2d.circle, "gauss": datasets2d.gauss, "reverse": reverse}


# ---- text ----------------------------------------------------------------------------

def text_path(name, base_dir):
    """The file a ``text:PATH`` dataset names, relative to ``base_dir``."""
    path = name[5:] if name.startswith("text:") else name
    if not os.path.isabs(path):
        path = os.path.join(base_dir or ".", path)
    return path


def read_text(path):
    """The text of a UTF-8 file (``TrainingError`` when unreadable or empty)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise TrainingError(f"cannot read the text file '{path}': "
                            f"{getattr(e, 'strerror', None) or e}") from None
    if len(text) < 2:
        raise TrainingError(f"the text file '{path}' holds fewer than 2 characters")
    return text


def text_vocab(text):
    """The sorted distinct characters of ``text``, as one string.

    Examples
    --------
    >>> text_vocab("hello")
    'ehlo'
    """
    return "".join(sorted(set(text)))


def _text_encode(text, vocab, path):
    index = {ch: i for i, ch in enumerate(vocab)}
    if len(index) != len(vocab):
        raise TrainingError("train.data.vocab repeats a character; each character "
                            "must appear once")
    try:
        return np.fromiter((index[ch] for ch in text), np.int64, len(text))
    except KeyError as e:
        raise TrainingError(f"the text file '{path}' holds {e.args[0]!r}, which is not "
                            "in train.data.vocab: rebuild the vocabulary (and the "
                            "Embedding) for this text") from None


def text_windows(codes, seq_len):
    """``inputs``, ``targets``: consecutive windows of ``seq_len`` codes and the
    same windows shifted by one (the next character of every position).

    Examples
    --------
    >>> w = text_windows(np.arange(7), 3)
    >>> w["inputs"].tolist(), w["targets"].tolist()
    ([[0, 1, 2], [3, 4, 5]], [[1, 2, 3], [4, 5, 6]])
    """
    n = (len(codes) - 1) // seq_len
    inputs = codes[:n * seq_len].reshape(n, seq_len)
    targets = codes[1:n * seq_len + 1].reshape(n, seq_len)
    return {"inputs": np.ascontiguousarray(inputs),
            "targets": np.ascontiguousarray(targets)}


def text_split(data, base_dir=".", test_fraction=None):
    """``(train, test, vocab)`` of a ``text:PATH`` data section: windows of the
    text's head and of its held-out tail.

    Raises
    ------
    TrainingError
        An unreadable file, a character outside ``vocab``, a bad ``seq_len``,
        or a part too short for one window.
    """
    path = text_path(data["dataset"], base_dir)
    text = read_text(path)
    vocab = data.get("vocab") or text_vocab(text)
    if not isinstance(vocab, str):
        raise TrainingError("train.data.vocab must be a string of characters")
    T = data.get("seq_len", 64)
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise TrainingError(f"train.data.seq_len must be a whole number ≥ 1, got {T!r}")
    fraction = test_fraction
    if fraction is None:
        fraction = data.get("test_fraction", _DEFAULT_TEST_FRACTION["text"])
    if not 0 <= fraction < 1:
        raise TrainingError(f"test_fraction must be in [0, 1), got {fraction}")
    codes = _text_encode(text, vocab, path)
    cut = len(codes) - int(round(len(codes) * fraction))
    train = text_windows(codes[:cut], T)
    test = text_windows(codes[cut:], T) if fraction else train
    for part, arrays in (("training head", train), ("held-out tail", test)):
        if len(arrays["inputs"]) == 0:
            raise TrainingError(f"the {part} of '{path}' is shorter than one window "
                                f"of seq_len + 1 = {T + 1} characters")
    return train, test, vocab


def bigram_loss(train, test, classes, alphas=(0.01, 0.1, 1.0, 10.0, 100.0)):
    """Held-out cross-entropy (nats per character) of a character bigram model.

    The bigram model predicts each target from the input character at the same
    position alone: P(b | a) = (c(a, b) + α·P(b)) / (c(a) + α), counted on the
    training windows, with the unigram P(b) add-one smoothed. Of the smoothing
    strengths ``alphas``, the best on ``test`` is taken: the baseline at its
    most favourable.

    Parameters
    ----------
    train, test : dict
        ``inputs`` and ``targets`` as :func:`text_windows` gives them.
    classes : int
        Vocabulary size.

    Returns
    -------
    float
    """
    a, b = train["inputs"].reshape(-1), train["targets"].reshape(-1)
    pairs = np.bincount(a * classes + b, minlength=classes * classes).reshape(
        classes, classes).astype(np.float64)
    uni = (np.bincount(b, minlength=classes) + 1.0) / (len(b) + classes)
    ta, tb = test["inputs"].reshape(-1), test["targets"].reshape(-1)
    best = math.inf
    for alpha in alphas:
        p = (pairs[ta, tb] + alpha * uni[tb]) / (pairs[ta].sum(axis=1) + alpha)
        best = min(best, float(-np.log(p).mean()))
    return best


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
                            "\"xor\", \"gauss\", \"spiral\", \"reverse\", "
                            "\"text:PATH\" or \"npz:PATH\"")
    if name.startswith("npz:"):
        path = name[4:]
        if not os.path.isabs(path):
            path = os.path.join(base_dir or ".", path)
        arrays = from_npz(path)
    elif name.startswith("text:"):
        train, test, _ = text_split(data, base_dir, test_fraction=0)
        arrays = train
    elif name == "digits":
        arrays = digits()
    elif name == "reverse":
        kwargs = {k: data[k] for k in ("n", "min_len", "max_len") if k in data}
        try:
            arrays = reverse(seed=data.get("seed", 0), **kwargs)
        except (TypeError, ValueError) as e:
            raise TrainingError(f"train.data for '{name}': {e}") from None
    elif datasets2d.is_2d(name):
        try:
            arrays = datasets2d.make(data)
        except (TypeError, ValueError) as e:
            raise TrainingError(f"train.data for '{name}': {e}") from None
    else:
        raise TrainingError(f"unknown dataset {name!r}: use \"digits\", \"circle\", "
                            "\"xor\", \"gauss\", \"spiral\", \"reverse\", "
                            "\"text:PATH\" or \"npz:PATH\" (a .npz of your own "
                            "arrays)")
    lengths = {k: len(v) for k, v in arrays.items() if np.ndim(v) > 0}
    if len(set(lengths.values())) > 1:
        raise TrainingError(f"the dataset's arrays differ in length ({lengths}): every "
                            "array needs one row per example")
    return arrays


def default_test_fraction(name):
    key = "text" if name.startswith("text:") else name
    return _DEFAULT_TEST_FRACTION.get(key, 0.2)


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
    held_out = None
    if arrays is None:
        if not spec.get("dataset"):
            raise TrainingError("the train section has no data: add \"data\": "
                                "{\"dataset\": \"digits\", \"feeds\": {...}}, or pass "
                                "data= arrays")
        name = spec["dataset"]
        if isinstance(name, str) and name.startswith("text:"):
            arrays, held_out, _ = text_split(spec, base_dir)
        else:
            arrays = load_dataset(spec, base_dir)
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
    if held_out is not None:  # a text's tail, cut before the windows
        train = {k: v for k, v in arrays.items() if k in used} or arrays
        test = train if fraction == 0 else {k: held_out[k] for k in train}
    else:
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
