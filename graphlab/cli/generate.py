"""``graphlab generate FILE``: a trained sequence model writes, one character at
a time (:mod:`graphlab.generate`)."""

import argparse
import math
import sys
import time

from ..errors import GraphlabError
from ..generate import Generator
from .common import load_checked

__all__ = ["cmd_generate", "add_generate_command"]


def cmd_generate(args, ctx):
    """``graphlab generate FILE [--prime TEXT | --input TEXT] [--length N]
    [--temperature T] [--seed S]``."""
    g = load_checked(args.file, ctx)
    if not g.params:
        ctx.warn("the file names no trained parameters (\"params\"): generating from "
                 "its initial values; train it first with graphlab train FILE --save "
                 "PARAMS.npz")
    gen = Generator(g)
    start = time.perf_counter()
    if args.input is not None:
        text = gen.translate(args.input)
        obj = {"input": args.input, "output": text}
        count = len(text) + 1
    else:
        if gen.encoder is not None:
            raise GraphlabError("this is an encoder–decoder model: give the source "
                                "sequence with --input")
        text = gen.generate(args.prime, args.length, args.temperature, args.seed)
        obj = {"prime": args.prime, "text": text}
        count = len(text)
    seconds = time.perf_counter() - start
    obj["chars_per_s"] = round(count / seconds) if seconds > 0 else None
    if not args.json and args.stats and seconds > 0:
        print(f"{count} characters in {seconds:.3f} s ({count / seconds:,.0f} per "
              "second)", file=sys.stderr)
    ctx.emit(obj, text)
    return 0


def _at_least_zero(kind):
    """An argparse type: a finite ``kind`` number ≥ 0 (else a usage error, exit 2)."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value < 0:
            raise argparse.ArgumentTypeError(
                f"expected a finite number ≥ 0, got {text!r}")
        return value
    return parse


def add_generate_command(command):
    """Add ``generate`` through ``command(name, func, help, file=True)`` (see
    :mod:`graphlab.cli`)."""
    c = command("generate", cmd_generate, "write with a trained sequence model, one "
                "character at a time (or decode an encoder–decoder's --input)")
    c.add_argument("--prime", default="", metavar="TEXT",
                   help="text fed to the model before it writes (default: none)")
    c.add_argument("--length", type=_at_least_zero(int), default=300, metavar="N",
                   help="characters to write (default 300)")
    c.add_argument("--temperature",
                   type=_at_least_zero(float), default=0.8, metavar="T",
                   help="softmax temperature: lower is safer, 0 is greedy "
                   "(default 0.8)")
    c.add_argument("--seed", type=_at_least_zero(int), default=0, metavar="S",
                   help="seed of the sampling (default 0)")
    c.add_argument("--input", metavar="TEXT",
                   help="for an encoder–decoder: the source sequence to decode "
                   "greedily")
    c.add_argument("--stats", action="store_true",
                   help="print the characters per second to standard error")
    return c
