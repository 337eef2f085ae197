"""The chain-rule engine: steps, formulas, agreement with the executor, analyses."""

import glob
import os

import numpy as np
import pytest
import sympy as sp

import graphlab as gl
from graphlab import io
from graphlab.ops import get_op
from graphlab.ops._sympy import sigma
from graphlab.symbolic import CollapseRefused, explain, forms
from graphlab.symbolic.collapse import tree_size

from .conftest import SAMPLES, sample

SAMPLE_FILES = sorted(glob.glob(os.path.join(SAMPLES, "*.graph.json")))
SAMPLE_IDS = [os.path.basename(p).split(".")[0] for p in SAMPLE_FILES]


def _scalar_graph(op, value, **attrs):
    b = gl.GraphBuilder(f"{op} of one input")
    u = b.input("u", [], value=value)
    b.output(b.op(op, u, name="f", **attrs))
    return b.build()


def random_scalar_graph(n_ops, seed=0, n_inputs=6,
                        ops=("Add", "Mul", "Sub", "Tanh", "Sigmoid")):
    """Each op reads the previous node and one of the five before it."""
    rng = np.random.default_rng(seed)
    b = gl.GraphBuilder(f"random scalar graph of {n_ops} ops")
    refs = [b.input(f"x{i}", [], value=float(rng.uniform(-1, 1)))
            for i in range(n_inputs)]
    for i in range(n_ops):
        op = str(rng.choice(ops))
        other = refs[int(rng.integers(max(0, len(refs) - 6), len(refs) - 1))]
        args = (refs[-1],) if get_op(op).elementwise and len(
            get_op(op).inputs) == 1 else (refs[-1], other)
        refs.append(b.op(op, *args, name=f"n{i}"))
    b.output(refs[-1])
    return b.graph


def random_point(graph, rng):
    """Random values for every Input (labels in range) and Parameter."""
    report = graph.analyse()
    at = {}
    for n in graph.nodes:
        node = graph.node(n)
        if node.op not in ("Input", "Parameter"):
            continue
        shape = tuple(2 if isinstance(d, str) else d for d in node.resolved["shape"])
        if node.op == "Input" and node.resolved["dtype"] == "int64":
            reader = graph.out_edges(n)[0].dst
            if graph.node(reader).op == "Embedding":  # tokens: rows of the table
                table = graph.in_edges(reader)["w"]
                classes = report.shapes[table.src][0][0]
            else:
                logits = graph.in_edges(reader)["logits"]
                classes = report.shapes[logits.src][0][-1]
            at[n] = rng.integers(0, classes, shape)
        else:
            scale = 1.0 if node.op == "Input" else 0.3
            at[n] = rng.uniform(-2, 2, shape) * scale
    return at


# ---- the textbook examples -----------------------------------------------------------

def test_cs231n_forward_steps_read_as_the_textbook(cs231n):
    steps = explain(cs231n)
    assert [s.text for s in steps.forward] == ["q = x + y = 3", "f = q·z = -12"]
    assert [s.expr_str for s in steps.forward] == ["x + y", "q*z"]
    assert steps.forward[0].edges[0].src == "x"


def test_cs231n_backward_steps_are_local_times_upstream(cs231n):
    steps = explain(cs231n)
    edge = [s for s in steps.backward if s.kind == "edge"]
    assert [(s.node, s.wrt) for s in edge] == [("f", "q"), ("f", "z"), ("q", "x"),
                                               ("q", "y")]
    assert edge[0].text == "∂f/∂q = z = -4 (local) × 1 (upstream) = -4"
    assert edge[1].text == "∂f/∂z = q = 3 (local) × 1 (upstream) = 3"
    assert edge[2].text == "∂q/∂x = 1 (local) × (-4) (upstream) = -4"  # not "× -4"
    assert r"\times \left({-4}\right)" in edge[2].latex
    assert edge[0].local == sp.Symbol("z") and edge[0].local_str == "z"
    assert float(edge[0].local_value) == -4 and float(edge[0].upstream) == 1
    assert all(s.agrees for s in edge)
    assert {k: float(v) for k, v in steps.grads.items()} == {"x": -4, "y": -4, "z": 3}


def test_cs231n_text_lists_forward_backward_and_gradients(cs231n):
    text = explain(cs231n).to_text()
    for line in ("q = x + y = 3", "f = q·z = -12",
                 "∂f/∂q = z = -4 (local) × 1 (upstream) = -4",
                 "∂f/∂x = -4", "∂f/∂y = -4", "∂f/∂z = 3"):
        assert line in text
    assert text.index("forward") < text.index("backward") < text.index("gradients")


def test_at_overrides_the_point(cs231n):
    steps = explain(cs231n, at={"x": 1, "z": 2})
    assert steps.forward[0].text == "q = x + y = 6"
    assert {k: float(v) for k, v in steps.grads.items()} == {"x": 2, "y": 2, "z": 6}


def test_at_naming_no_source_is_an_error(cs231n):
    with pytest.raises(gl.GraphlabError, match="'w'"):
        explain(cs231n, at={"w": 1})


def test_sigmoid_neuron_shows_sigma_prime_and_every_gradient():
    g = gl.load(sample("sigmoid_neuron"))
    steps = explain(g)
    (sig,) = [s for s in steps.backward if s.node == "f"]
    u = sp.Symbol("u")
    assert sig.local == sigma(u) * (1 - sigma(u))
    assert sig.local_text == "σ(u)·(1 - σ(u))"
    assert r"\sigma" in sig.latex
    assert float(sig.local_value) == pytest.approx(0.19661193324148185)
    (case,) = g.tests
    for k, v in case["grads"].items():
        assert float(steps.grads[k]) == pytest.approx(v, rel=1e-9)
    assert float(steps.forward[-1].value) == pytest.approx(case["expect"]["f"])


@pytest.mark.parametrize("op, attrs, text", [
    ("ReLU", {}, "{1 if u > 0; 0 otherwise}"),
    ("LeakyReLU", {}, "{1 if u > 0; 0.01 otherwise}"),
    ("LeakyReLU", {"alpha": 0.2}, "{1 if u > 0; 0.2 otherwise}"),
    ("ELU", {}, "{1 if u > 0; exp(u) otherwise}"),
])
def test_piecewise_activations_show_their_derivative_as_cases(op, attrs, text):
    for value, want in ((1.5, 1.0), (-0.5, None)):
        steps = explain(_scalar_graph(op, value, **attrs))
        (step,) = steps.backward
        assert step.local_text == text
        assert r"\begin{cases}" in step.latex
        assert step.agrees
        if want is not None:
            assert float(step.grad) == want


def test_a_value_feeding_several_nodes_gets_a_sum_step():
    b = gl.GraphBuilder("x feeds two nodes")
    x = b.input("x", [], value=3.0)
    y = b.input("y", [], value=-1.0)
    p = b.mul(x, y, name="p")
    s = b.sigmoid(x, name="s")
    f = b.add(p, s, name="f")
    b.output(f)
    steps = explain(b.build())
    sums = [s for s in steps.backward if s.kind == "sum"]
    assert [s.ref for s in sums] == ["x"]
    (total,) = sums
    assert sorted(e.dst for e, _ in total.terms) == ["p", "s"]
    assert float(total.grad) == pytest.approx(sum(float(g) for _, g in total.terms))
    assert float(total.grad) == pytest.approx(float(steps.grads["x"]))
    # right after the last contribution
    last = max(i for i, s in enumerate(steps.backward) if s.kind == "edge"
               and s.wrt == "x")
    assert steps.backward[last + 1] is total
    assert "feeds 2 inputs" in total.text and total.agrees


def test_a_node_feeding_both_ports_of_one_op():
    b = gl.GraphBuilder("x·x")
    x = b.input("x", [], value=3.0)
    b.output(b.mul(x, x, name="f"))
    steps = explain(b.build())
    assert steps.forward[0].text == "f = x^2 = 9"
    edges = [s for s in steps.backward if s.kind == "edge"]
    assert [float(s.grad) for s in edges] == [3.0, 3.0]  # ∂(a·b)/∂a = b, per edge
    assert float(steps.backward[-1].grad) == 6.0 and steps.backward[-1].kind == "sum"


def test_steps_are_indexed_forward_then_backward(cs231n):
    steps = explain(cs231n)
    assert [s.index for s in steps.steps] == list(range(len(steps)))
    assert steps.steps[:2] == steps.forward
    assert [s.kind for s in steps.steps] == ["forward"] * 2 + ["edge"] * 4


# ---- tensor graphs -------------------------------------------------------------------

def test_tensor_steps_show_the_declared_matrix_calculus_and_say_the_batch_is_random():
    steps = explain(gl.load(sample("mlp_xor")))
    assert any("random batch of 2" in n for n in steps.notes)
    by = {(s.node, s.port): s for s in steps.backward if s.kind == "edge"}
    # the declared form, its letters named after the nodes (no A, Y, L mixed
    # with node names)
    assert by[("fc2", "w")].local_text == "∂loss/∂fc2_w = (∂loss/∂fc2)ᵀ h"
    assert by[("fc2", "w")].local_latex == get_op("Linear").formulas["w"][0]
    assert "softmax(z) - onehot(y)" in by[("loss", "logits")].local_text
    assert by[("h", "x")].local_text == "1 - tanh(fc1)^2"  # SymPy, elementwise
    text = steps.to_text()
    assert "gives    ∂loss/∂fc2_w = [shape 2×8, norm" in text


def test_input_value_is_used_when_no_point_is_given():
    steps = explain(gl.load(sample("neuron")))
    assert steps.notes == []
    np.testing.assert_array_equal(steps.at["x"], [1.0, -1.0])


def test_conv2d_input_gradient_is_the_full_correlation_with_the_flipped_kernel():
    steps = explain(gl.load(sample("lenet5")))
    (step,) = [s for s in steps.backward if s.kind == "edge" and s.node == "conv2"
               and s.port == "x"]
    assert r"\star_{\mathrm{full}}" in step.local_latex
    assert r"\operatorname{rot}_{180}" in step.local_latex
    assert step.agrees


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=SAMPLE_IDS)
def test_every_step_agrees_with_the_executor_at_random_points(path):
    g = gl.load(path)
    rng = np.random.default_rng(7)
    for _ in range(2):
        at = random_point(g, rng)
        steps = explain(g, at)
        assert steps.mismatches == []
        edges = [s for s in steps.backward if s.kind == "edge"]
        assert edges and all(s.error is not None for s in edges)
        # the gradients are the compiled program's too
        prog = gl.compile(g, dtype="float64", training=False)
        prog.params.update({k: np.asarray(v, float) for k, v in at.items()
                            if k in prog.params})
        prog.forward({k: v for k, v in at.items() if k not in prog.params})
        for k, v in prog.backward().items():
            np.testing.assert_allclose(steps.grads[k], v, rtol=1e-9, atol=1e-12)


def test_random_scalar_graph_agrees_step_by_step():
    g = random_scalar_graph(60, seed=3, ops=("Add", "Mul", "Sub", "Maximum", "Tanh",
                                             "Sigmoid", "ReLU", "LeakyReLU", "ELU",
                                             "Abs", "Neg"))
    steps = explain(g)
    assert steps.mismatches == []
    assert all(s.symbolic for s in steps.backward if s.kind == "edge")


# ---- missing or wrong declarations ---------------------------------------------------

def test_a_missing_formula_is_noted_and_the_executor_gradient_shown(monkeypatch):
    monkeypatch.setattr(type(get_op("Sum")), "formulas", {})
    steps = explain(gl.load(sample("neuron")))
    (step,) = [s for s in steps.backward if s.node == "f"]
    assert step.local is None and step.local_latex is None and step.error is None
    np.testing.assert_array_equal(step.grad, [1.0, 1.0])
    assert any("declares no formula" in n for n in steps.notes)
    assert "no formula declared by Sum" in steps.to_text()
    assert "no formula declared by Sum" in step.latex


def test_a_missing_sympy_form_falls_back_gracefully(monkeypatch):
    monkeypatch.setattr(forms, "_FORMS", {})

    def no_form(self, *symbols, **attrs):
        raise NotImplementedError("no scalar SymPy form")
    monkeypatch.setattr(type(get_op("Sigmoid")), "sympy", no_form)
    steps = explain(gl.load(sample("sigmoid_neuron")))
    assert steps.forward[-1].text == "f = Sigmoid(u) = 0.731059"
    (step,) = [s for s in steps.backward if s.node == "f"]
    assert step.local is None and float(step.grad) == pytest.approx(0.19661193324)
    assert any("Sigmoid declares no SymPy form or formula for port 'x'" in n
               for n in steps.notes)


def test_a_wrong_sympy_form_is_caught_by_the_check(monkeypatch):
    monkeypatch.setattr(forms, "_FORMS", {})
    monkeypatch.setattr(type(get_op("Mul")), "sympy", lambda self, a, b: a + b)
    steps = explain(gl.load(sample("cs231n")))
    assert {(s.node, s.port) for s in steps.mismatches} == {("f", "a"), ("f", "b")}
    assert any("disagrees with the executor" in n for n in steps.notes)
    assert "✗ disagrees" in steps.to_text()


# ---- renderings ----------------------------------------------------------------------

def test_json_has_the_spec_fields_and_plain_values(cs231n):
    import json
    obj = explain(cs231n).to_json()
    assert {"node", "expr", "value"} <= set(obj["forward"][0])
    assert {"node", "wrt", "local", "upstream", "grad"} <= set(obj["backward"][0])
    assert obj["forward"][1]["expr"] == "q*z" and obj["forward"][1]["value"] == -12
    first = obj["backward"][0]
    assert (first["node"], first["wrt"], first["local"], first["upstream"],
            first["grad"]) == ("f", "q", "z", 1.0, -4.0)
    assert obj["grads"] == {"x": -4.0, "y": -4.0, "z": 3.0}
    json.dumps(obj, allow_nan=False)


def test_json_of_a_tensor_graph_is_plain(tmp_path):
    import json
    obj = explain(gl.load(sample("rnn_digits"))).to_json()
    json.dumps(obj)
    rnn = [s for s in obj["backward"] if s["node"] == "rnn"]
    assert rnn and set(rnn[0]["upstream"]) == {"y", "h"}
    assert rnn[0]["upstream"]["y"] is None  # only h feeds on
    assert rnn[0]["local"].startswith(r"\begin{aligned}")


def test_latex_lines_and_document(cs231n):
    steps = explain(cs231n)
    lines = steps.to_latex().splitlines()
    assert "q = x + y = 3" in lines and r"f = q \cdot z = {-12}" in lines
    assert (r"\frac{\partial f}{\partial q} = z = {-4}\ (\text{local}) \times 1\ "
            r"(\text{upstream}) = {-4}") in lines
    assert r"\frac{\partial f}{\partial x} = {-4}" in lines
    doc = steps.to_latex(document=True)
    assert doc.startswith(r"\documentclass") and doc.count(r"\[") == 2 + 4 + 3


@pytest.mark.parametrize("name, want", [
    ("x", "x"), ("w0", "w_{0}"), ("alpha", r"\alpha"), ("W_hh", "W_{hh}"),
    ("sig1", r"\mathrm{sig}_{1}"), ("fc1_w", r"\mathrm{fc1\_w}"),
    ("pool1:indices", r"\mathrm{pool}_{1}{:}\mathrm{indices}"),
])
def test_node_ids_typeset_as_names(name, want):
    assert forms.latex_name(name) == want


def test_negative_numbers_are_braced_for_ziamath():
    x = sp.Symbol("x")
    assert forms.to_latex(-4 * x) == r"{-4} \cdot x"
    assert forms.latex_number(-4) == "{-4}"
    assert forms.latex_number(1.5e-7) == r"1.5 \times 10^{-7}"
    assert r"\\{-1}" in forms.to_latex(sp.Piecewise((1, x > 0), (-1, x < 0), (0, True)))


# ---- analyses ------------------------------------------------------------------------

def test_vanishing_gradient_norms_fall_at_every_layer_towards_the_input():
    g = gl.load(sample("vanishing_sigmoid"))
    digits = np.load(os.path.join(SAMPLES, "data", "digits.npz"))
    at = {"x": digits["images"][:16].reshape(16, 64) / 16.0,
          "y": digits["labels"][:16]}
    for point in ({}, at):
        rows = explain(g, point).layer_norms()
        assert [r.node for r in rows] == [f"fc{i}" for i in range(1, 8)]
        w = [r.weight_grad for r in rows]
        assert all(a < b for a, b in zip(w, w[1:])), w
        out = [r.out_grad for r in rows]
        assert all(a < b for a, b in zip(out, out[1:])), out
        assert w[0] / w[-1] < 0.01
    from graphlab.symbolic.render import norms_text
    assert "the gradient vanishes" in norms_text(explain(g))


def test_the_same_table_on_relu_layers_does_not_vanish():
    d = io.to_dict(gl.load(sample("vanishing_sigmoid")))
    for node in d["nodes"]:
        if node["op"] == "Sigmoid":
            node["op"] = "ReLU"
    g = io.from_dict(d)
    for seed in range(3):
        rows = explain(g, seed=seed).layer_norms()
        w = [r.weight_grad for r in rows]
        assert not all(a < b for a, b in zip(w, w[1:]))
        assert w[0] / w[-1] > 0.5, w
    from graphlab.symbolic.render import norms_text
    assert "no vanishing" in norms_text(explain(g))


def test_jacobian_of_softmax_is_diag_s_minus_s_s_transposed():
    b = gl.GraphBuilder("softmax")
    z = b.input("z", [3], value=[1.0, 2.0, 0.5])
    w = b.input("w", [3], value=[0.3, -1.0, 2.0])
    b.output(b.sum(b.mul(b.softmax(z, name="s"), w, name="p"), name="f"))
    steps = explain(b.build())
    jac = steps.jacobian("s")
    s = steps.values["s"]
    np.testing.assert_allclose(jac.matrix, np.diag(s) - np.outer(s, s), atol=1e-15)
    assert jac.vjp_error < 1e-12 and jac.expr is None
    diag = steps.jacobian("p", "s")  # elementwise: diag(w), also symbolic
    np.testing.assert_array_equal(diag.matrix, np.diag([0.3, -1.0, 2.0]))
    assert diag.expr == sp.diag(*sp.symbols("w[1] w[2] w[3]"))
    assert "w_{1}" in diag.latex


def test_jacobian_refuses_big_nodes_and_unknown_inputs():
    steps = explain(gl.load(sample("mlp_digits")))
    with pytest.raises(gl.GraphlabError, match="entries"):
        steps.jacobian("fc1", "w")
    with pytest.raises(gl.GraphlabError, match="no differentiable input"):
        steps.jacobian("loss", "y")
    jac = steps.jacobian("fc2", "b")
    assert jac.shape == (20, 10) and jac.vjp_error < 1e-12


# ---- collapse ------------------------------------------------------------------------

def test_sigmoid_neuron_collapses_and_agrees_with_the_steps():
    c = explain(gl.load(sample("sigmoid_neuron"))).collapse()
    w0, x0, w1, x1, w2 = (sp.Symbol(n, real=True) for n in ("w0", "x0", "w1", "x1",
                                                            "w2"))
    assert c.expr == sigma(w0 * x0 + w1 * x1 + w2)
    assert c.agrees and c.values["w0"] == pytest.approx(-0.19661193324148185)
    assert "agree" in c.text


def test_a_20_node_scalar_graph_collapses():
    c = explain(random_scalar_graph(20, seed=2)).collapse()
    assert c.agrees and c.nodes == 20 and c.tree_size > 20


def test_collapse_refuses_a_big_graph_and_says_how_big_the_tree_would_be():
    g = random_scalar_graph(200, seed=1)
    steps = explain(g)
    with pytest.raises(CollapseRefused) as info:
        steps.collapse()
    err = info.value
    assert err.nodes == 200
    assert err.tree_size == tree_size(g, steps.trace.schedule) > 10 ** 20
    msg = str(err)
    assert "refusing to collapse 200 op nodes (the limit is 20)" in msg
    assert "copied once for each path" in msg and "Backpropagation" in msg
    assert "×10^" in msg


def test_collapse_refuses_tensor_graphs_and_tangled_cases():
    with pytest.raises(CollapseRefused, match="tensor"):
        explain(gl.load(sample("neuron"))).collapse()
    with pytest.raises(CollapseRefused, match="no scalar SymPy form"):
        explain(gl.load(sample("mlp_xor"))).collapse()
    g = random_scalar_graph(12, seed=2, ops=("Add", "Mul", "Maximum", "ReLU", "Tanh"))
    with pytest.raises(CollapseRefused, match="combinations of cases"):
        explain(g).collapse()


def test_collapse_latex_renders():
    zm = pytest.importorskip("ziamath")
    zm.config.svg2 = False
    c = explain(gl.load(sample("sigmoid_neuron"))).collapse()
    for s in c.latex:
        zm.Latex(s).svg()


def test_every_step_names_the_edges_a_view_highlights():
    b = gl.GraphBuilder("x feeds two nodes")
    x = b.input("x", [], value=0.5)
    b.output(b.mul(b.tanh(x, name="t"), x, name="f"))
    steps = explain(b.build())
    for s in steps.steps:
        assert s.edges and all(e.dst == s.node for e in s.edges) or s.kind == "sum"
    (total,) = [s for s in steps.backward if s.kind == "sum"]
    assert {(e.src, e.dst) for e in total.edges} == {("x", "t"), ("x", "f")}


def test_training_mode_runs_dropout_and_agrees():
    b = gl.GraphBuilder("dropout")
    x = b.input("x", [2, 3], value=np.arange(1.0, 7.0).reshape(2, 3).tolist())
    b.output(b.sum(b.mul(b.dropout(x, p=0.5, name="d"), x), name="f"))
    g = b.build()
    train = explain(g, training=True)
    assert train.training and train.mismatches == []
    assert (train.values["d"] == 0).any()
    assert explain(g).values["d"].tolist() == [[1, 2, 3], [4, 5, 6]]


def test_explain_refuses_a_non_scalar_start_as_grad_does():
    from graphlab.errors import ExecutionError
    g = gl.Graph("vec")
    g.add_node("x", "Input", {"shape": [2], "value": [1.0, 2.0]})
    g.add_node("r", "ReLU")
    g.connect("x", "r:x")
    with pytest.raises(ExecutionError) as from_explain:
        explain(g)
    prog = gl.compile(g)
    prog.forward()
    with pytest.raises(ExecutionError) as from_grad:
        prog.backward()
    assert str(from_explain.value) == str(from_grad.value)
    assert "backward starts from 'r', whose shape is 2" in str(from_grad.value)


def test_tensor_values_in_latex_are_named_not_bare():
    # "relu4 ∈ ℝ^{2×84}, ‖relu4‖ = 0.63", never "= ∈ ℝ^{2×84}, ‖·‖ = 0.63"
    steps = explain(gl.load(sample("mlp_xor")))
    for s in steps.steps:
        assert r"= \in" not in s.latex and r"\lVert \cdot \rVert" not in s.latex, s.latex
    h = next(s for s in steps.forward if s.node == "h")
    norm = forms.latex_number(forms.norm(h.value))
    assert h.latex.endswith(r",\quad h \in \mathbb{R}^{2 \times 8},\ \lVert h \rVert = "
                            + norm)


def test_matmul_step_names_every_letter_or_explains_them():
    g = gl.Graph("mm")
    g.add_node("a", "Input", {"shape": [2, 3]})
    g.add_node("b", "Parameter", {"shape": [3, 4]})
    g.add_node("mm", "MatMul")
    g.add_node("loss", "Sum")
    g.connect("a", "mm:a")
    g.connect("b", "mm:b")
    g.connect("mm", "loss:x")
    steps = explain(g)
    by = {(s.node, s.port): s for s in steps.backward if s.kind == "edge"}
    text = by[("mm", "a")].text
    assert text.startswith("∂loss/∂a = ∂loss/∂mm bᵀ"), text
    assert "∂L" not in text and " B" not in text and "Y" not in text
    conv = {(s.node, s.port): s
            for s in explain(gl.load(sample("lenet5"))).backward if s.kind == "edge"}
    # a form with letters that are not nodes keeps them, and says which are
    assert "(where L = loss, W = conv1_w, X = up)" in conv[("conv1", "w")].text
