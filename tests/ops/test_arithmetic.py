"""Arithmetic ops: shapes, forward against NumPy written another way, gradients."""

import math
import operator

import numpy as np
import pytest
import sympy as sp

from graphlab.errors import AttrError, ShapeError
from graphlab.gradcheck import check_vjp, op_vjp, run_op
from graphlab.ops import get_op

rng = np.random.default_rng(0)


def loop(f):
    """Reference for an elementwise op: ``f`` applied to each element in Python."""
    def ref(*xs):
        xs = np.broadcast_arrays(*xs)
        vals = [f(*map(float, v)) for v in zip(*(x.ravel() for x in xs))]
        return np.array(vals).reshape(xs[0].shape)
    return ref


def away(*shape, margin=0.2):
    """Normal values at least ``margin`` from 0: clear of the kinks at 0."""
    x = rng.normal(size=shape)
    return np.where(x >= 0, 1, -1) * (margin + np.abs(x))


def positive(*shape):
    return rng.uniform(0.5, 2.0, size=shape)


# One row per case: op, attrs, inputs, reference forward. Shapes are odd on
# purpose: broadcasting both ways, a batch of 1, scalars.
CASES = [
    ("Add", {}, [rng.normal(size=(2, 3)), rng.normal(size=(3,))],
     lambda a, b: np.add(a, np.broadcast_to(b, a.shape))),
    ("Add", {}, [rng.normal(size=(1, 4)), rng.normal(size=())], loop(operator.add)),
    ("Mul", {}, [rng.normal(size=(4, 1)), rng.normal(size=(1, 5))],
     lambda a, b: np.einsum("ij,jk->ik", a, b)),
    ("Sub", {}, [rng.normal(size=(1, 3)), rng.normal(size=(2, 1))], loop(operator.sub)),
    ("Div", {}, [rng.normal(size=(2, 3)), away(3)], loop(operator.truediv)),
    ("Div", {}, [rng.normal(size=()), away(1, 4)], loop(operator.truediv)),
    # a and b at least 0.1 apart: finite differences never cross a tie.
    ("Maximum", {}, [np.array([[0.3, -1.0, 2.0]]), np.array([[0.1], [0.5]])],
     loop(max)),
    ("Neg", {}, [rng.normal(size=(1, 3))], loop(operator.neg)),
    ("Exp", {}, [rng.normal(size=(2, 3))], loop(math.exp)),
    ("Log", {}, [positive(3, 1)], loop(math.log)),
    ("Sqrt", {}, [positive(1, 2, 3)], loop(math.sqrt)),
    ("Abs", {}, [away(2, 3)], loop(abs)),
    ("Pow", {"exponent": 3}, [rng.normal(size=(2, 2))], loop(lambda x: x * x * x)),
    ("Pow", {"exponent": 0.5}, [positive(1, 3)], loop(math.sqrt)),
    ("Pow", {"exponent": -1.5}, [positive(4)], loop(lambda x: 1 / (x * math.sqrt(x)))),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name, attrs, inputs, ref", CASES, ids=IDS)
def test_forward_matches_reference(name, attrs, inputs, ref):
    (out,), _ = run_op(name, inputs, attrs)
    np.testing.assert_allclose(out, ref(*inputs), rtol=1e-12)


@pytest.mark.parametrize("name, attrs, inputs, ref", CASES, ids=IDS)
def test_vjp_matches_finite_differences(name, attrs, inputs, ref):
    assert check_vjp(name, inputs, attrs) == len(inputs)


@pytest.mark.parametrize("name, attrs, inputs, ref", CASES, ids=IDS)
def test_shape_rule_matches_forward(name, attrs, inputs, ref):
    op = get_op(name)
    (out,), _ = run_op(name, inputs, attrs)
    assert op.shape(*[x.shape for x in inputs], **op.resolve_attrs(attrs)) == out.shape


@pytest.mark.parametrize("name, attrs, inputs, ref", CASES, ids=IDS)
def test_float32_stays_float32(name, attrs, inputs, ref):
    x32 = [np.asarray(x, dtype=np.float32) for x in inputs]
    (out,), _ = run_op(name, x32, attrs)
    g = rng.normal(size=out.shape).astype(np.float32)
    _, grads = op_vjp(name, x32, (g,), attrs)
    assert out.dtype == np.float32
    assert [gr.dtype for gr in grads] == [np.float32] * len(inputs)
    np.testing.assert_allclose(out, ref(*inputs), rtol=1e-5)


def _fill(template, env, attrs):
    names = {**{k: k for k in env}, **{k: repr(v) for k, v in attrs.items()}}
    return template.format(**names)


@pytest.mark.parametrize("name, attrs, inputs, ref", CASES, ids=IDS)
def test_templates_match_kernels(name, attrs, inputs, ref):
    # Generated code inlines the templates; they must compute what the kernels do.
    op = get_op(name)
    attrs = op.resolve_attrs(attrs)
    env = dict(zip(op.input_ports, inputs))
    (out,), ctx = run_op(name, inputs, attrs)
    np.testing.assert_array_equal(eval(_fill(op.template, env, attrs), {"np": np}, env),
                                  out)
    env.update(g=rng.normal(size=out.shape), out=out)
    want = op.vjp(ctx, env["g"], out, *inputs, **attrs)
    for port, w in zip(op.input_ports, want):
        got = eval(_fill(op.vjp_template(port, attrs), env, attrs), {"np": np}, env)
        np.testing.assert_allclose(got, w, rtol=1e-15, err_msg=port)


def _symbolic_grads(name, attrs, inputs):
    """∂out/∂input from lambdified ``sp.diff`` of the op's SymPy form."""
    op = get_op(name)
    symbols = sp.symbols(op.input_ports)
    expr = op.sympy(*symbols, **op.resolve_attrs(attrs))
    return [np.broadcast_to(sp.lambdify(symbols, sp.diff(expr, s), "numpy")(*inputs),
                            np.broadcast(*inputs).shape) for s in symbols]


@pytest.mark.parametrize("name, attrs, inputs, ref", CASES, ids=IDS)
def test_sympy_derivative_matches_vjp(name, attrs, inputs, ref):
    full = np.broadcast_arrays(*inputs)
    g = rng.normal(size=full[0].shape)
    _, grads = op_vjp(name, full, (g,), attrs)
    for got, local in zip(grads, _symbolic_grads(name, attrs, full)):
        np.testing.assert_allclose(got, g * local, rtol=1e-10)


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
    da, db = _symbolic_grads("Maximum", {}, [a, b])
    np.testing.assert_array_equal(da, [0.5, 0.0, 0.5])
    np.testing.assert_array_equal(db, [0.5, 1.0, 0.5])


def test_abs_derivative_at_zero_is_zero():
    x = np.array([-2.0, 0.0, 3.0])
    _, (gx,) = op_vjp("Abs", [x], (np.ones(3),))
    np.testing.assert_array_equal(gx, [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(_symbolic_grads("Abs", {}, [x])[0], [-1.0, 0.0, 1.0])


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
