"""Arithmetic ops: shapes, forward against NumPy written another way, gradients."""

import numpy as np
import pytest
import sympy as sp

from graphlab.errors import AttrError, ShapeError
from graphlab.gradcheck import op_vjp, run_op
from graphlab.ops import get_op

from .references import symbolic_grads

rng = np.random.default_rng(0)


def _fill(template, env, attrs):
    names = {**{k: k for k in env}, **{k: repr(v) for k, v in attrs.items()}}
    return template.format(**names)


def test_sympy_forms_read_as_textbook():
    a, b, x = sp.symbols("a b x")
    assert sp.diff(get_op("Div").sympy(a, b), b) == -a / b**2
    assert sp.diff(get_op("Pow").sympy(x, exponent=2.0), x) == 2 * x
    assert r"\begin{cases}" in sp.latex(sp.diff(get_op("Abs").sympy(x), x))


# ---- kinks: PyTorch's conventions ----------------------------------------------------


def test_maximum_ties_split_gradient_equally():
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 5.0, 3.0])
    g = np.array([2.0, 3.0, 4.0])
    _, (ga, gb) = op_vjp("Maximum", [a, b], (g,))
    np.testing.assert_array_equal(ga, [1.0, 0.0, 2.0])
    np.testing.assert_array_equal(gb, [1.0, 3.0, 2.0])
    # and the symbolic form agrees at the tie
    da, db = symbolic_grads("Maximum", {}, [a, b])
    np.testing.assert_array_equal(da, [0.5, 0.0, 0.5])
    np.testing.assert_array_equal(db, [0.5, 1.0, 0.5])


def test_abs_derivative_at_zero_is_zero():
    x = np.array([-2.0, 0.0, 3.0])
    _, (gx,) = op_vjp("Abs", [x], (np.ones(3),))
    np.testing.assert_array_equal(gx, [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(symbolic_grads("Abs", {}, [x])[0], [-1.0, 0.0, 1.0])


def test_pow_exponent_zero_has_zero_gradient_even_at_zero():
    x = np.array([0.0, 2.0])
    (out,), _ = run_op("Pow", [x], {"exponent": 0})
    _, (gx,) = op_vjp("Pow", [x], (np.ones(2),), {"exponent": 0})
    np.testing.assert_array_equal(out, [1.0, 1.0])
    np.testing.assert_array_equal(gx, [0.0, 0.0])
    g, exponent = np.ones(2), 0.0
    template = get_op("Pow").vjp_template("x", {"exponent": exponent})
    assert np.array_equal(eval(_fill(template, {"g": g, "x": x},
                                     {"exponent": exponent})), [0.0, 0.0])


# ---- shapes --------------------------------------------------------------------------

SYMBOLIC = [
    ("Sub", {}, [("N", 3), (3,)], ("N", 3)),
    ("Maximum", {}, [("N", 1), (1, 5)], ("N", 5)),
    ("Div", {}, [(), ("N", 2)], ("N", 2)),
    ("Exp", {}, [("N", 2, 2)], ("N", 2, 2)),
    ("Pow", {"exponent": 2}, [("N",)], ("N",)),
]


@pytest.mark.parametrize("name, attrs, shapes, want", SYMBOLIC,
                         ids=[c[0] for c in SYMBOLIC])
def test_shape_rule_carries_symbolic_batch(name, attrs, shapes, want):
    op = get_op(name)
    assert op.shape(*shapes, **op.resolve_attrs(attrs)) == want


def test_add_broadcasts_symbolic_batch():
    assert get_op("Add").shape(("N", 3), (3,)) == ("N", 3)


def test_add_rejects_mismatched_sizes():
    with pytest.raises(ShapeError, match="2×3 and 4 do not broadcast"):
        get_op("Add").shape((2, 3), (4,))


@pytest.mark.parametrize("name", ["Sub", "Mul", "Div", "Maximum"])
def test_binary_shape_error_names_op_and_shapes(name):
    message = rf"^{name}: inputs N×3 and 2×4 do not broadcast"
    with pytest.raises(ShapeError, match=message):
        get_op(name).shape(("N", 3), (2, 4))


def test_pow_needs_exponent():
    with pytest.raises(AttrError, match="Pow needs attribute 'exponent'"):
        get_op("Pow").resolve_attrs({})
    with pytest.raises(AttrError, match="must be a number"):
        get_op("Pow").resolve_attrs({"exponent": "two"})


def test_macs_count_elements_per_example():
    assert get_op("Mul").macs([("N", 3, 4), (4,)], [("N", 3, 4)]) == 12
