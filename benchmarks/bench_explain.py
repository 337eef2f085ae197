"""How long the chain-rule view takes to explain scalar graphs of 20 to 400 nodes.

Random scalar DAGs where every node reads the previous one and one of the five
before it (so every node lies on the path to the output and values are shared,
as in the collapse demonstration), with the elementwise ops of the catalog.
Derivatives are cached per (op, attrs), so only the first graph pays for
SymPy's ``diff`` and ``lambdify``, and the substitution of a graph's symbols
into them is cached too (re-explaining an edited graph is cheap).

Run: ``python benchmarks/bench_explain.py [--nodes 20 50 100 200 400] [--repeat 5]``.
"""

import argparse
import time

import numpy as np

import graphlab as gl
from graphlab.symbolic import explain, forms

OPS = ("Add", "Mul", "Sub", "Maximum", "Tanh", "Sigmoid", "ReLU", "LeakyReLU",
       "ELU", "Neg", "Abs")
UNARY = {"Tanh", "Sigmoid", "ReLU", "LeakyReLU", "ELU", "Neg", "Abs"}


def random_scalar_graph(n_ops, seed=0, n_inputs=6):
    """A scalar DAG of ``n_ops`` elementwise ops over ``n_inputs`` Inputs."""
    rng = np.random.default_rng(seed)
    b = gl.GraphBuilder(f"random scalar graph of {n_ops} ops")
    refs = [b.input(f"x{i}", [], value=float(rng.uniform(-1, 1)))
            for i in range(n_inputs)]
    for i in range(n_ops):
        op = str(rng.choice(OPS))
        prev = refs[-1]
        other = refs[int(rng.integers(max(0, len(refs) - 6), len(refs) - 1))]
        args = (prev,) if op in UNARY else (prev, other)
        refs.append(b.op(op, *args, name=f"n{i}"))
    b.output(refs[-1])
    return b.graph


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def render(expl):
    """Every rendering of every step (LaTeX is per step and lazy: force it)."""
    expl.to_text()
    expl.to_json()
    return [s.latex for s in expl.steps]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, nargs="+", default=[20, 50, 100, 200, 400])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print("explain: lower, run the interpreter, build and check every step")
    print("  cold:  nothing cached (every (op, attrs) differentiated and lambdified)")
    print("  new:   derivatives cached, a graph never explained before")
    print("  again: the same graph re-explained (a value edited in the GUI)")
    print("render:  text, JSON and the LaTeX of every step")
    print(f"{'nodes':>6} {'steps':>6} {'cold':>9} {'new':>9} {'again':>9} "
          f"{'render':>9} {'check':>6}")
    for n in args.nodes:
        g = random_scalar_graph(n, seed=n)
        forms._FORMS.clear()
        forms._substitute.cache_clear()
        e, cold = timed(lambda g=g: explain(g))
        new = []
        for _ in range(args.repeat):
            forms._substitute.cache_clear()
            new.append(timed(lambda g=g: explain(g))[1])
        again = min(timed(lambda g=g: explain(g))[1] for _ in range(args.repeat))
        render_t = min(timed(lambda x=explain(g): render(x))[1]  # noqa: B008
                       for _ in range(max(1, args.repeat // 2)))
        ok = "ok" if not e.mismatches else f"{len(e.mismatches)} bad"
        print(f"{n:>6} {len(e):>6} {cold * 1e3:>6.1f} ms {min(new) * 1e3:>6.1f} ms "
              f"{again * 1e3:>6.1f} ms {render_t * 1e3:>6.1f} ms {ok:>6}")

if __name__ == "__main__":
    main()
