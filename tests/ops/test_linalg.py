"""Linear algebra and shape ops: references written another way, gradients,
symbolic shape rules, error messages, dtypes, templates and formulas."""

import itertools

import numpy as np
import pytest

from graphlab.errors import AttrError, ShapeError
from graphlab.gradcheck import check_vjp, op_vjp, run_op
from graphlab.ops import Ctx, get_op, ops_by_family, unbroadcast

rng = np.random.default_rng(0)


def _normal(*shape):
    return rng.normal(size=shape)


def _matmul_loops(a, b):
    """np.matmul semantics written out: promote, broadcast batches, triple loop."""
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    a2 = np.broadcast_to(a2, batch + a2.shape[-2:])
    b2 = np.broadcast_to(b2, batch + b2.shape[-2:])
    n, k, m = a2.shape[-2], a2.shape[-1], b2.shape[-1]
    out = np.zeros(batch + (n, m))
    for idx in np.ndindex(*batch):
        for i, j in itertools.product(range(n), range(m)):
            out[idx + (i, j)] = sum(a2[idx + (i, q)] * b2[idx + (q, j)]
                                    for q in range(k))
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]
    return out


def _linear_ref(x, w, b=None):
    out = np.einsum("...i,oi->...o", x, w)
    return out if b is None else out + b


def _concat_ref(a, b, axis):
    ax = axis % a.ndim
    shape = list(a.shape)
    shape[ax] += b.shape[ax]
    out = np.empty(shape)
    head = (slice(None),) * ax
    out[head + (slice(0, a.shape[ax]),)] = a
    out[head + (slice(a.shape[ax], None),)] = b
    return out


def _sum_loops(x, axes, keepdims):
    axes = tuple(a % x.ndim for a in axes)
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    out = np.zeros(shape)
    for idx in np.ndindex(*x.shape):
        out[tuple(0 if i in axes else k for i, k in enumerate(idx))] += x[idx]
    if not keepdims:
        out = out.reshape(tuple(d for i, d in enumerate(x.shape) if i not in axes))
    return out


def _mean_loops(x, axes, keepdims):
    n = np.prod([x.shape[a] for a in axes])
    return _sum_loops(x, axes, keepdims) / n


# One row per case: id, op, attrs, inputs (None: absent optional input), reference.
CASES = [
    ("matmul_2d", "MatMul", {}, [_normal(3, 4), _normal(4, 5)],
     lambda a, b: np.einsum("ij,jk->ik", a, b)),
    ("matmul_batched_by_matrix", "MatMul", {}, [_normal(2, 3, 4), _normal(4, 5)],
     lambda a, b: np.einsum("bij,jk->bik", a, b)),
    ("matmul_batch_broadcast", "MatMul", {}, [_normal(1, 3, 4), _normal(2, 4, 2)],
     _matmul_loops),
    ("matmul_matrix_by_batched", "MatMul", {}, [_normal(3, 4), _normal(2, 4, 2)],
     _matmul_loops),
    ("matmul_vector_by_matrix", "MatMul", {}, [_normal(4), _normal(4, 3)],
     lambda a, b: np.einsum("j,jk->k", a, b)),
    ("matmul_matrix_by_vector", "MatMul", {}, [_normal(3, 4), _normal(4)],
     lambda a, b: np.einsum("ij,j->i", a, b)),
    ("matmul_vector_by_vector", "MatMul", {}, [_normal(4), _normal(4)],
     lambda a, b: np.einsum("j,j->", a, b)),
    ("matmul_vector_by_batched", "MatMul", {}, [_normal(4), _normal(2, 4, 3)],
     _matmul_loops),
    ("matmul_batched_by_vector", "MatMul", {}, [_normal(2, 3, 4), _normal(4)],
     _matmul_loops),
    ("linear", "Linear", {}, [_normal(5, 4), _normal(3, 4), _normal(3)], _linear_ref),
    ("linear_no_bias", "Linear", {}, [_normal(5, 4), _normal(3, 4), None],
     _linear_ref),
    ("linear_sequence", "Linear", {}, [_normal(2, 3, 4), _normal(5, 4), _normal(5)],
     _linear_ref),
    ("linear_batch_of_one", "Linear", {}, [_normal(1, 4), _normal(2, 4), _normal(2)],
     _linear_ref),
    ("linear_vector", "Linear", {}, [_normal(4), _normal(3, 4), _normal(3)],
     _linear_ref),
    ("transpose_default", "Transpose", {}, [_normal(2, 3, 4)],
     lambda x: np.einsum("ijk->kji", x)),
    ("transpose_perm", "Transpose", {"perm": [2, 0, 1]}, [_normal(2, 3, 4)],
     lambda x: np.einsum("ijk->kij", x)),
    ("transpose_negative_perm", "Transpose", {"perm": [0, -1, 1]}, [_normal(2, 3, 4)],
     lambda x: np.einsum("ijk->ikj", x)),
    ("reshape_batch_n", "Reshape", {"shape": ["N", -1]}, [_normal(3, 2, 4)],
     lambda x: x.reshape(3, 8)),
    ("reshape_inferred_lead", "Reshape", {"shape": [-1, 2, 2]}, [_normal(3, 4)],
     lambda x: x.reshape(3, 2, 2)),
    ("reshape_n_middle", "Reshape", {"shape": [2, "N", 3]}, [_normal(5, 6)],
     lambda x: x.reshape(2, 5, 3)),
    ("flatten", "Flatten", {}, [_normal(2, 3, 2, 2)], lambda x: x.reshape(2, 12)),
    ("flatten_from_0", "Flatten", {"start_axis": 0}, [_normal(2, 3, 2)],
     lambda x: x.reshape(12)),
    ("flatten_from_2", "Flatten", {"start_axis": 2}, [_normal(2, 3, 2, 2)],
     lambda x: x.reshape(2, 3, 4)),
    ("flatten_last", "Flatten", {"start_axis": -1}, [_normal(2, 3)], lambda x: x),
    ("concat_default_axis", "Concat", {}, [_normal(2, 3), _normal(2, 4)],
     lambda a, b: _concat_ref(a, b, 1)),
    ("concat_axis_0", "Concat", {"axis": 0}, [_normal(2, 3, 2), _normal(1, 3, 2)],
     lambda a, b: _concat_ref(a, b, 0)),
    ("concat_axis_negative", "Concat", {"axis": -1}, [_normal(2, 3, 1),
                                                       _normal(2, 3, 2)],
     lambda a, b: _concat_ref(a, b, -1)),
    ("sum_all", "Sum", {}, [_normal(2, 3, 4)],
     lambda x: _sum_loops(x, (0, 1, 2), False)),
    ("sum_axis", "Sum", {"axis": 1}, [_normal(2, 3, 4)],
     lambda x: _sum_loops(x, (1,), False)),
    ("sum_axis_list_keepdims", "Sum", {"axis": [0, -1], "keepdims": True},
     [_normal(2, 3, 4)], lambda x: _sum_loops(x, (0, 2), True)),
    ("sum_all_keepdims", "Sum", {"keepdims": True}, [_normal(2, 3)],
     lambda x: _sum_loops(x, (0, 1), True)),
    ("mean_all", "Mean", {}, [_normal(2, 3, 4)],
     lambda x: _mean_loops(x, (0, 1, 2), False)),
    ("mean_axis_list", "Mean", {"axis": [2, 0]}, [_normal(2, 3, 4)],
     lambda x: _mean_loops(x, (0, 2), False)),
    ("mean_axis_keepdims", "Mean", {"axis": -2, "keepdims": True}, [_normal(2, 3, 4)],
     lambda x: _mean_loops(x, (1,), True)),
]
IDS = [c[0] for c in CASES]


def _shape(x):
    return None if x is None else x.shape


@pytest.mark.parametrize("case, name, attrs, inputs, ref", CASES, ids=IDS)
def test_forward_matches_reference(case, name, attrs, inputs, ref):
    (out,), _ = run_op(name, inputs, attrs)
    want = ref(*inputs)
    assert out.shape == np.shape(want)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case, name, attrs, inputs, ref", CASES, ids=IDS)
def test_vjp_matches_finite_differences(case, name, attrs, inputs, ref):
    assert check_vjp(name, inputs, attrs) == sum(x is not None for x in inputs)


@pytest.mark.parametrize("case, name, attrs, inputs, ref", CASES, ids=IDS)
def test_shape_rule_matches_forward(case, name, attrs, inputs, ref):
    op = get_op(name)
    (out,), _ = run_op(name, inputs, attrs)
    assert op.shape(*map(_shape, inputs), **op.resolve_attrs(attrs)) == out.shape


@pytest.mark.parametrize("case, name, attrs, inputs, ref", CASES, ids=IDS)
def test_float32_stays_float32(case, name, attrs, inputs, ref):
    x32 = [None if x is None else x.astype(np.float32) for x in inputs]
    (out,), _ = run_op(name, x32, attrs)
    assert out.dtype == np.float32
    g = rng.normal(size=out.shape).astype(np.float32)
    _, grads = op_vjp(name, x32, (g,), attrs)
    for x, gr in zip(x32, grads):
        if x is not None:
            assert gr.dtype == np.float32 and gr.shape == x.shape
    np.testing.assert_allclose(out, ref(*inputs), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case, name, attrs, inputs, ref", CASES, ids=IDS)
def test_formulas_match_vjp(case, name, attrs, inputs, ref):
    op = get_op(name)
    resolved = op.resolve_attrs(attrs)
    (out,), _ = run_op(name, inputs, attrs)
    g = rng.normal(size=out.shape)
    _, grads = op_vjp(name, inputs, (g,), attrs)
    checked = 0
    for port, x, want in zip(op.input_ports, inputs, grads):
        if x is None:
            continue
        latex, fn = op.formulas[port]
        assert latex.startswith(r"\frac{\partial L}{\partial")
        got = unbroadcast(np.asarray(fn(g, out, *inputs, **resolved)), x.shape)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        checked += 1
    assert checked == sum(x is not None for x in inputs)


TEMPLATE_CASES = [c for c in CASES if get_op(c[1]).template
                  or get_op(c[1]).vjp_template("x", get_op(c[1]).resolve_attrs(c[2]))]


@pytest.mark.parametrize("case, name, attrs, inputs, ref", TEMPLATE_CASES,
                         ids=[c[0] for c in TEMPLATE_CASES])
def test_templates_match_forward(case, name, attrs, inputs, ref):
    """Templates as codegen fills them: ports by name, attrs by repr."""
    op = get_op(name)
    resolved = op.resolve_attrs(attrs)
    names = {p: p for p in op.input_ports}
    names.update({k: repr(v) for k, v in resolved.items()})
    scope = dict(zip(op.input_ports, inputs), np=np)
    (out,), _ = run_op(name, inputs, attrs)
    if op.template:
        np.testing.assert_array_equal(eval(op.template.format(**names), scope), out)
    g = rng.normal(size=out.shape)
    _, grads = op_vjp(name, inputs, (g,), attrs)
    for port, want in zip(op.input_ports, grads):
        template = op.vjp_template(port, resolved)
        if template is not None:
            expr = template.format(g="g", out="out", **names)
            np.testing.assert_array_equal(eval(expr, dict(scope, g=g, out=out)), want)


@pytest.mark.parametrize("case, name, attrs, inputs, ref", CASES, ids=IDS)
def test_vjp_skips_gradients_nobody_needs(case, name, attrs, inputs, ref):
    op = get_op(name)
    resolved = op.resolve_attrs(attrs)
    (out,), _ = run_op(name, inputs, attrs)
    g = rng.normal(size=out.shape)
    full = op.vjp(Ctx(), g, out, *inputs, **resolved)
    for i in range(len(inputs)):
        mask = tuple(j != i for j in range(len(inputs)))
        grads = op.vjp(Ctx(needs_input_grad=mask), g, out, *inputs, **resolved)
        assert grads[i] is None
        for j, (want, got) in enumerate(zip(full, grads)):
            if j != i:
                np.testing.assert_array_equal(got, want)


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
