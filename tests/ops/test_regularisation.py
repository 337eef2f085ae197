"""Regularisation ops: Dropout, BatchNorm (PyTorch's running statistics), penalties."""

import numpy as np
import pytest

from graphlab.errors import AttrError, ExecutionError, ShapeError
from graphlab.gradcheck import op_vjp, run_op
from graphlab.ops import Ctx, get_op

from .references import away, positive

rng = np.random.default_rng(2)


def test_formulas_render_with_ziamath():
    zm = pytest.importorskip("ziamath")
    zm.config.svg2 = False
    for name in ("Dropout", "BatchNorm", "L1Penalty", "L2Penalty"):
        for latex, _ in get_op(name).formulas.values():
            assert "<svg" in zm.Latex(latex).svg()


# ---- dropout -------------------------------------------------------------------------


def test_dropout_is_identity_when_not_training():
    x = rng.normal(size=(3, 4))
    g = rng.normal(size=(3, 4))
    (out,), _ = run_op("Dropout", [x], {"p": 0.9}, training=False)
    _, (gx,) = op_vjp("Dropout", [x], (g,), {"p": 0.9}, training=False)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(gx, g)


def test_dropout_preserves_the_mean_in_expectation():
    x = np.ones((400, 250))
    (out,), _ = run_op("Dropout", [x], {"p": 0.3}, seed=7)
    # 10⁵ draws: the standard error of the mean is √(p/(1−p)/n) ≈ 0.002.
    assert abs(out.mean() - 1.0) < 0.01
    assert abs((out == 0).mean() - 0.3) < 0.01
    assert set(np.unique(out)) == {0.0, 1 / 0.7}


def test_dropout_backward_uses_the_forward_mask():
    op = get_op("Dropout")
    x = away(6, 8)
    ctx = Ctx(training=True, rng=np.random.default_rng(3))
    out = op.forward(ctx, x, p=0.5)
    (gx,) = op.vjp(ctx, np.ones_like(x), out, x, p=0.5)
    np.testing.assert_array_equal(gx, out / x)  # m/(1−p) exactly where kept
    assert 0 < (gx == 0).sum() < x.size


def test_dropout_mask_comes_from_ctx_rng():
    x = np.ones((10, 10))
    same = [run_op("Dropout", [x], seed=5)[0][0] for _ in range(2)]
    other = run_op("Dropout", [x], seed=6)[0][0]
    np.testing.assert_array_equal(same[0], same[1])
    assert not np.array_equal(same[0], other)


@pytest.mark.parametrize("p, message", [(1.0, "must be below 1"), (-0.1, "at least 0"),
                                        (1.5, "at most 1")])
def test_dropout_rejects_p_outside_0_1(p, message):
    with pytest.raises(AttrError, match=message):
        get_op("Dropout").resolve_attrs({"p": p})


# ---- batch normalisation -------------------------------------------------------------


def _unbiased_var(x):
    """Per-channel unbiased variance, computed by moving channels first."""
    per_channel = np.moveaxis(x, 1, 0).reshape(x.shape[1], -1)
    return per_channel.var(axis=1, ddof=1)


@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4), (2, 3, 2, 2)])
def test_batchnorm_running_stats_follow_pytorch(shape):
    momentum = 0.2
    gamma, beta = positive(3), rng.normal(size=3)
    state = {}
    mean_want, var_want = np.zeros(3), np.ones(3)
    for step in range(3):
        x = rng.normal(size=shape) * (step + 1) + step
        run_op("BatchNorm", [x, gamma, beta], {"momentum": momentum}, state=state)
        # running = (1 − momentum)·running + momentum·batch, unbiased variance
        batch_mean = np.moveaxis(x, 1, -1).reshape(-1, 3).mean(axis=0)
        mean_want = (1 - momentum) * mean_want + momentum * batch_mean
        var_want = (1 - momentum) * var_want + momentum * _unbiased_var(x)
        np.testing.assert_allclose(state["running_mean"], mean_want, rtol=1e-12)
        np.testing.assert_allclose(state["running_var"], var_want, rtol=1e-12)


def test_batchnorm_eval_uses_running_stats_and_leaves_them():
    gamma, beta = positive(2), rng.normal(size=2)
    state = {"running_mean": np.array([0.5, -1.0]),
             "running_var": np.array([4.0, 0.25])}
    before = {k: v.copy() for k, v in state.items()}
    x = rng.normal(size=(3, 2, 2))
    g = rng.normal(size=x.shape)
    (out,), ctx = run_op("BatchNorm", [x, gamma, beta], training=False, state=state)
    dx, dgamma, dbeta = get_op("BatchNorm").vjp(ctx, g, out, x, gamma, beta,
                                                momentum=0.1, eps=1e-5)
    scale = (gamma / np.sqrt(before["running_var"] + 1e-5))[None, :, None]
    xhat = (x - before["running_mean"][None, :, None]) / np.sqrt(
        before["running_var"][None, :, None] + 1e-5)
    np.testing.assert_allclose(out, xhat * gamma[None, :, None] + beta[None, :, None])
    np.testing.assert_allclose(dx, g * scale)  # an affine map of x: no batch terms
    np.testing.assert_allclose(dgamma, (g * xhat).sum(axis=(0, 2)))
    np.testing.assert_allclose(dbeta, g.sum(axis=(0, 2)))
    for k in before:
        np.testing.assert_array_equal(state[k], before[k])


def test_batchnorm_training_output_has_zero_mean_unit_variance():
    x = rng.normal(size=(8, 3, 5)) * 4 + 2
    (out,), _ = run_op("BatchNorm", [x, np.ones(3), np.zeros(3)], {"eps": 0.0})
    np.testing.assert_allclose(out.mean(axis=(0, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 2)), 1, rtol=1e-12)


def test_batchnorm_initialises_missing_state():
    state = {}
    run_op("BatchNorm", [np.ones((2, 4)), np.ones(4), np.zeros(4)], training=False,
           state=state)
    np.testing.assert_array_equal(state["running_mean"], np.zeros(4))
    np.testing.assert_array_equal(state["running_var"], np.ones(4))


def test_batchnorm_training_needs_more_than_one_value_per_channel():
    with pytest.raises(ExecutionError, match="one value per channel"):
        run_op("BatchNorm", [np.ones((1, 3)), np.ones(3), np.zeros(3)])
    # evaluation with a batch of one is fine
    run_op("BatchNorm", [np.ones((1, 3)), np.ones(3), np.zeros(3)], training=False)


# ---- penalties -----------------------------------------------------------------------


def test_l1_penalty_gradient_at_zero_is_zero():
    x = np.array([-2.0, 0.0, 3.0])
    _, (gx,) = op_vjp("L1Penalty", [x], (np.array(2.0),), {"weight": 0.5})
    np.testing.assert_array_equal(gx, [-1.0, 0.0, 1.0])


def test_penalties_keep_float32_with_a_float64_seed():
    x = np.ones(3, np.float32)
    for name in ("L1Penalty", "L2Penalty"):
        (gx,) = get_op(name).vjp(Ctx(), np.float64(1.0), None, x, weight=1.0)
        assert gx.dtype == np.float32


# ---- shapes --------------------------------------------------------------------------

SYMBOLIC = [
    ("Dropout", {}, [("N", 5)], ("N", 5)),
    ("BatchNorm", {}, [("N", 3, 8, 8), (3,), (3,)], ("N", 3, 8, 8)),
    ("BatchNorm", {}, [("N", "C"), (4,), (4,)], ("N", "C")),
    ("L1Penalty", {}, [("N", 4)], ()),
    ("L2Penalty", {}, [(3, 4)], ()),
]


@pytest.mark.parametrize("name, attrs, shapes, want", SYMBOLIC,
                         ids=[c[0] for c in SYMBOLIC])
def test_shape_rule_carries_symbolic_batch(name, attrs, shapes, want):
    op = get_op(name)
    assert op.shape(*shapes, **op.resolve_attrs(attrs)) == want


SHAPE_ERRORS = [
    ("BatchNorm", [(3,), (3,), (3,)],
     "BatchNorm: x has shape 3, expected N×C or N×C×… (channels on axis 1)"),
    ("BatchNorm", [("N", 3), (4,), (3,)],
     "BatchNorm: gamma has shape 4, expected 3 (one per channel of x, axis 1)"),
    ("BatchNorm", [("N", 3, 5), (3,), (3, 1)],
     "BatchNorm: beta has shape 3×1, expected 3 (one per channel of x, axis 1)"),
]


@pytest.mark.parametrize("name, shapes, message", SHAPE_ERRORS,
                         ids=[m.split(":")[1].split()[0] for _, _, m in SHAPE_ERRORS])
def test_shape_errors_name_port_expected_and_actual(name, shapes, message):
    op = get_op(name)
    with pytest.raises(ShapeError) as e:
        op.shape(*shapes, **op.resolve_attrs({}))
    assert str(e.value) == message


def test_batchnorm_macs_per_example():
    op = get_op("BatchNorm")
    assert op.macs([("N", 3, 4, 4), (3,), (3,)], [("N", 3, 4, 4)]) == 2 * 3 * 4 * 4


def test_dropout_evaluation_formula_is_the_identity_like_its_vjp():
    import numpy as np
    from graphlab.gradcheck import op_vjp
    from graphlab.ops import get_op
    x = np.random.default_rng(3).normal(size=(2, 5))
    g = np.random.default_rng(4).normal(size=(2, 5))
    (out,), (gx,) = op_vjp("Dropout", [x], (g,), {"p": 0.3}, training=False)
    latex, fn = get_op("Dropout").formulas_for(False)["x"]
    np.testing.assert_array_equal(fn(g, out, x, p=0.3), gx)
    assert get_op("Dropout").formulas_for(True) is get_op("Dropout").formulas


def _batchnorm_graph():
    from graphlab import Graph
    g = Graph("bn")
    g.add_node("x", "Input", {"shape": ["N", 3]})
    g.add_node("gamma", "Parameter", {"shape": [3], "value": [1.0, 2.0, 0.5]})
    g.add_node("beta", "Parameter", {"shape": [3], "value": [0.0, 1.0, -1.0]})
    g.add_node("bn", "BatchNorm")
    g.add_node("w", "Parameter", {"shape": [3], "value": [0.3, -1.0, 2.0]})
    g.add_node("m", "Mul")
    g.add_node("loss", "Sum")
    for s, d in [("x", "bn:x"), ("gamma", "bn:gamma"), ("beta", "bn:beta"),
                 ("bn", "m:a"), ("w", "m:b"), ("m", "loss:x")]:
        g.connect(s, d)
    g.set_outputs(["loss"])
    return g


@pytest.mark.parametrize("stats", [{}, {"bn.running_mean": [0.5, -1.0, 2.0],
                                        "bn.running_var": [4.0, 0.25, 9.0]}])
def test_explain_batchnorm_in_evaluation_mode_agrees(stats):
    import numpy as np
    from graphlab.symbolic import explain
    g = _batchnorm_graph()
    g.params.update({k: np.array(v) for k, v in stats.items()})
    e = explain(g)
    steps = {s.port: s for s in e.backward if s.node == "bn"}
    assert set(steps) == {"x", "gamma", "beta"}
    assert all(s.agrees for s in steps.values()), [s.error for s in steps.values()]
    assert "running statistics" in steps["x"].local_latex
    assert not any("disagrees" in n for n in e.notes)
    # Training mode keeps the batch-statistics formulas, and they agree there.
    e = explain(g, training=True)
    assert all(s.agrees for s in e.backward if s.node == "bn")
