"""Timing training steps of a graph on random data of the right shapes.

Used by ``graphlab bench`` and by the scripts in ``benchmarks/``. Speed
targets live there, never in timed tests.
"""

import time

import numpy as np

from ._malloc import keep_freed_memory
from .errors import GraphlabError
from .feeds import random_feeds as draw
from .optim import SGD
from .program import Program
from .train import take_gradients

__all__ = ["random_feeds", "time_steps", "training_step", "seconds_per_call",
           "bench"]


def random_feeds(graph, prog, batch_size, rng):
    """Random values for every Input ``prog`` reads, in its dtype
    (:func:`graphlab.feeds.random_feeds`: floats in [0.1, 1), class labels in
    range)."""
    feeds = draw(graph, prog.schedule.inputs, batch=batch_size, seed=rng)
    return {k: v.astype(prog.dtype) if v.dtype.kind == "f" else v
            for k, v in feeds.items()}


def time_steps(prog, feeds, steps, lr=1e-3, warmup=2):
    """Seconds per SGD step (forward, backward, update), best of two runs.

    A step is :func:`training_step`'s, the trainer's. Keeps freed memory in
    the process, as training does (:func:`graphlab._malloc.keep_freed_memory`).
    """
    keep_freed_memory()
    return seconds_per_call(training_step(prog, feeds, lr), steps, warmup)


def training_step(prog, feeds, lr=1e-3):
    """``step()``: one SGD step of ``prog`` on ``feeds`` as the trainer
    (:class:`graphlab.train.Trainer`) runs it: forward, backward, the
    gradients copied into the optimizer's flat buffer, checked for NaN there
    with one probe, and one update of every trainable Parameter. Also what
    ``benchmarks/profile_step.py`` profiles."""
    opt = SGD(prog.params, prog.trainable, lr=lr)

    def step():
        prog.forward(feeds)
        take_gradients(opt, prog, prog.backward(check=False))
        opt.step()

    return step


def seconds_per_call(step, steps, warmup=2):
    """Seconds per call of ``step()``: the best of two runs of ``steps`` calls."""
    for _ in range(warmup):
        step()
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        best = min(best, (time.perf_counter() - t0) / steps)
    return best


def bench(graph, batch_size=64, steps=20, dtype="float32", seed=0, workers=1,
          fuse=True):
    """Training-step throughput of ``graph`` on random data.

    The program is compiled as :class:`~graphlab.train.Trainer` compiles it
    (``workers`` and ``fuse`` as there), so that the figure is what training
    gets.

    Returns
    -------
    dict
        ``{"examples_per_s", "steps_per_s", "batch_size"}`` (SPEC section 3).
    """
    loss = (graph.train or {}).get("loss")
    outputs = [loss] if loss else None
    prog = Program(graph, dtype=dtype, training=True, outputs=outputs, seed=seed,
                   input_grads=False, workers=workers, fuse=fuse)
    if prog.schedule.loss is None or not prog.trainable:
        raise GraphlabError("nothing to train: the graph has no loss that depends on a "
                            "trainable Parameter")
    feeds = random_feeds(graph, prog, batch_size, np.random.default_rng(seed))
    seconds = time_steps(prog, feeds, steps)
    return {"examples_per_s": batch_size / seconds, "steps_per_s": 1.0 / seconds,
            "batch_size": batch_size}
