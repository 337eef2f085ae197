"""Convolution ops: forward against nested loops, gradients, shapes, warnings."""

import numpy as np
import pytest

from graphlab.errors import AttrError, ShapeError
from graphlab.gradcheck import op_vjp, run_op
from graphlab.ops import Ctx, get_op
from graphlab.shapes import collect_warnings

from .references import normal

rng = np.random.default_rng(0)


# ---- independent references: plain loops, padding written out by hand -------------


@pytest.mark.parametrize("name", ["Conv1D", "Conv2D", "ConvTranspose2D"])
def test_op_declares_family_formulas_and_docstring(name):
    op = get_op(name)
    assert op.family == "convolution"
    assert set(op.formulas) == {"x", "w", "b"}
    assert op.doc and "\n" not in op.doc


@pytest.mark.parametrize("name", ["Conv1D", "Conv2D", "ConvTranspose2D"])
def test_formulas_render(name):
    ziamath = pytest.importorskip("ziamath")
    ziamath.config.svg2 = False
    for tex, _ in get_op(name).formulas.values():
        assert "<svg" in ziamath.Latex(tex).svg()


# ---- SPEC examples, warnings, errors ----------------------------------------------

def test_spec_1d_example_valid_gives_2_and_drops_2_inputs():
    op = get_op("Conv1D")
    attrs = op.resolve_attrs({"stride": 5, "padding": "valid"})
    with collect_warnings() as warnings:
        shape = op.shape(("N", 1, 13), (1, 1, 6), None, **attrs)
    assert shape == ("N", 1, 2)
    assert warnings == [
        "(13 − 6 + 0)/5 + 1 = 2.4 → 2: the last 2 inputs are never read"]


def test_spec_1d_example_same_gives_3_padded_1_left_2_right():
    op = get_op("Conv1D")
    attrs = op.resolve_attrs({"stride": 5, "padding": "same"})
    with collect_warnings() as warnings:
        assert op.shape(("N", 1, 13), (1, 1, 6), None, **attrs) == ("N", 1, 3)
    assert warnings == []
    # A ramp makes every output name its window: out[p] = Σ of its 6 inputs.
    x = np.arange(1.0, 14.0).reshape(1, 1, 13)
    (out,), _ = run_op("Conv1D", [x, np.ones((1, 1, 6)), None],
                       {"stride": 5, "padding": "same"})
    padded = np.concatenate([[0.0], np.arange(1.0, 14.0), [0.0, 0.0]])
    np.testing.assert_array_equal(out[0, 0], [padded[0:6].sum(), padded[5:11].sum(),
                                              padded[10:16].sum()])


def test_shape_warns_when_window_drops_rows_and_columns():
    op = get_op("Conv2D")
    attrs = op.resolve_attrs({"stride": [2, 3]})
    with collect_warnings() as warnings:
        assert op.shape(("N", 3, 8, 7), (2, 3, 3, 3), (2,), **attrs) == ("N", 2, 3, 2)
    assert warnings == ["(8 − 3 + 0)/2 + 1 = 3.5 → 3; (7 − 3 + 0)/3 + 1 = 2.33 → 2: "
                        "the last row and column are never read"]


def test_shape_warns_only_for_the_axis_that_drops_input():
    op = get_op("Conv2D")
    with collect_warnings() as warnings:
        assert op.shape((1, 1, 9, 8), (1, 1, 3, 3),
                        **op.resolve_attrs({"stride": 2})) == (1, 1, 4, 3)
    assert warnings == ["(8 − 3 + 0)/2 + 1 = 3.5 → 3: the last column is never read"]


def test_shape_does_not_warn_when_only_padding_goes_unread():
    op = get_op("Conv2D")
    with collect_warnings() as warnings:
        assert op.shape((1, 1, 8, 8), (1, 1, 3, 3),
                        **op.resolve_attrs({"stride": 2, "padding": 1})) == (1, 1, 4, 4)
    assert warnings == []


def test_shape_does_not_warn_when_every_input_is_read():
    op = get_op("Conv2D")
    with collect_warnings() as warnings:
        op.shape(("N", 1, 32, 32), (6, 1, 5, 5), (6,), **op.resolve_attrs({}))
        op.shape(("N", 1, 32, 32), (6, 1, 5, 5), (6,),
                 **op.resolve_attrs({"stride": 2, "padding": "same"}))
    assert warnings == []


def test_rejects_channel_mismatch_naming_the_layout():
    op = get_op("Conv2D")
    with pytest.raises(ShapeError) as e:
        op.shape(("N", 3, 32, 32), (6, 1, 5, 5), None, **op.resolve_attrs({}))
    assert e.value.message == ("Conv2D: x has 3 channels, w expects 1 "
                               "(w is O×C×kh×kw = 6×1×5×5)")
    assert e.value.node is None


def test_conv1d_and_transpose_reject_channel_mismatch():
    with pytest.raises(ShapeError, match=r"Conv1D: x has 2 channels, w expects 3 "
                                         r"\(w is O×C×k = 4×3×5\)"):
        get_op("Conv1D").shape((1, 2, 20), (4, 3, 5),
                               **get_op("Conv1D").resolve_attrs({}))
    op = get_op("ConvTranspose2D")
    with pytest.raises(ShapeError, match=r"ConvTranspose2D: x has 6 channels, w "
                                         r"expects 4 \(w is C_in×C_out×kh×kw = "
                                         r"4×2×3×3\)"):
        op.shape((1, 6, 5, 5), (4, 2, 3, 3), **op.resolve_attrs({}))


def test_rejects_window_larger_than_padded_input():
    op = get_op("Conv2D")
    with pytest.raises(ShapeError, match=r"^Conv2D: the window \(5\) is larger than "
                                         r"the padded input along H "
                                         r"\(4 \+ 0 \+ 0 = 4\)"):
        op.shape((1, 1, 4, 8), (1, 1, 5, 5), **op.resolve_attrs({}))
    with pytest.raises(ShapeError, match=r"window \(3 dilated by 3 = 7\) is larger"):
        get_op("Conv1D").shape((1, 1, 6), (1, 1, 3),
                               **get_op("Conv1D").resolve_attrs({"dilation": 3}))
    # The same window fits once padded.
    assert op.shape((1, 1, 4, 8), (1, 1, 5, 5),
                    **op.resolve_attrs({"padding": 1})) == (1, 1, 2, 6)


@pytest.mark.parametrize("name, x, w, b, message", [
    ("Conv2D", (1, 3, 8), (6, 3, 5, 5), None,
     "Conv2D: x must have rank 4 (N×C×H×W), got 1×3×8"),
    ("Conv2D", (1, 3, 8, 8), (6, 3, 5), None,
     "Conv2D: w must have rank 4 (O×C×kh×kw), got 6×3×5"),
    ("Conv2D", (1, 3, 8, 8), (6, 3, 5, 5), (3,),
     "Conv2D: b must be a vector of O = 6 biases, got 3"),
    ("Conv1D", (1, 3, 8, 8), (6, 3, 5), None,
     "Conv1D: x must have rank 3 (N×C×L), got 1×3×8×8"),
    ("ConvTranspose2D", (1, 3, 8, 8), (3, 6, 5, 5), (3,),
     "ConvTranspose2D: b must be a vector of C_out = 6 biases, got 3"),
])
def test_rejects_bad_ranks_and_bias(name, x, w, b, message):
    op = get_op(name)
    with pytest.raises(ShapeError) as e:
        op.shape(x, w, b, **op.resolve_attrs({}))
    assert e.value.message == message


def test_conv_transpose_rejects_padding_that_crops_everything():
    op = get_op("ConvTranspose2D")
    with pytest.raises(ShapeError, match="crops away the whole output along H"):
        op.shape((1, 1, 1, 4), (1, 1, 2, 2), **op.resolve_attrs({"padding": [1, 0]}))


def test_conv_transpose_rejects_output_padding_not_below_stride_or_dilation():
    op = get_op("ConvTranspose2D")
    with pytest.raises(AttrError, match="output_padding 2 must be smaller than the "
                                        r"stride \(2\) or the dilation \(1\)"):
        op.resolve_attrs({"stride": 2, "output_padding": 2})
    assert op.resolve_attrs({"stride": 1, "dilation": 2, "output_padding": 1})


def test_shapes_carry_symbolic_batch_and_unknown_channels():
    conv = get_op("Conv2D")
    assert conv.shape(("N", "C", 32, 32), (6, 3, 5, 5), (6,),
                      **conv.resolve_attrs({"padding": "same"})) == ("N", 6, 32, 32)
    convt = get_op("ConvTranspose2D")
    assert convt.shape(("N", 16, 5, 5), (16, 6, 2, 2), None,
                       **convt.resolve_attrs({"stride": 2})) == ("N", 6, 10, 10)


def test_5x5x3_conv_with_10_filters_has_750_weights_and_10_biases():
    op = get_op("Conv2D")
    w, b = (10, 3, 5, 5), (10,)
    assert op.shape(("N", 3, 32, 32), w, b, **op.resolve_attrs({})) == ("N", 10, 28, 28)
    assert int(np.prod(w)) + int(np.prod(b)) == 750 + 10


def test_macs_per_example():
    conv = get_op("Conv2D")
    assert conv.macs([("N", 6, 14, 14), (16, 6, 5, 5), (16,)],
                     [("N", 16, 10, 10)]) == 10 * 10 * 16 * 6 * 5 * 5
    conv1 = get_op("Conv1D")
    assert conv1.macs([("N", 2, 13), (3, 2, 6), None], [("N", 3, 3)]) == 3 * 3 * 2 * 6
    convt = get_op("ConvTranspose2D")
    assert convt.macs([("N", 4, 5, 5), (4, 2, 3, 3), None],
                      [("N", 2, 11, 11)]) == 5 * 5 * 4 * 2 * 3 * 3


# ---- adjointness, dtypes, buffers -------------------------------------------------

@pytest.mark.parametrize("attrs, x_shape, w_shape", [
    ({}, (2, 3, 6, 7), (4, 3, 3, 2)),
    ({"stride": 2, "padding": 1}, (2, 3, 9, 8), (4, 3, 3, 3)),
    ({"stride": [3, 2], "dilation": [2, 1], "padding": [2, 0]}, (1, 2, 11, 7),
     (3, 2, 2, 3)),
])
def test_conv_transpose_is_adjoint_of_conv(attrs, x_shape, w_shape):
    x, w = normal(*x_shape), normal(*w_shape)
    (y,), _ = run_op("Conv2D", [x, w, None], attrs)
    v = normal(*y.shape)
    s = np.broadcast_to(attrs.get("stride", 1), 2)
    p = np.broadcast_to(attrs.get("padding", 0), 2)
    d = np.broadcast_to(attrs.get("dilation", 1), 2)
    k = np.array(w_shape[2:])
    # The rows a strided conv skipped at the end come back as output_padding.
    output_padding = (np.array(x_shape[2:]) + 2 * p - d * (k - 1) - 1) % s
    (xt,), _ = run_op("ConvTranspose2D", [v, w, None],
                      {**attrs, "output_padding": output_padding.tolist()})
    assert xt.shape == x.shape
    np.testing.assert_allclose(np.sum(y * v), np.sum(x * xt), rtol=1e-10)


def test_vjp_uses_its_own_node_buffers():
    """Two nodes of the same shape, and one node rerun at a new batch size."""
    op = get_op("Conv2D")
    attrs = op.resolve_attrs({"padding": 1})
    x1, x2, w = normal(3, 2, 6, 6), normal(3, 2, 6, 6), normal(4, 2, 3, 3)
    g = normal(3, 4, 6, 6)
    want = [op.vjp(c, g, op.forward(c, x, w, None, **attrs), x, w, None, **attrs)
            for c, x in ((Ctx(), x1), (Ctx(), x2))]
    c1, c2 = Ctx(), Ctx()
    op.forward(c1, x1, w, None, **attrs)
    op.forward(c2, x2, w, None, **attrs)
    got = [op.vjp(c1, g, None, x1, w, None, **attrs),
           op.vjp(c2, g, None, x2, w, None, **attrs)]
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    # Returned gradients are the caller's: a later step must not overwrite them.
    first = got[0][0].copy()
    op.vjp(c1, -g, None, x1, w, None, **attrs)
    np.testing.assert_array_equal(got[0][0], first)
    # Same node, smaller batch: buffers are resized, results still right.
    x3, g3 = x1[:1], g[:1]
    op.forward(c1, x3, w, None, **attrs)
    gx3, gw3, _ = op.vjp(c1, g3, None, x3, w, None, **attrs)
    _, (gx_ref, gw_ref, _) = op_vjp("Conv2D", [x3, w, None], (g3,), {"padding": 1})
    np.testing.assert_allclose(gx3, gx_ref, rtol=1e-12)
    np.testing.assert_allclose(gw3, gw_ref, rtol=1e-12)


def test_large_batch_weight_gradient_matches_einsum():
    """Long enough for the blocked weight-gradient GEMM to run several blocks."""
    x = normal(12, 2, 24, 24).astype(np.float32)
    w = normal(3, 2, 5, 5).astype(np.float32)
    (out,), _ = run_op("Conv2D", [x, w, None])
    g = normal(*out.shape).astype(np.float32)
    _, (gx, gw, _) = op_vjp("Conv2D", [x, w, None], (g,))
    windows = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), (5, 5),
                                                       axis=(2, 3))
    want = np.einsum("nopq,ncpqij->ocij", g.astype(np.float64), windows)
    np.testing.assert_allclose(gw, want, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("name, x, w", [
    ("Conv2D", normal(2, 3, 6, 6), normal(4, 3, 3, 3)),
    ("Conv1D", normal(2, 3, 9), normal(4, 3, 3)),
    ("ConvTranspose2D", normal(2, 4, 3, 3), normal(4, 3, 3, 3)),
])
@pytest.mark.parametrize("need", [(False, True, True), (True, False, False),
                                  (False, False, True)])
def test_vjp_skips_gradients_nobody_needs(name, x, w, need):
    op = get_op(name)
    attrs = op.resolve_attrs({"stride": 2} if name != "Conv1D" else {})
    b = normal(w.shape[1] if name == "ConvTranspose2D" else w.shape[0])
    ctx = Ctx()
    out = op.forward(ctx, x, w, b, **attrs)
    g = normal(*out.shape)
    full = op.vjp(ctx, g, out, x, w, b, **attrs)
    ctx.needs_input_grad = need
    some = op.vjp(ctx, g, out, x, w, b, **attrs)
    for wanted, a, ref in zip(need, some, full):
        if wanted:
            np.testing.assert_allclose(a, ref, rtol=1e-12)
        else:
            assert a is None


@pytest.mark.parametrize("x_shape, w_shape", [((1, 2, 6, 6), (3, 2, 3, 3)),
                                              ((2, 1, 6, 6), (3, 1, 3, 3))])
def test_results_do_not_alias_reused_buffers_with_one_example_or_channel(
        x_shape, w_shape):
    """With N = 1 or C = 1 a transposed buffer is already contiguous: no view."""
    op, attrs = get_op("Conv2D"), get_op("Conv2D").resolve_attrs({})
    x, w = normal(*x_shape), normal(*w_shape)
    out = op.forward(Ctx(), x, w, None, **attrs)
    g = normal(*out.shape)
    ctx = Ctx()
    op.forward(ctx, x, w, None, **attrs)
    gx = op.vjp(ctx, g, out, x, w, None, **attrs)[0]
    kept = gx.copy()
    op.vjp(ctx, -g, out, x, w, None, **attrs)
    np.testing.assert_array_equal(gx, kept)
    # ConvTranspose2D's forward output comes out of the same col2im.
    convt = get_op("ConvTranspose2D")
    tattrs = convt.resolve_attrs({})
    wt = normal(w_shape[0], x_shape[1], 3, 3)
    y = convt.forward(Ctx(), g, wt, None, **tattrs)
    kept = y.copy()
    convt.forward(Ctx(), -g, wt, None, **tattrs)
    np.testing.assert_array_equal(y, kept)


# ---- channel groups: against PyTorch in float64 -----------------------------------

@pytest.mark.parametrize("name, attrs, x_shape, w_shape", [
    ("Conv2D", {"groups": 4, "stride": 2, "padding": 1}, (2, 4, 7, 7), (4, 1, 3, 3)),
    ("Conv2D", {"groups": 2, "padding": 1}, (2, 6, 5, 5), (8, 3, 3, 3)),
    ("Conv1D", {"groups": 3}, (2, 6, 8), (3, 2, 3)),
    ("ConvTranspose2D", {"groups": 2, "stride": 2, "padding": 1},
     (2, 4, 3, 3), (4, 3, 3, 3)),
])
def test_groups_match_pytorch_float64(name, attrs, x_shape, w_shape):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, w = normal(*x_shape), normal(*w_shape)
    out_channels = w_shape[1] * attrs["groups"] if name == "ConvTranspose2D" \
        else w_shape[0]
    b = normal(out_channels)
    (out,), _ = run_op(name, [x, w, b], attrs)
    g = normal(*out.shape)
    _, grads = op_vjp(name, [x, w, b], (g,), attrs)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    fn = {"Conv2D": F.conv2d, "Conv1D": F.conv1d,
          "ConvTranspose2D": F.conv_transpose2d}[name]
    ty = fn(tx, tw, tb, stride=attrs.get("stride", 1),
            padding=attrs.get("padding", 0), groups=attrs["groups"])
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(out, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    for got, want in zip(grads, (tx, tw, tb)):
        np.testing.assert_allclose(got, want.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_groups_reject_channels_that_do_not_split():
    op = get_op("Conv2D")
    with pytest.raises(ShapeError, match="2 groups of 3"):
        op.shape((1, 4, 5, 5), (6, 3, 3, 3), None,
                 **op.resolve_attrs({"groups": 2}))
    with pytest.raises(ShapeError, match="5 output channels do not split into 2"):
        op.shape((1, 4, 5, 5), (5, 2, 3, 3), None,
                 **op.resolve_attrs({"groups": 2}))
    op = get_op("ConvTranspose2D")
    with pytest.raises(ShapeError, match="3 input channels do not split into 2"):
        op.shape((1, 3, 5, 5), (3, 2, 3, 3), None,
                 **op.resolve_attrs({"groups": 2}))


def test_grouped_conv_is_not_fused_and_runs_unfused():
    import graphlab as gl
    b = gl.GraphBuilder("grouped conv → relu → pool")
    x = b.input("x", ["N", 4, 8, 8])
    w = b.parameter("w", [4, 1, 3, 3], init="normal")
    y = b.op("Conv2D", x, w, name="conv", groups=4, padding=1)
    p = b.op("MaxPool2D", b.relu(y), name="pool", kernel=2)
    b.output(p)
    feeds = {"x": normal(2, 4, 8, 8)}
    plain = gl.compile(b.graph, dtype="float64").forward(feeds)["pool"]
    fused = gl.compile(b.graph, dtype="float64", fuse=True)
    assert "Conv2DPool2D" not in fused.source
    np.testing.assert_allclose(fused.forward(feeds)["pool"], plain, rtol=1e-12)
