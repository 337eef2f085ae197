"""Collapse a small scalar graph into one expression and differentiate it whole.

This is the contrast to backpropagation: writing the output as one formula of
the inputs copies every value that feeds several nodes once per path to the
output, so the expression tree grows exponentially with depth, and its
derivative faster still. Backpropagation computes each value once and reuses
it. Small graphs collapse (and their symbolic derivative is checked against
the step-by-step product); big ones are refused with the size the tree would
reach.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import sympy as sp

from ..errors import GraphlabError
from . import forms

__all__ = ["collapse", "Collapse", "CollapseRefused", "tree_size"]


class CollapseRefused(GraphlabError):
    """The graph is too big (or not scalar) to collapse into one expression.

    Attributes
    ----------
    nodes : int
        Op nodes between the inputs and the output.
    tree_size : int or None
        Nodes the collapsed expression tree would have (shared values copied).
    """

    def __init__(self, message, *, nodes=0, tree_size=None, node=None):
        super().__init__(message, node=node)
        self.nodes = nodes
        self.tree_size = tree_size


@dataclass(eq=False)
class Collapse:
    """The output as one expression of the inputs, and its derivatives.

    ``values`` are the collapsed derivatives at the point, ``stepwise`` the
    gradients the step-by-step walk found; ``error`` their largest relative
    difference.
    """

    loss: str
    expr: sp.Expr
    derivatives: dict
    values: dict
    stepwise: dict
    value: float
    tree_size: int
    nodes: int

    @property
    def error(self):
        worst = 0.0
        for k, v in self.values.items():
            ref = float(self.stepwise[k])
            worst = max(worst, abs(v - ref) / max(1.0, abs(ref)))
        return worst

    @property
    def agrees(self):
        return self.error <= 1e-8

    @cached_property
    def text(self):
        lines = [(f"{self.loss} = {forms.to_text(self.expr)} = "
                  f"{forms.fmt_number(self.value)}  (one expression of "
                  f"{self.tree_size} tree nodes from {self.nodes} op nodes)")]
        for k, d in self.derivatives.items():
            lines.append(f"  ∂{self.loss}/∂{k} = {forms.to_text(d)} = "
                         f"{forms.fmt_number(self.values[k])}  (step by step: "
                         f"{forms.fmt_number(self.stepwise[k])})")
        verdict = ("agree" if self.agrees else
                   f"DISAGREE (relative error {self.error:.2g})")
        lines.append(f"  the collapsed derivatives and the chain rule step by step "
                     f"{verdict}")
        return "\n".join(lines)

    @cached_property
    def latex(self):
        """One formula per line: the expression, then each derivative."""
        return [self.expr_latex] + [self.derivative_latex(k) for k in self.derivatives]

    @cached_property
    def expr_latex(self):
        return (f"{forms.latex_name(self.loss)} = {forms.to_latex(self.expr)} = "
                f"{forms.latex_number(self.value)}")

    def derivative_latex(self, name):
        return (r"\frac{\partial " + forms.latex_name(self.loss) + r"}{\partial "
                + forms.latex_name(name) + "} = "
                + forms.to_latex(self.derivatives[name]) + " = "
                + forms.latex_number(self.values[name]))


def tree_size(graph, sched):
    """Nodes of the output's expression tree if every shared value were copied.

    Linear time: each node's tree is itself plus its inputs' trees. Exact
    (Python integers), however large.
    """
    size = {}
    for table in (sched.inputs, sched.params, sched.constants):
        for n in table:
            size[n] = 1
    for step in sched.forward:
        size[step.node] = 1 + sum(size.get(e.src, 1)
                                  for e in graph.in_edges(step.node).values())
    loss_node = sched.outputs[0][0].partition(":")[0]
    return size.get(loss_node, 1)


def case_count(expl):
    """Combinations of cases the collapsed output would distinguish, and whether
    a case's condition would hold another case.

    Each op with cases (ReLU, Maximum, Abs, …) multiplies the combinations of
    its inputs by its number of cases; other ops multiply their inputs'.
    SymPy folds cases inside conditions into one flat list, so this is the
    size its case algebra works through.
    """
    cases, nested = {}, False
    for step in expl.forward:
        k = max((len(p.args) for p in step.expr.atoms(sp.Piecewise)), default=1)
        inner = 1
        for ref in step.inputs:
            inner *= cases.get(ref, 1)
        nested = nested or (k > 1 and inner > 1)
        cases[step.node] = k * inner
    return cases.get(expl.loss.partition(":")[0], 1), nested


def _big(n):
    if n < 10 ** 9:
        return f"{n:,}"
    exp = len(str(n)) - 1
    return f"{n / 10 ** exp:.1f}×10^{exp}"


def collapse(expl, *, max_nodes=20, max_size=5000, max_cases=32):
    """Collapse a small scalar graph into one expression of its inputs.

    Parameters
    ----------
    expl : Explanation
        The step-by-step walk at the point (``gl.explain(graph, at)``).
    max_nodes : int
        Refuse graphs with more op nodes than this.
    max_size : int
        Refuse when the expression tree would have more nodes than this.
    max_cases : int
        Refuse when the expression would distinguish more combinations of
        cases (ReLU, Maximum, Abs nested in each other) than this.

    Returns
    -------
    Collapse

    Raises
    ------
    CollapseRefused
        For graphs with tensor values or ops without a SymPy form, and for
        graphs too big to collapse; the message says why, with the size the
        expression tree would reach.
    """
    graph, sched = expl.graph, expl.trace.schedule
    nodes = len(sched.forward)
    for step in expl.forward:
        if step.expr is None:
            raise CollapseRefused(
                f"cannot collapse: node '{step.node}' is a {step.op}, which has no "
                "scalar SymPy form; collapsing works on graphs of scalar ops, and "
                "the step-by-step walk shows tensor ops with their matrix-calculus "
                "formulas instead", nodes=nodes, node=step.node)
        if np.ndim(step.value) != 0:
            raise CollapseRefused(
                f"cannot collapse: node '{step.node}' holds a "
                f"{'×'.join(map(str, np.shape(step.value)))} tensor; collapsing works "
                "on graphs of scalar values", nodes=nodes, node=step.node)
    size = tree_size(graph, sched)
    if nodes > max_nodes or size > max_size:
        limit = (f"{nodes} op nodes (the limit is {max_nodes})" if nodes > max_nodes
                 else f"an expression tree of {_big(size)} nodes (the limit is "
                      f"{max_size:,})")
        raise CollapseRefused(
            f"refusing to collapse {limit}. Written as one expression of the inputs, "
            "every value that feeds several nodes is copied once for each path to "
            f"the output: the tree for {expl.loss} would have {_big(size)} nodes, "
            f"where the graph has {len(graph)}, and its derivative grows faster "
            "still. Backpropagation computes each intermediate value once and "
            f"reuses it: {sum(s.kind == 'edge' for s in expl.backward)} backward "
            "steps, one per edge.", nodes=nodes, tree_size=size)
    cases, nested = case_count(expl)
    variables = [n for n, v in list(expl.at.items()) + list(expl.params.items())
                 if n in expl.grads]
    if nested and len(variables) == 1:
        raise CollapseRefused(
            "refusing to collapse: written as one expression, the conditions of "
            "some cases (ReLU, Maximum, Abs, …) would hold other cases, all in the "
            f"single variable {variables[0]}; SymPy then solves every condition as "
            "an inequality in it, which can take minutes. The step-by-step walk "
            "needs one case per node, at the point.", nodes=nodes, tree_size=size)
    if cases > max_cases:
        raise CollapseRefused(
            f"refusing to collapse: written as one expression, {expl.loss} would "
            f"distinguish {_big(cases)} combinations of cases (the limit is "
            f"{max_cases}), because ops with cases (ReLU, Maximum, Abs, …) feed "
            "into each other's conditions and SymPy multiplies them out. The "
            "step-by-step walk needs one case per node, at the point.",
            nodes=nodes, tree_size=size)

    # Real symbols: SymPy then knows tanh(u) is real without expanding u into
    # real and imaginary parts, which took seconds at 16 nodes.
    real = {}
    exprs = {}
    for node, (v, _) in sched.constants.items():
        exprs[node] = sp.nsimplify(float(np.asarray(expl.trace.values[v])))
    for step in expl.forward:
        for ref in step.inputs:
            if ref not in exprs:
                exprs[ref] = real[ref] = sp.Symbol(ref, real=True)
        exprs[step.node] = step.expr.xreplace(
            {forms.ref_symbol(r): exprs[r] for r in step.inputs})
    loss = expl.loss.partition(":")[0]
    expr = exprs[loss]
    point = {real[n]: float(v) for n, v in
             list(expl.at.items()) + list(expl.params.items())
             if np.ndim(v) == 0 and n in real}
    symbols = list(point)
    derivatives, values = {}, {}
    for name in expl.grads:
        d = sp.diff(expr, real[name]) if name in real else sp.S.Zero
        derivatives[name] = d
        values[name] = _evaluate(d, symbols, point)
    stepwise = {k: float(v) for k, v in expl.grads.items()}
    return Collapse(expl.loss, expr, derivatives, values, stepwise,
                    _evaluate(expr, symbols, point), size, nodes)


def _evaluate(expr, symbols, point):
    # Substitution, not lambdify: nested cases (a Maximum of a Maximum) put
    # Piecewise inside conditions, which SymPy's NumPy printer cannot write.
    value = expr.xreplace({s: sp.Float(point[s], 30) for s in symbols})
    return float(sp.N(value, 20))
