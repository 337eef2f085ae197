"""Export: every sample and every exportable op, onnxruntime against the executor
(float32, rtol 1e-4) at batch 1 and 3, the model passing the full ONNX check."""

import glob

import numpy as np
import pytest

from .helpers import assert_export_matches, feeds_for, gl, onnx, run_executor

SAMPLES = sorted(glob.glob("samples/*.graph.json"))


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.split("/")[-1])
def test_every_sample_exports_with_the_executors_numbers(path):
    assert_export_matches(gl.load(path))


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.split("/")[-1])
def test_every_sample_round_trips_with_equal_numbers(path):
    g = gl.load(path)
    back = gl.from_onnx(gl.to_onnx(g))
    assert back.outputs == g.outputs  # ids survive: nodes are named by them
    assert back.parameter_count() == g.parameter_count()
    feeds = feeds_for(g, 2)
    want = run_executor(g, feeds)
    got = run_executor(back, feeds)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6, atol=1e-7)


def _graph(build, inputs):
    """A graph of one op (or a few) on Inputs of the given shapes."""
    b = gl.GraphBuilder("op")
    refs = [b.input(name, shape, dtype=dtype) for name, shape, dtype in inputs]
    out = build(b, *refs)
    b.output(*([out] if isinstance(out, str) else out))
    return b.graph


def _param(b, name, shape, seed=0):
    value = np.random.default_rng(seed).normal(size=shape).round(3)
    return b.parameter(name, shape, value=value.tolist())


F = "float32"
X4 = [("x", ["N", 4, 7, 6], F)]
X2 = [("x", ["N", 5], F)]

# id → (builder, inputs)
OPS = {
    "arith": (lambda b, x, y: b.op("Div", b.op("Maximum", b.op("Mul", x, y),
                                                b.op("Sub", y, x)),
                                   b.op("Add", b.op("Abs", y), b.op("Exp", x))),
              [("x", ["N", 5], F), ("y", ["N", 5], F)]),
    "unary": (lambda b, x: b.op("Sqrt", b.op("Exp", b.op("Log", b.op("Abs", b.op(
        "Neg", x))))), X2),
    "constant": (lambda b, x: b.op("Mul", x, b.constant([1.5, -2.0, 0.5, 1.0, 3.0])),
                 X2),
    "pow": (lambda b, x: b.op("Pow", x, exponent=2.5), X2),
    "activations": (lambda b, x: [b.op("Sigmoid", x), b.op("Tanh", x),
                                  b.op("ReLU", x), b.op("LeakyReLU", x, alpha=0.2),
                                  b.op("ELU", x, alpha=0.7)], X2),
    "softmax-axis0": (lambda b, x: [b.op("Softmax", x, axis=0),
                                    b.op("LogSoftmax", x)], X2),
    "maxout": (lambda b, x: b.op("Maxout", x, pieces=2), [("x", ["N", 6, 3], F)]),
    "matmul-broadcast": (lambda b, x: b.op("MatMul", x, _param(b, "w", [5, 3])), X2),
    "linear-2d": (lambda b, x: b.linear(x, 3, name="fc"), X2),
    "linear-3d-no-bias": (lambda b, x: b.linear(x, 3, name="fc", bias=False),
                          [("x", ["N", 4, 5], F)]),
    "transpose": (lambda b, x: [b.op("Transpose", x, perm=[0, 2, 1]),
                                b.op("Transpose", x)], [("x", ["N", 2, 3], F)]),
    "reshape": (lambda b, x: [b.op("Reshape", x, shape=["N", -1]),
                              b.op("Reshape", x, shape=[4, "N", 42]),
                              b.op("Reshape", x, shape=[-1, 6])], X4),
    "flatten": (lambda b, x: [b.op("Flatten", x), b.op("Flatten", x, start_axis=2),
                              b.op("Flatten", x, start_axis=0)], X4),
    "concat": (lambda b, x, y: [b.op("Concat", x, y, axis=1),
                                b.op("Concat", x, x, axis=-1)],
               [("x", ["N", 2, 3], F), ("y", ["N", 4, 3], F)]),
    "sum-mean": (lambda b, x: [b.op("Sum", x), b.op("Mean", x, axis=[2, 3],
                                                    keepdims=True),
                               b.op("Sum", x, axis=1), b.op("Mean", x, axis=-1)], X4),
    "conv2d": (lambda b, x: [b.conv2d(x, 3, 3, stride=2, padding=1, name="c1"),
                             b.conv2d(x, 2, [2, 3], padding="same", name="c2"),
                             b.conv2d(x, 2, 3, padding="full", dilation=2,
                                      name="c3"),
                             b.conv2d(x, 2, 3, padding="valid", stride=[2, 3],
                                      name="c4"),
                             b.conv2d(x, 2, 3, padding=[0, 2, 1, 1], name="c5")],
               X4),
    "conv2d-groups": (lambda b, x: [
        b.op("Conv2D", x, _param(b, "wd", [4, 1, 3, 3]), _param(b, "bd", [4]),
             groups=4, padding=1, stride=2),
        b.op("Conv2D", x, _param(b, "wg", [6, 2, 3, 3]), groups=2)], X4),
    "conv1d": (lambda b, x: [b.conv1d(x, 3, 3, stride=2, padding="same", name="c1"),
                             b.op("Conv1D", x, _param(b, "w", [4, 2, 2]), groups=2,
                                  dilation=2)], [("x", ["N", 4, 9], F)]),
    "conv-transpose": (lambda b, x: [
        b.conv_transpose2d(x, 3, 3, stride=2, padding=1, output_padding=1,
                           name="d1"),
        b.op("ConvTranspose2D", x, _param(b, "w", [4, 1, 2, 2]), groups=2,
             stride=[2, 1], dilation=2)], X4),
    "pools": (lambda b, x: [b.op("MaxPool2D", x, kernel=2),
                            b.op("MaxPool2D", x, kernel=3, stride=2, padding=1),
                            b.op("AvgPool2D", x, kernel=[2, 3], padding="same",
                                 stride=1),
                            b.op("AvgPool2D", x, kernel=3, stride=2, padding=1,
                                 count_include_pad=False),
                            b.op("AvgPool2D", x, kernel=3, padding=1, stride=2),
                            b.op("MaxPool2D", x, kernel=3, stride=2,
                                 padding=[1, 0, 0, 1])], X4),
    "maxpool-indices": (lambda b, x: [b.op("MaxPool2D", x, kernel=2, name="p"),
                                      "p:indices"], X4),
    "unpool": (lambda b, x: b.op("MaxUnpool2D", b.op("MaxPool2D", x, kernel=2,
                                                     name="p"), "p:indices",
                                 kernel=2), X4),
    "unpool-output-size": (lambda b, x: b.op(
        "MaxUnpool2D", b.op("MaxPool2D", x, kernel=2, name="p"), "p:indices",
        kernel=2, output_size=[7, 6]), X4),
    "unpool-per-plane-indices": (lambda b, x: b.op(
        "MaxUnpool2D", b.op("MaxPool2D", x, kernel=2, name="p"),
        b.op("Reshape", "p:indices", shape=["N", 4, 3, 3]), kernel=2), X4),
    "upsample": (lambda b, x: [b.op("Upsample2D", x, scale=2),
                               b.op("Upsample2D", x, scale=[3, 2], mode="bilinear")],
                 X4),
    "dropout-batchnorm": (lambda b, x: b.batchnorm(b.op("Dropout", x, p=0.3),
                                                   name="bn", momentum=0.2,
                                                   eps=1e-3), X4),
    "batchnorm-2d": (lambda b, x: b.batchnorm(x, name="bn"), X2),
    "penalties": (lambda b, x: [b.op("L1Penalty", x, weight=0.3),
                                b.op("L2Penalty", x, weight=2.0)], X2),
    "rnn-relu-h0": (lambda b, x, h: [b.rnn(x, 4, nonlinearity="relu", h0=h,
                                           name="r"), "r:h"],
                    [("x", ["N", 5, 3], F), ("h", ["N", 4], F)]),
    "lstm-h0-c0": (lambda b, x, h, c: [b.lstm(x, 4, h0=h, c0=c, name="l"), "l:h",
                                       "l:c"],
                   [("x", ["N", 5, 3], F), ("h", ["N", 4], F), ("c", ["N", 4], F)]),
    "gru-no-bias": (lambda b, x: [b.gru(x, 4, bias=False, name="g"), "g:h"],
                    [("x", ["N", 5, 3], F)]),
    "lstm-computed-weights": (lambda b, x: b.op(
        "LSTM", x, b.op("Mul", _param(b, "wi", [8, 3]), _param(b, "s", [1])),
        _param(b, "wh", [8, 2]), _param(b, "bi", [8]), name="l"),
        [("x", ["N", 4, 3], F)]),
    "losses": (lambda b, p, q, t: [
        b.op("MSELoss", p, q),
        b.op("CrossEntropyLoss", p, t),
        b.op("KLDivLoss", b.op("Softmax", p), b.op("Softmax", q)),
        b.op("JSDivLoss", b.op("Softmax", p), b.op("Softmax", q))],
        [("p", ["N", 5], F), ("q", ["N", 5], F), ("t", ["N"], "int64")]),
    "cross-entropy-float-labels": (lambda b, p, t: b.op("CrossEntropyLoss", p, t),
                                   [("p", [5], F), ("t", [], F)]),
}


@pytest.mark.parametrize("case", sorted(OPS))
def test_op_exports_with_the_executors_numbers(case):
    build, inputs = OPS[case]
    g = _graph(build, inputs)
    assert_export_matches(g)


def test_every_op_but_the_fused_ones_has_an_export_mapping():
    from graphlab.onnx.mappings import EXPORTS
    sources = {"Input", "Parameter", "Constant"}
    missing = set(gl.op_names()) - set(EXPORTS) - sources
    assert not missing


def test_cases_cover_every_exportable_op():
    used = set()
    for build, inputs in OPS.values():
        used |= {gl.loads(gl.dumps(_graph(build, inputs))).node(n).op
                 for n in _graph(build, inputs).nodes}
    used |= {gl.load(p).node(n).op for p in SAMPLES for n in gl.load(p).nodes}
    assert set(gl.op_names()) <= used


@pytest.mark.parametrize("opset", [17, 21, 25])
def test_opsets_17_to_25(opset):
    g = gl.load("samples/lenet5.graph.json")
    model = assert_export_matches(g, batches=(2,), opset=opset)
    assert model.opset_import[0].version == opset


def test_opset_outside_the_range_is_refused():
    with pytest.raises(gl.GraphError, match="opset 16 is not supported: use 17 to 25"):
        gl.to_onnx(gl.load("samples/lenet5.graph.json"), opset=16)


def test_outputs_pick_what_the_model_returns(tmp_path):
    g = gl.load("samples/lenet5.graph.json")
    path = tmp_path / "m.onnx"
    model = gl.to_onnx(g, path, outputs=["fc3", "pool1:indices"])
    assert [o.name for o in model.graph.output] == ["fc3", "pool1.indices"]
    assert onnx.load(str(path)).graph.output[0].name == "fc3"
    assert_export_matches(g, batches=(2,), outputs=["fc3", "pool1:indices"])


def test_batch_is_a_dynamic_dimension():
    model = gl.to_onnx(gl.load("samples/mlp_digits.graph.json"))
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_param == "N" and not dim.HasField("dim_value")


def test_exported_parameters_are_the_trained_values():
    g = gl.load("samples/mlp_xor.graph.json")
    g.params = {n: np.full(g.node(n).resolved["shape"], 0.25, np.float32)
                for n in g.nodes if g.node(n).op == "Parameter"}
    model = gl.to_onnx(g)
    values = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    assert all(np.all(values[n] == 0.25) for n in g.params)


def test_an_unknown_output_is_refused():
    with pytest.raises(gl.GraphError, match="'nope', which is not a node"):
        gl.to_onnx(gl.load("samples/lenet5.graph.json"), outputs=["nope"])


def test_an_invalid_graph_is_refused_naming_its_node():
    g = gl.load("samples/mlp_xor.graph.json")
    g.set_attr("fc1_w", "shape", [9, 9])
    with pytest.raises(gl.GraphlabError) as e:
        gl.to_onnx(g)
    assert e.value.node in ("fc1", "fc1_w")


def test_maxout_over_an_axis_followed_by_a_run_time_size_is_refused():
    g = _graph(lambda b, x: b.op("Maxout", x, pieces=2), [("x", ["N", 4, "T"], F)])
    with pytest.raises(gl.GraphError) as e:
        gl.to_onnx(g)
    assert e.value.node == "maxout1" and "no form" in str(e.value)
