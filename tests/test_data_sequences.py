"""Sequence datasets: text:PATH (vocabulary, shifted targets, held-out tail,
bigram baseline) and the reverse task."""

import math

import numpy as np
import pytest

import graphlab as gl
from graphlab import data
from graphlab.errors import TrainingError
from graphlab.train import Trainer

TEXT = "to be, or not to be: that is the question.\n" * 20


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def _spec(path, **kw):
    return {"dataset": f"text:{path.name}", "seq_len": 8,
            "feeds": {"x": "inputs", "y": "targets"}, **kw}


def _decode(rows, vocab):
    return ["".join(vocab[i] for i in row) for row in rows]


def test_targets_are_the_inputs_shifted_by_one(corpus):
    train, test, vocab = data.text_split(_spec(corpus), corpus.parent)
    for part in (train, test):
        np.testing.assert_array_equal(part["targets"][:, :-1], part["inputs"][:, 1:])
        # Windows are consecutive: each target row ends where the next input starts.
        np.testing.assert_array_equal(part["targets"][:-1, -1], part["inputs"][1:, 0])
    assert "".join(_decode(train["inputs"], vocab)) == TEXT[:len(train["inputs"]) * 8]


def test_held_out_part_is_the_tail_of_the_text(corpus):
    train, test, vocab = data.text_split(_spec(corpus, test_fraction=0.25),
                                         corpus.parent)
    cut = len(TEXT) - round(len(TEXT) * 0.25)
    held = "".join(_decode(test["inputs"], vocab))
    assert TEXT[cut:].startswith(held) and len(held) > 0
    last_trained = "".join(_decode(train["targets"], vocab))
    assert TEXT[1:cut].startswith(last_trained) and len(last_trained) <= cut - 1
    assert len(train["inputs"]) == (cut - 1) // 8


def test_vocabulary_round_trips_and_is_saved_with_the_model(corpus, tmp_path):
    vocab = data.text_vocab(TEXT)
    assert vocab == "".join(sorted(set(TEXT)))
    train, _, got = data.text_split(_spec(corpus, vocab=vocab[::-1]), corpus.parent)
    assert got == vocab[::-1]  # the stored vocabulary wins over the text's order
    assert "".join(_decode(train["inputs"][:1], got)) == TEXT[:8]
    g = _char_model(len(vocab), _spec(corpus, vocab=vocab))
    gl.save(g, tmp_path / "m.graph.json")
    again = gl.load(tmp_path / "m.graph.json")
    assert again.train["data"]["vocab"] == vocab
    from graphlab.generate import vocabulary
    assert vocabulary(again) == vocab


def test_a_character_outside_the_vocabulary_is_named(corpus):
    with pytest.raises(TrainingError, match="holds 't', which is not in"):
        data.text_split(_spec(corpus, vocab="abc"), corpus.parent)


def test_too_short_a_tail_says_so(corpus):
    with pytest.raises(TrainingError, match="shorter than one window"):
        data.text_split(_spec(corpus, seq_len=400, test_fraction=0.1), corpus.parent)


def test_bigram_baseline_is_the_cross_entropy_of_counted_pairs():
    vocab = "ab"
    # pairs ab ba ab ba aa ab
    train = data.text_windows(np.array([0, 1, 0, 1, 0, 0, 1]), 3)
    test = data.text_windows(np.array([0, 1, 1]), 2)  # ab, bb
    # P(b|a) = (3 + α·P(b)) / (4 + α), P(b|b) = (0 + α·P(b)) / (2 + α), and the
    # unigram P(b) = (3 + 1) / (6 + 2) counts the targets a b a b a b... add-one.
    pb = (np.sum(train["targets"] == 1) + 1) / (train["targets"].size + 2)

    def nll(alpha):
        p_ab = (3 + alpha * pb) / (4 + alpha)
        p_bb = (0 + alpha * pb) / (2 + alpha)
        return -(math.log(p_ab) + math.log(p_bb)) / 2

    assert data.bigram_loss(train, test, len(vocab), alphas=(1.0,)) == \
        pytest.approx(nll(1.0), rel=1e-12)
    best = min(nll(a) for a in (0.1, 1.0, 10.0))
    assert data.bigram_loss(train, test, 2, alphas=(0.1, 1.0, 10.0)) == \
        pytest.approx(best, rel=1e-12)


def test_training_feeds_the_windows_and_holds_out_the_tail(corpus):
    g = _char_model(len(data.text_vocab(TEXT)), _spec(corpus, test_fraction=0.2))
    g.path = str(corpus.parent / "m.graph.json")
    trainer = Trainer(g, epochs=1, batch_size=8, handle_sigint=False)
    train, test, _ = data.text_split(_spec(corpus, test_fraction=0.2), corpus.parent)
    np.testing.assert_array_equal(trainer.train_data["x"], train["inputs"])
    np.testing.assert_array_equal(trainer.test_data["y"], test["targets"])
    history = trainer.fit()
    # Accuracy over sequences is the share of positions predicted right.
    assert 0 <= history.final["test_accuracy"] <= 1


def test_reverse_pairs_are_distinct_reversals():
    d = data.reverse(n=300, min_len=5, max_len=10, seed=4)
    v = data.REVERSE_VOCAB
    seen = set()
    for src, din, dout in zip(d["source"], d["decoder_in"], d["decoder_out"]):
        digits = "".join(v[i] for i in src if i != data.PAD)
        assert 5 <= len(digits) <= 10 and digits not in seen
        seen.add(digits)
        out = "".join(v[i] for i in dout)
        assert out.startswith(digits[::-1] + "$")
        assert set(out[len(digits) + 1:]) <= {"_"}
        assert din[0] == data.GO
        np.testing.assert_array_equal(din[1:len(digits) + 1], dout[:len(digits)])
    np.testing.assert_array_equal(d["source"], data.reverse(300, seed=4)["source"])


def _char_model(V, spec, hidden=8):
    b = gl.GraphBuilder("tiny char model")
    x = b.input("x", ["N", spec["seq_len"]], dtype="int64")
    y = b.input("y", ["N", spec["seq_len"]], dtype="int64")
    cell = b.lstm(b.embedding(x, V, 4, name="embed"), hidden, name="lstm")
    logits = b.linear(b.port(cell, "y"), V, name="fc")
    b.output(b.cross_entropy_loss(logits, y, name="loss"), logits)
    b.train(loss="loss", data=spec, optimizer={"type": "adam", "lr": 0.01},
            batch_size=8, epochs=1)
    return b.build()


def test_train_command_prints_the_bigram_baseline(corpus):
    import json
    import subprocess
    import sys
    from pathlib import Path
    vocab = data.text_vocab(TEXT)
    path = corpus.parent / "m.graph.json"
    gl.save(_char_model(len(vocab), _spec(corpus, vocab=vocab, test_fraction=0.2)),
            path)
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-m", "graphlab", "train", str(path),
                        "--epochs", "1", "--json"], cwd=root, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    train, test, _ = data.text_split(_spec(corpus, vocab=vocab, test_fraction=0.2),
                                     corpus.parent)
    assert obj["bigram_loss"] == pytest.approx(data.bigram_loss(train, test,
                                                                len(vocab)))
    r = subprocess.run([sys.executable, "-m", "graphlab", "train", str(path),
                        "--epochs", "1"], cwd=root, capture_output=True, text=True,
                       timeout=300)
    assert "a character bigram model scores" in r.stdout


@pytest.mark.parametrize("kwargs, words", [
    ({"n": "many"}, "n must be a whole number ≥ 1, got 'many'"),
    ({"n": 0}, "n must be a whole number ≥ 1, got 0"),
    ({"n": 2.5}, "n must be a whole number ≥ 1, got 2.5"),
    ({"min_len": "3"}, "min_len and max_len must be whole numbers, got '3', 10")])
def test_reverse_names_a_wrong_setting(kwargs, words):
    with pytest.raises(ValueError) as e:
        data.reverse(**kwargs)
    assert str(e.value) == words
