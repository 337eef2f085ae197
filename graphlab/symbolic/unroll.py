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
from ..ops.base import get_op
from ..ops.recurrent import GateSplit
from . import forms

__all__ = ["recurrent_node", "unroll_plan", "unroll_finish", "UnrollPlan", "Unrolled",
           "BPTTStep"]

_WEIGHTS = ("w_ih", "w_hh", "b_ih", "b_hh")


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

    @property
    def state_label(self):
        """The state carried from step to step: ``h``, or ``[h, c]`` (LSTM)."""
        state = list(get_op(self.op).recurrence.state.values())
        return state[0] if len(state) == 1 else f"[{', '.join(state)}]"

    @cached_property
    def formula_latex(self):
        """The op's declared BPTT formula for its recurrent weights."""
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
        state = self.state_label
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


def recurrent_node(graph, node):
    """The :class:`~graphlab.graph.Node` ``node`` if it unrolls over time (its op
    declares a ``recurrence``); raises ``GraphlabError`` otherwise."""
    if node not in graph:
        raise GraphlabError(f"no node '{node}' to unroll", node=node)
    rnode = graph.node(node)
    if rnode.placeholder or rnode.op_def.recurrence is None:
        raise GraphlabError(f"'{node}' is a {rnode.op}; only RNN, LSTM and GRU nodes "
                            "unroll over time", node=node)
    return rnode


def unroll_plan(original, node, example=0):
    """The unrolled graph of recurrent ``node``, for :func:`graphlab.symbolic.unroll`.

    Parameters
    ----------
    original : Explanation
        The chain rule on the graph holding ``node``.
    node : str
        An RNN, LSTM or GRU node.
    example : int
        The batch row whose per-step Jacobians :func:`unroll_finish` measures.

    Returns
    -------
    UnrollPlan
        The unrolled graph (to explain at ``original.at``) and its cells.

    Raises
    ------
    GraphlabError
        If ``node`` is not a recurrent node or ``example`` is not in the batch.
    """
    graph = original.graph
    rnode = recurrent_node(graph, node)
    op, attrs = rnode.op_def, rnode.resolved
    ins = graph.in_edges(node)
    values = _source_values(original)
    x = values[graph.source_ref(ins["x"])]
    N, T, F = x.shape
    H = values[graph.source_ref(ins["w_hh"])].shape[1]
    if not 0 <= example < N:
        raise GraphlabError(f"example {example} is outside the batch of {N}", node=node)
    g2, cells = _unrolled_graph(graph, node, op, attrs, ins, N, T, H)
    return UnrollPlan(g2, node, op, attrs, ins, values, cells, example, (N, T, F, H))


@dataclass
class UnrollPlan:
    """What :func:`unroll_plan` built: the unrolled graph and where its cells are."""

    graph: Graph
    node: str
    op: object
    attrs: dict
    ins: dict
    values: dict
    cells: list
    example: int
    sizes: tuple  # N, T, F, H


def unroll_finish(plan, original, unrolled):
    """Compare the unrolled walk's gradients with the fused op's and measure the
    per-step Jacobians: the :class:`Unrolled` of ``plan``."""
    ins = plan.ins
    shared = [ins[p].src for p in _WEIGHTS if p in ins]
    error = 0.0
    for k, g in original.grads.items():
        if k in unrolled.grads:
            error = max(error, _rel(unrolled.grads[k], g))
    steps = _bptt_steps(plan, original.graph, unrolled)
    T, H = plan.sizes[1], plan.sizes[3]
    return Unrolled(plan.graph, plan.node, plan.op.name, T, H, unrolled, original,
                    steps, error, plan.example, shared)


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


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


def _cell(g, name, op, attrs, t, x_t, state, w, sel, H):
    """Add one time step's ops as ``op.recurrence`` declares them; return the new
    state ``{output port: node}``."""
    value = dict(w, x=x_t, **state)  # cell name → node of this step
    for entry in op.recurrence.cell(**attrs):
        if isinstance(entry, GateSplit):
            blocks = _gates(g, name, value[entry.src], sel, H, entry.gates)
            value.update((f"{entry.src}[{k}]", n) for k, n in blocks.items())
        else:
            value[entry.name] = _add(
                g, name(f"{entry.name}{t}"), entry.op,
                {p: value.get(v) for p, v in entry.inputs.items()})
    return {k: value[k] for k in state}


def _selectors(g, name, op):
    """One-hot Constants picking each gate's block, shared by all steps."""
    gates = op.recurrence.gates
    return {k: _add(g, name(f"e_{k}"), "Constant",
                    value=[float(i == j) for j in range(len(gates))])
            for i, k in enumerate(gates)}


def _unrolled_graph(graph, node, op, attrs, ins, N, T, H):
    g = Graph(f"{graph.name} — {node} unrolled over {T} steps")
    name = _Namer(graph)

    def prefix(s):
        return name(f"{node}_{s}")
    for n in graph.nodes:
        if n != node:
            src = graph.node(n)
            g.add_node(n, src.op, src.attrs, src.ui)
    g.params = {k: v for k, v in graph.params.items()}
    w = {p: graph.source_ref(ins[p]) for p in _WEIGHTS if p in ins}
    x = graph.source_ref(ins["x"])
    xT = _add(g, prefix("xT"), "Transpose", {"x": x}, perm=[0, 2, 1])
    sel = _selectors(g, prefix, op)
    zeros = np.zeros((N, H)).tolist()
    state = {out: graph.source_ref(ins[port]) if port in ins else
             _add(g, prefix(port), "Constant", value=zeros)
             for port, out in op.recurrence.state.items()}
    cells = []
    for t in range(1, T + 1):
        before = set(g.nodes)
        e_t = np.zeros(T)
        e_t[t - 1] = 1.0
        e = _add(g, prefix(f"e{t}"), "Constant", value=e_t.tolist())
        x_t = _add(g, prefix(f"x{t}"), "MatMul", {"a": xT, "b": e})
        prev, state = state, _cell(g, prefix, op, attrs, t, x_t, state, w, sel, H)
        cells.append({"t": t, "x": x_t, "prev": prev, "h": state["h"]})
        for n in g.nodes:  # one layer group per time step: the editor keeps it
            if n not in before:  # together and can collapse it to one box
                g.update_ui(n, group=f"{node}_t{t}")
    outs = dict(state)
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
        src = outs[e.src_port] if e.src == node else graph.source_ref(e)
        g.connect(src, f"{e.dst}:{e.dst_port}")
    outputs = []
    for ref in graph.outputs:
        n, p = parse_ref(ref)
        outputs.append(outs[p or "y"] if n == node else ref)
    g.set_outputs(outputs)
    return g, cells


def _bptt_steps(plan, graph, unrolled):
    """Per-step gradient norms and state Jacobians (one example), last step first."""
    N, T, F, H = plan.sizes
    op, ins, example = plan.op, plan.ins, plan.example
    state = list(op.recurrence.state.values())  # h (and c)
    cell_graph = _cell_graph(op, plan.attrs, ins, F, H)
    weights = {p: plan.values[graph.source_ref(ins[p])] for p in _WEIGHTS if p in ins}
    S = len(state) * H
    uvals = _source_values(unrolled)
    jacobians = []
    for cell in plan.cells:
        def copies(ref):  # S copies of the example: one row per basis vector
            return np.repeat(uvals[ref][example:example + 1], S, axis=0)
        feeds = {"x": copies(cell["x"])}
        feeds.update((k, copies(cell["prev"][k])) for k in state)
        tr = trace(cell_graph, feeds, params=weights, seed=np.eye(S), dtype="float64")
        rows = [tr.grads[tr.schedule.inputs[k][0]] for k in state]
        jacobians.append(np.concatenate(rows, axis=1))  # J[j, k] = ∂s_t[j]/∂s_t−1[k]
    steps = []
    product = np.eye(S)
    for cell, jac in reversed(list(zip(plan.cells, jacobians))):
        product = product @ jac
        g = unrolled.grad_of(cell["h"])
        steps.append(BPTTStep(cell["t"], cell["h"], 0.0 if g is None else forms.norm(g),
                              jac, float(np.linalg.norm(jac, 2)),
                              float(np.linalg.norm(product, 2))))
    return steps


def _cell_graph(op, attrs, ins, F, H):
    """One cell on its own: Inputs x, h (and c), the weights as Parameters, and
    the new state as output (h, or [h, c] for an LSTM)."""
    g = Graph(f"{op.name} cell")
    g.add_node("x", "Input", {"shape": ["N", F], "dtype": "float64"})
    state = {}
    for k in op.recurrence.state.values():
        state[k] = g.add_node(k, "Input", {"shape": ["N", H], "dtype": "float64"})
    G = op.recurrence.n_gates
    w = {}
    for p, shape in (("w_ih", [G * H, F]), ("w_hh", [G * H, H]), ("b_ih", [G * H]),
                     ("b_hh", [G * H])):
        if p in ins:
            g.add_node(p, "Parameter", {"shape": shape})
            w[p] = p
    name = _Namer(g)
    sel = _selectors(g, name, op)
    new = list(_cell(g, name, op, attrs, 1, "x", state, w, sel, H).values())
    out = new[0]
    if len(new) > 1:
        out = _add(g, name("state"), "Concat", {"a": new[0], "b": new[1]}, axis=1)
    g.set_outputs([out])
    return g
