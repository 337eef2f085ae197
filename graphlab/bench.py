"""Timing training steps of a graph on random data of the right shapes.

Used by ``graphlab bench`` and by the scripts in ``benchmarks/``. Speed
targets live there, never in timed tests.
"""

import argparse
import time

import numpy as np

from ._malloc import keep_freed_memory
from .errors import GraphlabError
from .program import Program

__all__ = ["random_feeds", "time_steps", "seconds_per_call", "bench", "cmd_bench", "add_bench_command"]


def random_feeds(graph, prog, batch_size, rng):
    """Random values for every Input: floats in [0, 1), class labels in range.

    An integer Input that feeds a ``CrossEntropyLoss`` target gets labels below
    the number of classes (the last dimension of the logits); other integer
    Inputs get 0 or 1.
    """
    report = graph.analyse()
    feeds = {}
    for node, (_, shape, dtype) in prog.schedule.inputs.items():
        shp = [batch_size if isinstance(d, str) else d for d in shape]
        if dtype.startswith("int"):
            high = 2
            for e in graph.out_edges(node):
                if graph.node(e.dst).op == "CrossEntropyLoss" and e.dst_port == "target":
                    logits = graph.in_edges(e.dst).get("logits")
                    if logits is not None:
                        s = report.shape(logits.src)
                        if s and isinstance(s[-1], int):
                            high = s[-1]
            feeds[node] = rng.integers(0, high, size=shp)
        else:
            feeds[node] = rng.random(shp, dtype=np.float32)
    return feeds


def time_steps(prog, feeds, steps, lr=1e-3, warmup=2):
    """Seconds per SGD step (forward, backward, update), best of two runs.

    Keeps freed memory in the process, as training does
    (:func:`graphlab._malloc.keep_freed_memory`).
    """
    keep_freed_memory()

    def step():
        prog.forward(feeds)
        grads = prog.backward()
        for k in prog.trainable:
            if k in grads:
                prog.params[k] -= lr * grads[k]

    return seconds_per_call(step, steps, warmup)


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


def cmd_bench(args, ctx):
    from .cli import _load_checked
    g = _load_checked(args.file, ctx)
    result = bench(g, batch_size=args.batch_size, steps=args.steps,
                   workers=args.workers, fuse=not args.no_fuse)
    ctx.emit(result, f"{g.name}: {result['examples_per_s']:,.0f} examples/s, "
                     f"{result['steps_per_s']:,.1f} steps/s at batch size "
                     f"{args.batch_size}")
    return 0


def _workers(text):
    if text == "auto":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a number of threads or auto, got "
                                         f"{text!r}")
    return int(text)


def add_bench_command(command):
    from .cli import positive_int
    c = command("bench", cmd_bench, "time training steps on random data of the right "
                                     "shapes")
    c.add_argument("--batch-size", type=positive_int, default=64, metavar="B")
    c.add_argument("--steps", type=positive_int, default=20, metavar="S")
    c.add_argument("--workers", default=1, type=_workers, metavar="W",
                   help="threads to cut each batch over (a number, or auto: one "
                        "per core)")
    c.add_argument("--no-fuse", action="store_true",
                   help="one kernel per node, no fused conv → activation → pool")
