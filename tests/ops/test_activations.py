"""Activation ops: forward against Python loops, gradients, SymPy forms, stability."""

import math

import numpy as np
import pytest
import sympy as sp

from graphlab.errors import AttrError, ShapeError
from graphlab.gradcheck import op_vjp, run_op
from graphlab.ops import get_op
from graphlab.ops._sympy import sigma

from .references import symbolic_grads

rng = np.random.default_rng(1)


def test_formulas_render_with_ziamath():
    zm = pytest.importorskip("ziamath")
    zm.config.svg2 = False
    for name in ("Softmax", "LogSoftmax", "Maxout"):
        for latex, _ in get_op(name).formulas.values():
            assert "<svg" in zm.Latex(latex).svg()


# ---- SymPy forms ---------------------------------------------------------------------


def test_sigmoid_derivative_prints_sigma_in_textbook_order():
    x = sp.Symbol("x")
    d = sp.diff(get_op("Sigmoid").sympy(x), x)
    # Built unevaluated: the factors stay in this order for any printer.
    assert d.args == (sigma(x), 1 - sigma(x))
    assert (d - sigma(x) * (1 - sigma(x))).expand() == 0
    assert sp.latex(d) == (r"\sigma{\left(x \right)} \left(1 - \sigma{\left(x \right)}"
                           r"\right)")


def test_sigma_evaluates_at_points():
    x = sp.Symbol("x")
    assert sigma(x).subs(x, 0) == sp.Rational(1, 2)
    assert float(sigma(x).subs(x, -2.0)) == pytest.approx(1 / (1 + math.exp(2)))
    assert float(sp.diff(sigma(x), x).subs(x, 1.5)) == pytest.approx(
        math.exp(-1.5) / (1 + math.exp(-1.5)) ** 2)


@pytest.mark.parametrize("name, otherwise", [("ReLU", "0"), ("LeakyReLU", "0.01"),
                                             ("ELU", "e^{x}")])
def test_piecewise_derivative_prints_as_cases(name, otherwise):
    x = sp.Symbol("x")
    op = get_op(name)
    latex = sp.latex(sp.diff(op.sympy(x, **op.resolve_attrs({})), x))
    assert latex == (r"\begin{cases} 1 & \text{for}\: x > 0 \\" + otherwise
                     + r" & \text{otherwise} \end{cases}")


def test_relu_derivative_at_zero_is_zero():
    x = np.array([-1.0, 0.0, 1.0])
    _, (gx,) = op_vjp("ReLU", [x], (np.ones(3),))
    np.testing.assert_array_equal(gx, [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(symbolic_grads("ReLU", {}, [x])[0], [0.0, 0.0, 1.0])


def test_leaky_relu_and_elu_slopes_at_zero_match_pytorch():
    # PyTorch takes the x ≤ 0 branch at 0: slope α for both.
    x = np.zeros(1)
    for name, attrs in (("LeakyReLU", {"alpha": 0.3}), ("ELU", {"alpha": 0.7})):
        _, (gx,) = op_vjp(name, [x], (np.ones(1),), attrs)
        assert gx[0] == pytest.approx(next(iter(attrs.values())))
        assert symbolic_grads(name, attrs, [x])[0][0] == pytest.approx(gx[0])


# ---- stability -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_at_1000(strict_floats, dtype):
    x = np.array([-1000.0, 0.0, 1000.0], dtype=dtype)
    (out,), _ = run_op("Sigmoid", [x])
    _, (gx,) = op_vjp("Sigmoid", [x], (np.ones(3, dtype),))
    np.testing.assert_array_equal(out, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(gx, [0.0, 0.25, 0.0])
    assert out.dtype == dtype


def test_sigmoid_keeps_relative_precision_in_the_tail():
    # 1 − σ(40) would round to 0; the stable form computes e^−40/(1 + e^−40).
    (out,), _ = run_op("Sigmoid", [np.array([-40.0, -700.0])])
    assert out[0] == pytest.approx(math.exp(-40) / (1 + math.exp(-40)), rel=1e-14)
    assert out[1] == pytest.approx(math.exp(-700), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_generated_line_and_helper_agree_bit_for_bit(dtype):
    # The generated code's template, the op's forward (sigmoid()) and the
    # textbook-stable where(x ≥ 0, 1, e)/(1 + e) give the same bits.
    special = [np.inf, -np.inf, np.nan, 0.0, -0.0, 1000.0, -1000.0, 88.7, -104.0]
    x = np.concatenate([rng.normal(scale=30, size=1000), special]).astype(dtype)
    op = get_op("Sigmoid")
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(x))
        textbook = np.where(x >= 0, 1, e) / (1 + e)
        line = eval(op.template.format(x="x"), {"np": np, "x": x})
    for got in (line, op.forward(None, x)):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, textbook)


def test_lambdified_sigma_is_stable_at_1000(strict_floats):
    x = sp.Symbol("x")
    f = sp.lambdify(x, sp.diff(sigma(x), x), "numpy")
    np.testing.assert_array_equal(f(np.array([-1000.0, 1000.0])), [0.0, 0.0])


@pytest.mark.parametrize("name, want", [
    ("Softmax", [[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]]),
    ("LogSoftmax", [[0.0, -2000.0, -1000.0],
                    [-2000 - math.log(2), -math.log(2), -math.log(2)]]),
])
def test_softmax_family_is_stable_at_1000(strict_floats, name, want):
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0]])
    (out,), _ = run_op(name, [x])
    _, (gx,) = op_vjp(name, [x], (rng.normal(size=x.shape),))
    np.testing.assert_allclose(out, want, rtol=1e-15)
    assert np.isfinite(gx).all()


def test_elu_does_not_overflow_in_the_unused_branch(strict_floats):
    (out,), _ = run_op("ELU", [np.array([1000.0, -1000.0])])
    np.testing.assert_array_equal(out, [1000.0, -1.0])


# ---- maxout --------------------------------------------------------------------------


def test_maxout_ties_send_gradient_to_first_maximum():
    x = np.array([[3.0, 3.0, 1.0, 2.0, 5.0, 5.0]])  # groups (3, 3, 1) and (2, 5, 5)
    _, (gx,) = op_vjp("Maxout", [x], (np.array([[10.0, 20.0]]),), {"pieces": 3})
    np.testing.assert_array_equal(gx, [[10.0, 0.0, 0.0, 0.0, 20.0, 0.0]])
    _, fn = get_op("Maxout").formulas["x"]
    g = np.array([[10.0, 20.0]])
    np.testing.assert_array_equal(fn(g, None, x, pieces=3, axis=1), gx)


def test_maxout_channel_c_takes_channels_ck_to_ck_plus_k_minus_1():
    x = np.arange(12.0).reshape(1, 6, 2)  # channel i holds 2i, 2i + 1
    (out,), _ = run_op("Maxout", [x], {"pieces": 2})
    np.testing.assert_array_equal(out[0, :, 0], [2.0, 6.0, 10.0])  # channels 1, 3, 5


# ---- shapes, attributes --------------------------------------------------------------

SYMBOLIC = [
    ("Sigmoid", {}, [("N", 3)], ("N", 3)),
    ("Softmax", {}, [("N", 10)], ("N", 10)),
    ("LogSoftmax", {"axis": 1}, [("N", 10, 4)], ("N", 10, 4)),
    ("Maxout", {"pieces": 3}, [("N", 6, 5, 5)], ("N", 2, 5, 5)),
    ("Maxout", {"pieces": 2, "axis": 0}, [("N", 4)], ("N/2", 4)),
]


@pytest.mark.parametrize("name, attrs, shapes, want", SYMBOLIC,
                         ids=[c[0] for c in SYMBOLIC])
def test_shape_rule_carries_symbolic_batch(name, attrs, shapes, want):
    op = get_op(name)
    assert op.shape(*shapes, **op.resolve_attrs(attrs)) == want


SHAPE_ERRORS = [
    ("Softmax", {}, [()], "Softmax: x has shape scalar (rank 0), which has no axis -1"),
    ("LogSoftmax", {"axis": 2}, [("N", 3)],
     "LogSoftmax: x has shape N×3 (rank 2), which has no axis 2"),
    ("Maxout", {"pieces": 4}, [("N", 6)],
     "Maxout: x has shape N×6, and axis 1 of size 6 is not a multiple of pieces=4"),
    ("Maxout", {"pieces": 2}, [("N",)], "Maxout: x has shape N (rank 1), which has no "
                                        "axis 1"),
]


@pytest.mark.parametrize("name, attrs, shapes, message", SHAPE_ERRORS,
                         ids=[c[0] for c in SHAPE_ERRORS])
def test_shape_errors_name_port_expected_and_actual(name, attrs, shapes, message):
    op = get_op(name)
    with pytest.raises(ShapeError) as e:
        op.shape(*shapes, **op.resolve_attrs(attrs))
    assert str(e.value) == message


@pytest.mark.parametrize("name, attrs, message", [
    ("Maxout", {}, "Maxout needs attribute 'pieces'"),
    ("Maxout", {"pieces": 0}, "must be at least 1"),
    ("Maxout", {"pieces": 1.5}, "must be an integer"),
    ("LeakyReLU", {"alpha": -0.1}, "must be at least 0"),
    ("Softmax", {"dim": 1}, r"no attribute 'dim' \(known: axis\)"),
])
def test_bad_attrs_are_rejected(name, attrs, message):
    with pytest.raises(AttrError, match=message):
        get_op(name).resolve_attrs(attrs)
