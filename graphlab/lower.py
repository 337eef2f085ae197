"""Lowering: a checked graph → a :class:`Schedule` of forward and backward steps.

Assumes a graph that passed :meth:`Graph.check`. The schedule names one
variable per output port (the node id, or ``id_port`` for a second output),
orders the forward steps topologically, and the backward steps in reverse: one
vector-Jacobian product per node that lies between a differentiable source
and the first output, with each input's gradient accumulated into
``g_<source>``. It says which values backward reads, so that forward keeps only
those, and where a gradient must be summed back to a broadcast input's shape.

Both the code generator (:mod:`graphlab.codegen`) and the node-by-node
interpreter (:mod:`graphlab.interpret`) execute a schedule.
"""

import keyword
import string

import networkx as nx
import numpy as np

from .errors import LoweringError
from .fuse import fuse_steps
from .graph import parse_ref
from .schedule import GradStep, Schedule, Step

__all__ = ["Step", "GradStep", "Schedule", "lower", "default_outputs", "uses_templates"]

_RESERVED = {"np", "math"}


def default_outputs(graph):
    """The graph's ``outputs``, or its sink nodes when it lists none."""
    if graph.outputs:
        return list(graph.outputs)
    return [n for n in graph.nodes if not graph.out_edges(n)]


def _var_namer():
    used = set()

    def name(node, port_index, port):
        base = node if port_index == 0 else f"{node}_{port}"
        if keyword.iskeyword(base) or base in _RESERVED or base.startswith("_") \
                or base.startswith("g_"):
            base = "v_" + base.lstrip("_")
        cand, i = base, 2
        while cand in used:
            cand, i = f"{base}{i}", i + 1
        used.add(cand)
        return cand

    return name


def lower(graph, *, outputs=None, grad=True, input_grads=True, fuse=False):
    """Lower a checked graph to a :class:`Schedule`.

    Parameters
    ----------
    graph : Graph
    outputs : list of str, optional
        Node refs to compute (default: :func:`default_outputs`). The first is
        where backward starts.
    grad : bool
        Whether to plan a backward pass.
    input_grads : bool
        Whether float Inputs get gradients too (training needs only the
        Parameters', and skipping the others saves work such as the input
        gradient of a first convolution).
    fuse : bool
        Replace chains of steps by fused kernels where the result is the same
        (see :mod:`graphlab.fuse`); the generated code then has one line per
        fused chain instead of one per node.

    Raises
    ------
    LoweringError
        If an output names no node.
    """
    report = graph.analyse()
    if report.errors:
        raise report.errors[0]
    outputs = list(outputs) if outputs else default_outputs(graph)
    sched = Schedule(graph.name)
    name = _var_namer()
    var = {}  # (node, port) → var
    out_refs = []
    for ref in outputs:
        node, port = parse_ref(ref)
        if node not in graph:
            raise LoweringError(f"output '{ref}' names no node", node=node)
        out_refs.append((ref, node, port or graph.node(node).output_ports[0]))

    needed = set()
    for _, node, _ in out_refs:
        needed |= nx.ancestors(graph.nx, node) | {node}

    for node_id in graph.topological_order():
        if node_id not in needed:
            continue
        node = graph.node(node_id)
        op, attrs = node.op_def, node.resolved
        ports = op.outputs
        out_vars = [name(node_id, i, p) for i, p in enumerate(ports)]
        for i, p in enumerate(ports):
            var[(node_id, p)] = out_vars[i]
            sched.shapes[out_vars[i]] = report.shapes[node_id][i]
            sched.node_of[out_vars[i]] = node_id
        if op.name == "Input":
            sched.inputs[node_id] = (out_vars[0], tuple(attrs["shape"]), attrs["dtype"])
            continue
        if op.name == "Parameter":
            sched.params[node_id] = (out_vars[0], tuple(attrs["shape"]),
                                     attrs["trainable"])
            continue
        if op.name == "Constant":
            sched.constants[node_id] = (out_vars[0], np.asarray(attrs["value"], float))
            continue
        edges = graph.in_edges(node_id)
        in_vars = [var[(edges[p].src, edges[p].src_port)] if p in edges else None
                   for p in op.input_ports]
        in_shapes = [sched.shapes[v] if v else None for v in in_vars]
        sched.forward.append(Step(node_id, op, attrs, in_vars, out_vars, in_shapes,
                                  list(report.shapes[node_id])))
    sched.outputs = [(ref, var[(node, port)]) for ref, node, port in out_refs]
    if fuse:
        sched.forward = fuse_steps(sched)
    if grad and sched.outputs:
        _plan_backward(graph, sched, var, input_grads)
    return sched


def _plan_backward(graph, sched, var, input_grads):
    loss = sched.outputs[0][1]
    sched.loss = loss
    # Differentiable sources: Parameters and float Inputs.
    diff = {sched.params[n][0] for n in sched.params}
    if input_grads:
        diff |= {v for v, _, dt in sched.inputs.values() if dt.startswith("float")}
    carries = set(diff)  # vars whose value depends on a differentiable source
    for step in sched.forward:
        if any(v in carries for p, v in zip(step.op.input_ports, step.inputs)
               if v and p not in step.op.nondiff):
            carries.update(step.outputs)
    reaches = {loss}  # vars the loss depends on
    for step in reversed(sched.forward):
        if any(v in reaches for v in step.outputs):
            reaches.update(v for v in step.inputs if v)
    live = carries & reaches
    if loss not in live:
        return
    saved = []
    has_grad = {loss}
    for step in reversed(sched.forward):
        if not any(v in has_grad for v in step.outputs):
            continue
        targets, unb = [], []
        for port, v, shape in zip(step.op.input_ports, step.inputs, step.in_shapes):
            if v is None or v not in live or port in step.op.nondiff:
                targets.append(None)
                unb.append(False)
                continue
            targets.append("g_" + v)
            has_grad.add(v)
            unb.append(step.op.grad_broadcasts(port, step.in_shapes, step.out_shapes))
        if not any(targets):
            continue
        grads_in = ["g_" + v if v in has_grad else None for v in step.outputs]
        gstep = GradStep(step, grads_in, targets, unb)
        sched.backward.append(gstep)
        for v in _vjp_reads(gstep):
            if v not in saved:
                saved.append(v)
    sched.saved = saved
    sched.grads = {n: "g_" + v for n, (v, _, _) in sched.params.items()
                   if v in has_grad}
    sched.grads.update({n: "g_" + v for n, (v, _, dt) in sched.inputs.items()
                        if v in has_grad and dt.startswith("float")})


def uses_templates(gstep):
    """Whether the backward step can be written inline from ``vjp_templates``."""
    op, attrs = gstep.step.op, gstep.step.attrs
    return len(op.outputs) == 1 and gstep.grads_in[0] is not None and all(
        t is None or op.vjp_template(p, attrs) for p, t in zip(op.input_ports,
                                                                  gstep.targets))


def _vjp_reads(gstep):
    """Forward variables a backward step reads (to keep them alive)."""
    step = gstep.step
    if not uses_templates(gstep):
        reads = [v for v in step.inputs if v]
        if step.op.vjp_reads_out:
            reads += step.outputs
    else:
        names = dict(zip(step.op.input_ports, step.inputs))
        names["out"] = step.outputs[0]
        fields = set()
        for port, target in zip(step.op.input_ports, gstep.targets):
            if target is not None:
                template = step.op.vjp_template(port, step.attrs)
                fields |= {f for _, f, _, _ in string.Formatter().parse(template)
                           if f}
        reads = [names[f] for f in sorted(fields) if names.get(f)]
    # unbroadcasting reads the input's shape
    reads += [x for x, u in zip(step.inputs, gstep.unbroadcast) if u and x]
    return reads
