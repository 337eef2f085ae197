"""Every sample reaches its target when trained exactly as its file says (slow).

These run the full epoch counts of the samples' train sections, as
``graphlab train FILE`` does; the fast tests in ``test_train.py`` check the
same samples after a few epochs. Targets are those of issue 5 and of the
PyTorch reference in PERF_NOTES.md (seconds are reported by the benchmark
scripts, never asserted here).
"""

import pytest

import graphlab as gl
from graphlab.train import Trainer

from .conftest import sample

pytestmark = pytest.mark.slow

ACCURACY_TARGETS = [
    ("lenet5", 0.97, (0,)),
    ("mlp_digits", 0.95, (0, 1, 2)),
    ("lstm_digits", 0.95, (0, 1, 2)),
    ("gru_digits", 0.95, (0, 1, 2)),
    ("rnn_digits", 0.93, (0, 1, 2)),
    ("mlp_xor", 1.0, (0, 1, 2)),
]


@pytest.mark.parametrize("name, target, seeds", ACCURACY_TARGETS,
                         ids=[t[0] for t in ACCURACY_TARGETS])
def test_sample_reaches_its_accuracy(name, target, seeds):
    for seed in seeds:
        g = gl.load(sample(name))
        history = Trainer(g, seed=seed).fit()
        assert history.stopped == "completed"
        assert history.final["epochs"] == g.train["epochs"]
        assert history.final["test_accuracy"] >= target, (
            f"{name} (seed {seed}): {history.final['test_accuracy']:.4f} < {target} "
            f"after {history.final['epochs']} epochs; per epoch: "
            f"{[round(a, 4) for a in history['test_accuracy']]}")


def test_autoencoder_reconstruction_loss_falls_by_at_least_half():
    g = gl.load(sample("autoencoder_digits"))
    history = Trainer(g).fit()
    assert history.final["test_loss"] <= 0.5 * history.initial["test_loss"]
