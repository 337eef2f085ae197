"""Unroll a recurrent node (RNN, LSTM, GRU) into a graph of cells sharing weights.

Backpropagation through time is the chain rule on the unrolled graph: each
time step is a cell of ordinary ops (Linear, Add, Tanh, Sigmoid, Mul) that
reads the same weight Parameters, so the weights' gradients are sums over
steps (the multivariate chain rule) and the gradient reaching step t has
passed through the Jacobians ∂h_k/∂h_{k−1} of every later step. Their product
is why gradients vanish or explode; :class:`Unrolled` reports its norm per
step, measured on one example.

The unrolled graph uses only ops of the catalog: the time step ``x_t`` is
``transpose(x) @ e_t`` and a gate's block of the pre-activation is
``transpose(reshape(z, (N, G, H))) @ e_gate``, with constant one-hot vectors
``e``, so that every gradient, ``x``'s included, equals the fused op's.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..errors import GraphlabError
from ..graph import Graph, parse_ref
from ..interpret import trace
from . import forms
from .steps import explain

__all__ = ["unroll", "Unrolled", "BPTTStep"]

_GATES = {"RNN": (), "LSTM": ("i", "f", "g", "o"), "GRU": ("r", "z", "n")}


@dataclass
class BPTTStep:
    """One time step of backpropagation through time.

    ``grad_norm`` is ‖∂L/∂h_t‖ over the batch; ``jacobian`` is the state
    Jacobian ∂s_t/∂s_{t−1} of one example (s = h, or [h, c] for an LSTM),
    numerator layout; ``product_norm`` is the spectral norm of
    ∂s_T/∂s_{t−1} = J_T ⋯ J_t, the product of Jacobians a gradient from the
    last step crosses to get back before step t.
    """

    t: int
    h: str
    grad_norm: float
    jacobian: np.ndarray
    jacobian_norm: float
    product_norm: float


class Unrolled:
    """A recurrent node unrolled over its time steps.

    Attributes
    ----------
    graph : Graph
        The unrolled graph: the original graph with the recurrent node replaced
        by T cells that share its weight Parameters.
    node, op : str
        The recurrent node and its op (RNN, LSTM, GRU).
    T : int
        Time steps.
    explanation : Explanation
        The chain rule on the unrolled graph, step by step (the BPTT walk).
    original : Explanation
        The chain rule on the original graph at the same point.
    steps : list of BPTTStep
        Per time step, last first (the order backpropagation visits them).
    grad_error : float
        Largest relative difference between the unrolled graph's gradients and
        the fused op's (they are the same numbers).
    """

    def __init__(self, graph, node, op, T, hidden, explanation, original, steps,
                 grad_error, example, shared):
        self.graph = graph
        self.node = node
        self.op = op
        self.T = T
        self.hidden = hidden
        self.explanation = explanation
        self.original = original
        self.steps = steps
        self.grad_error = grad_error
        self.example = example
        self.shared = shared

    @property
    def agrees(self):
        return self.grad_error <= 1e-8

    def __repr__(self):
        return (f"<Unrolled {self.op} '{self.node}': T = {self.T}, "
                f"{len(self.graph)} nodes>")

    @cached_property
    def formula_latex(self):
        """The op's declared BPTT formula for its recurrent weights."""
        from ..ops.base import get_op
        formulas = get_op(self.op).formulas
        entry = formulas.get("w_hh")
        return entry[0] if entry else None

    def verdict(self):
        """One sentence: do gradients vanish or explode across the steps?"""
        if not self.steps:
            return ""
        first = self.steps[-1].product_norm  # ∂s_T/∂s_0
        if first < 0.1:
            return (f"the product of Jacobians shrinks to {first:.3g} over {self.T} "
                    "steps: the gradient from the last step vanishes before it "
                    "reaches the first")
        if first > 10:
            return (f"the product of Jacobians grows to {first:.3g} over {self.T} "
                    "steps: the gradient explodes on its way back")
        return (f"the product of Jacobians has norm {first:.3g} after {self.T} steps: "
                "neither vanishing nor exploding at this point")

    def table_text(self):
        """The per-step table: ‖∂L/∂h_t‖, ‖J_t‖, ‖J_T⋯J_t‖."""
        state = "[h, c]" if self.op == "LSTM" else "h"
        head = ("t", "h_t", "‖∂L/∂h_t‖", f"‖∂{state}_t/∂{state}_t−1‖",
                f"‖∂{state}_T/∂{state}_t−1‖")
        rows = [(str(s.t), s.h, f"{s.grad_norm:.3g}", f"{s.jacobian_norm:.3g}",
                 f"{s.product_norm:.3g}") for s in self.steps]
        widths = [max(len(r[i]) for r in [head] + rows) for i in range(5)]

        def line(r):
            return "  ".join(c.rjust(w) if i != 1 else c.ljust(w)
                             for i, (c, w) in enumerate(zip(r, widths)))
        return "\n".join(["  " + line(head)] + ["  " + line(r) for r in rows])

    def to_text(self, *, walk=False):
        """Summary, the BPTT table and (``walk``) the unrolled step-by-step walk."""
        lines = [(f"{self.node} ({self.op}) unrolled over T = {self.T} time steps: "
                  f"{len(self.graph)} nodes, every cell reading the shared "
                  f"{', '.join(self.shared)}"),
                 (f"the shared weights' gradients are sums over the steps (the "
                  f"multivariate chain rule); they match the fused {self.op}'s "
                  f"BPTT to {self.grad_error:.2g}")]
        if self.formula_latex:
            text = forms.latex_to_text(self.formula_latex).split("\n")
            lines.append(f"{self.op}'s backward pass, as declared: {text[0]}")
            lines += [f"    {t}" for t in text[1:]]
        if walk:
            lines += ["", self.explanation.to_text(grads=False), ""]
        lines.append(f"backpropagation through time, Jacobians of example "
                     f"{self.example} (spectral norms), last step first:")
        lines.append(self.table_text())
        lines.append("  " + self.verdict())
        return "\n".join(lines)

    def to_json(self):
        return {"node": self.node, "op": self.op, "T": self.T,
                "nodes": len(self.graph), "grad_error": self.grad_error,
                "example": self.example,
                "steps": [{"t": s.t, "h": s.h, "grad_norm": s.grad_norm,
                           "jacobian_norm": s.jacobian_norm,
                           "product_norm": s.product_norm} for s in self.steps]}


def unroll(graph, node, at=None, *, params=None, batch=2, seed=0, example=0,
           check=True, training=False):
    """Unroll recurrent ``node`` over its time steps and walk BPTT through it.

    Parameters
    ----------
    graph : Graph
    node : str
        An RNN, LSTM or GRU node.
    at, params, batch, seed, training
        The point and mode, as for :func:`graphlab.symbolic.explain`.
    example : int
        The batch row whose per-step Jacobians are measured.
    check : bool
        Check every step of the unrolled walk against the interpreter.

    Returns
    -------
    Unrolled

    Raises
    ------
    GraphlabError
        If ``node`` is not a recurrent node.
    """
    if node not in graph:
        raise GraphlabError(f"no node '{node}' to unroll", node=node)
    rnode = graph.node(node)
    if rnode.op not in _GATES:
        raise GraphlabError(f"'{node}' is a {rnode.op}; only RNN, LSTM and GRU nodes "
                            "unroll over time", node=node)
    original = explain(graph, at, params=params, batch=batch, seed=seed, check=False,
                       training=training)
    kind = rnode.op
    attrs = rnode.resolved
    ins = graph.in_edges(node)
    values = _source_values(original)
    x = values[_ref(graph, ins["x"])]
    N, T, F = x.shape
    H = values[_ref(graph, ins["w_hh"])].shape[1]
    if not 0 <= example < N:
        raise GraphlabError(f"example {example} is outside the batch of {N}", node=node)

    g2, cells = _unrolled_graph(graph, node, kind, attrs, ins, N, T, H)
    unrolled = explain(g2, original.at, params=original.params, check=check,
                       training=training)
    shared = [ins[p].src for p in ("w_ih", "w_hh", "b_ih", "b_hh") if p in ins]
    error = 0.0
    for k, g in original.grads.items():
        if k in unrolled.grads:
            error = max(error, _rel(unrolled.grads[k], g))
    steps = _bptt_steps(kind, attrs, cells, unrolled, ins, graph, values, original,
                        example, N, T, F, H)
    return Unrolled(g2, node, kind, T, H, unrolled, original, steps, error, example,
                    shared)


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def _ref(graph, edge):
    first = graph.node(edge.src).output_ports[0]
    return edge.src if edge.src_port == first else f"{edge.src}:{edge.src_port}"


def _source_values(expl):
    """Values of every node output of the original run, by ref."""
    out = {}
    sched = expl.trace.schedule
    for table in (sched.inputs, sched.params, sched.constants):
        for n, entry in table.items():
            out[n] = expl.trace.values[entry[0]]
    for step in sched.forward:
        for i, (p, v) in enumerate(zip(step.op.outputs, step.outputs)):
            out[step.node if i == 0 else f"{step.node}:{p}"] = expl.trace.values[v]
    return out


class _Namer:
    def __init__(self, *graphs):
        self.used = set()
        for g in graphs:
            self.used.update(g.nodes)

    def __call__(self, name):
        cand, i = name, 2
        while cand in self.used:
            cand, i = f"{name}_{i}", i + 1
        self.used.add(cand)
        return cand


def _add(g, name, op, inputs=None, **attrs):
    g.add_node(name, op, {k: v for k, v in attrs.items() if v is not None})
    for port, ref in (inputs or {}).items():
        if ref is not None:
            g.connect(ref, f"{name}:{port}")
    return name


def _gates(g, name, src, sel, H, only):
    """``{gate: node}``: the blocks ``only`` of ``src`` (N, G·H), each (N, H)."""
    parts = _add(g, name(f"{src}_gates"), "Transpose",
                 {"x": _add(g, name(f"{src}_split"), "Reshape", {"x": src},
                            shape=["N", len(sel), H])}, perm=[0, 2, 1])
    return {k: _add(g, name(f"{src}_{k}"), "MatMul", {"a": parts, "b": sel[k]})
            for k in only}


def _cell(g, name, kind, attrs, t, x_t, h, c, w, sel, H):
    """Add one time step's ops; return (h_t, c_t or None)."""
    ih = _add(g, name(f"ih{t}"), "Linear",
              {"x": x_t, "w": w["w_ih"], "b": w.get("b_ih")})
    hh = _add(g, name(f"hh{t}"), "Linear",
              {"x": h, "w": w["w_hh"], "b": w.get("b_hh")})
    if kind == "RNN":
        a = _add(g, name(f"a{t}"), "Add", {"a": ih, "b": hh})
        act = "Tanh" if attrs.get("nonlinearity", "tanh") == "tanh" else "ReLU"
        h_t = _add(g, name(f"h{t}"), act, {"x": a})
        return h_t, None
    if kind == "LSTM":
        z = _add(g, name(f"z{t}"), "Add", {"a": ih, "b": hh})
        blocks = _gates(g, name, z, sel, H, "ifgo")
        gate = {}
        for k, act in zip("ifgo", ("Sigmoid", "Sigmoid", "Tanh", "Sigmoid")):
            gate[k] = _add(g, name(f"{k}{t}"), act, {"x": blocks[k]})
        fc = _add(g, name(f"fc{t}"), "Mul", {"a": gate["f"], "b": c})
        ig = _add(g, name(f"ig{t}"), "Mul", {"a": gate["i"], "b": gate["g"]})
        c_t = _add(g, name(f"c{t}"), "Add", {"a": fc, "b": ig})
        tc = _add(g, name(f"tc{t}"), "Tanh", {"x": c_t})
        h_t = _add(g, name(f"h{t}"), "Mul", {"a": gate["o"], "b": tc})
        return h_t, c_t
    # GRU: n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn)), h' = n + z ⊙ (h − n)
    s = _add(g, name(f"s{t}"), "Add", {"a": ih, "b": hh})
    both = _gates(g, name, s, sel, H, "rz")  # r and z from x and h together
    r = _add(g, name(f"r{t}"), "Sigmoid", {"x": both["r"]})
    z = _add(g, name(f"u{t}"), "Sigmoid", {"x": both["z"]})
    xn = _gates(g, name, ih, sel, H, "n")["n"]
    hn = _gates(g, name, hh, sel, H, "n")["n"]
    rhn = _add(g, name(f"rhn{t}"), "Mul", {"a": r, "b": hn})
    n = _add(g, name(f"n{t}"), "Tanh",
             {"x": _add(g, name(f"na{t}"), "Add", {"a": xn, "b": rhn})})
    d = _add(g, name(f"d{t}"), "Sub", {"a": h, "b": n})
    zd = _add(g, name(f"zd{t}"), "Mul", {"a": z, "b": d})
    h_t = _add(g, name(f"h{t}"), "Add", {"a": n, "b": zd})
    return h_t, None


def _selectors(g, name, kind):
    """One-hot Constants picking each gate's block, shared by all steps."""
    gates = _GATES[kind]
    return {k: _add(g, name(f"e_{k}"), "Constant",
                    value=[float(i == j) for j in range(len(gates))])
            for i, k in enumerate(gates)}


def _unrolled_graph(graph, node, kind, attrs, ins, N, T, H):
    g = Graph(f"{graph.name} — {node} unrolled over {T} steps")
    name = _Namer(graph)

    def prefix(s):
        return name(f"{node}_{s}")
    for n in graph.nodes:
        if n != node:
            src = graph.node(n)
            g.add_node(n, src.op, src.attrs, src.ui)
    g.params = {k: v for k, v in graph.params.items()}
    w = {p: _ref(graph, ins[p]) for p in ("w_ih", "w_hh", "b_ih", "b_hh") if p in ins}
    x = _ref(graph, ins["x"])
    xT = _add(g, prefix("xT"), "Transpose", {"x": x}, perm=[0, 2, 1])
    sel = _selectors(g, prefix, kind)
    zeros = np.zeros((N, H)).tolist()
    h = _ref(graph, ins["h0"]) if "h0" in ins else _add(g, prefix("h0"), "Constant",
                                                         value=zeros)
    c = None
    if kind == "LSTM":
        c = _ref(graph, ins["c0"]) if "c0" in ins else _add(g, prefix("c0"), "Constant",
                                                             value=zeros)
    cells = []
    for t in range(1, T + 1):
        before = set(g.nodes)
        e_t = np.zeros(T)
        e_t[t - 1] = 1.0
        e = _add(g, prefix(f"e{t}"), "Constant", value=e_t.tolist())
        x_t = _add(g, prefix(f"x{t}"), "MatMul", {"a": xT, "b": e})
        h_prev, c_prev = h, c
        h, c = _cell(g, prefix, kind, attrs, t, x_t, h, c, w, sel, H)
        cells.append({"t": t, "x": x_t, "h_prev": h_prev, "c_prev": c_prev, "h": h,
                      "c": c})
        for n in g.nodes:  # one layer group per time step: the editor keeps it
            if n not in before:  # together and can collapse it to one box
                g.update_ui(n, group=f"{node}_t{t}")
    outs = {"h": h, "c": c}
    uses_y = any(e.src == node and e.src_port == "y" for e in graph.edges) or any(
        parse_ref(r)[0] == node and parse_ref(r)[1] in (None, "y")
        for r in graph.outputs)
    if uses_y:
        y = None
        for cell in cells:
            r = _add(g, prefix(f"r{cell['t']}"), "Reshape", {"x": cell["h"]},
                     shape=["N", 1, H])
            y = r if y is None else _add(g, prefix(f"y{cell['t']}"), "Concat",
                                         {"a": y, "b": r}, axis=1)
        outs["y"] = y
    for e in graph.edges:
        if e.dst == node:
            continue
        src = outs[e.src_port] if e.src == node else _ref(graph, e)
        g.connect(src, f"{e.dst}:{e.dst_port}")
    outputs = []
    for ref in graph.outputs:
        n, p = parse_ref(ref)
        outputs.append(outs[p or "y"] if n == node else ref)
    g.set_outputs(outputs)
    return g, cells


def _bptt_steps(kind, attrs, cells, unrolled, ins, graph, values, original, example,
                N, T, F, H):
    """Per-step gradient norms and state Jacobians (one example), last step first."""
    cell_graph = _cell_graph(kind, attrs, ins, F, H)
    weights = {p: values[_ref(graph, ins[p])] for p in ("w_ih", "w_hh", "b_ih", "b_hh")
               if p in ins}
    S = 2 * H if kind == "LSTM" else H
    uvals = _source_values(unrolled)
    jacobians = []
    for cell in cells:
        def copies(ref):  # S copies of the example: one row per basis vector
            return np.repeat(uvals[ref][example:example + 1], S, axis=0)
        feeds = {"x": copies(cell["x"]), "h": copies(cell["h_prev"])}
        if kind == "LSTM":
            feeds["c"] = copies(cell["c_prev"])
        tr = trace(cell_graph, feeds, params=weights, seed=np.eye(S), dtype="float64")
        sched = tr.schedule
        rows = [tr.grads[sched.inputs["h"][0]]]
        if kind == "LSTM":
            rows.append(tr.grads[sched.inputs["c"][0]])
        jacobians.append(np.concatenate(rows, axis=1))  # J[j, k] = ∂s_t[j]/∂s_t−1[k]
    steps = []
    product = np.eye(S)
    for cell, jac in reversed(list(zip(cells, jacobians))):
        product = product @ jac
        g = unrolled.grad_of(cell["h"])
        steps.append(BPTTStep(cell["t"], cell["h"], 0.0 if g is None else forms.norm(g),
                              jac, float(np.linalg.norm(jac, 2)),
                              float(np.linalg.norm(product, 2))))
    return steps


def _cell_graph(kind, attrs, ins, F, H):
    """One cell on its own: Inputs x, h (and c), the weights as Parameters, and
    the new state as output (h, or [h, c] for an LSTM)."""
    g = Graph(f"{kind} cell")
    g.add_node("x", "Input", {"shape": ["N", F], "dtype": "float64"})
    g.add_node("h", "Input", {"shape": ["N", H], "dtype": "float64"})
    c = None
    if kind == "LSTM":
        g.add_node("c", "Input", {"shape": ["N", H], "dtype": "float64"})
        c = "c"
    G = max(len(_GATES[kind]), 1)
    w = {}
    for p, shape in (("w_ih", [G * H, F]), ("w_hh", [G * H, H]), ("b_ih", [G * H]),
                     ("b_hh", [G * H])):
        if p in ins:
            g.add_node(p, "Parameter", {"shape": shape})
            w[p] = p
    name = _Namer(g)
    sel = _selectors(g, name, kind)
    h_t, c_t = _cell(g, name, kind, attrs, 1, "x", "h", c, w, sel, H)
    out = h_t if kind != "LSTM" else _add(g, name("state"), "Concat",
                                          {"a": h_t, "b": c_t}, axis=1)
    g.set_outputs([out])
    return g
