"""Linear algebra and shape ops: references written another way, gradients,
symbolic shape rules, error messages, dtypes, templates and formulas."""

import numpy as np
import pytest

from graphlab.errors import AttrError, ShapeError
from graphlab.gradcheck import check_vjp, op_vjp, run_op
from graphlab.ops import get_op, ops_by_family

rng = np.random.default_rng(0)


def test_family_declares_docs_formulas_and_family():
    ops = ops_by_family()["linear algebra, shape"]
    assert [op.name for op in ops] == ["MatMul", "Linear", "Transpose", "Reshape",
                                       "Flatten", "Concat", "Sum", "Mean"]
    for op in ops:
        assert op.doc and "\n" not in type(op).__doc__.strip()
        assert set(op.formulas) == set(op.input_ports)


def test_formulas_render_with_ziamath():
    ziamath = pytest.importorskip("ziamath")
    ziamath.config.svg2 = False
    for op in ops_by_family()["linear algebra, shape"]:
        for port, (latex, _) in op.formulas.items():
            assert "<svg" in ziamath.Latex(latex).svg(), (op.name, port)


# ---- shapes with a symbolic batch --------------------------------------------------

@pytest.mark.parametrize("name, attrs, in_shapes, want", [
    ("MatMul", {}, [("N", 3, 4), (4, 5)], ("N", 3, 5)),
    ("MatMul", {}, [("N", 4), (4,)], ("N",)),
    ("MatMul", {}, [(4,), ("N", 4, 2)], ("N", 2)),
    ("Linear", {}, [("N", 400), (10, 400), (10,)], ("N", 10)),
    ("Linear", {}, [("N", "T", 8), (16, 8), None], ("N", "T", 16)),
    ("Transpose", {}, [("N", 3, 4)], (4, 3, "N")),
    ("Transpose", {"perm": [0, 2, 1]}, [("N", 3, 4)], ("N", 4, 3)),
    ("Reshape", {"shape": ["N", -1]}, [("N", 4, 5)], ("N", 20)),
    ("Reshape", {"shape": [-1, 1, 28, 28]}, [("N", 784)], ("N", 1, 28, 28)),
    ("Reshape", {"shape": ["N", 1, 28, 28]}, [("N", 784)], ("N", 1, 28, 28)),
    ("Reshape", {"shape": [-1, 5]}, [("N", 20)], ("4·N", 5)),
    ("Reshape", {"shape": ["N", 2, -1]}, [(8, 6)], (8, 2, 3)),
    ("Flatten", {}, [("N", 6, 5, 5)], ("N", 150)),
    ("Flatten", {"start_axis": 0}, [("N", 6, 5)], ("30·N",)),
    ("Flatten", {"start_axis": 1}, [("N", "T", 3)], ("N", "3·T")),
    ("Concat", {}, [("N", 3), ("N", 4)], ("N", 7)),
    ("Concat", {"axis": 0}, [("N", 3), (2, 3)], ("N+2", 3)),
    ("Concat", {"axis": 2}, [("N", 5, 2), (4, 5, 3)], (4, 5, 5)),
    ("Sum", {"axis": [1, 2]}, [("N", 3, 4)], ("N",)),
    ("Sum", {}, [("N", 3)], ()),
    ("Mean", {"axis": 0, "keepdims": True}, [("N", 3, 4)], (1, 3, 4)),
    ("Mean", {"axis": [-1]}, [("N", 3, 4)], ("N", 3)),
])
def test_shape_rule_carries_symbolic_dims(name, attrs, in_shapes, want):
    op = get_op(name)
    assert op.shape(*in_shapes, **op.resolve_attrs(attrs)) == want


def test_reshape_n_follows_the_batch_at_run_time():
    for batch in (1, 3, 7):
        x = rng.normal(size=(batch, 2, 6))
        (out,), _ = run_op("Reshape", [x], {"shape": ["N", 3, -1]})
        assert out.shape == (batch, 3, 4)
        np.testing.assert_array_equal(out.reshape(-1), x.reshape(-1))


def test_sum_and_mean_axis_lists_with_keepdims():
    x = rng.normal(size=(2, 3, 4, 5))
    for name, fn in (("Sum", np.sum), ("Mean", np.mean)):
        for axis in ([0, 2], [3, 1], [-1, 0, 1]):
            for keepdims in (False, True):
                attrs = {"axis": axis, "keepdims": keepdims}
                (out,), _ = run_op(name, [x], attrs)
                want = fn(x, axis=tuple(axis), keepdims=keepdims)
                np.testing.assert_allclose(out, want, rtol=1e-12)
                assert check_vjp(name, [x], attrs) == 1


def test_sum_vjp_spreads_the_gradient_over_reduced_axes():
    x = rng.normal(size=(2, 3, 4))
    g = np.arange(3.0)
    _, (gx,) = op_vjp("Mean", [x], (g,), {"axis": [0, 2]})
    np.testing.assert_array_equal(gx, np.broadcast_to(g[None, :, None] / 8, x.shape))


def test_macs_count_one_example():
    linear, matmul = get_op("Linear"), get_op("MatMul")
    assert linear.macs([("N", 400), (10, 400), (10,)], [("N", 10)]) == 4000
    assert linear.macs([("N", 7, 400), (10, 400), None], [("N", 7, 10)]) == 28000
    assert matmul.macs([("N", 3, 4), (4, 5)], [("N", 3, 5)]) == 60
    assert get_op("Flatten").macs([("N", 3)], [("N", 3)]) == 0


# ---- errors ----------------------------------------------------------------------

@pytest.mark.parametrize("name, attrs, in_shapes, message", [
    ("Linear", {}, [("N", 256), (10, 400), None],
     "Linear: input has 256 features, w expects 400"),
    ("Linear", {}, [("N", 400), (10, 400), (5,)],
     "Linear: b must have 10 entries"),
    ("Linear", {}, [("N", 400), (400,), None], "Linear: w must be a matrix out×in"),
    ("MatMul", {}, [(3, 4), (5, 6)], "MatMul: a has 4 columns but b has 5 rows"),
    ("MatMul", {}, [(4,), (5,)], "MatMul: a has 4 entries but b has 5 entries"),
    ("MatMul", {}, [(2, 3, 4), (5, 4, 6)],
     "MatMul: batch dimensions 2 of a and 5 of b do not broadcast"),
    ("MatMul", {}, [(), (3,)], "MatMul: a is a scalar"),
    ("Transpose", {"perm": [1, 0]}, [(2, 3, 4)],
     r"Transpose: perm \[1, 0\] lists 2 axes, but the input 2×3×4 has rank 3"),
    ("Transpose", {"perm": [0, 0, 1]}, [(2, 3, 4)],
     r"Transpose: perm \[0, 0, 1\] is not a permutation of the axes 0…2"),
    ("Transpose", {"perm": [0, 3, 1]}, [(2, 3, 4)],
     "Transpose: perm axis 3 is out of range for a tensor of rank 3"),
    ("Reshape", {"shape": [3, 7]}, [(2, 10)],
     "Reshape: cannot reshape 2×10 \\(20 elements\\) into 3×7 \\(21 elements\\)"),
    ("Reshape", {"shape": ["N", 3, 5]}, [("N", 20)],
     "Reshape: cannot reshape N×20 \\(20·N elements\\) into N×3×5 "
     "\\(15·N elements\\)"),
    ("Reshape", {"shape": [3, -1]}, [(2, 10)],
     "Reshape: cannot reshape 2×10 \\(20 elements\\) into 3×-1: 20 is not a "
     "multiple of 3"),
    ("Reshape", {"shape": ["N", -1]}, [()], 'Reshape: shape uses "N"'),
    ("Flatten", {"start_axis": 1}, [(5,)],
     "Flatten: start_axis 1 is out of range for a tensor of rank 1"),
    ("Concat", {}, [("N", 3), ("N", 3, 1)],
     "Concat: a is N×3 \\(rank 2\\) and b is N×3×1 \\(rank 3\\)"),
    ("Concat", {}, [(2, 3), (4, 5)],
     "Concat: a is 2×3 and b is 4×5: sizes must match on every axis but axis 1 "
     "\\(axis 0: 2 vs 4\\)"),
    ("Concat", {"axis": 2}, [(2, 3), (2, 3)],
     "Concat: axis 2 is out of range for a tensor of rank 2"),
    ("Sum", {"axis": 3}, [("N", 3)],
     "Sum: axis 3 is out of range for a tensor of rank 2"),
    ("Mean", {"axis": [1, -1]}, [("N", 3)],
     r"Mean: axis 1 is listed twice in axis \[1, -1\]"),
])
def test_shape_errors_name_ports_expected_and_actual(name, attrs, in_shapes, message):
    op = get_op(name)
    with pytest.raises(ShapeError, match=message) as err:
        op.shape(*in_shapes, **op.resolve_attrs(attrs))
    assert err.value.node is None and "node" not in str(err.value)


@pytest.mark.parametrize("name, attrs, message", [
    ("Reshape", {"shape": [-1, -1]}, "more than one -1"),
    ("Reshape", {"shape": ["B", 3]}, "names 'B'; the only name allowed is \"N\""),
    ("Reshape", {"shape": [2, -3]}, "holds -3"),
    ("Transpose", {"perm": 1}, "must be a list of axes"),
    ("Sum", {"keepdims": 1}, "must be true or false"),
])
def test_bad_attributes_are_rejected(name, attrs, message):
    with pytest.raises(AttrError, match=message):
        get_op(name).resolve_attrs(attrs)


def test_concat_defaults_to_axis_1():
    assert get_op("Concat").resolve_attrs({}) == {"axis": 1}


# ---- MatMul gradients through the whole pipeline, against torch ----------------------

MATMUL_BROADCASTS = [
    ((2, 3, 4), (4,)),
    ((4,), (2, 4, 5)),
    ((4,), (4,)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((3, 4), (4, 5)),
    ((3, 4), (2, 4, 5)),
    ((2, 3, 4), (4, 5)),
    ((1, 3, 4), (2, 4, 5)),
    ((2, 3, 4), (1, 4, 5)),
    ((2, 3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (1, 5, 4, 2)),
    ((1, 1, 3, 4), (2, 5, 4, 2)),
    ((5, 3, 4), (2, 1, 4, 2)),
    ((2, 3, 4), (3, 2, 4, 5)),
    ((4,), (2, 3, 4, 5)),
]


def _matmul_graph(sa, sb):
    from graphlab import Graph
    g = Graph("matmul")
    g.add_node("a", "Input", {"shape": list(sa), "dtype": "float64"})
    g.add_node("b", "Input", {"shape": list(sb), "dtype": "float64"})
    g.add_node("m", "MatMul")
    g.connect("a", "m:a")
    g.connect("b", "m:b")
    g.set_outputs(["m"])
    return g


@pytest.mark.parametrize("sa, sb", MATMUL_BROADCASTS,
                         ids=[f"{a}@{b}" for a, b in MATMUL_BROADCASTS])
def test_matmul_gradients_reduce_to_each_operand_like_torch(sa, sb):
    torch = pytest.importorskip("torch")
    from graphlab import compile
    from graphlab.interpret import trace
    r = np.random.default_rng(1)
    a, b = r.normal(size=sa), r.normal(size=sb)
    seed = r.normal(size=np.matmul(a, b).shape)
    ta = torch.tensor(a, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    (torch.matmul(ta, tb) * torch.tensor(seed)).sum().backward()
    g = _matmul_graph(sa, sb)
    for fuse in (False, True):
        prog = compile(g, dtype="float64", fuse=fuse)
        prog.forward({"a": a, "b": b})
        grads = prog.backward(seed)
        assert grads["a"].shape == sa and grads["b"].shape == sb
        np.testing.assert_allclose(grads["a"], ta.grad.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(grads["b"], tb.grad.numpy(), rtol=1e-12, atol=1e-12)
    t = trace(g, {"a": a, "b": b}, seed=seed)
    np.testing.assert_allclose(t.grads["a"], ta.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(t.grads["b"], tb.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_matmul_broadcast_batch_passes_graphlab_gradcheck():
    from graphlab.testing import gradcheck
    g = _matmul_graph((2, 1, 3, 4), (1, 5, 4, 2))
    assert gradcheck(g) == ["a", "b"]
    g = _matmul_graph((2, 3, 4), (4,))
    assert gradcheck(g) == ["a", "b"]
