"""Fusion: chains of forward steps replaced by one fused kernel, same numbers.

Runs inside :func:`graphlab.lower.lower` (``fuse=True``) on the forward steps,
before the backward pass is planned, so that the planner sees the fused steps
as ordinary kernels (their ``vjp`` rules) and keeps no value of the chain's
inner nodes. Assumes a schedule straight from the lowering of a checked graph.

One pattern so far: ``Conv2D → [activation →] MaxPool2D or AvgPool2D``, the
activation ReLU, Tanh or Sigmoid, becomes one
:class:`~graphlab.ops.fused.Conv2DPool2D` step, when

- the pool's windows are disjoint and flush: stride = kernel, no padding.
  The pool then reads each conv output at most once, so the kernel can
  compute the conv straight into pool-window blocks and skip the rows and
  columns that no window covers (the pool's floor division drops them, and
  they feed nothing else);
- the conv's output and the activation's output are read by nothing but the
  next step of the chain and are not program outputs, and a MaxPool2D's
  ``indices`` output is read by nothing and is not an output: the fused step
  computes neither, so no one may need them.

Why the fused kernel gives the same numbers. A mean-pool adds the bias and
applies the activation to every conv output, as the chain does, and adds a
window's values in the order AvgPool2D does (without an activation it adds
the bias after the mean, which only rounds differently). A max-pool comes
*before* the bias and the activation: rounding is monotone, so for a
per-channel bias ``b``, ``max_i fl(c_i + b) = fl(max_i c_i + b)`` exactly, and
the three activations are monotone, so ``max_i act(z_i) = act(max_i z_i)``.
The gradient is routed to the first maximum of the window (row-major, strict
``>``, as PyTorch and :class:`~graphlab.ops.pooling.MaxPool2D` do), times the
activation's derivative at the pooled value, as its own rule computes it.
Where the unfused chain's activation makes a window's values equal (ReLU
clamping them to 0, tanh or σ rounding them to 1 or 0), its argmax is the
window's first position and the fused kernel's the largest conv value, but
the derivative there is 0 (ReLU′(0) = 0, 1 − 1² = 0, σ(1 − σ) = 0), so the
gradient is 0 either way. The only differences are float rounding of the
conv's sums (a GEMM of another shape), and with it, in principle, which of
two conv values that differ by rounding alone is the maximum (for tanh and σ
also two values that one rounding of the activation makes equal); and, for
an infinite or NaN input, NaN where the unfused conv may give ±∞ (the fused
GEMM multiplies the input by the zeros around a shifted kernel, 0·∞ = NaN),
which the program reports as a non-finite value either way.

Conv stride, padding (also ``"same"`` with an even kernel), dilation and the
bias may be anything.

The fused kernel computes with the batch innermost and hands its output on
that way (a ``(C, H, W, N)`` array seen as NCHW), so that a second fused
kernel reads it without a copy. For the same reason a nearest Upsample2D whose
output only a fused kernel reads becomes
:class:`~graphlab.ops.fused.Upsample2DBatchLast`: same values, batch-last.
"""

from dataclasses import dataclass, replace

from .schedule import Step
from .ops.fused import CONV2D_POOL2D, UPSAMPLE2D_BATCH_LAST
from .shapes import window

__all__ = ["FusedStep", "fuse_steps"]


@dataclass
class FusedStep(Step):
    """A :class:`~graphlab.lower.Step` standing for a chain of nodes.

    ``fused`` lists the chain's node ids in order; :attr:`label` names them all
    for the generated code's line comments.
    """

    fused: tuple = ()

    @property
    def label(self):
        return " → ".join(self.fused) + " (fused)"

    def __str__(self):
        return f"{super().__str__()}  # {self.label}"


def fuse_steps(sched):
    """The schedule's forward steps with fusible chains replaced.

    Parameters
    ----------
    sched : Schedule
        Forward steps and outputs set, backward not planned yet. Its ``shapes``
        and ``node_of`` lose the variables that the fused steps no longer
        compute.

    Returns
    -------
    list of Step
        In the same order; a fused step takes the place of its last node, the
        pool, and keeps the pool's output variable, so later steps read it
        unchanged.

    Examples
    --------
    >>> import graphlab as gl
    >>> from graphlab.lower import lower
    >>> sched = lower(gl.load("samples/lenet5.graph.json"), fuse=True)
    >>> [s.label for s in sched.forward if isinstance(s, FusedStep)]
    ['conv1 → relu1 → pool1 (fused)', 'conv2 → relu2 → pool2 (fused)']
    """
    steps = list(sched.forward)
    producer = {v: i for i, s in enumerate(steps) for v in s.outputs}
    readers = {}
    for i, s in enumerate(steps):
        for v in s.inputs:
            if v:
                readers.setdefault(v, set()).add(i)
    kept = {v for _, v in sched.outputs}

    def private(var, reader):
        """Whether ``var`` is read by step ``reader`` alone and not kept."""
        return var not in kept and readers.get(var) == {reader}

    dropped = set()
    for i, pool in enumerate(steps):
        chain = _conv_pool_chain(steps, i, producer, private, kept, readers)
        if chain is None:
            continue
        conv, act = steps[chain[0]], chain[1]
        nodes = tuple(steps[j].node for j in chain if j is not None)
        attrs = {k: conv.attrs[k] for k in ("stride", "padding", "dilation")}
        attrs.update(pool=tuple(pool.attrs["kernel"]), mode=_POOLS[pool.op.name],
                     act=None if act is None else _ACTIVATIONS[steps[act].op.name])
        steps[i] = FusedStep(pool.node, CONV2D_POOL2D, attrs, list(conv.inputs),
                             [pool.outputs[0]], list(conv.in_shapes),
                             [pool.out_shapes[0]], fused=nodes)
        dropped.update(j for j in chain[:2] if j is not None)
        for v in conv.outputs + pool.outputs[1:] + (
                steps[act].outputs if act is not None else []):
            sched.shapes.pop(v, None)
            sched.node_of.pop(v, None)
        up = producer.get(conv.inputs[0])
        if up is not None and private(conv.inputs[0], chain[0]) and \
                _nearest_upsample(steps[up]):
            steps[up] = replace(steps[up], op=UPSAMPLE2D_BATCH_LAST)
    return [s for j, s in enumerate(steps) if j not in dropped]


_POOLS = {"MaxPool2D": "max", "AvgPool2D": "avg"}
_ACTIVATIONS = {"ReLU": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid"}


def _conv_pool_chain(steps, i, producer, private, kept, readers):
    """``(conv index, activation index or None, i)`` if step ``i`` ends a
    fusible Conv2D → [activation →] MaxPool2D or AvgPool2D chain, else None."""
    pool = steps[i]
    if pool.op.name not in _POOLS or not _disjoint_flush_pool(pool):
        return None
    if len(pool.outputs) > 1:  # MaxPool2D's indices: nobody may need them
        indices = pool.outputs[1]
        if indices in kept or readers.get(indices):
            return None
    j = producer.get(pool.inputs[0])
    if j is None or not private(pool.inputs[0], i):
        return None
    act = None
    if steps[j].op.name in _ACTIVATIONS:
        act, reader = j, j
        j = producer.get(steps[j].inputs[0])
        if j is None or not private(steps[act].inputs[0], reader):
            return None
    if steps[j].op.name != "Conv2D" or steps[j].attrs.get("groups", 1) != 1:
        return None  # grouped convolutions run unfused
    return j, act, i


def _nearest_upsample(step):
    return step.op.name == "Upsample2D" and step.attrs["mode"] == "nearest"


def _disjoint_flush_pool(pool):
    """Whether a MaxPool2D's windows tile its input: stride = kernel, no padding."""
    kernel, stride = tuple(pool.attrs["kernel"]), tuple(pool.attrs["stride"])
    if kernel != stride:
        return False
    padding = pool.attrs["padding"]
    if not isinstance(padding, str):
        return not any(p != (0, 0) if isinstance(p, tuple) else p for p in padding)
    sizes = pool.in_shapes[0][2:]
    if any(isinstance(s, str) for s in sizes):
        return padding == "valid"  # "same" pads by the size, unknown here
    return all(window(s, k, k, padding)[1] == (0, 0) for s, k in zip(sizes, kernel))
