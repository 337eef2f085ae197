"""``to_torch`` against the executor in float64: every op (one small graph per op,
the cases of the chain-rule tests plus the padding cases PyTorch lacks as one
call) and every sample, forward and gradients, training and evaluation mode."""

import glob
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import graphlab as gl  # noqa: E402
from graphlab.ops import op_names  # noqa: E402
from graphlab.testing import example_feeds  # noqa: E402
from graphlab.torch import from_torch_state, to_torch  # noqa: E402
from tests.conftest import SAMPLES  # noqa: E402
from tests.test_symbolic_ops import CASES, _vec, _weighted  # noqa: E402

SOURCES = {"Input", "Parameter", "Constant"}

# Geometry PyTorch has no single call for: odd "same" padding, windows that drop
# input, "full" padding, pooling with uneven padding, symbolic-free 1-D cases.
EXTRA = {
    "Conv2D same odd": lambda b: _weighted(b, b.conv2d(
        _vec(b, "x", (2, 2, 6, 7)), 3, 2, stride=1, padding="same"), (2, 3, 6, 7)),
    "Conv2D same stride": lambda b: _weighted(b, b.conv2d(
        _vec(b, "x", (1, 2, 13, 13)), 2, 6, stride=5, padding="same"), (1, 2, 3, 3)),
    "Conv2D valid drops": lambda b: _weighted(b, b.conv2d(
        _vec(b, "x", (1, 2, 13, 13)), 2, 6, stride=5, padding="valid"), (1, 2, 2, 2)),
    "Conv2D full dilated": lambda b: _weighted(b, b.conv2d(
        _vec(b, "x", (1, 1, 5, 5)), 2, 3, padding="full", dilation=2), (1, 2, 9, 9)),
    "Conv1D full": lambda b: _weighted(b, b.conv1d(
        _vec(b, "x", (2, 2, 7)), 3, 4, padding="full"), (2, 3, 10)),
    "MaxPool2D same odd": lambda b: _weighted(b, b.op(
        "MaxPool2D", _vec(b, "x", (2, 2, 5, 5)), kernel=2, stride=2,
        padding="same"), (2, 2, 3, 3)),
    "AvgPool2D same odd": lambda b: _weighted(b, b.op(
        "AvgPool2D", _vec(b, "x", (2, 2, 5, 5)), kernel=2, stride=2,
        padding="same"), (2, 2, 3, 3)),
    "MaxUnpool2D same odd": lambda b: _weighted(b, _unpool_same(b), (1, 2, 5, 5)),
    "Upsample2D nearest": lambda b: _weighted(b, b.op(
        "Upsample2D", _vec(b, "x", (1, 2, 2, 3)), scale=[2, 3]), (1, 2, 4, 9)),
    "RNN relu": lambda b: b.sum(b.mul(b.port(b.rnn(
        _vec(b, "x", (2, 3, 2)), 4, nonlinearity="relu"), "y"),
        _vec(b, "w", (2, 3, 4)))),
    "Sum all keepdims": lambda b: _weighted(b, b.op(
        "Sum", _vec(b, "a", (2, 3)), keepdims=True), (1, 1)),
    "Transpose default": lambda b: _weighted(b, b.op(
        "Transpose", _vec(b, "a", (2, 3, 4))), (4, 3, 2)),
}


def _unpool_same(b):
    p = b.op("MaxPool2D", _vec(b, "x", (1, 2, 5, 5)), kernel=2, stride=2,
             padding="same", name="pool")
    return b.op("MaxUnpool2D", b.port(p, "out"), b.port(p, "indices"), kernel=2,
                output_size=[5, 5])


# Pow's case feeds negative values (NaN for 2.5); a positive base here.
ALL = {**CASES, **EXTRA, "Pow": lambda b: b.op("Pow", _vec(b, "a", (2, 3), True),
                                                exponent=2.5)}


def _graph(name):
    b = gl.GraphBuilder(f"{name} case")
    out = ALL[name](b)
    b.output(b.sum(out, name="f"))
    return b.build()


def _dropout_draws(monkeypatch, seed=0):
    """torch.rand_like draws what the executor's generator draws (one Dropout)."""
    rng = np.random.default_rng(seed)
    monkeypatch.setattr(torch, "rand_like", lambda x: torch.from_numpy(
        rng.random(tuple(x.shape))).to(x.dtype))


def compare(graph, training, monkeypatch, feeds=None, rtol=1e-10, atol=1e-10):
    prog = gl.compile(graph, dtype="float64", training=training)
    feeds = example_feeds(prog) if feeds is None else prog.feeds_for(feeds)
    want = prog.forward(feeds)
    want_grads = prog.backward() if prog.schedule.loss else {}
    _dropout_draws(monkeypatch)
    module = to_torch(graph, dtype="float64", training=training)
    tensors = {k: torch.tensor(v, requires_grad=v.dtype.kind == "f")
               for k, v in feeds.items()}
    got = module(**tensors)
    assert set(got) == set(want)
    for ref, value in want.items():
        np.testing.assert_allclose(got[ref].detach().numpy(), value, rtol=rtol,
                                   atol=atol, err_msg=ref)
    if want_grads:
        first = next(iter(got.values()))
        first.backward(torch.ones_like(first))
        named = dict(module.named_parameters())
        for node, g in want_grads.items():
            if node in tensors:
                t = tensors[node].grad
            else:
                t = named[node].grad if node in named else None
            got_g = np.zeros_like(g) if t is None else t.numpy()
            np.testing.assert_allclose(got_g, g, rtol=rtol, atol=atol, err_msg=node)
    state = prog.state_dict()
    for key, value in state.items():
        if "." in key:  # BatchNorm running statistics, after the step
            np.testing.assert_allclose(module.state_dict()[key].numpy(), value,
                                       rtol=rtol, atol=atol, err_msg=key)
    return module


def test_every_op_has_a_case():
    assert {n for n in op_names() if n not in SOURCES} <= set(CASES)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", sorted(ALL))
def test_to_torch_matches_executor(name, training, monkeypatch):
    if name == "BatchNorm" and not training:
        graph = _graph(name)
        # Evaluation reads running statistics: give them values worth checking.
        rng = np.random.default_rng(1)
        bn = next(n for n in graph.nodes if graph.node(n).op == "BatchNorm")
        graph.params = {**graph.params, f"{bn}.running_mean": rng.normal(size=2),
                        f"{bn}.running_var": rng.uniform(0.5, 2, 2)}
        compare(graph, training, monkeypatch)
        return
    compare(_graph(name), training, monkeypatch)


SAMPLE_FILES = sorted(glob.glob(os.path.join(SAMPLES, "*.graph.json")))


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: os.path.basename(p)[:-11])
def test_to_torch_matches_executor_on_samples(path, training, monkeypatch):
    compare(gl.load(path), training, monkeypatch)


def test_module_names_parameters_by_node_and_trains_with_a_torch_optimizer():
    g = gl.load(os.path.join(SAMPLES, "mlp_digits.graph.json"))
    m = to_torch(g, dtype="float64")
    assert {"fc1_w", "fc1_b"} <= dict(m.named_parameters()).keys()
    prog = gl.compile(g, dtype="float64")
    feeds = example_feeds(prog, batch=8)
    opt = torch.optim.SGD(m.parameters(), lr=0.5)
    first = m(**feeds)["loss"].item()
    for _ in range(5):
        opt.zero_grad()
        m(**feeds)["loss"].backward()
        opt.step()
    assert m(**feeds)["loss"].item() < first
    written = from_torch_state(g, m)
    assert "fc1_w" in written
    np.testing.assert_array_equal(g.params["fc1_w"], m.fc1_w.detach().numpy())
    again = gl.compile(g, dtype="float64", training=False)
    np.testing.assert_allclose(again.forward(feeds)["loss"],
                               m.eval()(**feeds)["loss"].item(), rtol=1e-10)


def test_frozen_parameter_is_a_buffer_and_batchnorm_statistics_come_back():
    b = gl.GraphBuilder("frozen")
    x = b.input("x", ["N", 3])
    w = b.parameter("w", [2, 3], trainable=False)
    h = b.batchnorm(b.op("Linear", x, w), name="bn")
    b.output(b.sum(h, name="f"))
    g = b.build()
    m = to_torch(g, dtype="float64")
    assert "w" not in dict(m.named_parameters()) and "w" in dict(m.named_buffers())
    m(x=np.random.default_rng(0).normal(size=(4, 3)))
    from_torch_state(g, m)
    assert g.params["bn.running_mean"].shape == (2,)
    assert np.abs(g.params["bn.running_mean"]).sum() > 0


NEWER_ATTRS = {  # attributes other branches add; checked once they exist
    "Conv2D groups": ("Conv2D", "groups", lambda b: _weighted(b, b.op(
        "Conv2D", _vec(b, "x", (2, 4, 5, 5)), _vec(b, "w", (6, 2, 3, 3)),
        _vec(b, "c", (6,)), groups=2, padding="same"), (2, 6, 5, 5))),
    "AvgPool2D count_include_pad false": ("AvgPool2D", "count_include_pad",
                                          lambda b: _weighted(b, b.op(
                                              "AvgPool2D", _vec(b, "x", (2, 2, 5, 5)),
                                              kernel=2, stride=2, padding="same",
                                              count_include_pad=False),
                                              (2, 2, 3, 3))),
}


@pytest.mark.parametrize("name", sorted(NEWER_ATTRS))
def test_newer_attributes(name, monkeypatch):
    from graphlab.ops import get_op
    op, attr, build = NEWER_ATTRS[name]
    if attr not in get_op(op).attrs:
        pytest.skip(f"{op} has no {attr} attribute in this graphlab")
    b = gl.GraphBuilder(name)
    b.output(b.sum(build(b), name="f"))
    for training in (True, False):
        compare(b.build(), training, monkeypatch)


def test_spatial_sizes_known_only_at_run_time(monkeypatch):
    # "same" padding and the unpooled size are worked out when the module runs
    b = gl.GraphBuilder("symbolic H, W")
    x = b.input("x", ["N", 2, "H", "W"])
    h = b.conv2d(x, 3, 2, padding="same")
    p = b.op("MaxPool2D", h, kernel=2, stride=2, padding="same", name="pool")
    u = b.op("MaxUnpool2D", b.port(p, "out"), b.port(p, "indices"), kernel=2)
    b.output(b.sum(b.mul(u, u), name="f"))
    x_value = np.random.default_rng(3).normal(size=(2, 2, 6, 8))
    module = compare(b.build(), True, monkeypatch, feeds={"x": x_value})
    assert "pad_window(" in module.graph_source
