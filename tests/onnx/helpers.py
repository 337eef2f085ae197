"""Shared helpers of the ONNX tests: random feeds, onnxruntime runs."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import graphlab as gl  # noqa: E402
from graphlab.program import Program  # noqa: E402


def feeds_for(g, batch, seed=0):
    """Random values for every Input of ``g`` ("N" → ``batch``; int64 inputs
    are class labels below the size of the loss's logits)."""
    rng = np.random.default_rng(seed)
    shapes = g.infer_shapes()
    feeds = {}
    for node_id in g.nodes:
        node = g.node(node_id)
        if node.op != "Input":
            continue
        shape = [batch if d == "N" else (3 if isinstance(d, str) else d)
                 for d in shapes[node_id]]
        labels = any(g.node(e.dst).op == "CrossEntropyLoss" and e.dst_port == "target"
                     for e in g.out_edges(node_id))
        if node.resolved["dtype"] == "int64" or labels:
            classes = _classes(g, node_id, shapes)
            feeds[node_id] = rng.integers(0, classes, shape).astype(
                node.resolved["dtype"])
        else:
            feeds[node_id] = rng.uniform(0.05, 1.0, shape).astype(np.float32)
    return feeds


def _classes(g, node_id, shapes):
    for e in g.out_edges(node_id):
        if g.node(e.dst).op == "CrossEntropyLoss":
            logits = g.in_edges(e.dst)["logits"].src
            return shapes[logits][-1]
    return 2


def run_executor(g, feeds, outputs=None):
    prog = Program(g, dtype="float32", training=False)
    if outputs:
        g = g.copy()
        g.set_outputs(outputs)
        prog = Program(g, dtype="float32", training=False)
    return prog.forward(feeds)


def run_onnx(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    out = sess.run(None, {n: feeds[n] for n in names})
    return {o.name: v for o, v in zip(sess.get_outputs(), out)}


def assert_export_matches(g, batches=(1, 3), outputs=None, rtol=1e-4, atol=1e-5,
                          opset=None):
    """Export ``g``; onnxruntime gives the executor's numbers at each batch."""
    model = gl.to_onnx(g, outputs=outputs, opset=opset)
    onnx.checker.check_model(model, full_check=True)
    for batch in batches:
        feeds = feeds_for(g, batch, seed=batch)
        want = run_executor(g, feeds, outputs)
        got = run_onnx(model, feeds)
        for ref, value in want.items():
            name = ref.replace(":", ".")
            np.testing.assert_allclose(got[name], value, rtol=rtol, atol=atol,
                                       err_msg=f"{ref} at batch {batch}")
    return model


def make_model(nodes, inputs, outputs, inits=(), opset=18):
    """An ONNX model from ``onnx.helper`` pieces: inputs and outputs as
    ``(name, shape)`` (float) or ``(name, shape, elem_type)``; ``inits`` as
    ``{name: array}``."""
    helper = onnx.helper

    def info(spec):
        name, shape, *elem = spec
        return helper.make_tensor_value_info(name, elem[0] if elem else
                                             onnx.TensorProto.FLOAT, shape)

    g = helper.make_graph(nodes, "test", [info(i) for i in inputs],
                          [info(o) for o in outputs],
                          [onnx.numpy_helper.from_array(np.asarray(v), k)
                           for k, v in dict(inits).items()])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    return model


def assert_import_matches(model, feeds, rtol=1e-4, atol=1e-5):
    """Import ``model``; the executor gives onnxruntime's numbers."""
    g = gl.from_onnx(model)
    g.check()
    want = run_onnx(model, feeds)
    got = Program(g, dtype="float32", training=False).forward(
        {k: v for k, v in feeds.items() if k in g})
    for (name, value), ref in zip(want.items(), g.outputs):
        np.testing.assert_allclose(got[ref], value, rtol=rtol, atol=atol,
                                   err_msg=name)
    return g
