"""Pooling and resampling ops: forward against loops, indices, ties, gradients."""

import numpy as np
import pytest

from graphlab.errors import AttrError, ExecutionError, ShapeError
from graphlab.gradcheck import check_vjp, op_vjp, run_op
from graphlab.ops import Ctx, get_op
from graphlab.shapes import collect_warnings

rng = np.random.default_rng(1)


def normal(*shape):
    return rng.standard_normal(shape)


# ---- independent references: plain loops, padding written out by hand -------------

def loop_max_pool(x, kernel, stride, pads):
    """(out, indices): first maximum of each window in row-major order."""
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), ((pt, pb), (pl, pr)) = kernel, stride, pads
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=-np.inf)
    Ho, Wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    out, idx = np.zeros((N, C, Ho, Wo)), np.zeros((N, C, Ho, Wo), np.int64)
    for n, c, p, q in np.ndindex(N, C, Ho, Wo):
        window = xp[n, c, p * sh:p * sh + kh, q * sw:q * sw + kw]
        i, j = divmod(int(np.argmax(window)), kw)  # argmax: first occurrence
        out[n, c, p, q] = window[i, j]
        idx[n, c, p, q] = (p * sh + i - pt) * W + (q * sw + j - pl)
    return out, idx


def loop_avg_pool(x, kernel, stride, pads, count_include_pad=True):
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), ((pt, pb), (pl, pr)) = kernel, stride, pads
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    inside = np.pad(np.ones((H, W)), ((pt, pb), (pl, pr)))
    Ho, Wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    out = np.zeros((N, C, Ho, Wo))
    for n, c, p, q in np.ndindex(N, C, Ho, Wo):
        rows, cols = slice(p * sh, p * sh + kh), slice(q * sw, q * sw + kw)
        count = kh * kw if count_include_pad else inside[rows, cols].sum()
        out[n, c, p, q] = xp[n, c, rows, cols].sum() / count
    return out


def loop_unpool(x, idx, out_hw):
    out = np.zeros(x.shape[:2] + tuple(out_hw))
    for n, c, i, j in np.ndindex(x.shape):
        out[n, c].flat[idx[n, c, i, j]] = x[n, c, i, j]
    return out


def loop_upsample(x, scale, mode):
    """PyTorch's interpolate(scale_factor=scale, align_corners=False), by pixel."""
    N, C, H, W = x.shape
    sh, sw = scale
    out = np.zeros((N, C, H * sh, W * sw))
    for n, c, i, j in np.ndindex(out.shape):
        if mode == "nearest":
            out[n, c, i, j] = x[n, c, i // sh, j // sw]
            continue
        r = max((i + 0.5) / sh - 0.5, 0.0)
        k = max((j + 0.5) / sw - 0.5, 0.0)
        r0, k0 = int(r), int(k)
        r1, k1 = min(r0 + 1, H - 1), min(k0 + 1, W - 1)
        a, b = r - r0, k - k0
        out[n, c, i, j] = ((1 - a) * ((1 - b) * x[n, c, r0, k0] + b * x[n, c, r0, k1])
                           + a * ((1 - b) * x[n, c, r1, k0] + b * x[n, c, r1, k1]))
    return out


def pooled(x, kernel, stride=None, padding=0):
    outs, _ = run_op("MaxPool2D", [x], {"kernel": kernel,
                                        "stride": stride or kernel, "padding": padding})
    return outs


OUT_6X8, IDX_6X8 = pooled(normal(2, 3, 6, 8), 2)
OUT_7X9, IDX_7X9 = pooled(normal(1, 2, 7, 9), 2)  # the last row and column dropped

# One row per case: id, op, attrs, inputs, reference forward (a tuple of outputs).
CASES = [
    ("maxpool-2x2", "MaxPool2D", {"kernel": 2}, [normal(2, 3, 6, 8)],
     lambda x: loop_max_pool(x, (2, 2), (2, 2), ((0, 0), (0, 0)))),
    ("maxpool-3-stride2-pad1", "MaxPool2D", {"kernel": 3, "stride": 2, "padding": 1},
     [normal(2, 2, 7, 7)],
     lambda x: loop_max_pool(x, (3, 3), (2, 2), ((1, 1), (1, 1)))),
    ("maxpool-same-asymmetric", "MaxPool2D",
     {"kernel": [2, 3], "stride": [1, 2], "padding": "same"}, [normal(1, 2, 5, 7)],
     lambda x: loop_max_pool(x, (2, 3), (1, 2), ((0, 1), (1, 1)))),
    ("maxpool-asymmetric-padding", "MaxPool2D",
     {"kernel": [3, 2], "stride": 2, "padding": [0, 1, 1, 0]}, [normal(1, 2, 6, 5)],
     lambda x: loop_max_pool(x, (3, 2), (2, 2), ((0, 1), (1, 0)))),
    ("maxpool-odd-drops-input", "MaxPool2D", {"kernel": 2}, [normal(2, 1, 7, 5)],
     lambda x: loop_max_pool(x, (2, 2), (2, 2), ((0, 0), (0, 0)))),
    ("maxpool-full-batch1", "MaxPool2D", {"kernel": 2, "stride": 1, "padding": "full"},
     [normal(1, 1, 4, 5)],
     lambda x: loop_max_pool(x, (2, 2), (1, 1), ((1, 1), (1, 1)))),
    ("avgpool-2x2", "AvgPool2D", {"kernel": 2}, [normal(2, 3, 6, 8)],
     lambda x: (loop_avg_pool(x, (2, 2), (2, 2), ((0, 0), (0, 0))),)),
    ("avgpool-3-stride2-pad1", "AvgPool2D", {"kernel": 3, "stride": 2, "padding": 1},
     [normal(2, 2, 7, 6)],
     lambda x: (loop_avg_pool(x, (3, 3), (2, 2), ((1, 1), (1, 1))),)),
    ("avgpool-same-asymmetric", "AvgPool2D",
     {"kernel": [2, 3], "stride": [1, 2], "padding": "same"}, [normal(1, 2, 5, 7)],
     lambda x: (loop_avg_pool(x, (2, 3), (1, 2), ((0, 1), (1, 1))),)),
    ("avgpool-asymmetric-padding", "AvgPool2D",
     {"kernel": 3, "stride": 2, "padding": [1, 0, 0, 1]}, [normal(2, 2, 7, 6)],
     lambda x: (loop_avg_pool(x, (3, 3), (2, 2), ((1, 0), (0, 1))),)),
    ("avgpool-exclude-pad-3-stride2-pad1", "AvgPool2D",
     {"kernel": 3, "stride": 2, "padding": 1, "count_include_pad": False},
     [normal(2, 2, 7, 6)],
     lambda x: (loop_avg_pool(x, (3, 3), (2, 2), ((1, 1), (1, 1)), False),)),
    ("avgpool-exclude-pad-same", "AvgPool2D",
     {"kernel": [2, 3], "stride": 1, "padding": "same", "count_include_pad": False},
     [normal(1, 2, 4, 5)],
     lambda x: (loop_avg_pool(x, (2, 3), (1, 1), ((0, 1), (1, 1)), False),)),
    ("avgpool-valid-drops-input", "AvgPool2D", {"kernel": 3, "padding": "valid"},
     [normal(1, 1, 7, 8)],
     lambda x: (loop_avg_pool(x, (3, 3), (3, 3), ((0, 0), (0, 0))),)),
    ("maxunpool-2x2", "MaxUnpool2D", {"kernel": 2}, [OUT_6X8, IDX_6X8],
     lambda x, idx: (loop_unpool(x, idx, (6, 8)),)),
    ("maxunpool-output-size", "MaxUnpool2D", {"kernel": 2, "output_size": [7, 9]},
     [OUT_7X9, IDX_7X9], lambda x, idx: (loop_unpool(x, idx, (7, 9)),)),
    ("upsample-nearest-2", "Upsample2D", {"scale": 2}, [normal(2, 3, 3, 4)],
     lambda x: (loop_upsample(x, (2, 2), "nearest"),)),
    ("upsample-nearest-2x3", "Upsample2D", {"scale": [2, 3]}, [normal(1, 1, 3, 2)],
     lambda x: (loop_upsample(x, (2, 3), "nearest"),)),
    ("upsample-bilinear-2", "Upsample2D", {"scale": 2, "mode": "bilinear"},
     [normal(2, 2, 3, 4)], lambda x: (loop_upsample(x, (2, 2), "bilinear"),)),
    ("upsample-bilinear-3x2", "Upsample2D", {"scale": [3, 2], "mode": "bilinear"},
     [normal(1, 2, 4, 1)], lambda x: (loop_upsample(x, (3, 2), "bilinear"),)),
    ("upsample-bilinear-1", "Upsample2D", {"scale": 1, "mode": "bilinear"},
     [normal(1, 1, 3, 3)], lambda x: (x,)),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("case, name, attrs, inputs, ref", CASES, ids=IDS)
def test_forward_matches_loops(case, name, attrs, inputs, ref):
    outs, _ = run_op(name, inputs, attrs)
    want = ref(*inputs)
    assert len(outs) == len(want)
    for got, w in zip(outs, want):
        assert got.shape == w.shape and got.dtype.kind == w.dtype.kind
        np.testing.assert_allclose(got, w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case, name, attrs, inputs, ref", CASES, ids=IDS)
def test_vjp_matches_finite_differences(case, name, attrs, inputs, ref):
    assert check_vjp(name, inputs, attrs) == 1


@pytest.mark.parametrize("case, name, attrs, inputs, ref", CASES, ids=IDS)
def test_shape_rule_matches_forward(case, name, attrs, inputs, ref):
    op = get_op(name)
    outs, _ = run_op(name, inputs, attrs)
    shape = op.shape(*[x.shape for x in inputs], **op.resolve_attrs(attrs))
    want = tuple(o.shape for o in outs)
    assert shape == (want if len(op.outputs) > 1 else want[0])


@pytest.mark.parametrize("case, name, attrs, inputs, ref", CASES, ids=IDS)
def test_formulas_match_vjp(case, name, attrs, inputs, ref):
    op = get_op(name)
    outs, _ = run_op(name, inputs, attrs)
    gs = tuple(normal(*o.shape) if o.dtype.kind == "f" else None for o in outs)
    _, (gx, *rest) = op_vjp(name, inputs, gs, attrs)
    assert all(r is None for r in rest)  # indices get no gradient
    tex, fn = op.formulas["x"]
    assert tex.startswith(r"\frac{\partial L}{\partial X")
    g, out = (gs, outs) if len(op.outputs) > 1 else (gs[0], outs[0])
    np.testing.assert_allclose(gx, fn(g, out, *inputs, **op.resolve_attrs(attrs)),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["MaxPool2D", "AvgPool2D", "MaxUnpool2D",
                                  "Upsample2D"])
def test_op_declares_family_and_docstring(name):
    op = get_op(name)
    assert op.family == "pooling, resampling"
    assert set(op.formulas) == {"x"}
    assert op.doc and "\n" not in op.doc


# ---- max-pool indices, ties, padding ----------------------------------------------

def test_indices_are_int64_flat_positions_in_each_plane():
    x = normal(2, 3, 6, 8)
    out, idx = pooled(x, 2)
    assert idx.dtype == np.int64
    planes = x.reshape(2, 3, -1)
    np.testing.assert_array_equal(np.take_along_axis(planes, idx.reshape(2, 3, -1), 2),
                                  out.reshape(2, 3, -1))


@pytest.mark.parametrize("kernel, stride, padding, size", [
    (2, 2, 0, (6, 8)),
    (3, 2, 1, (7, 7)),
    (2, 2, 0, (7, 7)),  # drops the last row and column: output_size brings them back
])
def test_indices_round_trip_through_max_unpool(kernel, stride, padding, size):
    x = 1.0 + rng.random((2, 3) + size)  # positive: the zeros around cannot win
    out, idx = pooled(x, kernel, stride, padding)
    (back,), _ = run_op("MaxUnpool2D", [out, idx],
                        {"kernel": kernel, "stride": stride, "padding": padding,
                         "output_size": list(size)})
    assert back.shape == x.shape
    kept = back != 0
    np.testing.assert_array_equal(back[kept], x[kept])  # maxima where they were
    positions = idx.reshape(6, -1) + x[0, 0].size * np.arange(6)[:, None]
    assert kept.sum() == len(np.unique(positions))
    # Pooling again finds the same maxima at the same places.
    out2, idx2 = pooled(back, kernel, stride, padding)
    np.testing.assert_array_equal(out2, out)
    np.testing.assert_array_equal(idx2, idx)


def test_ties_send_index_and_gradient_to_the_first_maximum():
    x = np.array([[[[0.0, 5.0, 1.0, 1.0],
                    [5.0, 1.0, 1.0, 1.0]]]])
    (out, idx), _ = run_op("MaxPool2D", [x], {"kernel": 2})
    np.testing.assert_array_equal(out, [[[[5.0, 1.0]]]])
    np.testing.assert_array_equal(idx, [[[[1, 2]]]])  # row-major first of each tie
    _, (gx,) = op_vjp("MaxPool2D", [x], (np.array([[[[3.0, 7.0]]]]), None),
                      {"kernel": 2})
    np.testing.assert_array_equal(gx, [[[[0.0, 3.0, 7.0, 0.0],
                                          [0.0, 0.0, 0.0, 0.0]]]])


def test_ties_in_a_3x3_window_go_to_the_first_in_row_major_order():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 2, 0] = x[0, 0, 1, 2] = 4.0  # (1, 2) comes first row-major
    (out, idx), _ = run_op("MaxPool2D", [x], {"kernel": 3})
    assert out.item() == 4.0 and idx.item() == 1 * 3 + 2


def test_windows_of_more_than_256_positions():
    x = normal(2, 1, 17, 16)
    (out, idx), _ = run_op("MaxPool2D", [x], {"kernel": [17, 16]})
    np.testing.assert_array_equal(idx.ravel(), x.reshape(2, -1).argmax(axis=1))
    np.testing.assert_array_equal(out.ravel(), x.reshape(2, -1).max(axis=1))
    _, (gx,) = op_vjp("MaxPool2D", [x], (np.ones_like(out), None), {"kernel": [17, 16]})
    assert gx.sum() == 2 and gx.reshape(2, -1)[[0, 1], idx.ravel()].tolist() == [1, 1]


def test_overlapping_windows_add_their_gradients():
    x = np.array([[[[0.0, 1.0, 9.0, 2.0, 0.0]]]])
    _, (gx,) = op_vjp("MaxPool2D", [x], (np.array([[[[1.0, 2.0, 4.0]]]]), None),
                      {"kernel": [1, 3], "stride": 1})
    np.testing.assert_array_equal(gx, [[[[0.0, 0.0, 7.0, 0.0, 0.0]]]])


def test_padding_is_minus_infinity_for_max_and_zero_for_average():
    x = -1.0 - rng.random((1, 2, 4, 4))
    (out, idx), _ = run_op("MaxPool2D", [x], {"kernel": 3, "stride": 2, "padding": 1})
    assert (out < 0).all()
    assert ((idx >= 0) & (idx < 16)).all()
    (avg,), _ = run_op("AvgPool2D", [np.ones((1, 1, 4, 4))],
                       {"kernel": 3, "stride": 2, "padding": 1})
    np.testing.assert_allclose(avg[0, 0], [[4 / 9, 6 / 9], [6 / 9, 1.0]])


def test_max_pool_propagates_nan():
    x = np.zeros((1, 1, 2, 4))
    x[0, 0, 1, 0] = np.nan
    (out, _), _ = run_op("MaxPool2D", [x], {"kernel": 2})
    assert np.isnan(out[0, 0, 0, 0]) and out[0, 0, 0, 1] == 0


def test_max_pool_gives_zero_gradient_when_only_indices_are_used():
    x = normal(1, 1, 4, 4)
    _, (gx,) = op_vjp("MaxPool2D", [x], (None, None), {"kernel": 2})
    np.testing.assert_array_equal(gx, np.zeros_like(x))


def test_bilinear_matches_pytorch_values():
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    (out,), _ = run_op("Upsample2D", [x], {"scale": 2, "mode": "bilinear"})
    np.testing.assert_allclose(out[0, 0], [[1.00, 1.25, 1.75, 2.00],
                                           [1.50, 1.75, 2.25, 2.50],
                                           [2.50, 2.75, 3.25, 3.50],
                                           [3.00, 3.25, 3.75, 4.00]])


# ---- attributes, shapes, warnings, errors -----------------------------------------

def test_stride_defaults_to_kernel():
    for name in ("MaxPool2D", "AvgPool2D", "MaxUnpool2D"):
        attrs = get_op(name).resolve_attrs({"kernel": [3, 2]})
        assert attrs["stride"] == (3, 2)
    attrs = get_op("MaxPool2D").resolve_attrs({"kernel": 3, "stride": 1})
    assert attrs["stride"] == (1, 1)


def test_pool_rejects_padding_more_than_half_the_kernel():
    with pytest.raises(AttrError, match="padding 2 is more than half the kernel 3"):
        get_op("MaxPool2D").resolve_attrs({"kernel": 3, "padding": 2})
    assert get_op("AvgPool2D").resolve_attrs({"kernel": 3, "padding": "full"})


def test_pool_warns_when_windows_drop_input():
    op = get_op("MaxPool2D")
    with collect_warnings() as warnings:
        out = op.shape(("N", 6, 7, 7), **op.resolve_attrs({"kernel": 2}))
    assert out == (("N", 6, 3, 3), ("N", 6, 3, 3))
    assert warnings == ["(7 − 2 + 0)/2 + 1 = 3.5 → 3: the last row and column are "
                        "never read"]
    with collect_warnings() as warnings:
        op.shape(("N", 6, 28, 28), **op.resolve_attrs({"kernel": 2}))
    assert warnings == []


def test_pool_rejects_window_larger_than_padded_input():
    op = get_op("AvgPool2D")
    with pytest.raises(ShapeError, match=r"^AvgPool2D: the window \(5\) is larger "
                                         r"than the padded input along W "
                                         r"\(4 \+ 0 \+ 0 = 4\)"):
        op.shape((1, 1, 8, 4), **op.resolve_attrs({"kernel": 5, "stride": 1}))
    with pytest.raises(ShapeError, match="MaxPool2D: x must have rank 4"):
        get_op("MaxPool2D").shape((1, 8, 8), **get_op("MaxPool2D").resolve_attrs(
            {"kernel": 2}))


def test_max_unpool_checks_indices_shape_and_output_size():
    op = get_op("MaxUnpool2D")
    attrs = op.resolve_attrs({"kernel": 2})
    assert op.shape(("N", 6, 3, 3), ("N", 6, 3, 3), **attrs) == ("N", 6, 6, 6)
    with pytest.raises(ShapeError, match=r"indices \(1×6×3×4\) must have the shape of "
                                         r"x \(1×6×3×3\)"):
        op.shape((1, 6, 3, 3), (1, 6, 3, 4), **attrs)
    ok = op.resolve_attrs({"kernel": 2, "output_size": [7, 5]})
    assert op.shape((1, 6, 3, 3), (1, 6, 3, 3), **ok) == (1, 6, 7, 5)
    bad = op.resolve_attrs({"kernel": 2, "output_size": [8, 6]})
    with pytest.raises(ShapeError, match=r"output_size 8 along H cannot come from 3 "
                                         r"rows pooled with kernel 2, stride 2 "
                                         r"\(it must be 5, 6 or 7\)"):
        op.shape((1, 6, 3, 3), (1, 6, 3, 3), **bad)


def test_max_unpool_rejects_indices_outside_the_output():
    x, idx = normal(1, 1, 2, 2), np.array([[[[0, 1], [2, 36]]]])
    with pytest.raises(ExecutionError, match=r"index 36 is outside the 4×4 output"):
        run_op("MaxUnpool2D", [x, idx], {"kernel": 2})


def test_upsample_shapes():
    op = get_op("Upsample2D")
    attrs = op.resolve_attrs({"scale": 4})
    assert op.shape(("N", 1, 8, 8), **attrs) == ("N", 1, 32, 32)
    assert op.shape((2, 3, 4, 5), **op.resolve_attrs(
        {"scale": [2, 3], "mode": "bilinear"})) == (2, 3, 8, 15)
    with pytest.raises(AttrError):
        op.resolve_attrs({"scale": 0})
    with pytest.raises(AttrError):
        op.resolve_attrs({"scale": 2, "mode": "bicubic"})


@pytest.mark.parametrize("case, name, attrs, inputs, ref", CASES[::2], ids=IDS[::2])
def test_float32_in_float32_out(case, name, attrs, inputs, ref):
    inputs32 = [x.astype(np.float32) if x.dtype.kind == "f" else x for x in inputs]
    outs, _ = run_op(name, inputs32, attrs)
    assert outs[0].dtype == np.float32
    gs = tuple(np.ones_like(o) if o.dtype.kind == "f" else None for o in outs)
    _, (gx, *_) = op_vjp(name, inputs32, gs, attrs)
    assert gx.dtype == np.float32
    np.testing.assert_allclose(outs[0], ref(*inputs)[0], rtol=1e-5, atol=1e-6)


def test_macs_per_example():
    avg = get_op("AvgPool2D")
    assert avg.macs([("N", 6, 28, 28)], [("N", 6, 14, 14)],
                    **avg.resolve_attrs({"kernel": 2})) == 6 * 14 * 14 * 4
    up = get_op("Upsample2D")
    assert up.macs([("N", 1, 8, 8)], [("N", 1, 32, 32)],
                   **up.resolve_attrs({"scale": 4, "mode": "bilinear"})) == 4 * 32 * 32
    assert up.macs([("N", 1, 8, 8)], [("N", 1, 32, 32)],
                   **up.resolve_attrs({"scale": 4})) == 0


@pytest.mark.parametrize("name", ["MaxPool2D", "AvgPool2D", "MaxUnpool2D",
                                  "Upsample2D"])
def test_formulas_render(name):
    ziamath = pytest.importorskip("ziamath")
    ziamath.config.svg2 = False
    for tex, _ in get_op(name).formulas.values():
        assert "<svg" in ziamath.Latex(tex).svg()


@pytest.mark.parametrize("case, name, attrs, inputs, ref", CASES[::4], ids=IDS[::4])
def test_vjp_skips_gradients_nobody_needs(case, name, attrs, inputs, ref):
    op = get_op(name)
    resolved = op.resolve_attrs(attrs)
    ctx = Ctx(needs_input_grad=(False,) * len(op.inputs))
    out = op.forward(ctx, *inputs, **resolved)
    outs = out if len(op.outputs) > 1 else (out,)
    gs = tuple(np.ones_like(o) if o.dtype.kind == "f" else None for o in outs)
    g = gs if len(op.outputs) > 1 else gs[0]
    assert all(gr is None for gr in op.vjp(ctx, g, out, *inputs, **resolved))


def test_avg_pool_count_include_pad_false_matches_pytorch():
    torch = pytest.importorskip("torch")
    x = normal(2, 3, 6, 7)
    (out,), _ = run_op("AvgPool2D", [x], {"kernel": 3, "stride": 2, "padding": 1,
                                          "count_include_pad": False})
    want = torch.nn.functional.avg_pool2d(torch.tensor(x), 3, 2, 1,
                                          count_include_pad=False)
    np.testing.assert_allclose(out, want.numpy(), rtol=1e-12)
