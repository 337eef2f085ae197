"""Import: models built with onnx.helper, one per mapped op and attribute
combination (random weights), run by the executor against onnxruntime; and
one refusal per unsupported attribute, naming the node."""

import numpy as np
import pytest

from .helpers import assert_import_matches, gl, make_model, onnx

H = onnx.helper
T = onnx.TensorProto
rng = np.random.default_rng(0)


def w(*shape):
    return rng.normal(size=shape).astype(np.float32)


def pos(*shape):
    return rng.uniform(0.1, 1.0, shape).astype(np.float32)


def ints(*v):
    return np.asarray(v, np.int64)


N = "N"
X2, X4 = ("x", [N, 5]), ("x", [N, 4, 7, 6])


def one(op, attrs=None, inputs=("x",), out_shape=None, **kw):
    """A model of one node on ``x`` (plus initializers ``kw``)."""
    node = H.make_node(op, list(inputs), ["y"], name=f"the_{op.lower()}",
                       **(attrs or {}))
    return [node], kw


# id → (nodes, initializers), input specs, feeds (at batch 3)
CASES = {}


def case(name, nodes_inits, inputs, feeds):
    CASES[name] = (nodes_inits, inputs, feeds)


x2, x4 = pos(3, 5), w(3, 4, 7, 6)
for op in ("Add", "Sub", "Mul", "Div", "Max", "Min"):
    case(f"binary-{op}", one(op, inputs=("x", "b"), b=pos(5)), [X2], {"x": x2})
case("max-of-three", one("Max", inputs=("x", "b", "c"), b=pos(5), c=pos(1, 5)), [X2],
     {"x": x2})
case("sum-of-three", one("Sum", inputs=("x", "b", "x")), [X2], {"x": x2}) \
    if False else None
CASES["sum-of-three"] = (one("Sum", inputs=("x", "b", "x"), b=w(5)), [X2], {"x": x2})
for op in ("Neg", "Exp", "Log", "Sqrt", "Abs", "Sigmoid", "Tanh", "Relu", "Identity"):
    case(f"unary-{op}", one(op), [X2], {"x": x2})
case("leaky-relu", one("LeakyRelu", {"alpha": 0.2}), [X2], {"x": x2 - 0.5})
case("elu", one("Elu", {"alpha": 0.5}), [X2], {"x": x2 - 0.5})
case("softmax-axis0", one("Softmax", {"axis": 0}), [X2], {"x": x2})
case("log-softmax", one("LogSoftmax"), [X2], {"x": x2})
case("pow", one("Pow", inputs=("x", "e"), e=np.float32(3)), [X2], {"x": x2})
case("relu6", one("Clip", inputs=("x", "lo", "hi"), lo=np.float32(0),
                  hi=np.float32(0.5)), [X2], {"x": x2 - 0.2})
case("clip-min", one("Clip", inputs=("x", "lo"), lo=np.float32(-0.1)), [X2],
     {"x": x2 - 0.5})
case("clip-max", one("Clip", inputs=("x", "", "hi"), hi=np.float32(0.4)), [X2],
     {"x": x2})
case("matmul", one("MatMul", inputs=("x", "b"), b=w(5, 3)), [X2], {"x": x2})
case("gemm-transB", one("Gemm", {"transB": 1}, ("x", "b", "c"), b=w(3, 5), c=w(3)),
     [X2], {"x": x2})
case("gemm-plain", one("Gemm", {}, ("x", "b", "c"), b=w(5, 3), c=w(3)), [X2],
     {"x": x2})
case("gemm-transA-alpha", one("Gemm", {"transA": 1, "alpha": 2.0}, ("x", "b"),
                              b=w(3, 4)), [("x", [3, 3])], {"x": w(3, 3)})
case("transpose", one("Transpose", {"perm": [0, 2, 3, 1]}), [X4], {"x": x4})
case("reshape-0-and-minus-1", one("Reshape", inputs=("x", "s"), s=ints(0, -1, 6)),
     [X4], {"x": x4})
case("flatten-axis1", one("Flatten"), [X4], {"x": x4})
case("flatten-axis2", one("Flatten", {"axis": 2}), [("x", [3, 4, 7, 6])], {"x": x4})
case("squeeze-unsqueeze", ([H.make_node("Unsqueeze", ["x", "a"], ["u"], name="u"),
                            H.make_node("Squeeze", ["u", "a"], ["y"], name="s")],
                           {"a": ints(2)}), [X2], {"x": x2})
case("concat-three", one("Concat", {"axis": 1}, ("x", "x", "b"), b=w(3, 2, 7, 6)),
     [("x", [3, 4, 7, 6])], {"x": x4})
case("reduce-sum", one("ReduceSum", {"keepdims": 0}, ("x", "a"), a=ints(1, 3)), [X4],
     {"x": x4})
case("reduce-mean", one("ReduceMean", {"keepdims": 1}, ("x", "a"), a=ints(-1)), [X4],
     {"x": x4})
case("reduce-sum-square", one("ReduceSumSquare", {"keepdims": 0}), [X4], {"x": x4})
case("global-average-pool", one("GlobalAveragePool"), [X4], {"x": x4})
case("global-max-pool", one("GlobalMaxPool"), [X4], {"x": x4})
case("conv", one("Conv", {"strides": [2, 1], "pads": [1, 2, 1, 2],
                          "dilations": [1, 2]}, ("x", "w", "b"), w=w(3, 4, 3, 3),
                 b=w(3)), [X4], {"x": x4})
case("conv-group2", one("Conv", {"group": 2, "pads": [1, 1, 1, 1]}, ("x", "w"),
                        w=w(6, 2, 3, 3)), [X4], {"x": x4})
case("conv-depthwise", one("Conv", {"group": 4, "strides": [2, 2],
                                    "pads": [1, 1, 1, 1]}, ("x", "w", "b"),
                           w=w(4, 1, 3, 3), b=w(4)), [X4], {"x": x4})
case("conv-same-upper", one("Conv", {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
                            ("x", "w"), w=w(2, 4, 4, 3)), [X4], {"x": x4})
case("conv-same-lower-even", one("Conv", {"auto_pad": "SAME_LOWER"}, ("x", "w"),
                                 w=w(2, 4, 3, 3)), [X4], {"x": x4})
case("conv-asymmetric-pads-as-same", one("Conv", {"pads": [1, 0, 1, 1],
                                                  "strides": [2, 2]}, ("x", "w"),
                                         w=w(2, 4, 3, 3)), [X4], {"x": x4})
case("conv-asymmetric-pads", one("Conv", {"pads": [0, 2, 1, 1]}, ("x", "w"),
                                 w=w(2, 4, 3, 3)), [X4], {"x": x4})
case("maxpool-asymmetric-pads", one("MaxPool", {"kernel_shape": [3, 3],
                                                "strides": [2, 2],
                                                "pads": [1, 0, 0, 1]}), [X4], {"x": x4})
case("conv1d", one("Conv", {"pads": [1, 1], "group": 2}, ("x", "w", "b"),
                   w=w(4, 2, 3), b=w(4)), [("x", [N, 4, 9])], {"x": w(3, 4, 9)})
case("conv-transpose", one("ConvTranspose", {"strides": [2, 2], "pads": [1, 1, 1, 1],
                                             "output_padding": [1, 0]},
                           ("x", "w", "b"), w=w(4, 3, 3, 3), b=w(3)), [X4], {"x": x4})
case("conv-transpose-group-output-shape",
     one("ConvTranspose", {"strides": [2, 2], "group": 2,
                           "output_shape": [14, 12]}, ("x", "w"), w=w(4, 1, 2, 2)),
     [X4], {"x": x4})
case("maxpool-stride1-default", one("MaxPool", {"kernel_shape": [2, 3]}), [X4],
     {"x": x4})
case("maxpool-pads-ceil-exact", one("MaxPool", {"kernel_shape": [3, 3],
                                                "strides": [2, 2], "ceil_mode": 1,
                                                "pads": [1, 1, 1, 1]}),
     [("x", [N, 4, 7, 7])], {"x": w(3, 4, 7, 7)})
case("averagepool-exclude-pad", one("AveragePool", {"kernel_shape": [3, 3],
                                                    "strides": [2, 2],
                                                    "pads": [1, 1, 1, 1]}),
     [X4], {"x": x4})
case("averagepool-include-pad", one("AveragePool", {"kernel_shape": [3, 2],
                                                    "count_include_pad": 1,
                                                    "pads": [1, 1, 1, 1]}),
     [X4], {"x": x4})
case("maxpool-maxunpool", ([H.make_node("MaxPool", ["x"], ["p", "i"], name="pool",
                                        kernel_shape=[2, 2], strides=[2, 2]),
                            H.make_node("MaxUnpool", ["p", "i"], ["y"], name="unpool",
                                        kernel_shape=[2, 2], strides=[2, 2])], {}),
     [("x", [N, 4, 6, 8])], {"x": w(3, 4, 6, 8)})
case("resize-nearest-asymmetric", one("Resize", {
    "mode": "nearest", "coordinate_transformation_mode": "asymmetric",
    "nearest_mode": "floor"}, ("x", "", "s"), s=np.asarray([1, 1, 2, 3], np.float32)),
    [X4], {"x": x4})
case("resize-nearest-half-pixel", one("Resize", {"mode": "nearest"}, ("x", "", "s"),
                                      s=np.asarray([1, 1, 3, 3], np.float32)),
     [X4], {"x": x4})
case("resize-linear-sizes", one("Resize", {
    "mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"},
    ("x", "", "", "z"), z=ints(3, 4, 14, 12)), [("x", [3, 4, 7, 6])], {"x": x4})
case("batchnorm", one("BatchNormalization", {"epsilon": 1e-3},
                      ("x", "g", "b", "m", "v"), g=w(4), b=w(4), m=w(4), v=pos(4)),
     [X4], {"x": x4})
case("dropout", one("Dropout", inputs=("x", "r"), r=np.float32(0.3)), [X4], {"x": x4})
case("gather-last-step", one("Gather", {"axis": 1}, ("x", "i"), i=np.int64(-1)),
     [("x", [N, 5, 3])], {"x": w(3, 5, 3)})
case("gather-indices", one("Gather", {"axis": 2}, ("x", "i"), i=ints(0, 2, 2)),
     [("x", [N, 5, 3])], {"x": w(3, 5, 3)})
case("shape-chain-reshape", ([
    H.make_node("Shape", ["x"], ["s"], name="shape"),
    H.make_node("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
    H.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="unsq"),
    H.make_node("Concat", ["n1", "minus1"], ["spec"], name="concat", axis=0),
    H.make_node("Reshape", ["x", "spec"], ["y"], name="reshape")],
    {"zero": np.int64(0), "axes": ints(0), "minus1": ints(-1)}), [X4], {"x": x4})


def _recurrent(op, gates, attrs=None, h0=True, c0=False, hidden=4, feat=3):
    names = ["xt", "W", "R", "B", ""] + (["h0"] if h0 else [""]) + (
        ["c0"] if c0 else [])
    nodes = [H.make_node("Transpose", ["x"], ["xt"], name="to_time_first",
                         perm=[1, 0, 2]),
             H.make_node(op, names, ["Y", "Yh"], name=f"the_{op.lower()}",
                         hidden_size=hidden, **(attrs or {})),
             H.make_node("Squeeze", ["Y", "one"], ["Ys"], name="squeeze"),
             H.make_node("Transpose", ["Ys"], ["y"], name="to_batch_first",
                         perm=[1, 0, 2]),
             H.make_node("Squeeze", ["Yh", "zero"], ["h"], name="squeeze_h")]
    inits = {"W": w(1, gates * hidden, feat), "R": w(1, gates * hidden, hidden),
             "B": w(1, 2 * gates * hidden), "one": ints(1), "zero": ints(0)}
    return nodes, inits


def _recurrent_case(name, op, gates, attrs=None, c0=False):
    nodes, inits = _recurrent(op, gates, attrs, c0=c0)
    inputs = [("x", [N, 6, 3]), ("h0", [1, N, 4])] + ([("c0", [1, N, 4])] if c0 else [])
    feeds = {"x": w(3, 6, 3), "h0": w(1, 3, 4)}
    if c0:
        feeds["c0"] = w(1, 3, 4)
    CASES[name] = ((nodes, inits), inputs, feeds)


_recurrent_case("lstm", "LSTM", 4, c0=True)
_recurrent_case("gru", "GRU", 3, {"linear_before_reset": 1})
_recurrent_case("rnn-relu", "RNN", 1, {"activations": ["Relu"]})


@pytest.mark.parametrize("name", sorted(CASES))
def test_import_runs_with_onnxruntimes_numbers(name):
    (nodes, inits), inputs, feeds = CASES[name]
    outputs = [("y", None)] + ([("h", None)] if name in ("lstm", "gru", "rnn-relu")
                               else [])
    model = make_model(nodes, inputs, outputs, inits)
    assert_import_matches(model, feeds)


def test_recurrent_h_output_and_layout_chains_collapse():
    (nodes, inits), inputs, feeds = CASES["lstm"]
    model = make_model(nodes, inputs, [("y", None), ("h", None)], inits)
    g = assert_import_matches(model, feeds)
    ops = [g.node(n).op for n in g.nodes]
    # x → LSTM → y: the time-first Transposes cancel; only h0's reshape is left
    assert ops.count("Transpose") == 0, ops


def test_softmax_cross_entropy_loss():
    model = make_model(
        [H.make_node("SoftmaxCrossEntropyLoss", ["x", "t"], ["y"], name="loss",
                     reduction="mean")],
        [X2, ("t", [N], T.INT64)], [("y", [])])
    g = assert_import_matches(model, {"x": x2, "t": ints(0, 4, 2)})
    assert [g.node(n).op for n in g.nodes][-1] == "CrossEntropyLoss"


def test_cast_to_float_of_float_passes_through():
    model = make_model([H.make_node("Cast", ["x"], ["y"], name="c", to=T.FLOAT)],
                       [X2], [("y", None)])
    assert_import_matches(model, {"x": x2})


def test_initializers_become_trainable_parameters_with_their_values():
    (nodes, inits), inputs, _ = CASES["conv"]
    g = gl.from_onnx(make_model(nodes, inputs, [("y", None)], inits))
    params = {n: g.node(n) for n in g.nodes if g.node(n).op == "Parameter"}
    assert set(params) == {"w", "b"}
    np.testing.assert_array_equal(g.params["w"], inits["w"])
    assert all(p.resolved["trainable"] for p in params.values())
    assert g.node("x").resolved["shape"] == ("N", 4, 7, 6)


def test_node_ids_come_from_the_onnx_names_made_valid_and_unique():
    nodes = [H.make_node("Relu", ["x"], ["a"], name="/block.1/act/Relu"),
             H.make_node("Relu", ["a"], ["y"], name="/block.1/act/Relu")]
    g = gl.from_onnx(make_model(nodes, [X2], [("y", None)]))
    assert g.nodes[1:] == ["block_1_act_Relu", "block_1_act_Relu_2"]
    assert {g.node(n).ui.get("group") for n in g.nodes[1:]} == {"block.1"}


# ---- refusals: one per unsupported attribute, naming the node ---------------------

REFUSALS = [
    (one("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),
     X4, "node 'the_maxpool' (MaxPool): ceil_mode=1 is not supported"),
    (one("MaxPool", {"kernel_shape": [2, 2], "dilations": [2, 2]}), X4,
     "node 'the_maxpool' (MaxPool): dilations=[2, 2] is not supported"),
    (one("ConvTranspose", {"pads": [0, 0, 2, 1]}, ("x", "w"), w=w(4, 2, 3, 3)), X4,
     "node 'the_convtranspose' (ConvTranspose): asymmetric pads [0, 0, 2, 1] are "
     "not supported"),
    (one("Conv", {"auto_pad": "SAME_LOWER", "strides": [2, 2]}, ("x", "w"),
         w=w(2, 4, 2, 2)), X4, "node 'the_conv' (Conv): auto_pad=SAME_LOWER"),
    (one("Conv", {}, ("x", "w"), w=w(2, 4, 3, 3, 3)), ("x", [N, 4, 5, 5, 5]),
     "node 'the_conv' (Conv): a 3-D convolution is not supported"),
    (one("AveragePool", {"kernel_shape": [3, 3], "pads": [2, 2, 2, 2]}), X4,
     "node 'the_averagepool' (AveragePool): padding 2 is more than half"),
    (one("Resize", {"mode": "cubic"}, ("x", "", "s"),
         s=np.asarray([1, 1, 2, 2], np.float32)), X4,
     "node 'the_resize' (Resize): mode=cubic is not supported"),
    (one("Resize", {"mode": "nearest"}, ("x", "", "s"),
         s=np.asarray([1, 1, 1.5, 2], np.float32)), X4,
     "node 'the_resize' (Resize): scales [1.5, 2.0] are not whole numbers"),
    (one("Resize", {"mode": "linear", "coordinate_transformation_mode":
                    "align_corners"}, ("x", "", "s"),
         s=np.asarray([1, 1, 2, 2], np.float32)), X4,
     "coordinate_transformation_mode=align_corners is not supported"),
    (one("Resize", {"mode": "nearest", "nearest_mode": "floor"}, ("x", "", "s"),
         s=np.asarray([1, 1, 3, 3], np.float32)), X4,
     "does not repeat pixels as Upsample2D does"),
    (one("Gemm", {"beta": 2.0}, ("x", "b", "c"), b=w(5, 3), c=w(3)), X2,
     "node 'the_gemm' (Gemm): only a bias vector"),
    (one("Erf"), X2, "node 'the_erf' (Erf): graphlab has no op for Erf"),
    (one("Cast", {"to": T.INT64}), X2, "node 'the_cast' (Cast): a cast to INT64"),
    (one("Dropout", inputs=("x", "r", "t"), r=np.float32(0.5), t=np.bool_(True)), X2,
     "training_mode=True is not supported"),
    (one("SoftmaxCrossEntropyLoss", {"reduction": "sum"}, ("x", "t"),
         t=ints(0, 1, 2)), ("x", [3, 5]),
     "node 'the_softmaxcrossentropyloss' (SoftmaxCrossEntropyLoss): reduction=sum"),
    (one("BatchNormalization", {"training_mode": 1}, ("x", "g", "b", "m", "v"),
         g=w(4), b=w(4), m=w(4), v=pos(4)), X4, "training_mode=1 is not supported"),
    (one("ReduceMax", {}, ("x",)), X2, "graphlab has no op for ReduceMax"),
]
for _name, _op, _gates, _attrs, _msg in [
        ("lstm-bidirectional", "LSTM", 4, {"direction": "bidirectional"},
         "direction=bidirectional is not supported"),
        ("lstm-clip", "LSTM", 4, {"clip": 3.0}, "clip=3.0 is not supported"),
        ("lstm-input-forget", "LSTM", 4, {"input_forget": 1},
         "input_forget=1 is not supported"),
        ("gru-linear-before-reset-0", "GRU", 3, {},
         "linear_before_reset=0 is not supported"),
        ("rnn-sigmoid", "RNN", 1, {"activations": ["Sigmoid"]},
         "activations=['Sigmoid'] is not supported")]:
    _nodes, _inits = _recurrent(_op, _gates, _attrs)
    REFUSALS.append(((_nodes, _inits), ("x", [N, 6, 3]), f"node 'the_{_op.lower()}' "
                     f"({_op}): {_msg}"))


@pytest.mark.parametrize("nodes_inits, x, message", REFUSALS,
                         ids=[r[2].split(": ")[-1][:40] for r in REFUSALS])
def test_refused_naming_the_node_and_the_reason(nodes_inits, x, message):
    nodes, inits = nodes_inits
    inputs = [x] + ([("h0", [1, N, 4])] if nodes[0].op_type == "Transpose" else [])
    outputs = [("y", None)]
    model = H.make_model(H.make_graph(
        nodes, "refuse", [H.make_tensor_value_info(n, T.FLOAT, s) for n, s in inputs],
        [H.make_tensor_value_info("y", T.FLOAT, None)],
        [onnx.numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()]),
        opset_imports=[H.make_opsetid("", 18)])
    with pytest.raises(gl.GraphError) as e:
        gl.from_onnx(model)
    assert message in str(e.value)


def test_maxpool_indices_read_by_another_op_are_refused():
    nodes = [H.make_node("MaxPool", ["x"], ["p", "i"], name="pool3",
                         kernel_shape=[2, 2], strides=[2, 2]),
             H.make_node("Cast", ["i"], ["y"], name="cast", to=T.FLOAT)]
    model = H.make_model(H.make_graph(nodes, "g", [H.make_tensor_value_info(
        "x", T.FLOAT, [1, 1, 4, 4])], [H.make_tensor_value_info("y", T.FLOAT, None)]),
        opset_imports=[H.make_opsetid("", 18)])
    with pytest.raises(gl.GraphError, match=r"node 'pool3' \(MaxPool\): its indices"):
        gl.from_onnx(model)


def test_softmax_of_opset_11_is_refused():
    model = make_model(one("Softmax")[0], [X2], [("y", None)], opset=11)
    with pytest.raises(gl.GraphError, match="flattens to 2-D"):
        gl.from_onnx(model)


def test_a_file_that_is_not_onnx_is_refused_naming_it(tmp_path):
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(gl.GraphError) as e:
        gl.load(path)
    assert e.value.file == str(path) and "not a readable ONNX model" in str(e.value)
