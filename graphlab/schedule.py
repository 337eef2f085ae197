"""The program as data: forward :class:`Step`, backward :class:`GradStep`, and the
:class:`Schedule` that orders them with its named buffers.

:mod:`graphlab.lower` builds a schedule from a checked graph, :mod:`graphlab.fuse`
rewrites its forward steps, and the code generator and the interpreter execute it.
"""

from dataclasses import dataclass, field

__all__ = ["Step", "GradStep", "Schedule"]


@dataclass
class Step:
    """One forward step: ``outputs = op(inputs, **attrs)``."""

    node: str
    op: object
    attrs: dict
    inputs: list  # variable name per input port, None where absent
    outputs: list  # variable name per output port
    in_shapes: list
    out_shapes: list

    def __str__(self):
        args = ", ".join(v or "None" for v in self.inputs)
        return f"{', '.join(self.outputs)} = {self.op.name}({args})"


@dataclass
class GradStep:
    """One backward step: the VJP of ``step``, accumulated into its inputs.

    ``grads_in`` holds, per output port, the gradient variable arriving (or
    None); ``targets`` holds, per input port, the gradient variable to
    accumulate into (or None), and ``unbroadcast`` whether the contribution
    must first be summed to the input's shape.
    """

    step: Step
    grads_in: list
    targets: list
    unbroadcast: list

    def __str__(self):
        outs = ", ".join(t or "_" for t in self.targets)
        grads = ", ".join(g or "0" for g in self.grads_in)
        return f"{outs} += vjp[{self.step.op.name}]({grads})"


@dataclass
class Schedule:
    """Ordered steps and named buffers of one program.

    Attributes
    ----------
    inputs : dict
        ``{node id: (var, shape, dtype)}`` of Input nodes that are fed.
    params : dict
        ``{node id: (var, shape, trainable)}`` of Parameter nodes.
    constants : dict
        ``{node id: (var, value)}``.
    forward : list of Step
    backward : list of GradStep
    outputs : list of (ref, var)
    loss : str or None
        Variable the backward pass starts from (the first output's).
    grads : dict
        ``{source node id: gradient var}`` for every float Input and Parameter
        that the loss depends on.
    saved : list of str
        Forward variables that backward reads.
    """

    name: str
    inputs: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    constants: dict = field(default_factory=dict)
    forward: list = field(default_factory=list)
    backward: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    loss: str = None
    grads: dict = field(default_factory=dict)
    saved: list = field(default_factory=list)
    shapes: dict = field(default_factory=dict)  # var → inferred shape
    node_of: dict = field(default_factory=dict)  # var → node id

    def __str__(self):
        lines = [f"schedule {self.name!r}"]
        lines += [f"  input {v} {s}" for v, s, _ in self.inputs.values()]
        lines += [f"  param {v} {s}" for v, s, _ in self.params.values()]
        lines += [f"  {s}" for s in self.forward]
        lines += [f"  {s}" for s in self.backward]
        return "\n".join(lines)
