"""Batch-1 speed of graphlab's generated code against JAX ``jit`` and PyTorch eager.

    python benchmarks/bench_small_batch.py [--rounds 7] [--steps N] [--json]
        [--rows lenet lstm char_rnn stepper] [--large] [--gui]

Batch 1 is what the interactive parts run (issue 21): per-step overhead, not
arithmetic, is what costs there. Rows, all in float32 on the CPU:

- ``LeNet-5 SGD step, B=1`` (targets: ≥ 1.0× JAX, ≥ 2.0× PyTorch eager):
  ``samples/lenet5.graph.json`` compiled as the trainer compiles it (fused
  kernels, no input gradients), one step = forward, backward and an SGD update
  of every trainable Parameter (:func:`graphlab.bench.time_steps`). JAX: the
  same network (upsample ×4, conv 6@5×5, ReLU, max-pool 2, conv 16@5×5, ReLU,
  max-pool 2, 120, 84, 10, mean cross-entropy) as one ``jax.jit`` of
  ``value_and_grad`` and the update, started from graphlab's parameter values
  (the loss and gradients are compared once: ``agrees``); also timed with the
  parameters' buffers donated to the update (``donate_argnums``, printed
  below the table). PyTorch: the LeNet of ``bench_executor.py`` in eager mode
  (zero_grad, forward, backward, ``optim.SGD.step``).
- ``LSTM step, H=128, B=1, state carried`` (target: ≥ 1.0× JAX): an LSTM
  8→128 over one time step, inference only, the h and c it returns fed back as
  h0 and c0 of the next step (the generation loop's unit of work), compiled
  and frozen as :class:`graphlab.generate.Generator` runs it. JAX: a
  ``jit`` of the cell (gates i, f, g, o as PyTorch orders them) with the
  weights closed over, so that XLA compiles them in as constants (the weights
  passed as arguments are timed too and printed below the table); PyTorch:
  ``nn.LSTMCell(8, 128)`` under ``no_grad``.
- JAX holds its Linear and LSTM weights in × out (``x @ w``), as JAX code
  does: graphlab's out × in weights transposed once, contiguous. Given as
  ``w.T`` views, XLA transposes them on every call, 3–4× slower at batch 1.
- ``char_rnn generation step`` (informative): ``Generator.step`` on
  ``samples/char_rnn.graph.json`` (Embedding 65×32 → LSTM 32→128 → Linear 65)
  against a JAX ``jit`` of the same network and weights (as constants, and
  as arguments).
- ``stepper recompute after an edit`` (target: < 50 ms): what the chain-rule
  stepper's Recompute runs in the core (``graph.analyse()`` then
  :func:`graphlab.explain`) on the LeNet-5 sample after its conv1 padding is
  toggled between 1 and 0; milliseconds per recompute, the first explanation
  (opening the stepper, SymPy's derivatives not yet cached) apart.
  ``--gui``: the same through the editor offscreen (attribute edit by the
  editor's undoable command, then the Recompute button and the repaint).
- ``--large``: graphlab's LeNet-5 steps at batch 64 and 256, to check for
  regressions in the same run (the comparison with PyTorch at those sizes is
  ``bench_executor.py``'s).

How the sides are compared (the method of ``bench_executor.py``): in each of
``--rounds`` rounds every side times two runs of ``--steps`` steps, one side
right after the other, and keeps its faster run; the order alternates
(graphlab first in even rounds, last in odd ones). A round's ratio is the
other side's time per step over graphlab's (above 1: graphlab is faster);
printed are the median of the rounds' ratios with their minimum and maximum,
and each side's median steps per second. Every side is warmed up before it is
timed; JAX's first call (tracing and XLA compilation) is timed on its own and
reported as its compile time. A JAX run ends with ``block_until_ready`` on
its last result (its calls are asynchronous). JAX and PyTorch are optional:
without them their columns say "(not installed)". PyTorch runs on
``--torch-threads`` threads (2, as in ``bench_executor.py``); under outside
load its OpenMP threads can collapse to a few steps per second at batch 1,
where one thread is as fast and does not. On a shared machine all sides swing
by 15 % or more from minute to minute: compare only within a run.
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import graphlab as gl  # noqa: E402
from graphlab.bench import random_feeds, time_steps  # noqa: E402

__all__ = ["main", "paired", "ROWS"]

LENET = os.path.join(ROOT, "samples", "lenet5.graph.json")
CHAR_RNN = os.path.join(ROOT, "samples", "char_rnn.graph.json")
ROWS = ("lenet", "lstm", "char_rnn", "stepper")
NAMES = {"lenet": "LeNet-5 SGD step, B=1",
         "lstm": "LSTM step, H=128, B=1, state carried",
         "char_rnn": "char_rnn generation step",
         "stepper": "stepper recompute after an edit (LeNet-5)",
         "gui": "stepper recompute through the editor (--gui)"}
TARGETS = {"lenet": {"vs_jax": 1.0, "vs_torch": 2.0}, "lstm": {"vs_jax": 1.0}}
STEPS = {"lenet": 200, "lstm": 2000, "char_rnn": 1000, "large": 20, "stepper": 10}
MISSING = "(not installed)"
CONTENDERS = {"lenet": ("jax", "torch"), "lstm": ("jax", "torch"), "char_rnn": ("jax",)}
VARIANTS = {"jax_donated": "JAX jit with the parameters' buffers donated",
            "jax_args": "JAX jit with the weights as arguments, not constants"}


# ---- timing -------------------------------------------------------------------------
def best_of_two(step, steps, warmup=2, finish=None):
    """Seconds per call of ``step()``: the faster of two runs of ``steps`` calls.

    ``finish(result)``, when given, runs on the last call's result before the
    clock stops (JAX: wait for the asynchronous computation).
    """
    out = None
    for _ in range(warmup):
        out = step()
    if finish is not None:
        finish(out)
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        for _ in range(steps):
            out = step()
        if finish is not None:
            finish(out)
        best = min(best, (time.perf_counter() - t0) / steps)
    return best


def paired(sides, rounds):
    """Time ``sides`` (``{name: () -> seconds per step}``, graphlab first) in
    interleaved rounds; returns ``{name: [seconds per step, one per round]}``.

    Even rounds run the sides in the given order, odd rounds in reverse, so
    graphlab alternates between going first and last.
    """
    names = list(sides)
    times = {n: [] for n in names}
    for i in range(rounds):
        for n in (names if i % 2 == 0 else names[::-1]):
            times[n].append(sides[n]())
    return times


def _ratios(theirs, ours, target=None):
    r = [t / o for t, o in zip(theirs, ours)]
    out = {"median": float(np.median(r)), "min": min(r), "max": max(r),
           "rounds": [round(x, 3) for x in r]}
    if target is not None:
        out.update(target=target, met=out["median"] >= target)
    return out


# ---- optional contenders ------------------------------------------------------------
def load_jax():
    """The ``jax`` module on the CPU with its warnings silenced, or None."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import logging
    import warnings
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import jax
    except ImportError:
        return None
    jax.config.update("jax_platforms", "cpu")
    warnings.filterwarnings("ignore", module="jax")
    logging.getLogger("jax").setLevel(logging.ERROR)
    return jax


def load_torch(threads=2):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)  # 2 as in bench_executor.py
    return torch


def _compile_time(fn, *args):
    """Run the first (compiling) call of a jitted ``fn``; ``(result, seconds)``."""
    import jax
    t0 = time.perf_counter()
    out = fn(*args)
    jax.block_until_ready(out)
    return out, time.perf_counter() - t0


def _block(out):
    import jax
    jax.block_until_ready(out)


def _close(a, b, rtol=1e-3):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(float(np.abs(b).max()), 1e-6)
    return float(np.abs(a - b).max()) <= rtol * scale


# ---- LeNet-5 at batch 1 --------------------------------------------------------------
def jax_lenet_step(jax, lr=1e-3):
    """``(step, loss)`` of the LeNet-5 sample's network, to be jitted:
    ``step(params, x, y) -> (params, loss)`` (value_and_grad and the SGD
    update) and ``loss(params, x, y)``; params keyed like graphlab's, conv
    weights OIHW, Linear weights in × out as JAX code keeps them (``x @ w``:
    graphlab's out × in, transposed once by :func:`jax_params`)."""
    import jax.numpy as jnp
    from jax import lax
    dn = ("NCHW", "OIHW", "NCHW")

    def conv_relu_pool(x, w, b):
        x = lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=dn)
        x = jax.nn.relu(x + b[None, :, None, None])
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2),
                                 "VALID")

    def loss(p, x, y):
        x = jnp.repeat(jnp.repeat(x, 4, axis=2), 4, axis=3)
        x = conv_relu_pool(x, p["conv1_w"], p["conv1_b"])
        x = conv_relu_pool(x, p["conv2_w"], p["conv2_b"])
        x = x.reshape(x.shape[0], -1)
        x = jax.nn.relu(x @ p["fc1_w"] + p["fc1_b"])
        x = jax.nn.relu(x @ p["fc2_w"] + p["fc2_b"])
        logits = x @ p["fc3_w"] + p["fc3_b"]
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    def step(p, x, y):
        value, grads = jax.value_and_grad(loss)(p, x, y)
        return jax.tree.map(lambda a, g: a - lr * g, p, grads), value

    return step, loss


def _loop(fn, carry, args):
    """``run()`` for :func:`best_of_two`: ``out = fn(*args(), *carry)``, whose
    last ``len(carry)`` items are the next carry; returns ``out[0]`` (what
    JAX's timing waits on)."""
    n = len(carry)
    state = {"carry": tuple(carry)}

    def run():
        out = fn(*args(), *state["carry"])
        state["carry"] = tuple(out[-n:])
        return out[0]

    return run


def lenet_sides(steps, jax, torch, batch=1):
    """``(sides, info)`` of the batch-1 LeNet-5 row. JAX twice: as the issue
    measured it (``jax``), and with the parameters' buffers donated to the
    update (``jax_donated``, ``donate_argnums``)."""
    graph = gl.load(LENET)
    prog = gl.compile(graph, outputs=["loss"], input_grads=False, fuse=True)
    feeds = random_feeds(graph, prog, batch, np.random.default_rng(0))
    info = {}
    sides = {"graphlab": lambda: time_steps(prog, feeds, steps)}
    if jax is not None:
        import jax.numpy as jnp
        update, loss_fn = jax_lenet_step(jax)
        x, y = jnp.asarray(feeds["x"]), jnp.asarray(feeds["y"].astype(np.int32))

        def params():
            return jax_params(prog.params)

        # One look at the same point: the loss and every gradient must agree.
        loss = float(prog.forward(feeds)["loss"])
        grads = prog.backward()
        jloss, jgrads = jax.jit(jax.value_and_grad(loss_fn))(params(), x, y)
        info["jax_agrees"] = bool(_close(jloss, loss) and all(
            _close(jgrads[k], _jax_layout(k, grads[k])) for k in prog.trainable))
        first = None  # the plain jit's first update
        for side, jitted in (("jax", jax.jit(update)),
                             ("jax_donated", jax.jit(update, donate_argnums=0))):
            (p, _), info[f"{side}_compile_s"] = _compile_time(jitted, params(), x, y)
            if first is None:
                first = {k: np.array(v) for k, v in p.items()}
            else:
                info[f"{side}_agrees"] = all(_close(p[k], first[k]) for k in p)
            run = _loop(lambda p, f=jitted: (f(p, x, y)[0],), (p,), tuple)
            sides[side] = lambda run=run: best_of_two(run, steps, finish=_block)
    if torch is not None:
        from bench_executor import torch_lenet, torch_sgd_step
        torch_step = torch_sgd_step(torch_lenet(), (1, 8, 8), batch)
        sides["torch"] = lambda: best_of_two(torch_step, steps)
    return sides, info


# ---- one LSTM step, state carried ----------------------------------------------------
def lstm_step_graph(hidden=128, features=8):
    """x (N, 1, F), h0 and c0 (N, H) → LSTM; outputs ``lstm:h`` and ``lstm:c``."""
    b = gl.GraphBuilder(f"LSTM step {features}→{hidden}")
    x = b.input("x", ["N", 1, features])
    h0 = b.input("h0", ["N", hidden])
    c0 = b.input("c0", ["N", hidden])
    b.lstm(x, hidden, h0=h0, c0=c0, name="lstm")
    b.graph.set_outputs(["lstm:h", "lstm:c"])
    return b.graph


def jax_lstm_cell(jax):
    """``cell(p, x, h, c) -> (h, c)`` (gates i, f, g, o), not jitted; ``p``
    as :func:`_lstm_params` gives it."""
    import jax.numpy as jnp

    def cell(p, x, h, c):
        z = x @ p["k_ih"] + h @ p["k_hh"] + p["b"]
        i, f, g, o = jnp.split(z, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        return jax.nn.sigmoid(o) * jnp.tanh(c), c

    return cell


def _jax_layout(name, value):
    """A graphlab parameter as the JAX code holds it: Linear weights (2-D,
    out × in) transposed to in × out, the rest as they are."""
    return value.T if value.ndim == 2 else value


def jax_params(params):
    """``{name: jax array}`` of graphlab's ``params`` in JAX's layout, copied
    contiguous once (weights kept as ``w.T`` views would be transposed by XLA
    on every call: 3–4× slower at batch 1)."""
    import jax.numpy as jnp
    return {k: jnp.asarray(np.ascontiguousarray(_jax_layout(k, v)))
            for k, v in params.items()}


def _lstm_params(prog, layer):
    """The LSTM ``layer``'s weights for :func:`jax_lstm_cell`: the kernels in ×
    4H (graphlab's 4H × in transposed once) and the two biases summed."""
    import jax.numpy as jnp
    w = {port: prog.params[f"{layer}_{port}"] for port in ("w_ih", "w_hh")}
    b = prog.params[f"{layer}_b_ih"] + prog.params[f"{layer}_b_hh"]
    return {"k_ih": jnp.asarray(np.ascontiguousarray(w["w_ih"].T)),
            "k_hh": jnp.asarray(np.ascontiguousarray(w["w_hh"].T)),
            "b": jnp.asarray(b)}


def lstm_sides(steps, jax, torch, hidden=128, features=8):
    graph = lstm_step_graph(hidden, features)
    # Frozen, as graphlab.generate.Generator runs its step program: the
    # Parameters are constants, the LSTM's stacked weights kept between calls.
    prog = gl.compile(graph, training=False, grad=False,
                      outputs=["lstm:h", "lstm:c"]).freeze()
    rng = np.random.default_rng(0)
    x = rng.random((1, 1, features), dtype=np.float32)
    zeros = np.zeros((1, hidden), np.float32)
    state = {"h": zeros, "c": zeros}

    def ours():
        out = prog.forward({"x": x, "h0": state["h"], "c0": state["c"]})
        state["h"], state["c"] = out["lstm:h"], out["lstm:c"]

    info = {}
    sides = {"graphlab": lambda: best_of_two(ours, steps)}
    if jax is not None:
        import jax.numpy as jnp
        cell = jax_lstm_cell(jax)
        p = _lstm_params(prog, "lstm")
        jx = jnp.asarray(x[:, 0])
        variants = (("jax", jax.jit(lambda x, h, c: cell(p, x, h, c)), lambda: (jx,)),
                    ("jax_args", jax.jit(cell), lambda: (p, jx)))
        h, c = zeros, zeros
        for _ in range(3):
            out = prog.forward({"x": x, "h0": h, "c0": c})
            h, c = np.array(out["lstm:h"]), np.array(out["lstm:c"])
        for side, step, args in variants:
            (jh, jc), info[f"{side}_compile_s"] = _compile_time(step, *args(), zeros,
                                                                zeros)
            for _ in range(2):
                jh, jc = step(*args(), jh, jc)
            info[f"{side}_agrees"] = bool(_close(jh, h) and _close(jc, c))
            run = _loop(step, (zeros, zeros), args)
            sides[side] = lambda run=run: best_of_two(run, steps, finish=_block)
    if torch is not None:
        cell_t = torch.nn.LSTMCell(features, hidden)
        tx = torch.from_numpy(x[:, 0])
        tstate = {"h": torch.zeros(1, hidden), "c": torch.zeros(1, hidden)}

        def torch_step():
            with torch.no_grad():
                tstate["h"], tstate["c"] = cell_t(tx, (tstate["h"], tstate["c"]))

        sides["torch"] = lambda: best_of_two(torch_step, steps)
    return sides, info


# ---- char_rnn generation step --------------------------------------------------------
def char_rnn_sides(steps, jax, torch):
    from graphlab.generate import Generator
    gen = Generator(gl.load(CHAR_RNN))
    prog = gen.step_program
    vocab = prog.params["embed_w"].shape[0]
    tokens = [(7 * i + 3) % vocab for i in range(64)]
    state = {"s": gen.initial_state(), "i": 0}

    def ours():
        _, state["s"] = gen.step(tokens[state["i"] % 64], state["s"])
        state["i"] += 1

    info = {}
    sides = {"graphlab": lambda: best_of_two(ours, steps)}
    if jax is not None:
        import jax.numpy as jnp
        cell = jax_lstm_cell(jax)

        def net(p, tok, h, c):
            h, c = cell(p["lstm"], p["embed_w"][tok], h, c)
            return (h @ p["fc_k"] + p["fc_b"])[0], h, c

        p = {"embed_w": jnp.asarray(prog.params["embed_w"]),
             "fc_k": jnp.asarray(np.ascontiguousarray(prog.params["fc_w"].T)),
             "fc_b": jnp.asarray(prog.params["fc_b"]),
             "lstm": _lstm_params(prog, "lstm")}
        jtok = [jnp.asarray([t], jnp.int32) for t in tokens]
        z = jnp.zeros((1, gen.hidden))
        s, ours_logits = gen.initial_state(), None
        for t in range(3):
            ours_logits, s = gen.step(tokens[t], s)
        count = {"i": 0}

        def token():
            count["i"] += 1
            return jtok[count["i"] % 64]

        variants = (("jax", jax.jit(lambda tok, h, c: net(p, tok, h, c)),
                     lambda: (token(),)),
                    ("jax_args", jax.jit(net), lambda: (p, token())))
        for side, step, args in variants:
            count["i"] = -1
            (logits, h, c), info[f"{side}_compile_s"] = _compile_time(
                step, *args(), z, z)
            for _ in range(2):
                logits, h, c = step(*args(), h, c)
            info[f"{side}_agrees"] = bool(_close(logits, ours_logits))
            run = _loop(step, (z, z), args)
            sides[side] = lambda run=run: best_of_two(run, steps, finish=_block)
    return sides, info


# ---- the chain-rule stepper after an edit --------------------------------------------
def _toggle_padding(graph, i):
    graph.set_attr("conv1", "padding", 1 if i % 2 == 0 else None)


def stepper_core(recomputes, check=True):
    """Milliseconds of ``graph.analyse()`` + ``gl.explain(graph)`` on LeNet-5:
    ``(first, [one per recompute after an edit])``. ``check=False``: without
    the check of every backward formula against the interpreter (the
    stepper checks)."""
    graph = gl.load(LENET)
    t0 = time.perf_counter()
    graph.analyse()
    ex = gl.explain(graph, check=check)
    first = (time.perf_counter() - t0) * 1e3
    n_steps = len(ex.steps)
    times = []
    for i in range(recomputes):
        _toggle_padding(graph, i)
        t0 = time.perf_counter()
        graph.analyse()
        ex = gl.explain(graph, check=check)
        times.append((time.perf_counter() - t0) * 1e3)
        assert len(ex.steps) == n_steps
    return first, times


def stepper_gui(recomputes):
    """The same through ``gui.MainWindow`` offscreen: the editor's attribute
    command, then the Recompute button and the events (repaint) it queued."""
    import tempfile
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("GRAPHLAB_GUI_HOME", tempfile.mkdtemp(prefix="glbench-"))
    sys.path.insert(0, ROOT)
    from gui.app import make_app
    from gui.window import MainWindow
    app = make_app()
    w = MainWindow(LENET, recover=False)
    w.ask_save_changes = lambda: "discard"
    w.resize(1400, 900)
    w.show()
    app.processEvents()
    t0 = time.perf_counter()
    st = w.open_stepper()
    app.processEvents()
    first = (time.perf_counter() - t0) * 1e3
    times = []
    for i in range(recomputes):
        w.editor.set_attr("conv1", "padding", 1 if i % 2 == 0 else 0, merge=False)
        app.processEvents()
        assert st.stale
        t0 = time.perf_counter()
        st.recompute_button.click()
        app.processEvents()
        times.append((time.perf_counter() - t0) * 1e3)
        assert not st.stale and st.explanation is not None
    w.close()
    return first, times


# ---- rows ---------------------------------------------------------------------------
def speed_row(key, sides, info, rounds, steps):
    """One row: each side's median steps per second and the ratios; a
    contender of the row that is not installed has ``None`` (``missing``)."""
    times = paired(sides, rounds)
    ours = times["graphlab"]
    row = {"row": NAMES[key], "key": key, "batch_size": 1, "steps": steps,
           "rounds": rounds,
           "graphlab_steps_per_s": 1.0 / float(np.median(ours))}
    targets = TARGETS.get(key, {})
    for side in ("jax", "torch"):
        if side in times:
            row[f"{side}_steps_per_s"] = 1.0 / float(np.median(times[side]))
            row[f"vs_{side}"] = _ratios(times[side], ours, targets.get(f"vs_{side}"))
        else:
            row[f"{side}_steps_per_s"] = None
            row[f"vs_{side}"] = None
    row["missing"] = [s for s in CONTENDERS[key] if s not in times]
    row["variants"] = {
        side: {"label": VARIANTS[side],
               "steps_per_s": 1.0 / float(np.median(times[side])),
               "vs": _ratios(times[side], ours)}
        for side in times if side in VARIANTS}
    row.update(info)
    return row


def large_rows(rounds, steps):
    graph = gl.load(LENET)
    rows = []
    for batch in (64, 256):
        prog = gl.compile(graph, outputs=["loss"], input_grads=False, fuse=True)
        feeds = random_feeds(graph, prog, batch, np.random.default_rng(0))
        t = [time_steps(prog, feeds, steps) for _ in range(rounds)]
        s = float(np.median(t))
        rows.append({"row": f"LeNet-5 SGD step, B={batch} (graphlab only)",
                     "key": f"lenet{batch}", "batch_size": batch, "steps": steps,
                     "rounds": rounds, "graphlab_steps_per_s": 1.0 / s,
                     "graphlab_examples_per_s": batch / s})
    return rows


def stepper_row(key, first, times):
    return {"row": NAMES[key], "key": key, "first_ms": first,
            "median_ms": statistics.median(times), "max_ms": max(times),
            "recomputes": len(times), "target_ms": 50.0,
            "met": statistics.median(times) < 50.0}


def _ratio_text(r, missing):
    if r is None:
        return f"{MISSING if missing else '—':>26}"
    mark = "" if "met" not in r else (" ok" if r["met"] else " MISS")
    return f"{r['median']:>6.2f}× ({r['min']:.2f}–{r['max']:.2f}){mark:<5}".rjust(26)


def _speed(v, missing):
    if v is None:
        return f"{MISSING if missing else '—':>16}"
    return f"{v:>16,.0f}"


def report(rows, out=sys.stdout):
    speed = [r for r in rows if "vs_jax" in r]
    if speed:
        print(f"{'steps per second':<40}{'graphlab':>16}{'JAX jit':>16}"
              f"{'PyTorch eager':>16}{'graphlab vs JAX':>26}{'vs PyTorch':>26}",
              file=out)
        for r in speed:
            gone = r["missing"]
            print(f"{r['row']:<40}{_speed(r['graphlab_steps_per_s'], False)}"
                  f"{_speed(r['jax_steps_per_s'], 'jax' in gone)}"
                  f"{_speed(r['torch_steps_per_s'], 'torch' in gone)}"
                  f"{_ratio_text(r['vs_jax'], 'jax' in gone)}"
                  f"{_ratio_text(r['vs_torch'], 'torch' in gone)}", file=out)
        for r in speed:
            if "jax_compile_s" not in r:
                continue
            print(f"  {r['row']}: JAX compile (first call) "
                  f"{r['jax_compile_s'] * 1e3:,.0f} ms; same loss and gradients or "
                  f"values as graphlab: {'yes' if r['jax_agrees'] else 'NO'}",
                  file=out)
            for side, v in r["variants"].items():
                vs = v["vs"]
                spread = f"{vs['min']:.2f}–{vs['max']:.2f}"
                print(f"    {v['label']}: {v['steps_per_s']:,.0f} steps/s, graphlab "
                      f"vs it {vs['median']:.2f}× ({spread}); compile "
                      f"{r[side + '_compile_s'] * 1e3:,.0f} ms"
                      + ("" if r.get(side + "_agrees", True) else "; values DIFFER"),
                      file=out)
        print("  ratios: median (min–max) of the paired rounds; > 1 means graphlab "
              "is faster. Targets: LeNet ≥ 1.0× JAX and ≥ 2.0× PyTorch, "
              "LSTM ≥ 1.0× JAX.", file=out)
    for r in rows:
        if "graphlab_examples_per_s" in r:
            print(f"{r['row']:<40}{r['graphlab_steps_per_s']:>16,.1f} steps/s "
                  f"{r['graphlab_examples_per_s']:>10,.0f} examples/s", file=out)
    for r in rows:
        if "median_ms" in r:
            print(f"{r['row']:<48} median {r['median_ms']:6.1f} ms, max "
                  f"{r['max_ms']:6.1f} ms over {r['recomputes']} (target < 50 ms: "
                  f"{'ok' if r['met'] else 'MISS'}); first explanation "
                  f"{r['first_ms']:.0f} ms", file=out)
            if "unchecked_median_ms" in r:
                print(f"  of which the check of each backward formula against the "
                      f"interpreter: without it (explain(check=False)) median "
                      f"{r['unchecked_median_ms']:.1f} ms", file=out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7,
                   help="interleaved rounds per row (median of their ratios)")
    p.add_argument("--steps", type=int, default=None,
                   help="steps per timed run (default per row: "
                        + ", ".join(f"{k} {v}" for k, v in STEPS.items()) + ")")
    p.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS))
    p.add_argument("--large", action="store_true",
                   help="also graphlab's LeNet-5 at batch 64 and 256")
    p.add_argument("--gui", action="store_true",
                   help="also the stepper's recompute through the editor offscreen")
    p.add_argument("--no-jax", action="store_true", help="leave JAX out")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    p.add_argument("--torch-threads", type=int, default=2,
                   help="torch.set_num_threads (default 2, as bench_executor.py)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.rounds < 1 or (args.steps is not None and args.steps < 1):
        p.error("--rounds and --steps must be at least 1")
    jax = None if args.no_jax else load_jax()
    torch = None if args.no_torch else load_torch(args.torch_threads)

    def steps(key):
        return args.steps or STEPS[key]

    builders = {"lenet": lambda: lenet_sides(steps("lenet"), jax, torch),
                "lstm": lambda: lstm_sides(steps("lstm"), jax, torch),
                "char_rnn": lambda: char_rnn_sides(steps("char_rnn"), jax, torch)}
    rows = []
    for key in args.rows:
        if key in builders:
            sides, info = builders[key]()
            rows.append(speed_row(key, sides, info, args.rounds, steps(key)))
    if args.large:
        rows += large_rows(args.rounds, steps("large"))
    if "stepper" in args.rows:
        row = stepper_row("stepper", *stepper_core(steps("stepper")))
        _, unchecked = stepper_core(steps("stepper"), check=False)
        row["unchecked_median_ms"] = statistics.median(unchecked)
        rows.append(row)
    if args.gui:
        rows.append(stepper_row("gui", *stepper_gui(steps("stepper"))))
    if args.json:
        print(json.dumps(rows))
    else:
        report(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
