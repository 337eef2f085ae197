"""Loss ops: forward against Python loops, gradients, formulas, stability."""

import math
import warnings

import numpy as np
import pytest

from graphlab.errors import ExecutionError, ShapeError
from graphlab.gradcheck import op_vjp, run_op
from graphlab.ops import Ctx, get_op

from .references import dist, kl_py

rng = np.random.default_rng(3)


def test_cross_entropy_formula_is_the_textbook_one():
    latex, _ = get_op("CrossEntropyLoss").formulas["logits"]
    assert latex == (r"\frac{\partial L}{\partial z} = \frac{1}{N}\left("
                     r"\operatorname{softmax}(z) - \operatorname{onehot}(y)\right)")


def test_formulas_render_with_ziamath():
    zm = pytest.importorskip("ziamath")
    zm.config.svg2 = False
    for name in ("MSELoss", "CrossEntropyLoss", "KLDivLoss", "JSDivLoss"):
        for latex, _ in get_op(name).formulas.values():
            assert "<svg" in zm.Latex(latex).svg()


# ---- cross-entropy -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_stable_at_1000(strict_floats, dtype):
    logits = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]], dtype=dtype)
    target = np.array([1, 1])
    (out,), _ = run_op("CrossEntropyLoss", [logits, target])
    _, (dz, dt) = op_vjp("CrossEntropyLoss", [logits, target], (np.ones((), dtype),))
    assert float(out) == 1000.0  # (2000 + 0) / 2
    np.testing.assert_array_equal(dz, [[0.5, -0.5], [0.0, 0.0]])
    assert dt is None


def test_cross_entropy_accepts_whole_float_labels():
    logits = rng.normal(size=(3, 4))
    as_int, _ = run_op("CrossEntropyLoss", [logits, np.array([1, 0, 3])])
    as_float, _ = run_op("CrossEntropyLoss", [logits, np.array([1.0, 0.0, 3.0])])
    assert as_int[0] == as_float[0]


def test_cross_entropy_vjp_uses_its_own_logits_on_a_reused_ctx():
    # The vjp reuses the forward's exponentials only when they are of the same
    # logits: a ctx that saw other logits, or no forward, gives the same result.
    op, ctx = get_op("CrossEntropyLoss"), Ctx()
    a, b, target = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), np.array([1, 0, 3])
    op.forward(ctx, a, target)
    got, _ = op.vjp(ctx, np.float64(1.0), None, b, target)
    want = np.exp(b) / np.exp(b).sum(axis=1, keepdims=True)
    want[np.arange(3), target] -= 1
    np.testing.assert_allclose(got, want / 3, rtol=1e-12)
    again, _ = op.vjp(ctx, np.float64(1.0), None, b, target)  # saved values used up
    np.testing.assert_allclose(again, want / 3, rtol=1e-12)


@pytest.mark.parametrize("target, message", [
    (np.array([0, 4]), r"target holds class 4, but logits have 4 classes \(0 … 3\)"),
    (np.array([-1, 0]), "target holds class -1"),
    (np.array([0.5, 1.0]), "non-integer values"),
])
def test_cross_entropy_rejects_bad_labels(target, message):
    with pytest.raises(ExecutionError, match=message):
        run_op("CrossEntropyLoss", [rng.normal(size=(2, 4)), target])


# ---- divergences ---------------------------------------------------------------------


def test_kl_of_identical_distributions_is_zero():
    p = dist(4, 5)
    (out,), _ = run_op("KLDivLoss", [p, p])
    _, (dp, dq) = op_vjp("KLDivLoss", [p, p], (np.ones(()),))
    assert float(out) == 0.0
    np.testing.assert_allclose(dp, 1 / 4)  # log p − log q + 1 = 1, over 4 rows
    np.testing.assert_allclose(dq, -1 / 4)


def test_kl_is_positive_and_asymmetric():
    p, q = dist(6, 3), dist(6, 3)
    (pq,), _ = run_op("KLDivLoss", [p, q])
    (qp,), _ = run_op("KLDivLoss", [q, p])
    assert pq > 0 and qp > 0
    assert abs(float(pq) - float(qp)) > 1e-6


def test_kl_treats_0_log_0_as_0():
    p = np.array([[0.0, 0.5, 0.5], [0.0, 0.0, 1.0]])
    q = np.array([[0.0, 0.25, 0.75], [0.2, 0.3, 0.5]])  # q = 0 where p = 0 too
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (out,), _ = run_op("KLDivLoss", [p, q])
        _, (dp, dq) = op_vjp("KLDivLoss", [p, q], (np.ones(()),))
    assert float(out) == pytest.approx(kl_py(p, q), rel=1e-14)
    # zero entries of p are constants: no gradient, no NaN
    assert np.isfinite(dp).all() and np.isfinite(dq).all()
    np.testing.assert_array_equal(dp[p == 0], 0)
    np.testing.assert_array_equal(dq[p == 0], 0)


def test_kl_is_infinite_where_q_misses_p():
    with np.errstate(divide="ignore"):
        (out,), _ = run_op("KLDivLoss", [np.array([0.5, 0.5]), np.array([1.0, 0.0])])
    assert out == np.inf


def test_kl_flags_negative_probabilities_as_nan():
    # 0·log 0 = 0 must not turn a negative entry into a silent 0.
    with np.errstate(invalid="ignore"):
        (out,), _ = run_op("KLDivLoss", [np.array([-0.1, 1.1]), np.array([0.5, 0.5])])
    assert np.isnan(out)


def test_js_is_symmetric_and_at_most_log_2():
    p, q = dist(8, 4), dist(8, 4)
    (pq,), _ = run_op("JSDivLoss", [p, q])
    (qp,), _ = run_op("JSDivLoss", [q, p])
    assert 0 < float(pq) <= math.log(2)
    assert float(pq) == pytest.approx(float(qp), rel=1e-14)


def test_js_reaches_log_2_on_disjoint_supports():
    p = np.array([[0.3, 0.7, 0.0, 0.0]])
    q = np.array([[0.0, 0.0, 0.4, 0.6]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (out,), _ = run_op("JSDivLoss", [p, q])
        _, (dp, dq) = op_vjp("JSDivLoss", [p, q], (np.ones(()),))
    assert float(out) == pytest.approx(math.log(2), rel=1e-14)
    assert np.isfinite(dp).all() and np.isfinite(dq).all()


def test_js_of_identical_distributions_is_zero():
    p = dist(3, 3)
    (out,), _ = run_op("JSDivLoss", [p, p])
    assert float(out) == 0.0


# ---- shapes --------------------------------------------------------------------------

SYMBOLIC = [
    ("MSELoss", [("N", 3), ("N", 3)]),
    ("CrossEntropyLoss", [("N", 10), ("N",)]),
    ("CrossEntropyLoss", [(10,), ()]),
    ("KLDivLoss", [("N", 5), ("N", 5)]),
    ("JSDivLoss", [("N", "T", 5), ("N", "T", 5)]),
]


@pytest.mark.parametrize("name, shapes", SYMBOLIC, ids=[c[0] for c in SYMBOLIC])
def test_shape_rule_gives_scalar_for_symbolic_batch(name, shapes):
    assert get_op(name).shape(*shapes) == ()


SHAPE_ERRORS = [
    ("CrossEntropyLoss", [("N", 10), ("N", 3)], "CrossEntropyLoss: target has shape "
     "N×3, expected N (one class index per row of logits)"),
    ("CrossEntropyLoss", [(4, 10), (5,)], "CrossEntropyLoss: target has shape 5, "
     "expected 4 (one class index per row of logits)"),
    ("CrossEntropyLoss", [(10,), ("N",)], "CrossEntropyLoss: target has shape N, "
     "expected scalar (one class index for the single row of logits)"),
    ("CrossEntropyLoss", [("N", 3, 4), ("N",)], "CrossEntropyLoss: target has shape "
     "N, expected N×3 (one class index per position: N×T)"),
    ("CrossEntropyLoss", [("N", 2, 3, 4), ("N",)], "CrossEntropyLoss: logits has "
     "shape N×2×3×4, expected N×C (a batch of rows of class scores), C, or N×T×C "
     "(sequences, classes last)"),
    ("MSELoss", [("N", 1), ("N",)], "MSELoss: target has shape N, expected N×1 (the "
     "shape of pred)"),
    ("KLDivLoss", [("N", 5), ("N", 4)], "KLDivLoss: q has shape N×4, expected N×5 (the "
     "shape of p)"),
    ("JSDivLoss", [(), ()], "JSDivLoss: p is a scalar, expected distributions along "
     "the last axis (C or N×C)"),
]


@pytest.mark.parametrize("name, shapes, message", SHAPE_ERRORS,
                         ids=[c[0] for c in SHAPE_ERRORS])
def test_shape_errors_name_port_expected_and_actual(name, shapes, message):
    with pytest.raises(ShapeError) as e:
        get_op(name).shape(*shapes)
    assert str(e.value) == message


def test_losses_belong_to_the_losses_family():
    for name in ("MSELoss", "CrossEntropyLoss", "KLDivLoss", "JSDivLoss"):
        assert get_op(name).family == "losses"
    assert get_op("CrossEntropyLoss").nondiff == ("target",)
    assert get_op("CrossEntropyLoss").vjp(
        Ctx(), 1.0, None, np.zeros((1, 2)), np.array([0]))[1] is None
