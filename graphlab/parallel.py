"""Data parallelism inside one step: a batch cut into chunks that run on threads.

NumPy releases the GIL inside its kernels, so threads that each run the
generated code on a part of the batch keep every core busy with the work that
BLAS leaves single-threaded (im2col, col2im, pooling, elementwise ops), and
each thread's working set is smaller. It is opt-in (``workers=``): on two
cores it sped the unfused LeNet-5 step up 1.3–1.45×, but with the fused
kernels, whose GEMMs BLAS already spreads over both cores, one thread was
faster (4.8 ms against 5.9 ms a step at batch 64), and a step of small calls,
an LSTM's, loses at every hand-over of the GIL. It is meant for more cores
than BLAS can use on small matrices.

Cutting is exact, up to float rounding, when the value that backward starts
from is a mean (or a sum) over the examples of values that each depend on one
example only, plus terms that do not depend on the batch at all (a weight
penalty). Each chunk then runs with the backward seed scaled by its share of
the batch, and the parameter gradients of the chunks add up to those of the
whole batch. :func:`batch_plan` decides this from each op's ``batching``
declaration (:meth:`graphlab.ops.base.Op.batching_for`) and the inferred
shapes, and otherwise says why not: BatchNorm normalises over the whole batch
while training, a softmax over axis 0 mixes the examples.

Assumes a schedule from :func:`graphlab.lower.lower`.
"""

import contextlib
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .shapes import numel

__all__ = ["BatchPlan", "batch_plan", "chunk_slices", "run_parallel", "default_workers",
           "blas_single_thread", "CONST", "BATCH", "MEAN", "SUM", "MIXED"]

# What a value is, with respect to the batch:
CONST = "const"  # does not depend on it (weights, and what only they feed)
BATCH = "batch"  # one row per example on axis 0, each from that example alone
MEAN = "mean"  # a mean over the examples (plus constants): chunks weigh n_k / N
SUM = "sum"  # a sum over the examples: chunks add up
MIXED = "mixed"  # anything else: the batch cannot be cut

# Chunks of more than 64 examples run slower per example (their buffers spill
# out of the 2 MiB L2 cache); chunks of fewer than 16 lose to per-call overhead.
MAX_CHUNK = 64
MIN_CHUNK = 16
# Threads hand the GIL over at every NumPy call: below a few thousand elements
# a call, the hand-overs cost more than the second core gains (an LSTM step
# of 32 rows, 8 time steps, ran 1.5× slower on two threads than alone).
MIN_GRAIN = 4096

_NONLINEAR_IN_SUM = "is not linear in a value summed over the batch"


@dataclass
class BatchPlan:
    """How to cut a program's batch.

    Attributes
    ----------
    symbol : str
        The batch dimension's name in the Input shapes (``"N"``).
    inputs : tuple of str
        Input node ids whose axis 0 is the batch: fed in slices.
    kinds : dict
        ``{var: kind}`` for every variable of the schedule.
    grain : float
        Elements computed per NumPy call, per example: a chunk of ``n``
        examples gives each call about ``n * grain`` elements of work.
    """

    symbol: str
    inputs: tuple
    kinds: dict = field(default_factory=dict)
    grain: float = 0.0

    def kind(self, var):
        return self.kinds.get(var, CONST)


def batch_plan(sched, training=True):
    """Whether and how ``sched`` can run a batch as chunks.

    Parameters
    ----------
    sched : Schedule
    training : bool
        The mode the program runs in (BatchNorm mixes examples only while
        training).

    Returns
    -------
    BatchPlan or str
        The plan, or a sentence saying why the batch cannot be cut.

    Examples
    --------
    >>> import graphlab as gl
    >>> from graphlab.lower import lower
    >>> plan = batch_plan(lower(gl.load("samples/lenet5.graph.json")))
    >>> plan.symbol, plan.inputs
    ('N', ('x', 'y'))
    """
    symbols = {shape[0] for _, shape, _ in sched.inputs.values()
               if shape and isinstance(shape[0], str)}
    if not symbols:
        return "no Input has a batch dimension (a name such as \"N\" on axis 0)"
    if len(symbols) > 1:
        return (f"the Inputs name their batch dimensions differently "
                f"({', '.join(sorted(symbols))})")
    symbol = symbols.pop()
    kinds, cut = {}, []
    for node, (var, shape, _) in sched.inputs.items():
        kinds[var] = _kind_of_shape(shape, symbol)
        if kinds[var] == MIXED:
            return f"Input '{node}' has the batch dimension {symbol} off axis 0"
        if kinds[var] == BATCH:
            cut.append(node)
    for var, _, _ in sched.params.values():
        kinds[var] = CONST
    for var, _ in sched.constants.values():
        kinds[var] = CONST
    for step in sched.forward:
        out_kinds, why = _step_kinds(step, kinds, symbol, training)
        for v, k in zip(step.outputs, out_kinds):
            kinds[v] = k
        if why:
            return f"node '{step.node}' ({step.op.name}) {why}"
    for ref, var in sched.outputs:
        if kinds[var] == MIXED:
            return f"output '{ref}' mixes the examples of the batch"
    if sched.loss is not None and kinds[sched.loss] == CONST:
        return "the loss does not depend on the batch"
    return BatchPlan(symbol, tuple(cut), kinds, _grain(sched))


def _grain(sched):
    elements = calls = 0
    for step in sched.forward:
        elements += sum(numel(s) for s in step.out_shapes)
        calls += step.op.calls(step.in_shapes, step.out_shapes, **step.attrs)
    return elements / max(calls, 1)


def _kind_of_shape(shape, symbol):
    if symbol not in shape:
        return CONST
    if shape[0] == symbol and symbol not in shape[1:]:
        return BATCH
    return MIXED


def _step_kinds(step, kinds, symbol, training):
    """Kinds of a step's outputs, and why it mixes examples (or None)."""
    op = step.op
    ins = [None if v is None else kinds[v] for v in step.inputs]
    present = [k for k in ins if k is not None]
    n_out = len(step.outputs)
    if all(k == CONST for k in present):
        return [CONST] * n_out, None
    if MIXED in present:
        return [MIXED] * n_out, None  # the culprit was named where it arose
    ranks = [None if s is None else len(s) for s in step.in_shapes]
    how, ports = op.batching_for(step.attrs, training, ranks)
    if how == "linear" and BATCH in present:
        how = "map"
    if how == "map":
        return _map_kinds(step, ins, ports, symbol)
    if how == "linear":
        return _linear_kinds(op.name, ins)
    if how in ("mean", "sum"):
        if any(k in (MEAN, SUM) for k in present):
            return [MIXED] * n_out, _NONLINEAR_IN_SUM
        return [MEAN if how == "mean" else SUM] * n_out, None
    return [MIXED] * n_out, op.batch_mixing


def _map_kinds(step, ins, ports, symbol):
    op = step.op
    out_rank = len(step.out_shapes[0]) if step.out_shapes else 0
    for port, k, shape in zip(op.input_ports, ins, step.in_shapes):
        if k in (MEAN, SUM):
            return [MIXED] * len(step.outputs), _NONLINEAR_IN_SUM
        if k == BATCH and port not in ports:
            return [MIXED] * len(step.outputs), f"reads the batch through its " \
                                                f"{port} input"
        if op.elementwise and shape is not None and (
                k == BATCH and len(shape) != out_rank
                or k == CONST and len(shape) == out_rank and shape[0] != 1):
            # Broadcasting would line the batch up with another axis, or
            # stretch a constant along it.
            return [MIXED] * len(step.outputs), "broadcasts across the batch axis"
    out = [_kind_of_shape(s, symbol) for s in step.out_shapes]
    if any(k != BATCH for k in out):
        return [MIXED] * len(out), "moves the batch off axis 0"
    return out, None


def _linear_kinds(name, ins):
    """Affine ops (Add, Sub, Mul, Div, Neg) on values summed over the batch."""
    present = {k for k in ins if k is not None}
    sums = present - {CONST}
    if len(sums) > 1:
        return [MIXED], "adds a mean over the batch to a sum over it"
    k = sums.pop()
    if name in ("Add", "Sub") and k == SUM and CONST in present:
        # Chunks add up: the constant would be counted once per chunk.
        return [MIXED], "adds a constant to a sum over the batch"
    if name == "Mul" and CONST not in present:
        return [MIXED], "multiplies two values summed over the batch"
    if name == "Div" and ins[1] != CONST:
        return [MIXED], "divides by a value summed over the batch"
    return [k], None


def chunk_slices(n, workers, max_chunk=MAX_CHUNK, min_chunk=MIN_CHUNK, grain=None):
    """Near-equal slices cutting a batch of ``n`` examples, or None not to cut.

    At least one chunk per worker while chunks keep ``min_chunk`` examples,
    and chunks of at most ``max_chunk``; none when ``grain`` (a plan's
    elements per call and example) leaves a chunk's calls less than
    ``MIN_GRAIN`` elements of work. The cut depends only on ``n``,
    ``workers`` and the graph, so that a run is reproducible.

    >>> chunk_slices(64, 2)
    [slice(0, 32, None), slice(32, 64, None)]
    >>> len(chunk_slices(256, 2)), chunk_slices(20, 2)
    (4, None)
    """
    if workers < 2:
        return None
    k = min(workers, n // min_chunk)
    k = max(k, math.ceil(n / max_chunk)) if k >= 2 else k
    if k < 2 or grain is not None and grain * n / k < MIN_GRAIN:
        return None
    bounds = [round(i * n / k) for i in range(k + 1)]
    return [slice(a, b) for a, b in zip(bounds, bounds[1:])]


def default_workers():
    """Threads to cut a batch over: the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_executor = None
_executor_size = 0
_executor_lock = threading.Lock()


def run_parallel(tasks, workers):
    """Run the callables ``tasks`` on up to ``workers`` threads; their results.

    Task ``i`` runs on thread ``i % workers``; the calling thread takes the
    first share, so two workers cost one hand-over, not two. Re-raises the
    first exception.
    """
    global _executor, _executor_size
    workers = max(1, min(workers, len(tasks)))
    shares = [tasks[w::workers] for w in range(workers)]

    def run_share(share):
        return [t() for t in share]

    futures = []
    if workers > 1:
        with _executor_lock:
            if _executor_size < workers - 1:
                _executor_size = max(workers - 1, default_workers())
                _executor = ThreadPoolExecutor(_executor_size,
                                               thread_name_prefix="graphlab")
        futures = [_executor.submit(run_share, s) for s in shares[1:]]
    try:
        first = run_share(shares[0])
    except BaseException:
        for f in futures:
            f.exception()  # let the other threads finish with their buffers
        raise
    results = [first] + [f.result() for f in futures]
    out = [None] * len(tasks)
    for w, res in enumerate(results):
        out[w::workers] = res
    return out


_blas = None


def blas_single_thread():
    """A context in which BLAS runs on one thread (each chunk has its own).

    Without it, two chunk threads would each start BLAS's threads, more
    threads than cores. Needs ``threadpoolctl``; otherwise a no-op.
    """
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
            _blas = ThreadpoolController()  # finds the BLAS libraries once (ms)
        except ImportError:
            _blas = False
    if not _blas:
        return contextlib.nullcontext()
    return _blas.limit(limits=1, user_api="blas")
