"""The chain-rule step model: forward and backward steps of one graph at one point.

Assumes a graph that passes :meth:`Graph.check` (``explain`` lowers it, which
raises the graph's first error). The numbers come from the node-by-node
interpreter (:func:`graphlab.interpret.trace`, float64); the formulas come
from the ops' own declarations: ``sympy`` for elementwise ops (differentiated
once per op and attrs, see :mod:`graphlab.symbolic.forms`) and ``formulas``
for tensor ops. Every step checks that its formula, evaluated at the point,
gives the gradient the interpreter sent along that edge.

The model knows nothing about display: text, LaTeX and JSON renderings live in
:mod:`graphlab.symbolic.render`, and a GUI stepper can walk ``steps`` directly.
"""

import re
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import sympy as sp

from ..errors import GraphlabError
from ..feeds import random_feeds
from ..graph import Edge
from ..interpret import trace
from ..lower import lower
from ..ops.base import unbroadcast
from ..program import nonscalar_start
from . import forms, render
from . import unroll as _unroll
from .analysis import jacobian as _jacobian
from .analysis import layer_norms as _layer_norms
from .collapse import collapse as _collapse

__all__ = ["unroll", "explain", "Explanation", "ForwardStep", "BackwardStep", "SumStep"]

# How closely a step's own product (local × upstream, or the op's formula)
# must match the interpreter's edge gradient, relative to the gradient's size.
_AGREE = 1e-8


# ---- steps ---------------------------------------------------------------------------

@dataclass(eq=False)
class ForwardStep:
    """One node computed from its inputs: ``q = x + y = 3``.

    Attributes
    ----------
    index : int
        Position in :attr:`Explanation.steps` (forward steps come first).
    node, op : str
        The node id and its op's name.
    edges : list of Edge
        Incoming edges in port order (absent optional ports left out).
    expr : sympy.Expr or None
        The op's SymPy form in the input node ids (elementwise ops only).
    value : ndarray
        The node's first output; ``values`` holds every output by port.
    """

    index: int
    node: str
    op: str
    edges: list
    inputs: list  # source refs of the edges: "x", or "pool1:indices"
    expr: object
    value: np.ndarray
    values: dict
    doc: str = ""
    kind: str = field(default="forward", init=False)

    @property
    def shape(self):
        return tuple(np.shape(self.value))

    @cached_property
    def formula(self):
        """The right-hand side as text: ``x + y`` or ``Linear(x, fc1_w, fc1_b)``."""
        if self.expr is not None:
            return forms.to_text(self.expr)
        return f"{self.op}({', '.join(self.inputs)})"

    @cached_property
    def expr_str(self):
        """The right-hand side as SymPy's string (``sp.sstr``) or the op call."""
        if self.expr is not None:
            return sp.sstr(self.expr)
        return self.formula

    @cached_property
    def formula_latex(self):
        if self.expr is not None:
            return forms.to_latex(self.expr)
        args = ", ".join(forms.latex_name(r) for r in self.inputs)
        return r"\operatorname{" + self.op + r"}\left(" + args + r"\right)"

    @cached_property
    def latex(self):
        """``q = x + y = 3`` as LaTeX; a tensor shown by shape and norm is named:
        ``relu4 = …, relu4 ∈ ℝ^{2×84}, ‖relu4‖ = 0.63``."""
        name = forms.latex_name(self.node)
        head = f"{name} = {self.formula_latex}"
        if forms.summarised(self.value):
            return head + r",\quad " + forms.latex_value(self.value, name=name)
        return f"{head} = {forms.latex_value(self.value)}"

    @cached_property
    def text(self):
        """``q = x + y = 3``."""
        return f"{self.node} = {self.formula} = {forms.fmt_value(self.value)}"


@dataclass(eq=False)
class BackwardStep:
    """The gradient sent back along one edge: local gradient × upstream gradient.

    Attributes
    ----------
    index : int
    node, op : str
        The node whose vector-Jacobian product this is.
    port : str
        The input port the gradient goes to.
    edge : Edge
        The edge ``source → node:port``; ``wrt`` is its source ref.
    local : sympy.Expr or None
        ∂node/∂input from the op's SymPy form (elementwise ops), before the
        point is substituted.
    local_latex : str or None
        For tensor ops: the op's declared matrix-calculus form (its VJP).
    local_value : ndarray or None
        ``local`` evaluated at the point (elementwise ops).
    upstream : ndarray, or tuple of them for ops with several outputs
        The gradient arriving at the node's output(s), ∂L/∂node.
    grad : ndarray
        The gradient sent along the edge (from the interpreter), summed to the
        input's shape: ∂L/∂input through this edge.
    computed : ndarray or None
        The same gradient from this step's own formula (local × upstream, or
        the op's formula function); ``error`` is their largest difference
        relative to the gradient's size.
    """

    index: int
    node: str
    op: str
    port: str
    edge: Edge
    wrt: str
    loss: str
    local: object = None
    local_latex: str = None
    local_value: np.ndarray = None
    upstream: object = None
    grad: np.ndarray = None
    computed: np.ndarray = None
    error: float = None
    broadcast: bool = False
    refs: dict = None  # input port → source ref, for naming a formula's letters
    kind: str = field(default="edge", init=False)

    @property
    def edges(self):
        """The edges this step involves (for a view to highlight): its edge."""
        return [self.edge]

    @property
    def symbolic(self):
        """Whether the local gradient was derived with SymPy."""
        return self.local is not None

    @property
    def agrees(self):
        """Whether the step's formula reproduces the interpreter (None: unchecked)."""
        return None if self.error is None else self.error <= _AGREE

    @cached_property
    def local_str(self):
        """``local`` as SymPy's string; for tensor ops the declared LaTeX form."""
        if self.local is not None:
            return sp.sstr(self.local)
        return self.local_latex

    @cached_property
    def local_text(self):
        """The local gradient as readable text: ``σ(u)·(1 - σ(u))``; a tensor
        op's formula with its letters named after the nodes when it can be."""
        if self.local is not None:
            return forms.to_text(self.local)
        if self.local_latex:
            text = forms.latex_to_text(self.local_latex)
            if not self._named_formula()[1] and _LETTER.search(self.local_latex):
                names = self._letters()
                text = _LETTER.sub(lambda m: names.get(m.group(1), m.group(1)), text)
            return text
        return None

    def _letters(self):
        """What a tensor formula's letters stand for: ``L`` the loss, ``Y`` the
        node's output, and each one-letter input port's capital (and, for
        ``b``, small) letter its source: ``{letter: ref}``."""
        names = {"L": self.loss, "Y": self.node}
        for port, ref in (self.refs or {}).items():
            if len(port) == 1:
                names[port.upper()] = ref
                names.setdefault(port.lower(), ref) if port == "b" else None
        return names

    def _named_formula(self):
        """``(formula, legend)``: the declared formula with node names for its
        letters when every letter has one (``∂loss/∂relu4 = ∂loss/∂fc3
        fc3_w``); otherwise the formula as declared and a legend saying what
        its letters stand for, so that generic letters and node names never
        mix unexplained."""
        latex = self.local_latex
        names = self._letters()
        used = _LETTER.findall(latex)
        if used and all(u in names for u in used):
            return _LETTER.sub(lambda m: forms.latex_name(names[m.group(1)]),
                               latex), []
        legend = [(u, names[u]) for u in dict.fromkeys(used) if u in names]
        return latex, legend

    @cached_property
    def latex(self):
        """The step as LaTeX, renderable on its own. Tensors shown by shape
        and norm are named (``‖∂loss/∂fc2‖ = 0.26``)."""
        tail = []

        def show(symbol, v, after_times=False):
            if forms.summarised(v):
                tail.append(forms.latex_value(v, name=symbol))
                return symbol
            tex = forms.latex_value(v)
            return r"\left(" + tex + r"\right)" if after_times and _negative(v) \
                else tex

        if self.local is not None:
            dnode = forms.dfrac(self.node, self.wrt)
            local = forms.to_latex(self.local)
            value = show(dnode, self.local_value)
            scalar = _is_scalar(self.local_value, self.upstream)
            times = r"\times" if scalar else r"\odot"
            head = dnode + " = " + local
            if value not in (local, dnode):
                head += " = " + value
            up = show(forms.dfrac(self.loss, self.node), self.upstream, after_times=True)
            grad = show(forms.dfrac(self.loss, self.wrt), self.grad)
            out = (head + r"\ (\text{local}) " + times + " " + up
                   + r"\ (\text{upstream}) = " + grad)
            return out + (r",\quad " + r",\ ".join(tail) if tail else "")
        if self.local_latex:
            formula, legend = self._named_formula()
            if legend:
                formula += r",\quad \text{where } " + r",\ ".join(
                    f"{u} = {forms.latex_name(ref)}" for u, ref in legend)
        else:
            formula = r"\text{no formula declared by " + self.op + "}"
        dgrad = forms.dfrac(self.loss, self.wrt)
        if forms.summarised(self.grad):
            return formula + r",\quad " + forms.latex_value(self.grad, name=dgrad)
        return formula + r",\quad " + dgrad + " = " + forms.latex_value(self.grad)

    @cached_property
    def text(self):
        """``∂f/∂q = z = -4 (local) × 1 (upstream) = -4``."""
        up = forms.fmt_value(self.upstream, compact=True)
        if _negative(self.upstream):
            up = f"({up})"  # "× (-4)", not "× -4"
        grad = forms.fmt_value(self.grad, compact=True)
        if self.local is not None:
            local = forms.to_text(self.local)
            value = forms.fmt_value(self.local_value, compact=True)
            times = "×" if _is_scalar(self.local_value, self.upstream) else "⊙"
            head = f"∂{self.node}/∂{self.wrt} = {local}"
            if local != value:
                head += f" = {value}"
            tail = " (summed over the broadcast axes)" if self.broadcast else ""
            return f"{head} (local) {times} {up} (upstream) = {grad}{tail}"
        formula = self.local_text or f"(no formula declared by {self.op})"
        if self.local_latex:
            legend = self._named_formula()[1]
            if legend:
                formula += " (where " + ", ".join(f"{u} = {ref}" for u, ref in
                                                  legend) + ")"
        return (f"{formula.replace(chr(10), '; ')}  with ∂{self.loss}/∂{self.node} = "
                f"{up} (upstream) gives ∂{self.loss}/∂{self.wrt} = {grad}")


@dataclass(eq=False)
class SumStep:
    """The multivariate chain rule: a value feeding several consumers gets the
    sum of the gradients coming back from each.

    Attributes
    ----------
    node, port : str
        The output whose gradient is summed.
    terms : list of (Edge, ndarray)
        Each consumer's contribution.
    grad : ndarray
        The total, ∂L/∂node.
    """

    index: int
    node: str
    port: str
    ref: str
    loss: str
    terms: list
    grad: np.ndarray
    kind: str = field(default="sum", init=False)

    @property
    def wrt(self):
        return self.ref

    @property
    def consumers(self):
        return [f"{e.dst}:{e.dst_port}" for e, _ in self.terms]

    @property
    def edges(self):
        """The edges whose gradients are summed (for a view to highlight)."""
        return [e for e, _ in self.terms]

    @cached_property
    def error(self):
        total = sum(np.asarray(g) for _, g in self.terms)
        return forms.rel_error(total, self.grad)

    @property
    def agrees(self):
        return self.error <= _AGREE

    @cached_property
    def latex(self):
        total = forms.dfrac(self.loss, self.ref)
        symbols = [total + r"\big|_{" + forms.latex_name(e.dst) + "}"
                   for e, _ in self.terms]
        parts = " + ".join(symbols)
        if any(forms.summarised(g) for _, g in self.terms) or \
                forms.summarised(self.grad):
            named = [forms.latex_value(g, name=sym)
                     for sym, (_, g) in zip(symbols, self.terms)]
            named.append(forms.latex_value(self.grad, name=total))
            return total + " = " + parts + r",\quad " + r",\ ".join(named)
        values = " + ".join(
            r"\left(" + forms.latex_value(g) + r"\right)" if i and _negative(g)
            else forms.latex_value(g) for i, (_, g) in enumerate(self.terms))
        return (total + " = " + parts + " = " + values + " = "
                + forms.latex_value(self.grad))

    @cached_property
    def text(self):
        parts = " + ".join(
            (f"({forms.fmt_value(g, compact=True)})" if i and _negative(g)
             else forms.fmt_value(g, compact=True)) + f" (from {e.dst})"
            for i, (e, g) in enumerate(self.terms))
        return (f"∂{self.loss}/∂{self.ref} = {parts} = "
                f"{forms.fmt_value(self.grad, compact=True)}  "
                f"({self.ref} feeds {len(self.terms)} inputs: their gradients add up)")


# A one-letter symbol of a declared formula (not part of a command or a word).
_LETTER = re.compile(r"(?<![\\A-Za-z])([A-Za-z])(?![A-Za-z])")


def _negative(v):
    """A negative scalar (printed after × or +, it takes parentheses)."""
    return (v is not None and not isinstance(v, tuple) and np.ndim(v) == 0
            and float(v) < 0)


def _is_scalar(*values):
    return all(v is None or (not isinstance(v, tuple) and np.ndim(v) == 0)
               for v in values)


# ---- the explanation -----------------------------------------------------------------

class Explanation:
    """The chain rule on one graph at one point, as steps.

    Attributes
    ----------
    graph : Graph
    loss : str
        The output backpropagation starts from (the graph's first output).
    at : dict
        The values every Input had (given, their ``value``, or random).
    params : dict
        The Parameter values used.
    forward : list of ForwardStep
    backward : list of BackwardStep and SumStep
        In the order the backward pass runs (outputs first).
    grads : dict
        ``{Input or Parameter id: ∂loss/∂it}``.
    notes : list of str
        Where values came from (random batches, initialised parameters) and
        anything the op declarations lacked.
    values : dict
        ``{node id: value of its first output}`` for every node computed.
    training : bool
        Whether the run was in training mode.
    trace : Trace
        The interpreter's record (every value and edge gradient).
    """

    def __init__(self, graph, trace_, *, loss, at, params, notes, forward,
                 backward, grads, values, training=False):
        self.graph = graph
        self.trace = trace_
        self.loss = loss
        self.at = at
        self.params = params
        self.notes = notes
        self.forward = forward
        self.backward = backward
        self.grads = grads
        self.values = values
        self.training = training

    @property
    def steps(self):
        """Forward steps, then backward steps: what a stepper walks through."""
        return self.forward + self.backward

    def __len__(self):
        return len(self.forward) + len(self.backward)

    def __iter__(self):
        return iter(self.steps)

    def __repr__(self):
        return (f"<Explanation of {self.graph.name!r}: {len(self.forward)} forward, "
                f"{len(self.backward)} backward steps>")

    @property
    def mismatches(self):
        """Backward steps whose formula disagrees with the interpreter."""
        return [s for s in self.backward if s.agrees is False]

    def step(self, node, port=None):
        """The steps of a node: its forward step and the backward steps it owns."""
        return [s for s in self.steps if s.node == node and
                (port is None or getattr(s, "port", None) == port)]

    def grad_of(self, ref):
        """∂loss/∂ref for any node output (None where no gradient flows)."""
        node, _, port = ref.partition(":")
        var = _var_of(self.trace.schedule, node, port or None)
        return None if var is None else self.trace.grads.get(var)

    # renderings ----------------------------------------------------------------------
    def to_text(self, **kwargs):
        return render.to_text(self, **kwargs)

    def to_latex(self, **kwargs):
        return render.to_latex(self, **kwargs)

    def to_json(self, **kwargs):
        """The SPEC object ``{"forward", "backward", "grads", ...}`` (plain Python)."""
        return render.to_json(self, **kwargs)

    def latex_strings(self):
        """Every LaTeX formula this explanation shows, one per step."""
        return [s.latex for s in self.steps]

    # analyses ------------------------------------------------------------------------
    def jacobian(self, node, wrt=None, *, max_size=4096):
        """The full Jacobian of a small node with respect to one input.

        Parameters
        ----------
        node : str
            A node id (or ``node:port`` for another output).
        wrt : str, optional
            An input port or the id of the node feeding it; default: the
            first input that receives a gradient.
        max_size : int
            Refuse Jacobians with more entries than this.

        Returns
        -------
        Jacobian
            Built from the op's ``vjp`` with one basis vector per output entry
            (exact, any op); for elementwise ops on up to 6 entries also as a
            SymPy matrix of the local derivative.
        """
        return _jacobian(self, node, wrt, max_size)

    def layer_norms(self):
        """Gradient norms per layer (nodes with Parameter inputs), input first.

        Returns
        -------
        list of graphlab.symbolic.analysis.LayerNorm
        """
        return _layer_norms(self)

    def collapse(self, **limits):
        """Collapse a small scalar graph into one expression; see
        :func:`graphlab.symbolic.collapse`."""
        return _collapse(self, **limits)

    def unroll(self, node, **kwargs):
        """Unroll a recurrent node over time; see :func:`graphlab.symbolic.unroll`."""
        kwargs.setdefault("training", self.training)
        return unroll(self.graph, node, at=self.at, params=self.params, **kwargs)


# ---- building ------------------------------------------------------------------------

def explain(graph, at=None, *, params=None, outputs=None, batch=2, seed=0, check=True,
            training=False):
    """The chain rule on ``graph`` at one point, step by step.

    Parameters
    ----------
    graph : Graph
        A checked graph.
    at : dict, optional
        ``{Input or Parameter id: value}``. Inputs not given take their
        ``value`` attribute, else a seeded random batch (said in ``notes``).
    params : dict, optional
        Parameter values (default: the graph's, else their init rules, seed 0).
    outputs : list of str, optional
        Outputs to compute; the first is where backward starts.
    batch : int
        Size of the random batch for Inputs without a value.
    seed : int
        Seed of that random batch.
    check : bool
        Check every backward step's formula against the interpreter's edge
        gradient (on by default; off saves the time of the ops' reference
        formula functions on big tensors).
    training : bool
        Run in training mode (Dropout masks drawn with seed 0, BatchNorm on
        batch statistics). Default: evaluation mode, as ``graphlab grad``.

    Returns
    -------
    Explanation

    Raises
    ------
    GraphlabError
        If the graph does not check, or ``at`` names no Input or Parameter.

    Examples
    --------
    >>> import graphlab as gl
    >>> from graphlab.symbolic import explain
    >>> steps = explain(gl.load("samples/cs231n.graph.json"))
    >>> [s.text for s in steps.forward]
    ['q = x + y = 3', 'f = q·z = -12']
    >>> steps.backward[0].text
    '∂f/∂q = z = -4 (local) × 1 (upstream) = -4'
    >>> {k: float(v) for k, v in steps.grads.items()}
    {'x': -4.0, 'y': -4.0, 'z': 3.0}
    """
    sched = lower(graph, outputs=outputs)
    feeds, param_values, notes = _point(graph, sched, at, params, batch, seed)
    t = trace(graph, feeds, params=param_values, dtype="float64", training=training,
              outputs=outputs)
    sched = t.schedule
    loss = sched.outputs[0][0] if sched.outputs else None
    if sched.loss is not None and np.size(t.values[sched.loss]) != 1:
        raise nonscalar_start(loss, np.shape(t.values[sched.loss]))  # as grad does
    port_vars = _port_vars(sched, graph)
    values = {node: t.values[var] for (node, port), var in port_vars.items()
              if port == graph.node(node).output_ports[0] and var in t.values}
    at_used = {n: t.values[v] for n, (v, _, _) in sched.inputs.items()}
    params_used = {n: t.values[v] for n, (v, _, _) in sched.params.items()}

    in_edges = _in_edges(graph)
    forward = []
    for step in sched.forward:
        ins = in_edges.get(step.node, {})
        edges = [ins[p] for p in step.op.input_ports if p in ins]
        form = forms.op_form(step.op, step.attrs)
        expr = None
        refs = [graph.source_ref(e) for e in edges]
        if form is not None and len(edges) == len(form.ports):
            expr = form.substitute(None, [forms.ref_symbol(r) for r in refs])
        outs = {p: t.values[v] for p, v in zip(step.op.outputs, step.outputs)}
        forward.append(ForwardStep(len(forward), step.node, step.op.name, edges, refs,
                                   expr, outs[step.op.outputs[0]], outs, step.op.doc))

    backward = _backward_steps(graph, t, sched, loss, len(forward), check, notes,
                               training)
    grads = {n: t.grads[g[2:]] for n, g in sched.grads.items() if g[2:] in t.grads}
    for s in backward:
        if s.agrees is False:
            notes.append(f"node '{s.node}': its formula for "
                         f"{'port ' + s.port if s.kind == 'edge' else 'the sum'} "
                         f"disagrees with the executor (relative error {s.error:.2g})"
                         + ("" if training else
                            "; this ran in evaluation mode, and formulas that "
                            "describe training (Dropout's, BatchNorm's) hold with "
                            "training=True (--training)"))
    return Explanation(graph, t, loss=loss, at=at_used, params=params_used,
                       notes=notes, forward=forward, backward=backward, grads=grads,
                       values=values, training=training)


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
    _unroll.recurrent_node(graph, node)  # before explaining the whole graph
    original = explain(graph, at, params=params, batch=batch, seed=seed, check=False,
                       training=training)
    plan = _unroll.unroll_plan(original, node, example)
    unrolled = explain(plan.graph, original.at, params=original.params, check=check,
                       training=training)
    return _unroll.unroll_finish(plan, original, unrolled)


def _in_edges(graph):
    """``{node: {port: Edge}}`` in one pass (``Graph.in_edges`` scans all edges)."""
    out = {}
    for e in graph.edges:
        out.setdefault(e.dst, {})[e.dst_port] = e
    return out


def _port_vars(sched, graph):
    """``{(node, port): var}`` for every variable of the schedule."""
    out = {}
    for node, (v, _, _) in sched.inputs.items():
        out[(node, "out")] = v
    for node, (v, _, _) in sched.params.items():
        out[(node, "out")] = v
    for node, (v, _) in sched.constants.items():
        out[(node, "out")] = v
    for step in sched.forward:
        for p, v in zip(step.op.outputs, step.outputs):
            out[(step.node, p)] = v
    return out


def _var_of(sched, node, port):
    for step in sched.forward:
        if step.node == node:
            ports = step.op.outputs
            return step.outputs[ports.index(port) if port else 0]
    for table in (sched.inputs, sched.params, sched.constants):
        if node in table:
            return table[node][0]
    return None


def _point(graph, sched, at, params, batch, seed):
    """Feeds and Parameter values for the run, and notes on where they came from."""
    at = dict(at or {})
    notes = []
    param_values = dict(params or {})
    for key in list(at):
        if key in sched.params:
            param_values[key] = at.pop(key)
        elif key not in sched.inputs:
            if key in graph and graph.node(key).op in ("Input", "Parameter"):
                at.pop(key)  # a source the loss does not depend on
                continue
            raise GraphlabError(f"the point names '{key}', which is not an Input or "
                                "Parameter of the graph", node=key)
    feeds = {n: at[n] for n in sched.inputs if n in at}
    random_ids = [n for n in sched.inputs if n not in at
                  and graph.node(n).resolved["value"] is None]
    feeds.update(random_feeds(graph, {n: sched.inputs[n] for n in random_ids},
                              batch=batch, seed=seed))
    if random_ids:
        notes.append(f"{', '.join(random_ids)}: no value given, so a seeded random "
                     f"batch of {batch} is used (seed {seed}); pass at={{...}} or "
                     "--at ID=VALUE to choose the point")
    init = [n for n in sched.params if n not in param_values and n not in graph.params
            and graph.node(n).resolved["value"] is None]
    if init:
        shown = ", ".join(init[:6]) + (f" and {len(init) - 6} more" if len(init) > 6
                                       else "")
        notes.append(f"{shown}: initialised by their init rules (seed 0)")
    return feeds, param_values, notes


def _backward_steps(graph, t, sched, loss, start, check, notes, training=False):
    # How many contributions each gradient variable will receive, so that the
    # sum step comes right after the last one.
    expected = {}
    for gstep in sched.backward:
        for target in gstep.targets:
            if target is not None:
                expected[target[2:]] = expected.get(target[2:], 0) + 1
    received = {}
    var_ref = {}
    for step in sched.forward:
        for i, (p, v) in enumerate(zip(step.op.outputs, step.outputs)):
            var_ref[v] = (step.node, p, step.node if i == 0 else f"{step.node}:{p}")
    for table in (sched.inputs, sched.params, sched.constants):
        for node, entry in table.items():
            var_ref[entry[0]] = (node, "out", node)

    in_edges = _in_edges(graph)
    steps = []
    for gstep in sched.backward:
        step = gstep.step
        op, node = step.op, step.node
        ins = in_edges.get(node, {})
        outs = [t.values[v] for v in step.outputs]
        g_out = [t.grads.get(v) for v in step.outputs]
        args = [t.values[v] if v else None for v in step.inputs]
        multi = len(step.outputs) > 1
        upstream = tuple(g_out) if multi else g_out[0]
        form = forms.op_form(op, step.attrs)
        if form is not None and len(form.ports) != sum(a is not None for a in args):
            form = None
        for i, (port, target, invar) in enumerate(zip(op.input_ports, gstep.targets,
                                                      step.inputs)):
            if target is None:
                continue
            grad = t.edge_grads.get((node, port))
            if grad is None:
                continue
            edge = ins[port]
            bstep = BackwardStep(start + len(steps), node, op.name, port, edge,
                                 graph.source_ref(edge), loss, upstream=upstream,
                                 grad=grad, refs={p: graph.source_ref(e)
                                                  for p, e in ins.items()})
            in_shape = np.shape(t.values[invar])
            bstep.broadcast = in_shape != np.shape(outs[0])
            if form is not None:
                symbols = [forms.ref_symbol(graph.source_ref(ins[p]))
                           for p in form.ports]
                bstep.local = form.substitute(i, symbols)
                with np.errstate(all="ignore"):
                    local_value = np.asarray(form.fns[i](*args), dtype=float)
                bstep.local_value = local_value
                if check:
                    bstep.computed = unbroadcast(
                        np.broadcast_to(local_value, np.shape(upstream)) * upstream,
                        in_shape)
            elif port in op.formulas_for(training, t.states.get(node)):
                latex, fn = op.formulas_for(training, t.states.get(node))[port]
                bstep.local_latex = latex
                if check:
                    bstep.computed = _formula_value(fn, upstream, outs, multi, args,
                                                    step.attrs, in_shape, notes, node,
                                                    port)
            else:
                what = "SymPy form or formula" if op.elementwise else "formula"
                notes.append(f"node '{node}': {op.name} declares no {what} for port "
                             f"'{port}'; its gradient is shown from the executor alone")
            if bstep.computed is not None:
                bstep.error = forms.rel_error(bstep.computed, grad)
            steps.append(bstep)

            var = target[2:]
            received.setdefault(var, []).append((edge, grad))
            if len(received[var]) == expected[var] and expected[var] > 1:
                src, src_port, ref = var_ref[var]
                steps.append(SumStep(start + len(steps), src, src_port, ref, loss,
                                     received[var], t.grads[var]))
    return steps


def _formula_value(fn, upstream, outs, multi, args, attrs, in_shape, notes, node, port):
    out = tuple(outs) if multi else outs[0]
    try:
        with np.errstate(all="ignore"):
            value = fn(upstream, out, *args, **attrs)
        return unbroadcast(np.asarray(value, dtype=float), in_shape)
    except Exception as e:  # an op's reference formula failing is reported, not fatal
        notes.append(f"node '{node}': the formula for port '{port}' could not be "
                     f"evaluated ({type(e).__name__}: {e})")
        return None
