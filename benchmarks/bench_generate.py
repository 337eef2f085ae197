"""Characters per second of ``graphlab generate``: one batch-1 forward of the
compiled step program per character (Embedding → LSTM step → Linear, then a
sample), state carried through the LSTM's h0/c0 ports.

Times ``Generator.generate`` on the char_rnn sample (its current weights: speed
does not depend on training), best of ``--repeat`` runs, after one warm-up, and
the same for the Tang-poem model, whose output layer scores 3,565 characters;
by the wall clock and by the process's CPU time.

Run: ``python benchmarks/bench_generate.py [--length 2000] [--repeat 5]``.
"""

import argparse
import os
import time

import graphlab as gl
from graphlab.generate import Generator

SAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "samples")


def chars_per_second(path, prime, length, repeat):
    gen = Generator(gl.load(path))
    gen.generate(prime, 50, temperature=0.8, seed=0)  # warm up the buffers
    best = cpu = float("inf")
    for r in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        gen.generate(prime, length, temperature=0.8, seed=r)
        best = min(best, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    n = len(prime) + length
    return n / best, n / cpu


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--length", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    for name, prime in (("char_rnn", "ROMEO:"), ("char_rnn_tang", "白日")):
        rate, cpu = chars_per_second(os.path.join(SAMPLES, f"{name}.graph.json"),
                                     prime, args.length, args.repeat)
        # On a shared machine the wall clock waits for other processes; the
        # process's CPU time says what it would do on a quiet one.
        print(f"{name:14s} {rate:8,.0f} characters per second, {cpu:8,.0f} per CPU "
              f"second (best of {args.repeat}, {args.length} characters)")


if __name__ == "__main__":
    main()
