"""Every LaTeX string the chain-rule view produces renders with ziamath, headless."""

import glob
import os

import pytest

import graphlab as gl
from graphlab.symbolic import explain, unroll
from graphlab.symbolic.render import grad_latex

from .conftest import SAMPLES, sample

zm = pytest.importorskip("ziamath")
latex2mathml = pytest.importorskip("latex2mathml.converter")

SAMPLE_FILES = sorted(glob.glob(os.path.join(SAMPLES, "*.graph.json")))


@pytest.fixture(scope="module", autouse=True)
def svg1():
    # QtSvg draws SVG2 glyphs blank; the GUI renders with svg2 off, so do we.
    old = zm.config.svg2
    zm.config.svg2 = False
    yield
    zm.config.svg2 = old


def assert_renders(latex, where):
    """ziamath draws it, and no command was left unknown (ziamath would print
    an unknown ``\\foo`` literally instead of failing)."""
    try:
        svg = zm.Latex(latex).svg()
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"{where}: ziamath cannot render {latex!r}: {e}")
    assert "<path" in svg, where
    mathml = latex2mathml.convert(latex)
    assert "\\" not in mathml, f"{where}: unknown command in {latex!r}"


def all_latex(expl):
    out = list(expl.latex_strings())
    out += [grad_latex(expl, n) for n in expl.grads]
    return out


@pytest.mark.parametrize("path", SAMPLE_FILES,
                         ids=[os.path.basename(p).split(".")[0] for p in SAMPLE_FILES])
def test_every_latex_string_of_every_sample_renders(path):
    expl = explain(gl.load(path))
    seen = set()
    for latex in all_latex(expl):
        if latex not in seen:
            seen.add(latex)
            assert_renders(latex, os.path.basename(path))


def test_jacobian_and_sum_latex_render():
    b = gl.GraphBuilder("shared x")
    x = b.input("x", [2], value=[0.5, -1.0])
    s = b.sigmoid(x, name="s")
    p = b.mul(s, x, name="p")
    b.output(b.sum(p, name="f"))
    expl = explain(b.build())
    assert any(s.kind == "sum" for s in expl.backward)
    for latex in all_latex(expl):
        assert_renders(latex, "shared x")
    for node, wrt in (("s", None), ("p", "s"), ("p", "x")):
        assert_renders(expl.jacobian(node, wrt).latex, f"jacobian {node}")


def test_unrolled_rnn_latex_renders():
    u = unroll(gl.load(sample("rnn_digits")), "rnn")
    seen = set()
    for latex in all_latex(u.explanation):
        if latex not in seen:
            seen.add(latex)
            assert_renders(latex, "unrolled rnn")


def test_grad_latex_names_a_big_tensor():
    from graphlab.symbolic import explain
    expl = explain(gl.load(os.path.join(SAMPLES, "mlp_xor.graph.json")))
    tex = grad_latex(expl, "fc1_w")
    assert r"= \in" not in tex and r"\cdot \rVert" not in tex
    assert tex.startswith(r"\frac{\partial \mathrm{loss}}{\partial \mathrm{fc1\_w}} \in")
