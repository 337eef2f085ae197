"""``graphlab bench FILE``: training steps per second on random data of the
right shapes (:mod:`graphlab.bench`)."""

import argparse

from ..bench import bench
from .common import load_checked, positive_int

__all__ = ["cmd_bench", "add_bench_command"]


def cmd_bench(args, ctx):
    g = load_checked(args.file, ctx)
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
    """Add ``bench`` through ``command(name, func, help, file=True)`` (see
    :mod:`graphlab.cli`)."""
    c = command("bench", cmd_bench, "time training steps on random data of the right "
                                     "shapes")
    c.add_argument("--batch-size", type=positive_int, default=64, metavar="B")
    c.add_argument("--steps", type=positive_int, default=20, metavar="S")
    c.add_argument("--workers", default=1, type=_workers, metavar="W",
                   help="threads to cut each batch over (a number, or auto: one "
                        "per core)")
    c.add_argument("--no-fuse", action="store_true",
                   help="one kernel per node, no fused conv → activation → pool")
