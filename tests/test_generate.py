"""graphlab generate: one token at a time through the graph's own h0/c0 ports,
reproducible by seed, equal to a full forward pass; greedy seq2seq decoding."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphlab as gl
from graphlab import data
from graphlab.errors import GraphlabError
from graphlab.generate import Generator, generator_for

ROOT = Path(__file__).resolve().parents[1]
VOCAB = "\n abcdefghij"


def char_model(kind="LSTM", T=12, seed=0):
    b = gl.GraphBuilder(f"tiny {kind} char model")
    x = b.input("x", ["N", T], dtype="int64")
    y = b.input("y", ["N", T], dtype="int64")
    e = b.embedding(x, len(VOCAB), 5, name="embed")
    cell = getattr(b, kind.lower())(e, 7, name="cell")
    logits = b.linear(b.port(cell, "y"), len(VOCAB), name="fc")
    b.output(b.cross_entropy_loss(logits, y, name="loss"), logits)
    b.train(loss="loss", data={"dataset": "text:corpus.txt", "seq_len": T,
                               "vocab": VOCAB,
                               "feeds": {"x": "inputs", "y": "targets"}})
    g = b.build()
    # Random weights large enough that the logits differ from step to step.
    prog = gl.compile(g, dtype="float64", seed=seed)
    g.params = {k: np.asarray(v) * 3 for k, v in prog.params.items()}
    return g


def seq2seq_model(seed=0):
    import runpy
    g = runpy.run_path(str(ROOT / "samples" / "build_samples.py"))[
        "seq2seq_reverse"](hidden=6)
    prog = gl.compile(g, dtype="float64", seed=seed)
    g.params = {k: np.asarray(v) * 3 for k, v in prog.params.items()}
    return g


def test_same_seed_same_text_other_seed_other_text():
    gen = Generator(char_model())
    a = gen.generate("abc", length=60, temperature=1.0, seed=0)
    assert a == gen.generate("abc", length=60, temperature=1.0, seed=0)
    assert a.startswith("abc") and len(a) == 63 and set(a) <= set(VOCAB)
    assert a != gen.generate("abc", length=60, temperature=1.0, seed=1)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_carrying_state_equals_a_full_forward_pass(kind):
    g = char_model(kind)
    gen = Generator(g, dtype="float64")
    tokens = np.random.default_rng(1).integers(0, len(VOCAB), 12)
    state = gen.initial_state()
    stepped = []
    for t in tokens:
        logits, state = gen.step(int(t), state)
        stepped.append(logits)
    full = gl.compile(g, dtype="float64", training=False)
    out = full.forward({"x": tokens[None], "y": np.zeros((1, 12), np.int64)})
    np.testing.assert_allclose(np.array(stepped), out["fc"][0], rtol=1e-12,
                               atol=1e-12)


def test_generated_characters_follow_the_model_distribution():
    gen = Generator(char_model(), dtype="float64")
    # Greedy (temperature 0) picks each argmax of the carried logits.
    text = gen.generate("a", length=10, temperature=0)
    state = gen.initial_state()
    logits, state = gen.step(VOCAB.index("a"), state)
    for ch in text[1:]:
        assert VOCAB[int(np.argmax(logits))] == ch
        logits, state = gen.step(VOCAB.index(ch), state)


def test_generator_for_compiles_once_and_takes_new_weights():
    g = char_model()
    first = generator_for(g)
    before = first.generate("ab", 20, seed=0)
    g.params = {k: v * 0.5 for k, v in g.params.items()}
    second = generator_for(g)
    assert second is first
    assert second.generate("ab", 20, seed=0) != before


def test_unknown_prime_character_is_named():
    with pytest.raises(GraphlabError, match="'z' is not in the model's vocabulary"):
        Generator(char_model()).generate("z", 5)


def test_greedy_decoding_agrees_with_teacher_forcing():
    g = seq2seq_model()
    gen = Generator(g, dtype="float64")
    assert gen.encoder is not None and gen.decoder == "decoder"
    d = data.reverse(n=5, seed=2)
    decoded = gen.greedy(d["source"], max_length=11)
    # Feed each decoded sequence back as the teacher-forced decoder input: the
    # argmax at every step must be what greedy decoding chose there.
    full = gl.compile(g, dtype="float64", training=False)
    dec_in = np.full((5, 11), data.PAD, np.int64)
    dec_in[:, 0] = data.GO
    for i, row in enumerate(decoded):
        dec_in[i, 1:len(row) + 1] = row[:10]
    out = full.forward({"source": d["source"], "decoder_in": dec_in,
                        "decoder_out": np.zeros((5, 11), np.int64)})
    best = out["fc"].argmax(axis=-1)
    for i, row in enumerate(decoded):
        np.testing.assert_array_equal(best[i, :len(row)], row)
        if len(row) < 11:
            assert best[i, len(row)] == data.EOS


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "graphlab", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_cli_writes_after_the_prime_and_reports_errors(tmp_path):
    path = tmp_path / "m.graph.json"
    gl.save(char_model(), path)
    r = _cli("generate", str(path), "--prime", "abc", "--length", "40", "--seed", "3",
             "--json")
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert obj["text"].startswith("abc") and len(obj["text"]) == 43
    r = _cli("generate", str(path), "--prime", "xyz")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith(f"error: {path}: ")
    assert "'x' is not in the model's vocabulary" in r.stderr


def test_cli_decodes_an_encoder_decoder_input(tmp_path):
    path = tmp_path / "s.graph.json"
    gl.save(seq2seq_model(), path)
    r = _cli("generate", str(path), "--input", "12345", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)["output"]
    assert set(out) <= set(data.REVERSE_VOCAB) and len(out) <= 11
    r = _cli("generate", str(path), "--prime", "1")
    assert r.returncode == 1 and "--input" in r.stderr
    r = _cli("generate", str(path), "--input", "")
    assert r.returncode == 1 and "the input is empty" in r.stderr


@pytest.mark.parametrize("flag, value", [
    ("--length", "-5"), ("--temperature", "-1"), ("--temperature", "nan"),
    ("--temperature", "inf"), ("--seed", "-1")])
def test_cli_bad_values_are_usage_errors(tmp_path, capsys, flag, value):
    from graphlab.cli import main
    path = tmp_path / "m.graph.json"
    gl.save(char_model(), path)
    with pytest.raises(SystemExit) as e:
        main(["generate", str(path), flag, value])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and "Traceback" not in err
