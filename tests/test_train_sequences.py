"""The sequence samples reach their README figures when trained as their files
say (slow; CI runs them).

- char_rnn: held-out loss at most 0.75× that of a character bigram model on
  the same split (the bigram's smoothing chosen on the held-out text itself);
- seq2seq_reverse: at least 95 % of held-out digit strings reversed exactly,
  decoding greedily one token at a time;
- rnn_exploding: trains with its clip_norm and does not without it.
"""

import os

import pytest

import graphlab as gl
from graphlab import data
from graphlab.generate import Generator
from graphlab.train import Trainer

from .conftest import sample

pytestmark = pytest.mark.slow


def test_char_rnn_beats_the_bigram_baseline():
    g = gl.load(sample("char_rnn"))
    train, test, vocab = data.text_split(g.train["data"],
                                         os.path.dirname(sample("char_rnn")))
    bigram = data.bigram_loss(train, test, len(vocab))
    assert 2.4 < bigram < 2.6  # nats per character, tiny-shakespeare's tail
    history = Trainer(g).fit()
    assert history.final["test_loss"] <= 0.75 * bigram, (
        f"held-out loss {history.final['test_loss']:.4f} vs bigram {bigram:.4f}; "
        f"per epoch: {[round(x, 4) for x in history['test_loss']]}")
    text = Generator(g).generate("ROMEO:", 200, temperature=0.8, seed=0)
    assert text.startswith("ROMEO:") and len(text) == 206


def test_seq2seq_reverses_held_out_strings():
    g = gl.load(sample("seq2seq_reverse"))
    trainer = Trainer(g)
    trainer.fit()
    gen = Generator(g)
    source, target = trainer.test_data["source"], trainer.test_data["decoder_out"]
    decoded = gen.greedy(source)
    exact = sum(d == [int(t) for t in row if t < 10]
                for d, row in zip(decoded, target)) / len(source)
    assert exact >= 0.95, f"{exact:.4f} of {len(source)} reversed exactly"
    assert gen.translate("1234567") == "7654321"


def test_rnn_exploding_trains_only_with_clipping():
    g = gl.load(sample("rnn_exploding"))
    clipped = Trainer(g).fit().final
    g = gl.load(sample("rnn_exploding"))
    g.train = {k: v for k, v in g.train.items() if k != "clip_norm"}
    history = Trainer(g).fit()
    unclipped = history.final
    assert clipped["test_accuracy"] >= 0.8, clipped
    assert unclipped["test_accuracy"] <= clipped["test_accuracy"] - 0.2, unclipped
    # An explosion's mark: a step that throws the held-out loss up by a lot.
    losses = history["test_loss"]
    assert max(b - a for a, b in zip(losses, losses[1:])) >= 0.3, losses
