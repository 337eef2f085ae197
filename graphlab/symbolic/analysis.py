"""Analyses on an explanation: full Jacobians of small nodes, gradient norms per layer.

Jacobians are built from the op's own ``vjp``, one basis vector per output
entry, so they are exact for any op; elementwise ops on a few entries also get
the SymPy matrix of their local derivative. Layout: numerator,
``J[i, j] = ∂out_i/∂in_j`` over flattened (row-major) arrays; the backward
pass computes ``Jᵀ · upstream``.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import sympy as sp

from ..errors import GraphlabError
from ..ops.base import Ctx, unbroadcast
from . import forms

__all__ = ["Jacobian", "LayerNorm", "jacobian", "layer_norms"]


# ---- results --------------------------------------------------------------

@dataclass(eq=False)
class Jacobian:
    """The full Jacobian of a small node with respect to one input.

    Numerator layout: ``matrix[i, j] = ∂node_i/∂input_j`` over the flattened
    (row-major) output and input. The vector-Jacobian product the backward
    pass uses is ``matrixᵀ · upstream``; ``vjp_error`` says how closely that
    reproduces the edge gradient.
    """

    node: str
    port: str
    wrt: str
    matrix: np.ndarray
    expr: object = None  # sympy.Matrix for small elementwise nodes
    vjp_error: float = None

    @property
    def shape(self):
        return self.matrix.shape

    @cached_property
    def latex(self):
        head = forms.dfrac(self.node, self.wrt)
        sym = ""
        if self.expr is not None:
            sym = " = " + _brace_matrix(sp.latex(self.expr, mul_symbol="dot",
                                                 symbol_names=_matrix_names(self.expr)))
        return head + sym + " = " + forms.latex_value(self.matrix, max_items=10 ** 6)

    @cached_property
    def text(self):
        rows = [" ".join(f"{forms.fmt_number(x, 4):>10}" for x in row)
                for row in self.matrix]
        head = (f"∂{self.node}/∂{self.wrt}: {self.matrix.shape[0]}×"
                f"{self.matrix.shape[1]} Jacobian (row i: output {self.node}[i], "
                f"column j: input {self.wrt}[j])")
        lines = [head]
        if self.expr is not None:
            cells = [[forms.to_text(self.expr[i, j]) for j in range(self.expr.cols)]
                     for i in range(self.expr.rows)]
            width = max(len(c) for row in cells for c in row)
            lines += ["  " + "  ".join(c.rjust(width) for c in row) for row in cells]
            lines.append("  at the point:")
        lines += ["  " + r for r in rows]
        return "\n".join(lines)


def _matrix_names(expr):
    return {s: forms.latex_name(s.name) if "[" not in s.name else
            forms.latex_name(s.name.split("[")[0]) + "_{" +
            s.name.split("[")[1].rstrip("]") + "}" for s in expr.free_symbols}


def _brace_matrix(s):
    return forms._brace_negatives(s)


@dataclass
class LayerNorm:
    """Gradient norms of one layer (a node with Parameter inputs).

    ``out_grad`` is ‖∂L/∂output‖ (the gradient arriving at the layer),
    ``in_grad`` ‖∂L/∂input‖ (what it sends on towards the input, None when
    its input needs no gradient), ``params`` ``{parameter id: ‖∂L/∂param‖}``
    and ``weight`` the first of them (the weights).
    """

    node: str
    op: str
    params: dict
    out_grad: float
    in_grad: float = None

    @property
    def weight(self):
        return next(iter(self.params), None)

    @property
    def weight_grad(self):
        return next(iter(self.params.values()), None)


# ---- Jacobian ------------------------------------------------------------------------

def jacobian(expl, node, wrt=None, max_size=4096):
    """The Jacobian of ``node`` (or ``node:port``) with respect to input ``wrt``;
    see :meth:`Explanation.jacobian`."""
    name, _, out_port = node.partition(":")
    sched = expl.trace.schedule
    step = next((s for s in sched.forward if s.node == name), None)
    if step is None:
        raise GraphlabError(f"'{name}' is not an op node the point reaches; the "
                            "Jacobian is of an op with respect to one of its inputs",
                            node=name)
    op = step.op
    k = op.outputs.index(out_port) if out_port else 0
    ins = expl.graph.in_edges(name)
    present = [p for p, v in zip(op.input_ports, step.inputs) if v]
    if wrt is None:
        grads_to = [s.port for s in expl.backward
                    if s.kind == "edge" and s.node == name]
        port = grads_to[0] if grads_to else next(
            (p for p in present if p not in op.nondiff), None)
    elif wrt in op.input_ports:
        port = wrt
    else:
        port = next((p for p, e in ins.items()
                     if expl.graph.source_ref(e) == wrt or e.src == wrt), None)
    if port is None or port not in present or port in op.nondiff:
        raise GraphlabError(f"{op.name} node '{name}' has no differentiable input "
                            f"{wrt!r}; inputs: {', '.join(present)}", node=name)
    i = op.input_ports.index(port)
    t = expl.trace
    args = [t.values[v] if v else None for v in step.inputs]
    x = args[i]
    out = t.values[step.outputs[k]]
    n_out, n_in = int(np.size(out)), int(np.size(x))
    if n_out * n_in > max_size:
        raise GraphlabError(f"the Jacobian of '{node}' with respect to '{port}' would "
                            f"be {n_out}×{n_in} = {n_out * n_in:,} entries (the limit "
                            f"is {max_size:,}); pick a smaller node or batch",
                            node=name)
    ctx = Ctx(False, np.random.default_rng(0), {})
    with np.errstate(all="ignore"):
        outs = op.forward(ctx, *args, **step.attrs)
        outs = outs if len(op.outputs) > 1 else (outs,)
        rows = []
        for r in range(n_out):
            e = np.zeros(n_out)
            e[r] = 1.0
            g = [None] * len(op.outputs)
            g[k] = e.reshape(np.shape(out))
            gg = tuple(g) if len(op.outputs) > 1 else g[0]
            oo = tuple(outs) if len(op.outputs) > 1 else outs[0]
            res = op.vjp(ctx, gg, oo, *args, **step.attrs)
            contrib = res[i]
            contrib = np.zeros(np.shape(x)) if contrib is None else unbroadcast(
                np.asarray(contrib, dtype=float), np.shape(x))
            rows.append(np.ravel(contrib))
    matrix = np.array(rows).reshape(n_out, n_in)
    src = expl.graph.source_ref(ins[port])
    expr = (_symbolic_jacobian(expl.graph, op, step, ins, i, out, args)
            if n_out <= 6 and n_in <= 6 else None)
    vjp_error = None
    up = t.grads.get(step.outputs[k])
    edge = t.edge_grads.get((name, port))
    if up is not None and edge is not None and len(op.outputs) == 1:
        vjp_error = forms.rel_error(
            (matrix.T @ np.ravel(up)).reshape(np.shape(x)), edge)
    return Jacobian(node, port, src, matrix, expr, vjp_error)


def _symbolic_jacobian(graph, op, step, ins, i, out, args):
    """diag(local derivative) for elementwise ops, with entries named ``x[j]``."""
    form = forms.op_form(op, step.attrs)
    if form is None or len(form.ports) != len(ins):
        return None
    out_shape = np.shape(out)
    x = args[i]
    # Element symbols of each input, broadcast to the output's shape.
    elems = []
    for p in form.ports:
        shape = np.shape(args[op.input_ports.index(p)])
        elems.append(_element_symbols(graph.source_ref(ins[p]), shape, out_shape))
    n_in = int(np.size(x))
    index = np.broadcast_to(np.arange(n_in).reshape(np.shape(x)), out_shape).ravel()
    m = sp.zeros(int(np.prod(out_shape, dtype=int)), n_in)
    for r in range(m.rows):
        local = form.grads[i].xreplace({d: el.ravel()[r] for d, el in
                                        zip(form.dummies, elems)})
        m[r, int(index[r])] += local
    return m


def _element_symbols(ref, shape, out_shape):
    if len(shape) == 0:
        arr = np.array(forms.ref_symbol(ref), dtype=object)
    else:
        flat = [sp.Symbol(f"{ref}[{j + 1}]") for j in range(int(np.prod(shape)))]
        arr = np.empty(len(flat), dtype=object)
        arr[:] = flat
        arr = arr.reshape(shape)
    return np.broadcast_to(arr, out_shape)


# ---- layer norms ---------------------------------------------------------------------

def layer_norms(expl):
    """Gradient norms of every node with Parameter inputs, input first."""
    sched = expl.trace.schedule
    t = expl.trace
    graph = expl.graph
    rows = []
    for step in sched.forward:
        ins = graph.in_edges(step.node)
        params = {}
        data_port = None
        for p in step.op.input_ports:
            e = ins.get(p)
            if e is None:
                continue
            if e.src in sched.params:
                g = t.edge_grads.get((step.node, p))
                if g is not None:
                    params[e.src] = forms.norm(g)
            elif data_port is None and p not in step.op.nondiff:
                data_port = p
        if not params:
            continue
        g_out = t.grads.get(step.outputs[0])
        in_grad = t.edge_grads.get((step.node, data_port)) if data_port else None
        rows.append(LayerNorm(step.node, step.op.name, params,
                              forms.norm(g_out) if g_out is not None else 0.0,
                              None if in_grad is None else forms.norm(in_grad)))
    return rows
