"""Every op of the catalog through the chain-rule view: one row per op.

Each case is a small graph around one op, reduced to a scalar by a random
weighting; the explanation must check every backward step (SymPy form or
declared formula) against the executor, and its LaTeX must render.
"""

import numpy as np
import pytest

import graphlab as gl
from graphlab.ops import get_op, op_names
from graphlab.symbolic import explain

RNG = np.random.default_rng(0)


def _vec(b, name, shape, positive=False):
    v = RNG.uniform(0.2, 1.5, shape) if positive else RNG.normal(size=shape)
    return b.input(name, list(shape), value=v.tolist())


def _weighted(b, ref, shape):
    return b.mul(ref, _vec(b, "wt", shape))


def _unary(op, **attrs):
    def build(b):
        return b.op(op, _vec(b, "a", (2, 3), positive=op in ("Log", "Sqrt")), **attrs)
    return build


def _binary(op):
    # (2, 3) against (3,): broadcasting, summed back to b's shape
    return lambda b: b.op(op, _vec(b, "a", (2, 3), True), _vec(b, "c", (3,), True))


def _recurrent(op):
    def build(b):
        kw = {"h0": _vec(b, "h0", (2, 4))}
        if op == "LSTM":
            kw["c0"] = _vec(b, "c0", (2, 4))
        r = getattr(b, op.lower())(_vec(b, "x", (2, 3, 2)), 4, **kw)
        total = None
        for p in get_op(op).outputs:
            shape = (2, 3, 4) if p == "y" else (2, 4)
            s = b.sum(b.mul(b.port(r, p), _vec(b, f"w{p}", shape)))
            total = s if total is None else b.add(total, s)
        return total
    return build


def _unpool(b):
    p = b.op("MaxPool2D", _vec(b, "x", (1, 1, 4, 4)), kernel=2, name="pool")
    return _weighted(b, b.op("MaxUnpool2D", b.port(p, "out"), b.port(p, "indices"),
                             kernel=2), (1, 1, 4, 4))


def _dist(b, name):
    return b.softmax(_vec(b, name, (2, 3)))


def _embedding(b):
    # Token 1 twice: its row of the table gets the sum of both gradients.
    x = b.input("tok", [2, 3], dtype="int64", value=[[1, 0, 1], [3, 2, 1]])
    w = _vec(b, "w", (4, 2))
    return _weighted(b, b.op("Embedding", x, w), (2, 3, 2))


def _cross_entropy(b):
    y = b.input("y", [2], dtype="int64", value=[1, 2])
    return b.op("CrossEntropyLoss", _vec(b, "z", (2, 3)), y)


CASES = {
    **{op: _binary(op) for op in ("Add", "Sub", "Mul", "Div", "Maximum")},
    **{op: _unary(op) for op in ("Neg", "Exp", "Log", "Sqrt", "Abs", "Sigmoid", "Tanh",
                                 "ReLU", "LeakyReLU", "ELU")},
    "Pow": _unary("Pow", exponent=2.5),
    "Softmax": lambda b: _weighted(b, b.op("Softmax", _vec(b, "a", (2, 3))), (2, 3)),
    "LogSoftmax": lambda b: _weighted(b, b.op("LogSoftmax", _vec(b, "a", (2, 3)),
                                              axis=0), (2, 3)),
    "Maxout": lambda b: _weighted(b, b.op("Maxout", _vec(b, "a", (2, 6)), pieces=3),
                                  (2, 2)),
    "MatMul": lambda b: _weighted(b, b.op("MatMul", _vec(b, "a", (3,)),
                                          _vec(b, "c", (3, 4))), (4,)),
    "Linear": lambda b: _weighted(b, b.linear(_vec(b, "x", (2, 3)), 4), (2, 4)),
    "Transpose": lambda b: _weighted(b, b.op("Transpose", _vec(b, "a", (2, 3, 4)),
                                             perm=[2, 0, 1]), (4, 2, 3)),
    "Reshape": lambda b: _weighted(b, b.op("Reshape", _vec(b, "a", (2, 6)),
                                           shape=["N", 3, 2]), (2, 3, 2)),
    "Flatten": lambda b: _weighted(b, b.op("Flatten", _vec(b, "a", (2, 2, 3))), (2, 6)),
    "Concat": lambda b: _weighted(b, b.op("Concat", _vec(b, "a", (2, 3)),
                                          _vec(b, "c", (2, 2)), axis=1), (2, 5)),
    "Sum": lambda b: _weighted(b, b.op("Sum", _vec(b, "a", (2, 3)), axis=1), (2,)),
    "Mean": lambda b: _weighted(b, b.op("Mean", _vec(b, "a", (2, 3, 2)), axis=[0, 2],
                                        keepdims=True), (1, 3, 1)),
    "Conv1D": lambda b: _weighted(b, b.conv1d(_vec(b, "x", (2, 2, 7)), 3, 3, stride=2,
                                              padding="same"), (2, 3, 4)),
    "Conv2D": lambda b: _weighted(b, b.conv2d(_vec(b, "x", (2, 2, 5, 5)), 3, 3,
                                              stride=2, padding=1), (2, 3, 3, 3)),
    "ConvTranspose2D": lambda b: _weighted(b, b.conv_transpose2d(
        _vec(b, "x", (2, 2, 3, 3)), 3, 3, stride=2, padding=1), (2, 3, 5, 5)),
    "MaxPool2D": lambda b: _weighted(b, b.op("MaxPool2D", _vec(b, "x", (2, 2, 4, 4)),
                                             kernel=2), (2, 2, 2, 2)),
    "AvgPool2D": lambda b: _weighted(b, b.op("AvgPool2D", _vec(b, "x", (2, 2, 4, 4)),
                                             kernel=2, padding=1), (2, 2, 3, 3)),
    "MaxUnpool2D": _unpool,
    "Upsample2D": lambda b: _weighted(b, b.op("Upsample2D", _vec(b, "x", (1, 2, 2, 2)),
                                              scale=2, mode="bilinear"), (1, 2, 4, 4)),
    "Dropout": lambda b: _weighted(b, b.op("Dropout", _vec(b, "x", (2, 3)), p=0.3),
                                   (2, 3)),
    "BatchNorm": lambda b: _weighted(b, b.batchnorm(_vec(b, "x", (3, 2, 2))),
                                     (3, 2, 2)),
    "L1Penalty": lambda b: b.op("L1Penalty", _vec(b, "x", (2, 3)), weight=0.3),
    "L2Penalty": lambda b: b.op("L2Penalty", _vec(b, "x", (2, 3)), weight=0.3),
    "MSELoss": lambda b: b.op("MSELoss", _vec(b, "x", (2, 3)), _vec(b, "t", (2, 3))),
    "CrossEntropyLoss": _cross_entropy,
    "Embedding": _embedding,
    "KLDivLoss": lambda b: b.op("KLDivLoss", _dist(b, "p"), _dist(b, "q")),
    "JSDivLoss": lambda b: b.op("JSDivLoss", _dist(b, "p"), _dist(b, "q")),
    **{op: _recurrent(op) for op in ("RNN", "LSTM", "GRU")},
}
# Formulas that describe training (batch statistics, the dropout mask).
TRAINING = {"Dropout", "BatchNorm"}


def _graph(op):
    b = gl.GraphBuilder(f"{op} case")
    out = CASES[op](b)
    b.output(b.sum(out, name="f"))
    return b.build()


def test_every_op_has_a_case():
    sources = {"Input", "Parameter", "Constant"}
    assert set(op_names()) - sources == set(CASES)


@pytest.mark.parametrize("op", sorted(CASES))
def test_every_step_of_the_op_is_checked_and_agrees(op):
    steps = explain(_graph(op), training=op in TRAINING)
    assert steps.mismatches == []
    edges = [s for s in steps.backward if s.kind == "edge"]
    assert all(s.error is not None for s in edges), [
        (s.node, s.port) for s in edges if s.error is None]
    mine = [s for s in edges if s.op == op]
    assert mine
    if get_op(op).elementwise:
        assert all(s.symbolic for s in mine)
    else:
        forms = get_op(op).formulas_for(op in TRAINING)
        assert all(s.local_latex == forms[s.port][0] for s in mine)


@pytest.mark.parametrize("op", sorted(TRAINING))
def test_evaluation_mode_has_its_own_formulas_and_they_agree(op):
    # Issue 16: BatchNorm showed its training formula in evaluation mode and
    # marked it "disagrees"; every mode-dependent op declares both forms.
    steps = explain(_graph(op))
    assert steps.mismatches == []
    mine = [s for s in steps.backward if getattr(s, "op", None) == op]
    assert mine and all(s.agrees for s in mine)
    evaluation = get_op(op).formulas_for(False)
    assert evaluation is not get_op(op).formulas
    assert all(s.local_latex == evaluation[s.port][0] for s in mine)


def test_dropout_evaluation_steps_use_the_identity_and_agree():
    steps = explain(_graph("Dropout"))
    assert not steps.mismatches
    mine = [s for s in steps.backward if getattr(s, "op", None) == "Dropout"]
    assert mine and all("identity" in s.local_latex for s in mine)


def test_the_ops_steps_render():
    zm = pytest.importorskip("ziamath")
    from .test_symbolic_render import assert_renders
    old, zm.config.svg2 = zm.config.svg2, False
    try:
        for op in sorted(CASES):
            steps = explain(_graph(op), training=op in TRAINING)
            for s in steps.steps:
                if getattr(s, "op", None) == op:
                    assert_renders(s.latex, op)
    finally:
        zm.config.svg2 = old
