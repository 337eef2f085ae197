"""Arithmetic ops: shapes, forward against NumPy written another way, gradients."""

import numpy as np
import pytest

from graphlab.errors import ShapeError
from graphlab.gradcheck import check_vjp, run_op
from graphlab.ops import get_op

rng = np.random.default_rng(0)

# One row per case: op, attrs, inputs, reference forward.
CASES = [
    ("Add", {}, [rng.normal(size=(2, 3)), rng.normal(size=(3,))],
     lambda a, b: np.add(a, np.broadcast_to(b, a.shape))),
    ("Mul", {}, [rng.normal(size=(4, 1)), rng.normal(size=(1, 5))],
     lambda a, b: np.einsum("ij,jk->ik", a, b)),
]


@pytest.mark.parametrize("name, attrs, inputs, ref", CASES, ids=[c[0] for c in CASES])
def test_forward_matches_reference(name, attrs, inputs, ref):
    (out,), _ = run_op(name, inputs, attrs)
    np.testing.assert_allclose(out, ref(*inputs), rtol=1e-12)


@pytest.mark.parametrize("name, attrs, inputs, ref", CASES, ids=[c[0] for c in CASES])
def test_vjp_matches_finite_differences(name, attrs, inputs, ref):
    assert check_vjp(name, inputs, attrs) == len(inputs)


@pytest.mark.parametrize("name, attrs, inputs, ref", CASES, ids=[c[0] for c in CASES])
def test_shape_rule_matches_forward(name, attrs, inputs, ref):
    op = get_op(name)
    (out,), _ = run_op(name, inputs, attrs)
    assert op.shape(*[x.shape for x in inputs], **op.resolve_attrs(attrs)) == out.shape


def test_add_broadcasts_symbolic_batch():
    assert get_op("Add").shape(("N", 3), (3,)) == ("N", 3)


def test_add_rejects_mismatched_sizes():
    with pytest.raises(ShapeError, match="2×3 and 4 do not broadcast"):
        get_op("Add").shape((2, 3), (4,))
