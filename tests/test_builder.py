"""GraphBuilder: layer helpers create their parameters; files round-trip."""

import os
import subprocess
import sys

import graphlab as gl

from .conftest import ROOT, SAMPLES


def test_conv_layer_has_760_parameters():
    b = gl.GraphBuilder("conv")
    x = b.input("x", ["N", 3, 32, 32])
    b.conv2d(x, 10, 5, name="conv")
    g = b.graph
    assert g.node("conv_w").attrs["shape"] == [10, 3, 5, 5]
    assert g.parameter_count() == 760
    assert g.node("conv").ui["group"] == "conv"


def test_maxout_is_linear_with_pieces_then_maxout():
    b = gl.GraphBuilder("maxout")
    x = b.input("x", ["N", 6])
    m = b.maxout(x, units=4, pieces=5)
    assert b.graph.node(f"{m}_fc_w").attrs["shape"] == [20, 6]
    assert b.shape(m) == ("N", 4)


def test_lstm_layer_weights_follow_pytorch_layout():
    b = gl.GraphBuilder("lstm")
    x = b.input("x", ["N", 8, 8])
    r = b.lstm(x, 128, name="lstm")
    assert b.graph.node("lstm_w_ih").attrs["shape"] == [512, 8]
    assert b.graph.node("lstm_w_hh").attrs["shape"] == [512, 128]
    assert b.shape(b.port(r, "h")) == ("N", 128)


def test_built_graph_saves_and_loads_back_byte_for_byte(tmp_path):
    b = gl.GraphBuilder("mlp")
    x = b.input("x", ["N", 4])
    b.output(b.linear(b.relu(b.linear(x, 8)), 3))
    g = b.build()
    p = tmp_path / "m.graph.json"
    gl.save(g, p)
    text = p.read_text()
    gl.save(gl.load(p), p)
    assert p.read_text() == text


def test_build_samples_reproduces_the_shipped_files(tmp_path):
    code = ("import sys, runpy, graphlab as gl\n"
            "s = runpy.run_path('samples/build_samples.py')\n"
            "for name, make in s['SAMPLES'].items():\n"
            "    sys.stdout.write(name + '\\0' + gl.dumps(make()) + '\\0')\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split("\0")
    built = dict(zip(out[0::2], out[1::2]))
    assert len(built) >= 10
    for name, text in built.items():
        with open(os.path.join(SAMPLES, f"{name}.graph.json"), encoding="utf-8") as f:
            assert f.read() == text, name
