"""Every op against one table: forward, gradients, shapes, dtypes, templates,
SymPy and matrix-calculus forms (jax's ``lax_autodiff_test`` pattern).

Each row of :data:`SPECS` is one case of one op: its attributes, inputs
(``None``: an absent optional input) and an independent reference forward (a
tuple for several outputs) from :mod:`tests.ops.references`, and options. Every
test below runs on every row it applies to, so a new op adds one row. What is
particular to one op (ties, stability, error messages) is tested in its
family's module (``tests/ops/test_<family>.py``).
"""

import math
import operator
from typing import Callable, NamedTuple

import numpy as np
import pytest

from graphlab.gradcheck import check_vjp, op_vjp, run_op
from graphlab.ops import Ctx, get_op, unbroadcast

from .references import (IDX_6X8, IDX_7X9, OUT_6X8, OUT_7X9, REFERENCES, along, away,
                         batchnorm_ref, concat_ref, cross_entropy_py, dist, dropout_ref,
                         elu_py, grouped, js_py, kl_py, linear_ref, loop,
                         loop_avg_pool,
                         loop_conv1d, loop_conv2d, loop_conv_transpose2d, loop_max_pool,
                         loop_unpool, loop_upsample, make_inputs, matmul_loops,
                         maxout_py, mean_loops, mse_py, normal, penalty_ref, positive,
                         softmax_py, spread, sum_loops, symbolic_grads)

rng = np.random.default_rng(7)


class OpSpec(NamedTuple):
    """One case of one op, and how closely it must match."""

    id: str
    name: str
    attrs: dict
    inputs: list
    ref: Callable
    rtol: float = 1e-12  # forward against the reference
    atol: float = 1e-12
    ftol: tuple = None  # (rtol, atol) of the formulas against vjp; default as forward
    f32: tuple = None  # (rtol, atol) of the float32 forward; None: not run in float32
    training: bool = True
    formulas: bool = True  # check the declared formulas (eval-mode forms differ)
    skips: bool = False  # vjp honours ctx.needs_input_grad
    f64_seed: bool = False  # float32 gradients survive a float64 seed (losses)
    array: bool = True  # outputs are ndarrays, 0-d ones included


def row(name, attrs, inputs, ref, *, id=None, **options):
    # the declared formulas are the training-mode ones (Dropout, BatchNorm)
    options.setdefault("formulas", options.get("training", True))
    return OpSpec(id or name, name, attrs, inputs, ref, **options)


def recurrent(case, name, attrs, N, T, F, H, biases, states):
    """A recurrent case: inputs in port order, drawn by ``make_inputs``."""
    inputs = make_inputs(name, N, T, F, H, biases=biases, states=states)
    return row(name, attrs, inputs, lambda *xs: REFERENCES[name](*xs, **attrs), id=case,
               **RECURRENT)


ARITHMETIC = dict(atol=0, f32=(1e-5, 0))
ACTIVATIONS = dict(atol=1e-15, f32=(1e-5, 1e-6))
LINALG = dict(f32=(1e-4, 1e-4), skips=True)
CONV = dict(rtol=1e-10, f32=(1e-4, 1e-4))
POOLING = dict(f32=(1e-5, 1e-6), skips=True)
REGULARISATION = dict(atol=1e-14, ftol=(1e-10, 1e-12), f32=(1e-4, 1e-5))
RECURRENT = dict(ftol=(1e-10, 1e-12))
LOSSES = dict(atol=1e-15, ftol=(1e-10, 1e-14), f32=(1e-5, 0), f64_seed=True)
SEQUENCES = dict(atol=0, f32=(1e-7, 0), skips=True)
SEQ_RNG = np.random.default_rng(19)


def embedding_py(x, w):
    """Row x[...] of the table w, position by position."""
    out = np.zeros(np.shape(x) + (w.shape[1],))
    for idx in np.ndindex(*np.shape(x)):
        out[idx] = w[int(np.asarray(x)[idx])]
    return out

# One row per case. Shapes are odd on purpose: broadcasting both ways, a batch
# of 1, scalars; pads are written out by hand from SPEC section 2, so that the
# padding arithmetic is checked too.
SPECS = [
    # ---- arithmetic ---------------------------------------------------------------
    row("Add", {}, [normal(2, 3), normal(3)],
        lambda a, b: np.add(a, np.broadcast_to(b, a.shape)), **ARITHMETIC),
    row("Add", {}, [normal(1, 4), normal()], loop(operator.add), **ARITHMETIC),
    row("Mul", {}, [normal(4, 1), normal(1, 5)],
        lambda a, b: np.einsum("ij,jk->ik", a, b), **ARITHMETIC),
    row("Sub", {}, [normal(1, 3), normal(2, 1)], loop(operator.sub), **ARITHMETIC),
    row("Div", {}, [normal(2, 3), away(3)], loop(operator.truediv), **ARITHMETIC),
    row("Div", {}, [normal(), away(1, 4)], loop(operator.truediv), **ARITHMETIC),
    # a and b at least 0.1 apart: finite differences never cross a tie.
    row("Maximum", {}, [np.array([[0.3, -1.0, 2.0]]), np.array([[0.1], [0.5]])],
        loop(max), **ARITHMETIC),
    row("Neg", {}, [normal(1, 3)], loop(operator.neg), **ARITHMETIC),
    row("Exp", {}, [normal(2, 3)], loop(math.exp), **ARITHMETIC),
    row("Log", {}, [positive(3, 1)], loop(math.log), **ARITHMETIC),
    row("Sqrt", {}, [positive(1, 2, 3)], loop(math.sqrt), **ARITHMETIC),
    row("Abs", {}, [away(2, 3)], loop(abs), **ARITHMETIC),
    row("Pow", {"exponent": 3}, [normal(2, 2)], loop(lambda x: x * x * x),
        **ARITHMETIC),
    row("Pow", {"exponent": 0.5}, [positive(1, 3)], loop(math.sqrt), **ARITHMETIC),
    row("Pow", {"exponent": -1.5}, [positive(4)],
        loop(lambda x: 1 / (x * math.sqrt(x))), **ARITHMETIC),
    # ---- activations --------------------------------------------------------------
    row("Sigmoid", {}, [normal(1, 3) * 3], loop(lambda x: 1 / (1 + math.exp(-x))),
        **ACTIVATIONS),
    row("Tanh", {}, [normal(2, 3)], loop(math.tanh), **ACTIVATIONS),
    row("ReLU", {}, [away(2, 3)], loop(lambda x: max(x, 0.0)), **ACTIVATIONS),
    row("LeakyReLU", {}, [away(4)], loop(lambda x: x if x > 0 else 0.01 * x),
        **ACTIVATIONS),
    row("LeakyReLU", {"alpha": 0.2}, [away(1, 2, 3)], loop(lambda x: max(x, 0.2 * x)),
        **ACTIVATIONS),
    row("ELU", {}, [away(2, 3)], loop(elu_py(1.0)), **ACTIVATIONS),
    row("ELU", {"alpha": 0.5}, [away(5)], loop(elu_py(0.5)), **ACTIVATIONS),
    row("Softmax", {}, [normal(2, 4)], along(softmax_py, -1), **ACTIVATIONS),
    row("Softmax", {"axis": 0}, [normal(3, 2)], along(softmax_py, 0), **ACTIVATIONS),
    row("Softmax", {"axis": 1}, [normal(1, 3, 2)], along(softmax_py, 1),
        **ACTIVATIONS),
    row("Softmax", {}, [normal(5)], along(softmax_py, -1), **ACTIVATIONS),
    row("LogSoftmax", {}, [normal(2, 4)],
        along(lambda v: [math.log(s) for s in softmax_py(v)], -1), **ACTIVATIONS),
    row("LogSoftmax", {"axis": 0}, [normal(3, 1)],
        along(lambda v: [math.log(s) for s in softmax_py(v)], 0), **ACTIVATIONS),
    row("Maxout", {"pieces": 2}, [spread(2, 6, 3)], maxout_py(2, 1), **ACTIVATIONS),
    row("Maxout", {"pieces": 3, "axis": -1}, [spread(1, 6)], maxout_py(3, -1),
        **ACTIVATIONS),
    row("Maxout", {"pieces": 1}, [spread(2, 3)], maxout_py(1, 1), **ACTIVATIONS),
    # ---- linalg -------------------------------------------------------------------
    row("MatMul", {}, [normal(3, 4), normal(4, 5)],
        lambda a, b: np.einsum("ij,jk->ik", a, b), id="matmul_2d", **LINALG),
    row("MatMul", {}, [normal(2, 3, 4), normal(4, 5)],
        lambda a, b: np.einsum("bij,jk->bik", a, b), id="matmul_batched_by_matrix",
        **LINALG),
    row("MatMul", {}, [normal(1, 3, 4), normal(2, 4, 2)], matmul_loops,
        id="matmul_batch_broadcast", **LINALG),
    row("MatMul", {}, [normal(3, 4), normal(2, 4, 2)], matmul_loops,
        id="matmul_matrix_by_batched", **LINALG),
    row("MatMul", {}, [normal(4), normal(4, 3)],
        lambda a, b: np.einsum("j,jk->k", a, b), id="matmul_vector_by_matrix",
        **LINALG),
    row("MatMul", {}, [normal(3, 4), normal(4)],
        lambda a, b: np.einsum("ij,j->i", a, b), id="matmul_matrix_by_vector",
        **LINALG),
    # np.matmul of two vectors gives a NumPy scalar, not a 0-d array
    row("MatMul", {}, [normal(4), normal(4)], lambda a, b: np.einsum("j,j->", a, b),
        id="matmul_vector_by_vector", array=False, **LINALG),
    row("MatMul", {}, [normal(4), normal(2, 4, 3)], matmul_loops,
        id="matmul_vector_by_batched", **LINALG),
    row("MatMul", {}, [normal(2, 3, 4), normal(4)], matmul_loops,
        id="matmul_batched_by_vector", **LINALG),
    row("Linear", {}, [normal(5, 4), normal(3, 4), normal(3)], linear_ref, id="linear",
        **LINALG),
    row("Linear", {}, [normal(5, 4), normal(3, 4), None], linear_ref,
        id="linear_no_bias", **LINALG),
    row("Linear", {}, [normal(2, 3, 4), normal(5, 4), normal(5)], linear_ref,
        id="linear_sequence", **LINALG),
    row("Linear", {}, [normal(1, 4), normal(2, 4), normal(2)], linear_ref,
        id="linear_batch_of_one", **LINALG),
    row("Linear", {}, [normal(4), normal(3, 4), normal(3)], linear_ref,
        id="linear_vector", **LINALG),
    row("Transpose", {}, [normal(2, 3, 4)], lambda x: np.einsum("ijk->kji", x),
        id="transpose_default", **LINALG),
    row("Transpose", {"perm": [2, 0, 1]}, [normal(2, 3, 4)],
        lambda x: np.einsum("ijk->kij", x), id="transpose_perm", **LINALG),
    row("Transpose", {"perm": [0, -1, 1]}, [normal(2, 3, 4)],
        lambda x: np.einsum("ijk->ikj", x), id="transpose_negative_perm", **LINALG),
    row("Reshape", {"shape": ["N", -1]}, [normal(3, 2, 4)], lambda x: x.reshape(3, 8),
        id="reshape_batch_n", **LINALG),
    row("Reshape", {"shape": [-1, 2, 2]}, [normal(3, 4)], lambda x: x.reshape(3, 2, 2),
        id="reshape_inferred_lead", **LINALG),
    row("Reshape", {"shape": [2, "N", 3]}, [normal(5, 6)],
        lambda x: x.reshape(2, 5, 3), id="reshape_n_middle", **LINALG),
    row("Flatten", {}, [normal(2, 3, 2, 2)], lambda x: x.reshape(2, 12), id="flatten",
        **LINALG),
    row("Flatten", {"start_axis": 0}, [normal(2, 3, 2)], lambda x: x.reshape(12),
        id="flatten_from_0", **LINALG),
    row("Flatten", {"start_axis": 2}, [normal(2, 3, 2, 2)],
        lambda x: x.reshape(2, 3, 4), id="flatten_from_2", **LINALG),
    row("Flatten", {"start_axis": -1}, [normal(2, 3)], lambda x: x, id="flatten_last",
        **LINALG),
    row("Concat", {}, [normal(2, 3), normal(2, 4)], lambda a, b: concat_ref(a, b, 1),
        id="concat_default_axis", **LINALG),
    row("Concat", {"axis": 0}, [normal(2, 3, 2), normal(1, 3, 2)],
        lambda a, b: concat_ref(a, b, 0), id="concat_axis_0", **LINALG),
    row("Concat", {"axis": -1}, [normal(2, 3, 1), normal(2, 3, 2)],
        lambda a, b: concat_ref(a, b, -1), id="concat_axis_negative", **LINALG),
    row("Sum", {}, [normal(2, 3, 4)], lambda x: sum_loops(x, (0, 1, 2), False),
        id="sum_all", **LINALG),
    row("Sum", {"axis": 1}, [normal(2, 3, 4)], lambda x: sum_loops(x, (1,), False),
        id="sum_axis", **LINALG),
    row("Sum", {"axis": [0, -1], "keepdims": True}, [normal(2, 3, 4)],
        lambda x: sum_loops(x, (0, 2), True), id="sum_axis_list_keepdims", **LINALG),
    row("Sum", {"keepdims": True}, [normal(2, 3)],
        lambda x: sum_loops(x, (0, 1), True), id="sum_all_keepdims", **LINALG),
    row("Mean", {}, [normal(2, 3, 4)], lambda x: mean_loops(x, (0, 1, 2), False),
        id="mean_all", **LINALG),
    row("Mean", {"axis": [2, 0]}, [normal(2, 3, 4)],
        lambda x: mean_loops(x, (0, 2), False), id="mean_axis_list", **LINALG),
    row("Mean", {"axis": -2, "keepdims": True}, [normal(2, 3, 4)],
        lambda x: mean_loops(x, (1,), True), id="mean_axis_keepdims", **LINALG),
    # ---- conv ---------------------------------------------------------------------
    row("Conv2D", {"stride": 2}, [normal(2, 3, 7, 8), normal(4, 3, 3, 3), normal(4)],
        lambda x, w, b: loop_conv2d(x, w, b, (2, 2), ((0, 0), (0, 0)), (1, 1)),
        id="conv2d-stride2", **CONV),
    row("Conv2D", {"dilation": 2, "padding": 1},
        [normal(2, 2, 9, 8), normal(3, 2, 3, 2), normal(3)],
        lambda x, w, b: loop_conv2d(x, w, b, (1, 1), ((1, 1), (1, 1)), (2, 2)),
        id="conv2d-dilation2-pad1", **CONV),
    row("Conv2D", {"padding": "same"},
        [normal(1, 2, 7, 6), normal(2, 2, 4, 2), normal(2)],
        lambda x, w, b: loop_conv2d(x, w, b, (1, 1), ((1, 2), (0, 1)), (1, 1)),
        id="conv2d-same-even-kernel", **CONV),
    row("Conv2D", {"padding": "same", "stride": 2},
        [normal(2, 1, 8, 7), normal(2, 1, 3, 3), None],
        lambda x, w, b: loop_conv2d(x, w, b, (2, 2), ((0, 1), (1, 1)), (1, 1)),
        id="conv2d-same-stride2", **CONV),
    row("Conv2D", {"padding": "full"},
        [normal(2, 2, 5, 4), normal(3, 2, 3, 2), normal(3)],
        lambda x, w, b: loop_conv2d(x, w, b, (1, 1), ((2, 2), (1, 1)), (1, 1)),
        id="conv2d-full", **CONV),
    row("Conv2D", {"padding": "valid", "stride": [2, 3]},
        [normal(2, 3, 8, 7), normal(2, 3, 3, 3), normal(2)],
        lambda x, w, b: loop_conv2d(x, w, b, (2, 3), ((0, 0), (0, 0)), (1, 1)),
        id="conv2d-valid-drops-input", **CONV),
    row("Conv2D", {}, [normal(1, 1, 6, 5), normal(1, 1, 2, 3), normal(1)],
        lambda x, w, b: loop_conv2d(x, w, b, (1, 1), ((0, 0), (0, 0)), (1, 1)),
        id="conv2d-batch1-one-channel", **CONV),
    row("Conv2D", {"padding": [2, 0], "stride": [1, 2], "dilation": [1, 2]},
        [normal(2, 2, 4, 9), normal(2, 2, 3, 3), normal(2)],
        lambda x, w, b: loop_conv2d(x, w, b, (1, 2), ((2, 2), (0, 0)), (1, 2)),
        id="conv2d-pair-padding", **CONV),
    row("Conv1D", {"stride": 5, "padding": "valid"},
        [normal(2, 2, 13), normal(3, 2, 6), normal(3)],
        lambda x, w, b: loop_conv1d(x, w, b, 5, (0, 0), 1), id="conv1d-spec-valid",
        **CONV),
    row("Conv1D", {"stride": 5, "padding": "same"},
        [normal(2, 2, 13), normal(3, 2, 6), normal(3)],
        lambda x, w, b: loop_conv1d(x, w, b, 5, (1, 2), 1), id="conv1d-spec-same",
        **CONV),
    row("Conv1D", {"stride": 2, "padding": 1, "dilation": 2},
        [normal(1, 3, 11), normal(2, 3, 3), None],
        lambda x, w, b: loop_conv1d(x, w, b, 2, (1, 1), 2),
        id="conv1d-dilation2-stride2-pad1", **CONV),
    row("Conv1D", {"padding": "full"}, [normal(2, 1, 5), normal(2, 1, 4), normal(2)],
        lambda x, w, b: loop_conv1d(x, w, b, 1, (3, 3), 1),
        id="conv1d-full-one-channel", **CONV),
    row("ConvTranspose2D", {"stride": 2, "padding": 1, "output_padding": 1},
        [normal(2, 3, 4, 5), normal(3, 2, 3, 3), normal(2)],
        lambda x, w, b: loop_conv_transpose2d(x, w, b, (2, 2), (1, 1), (1, 1), (1, 1)),
        id="convT-stride2-pad1-outpad1", **CONV),
    row("ConvTranspose2D", {"dilation": 2, "output_padding": 1},
        [normal(1, 2, 3, 3), normal(2, 3, 2, 3), None],
        lambda x, w, b: loop_conv_transpose2d(x, w, b, (1, 1), (0, 0), (1, 1), (2, 2)),
        id="convT-dilation2", **CONV),
    row("Conv2D", {"padding": [0, 2, 1, 1], "stride": 2},
        [normal(2, 2, 6, 5), normal(3, 2, 3, 3), normal(3)],
        lambda x, w, b: loop_conv2d(x, w, b, (2, 2), ((0, 1), (2, 1)), (1, 1)),
        id="conv2d-asymmetric-padding", **CONV),
    row("Conv1D", {"padding": [2, 0]}, [normal(2, 2, 7), normal(3, 2, 3), normal(3)],
        lambda x, w, b: loop_conv1d(x, w, b, 1, (2, 0), 1),
        id="conv1d-asymmetric-padding", **CONV),
    row("Conv2D", {"groups": 2, "padding": 1},
        [normal(2, 4, 6, 5), normal(6, 2, 3, 3), normal(6)],
        lambda x, w, b: grouped(loop_conv2d, 2)(x, w, b, (1, 1), ((1, 1), (1, 1)),
                                                (1, 1)),
        id="conv2d-groups2-pad1", **CONV),
    row("Conv2D", {"groups": 3, "padding": "same", "stride": 2},
        [normal(2, 3, 6, 6), normal(3, 1, 3, 3), normal(3)],
        lambda x, w, b: grouped(loop_conv2d, 3)(x, w, b, (2, 2), ((0, 1), (0, 1)),
                                                (1, 1)),
        id="conv2d-depthwise-same-stride2", **CONV),
    row("Conv2D", {"groups": 2, "dilation": 2},
        [normal(1, 2, 7, 6), normal(2, 1, 2, 3), None],
        lambda x, w, b: grouped(loop_conv2d, 2)(x, w, b, (1, 1), ((0, 0), (0, 0)),
                                                (2, 2)),
        id="conv2d-depthwise-dilation2", **CONV),
    row("Conv2D", {"groups": 2}, [normal(1, 2, 5, 5), normal(4, 1, 3, 3), normal(4)],
        lambda x, w, b: grouped(loop_conv2d, 2)(x, w, b, (1, 1), ((0, 0), (0, 0)),
                                                (1, 1)),
        id="conv2d-depthwise-multiplier2", **CONV),
    row("Conv1D", {"groups": 2, "dilation": 2},
        [normal(2, 4, 9), normal(4, 2, 3), normal(4)],
        lambda x, w, b: grouped(loop_conv1d, 2)(x, w, b, 1, (0, 0), 2),
        id="conv1d-groups2-dilation2", **CONV),
    row("ConvTranspose2D", {"groups": 2, "stride": 2},
        [normal(2, 4, 3, 3), normal(4, 1, 3, 3), normal(2)],
        lambda x, w, b: grouped(loop_conv_transpose2d, 2, True)(
            x, w, b, (2, 2), (0, 0), (0, 0), (1, 1)),
        id="convT-groups2-stride2", **CONV),
    row("ConvTranspose2D",
        {"stride": [2, 3], "padding": [0, 1], "output_padding": [1, 0]},
        [normal(2, 1, 3, 4), normal(1, 2, 2, 3), normal(2)],
        lambda x, w, b: loop_conv_transpose2d(x, w, b, (2, 3), (0, 1), (1, 0), (1, 1)),
        id="convT-pair-attrs", **CONV),
    # ---- pooling ------------------------------------------------------------------
    row("MaxPool2D", {"kernel": 2}, [normal(2, 3, 6, 8)],
        lambda x: loop_max_pool(x, (2, 2), (2, 2), ((0, 0), (0, 0))), id="maxpool-2x2",
        **POOLING),
    row("MaxPool2D", {"kernel": 3, "stride": 2, "padding": 1}, [normal(2, 2, 7, 7)],
        lambda x: loop_max_pool(x, (3, 3), (2, 2), ((1, 1), (1, 1))),
        id="maxpool-3-stride2-pad1", **POOLING),
    row("MaxPool2D", {"kernel": [2, 3], "stride": [1, 2], "padding": "same"},
        [normal(1, 2, 5, 7)],
        lambda x: loop_max_pool(x, (2, 3), (1, 2), ((0, 1), (1, 1))),
        id="maxpool-same-asymmetric", **POOLING),
    row("MaxPool2D", {"kernel": 2}, [normal(2, 1, 7, 5)],
        lambda x: loop_max_pool(x, (2, 2), (2, 2), ((0, 0), (0, 0))),
        id="maxpool-odd-drops-input", **POOLING),
    row("MaxPool2D", {"kernel": 2, "stride": 1, "padding": "full"},
        [normal(1, 1, 4, 5)],
        lambda x: loop_max_pool(x, (2, 2), (1, 1), ((1, 1), (1, 1))),
        id="maxpool-full-batch1", **POOLING),
    row("AvgPool2D", {"kernel": 2}, [normal(2, 3, 6, 8)],
        lambda x: (loop_avg_pool(x, (2, 2), (2, 2), ((0, 0), (0, 0))),),
        id="avgpool-2x2", **POOLING),
    row("AvgPool2D", {"kernel": 3, "stride": 2, "padding": 1}, [normal(2, 2, 7, 6)],
        lambda x: (loop_avg_pool(x, (3, 3), (2, 2), ((1, 1), (1, 1))),),
        id="avgpool-3-stride2-pad1", **POOLING),
    row("AvgPool2D", {"kernel": [2, 3], "stride": [1, 2], "padding": "same"},
        [normal(1, 2, 5, 7)],
        lambda x: (loop_avg_pool(x, (2, 3), (1, 2), ((0, 1), (1, 1))),),
        id="avgpool-same-asymmetric", **POOLING),
    row("MaxPool2D", {"kernel": [3, 2], "stride": 2, "padding": [0, 1, 1, 0]},
        [normal(1, 2, 6, 5)],
        lambda x: loop_max_pool(x, (3, 2), (2, 2), ((0, 1), (1, 0))),
        id="maxpool-asymmetric-padding", **POOLING),
    row("AvgPool2D", {"kernel": 3, "stride": 2, "padding": [1, 0, 0, 1]},
        [normal(2, 2, 7, 6)],
        lambda x: (loop_avg_pool(x, (3, 3), (2, 2), ((1, 0), (0, 1))),),
        id="avgpool-asymmetric-padding", **POOLING),
    row("AvgPool2D", {"kernel": 3, "stride": 2, "padding": 1,
                      "count_include_pad": False}, [normal(2, 2, 7, 6)],
        lambda x: (loop_avg_pool(x, (3, 3), (2, 2), ((1, 1), (1, 1)), False),),
        id="avgpool-exclude-pad-3-stride2-pad1", **POOLING),
    row("AvgPool2D", {"kernel": [2, 3], "stride": 1, "padding": "same",
                      "count_include_pad": False}, [normal(1, 2, 4, 5)],
        lambda x: (loop_avg_pool(x, (2, 3), (1, 1), ((0, 1), (1, 1)), False),),
        id="avgpool-exclude-pad-same", **POOLING),
    row("AvgPool2D", {"kernel": 3, "padding": "valid"}, [normal(1, 1, 7, 8)],
        lambda x: (loop_avg_pool(x, (3, 3), (3, 3), ((0, 0), (0, 0))),),
        id="avgpool-valid-drops-input", **POOLING),
    row("MaxUnpool2D", {"kernel": 2}, [OUT_6X8, IDX_6X8],
        lambda x, idx: (loop_unpool(x, idx, (6, 8)),), id="maxunpool-2x2", **POOLING),
    row("MaxUnpool2D", {"kernel": 2, "output_size": [7, 9]}, [OUT_7X9, IDX_7X9],
        lambda x, idx: (loop_unpool(x, idx, (7, 9)),), id="maxunpool-output-size",
        **POOLING),
    row("Upsample2D", {"scale": 2}, [normal(2, 3, 3, 4)],
        lambda x: (loop_upsample(x, (2, 2), "nearest"),), id="upsample-nearest-2",
        **POOLING),
    row("Upsample2D", {"scale": [2, 3]}, [normal(1, 1, 3, 2)],
        lambda x: (loop_upsample(x, (2, 3), "nearest"),), id="upsample-nearest-2x3",
        **POOLING),
    row("Upsample2D", {"scale": 2, "mode": "bilinear"}, [normal(2, 2, 3, 4)],
        lambda x: (loop_upsample(x, (2, 2), "bilinear"),), id="upsample-bilinear-2",
        **POOLING),
    row("Upsample2D", {"scale": [3, 2], "mode": "bilinear"}, [normal(1, 2, 4, 1)],
        lambda x: (loop_upsample(x, (3, 2), "bilinear"),), id="upsample-bilinear-3x2",
        **POOLING),
    row("Upsample2D", {"scale": 1, "mode": "bilinear"}, [normal(1, 1, 3, 3)],
        lambda x: (x,), id="upsample-bilinear-1", **POOLING),
    # ---- regularisation -----------------------------------------------------------
    row("Dropout", {"p": 0.3}, [away(4, 5)], dropout_ref(0.3), training=True,
        **REGULARISATION),
    row("Dropout", {"p": 0.6}, [away(1, 7)], dropout_ref(0.6), training=True,
        **REGULARISATION),
    row("Dropout", {}, [away(3, 2)], lambda x: x, training=False, **REGULARISATION),
    row("Dropout", {"p": 0.0}, [away(3)], lambda x: x, training=True,
        **REGULARISATION),
    row("BatchNorm", {}, [normal(4, 3), positive(3), normal(3)], batchnorm_ref(),
        training=True, **REGULARISATION),
    row("BatchNorm", {"eps": 0.1}, [normal(1, 2, 3), positive(2), normal(2)],
        batchnorm_ref(0.1), training=True, **REGULARISATION),
    row("BatchNorm", {"momentum": 0.5},
        [normal(2, 3, 2, 2) * 3 + 1, positive(3), normal(3)], batchnorm_ref(),
        training=True, **REGULARISATION),
    # Not training, a fresh state: running mean 0 and variance 1.
    row("BatchNorm", {}, [normal(3, 2), positive(2), normal(2)],
        lambda x, gamma, beta: gamma * x / np.sqrt(1 + 1e-5) + beta, training=False,
        **REGULARISATION),
    row("L1Penalty", {"weight": 0.3}, [away(2, 3)],
        penalty_ref(lambda v: 0.3 * abs(v)), training=True, **REGULARISATION),
    row("L1Penalty", {}, [away()], penalty_ref(abs), training=True, **REGULARISATION),
    row("L2Penalty", {}, [normal(3, 1, 2)], penalty_ref(lambda v: v * v / 2),
        training=True, **REGULARISATION),
    row("L2Penalty", {"weight": 2.0}, [normal(5)], penalty_ref(lambda v: v * v),
        training=True, **REGULARISATION),
    # ---- sequences ----------------------------------------------------------------
    # Repeated tokens: their gradients add up in one row of the table.
    # (Their own generator: the rows after them keep the draws they had.)
    row("Embedding", {}, [np.array([[1, 3, 3, 0], [4, 1, 1, 1]]), SEQ_RNG.normal(
        size=(5, 3))], embedding_py, id="embedding", **SEQUENCES),
    row("Embedding", {}, [np.array(2), SEQ_RNG.normal(size=(3, 2))], embedding_py,
        id="embedding_one_token", **SEQUENCES),
    # ---- recurrent ----------------------------------------------------------------
    recurrent("rnn_tanh", "RNN", {}, 3, 4, 2, 3, ("b_ih", "b_hh"), None),
    recurrent("rnn_tanh_bare", "RNN", {}, 2, 3, 2, 3, (), ()),
    recurrent("rnn_relu", "RNN", {"nonlinearity": "relu"}, 3, 4, 2, 3,
              ("b_ih", "b_hh"), None),
    recurrent("rnn_relu_bare", "RNN", {"nonlinearity": "relu"}, 2, 3, 3, 2, (), ()),
    recurrent("rnn_sequence_of_1", "RNN", {}, 3, 1, 2, 3, ("b_ih", "b_hh"), None),
    recurrent("rnn_batch_of_1", "RNN", {}, 1, 4, 2, 3, ("b_hh",), None),
    recurrent("lstm", "LSTM", {}, 3, 4, 2, 3, ("b_ih", "b_hh"), None),
    recurrent("lstm_bare", "LSTM", {}, 2, 3, 2, 3, (), ()),
    recurrent("lstm_h0_only", "LSTM", {}, 2, 3, 2, 2, ("b_ih",), ("h0",)),
    recurrent("lstm_c0_only", "LSTM", {}, 2, 3, 2, 2, ("b_hh",), ("c0",)),
    recurrent("lstm_sequence_of_1", "LSTM", {}, 3, 1, 2, 3, ("b_ih", "b_hh"), None),
    recurrent("lstm_batch_of_1", "LSTM", {}, 1, 4, 3, 2, ("b_ih", "b_hh"), None),
    recurrent("gru", "GRU", {}, 3, 4, 2, 3, ("b_ih", "b_hh"), None),
    recurrent("gru_bare", "GRU", {}, 2, 3, 2, 3, (), ()),
    recurrent("gru_b_hh_only", "GRU", {}, 2, 3, 2, 2, ("b_hh",), None),
    recurrent("gru_sequence_of_1", "GRU", {}, 3, 1, 2, 3, ("b_ih", "b_hh"), None),
    recurrent("gru_batch_of_1", "GRU", {}, 1, 4, 3, 2, ("b_ih", "b_hh"), ()),
    # No h0 skips step 0's h columns in the weight gradient, also with one step.
    recurrent("rnn_b_ih_only", "RNN", {}, 2, 3, 2, 3, ("b_ih",), ()),
    recurrent("rnn_relu_sequence_of_1_bare", "RNN", {"nonlinearity": "relu"}, 3, 1, 2,
              3, (), ()),
    recurrent("lstm_sequence_of_1_bare", "LSTM", {}, 3, 1, 2, 3, (), ()),
    recurrent("lstm_batch_of_1_bare", "LSTM", {}, 1, 3, 2, 3, ("b_hh",), ()),
    recurrent("gru_b_ih_only", "GRU", {}, 2, 3, 2, 2, ("b_ih",), ()),
    recurrent("gru_sequence_of_1_bare", "GRU", {}, 2, 1, 3, 2, (), ()),
    # ---- losses -------------------------------------------------------------------
    row("MSELoss", {}, [normal(3, 2), normal(3, 2)], mse_py, **LOSSES),
    row("MSELoss", {}, [normal(1), normal(1)], mse_py, **LOSSES),
    row("MSELoss", {}, [normal(), normal()], mse_py, **LOSSES),
    row("CrossEntropyLoss", {}, [normal(3, 4), np.array([0, 3, 1])], cross_entropy_py,
        **LOSSES),
    row("CrossEntropyLoss", {}, [normal(1, 5) * 3, np.array([2])], cross_entropy_py,
        **LOSSES),
    row("CrossEntropyLoss", {}, [normal(4), np.array(3)], cross_entropy_py, **LOSSES),
    # Sequences: N×T×C logits, the mean over every position.
    row("CrossEntropyLoss", {}, [SEQ_RNG.normal(size=(2, 3, 4)),
                                 np.array([[0, 3, 1], [2, 2, 0]])],
        cross_entropy_py, id="cross_entropy_over_sequences", **LOSSES),
    row("KLDivLoss", {}, [dist(3, 4), dist(3, 4)], kl_py, **LOSSES),
    row("KLDivLoss", {}, [dist(5), dist(5)], kl_py, **LOSSES),
    row("KLDivLoss", {}, [dist(2, 1, 3), dist(2, 1, 3)], kl_py, **LOSSES),
    row("JSDivLoss", {}, [dist(3, 4), dist(3, 4)], js_py, **LOSSES),
    row("JSDivLoss", {}, [dist(1, 6), dist(1, 6)], js_py, **LOSSES),
]


def _cases(keep=lambda spec, op: True):
    chosen = [s for s in SPECS if keep(s, get_op(s.name))]
    return pytest.mark.parametrize("spec", chosen, ids=[s.id for s in chosen])


def _float_outputs(outs, make):
    """One array per float output (``make(out)``), None for index outputs."""
    return tuple(make(o) if o.dtype.kind == "f" else None for o in outs)


def _one_or_all(op, values):
    return values if len(op.outputs) > 1 else values[0]


def _differentiable(op, inputs):
    return [x is not None and port not in op.nondiff
            for port, x in zip(op.input_ports, inputs)]


@_cases()
def test_forward_matches_reference(spec):
    outs, _ = run_op(spec.name, spec.inputs, spec.attrs, training=spec.training)
    want = spec.ref(*spec.inputs)
    want = want if isinstance(want, tuple) else (want,)
    assert len(outs) == len(want)
    for got, w in zip(outs, want):
        w = np.asarray(w)
        assert isinstance(got, np.ndarray) or not spec.array
        assert got.shape == w.shape and got.dtype.kind == w.dtype.kind
        np.testing.assert_allclose(got, w, rtol=spec.rtol, atol=spec.atol)


@_cases()
def test_vjp_matches_finite_differences(spec):
    op = get_op(spec.name)
    checked = check_vjp(spec.name, spec.inputs, spec.attrs, training=spec.training)
    assert checked == sum(_differentiable(op, spec.inputs))


@_cases()
def test_shape_rule_matches_forward(spec):
    op = get_op(spec.name)
    outs, _ = run_op(spec.name, spec.inputs, spec.attrs, training=spec.training)
    shapes = [None if x is None else x.shape for x in spec.inputs]
    shape = op.shape(*shapes, **op.resolve_attrs(spec.attrs))
    assert shape == _one_or_all(op, tuple(o.shape for o in outs))


@_cases(lambda s, op: s.f32 is not None)
def test_float32_stays_float32(spec):
    op = get_op(spec.name)
    x32 = [x.astype(np.float32) if x is not None and x.dtype.kind == "f" else x
           for x in spec.inputs]
    state = {}
    outs, _ = run_op(spec.name, x32, spec.attrs, training=spec.training, state=state)
    assert [o.dtype for o in outs if o.dtype.kind == "f"] == [np.float32] * sum(
        o.dtype.kind == "f" for o in outs) and outs[0].dtype == np.float32
    gs = _float_outputs(outs, lambda o: rng.normal(size=o.shape).astype(np.float32))
    _, grads = op_vjp(spec.name, x32, gs, spec.attrs, training=spec.training)
    for x, gr, wanted in zip(x32, grads, _differentiable(op, x32)):
        if wanted:
            assert gr.dtype == np.float32 and gr.shape == x.shape
        else:
            assert gr is None
    assert all(v.dtype == np.float32 for v in state.values())
    want = spec.ref(*spec.inputs)
    want = want[0] if isinstance(want, tuple) else want
    np.testing.assert_allclose(outs[0], want, rtol=spec.f32[0], atol=spec.f32[1])


@_cases(lambda s, op: s.f64_seed)
def test_float32_survives_a_float64_seed(spec):
    # The executor may seed backward with a Python or float64 1.0.
    op = get_op(spec.name)
    x32 = [x.astype(np.float32) if x.dtype.kind == "f" else x for x in spec.inputs]
    (out,), ctx = run_op(spec.name, x32, spec.attrs)
    grads = op.vjp(ctx, np.float64(1.0), out, *x32, **op.resolve_attrs(spec.attrs))
    assert {gr.dtype for gr in grads if gr is not None} == {np.dtype(np.float32)}


def _has_templates(op, attrs):
    attrs = op.resolve_attrs(attrs)
    return bool(op.template) or any(op.vjp_template(p, attrs) for p in op.input_ports)


@_cases(lambda s, op: _has_templates(op, s.attrs))
def test_templates_match_kernels(spec):
    """Generated code inlines the templates, filled as codegen fills them (ports
    by name, attributes by repr); they must compute what the kernels do."""
    op = get_op(spec.name)
    resolved = op.resolve_attrs(spec.attrs)
    names = {p: p for p in op.input_ports}
    names.update({k: repr(v) for k, v in resolved.items()})
    scope = dict(zip(op.input_ports, spec.inputs), np=np)
    (out,), _ = run_op(spec.name, spec.inputs, spec.attrs)
    if op.template:
        np.testing.assert_array_equal(eval(op.template.format(**names), scope), out)
    g = rng.normal(size=out.shape)
    _, grads = op_vjp(spec.name, spec.inputs, (g,), spec.attrs)
    for port, want in zip(op.input_ports, grads):
        template = op.vjp_template(port, resolved)
        if template is not None:
            got = eval(template.format(g="g", out="out", **names),
                       dict(scope, g=g, out=out))
            got = unbroadcast(np.asarray(got), np.shape(want))
            np.testing.assert_allclose(got, want, rtol=1e-15, atol=0, err_msg=port)


@_cases(lambda s, op: op.elementwise)
def test_sympy_derivative_matches_vjp(spec):
    op = get_op(spec.name)
    full = np.broadcast_arrays(*spec.inputs)
    g = rng.normal(size=full[0].shape)
    _, grads = op_vjp(spec.name, full, (g,), spec.attrs)
    for got, local in zip(grads, symbolic_grads(spec.name, spec.attrs, full)):
        np.testing.assert_allclose(got, g * local, rtol=1e-10)


@_cases(lambda s, op: bool(op.formulas) and s.formulas)
def test_formulas_match_vjp(spec):
    op = get_op(spec.name)
    resolved = op.resolve_attrs(spec.attrs)
    assert set(op.formulas) == set(op.input_ports) - set(op.nondiff)
    outs, _ = run_op(spec.name, spec.inputs, spec.attrs, training=spec.training)
    # recurrent ops: also with gradients on some outputs only
    subsets = [op.outputs]
    if op.recurrence is not None:
        subsets += [op.outputs[1:], op.outputs[:1]]
    rtol, atol = spec.ftol or (spec.rtol, spec.atol)
    for only in subsets:
        gs = tuple(rng.normal(size=o.shape) if o.dtype.kind == "f" and p in only
                   else None for p, o in zip(op.outputs, outs))
        _, grads = op_vjp(spec.name, spec.inputs, gs, spec.attrs,
                          training=spec.training)
        checked = 0
        for port, x, want in zip(op.input_ports, spec.inputs, grads):
            if x is None or port in op.nondiff:
                assert want is None
                continue
            latex, fn = op.formulas[port]
            if op.recurrence is not None:
                assert r"\delta" in latex
            else:
                assert latex.startswith(r"\frac{\partial L}{\partial ")
            got = fn(_one_or_all(op, gs), _one_or_all(op, outs), *spec.inputs,
                     **resolved)
            got = unbroadcast(np.asarray(got), x.shape)
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol,
                                       err_msg=f"{spec.name}: formula for {port}")
            checked += 1
        assert checked == sum(_differentiable(op, spec.inputs))


@_cases(lambda s, op: s.skips)
def test_vjp_skips_gradients_nobody_needs(spec):
    op = get_op(spec.name)
    resolved = op.resolve_attrs(spec.attrs)
    n = len(op.inputs)

    def vjp(mask):
        ctx = Ctx(needs_input_grad=mask)
        out = op.forward(ctx, *spec.inputs, **resolved)
        outs = out if len(op.outputs) > 1 else (out,)
        g = _one_or_all(op, _float_outputs(outs, np.ones_like))
        return op.vjp(ctx, g, out, *spec.inputs, **resolved)
    assert all(gr is None for gr in vjp((False,) * n))  # nothing wanted
    full = vjp(None)
    for i in range(n):  # one input not wanted: the same gradients for the others
        grads = vjp(tuple(j != i for j in range(n)))
        assert grads[i] is None
        for j, (want, got) in enumerate(zip(full, grads)):
            if j != i:
                np.testing.assert_array_equal(got, want)
