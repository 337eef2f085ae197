"""Compiled programs: the generated forward/backward source, ready to run.

Assumes a graph that passes :meth:`Graph.check` (``compile`` checks it).
"""

import builtins
import functools
import math
import re

import numpy as np

from .codegen import emit, kernel_ops
from .errors import ExecutionError, GraphlabError
from .lower import lower
from .ops.base import Ctx, unbroadcast
from .ops.sources import initial_value
from .parallel import (BATCH, MEAN, SUM, BatchPlan, batch_plan, blas_single_thread,
                       chunk_slices, default_workers, run_parallel)
from .shapes import fmt

__all__ = ["Program", "compile", "init_params", "as_feed", "nonscalar_start"]


def init_params(graph, sched, dtype, seed=0):
    """Initial values of the schedule's Parameters and Constants.

    A value in ``graph.params`` (sidecar or trained) wins over ``attrs.value``,
    which wins over the ``init`` rule; initialisation draws from one generator
    seeded with ``seed``, in file order, so that runs are reproducible.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for node_id in graph.nodes:
        if node_id in sched.params:
            _, shape, _ = sched.params[node_id]
            attrs = graph.node(node_id).resolved
            try:
                if node_id in graph.params:
                    value = graph.params[node_id]
                elif attrs["value"] is not None:
                    value = attrs["value"]
                else:
                    value = initial_value(shape, attrs["init"], rng)
                out[node_id] = np.array(value, dtype=dtype).reshape(shape)
            except MemoryError as e:
                raise ExecutionError(f"the Parameter of shape {fmt(shape)} is too big "
                                     f"for memory: {_bytes(e)}", node=node_id) from None
        elif node_id in sched.constants:
            out[node_id] = np.asarray(sched.constants[node_id][1], dtype=dtype)
    return out


def as_feed(node, value, shape, dtype, bound=None):
    """Convert a fed value to an array of the Input's dtype and check its shape.

    ``bound`` maps symbolic dimensions to the sizes seen so far in this run.
    """
    dtype = np.dtype(dtype)
    try:
        if type(value) is np.ndarray and value.dtype == dtype:
            arr = value  # nothing to convert (the state a generation loop feeds back)
        elif dtype.kind in "iu":
            arr = _as_integers(node, value, dtype)
        else:
            with np.errstate(over="ignore"):  # too large for float32: found as ∞
                arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise ExecutionError(f"the value fed is not a {dtype} array",
                             node=node) from None
    except OverflowError:
        raise ExecutionError(f"the value fed holds a number too large for {dtype}",
                             node=node) from None
    except MemoryError as e:
        raise ExecutionError(f"the value fed is too big for memory: {_bytes(e)}",
                             node=node) from None
    ok = arr.ndim == len(shape)
    bound = {} if bound is None else bound
    if ok:
        for d, n in zip(shape, arr.shape):
            if isinstance(d, str):
                if bound.setdefault(d, n) != n:
                    raise ExecutionError(
                        f"fed shape {fmt(arr.shape)} gives {d} = {n}, but another "
                        f"input has {d} = {bound[d]}: feed the same batch size to "
                        "every input", node=node)
            elif d != n:
                ok = False
    if not ok:
        fed = fmt(arr.shape) if arr.ndim else "scalar"
        raise ExecutionError(f"fed shape {fed} does not fit the Input's shape "
                             f"{fmt(shape)}", node=node)
    return arr


def _as_integers(node, value, dtype):
    """``value`` as an integer array, refusing fractions and numbers out of range
    (NumPy would truncate the one and wrap or overflow the other)."""
    arr = np.asarray(value)
    if arr.dtype.kind in "iub":
        return arr.astype(dtype)
    if arr.dtype == object:  # Python ints beyond 64 bits
        raise OverflowError
    as_float = np.asarray(arr, dtype=np.float64)
    whole = np.isfinite(as_float) & (np.mod(as_float, 1) == 0)
    if not whole.all():
        bad = as_float[~whole].flat[0]
        raise ExecutionError(f"the value fed holds {bad:g}, but the Input is {dtype}: "
                             "feed whole numbers (class labels), or make the Input "
                             "float", node=node)
    info = np.iinfo(dtype)
    if as_float.size and (as_float.min() < info.min or
                          as_float.max() >= float(info.max) + 1):
        raise OverflowError
    return as_float.astype(dtype)


def _bytes(error):
    """How much memory a failed allocation asked for, from NumPy's MemoryError."""
    size = getattr(error, "_total_size", None)
    if size is None:
        return "NumPy could not allocate it"
    return f"it needs {size:,} bytes ({_human(size)})"


def _human(size):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:.3g} {unit}" if unit != "bytes" else f"{size} bytes"
        size /= 1024


def nonscalar_start(ref, shape):
    """The error for a backward pass asked to start, without a seed gradient,
    from the output ``ref`` of shape ``shape`` (``grad`` and ``explain`` both
    raise it)."""
    return ExecutionError(f"backward starts from '{ref}', whose shape is "
                          f"{fmt(shape)}: end the graph with a scalar (a loss or Sum) "
                          "or pass a seed gradient", node=ref.partition(":")[0])


def _finite_probe(g):
    """A number that is finite when every value of ``g`` is: ``g·g`` (one BLAS
    dot, 3× cheaper than a sum) or, for a strided ``g``, its sum. It can
    overflow for huge finite values; callers then check ``g`` element by
    element."""
    if g.flags.c_contiguous and g.dtype.kind == "f":
        v = g.reshape(-1)
        return float(np.dot(v, v))
    return float(np.add.reduce(g, axis=None))


def _all_finite(arrays):
    """Whether no float array of ``arrays`` holds NaN or ±∞: one probe each
    (:func:`_finite_probe`), and only if their sum is not finite, a check
    element by element."""
    total = 0.0
    with np.errstate(all="ignore"):  # a probe may overflow
        for a in arrays:
            if a.dtype.kind == "f":
                total += _finite_probe(a)
    return math.isfinite(total) or all(np.isfinite(a).all() for a in arrays
                                       if a.dtype.kind == "f")


class Program:
    """A graph lowered to generated NumPy code.

    Parameters
    ----------
    graph : Graph
    dtype : str
        ``"float32"`` (default) or ``"float64"``.
    training : bool
        Training mode (Dropout active, BatchNorm on batch statistics).
    outputs : list of str, optional
        What ``forward`` returns; the first is where ``backward`` starts
        (default: the graph's outputs).
    seed : int
        Seeds parameter initialisation and Dropout masks.
    grad : bool
        Plan a backward pass (off for inference only).
    input_grads : bool
        Also differentiate with respect to float Inputs (on by default, as
        SPEC section 4 asks; training turns it off to save work).
    fuse : bool
        Run fused kernels where a chain of nodes allows it (conv → ReLU →
        max-pool); faster, but the generated code no longer has one line per
        node, and the fused nodes' own values are not kept.
    workers : int or "auto"
        Threads to cut a batch over (:mod:`graphlab.parallel`): with more than
        one, a batch of 32 or more examples runs as chunks of at most 64 on
        that many threads, when the graph allows it (the loss a mean over the
        examples). Results then differ from an uncut run by float rounding.
        ``"auto"``: one per core. Default 1.

    Attributes
    ----------
    source : str
        The generated code.
    params : dict of str to ndarray
        Current Parameter values, updated in place by optimizers.
    trainable : list of str
        Parameters an optimizer may update.
    """

    def __init__(self, graph, *, dtype="float32", training=True, outputs=None, seed=0,
                 grad=True, input_grads=True, fuse=False, workers=1):
        self.graph = graph
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        self.schedule = sched = lower(graph, outputs=outputs, grad=grad,
                                      input_grads=input_grads, fuse=fuse)
        self.source = emit(sched)
        self.params = init_params(graph, sched, self.dtype, seed)
        self._input_dtypes = [  # (node, shape, the dtype a feed is converted to)
            (node, shape, self.dtype if dt.startswith("float") else np.dtype(dt))
            for node, (_, shape, dt) in sched.inputs.items()]
        self.trainable = [n for n, (_, _, t) in sched.params.items() if t]
        self.frozen = False  # see freeze()
        self._fed_shapes = None  # each Input's shape in the last feeds_for
        self.rng = np.random.default_rng(seed)
        self.training = training
        self._contexts = {s.node: Ctx(training, self.rng, self._state_of(s.node))
                          for s in sched.forward}
        for gstep in sched.backward:
            self._contexts[gstep.step.node].needs_input_grad = tuple(
                t is not None for t in gstep.targets)
        read = _vars_read(sched)
        for step in sched.forward:
            if len(step.outputs) > 1:
                self._contexts[step.node].needs_output = tuple(
                    v in read for v in step.outputs)
        self._saved = {}
        self._code = builtins.compile(self.source, f"<graphlab: {graph.name}>", "exec")
        self._ns = self._namespace()
        exec(self._code, self._ns)
        self._checked = None
        self._ran = False
        self.seed = seed
        self.workers = default_workers() if workers == "auto" else int(workers)
        self._replicas = [(self._ns, self._contexts)]
        self._plans = {}  # training mode → BatchPlan, or why the batch is not cut
        self._cuts = None  # the slices the last forward ran, or None

    def _state_of(self, node):
        prefix = node + "."
        return {k[len(prefix):]: np.array(v, dtype=self.dtype)
                for k, v in self.graph.params.items() if k.startswith(prefix)}

    def _namespace(self, checked=False, contexts=None, saved=None):
        ns = {"np": np, "_P": self.params,
              "_C": self._contexts if contexts is None else contexts,
              "_S": self._saved if saved is None else saved, "_unb": unbroadcast}
        for name, op in kernel_ops(self.schedule).items():
            ns["_" + name] = op
        if checked:
            ns["_chk"] = _check_finite
        return ns

    # ---- modes -----------------------------------------------------------------------
    def train(self, mode=True):
        """Switch training mode on or off (Dropout, BatchNorm); returns self."""
        self.training = bool(mode)
        for _, contexts in self._replicas:
            for ctx in contexts.values():
                ctx.training = self.training
        return self

    def eval(self):
        return self.train(False)

    # ---- running ---------------------------------------------------------------------
    @property
    def input_names(self):
        return list(self.schedule.inputs)

    def feeds_for(self, feeds):
        """Complete and convert feeds: Input values fill in what is not fed."""
        same = self._as_last_time(feeds)
        if same is not None:
            return same
        feeds = dict(feeds or {})
        unknown = [k for k in feeds if k not in self.schedule.inputs]
        for k in unknown:
            if k in self.graph and self.graph.node(k).op == "Input":
                feeds.pop(k)  # an Input this program does not need
            else:
                raise ExecutionError(f"there is no Input '{k}' to feed", node=k)
        out, bound = {}, {}
        for node, shape, dt in self._input_dtypes:
            if node in feeds:
                value = feeds[node]
            else:
                value = self.graph.node(node).resolved["value"]
                if value is None:
                    raise ExecutionError(
                        f"no value for Input '{node}' ({fmt(shape)}): feed one "
                        f"(--feed {node}=VALUE) or give the Input a value", node=node)
            out[node] = as_feed(node, value, shape, dt, bound)
        self._fed_shapes = {node: arr.shape for node, arr in out.items()}
        return out

    def _as_last_time(self, feeds):
        """``feeds`` as they are, when every Input is fed an array of its dtype and
        of the shape it was fed last time (so the sizes bound then still fit):
        nothing to convert or check again. A generation loop feeds its own
        states back this way. Else None."""
        last = self._fed_shapes
        if last is None or not feeds or len(feeds) != len(last):
            return None
        for node, _, dt in self._input_dtypes:
            v = feeds.get(node)
            if type(v) is not np.ndarray or v.dtype != dt or v.shape != last[node]:
                return None
        return dict(feeds)

    def forward(self, feeds=None):
        """Run the forward pass; returns ``{output ref: ndarray}``.

        Raises
        ------
        ExecutionError
            A feed is missing or misshapen, or a value became NaN or infinite
            (naming the node where it first appeared).
        """
        fed = self.feeds_for(feeds)
        self._cuts = self._cuts_for(fed)
        outputs = self._run("forward", fed, self._forward_cut)
        self._loss_value = next(iter(outputs.values()), None)
        self._ran = True
        if _all_finite(outputs.values()):
            return outputs
        for ref, value in outputs.items():
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                self._locate_nonfinite(fed)
                node = ref.partition(":")[0]
                _check_finite(node, value)
        return outputs

    def _run(self, fn, arg, run_cut):
        """``{name: ndarray}`` from the generated function ``fn`` on ``arg``; with
        the batch cut into chunks, from ``run_cut(arg)``."""
        try:
            if self._cuts is not None:
                return run_cut(arg)
            with np.errstate(all="ignore"):
                return {k: np.asarray(v) for k, v in self._ns[fn](arg).items()}
        except MemoryError as e:
            raise ExecutionError(f"not enough memory for this run: an array "
                                 f"{_bytes(e)[3:]}; feed a smaller batch") from None
        except GraphlabError as e:  # an op refused its values: name the node
            if e.node is None:
                e.node = self._node_at(e.__traceback__)
            raise

    def _node_at(self, tb):
        """The node whose line of generated code raised, from a traceback."""
        node = None
        lines = self.source.splitlines()
        while tb is not None:
            code = tb.tb_frame.f_code
            if code.co_filename.startswith("<graphlab") and tb.tb_lineno <= len(lines):
                m = re.search(r"#\s+(\w+):", lines[tb.tb_lineno - 1])
                node = m.group(1) if m else node
            tb = tb.tb_next
        return node

    def _locate_nonfinite(self, fed):
        for node, value in fed.items():  # a NaN fed in is the feed's fault
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                what = "NaN" if np.isnan(value).any() else "infinite"
                raise ExecutionError(f"the value fed holds {what} values: feed finite "
                                     f"numbers within {value.dtype}'s range (JSON null "
                                     "reads as NaN)", node=node)
        if self._checked is None:
            ns = self._namespace(checked=True)
            ns["_S"] = {}
            exec(builtins.compile(emit(self.schedule, checked=True),
                                  "<graphlab checked>", "exec"), ns)
            self._checked = ns
        with np.errstate(all="ignore"):
            self._checked["forward"](fed)

    def backward(self, seed=None, *, check=True):
        """Gradients of the first output with respect to every Parameter and
        float Input it depends on: ``{node id: ndarray}``.

        Parameters
        ----------
        seed : array_like, optional
            The gradient arriving at the first output; required when that
            output is not a scalar.
        check : bool
            Raise ``ExecutionError`` naming the node whose gradient became NaN
            or infinite (:meth:`check_gradients`). A caller that copies the
            gradients into one flat buffer checks them there with one probe
            instead (the trainer does), and calls :meth:`check_gradients`
            only when that finds one.
        """
        sched = self.schedule
        if not self._ran:
            raise ExecutionError("backward() needs a forward() first")
        if sched.loss is None:
            return {}
        loss_value = self._loss_value
        if seed is None:
            if np.ndim(loss_value) != 0 and np.size(loss_value) != 1:
                raise nonscalar_start(sched.outputs[0][0], np.shape(loss_value))
            seed = np.ones_like(loss_value)
        seed = np.asarray(seed, dtype=self.dtype)
        if seed.shape != np.shape(loss_value):
            seed = np.broadcast_to(seed, np.shape(loss_value)).astype(self.dtype)
        grads = self._run("backward", seed, self._backward_cut)
        if check:
            self.check_gradients(grads)
        return grads

    @staticmethod
    def check_gradients(grads):
        """Raise ``ExecutionError`` naming the first gradient of ``grads`` that
        holds NaN or ±∞."""
        if _all_finite(grads.values()):
            return
        for node, g in grads.items():
            if not np.isfinite(g).all():
                raise ExecutionError(
                    "the gradient became NaN or infinite: lower the learning rate, or "
                    "check for log or sqrt of 0 and division by 0", node=node)

    # ---- a batch cut into chunks on threads (graphlab.parallel) ----------------------
    def batch_plan(self):
        """How this program cuts a batch in its current mode: a
        :class:`~graphlab.parallel.BatchPlan`, or a sentence saying why not."""
        if self.training not in self._plans:
            self._plans[self.training] = batch_plan(self.schedule, self.training)
        return self._plans[self.training]

    def _cuts_for(self, fed):
        if self.workers < 2:
            return None
        plan = self.batch_plan()
        if not isinstance(plan, BatchPlan) or not plan.inputs:
            return None
        return chunk_slices(len(fed[plan.inputs[0]]), self.workers, grain=plan.grain)

    def _replica(self, i):
        """Namespace of the generated code for chunk ``i``: its own contexts
        and saved values, the same parameters and op state."""
        while len(self._replicas) <= i:
            k = len(self._replicas)
            contexts = {}
            for node, ctx in self._contexts.items():
                rng = np.random.default_rng([self.seed, k])
                contexts[node] = Ctx(self.training, rng, ctx.state,
                                     ctx.needs_input_grad, ctx.needs_output)
            ns = self._namespace(contexts=contexts, saved={})
            exec(self._code, ns)
            self._replicas.append((ns, contexts))
        return self._replicas[i][0]

    def _run_cut(self, fn, args):
        """``fn`` (a generated function's name) on every chunk, in parallel."""
        def task(ns, arg):
            with np.errstate(all="ignore"):  # error state is per thread
                return ns[fn](arg)
        tasks = [functools.partial(task, self._replica(i), a)
                 for i, a in enumerate(args)]
        with blas_single_thread():  # one BLAS thread per chunk's thread
            return run_parallel(tasks, self.workers)

    def _forward_cut(self, fed):
        plan, cuts = self.batch_plan(), self._cuts
        chunks = [{k: v[s] if k in plan.inputs else v for k, v in fed.items()}
                  for s in cuts]
        results = self._run_cut("forward", chunks)
        outputs = {}
        for ref, var in self.schedule.outputs:
            vals = [np.asarray(r[ref]) for r in results]
            kind = plan.kind(var)
            if kind == BATCH:
                outputs[ref] = np.concatenate(vals)
            elif kind == MEAN:  # each chunk's mean weighs its share of the batch
                total = sum(v * w for v, w in zip(vals, _shares(cuts)))
                outputs[ref] = np.asarray(total, dtype=vals[0].dtype)
            elif kind == SUM:
                outputs[ref] = np.asarray(sum(vals), dtype=vals[0].dtype)
            else:
                outputs[ref] = vals[0]
        return outputs

    def _backward_cut(self, seed):
        plan, cuts = self.batch_plan(), self._cuts
        kind = plan.kind(self.schedule.loss)
        if kind == BATCH:
            seeds = [seed[s] for s in cuts]
        elif kind == MEAN:
            seeds = [seed * w for w in _shares(cuts)]
        else:
            seeds = [seed] * len(cuts)
        results = self._run_cut("backward", seeds)
        grads = {}
        for node in self.schedule.grads:
            vals = [np.asarray(r[node]) for r in results]
            grads[node] = np.concatenate(vals) if node in plan.inputs else sum(vals)
        return grads

    # ---- state -----------------------------------------------------------------------
    def state_dict(self):
        """Parameters and op state (BatchNorm running statistics), by key."""
        out = {k: v.copy() for k, v in self.params.items()
               if k in self.schedule.params}
        for node, ctx in self._contexts.items():
            for k, v in ctx.state.items():
                out[f"{node}.{k}"] = np.array(v)
        return out

    def load_state_dict(self, state):
        for k, v in state.items():
            node, _, key = k.partition(".")
            if key:
                if node in self._contexts:
                    self._contexts[node].state[key] = np.array(v, dtype=self.dtype)
            elif k in self.params and self.frozen:
                new = np.empty_like(self.params[k])
                new[...] = v
                self.params[k] = _constant(new)
            elif k in self.params:
                self.params[k][...] = v

    def freeze(self):
        """Treat the Parameters as constants from now on, as an inference program
        may (``jax.jit`` folds the constants it closes over the same way).

        Each Parameter becomes a read-only array, so that kernels may keep what
        they derive from it from call to call (an RNN's or LSTM's stacked
        weights: :func:`graphlab.ops._rnn.rnn_weights`) instead of deriving it
        again on every call; :class:`~graphlab.generate.Generator` runs its
        programs frozen. :meth:`load_state_dict` still loads new values (as new
        arrays); writing into a Parameter otherwise raises ``ValueError``.
        Returns self.
        """
        for k, v in self.params.items():
            self.params[k] = _constant(v)
        self.frozen = True
        return self

    def __repr__(self):
        s = self.schedule
        return (f"<Program {self.graph.name!r}: {len(s.forward)} steps, "
                f"{len(s.params)} parameters, {self.dtype}>")


def _constant(a):
    """``a`` as a read-only array that owns its values (a copy if need be)."""
    if not a.flags.owndata:
        a = a.copy()
    a.flags.writeable = False
    return a


def _shares(cuts):
    """Each chunk's share of the batch, ``n_k / N``."""
    return [(s.stop - s.start) / cuts[-1].stop for s in cuts]


def _vars_read(sched):
    """Variables that a later step, backward or the caller reads."""
    read = {v for step in sched.forward for v in step.inputs if v}
    read |= {v for _, v in sched.outputs} | set(sched.saved)
    return read


def _check_finite(node, value):
    # A 0-d result comes back as a NumPy scalar, not an array: check it too.
    value = np.asarray(value) if isinstance(value, np.generic) else value
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and \
            not np.isfinite(value).all():
        what = "NaN" if np.isnan(value).any() else "infinite"
        raise ExecutionError(f"produced {what} values: lower the learning rate, or "
                             "check for log or sqrt of 0 and division by 0", node=node)


def compile(graph, dtype="float32", training=True, outputs=None, seed=0, grad=True,
            input_grads=True, fuse=False, workers=1):
    """Lower a graph to generated NumPy code (see :class:`Program`).

    Examples
    --------
    >>> import graphlab as gl
    >>> prog = gl.compile(gl.load("samples/cs231n.graph.json"), dtype="float64")
    >>> float(prog.forward({"x": -2.0, "y": 5.0, "z": -4.0})["f"])
    -12.0
    >>> {k: float(v) for k, v in prog.backward().items()}
    {'x': -4.0, 'y': -4.0, 'z': 3.0}
    """
    return Program(graph, dtype=dtype, training=training, outputs=outputs, seed=seed,
                   grad=grad, input_grads=input_grads, fuse=fuse, workers=workers)
