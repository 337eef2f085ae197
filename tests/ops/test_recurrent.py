"""Recurrent ops: step-by-step references from the PyTorch documentation, BPTT
against finite differences, shape rules and messages, dtypes, saturation."""

import warnings

import numpy as np
import pytest

from graphlab.errors import ShapeError
from graphlab.gradcheck import numeric_grad, op_vjp, run_op
from graphlab.ops import Ctx, get_op, ops_by_family

from .references import GATES, make_inputs, REFERENCES, sigmoid_py, STATES


# ---- references: the equations of torch.nn.RNN / LSTM / GRU, one example at a time ---


def _output_grads(name, outs, only, rng):
    """Random output gradients, None except on the outputs named in ``only``."""
    ports = get_op(name).outputs
    return tuple(rng.normal(size=o.shape) if p in only else None
                 for p, o in zip(ports, outs))


PARTIAL = [("RNN", {}, ("h",)), ("RNN", {}, ("y",)),
           ("RNN", {"nonlinearity": "relu"}, ("h",)),
           ("LSTM", {}, ("h",)), ("LSTM", {}, ("y",)), ("LSTM", {}, ("c",)),
           ("LSTM", {}, ("h", "c")), ("GRU", {}, ("h",)), ("GRU", {}, ("y",))]


@pytest.mark.parametrize("name, attrs, only", PARTIAL,
                         ids=[f"{n}-{a.get('nonlinearity', '')}-{'+'.join(o)}"
                              for n, a, o in PARTIAL])
def test_vjp_with_gradients_on_some_outputs(name, attrs, only):
    rng = np.random.default_rng(3)
    inputs = make_inputs(name, 2, 3, 2, 3, seed=4)
    outs, _ = run_op(name, inputs, attrs)
    gs = _output_grads(name, outs, only, rng)
    _, grads = op_vjp(name, inputs, gs, attrs)
    for i, (port, x) in enumerate(zip(get_op(name).input_ports, inputs)):
        want = numeric_grad(name, inputs, gs, i, attrs)
        np.testing.assert_allclose(grads[i], want, rtol=1e-6, atol=1e-8,
                                   err_msg=f"{name}: gradient for {port}")


def test_lstm_gradient_only_on_c_skips_the_output_gate():
    """c_1 = f ⊙ c_0 + i ⊙ g does not depend on gate o (rows 3H…4H of the weights)."""
    inputs = make_inputs("LSTM", 2, 1, 2, 3)
    outs, _ = run_op("LSTM", inputs)
    _, grads = op_vjp("LSTM", inputs, (None, None, np.ones_like(outs[2])))
    for port in (1, 2, 3, 4):
        assert not grads[port][9:12].any() and grads[port][:9].any()
    x, w_ih, w_hh, b_ih, b_hh, h0, c0 = inputs
    f = sigmoid_py(x[:, 0] @ w_ih[3:6].T + b_ih[3:6] + h0 @ w_hh[3:6].T + b_hh[3:6])
    np.testing.assert_allclose(grads[6], f, rtol=1e-12)  # ∂c_1/∂c_0 = f


def test_no_output_gradient_gives_zero_input_gradients():
    for name in ("RNN", "LSTM", "GRU"):
        inputs = make_inputs(name, 2, 3, 2, 3)
        _, grads = op_vjp(name, inputs, (None,) * len(get_op(name).outputs))
        assert all(g is not None and not g.any() for g in grads)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_float32_stays_float32(name):
    inputs = make_inputs(name, 4, 5, 3, 6)
    x32 = [None if x is None else x.astype(np.float32) for x in inputs]
    outs32, _ = run_op(name, x32)
    outs64, _ = run_op(name, inputs)
    gs = tuple(np.random.default_rng(1).normal(size=o.shape) for o in outs64)
    _, grads32 = op_vjp(name, x32, tuple(g.astype(np.float32) for g in gs))
    _, grads64 = op_vjp(name, inputs, gs)
    for o32, o64 in zip(outs32, outs64):
        assert o32.dtype == np.float32
        np.testing.assert_allclose(o32, o64, rtol=1e-4, atol=1e-5)
    for g32, g64 in zip(grads32, grads64):
        assert g32.dtype == np.float32
        np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("sign", [1, -1])
def test_saturated_gates_raise_no_warnings(name, sign):
    inputs = make_inputs(name, 2, 3, 2, 3)
    inputs[0] = np.full_like(inputs[0], 1000.0 * sign)
    inputs[1] = np.abs(inputs[1]) + 1  # every pre-activation is about ±1000
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        outs, _ = run_op(name, inputs)
        gs = tuple(np.ones_like(o) for o in outs)
        _, grads = op_vjp(name, inputs, gs)
    with np.errstate(over="ignore"):  # the naive σ overflows to the right limit
        want = REFERENCES[name](*inputs)
    for got, ref in zip(outs, want):
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    assert all(np.isfinite(g).all() for g in grads if g is not None)


# ---- shapes ------------------------------------------------------------------------

@pytest.mark.parametrize("name, x, want_h", [
    ("RNN", ("N", 8, 3), 5), ("LSTM", ("N", 8, 3), 5), ("GRU", ("N", "T", 3), 5),
    ("LSTM", ("N", "T", 3), 5),
])
def test_shape_rule_accepts_symbolic_batch_and_time(name, x, want_h):
    op = get_op(name)
    G, H = GATES[name], want_h
    shapes = [x, (G * H, 3), (G * H, H), (G * H,), None] + [("N", H)] * len(
        STATES[name])
    out = op.shape(*shapes, **op.resolve_attrs({}))
    assert out[0] == ("N", x[1], H)
    assert all(s == ("N", H) for s in out[1:])
    assert len(out) == len(op.outputs)


def test_shape_rule_takes_a_concrete_batch_from_h0():
    out = get_op("GRU").shape(("N", 8, 3), (15, 3), (15, 5), None, None, (64, 5))
    assert out == ((64, 8, 5), (64, 5))


def _lstm_shapes(**over):
    shapes = dict(x=("N", 8, 8), w_ih=(512, 8), w_hh=(512, 128), b_ih=(512,),
                  b_hh=(512,), h0=("N", 128), c0=("N", 128))
    shapes.update(over)
    return list(shapes.values())


@pytest.mark.parametrize("name, shapes, message", [
    ("LSTM", _lstm_shapes(w_ih=(256, 8)),
     r"LSTM: w_ih has 256 rows, expected 4·H = 512 \(gates i, f, g, o\)$"),
    ("LSTM", _lstm_shapes(w_hh=(500, 128)),
     r"LSTM: w_hh is 500×128: H = 128 \(its columns\), so it needs 4·H = 512 rows "
     r"\(gates i, f, g, o\)"),
    ("LSTM", _lstm_shapes(w_ih=(512, 10)),
     "LSTM: w_ih has 10 columns, but x has F = 8 features"),
    ("LSTM", _lstm_shapes(x=("N", 8)),
     "LSTM: x must be N×T×F \\(batch, time, features\\), got N×8"),
    ("LSTM", _lstm_shapes(b_hh=(128,)),
     r"LSTM: b_hh must have 4·H = 512 entries \(gates i, f, g, o\), got 128"),
    ("LSTM", _lstm_shapes(c0=("N", 64)),
     r"LSTM: c0 must be N×H = N×128 \(batch × hidden\), got N×64"),
    ("LSTM", _lstm_shapes(x=(32, 8, 8), h0=(16, 128)),
     r"LSTM: h0 must be N×H = 32×128 \(batch × hidden\), got 16×128"),
    ("LSTM", _lstm_shapes(w_hh=(512, 128, 1)),
     "LSTM: w_hh must be a matrix 4·H×H, got 512×128×1"),
    ("GRU", [("N", 8, 8), (300, 8), (384, 128), None, None, None],
     r"GRU: w_ih has 300 rows, expected 3·H = 384 \(gates r, z, n\)"),
    ("RNN", [("N", 8, 8), (128, 8), (128, 64), None, None, None],
     "RNN: w_hh is 128×64: H = 64 \\(its columns\\), so it needs H = 64 rows"),
    ("RNN", [("N", 8, 8), (64, 8), (64, 64), (32,), None, None],
     "RNN: b_ih must have H = 64 entries, got 32"),
])
def test_shape_errors_are_readable(name, shapes, message):
    op = get_op(name)
    with pytest.raises(ShapeError, match=message) as err:
        op.shape(*shapes, **op.resolve_attrs({}))
    assert err.value.node is None


def test_macs_per_example():
    T, F, H = 8, 8, 128
    x, out = ("N", T, F), [("N", T, H), ("N", H), ("N", H)]
    assert get_op("LSTM").macs([x, (4 * H, F), (4 * H, H)], out) == T * 4 * H * (F + H)
    assert get_op("GRU").macs([x, (3 * H, F), (3 * H, H)], out) == T * 3 * H * (F + H)
    assert get_op("RNN").macs([x, (H, F), (H, H)], out) == T * H * (F + H)


# ---- kernels: buffers, recomputation, declarations --------------------------------

@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("N, T", [(3, 4), (1, 4), (3, 1)])
def test_reused_context_never_changes_returned_arrays(name, N, T):
    """A program keeps one ctx per node; outputs and gradients must stay put."""
    op = get_op(name)
    first = make_inputs(name, N, T, 2, 3, seed=1)
    second = make_inputs(name, N, T, 2, 3, seed=2)
    ctx = Ctx()
    outs = op.forward(ctx, *first)
    gs = tuple(np.ones_like(o) for o in outs)
    grads = op.vjp(ctx, gs, outs, *first)
    kept = [o.copy() for o in outs], [g.copy() for g in grads]
    outs2 = op.forward(ctx, *second)
    grads2 = op.vjp(ctx, gs, outs2, *second)
    for a, b in zip(outs + grads, kept[0] + kept[1]):
        np.testing.assert_array_equal(a, b)
    fresh, _ = run_op(name, second)
    _, fresh_grads = op_vjp(name, second, gs)
    for a, b in zip(outs2 + grads2, fresh + fresh_grads):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_vjp_recomputes_forward_on_a_fresh_context(name):
    op = get_op(name)
    inputs = make_inputs(name, 2, 3, 2, 3)
    outs, _ = run_op(name, inputs)
    gs = tuple(np.ones_like(o) for o in outs)
    _, want = op_vjp(name, inputs, gs)
    got = op.vjp(Ctx(), gs, outs, *inputs)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_family_declares_docs_formulas_and_outputs():
    ops = ops_by_family()["recurrent"]
    assert [op.name for op in ops] == ["RNN", "LSTM", "GRU"]
    for op in ops:
        assert op.doc and "\n" not in type(op).__doc__.strip()
        assert set(op.formulas) == set(op.input_ports)
    assert get_op("LSTM").outputs == ("y", "h", "c")
    assert get_op("GRU").optional_inputs == ("b_ih", "b_hh", "h0")
    assert get_op("RNN").resolve_attrs({}) == {"nonlinearity": "tanh"}


def test_formulas_render_with_ziamath():
    ziamath = pytest.importorskip("ziamath")
    ziamath.config.svg2 = False
    for op in ops_by_family()["recurrent"]:
        for port, (latex, _) in op.formulas.items():
            assert "<svg" in ziamath.Latex(latex).svg(), (op.name, port)


# ---- PyTorch, when it is installed --------------------------------------------------

@pytest.mark.parametrize("name, attrs", [("RNN", {}), ("RNN", {"nonlinearity": "relu"}),
                                         ("LSTM", {}), ("GRU", {})])
@pytest.mark.parametrize("N, T", [(3, 5), (3, 1), (1, 1)])  # T = 1: a generation step
def test_matches_torch(name, attrs, N, T):
    torch = pytest.importorskip("torch")
    F, H = 4, 6
    inputs = make_inputs(name, N, T, F, H, seed=7)
    module = getattr(torch.nn, name)(F, H, batch_first=True, **attrs).double()
    with torch.no_grad():
        for p, v in zip((module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0,
                         module.bias_hh_l0), inputs[1:5]):
            p.copy_(torch.from_numpy(v))
    x = torch.tensor(inputs[0], requires_grad=True)
    states = [torch.tensor(s[None], requires_grad=True) for s in inputs[5:]]
    if name == "LSTM":
        y, (h, c) = module(x, tuple(states))
        touts = [y, h[0], c[0]]
    else:
        y, h = module(x, states[0])
        touts = [y, h[0]]
    rng = np.random.default_rng(8)
    gs = tuple(rng.normal(size=tuple(o.shape)) for o in touts)
    sum((o * torch.from_numpy(g)).sum() for o, g in zip(touts, gs)).backward()
    outs, grads = op_vjp(name, inputs, gs, attrs)
    for got, want in zip(outs, touts):
        np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-10, atol=1e-12)
    want_grads = [x.grad, module.weight_ih_l0.grad, module.weight_hh_l0.grad,
                  module.bias_ih_l0.grad, module.bias_hh_l0.grad]
    want_grads += [s.grad[0] for s in states]
    for got, want in zip(grads, want_grads):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_vjp_skips_gradients_nobody_needs(name):
    """``ctx.needs_input_grad`` (as a program sets it) turns gradients off."""
    op = get_op(name)
    inputs = make_inputs(name, 2, 3, 2, 3)
    outs, _ = run_op(name, inputs)
    gs = tuple(np.ones_like(o) for o in outs)
    _, full = op_vjp(name, inputs, gs)
    n = len(inputs)
    for mask in [(False,) + (True,) * (n - 1), (True,) * (n - 1) + (False,),
                 (False, False, True) + (False,) * (n - 3), (False,) * n]:
        ctx = Ctx(needs_input_grad=mask)
        grads = op.vjp(ctx, gs, op.forward(ctx, *inputs), *inputs)
        for want, got, needed in zip(full, grads, mask):
            if needed:
                np.testing.assert_array_equal(got, want)
            else:
                assert got is None


# ---- what the program tells the kernels: outputs read, gradients wanted ----------

@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("N, T", [(3, 4), (1, 4), (3, 1)])
def test_needs_output_skips_unread_outputs(name, N, T):
    """Told which outputs anything reads (``ctx.needs_output``), forward returns
    None for the others; the rest, and every gradient, are unchanged."""
    op = get_op(name)
    inputs = make_inputs(name, N, T, 2, 3, seed=6)
    full = op.forward(Ctx(), *inputs)
    n = len(op.outputs)
    rng = np.random.default_rng(7)
    for read in [tuple(i == k for i in range(n)) for k in range(n)] + [(False,) * n]:
        ctx = Ctx(needs_output=read)
        outs = op.forward(ctx, *inputs)
        assert len(outs) == n
        for got, want, r in zip(outs, full, read):
            if r:
                np.testing.assert_array_equal(got, want)
            else:
                assert got is None
        gs = tuple(rng.normal(size=o.shape) if r else None for o, r in zip(full, read))
        got = op.vjp(ctx, gs, outs, *inputs)
        want = op.vjp(Ctx(), gs, full, *inputs)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


def _zeros_for_absent_states(name, inputs):
    n_states = len(STATES[name])
    N, H = inputs[0].shape[0], inputs[2].shape[1]
    return inputs[:-n_states] + [np.zeros((N, H)) if s is None else s
                                 for s in inputs[-n_states:]]


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("T", [1, 4])
def test_absent_states_match_zero_states(name, T):
    """Without h0 the kernels skip step 0's h part (GEMM columns and rows of the
    weight gradient); given as zeros, it goes through them."""
    inputs = make_inputs(name, 3, T, 2, 3, states=(), seed=8)
    zeros = _zeros_for_absent_states(name, inputs)
    outs, _ = run_op(name, inputs)
    gs = tuple(np.random.default_rng(9).normal(size=o.shape) for o in outs)
    outs_a, grads_a = op_vjp(name, inputs, gs)
    outs_z, grads_z = op_vjp(name, zeros, gs)
    for a, z in zip(outs_a, outs_z):
        np.testing.assert_allclose(a, z, rtol=1e-13, atol=1e-15)
    n_states = len(STATES[name])
    for a, z in zip(grads_a[:-n_states], grads_z[:-n_states]):
        np.testing.assert_allclose(a, z, rtol=1e-12, atol=1e-14)
    assert all(g is None for g in grads_a[-n_states:])
    assert all(g.shape == (3, 3) for g in grads_z[-n_states:])


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_vjp_twice_after_one_forward(name):
    """BPTT does not use up what forward saved: a second vjp with other output
    gradients is right too."""
    op = get_op(name)
    inputs = make_inputs(name, 2, 3, 2, 3, seed=10)
    ctx = Ctx()
    outs = op.forward(ctx, *inputs)
    rng = np.random.default_rng(11)
    for _ in range(2):
        gs = tuple(rng.normal(size=o.shape) for o in outs)
        got = [None if g is None else g.copy() for g in op.vjp(ctx, gs, outs, *inputs)]
        _, want = op_vjp(name, inputs, gs)
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_strided_inputs_and_float32_states(name):
    """x as a strided view, weights in Fortran order, float64 states for a float32
    op: values are copied into the kernels' own layout and dtype."""
    inputs = make_inputs(name, 3, 4, 2, 3, seed=12)
    x, w_ih, w_hh = inputs[:3]
    x32 = np.ascontiguousarray(x.transpose(1, 0, 2)).astype(np.float32).transpose(
        1, 0, 2)
    odd = [x32, np.asfortranarray(w_ih, np.float32),
           np.asfortranarray(w_hh, np.float32), inputs[3].astype(np.float32),
           inputs[4].astype(np.float32)] + inputs[5:]
    plain = [None if v is None else np.ascontiguousarray(v, np.float32) for v in odd]
    outs, _ = run_op(name, plain)
    gs = tuple(np.ones_like(o) for o in outs)
    outs_o, grads_o = op_vjp(name, odd, gs)
    outs_p, grads_p = op_vjp(name, plain, gs)
    for a, b in zip(outs_o + grads_o, outs_p + grads_p):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_calls_count_time_steps(name):
    """Forward makes a few NumPy calls per time step (``Op.calls``), which tells
    graphlab.parallel that a chunk of a batch gives each call little work."""
    op = get_op(name)
    G, H = GATES[name], 128

    def calls(T):
        shapes = [("N", T, 8), (G * H, 8), (G * H, H), (G * H,), (G * H,)]
        shapes += [None] * len(STATES[name])
        return op.calls(shapes, op.shape(*shapes))

    assert calls(8) - calls(1) == 7 * op.step_calls >= 14
    assert calls("T") == calls(1)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_recurrence_declares_pytorchs_layout(name):
    rec = get_op(name).recurrence
    assert rec.n_gates == GATES[name]
    assert tuple(rec.state) == STATES[name]
    assert set(rec.state.values()) <= set(get_op(name).outputs)
    cell = rec.cell(**get_op(name).resolve_attrs({}))
    bound = [c.name for c in cell if hasattr(c, "name")]
    assert set(rec.state.values()) <= set(bound)  # the cell makes the new state
