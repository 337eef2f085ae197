"""A node-by-node interpreter of schedules that keeps every value.

It runs the same :class:`Schedule` as the generated code, but by calling each
op's ``forward`` and ``vjp`` directly and recording everything: each node's
output values, the gradient arriving at each output, and the gradient sent
along each edge. The chain-rule view shows these numbers, and the tests use it
as an independent reference for the generated code.
"""

from dataclasses import dataclass, field

import numpy as np

from .errors import ExecutionError, GraphlabError
from .lower import lower
from .ops.base import Ctx, unbroadcast
from .program import as_feed, init_params

__all__ = ["Trace", "trace"]


@dataclass
class Trace:
    """Everything one forward and backward pass computed.

    Attributes
    ----------
    values : dict
        ``{var: ndarray}`` for every forward variable.
    grads : dict
        ``{var: ndarray}``: gradient of the loss with respect to each variable
        it depends on.
    edge_grads : dict
        ``{(node, input port): ndarray}``: the contribution the VJP of ``node``
        sent back along that input edge, summed to the input's shape.
    schedule : Schedule
    states : dict
        ``{node: dict}``: each op's state after forward (BatchNorm's running
        statistics).
    """

    values: dict = field(default_factory=dict)
    grads: dict = field(default_factory=dict)
    edge_grads: dict = field(default_factory=dict)
    schedule: object = None
    states: dict = field(default_factory=dict)  # {node: op state (running stats)}

    def node_value(self, node, port_index=0):
        step_vars = self._vars_of(node)
        return self.values[step_vars[port_index]]

    def node_grad(self, node, port_index=0):
        v = self._vars_of(node)[port_index]
        return self.grads.get(v)

    def _vars_of(self, node):
        return [v for v, n in self.schedule.node_of.items() if n == node]


def trace(graph, feeds=None, *, params=None, dtype="float64", training=False,
          outputs=None, seed=None, grad=True, rng_seed=0):
    """Run ``graph`` node by node, keeping every value and gradient.

    Parameters
    ----------
    feeds : dict, optional
        Input values (Inputs with a ``value`` attribute default to it).
    params : dict, optional
        Parameter values (default: as :func:`graphlab.program.init_params`).
    seed : array_like, optional
        Gradient arriving at the first output (default 1 for a scalar).
    """
    sched = lower(graph, outputs=outputs, grad=grad)
    dtype = np.dtype(dtype)
    values = {}
    p = init_params(graph, sched, dtype, rng_seed)
    if params:
        p.update({k: np.asarray(v, dtype=dtype) for k, v in params.items() if k in p})
    feeds = dict(feeds or {})
    bound = {}
    for node, (v, shape, dt) in sched.inputs.items():
        value = feeds.get(node, graph.node(node).resolved["value"])
        if value is None:
            raise ExecutionError(f"no value for Input '{node}': feed one", node=node)
        values[v] = as_feed(node, value, shape,
                            dtype if dt.startswith("float") else np.dtype(dt), bound)
    for node, (v, _, _) in sched.params.items():
        values[v] = p[node]
    for node, (v, _) in sched.constants.items():
        values[v] = p[node]
    rng = np.random.default_rng(rng_seed)
    contexts = {}
    with np.errstate(all="ignore"):
        for step in sched.forward:
            ctx = contexts[step.node] = Ctx(training, rng,
                                            _state(graph, step.node, dtype))
            args = [values[v] if v else None for v in step.inputs]
            try:
                out = step.op.forward(ctx, *args, **step.attrs)
            except GraphlabError as e:
                e.node = step.node if e.node is None else e.node
                raise
            outs = out if len(step.outputs) > 1 else (out,)
            for v, o in zip(step.outputs, outs):
                values[v] = np.asarray(o)
        t = Trace(values=values, schedule=sched,
                  states={n: c.state for n, c in contexts.items()})
        if not grad or sched.loss is None:
            return t
        loss = values[sched.loss]
        t.grads[sched.loss] = (
            np.ones_like(loss) if seed is None
            else np.broadcast_to(np.asarray(seed, dtype), loss.shape))
        for gstep in sched.backward:
            step = gstep.step
            g = [t.grads.get(v) for v in step.outputs]
            outs = [values[v] for v in step.outputs]
            args = [values[v] if v else None for v in step.inputs]
            if len(step.outputs) == 1:
                res = step.op.vjp(contexts[step.node], g[0], outs[0], *args,
                                  **step.attrs)
            else:
                res = step.op.vjp(contexts[step.node], tuple(g), tuple(outs), *args,
                                  **step.attrs)
            for port, target, x, contrib in zip(step.op.input_ports, gstep.targets,
                                                step.inputs, res):
                if target is None or contrib is None:
                    continue
                contrib = unbroadcast(np.asarray(contrib), values[x].shape)
                t.edge_grads[(step.node, port)] = contrib
                var = target[2:]
                t.grads[var] = contrib if var not in t.grads else t.grads[var] + contrib
    return t


def _state(graph, node, dtype):
    prefix = node + "."
    return {k[len(prefix):]: np.array(v, dtype=dtype)
            for k, v in graph.params.items() if k.startswith(prefix)}
