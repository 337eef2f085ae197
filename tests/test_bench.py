"""graphlab.bench: the training step that the benchmarks time."""

import numpy as np

import graphlab as gl
from graphlab.bench import random_feeds, training_step

from .conftest import sample


def test_training_step_is_one_sgd_update():
    graph = gl.load(sample("mlp_xor"))
    prog = gl.compile(graph, dtype="float64", outputs=[graph.train["loss"]],
                      input_grads=False)
    feeds = random_feeds(graph, prog, 4, np.random.default_rng(0))
    before = {k: prog.params[k].copy() for k in prog.trainable}
    prog.forward(feeds)
    grads = {k: np.array(v) for k, v in prog.backward().items()}
    step = training_step(prog, feeds, lr=0.1)
    step()
    for k in prog.trainable:
        np.testing.assert_allclose(prog.params[k], before[k] - 0.1 * grads[k],
                                   rtol=1e-12, atol=1e-14)
