"""Where a training step's time goes, function by function (cProfile).

    python benchmarks/profile_step.py FILE [--batch 1] [--steps 300] [--top 25]

Compiles FILE's train section loss as the trainer compiles it (fused kernels,
no input gradients), feeds a random batch of ``--batch`` examples and runs
``--steps`` SGD steps (forward, backward, update of every trainable
Parameter, as the trainer runs it: :func:`graphlab.bench.training_step`)
under cProfile, after two warm-up steps. Prints

- the function calls a step makes: Python functions (graphlab, the
  generated code, NumPy's Python layer) and C functions (NumPy's ufuncs and
  array methods, builtins), per step;
- each function's calls, own time (tottime) and time with what it calls
  (cumtime) per step, the ``--top`` functions by own time;
- own time per step summed by where it is spent (the generated code, each
  graphlab module, NumPy's Python layer, C calls);
- NumPy ufunc calls per step by name (``np.maximum``, ``np.matmul``, …),
  counted in a separate run with each ``numpy.NAME`` ufunc wrapped: cProfile
  does not see ufunc calls nor array operators (``+``, ``@``, ``+=``,
  slicing), so their time is in the own time of the function that makes them
  (operators, and ufuncs kept under another name, stay uncounted);
- microseconds per step measured without the profiler (best of two runs of
  ``--steps`` steps), and with it (cProfile adds about a microsecond per
  call, so the profiled figures overstate Python calls against C work).
"""

import argparse
import cProfile
import os
import pstats
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import graphlab as gl  # noqa: E402
from graphlab.bench import random_feeds, time_steps, training_step  # noqa: E402
from graphlab.errors import GraphlabError  # noqa: E402

__all__ = ["main", "profile_step"]


def _program(path, batch):
    graph = gl.load(path)
    loss = (graph.train or {}).get("loss") if isinstance(graph.train, dict) else None
    if not loss:
        raise GraphlabError("the graph has no train section with a loss to profile: "
                            "add one (\"train\": {\"loss\": NODE}) or pick a sample "
                            "that trains")
    prog = gl.compile(graph, outputs=[loss], input_grads=False, fuse=True)
    if not prog.trainable:
        raise GraphlabError(f"nothing to train: the loss '{loss}' depends on no "
                            "trainable Parameter")
    return prog, random_feeds(graph, prog, batch, np.random.default_rng(0))


def _where(key):
    """The group of a pstats key ``(file, line, name)``."""
    file, _, name = key
    if file == "~":
        return "C calls (NumPy, builtins)"
    if file.startswith("<graphlab"):
        return "generated code"
    norm = file.replace(os.sep, "/")
    if "/graphlab/" in norm:
        return "graphlab/" + norm.rsplit("/graphlab/", 1)[1]
    if "/numpy/" in norm:
        return "NumPy (Python layer)"
    return "other Python"


def _label(key):
    file, line, name = key
    if file == "~":
        return name
    norm = file.replace(os.sep, "/")
    for mark in ("/graphlab/", "/site-packages/", "/lib/python"):
        if mark in norm:
            norm = norm.rsplit(mark, 1)[1]
            if mark == "/graphlab/":
                norm = "graphlab/" + norm
            break
    return f"{norm}:{line}({name})"


class _Counted:
    """A ufunc that counts its calls (everything else passes through)."""

    def __init__(self, ufunc, name, counts):
        self._ufunc, self._name, self._counts = ufunc, name, counts

    def __call__(self, *args, **kwargs):
        self._counts[self._name] += 1
        return self._ufunc(*args, **kwargs)

    def __getattr__(self, attr):
        return getattr(self._ufunc, attr)


def count_ufunc_calls(step, steps):
    """``{"np.NAME": calls per step}`` of ``steps`` calls of ``step()``, with the
    ufuncs of the ``numpy`` namespace swapped for counting wrappers meanwhile."""
    import collections
    counts = collections.Counter()
    saved = {n: f for n in dir(np) if isinstance(f := getattr(np, n), np.ufunc)}
    try:
        for n, f in saved.items():
            setattr(np, n, _Counted(f, n, counts))
        for _ in range(steps):
            step()
    finally:
        for n, f in saved.items():
            setattr(np, n, f)
    return {f"np.{n}": c / steps for n, c in counts.most_common()}


def profile_step(path, batch=1, steps=300, lr=1e-3):
    """Profile ``steps`` training steps of the graph at ``path``.

    Returns
    -------
    dict
        ``us_per_step`` (no profiler), ``profiled_us_per_step``,
        ``python_calls_per_step``, ``c_calls_per_step``, ``ufunc_calls``
        (:func:`count_ufunc_calls`), ``functions`` (a list
        of ``{"function", "where", "calls", "tottime_us", "cumtime_us"}`` per
        step, by own time, largest first) and ``by_where`` (``{group: own µs
        per step}``).
    """
    prog, feeds = _program(path, batch)
    unprofiled = time_steps(prog, feeds, steps, lr=lr)

    step = training_step(prog, feeds, lr)
    for _ in range(2):
        step()
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for _ in range(steps):
        step()
    prof.disable()
    profiled = (time.perf_counter() - t0) / steps
    stats = pstats.Stats(prof).stats
    rows, by_where = [], {}
    py_calls = c_calls = 0
    for key, (_, ncalls, tt, ct, _) in stats.items():
        if "_lsprof.Profiler" in key[2]:
            continue  # the profiler itself
        where = _where(key)
        if key[0] == "~":
            c_calls += ncalls
        else:
            py_calls += ncalls
        by_where[where] = by_where.get(where, 0.0) + tt / steps * 1e6
        rows.append({"function": _label(key), "where": where,
                     "calls": ncalls / steps, "tottime_us": tt / steps * 1e6,
                     "cumtime_us": ct / steps * 1e6})
    rows.sort(key=lambda r: -r["tottime_us"])
    ufuncs = count_ufunc_calls(step, min(steps, 20))
    return {"file": path, "batch_size": batch, "steps": steps,
            "us_per_step": unprofiled * 1e6, "profiled_us_per_step": profiled * 1e6,
            "python_calls_per_step": py_calls / steps,
            "c_calls_per_step": c_calls / steps, "ufunc_calls": ufuncs,
            "functions": rows,
            "by_where": dict(sorted(by_where.items(), key=lambda kv: -kv[1]))}


def report(res, top=25, out=sys.stdout):
    p = res
    print(f"{os.path.basename(p['file'])}: one SGD step at batch {p['batch_size']}, "
          f"{p['steps']} steps profiled", file=out)
    print(f"  {p['us_per_step']:,.0f} µs per step without the profiler "
          f"({1e6 / p['us_per_step']:,.0f} steps/s), {p['profiled_us_per_step']:,.0f}"
          f" µs with it", file=out)
    print(f"  function calls per step: {p['python_calls_per_step']:,.0f} Python, "
          f"{p['c_calls_per_step']:,.0f} C (NumPy methods and functions, "
          f"builtins), and {sum(p['ufunc_calls'].values()):,.0f} NumPy ufunc calls "
          "(not in the tables below; their time is in their caller's own time):",
          file=out)
    print("    " + ", ".join(f"{n} {c:g}" for n, c in p["ufunc_calls"].items()),
          file=out)
    print(f"\n{'calls':>7} {'own µs':>8} {'cum µs':>8}  function (per step, by own "
          "time)", file=out)
    for r in p["functions"][:top]:
        print(f"{r['calls']:>7.1f} {r['tottime_us']:>8.1f} {r['cumtime_us']:>8.1f}  "
              f"{r['function']}", file=out)
    total = sum(p["by_where"].values())
    print(f"\n{'own µs':>8} {'share':>6}  where", file=out)
    for where, us in p["by_where"].items():
        print(f"{us:>8.1f} {us / total:>6.1%}  {where}", file=out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", help="a .graph.json with a train section")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args(argv)
    if args.batch < 1 or args.steps < 1 or args.top < 0:
        ap.error("--batch and --steps must be at least 1, --top at least 0")
    try:
        res = profile_step(args.file, args.batch, args.steps)
    except GraphlabError as e:
        e.file = e.file or args.file
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {args.file}: {e.strerror or e}", file=sys.stderr)
        return 1
    report(res, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
