"""Fusion in the lowering: which chains fuse, and that fused programs give the
unfused programs' numbers (forward, every gradient, ties included)."""

import glob
import os
import subprocess
import sys

import numpy as np
import pytest

import graphlab as gl
from graphlab.errors import GraphError
from graphlab.fuse import FusedStep
from graphlab.lower import lower
from graphlab.ops import get_op, op_names
from graphlab.ops import fused
from graphlab.ops.fused import _ACTIVATIONS, _conv_pool_phased
from graphlab.parallel import BatchPlan, chunk_slices
from graphlab.testing import example_feeds

from .conftest import ROOT, SAMPLES, sample

RTOL = 1e-10


@pytest.fixture(params=["strided", "gather"])
def both_paths(request, monkeypatch):
    """Run the fused kernels both ways: strided copies and adds (many values), and
    one gather and one bincount (few values: ``fused.FEW``)."""
    monkeypatch.setattr(fused, "FEW", -1 if request.param == "strided" else 10 ** 9)
    return request.param


# ---- graphs ----------------------------------------------------------------------

def conv_pool_graph(*, C=2, H=10, W=10, O=3, kernel=3, stride=1, padding=0,
                    dilation=1, bias=True, act="relu", pool=2, pool_stride=None,
                    pool_padding=0, pool_op="MaxPool2D", extra=None):
    """x → conv → [act →] pool (max or avg), the pool the output; ``extra`` may
    add readers of the chain's inner values (a function of the builder and refs)."""
    b = gl.GraphBuilder("conv pool")
    x = b.input("x", ["N", C, H, W])
    h = conv = b.conv2d(x, O, kernel, stride=stride, padding=padding,
                        dilation=dilation, bias=bias, name="conv")
    if act == "relu":
        h = b.relu(conv, name="act")
    elif act:
        h = b.op(act, conv, name="act")
    p = b.op(pool_op, h, kernel=pool, stride=pool_stride,
             padding=pool_padding or None, name="pool")
    outputs = [p]
    if extra:
        outputs += extra(b, {"x": x, "conv": conv, "act": h, "pool": p}) or []
    b.output(*outputs)
    return b.build()


def fused_nodes(graph, **kw):
    """The node lists of the fused steps of ``graph``'s schedule."""
    sched = lower(graph, fuse=True, **kw)
    return [s.fused for s in sched.forward if isinstance(s, FusedStep)]


def set_params(progs, rng, integers=False):
    """The same random values (biases included) in every program's Parameters."""
    for name, value in progs[0].params.items():
        new = (rng.integers(-1, 2, value.shape) if integers
               else rng.standard_normal(value.shape))
        for prog in progs:
            prog.params[name][...] = new


def run_both(graph, feeds, rng, *, input_grads=True, integers=False, outputs=None):
    """Forward outputs and gradients, unfused and fused, with a random seed
    gradient on the first output."""
    progs = [gl.compile(graph, dtype="float64", fuse=f, input_grads=input_grads,
                        outputs=outputs) for f in (False, True)]
    assert not any(isinstance(s, FusedStep) for s in progs[0].schedule.forward)
    assert any(isinstance(s, FusedStep) for s in progs[1].schedule.forward)
    set_params(progs, rng, integers)
    outs = [p.forward(feeds) for p in progs]
    first = next(iter(outs[0].values()))
    seed = (rng.integers(-2, 3, first.shape) if integers
            else rng.standard_normal(first.shape)) if first.ndim else None
    grads = [p.backward(seed) for p in progs]
    return outs, grads


def assert_same(outs, grads, rtol=RTOL):
    (out_a, out_b), (g_a, g_b) = outs, grads
    assert out_a.keys() == out_b.keys() and g_a.keys() == g_b.keys()
    for k in out_a:
        np.testing.assert_allclose(out_b[k], out_a[k], rtol=rtol, atol=1e-13,
                                   err_msg=f"output {k}")
    for k in g_a:
        np.testing.assert_allclose(g_b[k], g_a[k], rtol=rtol, atol=1e-13,
                                   err_msg=f"gradient {k}")


# ---- which chains fuse -----------------------------------------------------------

def test_conv_relu_pool_fuses_into_one_step():
    sched = lower(conv_pool_graph(), fuse=True)
    (step,) = sched.forward
    assert isinstance(step, FusedStep) and step.fused == ("conv", "act", "pool")
    assert step.node == "pool" and step.outputs == ["pool"]
    assert step.inputs == ["x", "conv_w", "conv_b"]
    assert step.attrs["act"] == "relu" and step.attrs["mode"] == "max"
    assert step.attrs["pool"] == (2, 2)
    assert step.label == "conv → act → pool (fused)"
    # The values the fused step no longer computes are gone from the books.
    for var in ("conv", "act", "pool_indices"):
        assert var not in sched.shapes and var not in sched.node_of
    assert sched.node_of["pool"] == "pool"
    assert sched.saved and not {"conv", "act", "pool_indices"} & set(sched.saved)


def test_conv_pool_without_relu_fuses():
    assert fused_nodes(conv_pool_graph(act=None)) == [("conv", "pool")]


@pytest.mark.parametrize("padding", ["valid", "same", (0, 0)])
def test_pool_padding_that_pads_nothing_fuses(padding):
    # conv output 8×8: "same" with a 2×2 pool at stride 2 pads nothing
    assert fused_nodes(conv_pool_graph(pool_padding=padding)) == [
        ("conv", "act", "pool")]


@pytest.mark.parametrize("why, kw", [
    ("overlapping windows", {"pool": 3, "pool_stride": 2}),
    ("gaps between windows", {"pool": 2, "pool_stride": 3}),
    ("pool padding", {"pool": 2, "pool_padding": 1}),
    ("pool padding 'same' that pads", {"H": 11, "W": 11, "pool_padding": "same"}),
    ("an activation it does not know", {"act": "LeakyReLU"}),
    ("overlapping mean windows", {"pool_op": "AvgPool2D", "pool": 3, "pool_stride": 2}),
    ("mean-pool padding", {"pool_op": "AvgPool2D", "pool": 2, "pool_padding": 1}),
    ("indices read", {"extra": lambda b, r: [
        b.op("MaxUnpool2D", r["pool"], b.port(r["pool"], "indices"), kernel=2)]}),
    ("indices an output", {"extra": lambda b, r: [b.port(r["pool"], "indices")]}),
    ("conv read elsewhere", {"extra": lambda b, r: [b.sum(r["conv"])]}),
    ("ReLU read elsewhere", {"extra": lambda b, r: [b.sum(r["act"])]}),
    ("conv an output", {"act": None, "extra": lambda b, r: [r["conv"]]}),
    ("ReLU an output", {"extra": lambda b, r: [r["act"]]}),
])
def test_chain_is_not_fused_when(why, kw):
    assert fused_nodes(conv_pool_graph(**kw)) == [], why


def test_conv_output_read_twice_by_its_relu_only_still_fuses_not():
    # A reader other than the chain's next step, even the same op twice.
    b = gl.GraphBuilder("twice")
    x = b.input("x", ["N", 1, 8, 8])
    c = b.conv2d(x, 2, 3, name="conv")
    p = b.max_pool2d(b.mul(c, c), kernel=2, name="pool")
    b.output(p)
    assert fused_nodes(b.build()) == []


@pytest.mark.parametrize("pool_op, mode", [("MaxPool2D", "max"), ("AvgPool2D", "avg")])
@pytest.mark.parametrize("act", [None, "ReLU", "Tanh", "Sigmoid"])
def test_max_and_mean_pools_fuse_with_every_known_activation(pool_op, mode, act):
    sched = lower(conv_pool_graph(act=act, pool_op=pool_op), fuse=True)
    (step,) = sched.forward
    assert step.fused == (("conv", "act", "pool") if act else ("conv", "pool"))
    assert step.attrs["mode"] == mode
    assert step.attrs["act"] == (act.lower() if act else None)


def test_lenet5_fuses_both_blocks_and_keeps_the_rest():
    g = gl.load(sample("lenet5"))
    plain, fused = lower(g), lower(g, fuse=True)
    assert fused_nodes(g) == [("conv1", "relu1", "pool1"), ("conv2", "relu2", "pool2")]
    assert len(fused.forward) == len(plain.forward) - 4
    kept = [s.node for s in plain.forward if s.node not in
            ("conv1", "relu1", "conv2", "relu2")]
    assert [s.node for s in fused.forward] == kept
    assert fused.grads.keys() == plain.grads.keys()


def test_without_fuse_nothing_changes():
    g = gl.load(sample("lenet5"))
    assert fused_nodes(g) and str(lower(g)) == str(lower(g, fuse=False))
    assert "(fused)" not in gl.compile(g).source


def test_fused_op_is_not_in_the_catalog():
    assert "Conv2DPool2D" not in op_names()
    with pytest.raises(GraphError):
        get_op("Conv2DPool2D")


def test_generated_code_names_every_fused_node():
    src = gl.compile(gl.load(sample("lenet5")), fuse=True).source
    fwd, bwd = src.split("def backward")
    assert "pool1 = _Conv2DPool2D.forward(_C[\"pool1\"], up, conv1_w, conv1_b" in fwd
    assert "# conv1 → relu1 → pool1 (fused): Conv2DPool2D → N×6×14×14" in fwd
    assert "# conv2 → relu2 → pool2 (fused): Conv2DPool2D" in bwd
    assert "# up: Upsample2D, batch-last → N×1×32×32" in fwd
    code = "\n".join(line.split("#")[0] for line in src.splitlines())
    assert "relu1" not in code and "pool1_indices" not in code and "conv1 " not in code


# ---- fused = unfused -------------------------------------------------------------

CONFIGS = {
    "relu, bias": {},
    "no relu": {"act": None},
    "no bias": {"bias": False},
    "no relu, no bias": {"act": None, "bias": False},
    "conv stride 2": {"H": 13, "W": 13, "stride": 2},
    "conv stride 3 (no phases)": {"H": 16, "W": 16, "kernel": 2, "stride": 3},
    "same, even kernel": {"kernel": 4, "padding": "same"},
    "padding 1, stride 2": {"padding": 1, "stride": 2, "H": 11, "W": 9},
    "full padding": {"kernel": 2, "padding": "full", "H": 7, "W": 7},
    "dilation 2": {"H": 12, "W": 12, "dilation": 2},
    "1×1 conv (no phases)": {"kernel": 1},
    "pool 3×3": {"H": 14, "W": 14, "pool": 3},
    "pool 1×1": {"pool": 1},
    "non-square pool and kernel": {"H": 9, "W": 13, "kernel": (3, 2), "pool": (2, 3)},
    "dropped rows and columns": {"H": 12, "W": 11, "pool": 3},
    "one input channel": {"C": 1},
    "several input channels": {"C": 4, "O": 5},
    "pool 'same' padding nothing": {"pool_padding": "same"},
    "tanh, max": {"act": "Tanh"},
    "sigmoid, max, no bias": {"act": "Sigmoid", "bias": False},
    "mean": {"pool_op": "AvgPool2D", "act": None},
    "mean, no bias": {"pool_op": "AvgPool2D", "act": None, "bias": False},
    "relu, mean": {"pool_op": "AvgPool2D"},
    "tanh, mean": {"pool_op": "AvgPool2D", "act": "Tanh"},
    "sigmoid, mean": {"pool_op": "AvgPool2D", "act": "Sigmoid"},
    "sigmoid, mean, no bias, stride 3 (no phases)": {
        "pool_op": "AvgPool2D", "act": "Sigmoid", "bias": False, "H": 16, "W": 16,
        "kernel": 2, "stride": 3},
    "tanh, mean 3×3, dropped rows": {"pool_op": "AvgPool2D", "act": "Tanh", "H": 12,
                                     "W": 11, "pool": 3},
}


@pytest.mark.parametrize("input_grads", [True, False], ids=["input grads", "none"])
@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.usefixtures("both_paths")
def test_fused_matches_unfused(name, input_grads):
    rng = np.random.default_rng(abs(hash(name)) % 2 ** 32)
    g = conv_pool_graph(**CONFIGS[name])
    C, H, W = g.node("x").resolved["shape"][1:]
    for batch in (1, 3):
        x = rng.standard_normal((batch, C, H, W))
        outs, grads = run_both(g, {"x": x}, rng, input_grads=input_grads)
        assert ("x" in grads[1]) == input_grads
        assert_same(outs, grads)


def test_configs_cover_both_gather_paths():
    paths = set()
    for kw in CONFIGS.values():
        step = lower(conv_pool_graph(**kw), fuse=True).forward[0]
        w = step.in_shapes[1]
        paths.add(_conv_pool_phased(w[2:], step.attrs["stride"],
                                    step.attrs["dilation"], step.attrs["pool"]))
    assert paths == {True, False}


@pytest.mark.parametrize("name", ["relu, bias", "no relu", "pool 3×3",
                                  "conv stride 3 (no phases)",
                                  "non-square pool and kernel", "tanh, max"])
@pytest.mark.usefixtures("both_paths")
def test_ties_go_to_the_first_maximum_as_unfused(name):
    # Integer inputs and weights: conv values are exact integers, many equal.
    rng = np.random.default_rng(7)
    g = conv_pool_graph(**CONFIGS[name])
    C, H, W = g.node("x").resolved["shape"][1:]
    x = rng.integers(-1, 2, (4, C, H, W)).astype(float)
    outs, grads = run_both(g, {"x": x}, rng, integers=True)
    assert_same(outs, grads, rtol=0)


@pytest.mark.usefixtures("both_paths")
def test_all_negative_windows_under_relu_get_no_gradient():
    rng = np.random.default_rng(3)
    g = conv_pool_graph(C=1, O=2)
    progs = [gl.compile(g, dtype="float64", fuse=f) for f in (False, True)]
    set_params(progs, rng)
    for p in progs:
        p.params["conv_b"][...] = [-100.0, 0.0]  # channel 0: every window < 0
    x = rng.standard_normal((2, 1, 10, 10))
    outs = [p.forward({"x": x}) for p in progs]
    seed = rng.standard_normal(outs[0]["pool"].shape)
    grads = [p.backward(seed) for p in progs]
    assert_same(outs, grads)
    assert not outs[1]["pool"][:, 0].any()
    assert not grads[1]["conv_w"][0].any() and grads[1]["conv_b"][0] == 0


@pytest.mark.usefixtures("both_paths")
def test_saturated_tanh_windows_get_no_gradient_either_way():
    # Where tanh rounds to 1 the unfused max takes a window's first position
    # and the fused kernel its largest conv value; tanh′ = 1 − 1² = 0 at both.
    rng = np.random.default_rng(5)
    g = conv_pool_graph(C=1, O=2, act="Tanh")
    progs = [gl.compile(g, dtype="float64", fuse=f) for f in (False, True)]
    set_params(progs, rng)
    for p in progs:
        p.params["conv_b"][...] = [100.0, 0.0]  # channel 0: every window saturated
    x = rng.standard_normal((2, 1, 10, 10))
    outs = [p.forward({"x": x}) for p in progs]
    seed = rng.standard_normal(outs[0]["pool"].shape)
    grads = [p.backward(seed) for p in progs]
    assert_same(outs, grads)
    assert (outs[1]["pool"][:, 0] == 1).all() and not grads[1]["conv_w"][0].any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_activations_give_the_ops_numbers_bit_for_bit(dtype):
    x = np.concatenate([np.random.default_rng(6).normal(scale=30, size=(3, 500)),
                        [[np.inf, -np.inf, 0.0] * 2 + [-0.0, 1000.0, -1000.0] * 2]
                        * 3], axis=1).astype(dtype)
    for act, op in (("relu", "ReLU"), ("tanh", "Tanh"), ("sigmoid", "Sigmoid")):
        got = x.copy()
        _ACTIVATIONS[act][0](got)
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal(got, get_op(op).forward(None, x), err_msg=act)


@pytest.mark.usefixtures("both_paths")
def test_two_fused_blocks_in_a_row_lenet5():
    g = gl.load(sample("lenet5"))
    rng = np.random.default_rng(0)
    for batch in (1, 5):
        feeds = {"x": rng.random((batch, 1, 8, 8)), "y": rng.integers(0, 10, batch)}
        outs, grads = run_both(g, feeds, rng)
        assert_same(outs, grads)


@pytest.mark.usefixtures("both_paths")
def test_lenet5_float32_close_to_unfused():
    g = gl.load(sample("lenet5"))
    progs = [gl.compile(g, outputs=["loss"], input_grads=False, fuse=f)
             for f in (False, True)]
    rng = np.random.default_rng(1)
    feeds = {"x": rng.random((16, 1, 8, 8)), "y": rng.integers(0, 10, 16)}
    losses = [float(p.forward(feeds)["loss"]) for p in progs]
    grads = [p.backward() for p in progs]
    assert progs[1].forward(feeds)["loss"].dtype == np.float32
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    for k in grads[0]:
        assert grads[1][k].dtype == np.float32
        np.testing.assert_allclose(grads[1][k], grads[0][k], rtol=1e-3, atol=1e-6)


def test_fused_shape_rule_matches_the_chain():
    for kw in CONFIGS.values():
        step = lower(conv_pool_graph(**kw), fuse=True).forward[0]
        assert step.op.shape(*step.in_shapes, **step.attrs) == tuple(
            step.out_shapes[0])


def test_fused_program_cut_into_chunks_on_threads_matches_unfused():
    g = gl.load(sample("lenet5"))
    progs = [gl.compile(g, dtype="float64", outputs=["loss"], input_grads=False,
                        fuse=f, workers=w) for f, w in ((False, 1), (True, 2))]
    rng = np.random.default_rng(2)
    feeds = {"x": rng.random((64, 1, 8, 8)), "y": rng.integers(0, 10, 64)}
    plan = progs[1].batch_plan()
    assert isinstance(plan, BatchPlan)
    assert chunk_slices(64, 2, grain=plan.grain)  # the batch runs as chunks
    outs = [p.forward(feeds) for p in progs]
    assert_same(outs, [p.backward() for p in progs])


def test_results_are_not_overwritten_by_the_next_step():
    # Buffers are reused from step to step; nothing returned may be one of them.
    for kw in ({"C": 1}, {"C": 2, "padding": 1}):
        g = conv_pool_graph(**kw)
        C, H, W = g.node("x").resolved["shape"][1:]
        prog = gl.compile(g, dtype="float64", fuse=True)
        rng = np.random.default_rng(5)
        out = prog.forward({"x": rng.standard_normal((1, C, H, W))})["pool"]
        grads = prog.backward(np.ones_like(out))
        kept = out.copy(), {k: v.copy() for k, v in grads.items()}
        prog.forward({"x": rng.standard_normal((1, C, H, W))})
        prog.backward(rng.standard_normal(out.shape))
        np.testing.assert_array_equal(out, kept[0])
        for k, v in grads.items():
            np.testing.assert_array_equal(v, kept[1][k], err_msg=k)


def upsample_conv_pool_graph(mode="nearest", keep_up=False):
    b = gl.GraphBuilder("upsample conv pool")
    x = b.input("x", ["N", 2, 4, 5])
    up = b.upsample2d(x, scale=(2, 3), mode=mode, name="up")
    conv = b.conv2d(up, 3, 3, name="conv")
    b.output(b.max_pool2d(b.relu(conv, name="act"), kernel=2, name="pool"),
             *([up] if keep_up else []))
    return b.build()


def step_ops(graph):
    return {s.node: s.op.name for s in lower(graph, fuse=True).forward}


def test_a_nearest_upsample_read_by_a_fused_kernel_alone_writes_batch_last():
    assert step_ops(upsample_conv_pool_graph())["up"] == "Upsample2DBatchLast"
    assert step_ops(gl.load(sample("lenet5")))["up"] == "Upsample2DBatchLast"
    for graph in (upsample_conv_pool_graph("bilinear"),
                  upsample_conv_pool_graph(keep_up=True)):
        assert step_ops(graph)["up"] == "Upsample2D"
    assert "Upsample2DBatchLast" not in op_names()


def test_batch_last_upsample_gives_upsample_values_and_gradients():
    op = lower(upsample_conv_pool_graph(), fuse=True).forward[0].op
    x = np.random.default_rng(3).standard_normal((3, 2, 4, 5))
    got = op.forward(None, x, scale=(2, 3), mode="nearest")
    want = get_op("Upsample2D").forward(None, x, scale=(2, 3), mode="nearest")
    np.testing.assert_array_equal(got, want)
    assert got.transpose(1, 2, 3, 0).flags.c_contiguous  # batch innermost
    rng = np.random.default_rng(4)
    outs, grads = run_both(upsample_conv_pool_graph(),
                           {"x": rng.standard_normal((3, 2, 4, 5))}, rng)
    assert_same(outs, grads)  # grads include x: the vjp through the upsample


# ---- finite differences ----------------------------------------------------------

@pytest.mark.parametrize("name", ["relu, bias", "no relu", "same, even kernel",
                                  "dilation 2", "conv stride 3 (no phases)",
                                  "non-square pool and kernel", "sigmoid, max, no bias",
                                  "mean", "tanh, mean",
                                  "sigmoid, mean, no bias, stride 3 (no phases)"])
@pytest.mark.usefixtures("both_paths")
def test_fused_gradients_match_finite_differences(name):
    rng = np.random.default_rng(11)
    g = conv_pool_graph(**CONFIGS[name])
    C, H, W = g.node("x").resolved["shape"][1:]
    prog = gl.compile(g, dtype="float64", fuse=True)
    assert isinstance(prog.schedule.forward[0], FusedStep)
    for k, v in prog.params.items():
        v[...] = rng.standard_normal(v.shape)
    feeds = {"x": rng.standard_normal((2, C, H, W))}
    seed = rng.standard_normal(prog.forward(feeds)["pool"].shape)
    grads = prog.backward(seed)

    def objective():
        return float(np.sum(seed * prog.forward(feeds)["pool"]))

    eps = 1e-6
    for source, grad in grads.items():
        arr = prog.params[source] if source in prog.params else feeds[source]
        for _ in range(3):  # random directions: ⟨∇f, d⟩ = (f(p + εd) − f(p − εd))/2ε
            d = rng.standard_normal(arr.shape)
            orig = arr.copy()
            arr += eps * d
            up = objective()
            arr[...] = orig - eps * d
            down = objective()
            arr[...] = orig
            numeric = (up - down) / (2 * eps)
            assert float(np.sum(grad * d)) == pytest.approx(numeric, rel=1e-6,
                                                            abs=1e-8), source


# ---- every sample ----------------------------------------------------------------

SAMPLE_FILES = sorted(glob.glob(os.path.join(SAMPLES, "*.graph.json")))


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=os.path.basename)
def test_every_sample_fused_matches_unfused(path):
    g = gl.load(path)
    loss = (g.train or {}).get("loss")
    outputs = [loss] if loss else None
    progs = [gl.compile(g, dtype="float64", training=False, outputs=outputs, fuse=f)
             for f in (False, True)]
    feeds = example_feeds(progs[0], batch=3, seed=0)
    outs = [p.forward(feeds) for p in progs]
    first = next(iter(outs[0].values()))
    seed = None if first.size == 1 else np.random.default_rng(0).standard_normal(
        first.shape)
    grads = [p.backward(seed) for p in progs]
    assert_same(outs, grads)


# ---- the command line ------------------------------------------------------------

def test_codegen_fuse_flag_prints_the_fused_line():
    def codegen(*args):
        return subprocess.run([sys.executable, "-m", "graphlab", "codegen",
                               sample("lenet5"), *args], cwd=ROOT,
                              capture_output=True, text=True)

    out = codegen("--fuse")
    assert out.returncode == 0, out.stderr
    assert "conv1 → relu1 → pool1 (fused)" in out.stdout
    assert "_Conv2DPool2D.forward(" in out.stdout
    plain = codegen()
    assert plain.returncode == 0 and "(fused)" not in plain.stdout
    assert "_Conv2D.forward(" in plain.stdout
