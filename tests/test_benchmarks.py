"""The scripts in benchmarks/ run and say what they measured.

Speed figures are not checked here (they live in benchmarks/, never in timed
tests): these runs are a step or two long. JAX and PyTorch parts run when
those are installed and must then report their columns.
"""

import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def script(name):
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(ROOT, "benchmarks", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def installed(name):
    return importlib.util.find_spec(name) is not None


def test_small_batch_target_rows(capsys):
    bench = script("bench_small_batch")
    assert bench.main(["--steps", "2", "--rounds", "1", "--json",
                       "--rows", "lenet", "lstm", "stepper"]) == 0
    rows = {r["key"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"lenet", "lstm", "stepper"}
    for key in ("lenet", "lstm"):
        r = rows[key]
        assert r["row"] == bench.NAMES[key] and r["graphlab_steps_per_s"] > 0
        torch_target = 2.0 if key == "lenet" else None
        for side, target in (("jax", 1.0), ("torch", torch_target)):
            if not installed(side):
                assert r[f"{side}_steps_per_s"] is None and r[f"vs_{side}"] is None
                assert side in r["missing"]
                continue
            assert r[f"{side}_steps_per_s"] > 0 and side not in r["missing"]
            ratio = r[f"vs_{side}"]
            assert ratio["min"] <= ratio["median"] <= ratio["max"]
            assert len(ratio["rounds"]) == 1
            assert ratio.get("target") == target
        if installed("jax"):
            # the same network: JAX's loss and gradients (LeNet) or carried
            # states (LSTM) match graphlab's, in each way JAX is timed
            variant = "jax_donated" if key == "lenet" else "jax_args"
            assert set(r["variants"]) == {variant}
            assert r["variants"][variant]["steps_per_s"] > 0
            for side in ("jax", variant):
                assert r[f"{side}_agrees"] is True and r[f"{side}_compile_s"] > 0
    s = rows["stepper"]
    assert s["recomputes"] == 2 and s["target_ms"] == 50.0
    assert 0 < s["unchecked_median_ms"] and 0 < s["median_ms"] <= s["max_ms"]


def test_small_batch_prints_a_table(capsys):
    bench = script("bench_small_batch")
    assert bench.main(["--steps", "2", "--rounds", "2", "--rows", "lstm",
                       "--no-jax", "--no-torch"]) == 0
    out = capsys.readouterr().out
    assert bench.NAMES["lstm"] in out and "(not installed)" in out


def test_profile_step_on_lenet5(capsys):
    prof = script("profile_step")
    lenet = os.path.join(ROOT, "samples", "lenet5.graph.json")
    assert prof.main([lenet, "--steps", "3", "--top", "5"]) == 0
    out = capsys.readouterr().out
    assert "µs per step without the profiler" in out and "generated code" in out
    res = prof.profile_step(lenet, batch=2, steps=3)
    assert res["us_per_step"] > 0 and res["python_calls_per_step"] > 10
    assert res["ufunc_calls"] and all(c > 0 for c in res["ufunc_calls"].values())
    where = {r["where"] for r in res["functions"]}
    assert "generated code" in where and "graphlab/program.py" in where
    forward = [r for r in res["functions"] if r["where"] == "generated code"
               and r["function"].endswith("(forward)")]
    assert len(forward) == 1 and forward[0]["calls"] == pytest.approx(1.0)
    import numpy as np
    assert isinstance(np.maximum, np.ufunc)  # the counting wrappers are gone


def test_profile_step_needs_a_train_section(capsys):
    prof = script("profile_step")
    path = os.path.join(ROOT, "samples", "neuron.graph.json")
    assert prof.main([path, "--steps", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: ") and len(err.strip().splitlines()) == 1
