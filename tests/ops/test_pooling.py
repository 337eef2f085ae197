"""Pooling and resampling ops: forward against loops, indices, ties, gradients."""

import numpy as np
import pytest

from graphlab.errors import AttrError, ExecutionError, ShapeError
from graphlab.gradcheck import op_vjp, run_op
from graphlab.ops import get_op
from graphlab.shapes import collect_warnings

from .references import normal, pooled

rng = np.random.default_rng(1)


# ---- independent references: plain loops, padding written out by hand -------------


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




def test_avg_pool_count_include_pad_false_matches_pytorch():
    torch = pytest.importorskip("torch")
    x = normal(2, 3, 6, 7)
    (out,), _ = run_op("AvgPool2D", [x], {"kernel": 3, "stride": 2, "padding": 1,
                                          "count_include_pad": False})
    want = torch.nn.functional.avg_pool2d(torch.tensor(x), 3, 2, 1,
                                          count_include_pad=False)
    np.testing.assert_allclose(out, want.numpy(), rtol=1e-12)
