"""Embedding, and the sequence-shaped CrossEntropyLoss and Linear: forward and
gradients against loops, finite differences and PyTorch in float64."""

import numpy as np
import pytest

from graphlab.errors import ExecutionError, ShapeError
from graphlab.gradcheck import check_vjp, op_vjp, run_op
from graphlab.ops import Ctx, get_op, ops_by_family
from graphlab.ops.sequence import _embedding_grad_w

rng = np.random.default_rng(19)

# Repeated tokens on purpose: their gradients must add up in one row.
CASES = [
    ("batch of sequences", np.array([[1, 3, 3, 0], [4, 1, 1, 1]]),
     rng.normal(size=(5, 3))),
    ("one sequence", np.array([2, 2, 0]), rng.normal(size=(3, 2))),
    ("one token", np.array(4), rng.normal(size=(6, 4))),
    ("unused rows", np.array([[0], [0]]), rng.normal(size=(7, 2))),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name, x, w", CASES, ids=IDS)
def test_embedding_forward_picks_rows(name, x, w):
    (out,), _ = run_op("Embedding", [x, w])
    assert out.shape == x.shape + (w.shape[1],)
    for idx in np.ndindex(*x.shape):
        np.testing.assert_array_equal(out[idx], w[int(x[idx])])


@pytest.mark.parametrize("name, x, w", CASES, ids=IDS)
def test_embedding_vjp_matches_finite_differences(name, x, w):
    assert check_vjp("Embedding", [x, w]) == 1


@pytest.mark.parametrize("name, x, w", CASES, ids=IDS)
def test_embedding_grad_adds_repeated_rows_like_a_loop(name, x, w):
    g = rng.normal(size=x.shape + (w.shape[1],))
    _, (gx, gw) = op_vjp("Embedding", [x, w], (g,))
    want = np.zeros_like(w)
    for idx in np.ndindex(*x.shape):
        want[int(x[idx])] += g[idx]
    assert gx is None
    np.testing.assert_allclose(gw, want, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name, x, w", CASES, ids=IDS)
def test_embedding_shape_rule_and_formula(name, x, w):
    op = get_op("Embedding")
    (out,), ctx = run_op("Embedding", [x, w])
    assert op.shape(x.shape, w.shape) == out.shape
    g = rng.normal(size=out.shape)
    _, want = op.vjp(ctx, g, out, x, w)
    latex, fn = op.formulas["w"]
    assert latex.startswith(r"\frac{\partial L}{\partial W}")
    np.testing.assert_allclose(fn(g, out, x, w), want, rtol=1e-12, atol=1e-14)


def test_embedding_grad_of_many_positions_equals_add_at():
    x = rng.integers(0, 50, size=(16, 64))
    g = rng.normal(size=(16, 64, 8)).astype(np.float32)
    want = np.zeros((50, 8), np.float32)
    np.add.at(want, x.reshape(-1), g.reshape(-1, 8))
    got = _embedding_grad_w(g, x, 50)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_embedding_symbolic_batch_and_family():
    op = get_op("Embedding")
    assert op.shape(("N", 64), (65, 32)) == ("N", 64, 32)
    assert [o.name for o in ops_by_family()["sequences"]] == ["Embedding"]
    assert op.nondiff == ("x",) and "\n" not in type(op).__doc__.strip()
    with pytest.raises(ShapeError, match="num × dim"):
        op.shape(("N", 4), (65,))


@pytest.mark.parametrize("x, message", [
    (np.array([0, 5]), r"token 5, but w has 5 rows \(tokens 0 … 4\)"),
    (np.array([-1, 0]), "token -1"),
    (np.array([0.5]), "non-integer"),
])
def test_embedding_rejects_tokens_outside_the_table(x, message):
    with pytest.raises(ExecutionError, match=message):
        run_op("Embedding", [x, rng.normal(size=(5, 2))])


def test_embedding_float32_stays_float32():
    w = rng.normal(size=(5, 3)).astype(np.float32)
    x = np.array([[1, 1, 4]])
    (out,), ctx = run_op("Embedding", [x, w])
    _, gw = get_op("Embedding").vjp(ctx, np.ones_like(out, dtype=np.float64), out, x, w)
    assert out.dtype == gw.dtype == np.float32


def test_embedding_skips_an_unwanted_gradient():
    x, w = np.array([1, 2]), rng.normal(size=(3, 2))
    ctx = Ctx(needs_input_grad=(False, False))
    assert get_op("Embedding").vjp(ctx, np.ones((2, 2)), None, x, w) == (None, None)


# ---- sequence-shaped losses and layers ----------------------------------------------

def test_cross_entropy_over_sequences_is_the_mean_over_every_position():
    z, y = rng.normal(size=(2, 5, 4)), rng.integers(0, 4, size=(2, 5))
    (out,), _ = run_op("CrossEntropyLoss", [z, y])
    (flat,), _ = run_op("CrossEntropyLoss", [z.reshape(10, 4), y.reshape(10)])
    assert float(out) == pytest.approx(float(flat), rel=1e-14)
    assert get_op("CrossEntropyLoss").shape(("N", 5, 4), ("N", 5)) == ()
    assert check_vjp("CrossEntropyLoss", [z, y]) == 1


def test_cross_entropy_over_sequences_formula_matches_vjp():
    op = get_op("CrossEntropyLoss")
    z, y = rng.normal(size=(3, 2, 4)), rng.integers(0, 4, size=(3, 2))
    (out,), ctx = run_op("CrossEntropyLoss", [z, y])
    want, _ = op.vjp(ctx, np.float64(0.7), out, z, y)
    np.testing.assert_allclose(op.formulas["logits"][1](0.7, out, z, y), want,
                               rtol=1e-12)


@pytest.mark.parametrize("logits, target, message", [
    (("N", 5, 4), ("N",), r"target has shape N, expected N×5"),
    (("N", 5, 4), ("N", 6), "expected N×5"),
    ((2, 3, 4, 5), (2, 3, 4), "N×T×C"),
])
def test_cross_entropy_over_sequences_rejects_mismatched_targets(logits, target,
                                                                  message):
    with pytest.raises(ShapeError, match=message):
        get_op("CrossEntropyLoss").shape(logits, target)


def test_linear_maps_every_time_step():
    x, w, b = rng.normal(size=(2, 5, 3)), rng.normal(size=(4, 3)), rng.normal(size=4)
    (out,), _ = run_op("Linear", [x, w, b])
    assert get_op("Linear").shape(("N", 5, 3), (4, 3), (4,)) == ("N", 5, 4)
    for n in range(2):
        for t in range(5):
            np.testing.assert_allclose(out[n, t], w @ x[n, t] + b, rtol=1e-13)
    assert check_vjp("Linear", [x, w, b]) == 3


def test_linear_over_time_formulas_match_vjp():
    op = get_op("Linear")
    x, w, b = rng.normal(size=(2, 5, 3)), rng.normal(size=(4, 3)), rng.normal(size=4)
    (out,), ctx = run_op("Linear", [x, w, b])
    g = rng.normal(size=out.shape)
    want = op.vjp(ctx, g, out, x, w, b)
    for port, got in zip(("x", "w", "b"), want):
        np.testing.assert_allclose(op.formulas[port][1](g, out, x, w, b), got,
                                   rtol=1e-12, err_msg=port)


# ---- PyTorch, when it is installed ---------------------------------------------------

def test_embedding_linear_cross_entropy_match_torch_in_float64():
    torch = pytest.importorskip("torch")
    x = rng.integers(0, 7, size=(3, 6))
    y = rng.integers(0, 5, size=(3, 6))
    w = rng.normal(size=(7, 4))
    lw, lb = rng.normal(size=(5, 4)), rng.normal(size=5)

    (e,), ce = run_op("Embedding", [x, w])
    (z,), cl = run_op("Linear", [e, lw, lb])
    (loss,), cc = run_op("CrossEntropyLoss", [z, y])
    gz, _ = get_op("CrossEntropyLoss").vjp(cc, np.float64(1.0), loss, z, y)
    ge, glw, glb = get_op("Linear").vjp(cl, gz, z, e, lw, lb)
    _, gw = get_op("Embedding").vjp(ce, ge, e, x, w)

    tw, tlw, tlb = (torch.tensor(a, requires_grad=True) for a in (w, lw, lb))
    te = torch.nn.functional.embedding(torch.from_numpy(x), tw)
    tz = torch.nn.functional.linear(te, tlw, tlb)
    # PyTorch wants the class axis second: (N, C, T).
    tloss = torch.nn.functional.cross_entropy(tz.transpose(1, 2), torch.from_numpy(y))
    tloss.backward()
    assert float(loss) == pytest.approx(tloss.item(), rel=1e-13)
    np.testing.assert_allclose(z, tz.detach().numpy(), rtol=1e-13)
    for got, t in ((gw, tw), (glw, tlw), (glb, tlb)):
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-11, atol=1e-14)
