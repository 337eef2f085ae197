"""A batch cut into chunks on threads: when it is exact, and that it is."""

import os
import threading

import numpy as np
import pytest

import graphlab as gl
from graphlab.bench import random_feeds
import graphlab.parallel
from graphlab.lower import lower
from graphlab.parallel import (BATCH, CONST, MEAN, SUM, BatchPlan, batch_plan,
                               chunk_slices, run_parallel)

from .conftest import SAMPLES, sample

SAMPLE_FILES = sorted(f for f in os.listdir(SAMPLES) if f.endswith(".graph.json"))


@pytest.fixture
def cut_always(monkeypatch):
    """Cut batches however little work each call does (these graphs are tiny)."""
    monkeypatch.setattr(graphlab.parallel, "MIN_GRAIN", 0)


def _mlp(loss_extra=None, batch="N"):
    """x → Linear → tanh → Linear → cross-entropy, plus an optional extra term."""
    b = gl.GraphBuilder("mlp")
    x = b.input("x", [batch, 6])
    y = b.input("y", [batch], dtype="int64")
    h = b.tanh(b.linear(x, 5, name="fc1"), name="h")
    logits = b.linear(h, 3, name="fc2")
    loss = b.cross_entropy_loss(logits, y, name="ce")
    if loss_extra is not None:
        loss = loss_extra(b, loss)
    b.output(loss, logits)
    return b.graph


def _feeds(n, seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=(n, 6)), "y": rng.integers(0, 3, n)}


def _same_run(graph, feeds, *, seed_grad=None, input_grads=True, rtol=1e-12,
              training=True):
    """Forward and backward uncut and cut over 2 workers: equal up to rounding."""
    progs = [gl.compile(graph, dtype="float64", workers=w, input_grads=input_grads,
                        training=training) for w in (1, 2)]
    outs = [p.forward(feeds) for p in progs]
    assert progs[1]._cuts is not None, progs[1].batch_plan()
    grads = [p.backward(seed_grad) for p in progs]
    assert outs[0].keys() == outs[1].keys() and grads[0].keys() == grads[1].keys()
    for k in outs[0]:
        assert outs[0][k].shape == outs[1][k].shape
        np.testing.assert_allclose(outs[1][k], outs[0][k], rtol=rtol, atol=1e-14)
    for k in grads[0]:
        assert grads[0][k].shape == grads[1][k].shape, k
        np.testing.assert_allclose(grads[1][k], grads[0][k], rtol=rtol, atol=1e-14)
    return progs[1]


# ---- which graphs cut -------------------------------------------------------------

def test_lenet_cuts_along_its_inputs_and_its_loss_is_a_mean():
    plan = batch_plan(lower(gl.load(sample("lenet5")), outputs=["loss", "fc3"]))
    assert isinstance(plan, BatchPlan)
    assert plan.symbol == "N" and plan.inputs == ("x", "y")
    assert plan.kind("loss") == MEAN and plan.kind("fc3") == BATCH
    assert plan.kind("conv1_w") == CONST


def test_graph_without_batch_dimension_is_not_cut(cs231n):
    assert "no Input has a batch dimension" in batch_plan(lower(cs231n))


def test_batchnorm_mixes_examples_only_while_training():
    b = gl.GraphBuilder("bn")
    x = b.input("x", ["N", 4])
    h = b.batchnorm(b.linear(x, 4, name="fc"), name="bn")
    b.output(b.mean(b.mul(h, h), name="loss"))
    why = batch_plan(lower(b.graph), training=True)
    assert isinstance(why, str) and "'bn'" in why and "batch statistics" in why
    assert isinstance(batch_plan(lower(b.graph), training=False), BatchPlan)


@pytest.mark.parametrize("build, culprit", [
    (lambda b, x: b.softmax(x, axis=0, name="s"), "'s'"),
    (lambda b, x: b.transpose(x, perm=[1, 0], name="t"), "'t'"),
    (lambda b, x: b.matmul(x, b.transpose(x, perm=[1, 0]), name="gram"), "'"),
    (lambda b, x: b.concat(x, x, axis=0, name="c"), "'c'"),
])
def test_ops_that_mix_examples_refuse_naming_the_node(build, culprit):
    b = gl.GraphBuilder("mix")
    x = b.input("x", ["N", 3])
    b.output(b.mean(build(b, x), name="loss"))
    why = batch_plan(lower(b.graph))
    assert isinstance(why, str) and culprit in why


def test_sum_over_batch_plus_mean_cannot_cut():
    g = _mlp(lambda b, loss: b.add(loss, b.sum(b.input("z", ["N", 2]), name="s"),
                                   name="total"))
    why = batch_plan(lower(g))
    assert "'total'" in why and "sum" in why


def test_ops_declare_how_they_treat_the_batch():
    for name in gl.op_names():
        op = gl.get_op(name)
        if op.family == "sources":
            continue
        how, ports = op.batching_for(op.resolve_attrs(_attrs_for(name)), True,
                                     [2] * len(op.inputs))
        assert how in ("map", "linear", "mean", "sum", None), name
        assert set(ports) <= set(op.input_ports), name


def _attrs_for(name):
    return {"Pow": {"exponent": 2}, "Maxout": {"pieces": 2}, "Transpose": {},
            "Reshape": {"shape": ["N", -1]}, "Concat": {"axis": 1},
            "MaxPool2D": {"kernel": 2}, "AvgPool2D": {"kernel": 2},
            "MaxUnpool2D": {"kernel": 2}, "Upsample2D": {"scale": 2}}.get(name, {})


# ---- cut runs equal uncut runs ----------------------------------------------------

@pytest.mark.parametrize("fname", SAMPLE_FILES)
def test_every_sample_cut_over_two_workers_matches_uncut(fname, cut_always):
    g = gl.load(os.path.join(SAMPLES, fname))
    loss = (g.train or {}).get("loss")
    outputs = [loss] + [o for o in g.outputs if o != loss] if loss else None
    progs = [gl.compile(g, dtype="float64", outputs=outputs, workers=w)
             for w in (1, 2)]
    if not isinstance(progs[1].batch_plan(), BatchPlan):
        pytest.skip(progs[1].batch_plan())
    feeds = random_feeds(g, progs[0], 100, np.random.default_rng(1))
    outs = [p.forward(feeds) for p in progs]
    grads = [p.backward() for p in progs]
    for k in outs[0]:
        np.testing.assert_allclose(outs[1][k], outs[0][k], rtol=1e-11, atol=1e-13)
    for k in grads[0]:
        np.testing.assert_allclose(grads[1][k], grads[0][k], rtol=1e-11, atol=1e-13)


def test_cut_batch_concatenates_outputs_and_input_gradients(cut_always):
    prog = _same_run(_mlp(), _feeds(70))
    assert len(prog._cuts) == 2
    assert prog.forward(_feeds(70))["fc2"].shape == (70, 3)
    assert prog.backward()["x"].shape == (70, 6)


def test_uneven_chunks_weigh_their_share_of_the_mean(cut_always):
    prog = _same_run(_mlp(), _feeds(157))  # 3 chunks: 52, 53, 52
    assert [s.stop - s.start for s in prog._cuts] == [52, 53, 52]


def test_penalty_on_a_weight_is_counted_once(cut_always):
    g = _mlp(lambda b, loss: b.add(loss, b.l2_penalty("fc1_w", weight=0.3, name="pen"),
                                   name="total"))
    plan = batch_plan(lower(g))
    assert plan.kind("pen") == CONST and plan.kind("total") == MEAN
    _same_run(g, _feeds(64))


def test_loss_scaled_by_a_constant_stays_a_mean(cut_always):
    g = _mlp(lambda b, loss: b.mul(loss, b.constant(2.5), name="scaled"))
    _same_run(g, _feeds(64))


def test_sum_over_the_batch_adds_up_chunk_sums(cut_always):
    b = gl.GraphBuilder("sum")
    x = b.input("x", ["N", 6])
    h = b.tanh(b.linear(x, 4, name="fc"))
    b.output(b.sum(b.mul(h, h), name="loss"))
    assert batch_plan(lower(b.graph)).kind("loss") == SUM
    _same_run(b.graph, {"x": np.random.default_rng(0).normal(size=(64, 6))})


def test_batch_shaped_output_with_a_seed_gradient(cut_always):
    b = gl.GraphBuilder("seeded")
    x = b.input("x", ["N", 6])
    b.output(b.tanh(b.linear(x, 4, name="fc"), name="h"))
    seed = np.random.default_rng(2).normal(size=(64, 4))
    _same_run(b.graph, {"x": np.random.default_rng(0).normal(size=(64, 6))},
              seed_grad=seed)


def test_batchnorm_in_evaluation_mode_cuts(cut_always):
    b = gl.GraphBuilder("bn")
    x = b.input("x", ["N", 4])
    h = b.batchnorm(b.linear(x, 4, name="fc"), name="bn")
    b.output(b.mean(b.mul(h, h), name="loss"))
    _same_run(b.graph, {"x": np.random.default_rng(0).normal(size=(64, 4))},
              training=False)


def test_small_batches_and_fine_grained_graphs_are_not_cut():
    prog = gl.compile(_mlp(), workers=2)
    prog.forward(_feeds(20))  # under two chunks of 16
    assert prog._cuts is None
    assert chunk_slices(64, 2, grain=10.0) is None  # 320 elements a call
    assert chunk_slices(64, 2, grain=1000.0) is not None
    assert chunk_slices(64, 1) is None


def test_chunk_sizes():
    assert [s.stop - s.start for s in chunk_slices(256, 2)] == [64] * 4
    assert [s.stop - s.start for s in chunk_slices(64, 2)] == [32, 32]
    assert [s.stop - s.start for s in chunk_slices(40, 4)] == [20, 20]
    cuts = chunk_slices(1000, 2)
    assert cuts[0].start == 0 and cuts[-1].stop == 1000
    assert all(a.stop == b.start for a, b in zip(cuts, cuts[1:]))
    assert max(s.stop - s.start for s in cuts) <= 64


def test_dropout_masks_are_reproducible_per_chunk(cut_always):
    b = gl.GraphBuilder("drop")
    x = b.input("x", ["N", 6])
    h = b.dropout(b.linear(x, 300, name="fc"), p=0.5, name="drop")
    b.output(b.mean(b.mul(h, h), name="loss"))
    feeds = {"x": np.ones((64, 6))}
    runs = []
    for _ in range(2):
        prog = gl.compile(b.graph, workers=2, seed=3, outputs=["loss", "drop"])
        runs.append(prog.forward(feeds)["drop"])
    np.testing.assert_array_equal(runs[0], runs[1])
    # The chunks draw different masks: the halves are not copies of each other.
    assert not np.array_equal(runs[0][:32] != 0, runs[0][32:] != 0)


def test_nonfinite_value_in_a_chunk_names_the_node():
    b = gl.GraphBuilder("log")
    x = b.input("x", ["N", 4000])
    b.output(b.mean(b.log(x, name="lg"), name="loss"))
    prog = gl.compile(b.graph, workers=2)
    x = np.ones((64, 4000))
    x[40, 7] = -1.0  # in the second chunk
    with pytest.raises(gl.ExecutionError) as e:
        prog.forward({"x": x})
    assert e.value.node == "lg"


def test_run_parallel_keeps_order_and_uses_threads():
    seen = set()

    def task(i):
        seen.add(threading.get_ident())
        return i * i

    out = run_parallel([lambda i=i: task(i) for i in range(7)], 2)
    assert out == [i * i for i in range(7)]
    assert threading.get_ident() in seen  # the caller takes a share


def test_run_parallel_raises_what_a_task_raised():
    def boom():
        raise ValueError("chunk 1 failed")

    with pytest.raises(ValueError, match="chunk 1 failed"):
        run_parallel([lambda: 1, boom, lambda: 3], 2)
