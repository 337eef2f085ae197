"""The checks of a graph file as functions: ``assert_graph`` (expected values
and gradients), ``run_graph``, ``gradcheck`` (finding the node whose VJP is
wrong) and ``train_step``; :mod:`graphlab.testing` documents what each checks.
"""

import math
import os
import re
from dataclasses import dataclass

import numpy as np

from ..errors import GraphError
from ..feeds import random_feeds
from ..shapes import fmt

__all__ = ["GraphTestFailure", "CheckSkipped", "GraphWarning", "example_feeds",
           "assert_graph", "gradcheck", "run_graph", "train_step", "run_case",
           "TESTS_ITEM"]

_CASE_KEYS = ("name", "at", "expect", "grads", "rtol", "atol")
TESTS_ITEM = re.compile(r"tests\[(\d+)\]\Z")
_EPS64 = np.finfo(np.float64).eps


class GraphTestFailure(AssertionError):
    """A graph gave other numbers than expected.

    ``message`` reads like a pytest assertion (``grads['x'] = -3.0, expected
    -4.0 (rtol 1e-6)``); ``node`` is the node it is about, where one is known.
    """

    def __init__(self, message, *, node=None):
        super().__init__(message)
        self.message = message
        self.node = node


GraphTestFailure.__module__ = "graphlab.testing"


class CheckSkipped(Exception):
    """An item that does not apply to this graph; the message says why."""


class GraphWarning(UserWarning):
    """A warning of :meth:`Graph.check`, as ``FILE: node 'ID': message``."""


CheckSkipped.__module__ = GraphWarning.__module__ = "graphlab.testing"


# ---- inputs --------------------------------------------------------------------------

def _as_graph(graph):
    if isinstance(graph, (str, os.PathLike)):
        from ..io import load
        return load(graph)
    return graph


def _split_at(prog, at, what="at"):
    """``at`` → (Input feeds, Parameter values), checking every name."""
    graph = prog.graph
    feeds, params = {}, {}
    for node, value in (at or {}).items():
        if node not in graph:
            raise GraphError(f"{what} names '{node}', which is not a node", node=node)
        op = graph.node(node).op
        if op == "Input":
            feeds[node] = value
        elif op == "Parameter":
            params[node] = value
        else:
            raise GraphError(f"{what} gives a value for '{node}', a {op}: only Inputs "
                             "and Parameters take values", node=node)
    return feeds, params


def _set_params(prog, values):
    for node, value in values.items():
        if node not in prog.params:
            continue  # a Parameter this program does not use
        arr = np.asarray(value, dtype=prog.dtype)
        if arr.shape != prog.params[node].shape:
            raise GraphError(f"the value given has shape {fmt(arr.shape)}, the "
                             f"Parameter's shape is {fmt(prog.params[node].shape)}",
                             node=node)
        prog.params[node][...] = arr


def example_feeds(prog, *, at=None, batch=2, seed=0):
    """Values for every Input a program reads: given, from the file, or random.

    Parameters
    ----------
    prog : Program
    at : dict, optional
        Values by Input id; they win over the file's ``value`` attributes.
    batch : int
        Size of every symbolic dimension (``"N"``) that no given value fixes.
    seed : int

    Returns
    -------
    dict of str to ndarray
        Random ones from :func:`graphlab.feeds.random_feeds`: floats uniform
        in [0.1, 1), integer Inputs class labels in [0, C).

    Examples
    --------
    >>> import graphlab as gl
    >>> prog = gl.compile(gl.load("samples/mlp_digits.graph.json"))
    >>> {k: v.shape for k, v in example_feeds(prog).items()}
    {'x': (2, 64), 'y': (2,)}
    """
    graph, sched = prog.graph, prog.schedule
    at = dict(at or {})
    given, bound = {}, {}
    for node, (_, shape, _) in sched.inputs.items():
        value = at[node] if node in at else graph.node(node).resolved["value"]
        if value is None:
            continue
        given[node] = value
        arr_shape = np.shape(value)
        if len(arr_shape) == len(shape):
            for d, n in zip(shape, arr_shape):
                if isinstance(d, str):
                    bound.setdefault(d, n)
    missing = {n: e for n, e in sched.inputs.items() if n not in given}
    drawn = random_feeds(graph, missing, batch=batch, seed=seed, sizes=bound)
    return prog.feeds_for({n: given[n] if n in given else drawn[n]
                           for n in sched.inputs})


# ---- comparing numbers ---------------------------------------------------------------

def _num(x):
    x = float(x)
    return repr(int(x)) + ".0" if x.is_integer() and abs(x) < 1e16 else repr(x)


def _tol(x):
    text = f"{x:g}"
    return re.sub(r"e([+-])0*(\d)", lambda m: "e" + m.group(1).lstrip("+") + m.group(2),
                  text)


def _compare(label, got, want, rtol, atol):
    """None if ``got`` matches ``want``, else the failure message."""
    got = np.asarray(got, dtype=np.float64)
    try:
        want = np.asarray(want, dtype=np.float64)
    except (TypeError, ValueError):
        raise GraphError(f"the expected value of {label} must be a number or nested "
                         f"lists of numbers, got {want!r}") from None
    if got.shape != want.shape:
        if got.size == want.size == 1:
            got, want = got.reshape(()), want.reshape(())
        else:
            return (f"{label} has shape {fmt(got.shape)}, expected "
                    f"{fmt(want.shape)}")
    err = np.abs(got - want)
    tol = atol + rtol * np.abs(want)
    bad = ~(err <= tol)  # NaN counts as bad
    bad |= ~np.isfinite(want) & (got != want)  # ∞ is within ∞ of every number
    if not bad.any():
        return None
    with np.errstate(invalid="ignore"):  # ∞ − ∞
        excess = np.where(bad, np.nan_to_num(err - tol, nan=np.inf), -np.inf)
    idx = np.unravel_index(int(np.argmax(excess)), got.shape)
    which = (f"rtol {_tol(rtol)}" if rtol * abs(want[idx]) >= atol
             else f"atol {_tol(atol)}")
    where = label if got.ndim == 0 else \
        f"{label}[{', '.join(str(int(i)) for i in idx)}]"
    more = f"; {int(bad.sum())} of {got.size} elements off" if got.size > 1 else ""
    return f"{where} = {_num(got[idx])}, expected {_num(want[idx])} ({which}{more})"


# ---- expectations --------------------------------------------------------------------

def assert_graph(graph, at=None, expect=None, grads=None, *, rtol=1e-6, atol=1e-9):
    """Assert a graph's outputs and gradients at a point, in float64.

    Parameters
    ----------
    graph : Graph or path
    at : dict, optional
        Values of Inputs (and Parameters) by node id; other Inputs use their
        ``value`` attribute.
    expect : dict, optional
        Expected values by node id (or ``node:port``): outputs or any node.
    grads : dict, optional
        Expected gradients of the first output by node id (Inputs and
        Parameters, or any node on the way).
    rtol, atol : float
        ``|got − expected| ≤ atol + rtol·|expected|``, elementwise.

    Returns
    -------
    (dict, dict)
        The outputs and the gradients computed.

    Raises
    ------
    GraphTestFailure
        Naming every value off: ``grads['x'] = -3.0, expected -4.0 (rtol 1e-6)``.
    GraphlabError
        The graph does not check or run, or a name is not a node.

    Examples
    --------
    >>> import graphlab as gl
    >>> g = gl.load("samples/cs231n.graph.json")
    >>> _ = assert_graph(g, at={"x": -2, "y": 5, "z": -4}, expect={"f": -12},
    ...                  grads={"x": -4, "y": -4, "z": 3})
    >>> assert_graph(g, at={"x": -2, "y": 5, "z": -4}, grads={"x": -3})
    Traceback (most recent call last):
      ...
    graphlab.testing.GraphTestFailure: grads['x'] = -4.0, expected -3.0 (rtol 1e-6)
    """
    from ..lower import default_outputs
    from ..program import compile
    g = _as_graph(graph)
    g.check()
    expect, grads = dict(expect or {}), dict(grads or {})
    for section, names in (("expect", expect), ("grads", grads)):
        for ref in names:
            node = ref.partition(":")[0]
            if node not in g:
                raise GraphError(f"{section} names '{ref}', which is not a node",
                                 node=node)
    outputs = default_outputs(g)
    outputs += [k for k in expect if k not in outputs]
    prog = compile(g, dtype="float64", training=False, outputs=outputs)
    feeds, params = _split_at(prog, at)
    _set_params(prog, params)
    out = prog.forward(feeds)
    problems = [_compare(ref, out[ref], want, rtol, atol)
                for ref, want in expect.items()]
    got_grads = {}
    if grads:
        got_grads = prog.backward()
        traced = None
        for node, want in grads.items():
            got = got_grads.get(node)
            if got is None:
                if traced is None:
                    from ..interpret import trace
                    traced = trace(g, feeds, params=prog.params, outputs=outputs)
                if node in g and g.node(node).op not in ("Input", "Parameter"):
                    got = traced.node_grad(node)
            if got is None:
                problems.append(f"grads['{node}']: no gradient of '{outputs[0]}' "
                                "reaches it (an integer Input, or not on the way "
                                "to that output)")
                continue
            problems.append(_compare(f"grads['{node}']", got, want, rtol, atol))
    problems = [p for p in problems if p]
    if problems:
        raise GraphTestFailure("; ".join(problems))
    return out, got_grads


def run_case(graph, case, index):
    """Run case ``index`` of a file's ``tests`` section (SPEC section 1)."""
    label = f"tests[{index}]"
    for key in case:
        if key not in _CASE_KEYS:
            import difflib
            close = difflib.get_close_matches(key, _CASE_KEYS, n=1)
            hint = f" (did you mean \"{close[0]}\"?)" if close else ""
            raise GraphError(f"{label} has an unknown key \"{key}\"{hint}; a case has "
                             f"{', '.join(_CASE_KEYS)}")
    for key in ("at", "expect", "grads"):
        if not isinstance(case.get(key, {}), dict):
            raise GraphError(f"{label}.{key} must be an object {{node id: value}}")
    for key in ("rtol", "atol"):
        v = case.get(key, 0)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise GraphError(f"{label}.{key} must be a non-negative number, got {v!r}")
    if not case.get("expect") and not case.get("grads"):
        raise GraphError(f"{label} checks nothing: give \"expect\" or \"grads\"")
    assert_graph(graph, at=case.get("at"), expect=case.get("expect"),
                 grads=case.get("grads"), rtol=case.get("rtol", 1e-6),
                 atol=case.get("atol", 1e-9))


# ---- running -------------------------------------------------------------------------

def run_graph(graph, *, at=None, batch=2, seed=0, dtype="float32"):
    """One forward pass in evaluation mode; checks outputs are finite and
    have the inferred shapes. Returns the outputs.

    Raises
    ------
    GraphTestFailure
        An output's shape differs from what shape inference said.
    ExecutionError
        A value became NaN or infinite (naming the node where it appeared).
    """
    from ..program import compile
    g = _as_graph(graph)
    g.check()
    prog = compile(g, dtype=dtype, training=False, seed=seed)
    feeds, params = _split_at(prog, at)
    _set_params(prog, params)
    feeds = example_feeds(prog, at=feeds, batch=batch, seed=seed)
    out = prog.forward(feeds)
    bound = {}
    for node, (_, shape, _) in prog.schedule.inputs.items():
        for d, n in zip(shape, np.shape(feeds[node])):
            if isinstance(d, str):
                bound.setdefault(d, n)
    report = g.analyse()
    for (ref, _), value in zip(prog.schedule.outputs, out.values()):
        node, _, port = ref.partition(":")
        ports = g.node(node).output_ports
        inferred = report.shape(node, ports.index(port) if port else 0)
        want = tuple(bound.get(d, d) for d in inferred)
        concrete = all(isinstance(d, int) for d in want)
        if concrete and tuple(value.shape) != want:
            raise GraphTestFailure(f"output '{ref}' has shape {fmt(value.shape)}, but "
                                   f"shape inference says {fmt(want)}", node=node)
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise GraphTestFailure(f"output '{ref}' is not finite", node=node)
    return out


# ---- gradient check ------------------------------------------------------------------

@dataclass
class _Mismatch:
    source: str
    index: tuple  # None: along a random direction
    executor: float
    numeric: float


class _Objective:
    """⟨seed, first output⟩ of a program, as a function of its Parameters and
    float Inputs, with the Dropout masks of every evaluation the same."""

    def __init__(self, prog, feeds):
        self.prog, self.feeds = prog, feeds
        self.rng_state = prog.rng.bit_generator.state
        self.seed = None

    def first_output(self):
        self.prog.rng.bit_generator.state = self.rng_state
        return next(iter(self.prog.forward(self.feeds).values()))

    def __call__(self):
        return float(np.sum(self.seed * self.first_output()))

    def array(self, source):
        return self.prog.params[source] if source in self.prog.params \
            else self.feeds[source]

    def shifted(self, source, delta):
        x = self.array(source)
        orig = x.copy()
        x += delta
        try:
            return self()
        finally:
            x[...] = orig


def _no_gradient_reason(prog):
    sched = prog.schedule
    floats = [n for n, (_, _, dt) in sched.inputs.items() if dt.startswith("float")]
    if not floats and not sched.params:
        ints = ", ".join(f"'{n}'" for n in sched.inputs)
        if not ints:
            return "nothing to differentiate: no Parameter or Input"
        many = len(sched.inputs) > 1
        return (f"nothing to differentiate: no Parameter, and Input{'s' * many} "
                f"{ints} {'are' if many else 'is'} integer")
    first = sched.outputs[0][0] if sched.outputs else "the first output"
    return f"'{first}' does not depend on any Parameter or float Input"


def _check_point(obj, grads, sources, *, eps, rtol, atol, directions, rng,
                 max_elements=16):
    """The first source whose executor gradient disagrees with central
    differences, or None."""
    noise = 10 * abs(obj()) * _EPS64 / eps  # round-off of the difference quotient
    for source in sources:
        x, g = obj.array(source), grads[source]
        if x.size <= max_elements:
            num = np.zeros(x.shape)
            for j in np.ndindex(x.shape):
                e = np.zeros(x.shape)
                e[j] = eps
                num[j] = (obj.shifted(source, e) - obj.shifted(source, -e)) / (2 * eps)
            err = np.abs(g - num)
            tol = atol + noise + rtol * np.maximum(np.abs(g), np.abs(num))
            bad = ~(err <= tol)
            if bad.any():
                j = np.unravel_index(int(np.argmax(np.where(bad, err - tol, -np.inf))),
                                     x.shape)
                return _Mismatch(source, tuple(int(i) for i in j), float(g[j]),
                                 float(num[j]))
            continue
        gnorm = float(np.linalg.norm(g))
        for _ in range(directions):
            d = rng.standard_normal(x.shape)
            d /= np.linalg.norm(d)
            step = eps * d
            num = (obj.shifted(source, step) - obj.shifted(source, -step)) / (2 * eps)
            a = float(np.sum(g * d))
            # g·d of a random unit d is about |g|/√n: the scale to compare with.
            scale = max(abs(a), abs(num), gnorm / math.sqrt(x.size))
            if not abs(a - num) <= atol + noise + rtol * scale:
                return _Mismatch(source, None, a, float(num))
    return None


def _jitter(x, rng, scale=1e-2):
    """``x`` moved by about ``scale`` relative, its ties broken: exact zeros
    (ReLU's) become distinct small positive values, so that no two entries
    sit within a finite-difference step of each other."""
    x = np.asarray(x, dtype=np.float64)
    out = x * (1 + scale * rng.standard_normal(x.shape))
    zero = x == 0
    k = int(zero.sum())
    if k:
        typical = float(np.abs(x[~zero]).mean()) if k < x.size else 1.0
        out[zero] = scale * typical * (rng.permutation(k) + 1) / k
    return out


def _locate(graph, prog, feeds, seed, training):
    """The first node in topological order whose VJP disagrees with finite
    differences at the values it sees: ``(node, op, message)`` or None."""
    from ..gradcheck import check_vjp
    from ..interpret import trace
    t = trace(graph, feeds, params=prog.params, dtype="float64", training=training,
              outputs=[ref for ref, _ in prog.schedule.outputs], seed=seed)
    on_path = {gs.step.node for gs in t.schedule.backward}
    rng = np.random.default_rng(7)
    for step in t.schedule.forward:
        if step.node not in on_path:
            continue
        inputs = [t.values[v] if v else None for v in step.inputs]
        attrs = graph.node(step.node).attrs
        try:
            check_vjp(step.op, inputs, attrs, training=training)
            continue
        except AssertionError as e:
            first = str(e)
        except Exception as e:  # noqa: BLE001  (a VJP that raises is the culprit)
            return step.node, step.op.name, f"{type(e).__name__}: {e}"
        # Ties and kinks (ReLU at 0, max-pooling over zeros) fool finite
        # differences; a wrong VJP stays wrong a little way off, with ties
        # broken and a smaller step.
        moved = [_jitter(x, rng) if x is not None and x.dtype.kind == "f" else x
                 for x in inputs]
        try:
            check_vjp(step.op, moved, attrs, training=training, seed=1, eps=1e-8,
                      rtol=1e-4)
        except AssertionError:
            return step.node, step.op.name, first
        except Exception as e:  # noqa: BLE001
            return step.node, step.op.name, f"{type(e).__name__}: {e}"
    return None


def _locate_codegen(graph, prog, feeds, training, rtol=1e-6):
    """The first node whose gradient in the generated code differs from the
    node-by-node interpreter's (a wrong inline VJP template): ``(node, op,
    message)`` or None. Compares, node by node, the gradients of a random
    projection of the node's output with respect to the Parameters and float
    Inputs. (In training mode the interpreter draws Dropout masks of its own,
    so a graph with Dropout is compared in evaluation mode only.)"""
    from ..interpret import trace
    from ..program import compile
    rng = np.random.default_rng(11)
    on_path = {gs.step.node for gs in prog.schedule.backward}
    for step in prog.schedule.forward:
        if step.node not in on_path:
            continue
        ref = f"{step.node}:{step.op.outputs[0]}"
        sub = compile(graph, dtype="float64", training=training, outputs=[ref])
        _set_params(sub, {k: v for k, v in prog.params.items() if k in sub.params})
        sub.rng.bit_generator.state = prog.rng.bit_generator.state
        out = next(iter(sub.forward(feeds).values()))
        if out.dtype.kind != "f":
            continue
        seed = rng.standard_normal(out.shape)
        got = sub.backward(seed)
        t = trace(graph, feeds, params=sub.params, dtype="float64", training=training,
                  outputs=[ref], seed=seed)
        sources = dict(sub.schedule.params)
        sources.update(sub.schedule.inputs)
        for source in (n for n in graph.nodes if n in got):
            want = t.grads.get(sources[source][0])
            if want is None:
                continue
            if not np.allclose(got[source], want, rtol=rtol, atol=1e-9):
                j = np.unravel_index(int(np.argmax(np.abs(got[source] - want))),
                                     np.shape(want))
                at = f"[{', '.join(str(int(i)) for i in j)}]" if j else ""
                return step.node, step.op.name, (
                    f"∂{step.node}/∂{source}{at}: generated code "
                    f"{float(got[source][j]):.8g}, the op's VJP {float(want[j]):.8g}")
    return None


def _gradcheck(graph, at=None, eps=1e-6, *, rtol=1e-4, atol=1e-9, directions=3,
               batch=2, seed=0, training=False):
    """:func:`gradcheck`, also returning why nothing was checked."""
    from ..program import compile
    g = _as_graph(graph)
    g.check()
    prog = compile(g, dtype="float64", training=training, seed=seed)
    feeds, params = _split_at(prog, at)
    _set_params(prog, params)
    feeds = {k: np.array(v) for k, v in
             example_feeds(prog, at=feeds, batch=batch, seed=seed).items()}
    if not prog.schedule.grads:
        return [], _no_gradient_reason(prog)
    obj = _Objective(prog, feeds)
    first = obj.first_output()
    if first.dtype.kind != "f":
        return [], f"the first output is {first.dtype}, not a float tensor"
    rng = np.random.default_rng(seed + 1)
    obj.seed = np.ones(()) if first.ndim == 0 else rng.standard_normal(first.shape)
    grads = prog.backward(None if first.ndim == 0 else obj.seed)
    sources = [n for n in g.nodes if n in grads]
    if not sources:
        return [], _no_gradient_reason(prog)
    kw = {"eps": eps, "rtol": rtol, "atol": atol, "directions": directions}
    if _check_point(obj, grads, sources, rng=rng, **kw) is None:
        return sources, None
    # Once more a little way off, with new directions: a difference quotient
    # that straddles a kink is not a wrong gradient.
    for s in sources:
        obj.array(s)[...] = _jitter(obj.array(s), rng)
    obj()
    grads = prog.backward(None if first.ndim == 0 else obj.seed)
    miss = _check_point(obj, grads, sources, rng=rng, **kw)
    if miss is None:
        return sources, None
    out = prog.schedule.outputs[0][0]
    how = ("along a random direction" if miss.index is None else
           f"at {miss.index}" if miss.index else "")
    what = (f"∂{out}/∂{miss.source}{' ' + how if how else ''}: executor "
            f"{miss.executor:.8g}, finite differences {miss.numeric:.8g}")
    seed_grad = None if first.ndim == 0 else obj.seed
    culprit = _locate(g, prog, feeds, seed_grad, training)
    if culprit is not None:
        node, op, detail = culprit
        detail = detail[len(op) + 2:] if detail.startswith(op + ": ") else detail
        raise GraphTestFailure(f"node '{node}' ({op}): its VJP disagrees with finite "
                               f"differences: {detail} (the first such node from the "
                               f"inputs; {what})", node=node)
    culprit = _locate_codegen(g, prog, feeds, training=False)
    if culprit is not None:
        node, op, detail = culprit
        raise GraphTestFailure(f"node '{node}' ({op}): the generated backward code "
                               f"disagrees with the op's VJP: {detail} (the first such "
                               f"node from the inputs; {what})", node=node)
    raise GraphTestFailure(f"{what}; yet no single node's VJP disagrees, in the ops "
                           "or in the generated code", node=miss.source)


def gradcheck(graph, at=None, eps=1e-6, *, rtol=1e-4, atol=1e-9, directions=3,
              batch=2, seed=0, training=False):
    """Check the executor's gradients against finite differences, in float64.

    Every Parameter and float Input the first output depends on is checked:
    element by element when it has at most 16 elements, otherwise along
    ``directions`` random unit directions. A non-scalar first output is
    reduced with a fixed random seed gradient.

    Parameters
    ----------
    graph : Graph or path
    at : dict, optional
        Values of Inputs and Parameters; other Inputs take the file's values
        or random ones (see :func:`example_feeds`), Parameters their initial
        values.
    eps : float
        Step of the central differences.
    rtol, atol : float
        Tolerances of the comparison.
    directions : int
        Random directions per large tensor.
    batch : int
        Size of symbolic dimensions.
    training : bool
        Check in training mode (Dropout masks held fixed) instead of
        evaluation mode.

    Returns
    -------
    list of str
        The node ids checked; empty when there is nothing to differentiate.

    Raises
    ------
    GraphTestFailure
        Naming the first node, walking from the inputs, whose VJP disagrees
        with finite differences, and the gradient that showed it.

    Examples
    --------
    >>> import graphlab as gl
    >>> gradcheck(gl.load("samples/cs231n.graph.json"))
    ['x', 'y', 'z']
    """
    return _gradcheck(graph, at, eps, rtol=rtol, atol=atol, directions=directions,
                      batch=batch, seed=seed, training=training)[0]


# ---- training step -------------------------------------------------------------------

def train_step(graph, *, steps=3, lr=0.01, batch=4, seed=0):
    """Plain SGD on one random batch must lower the loss, without NaN.

    Runs ``steps`` steps of ``p -= lr·g`` on the trainable Parameters, in
    float64 and training mode (Dropout masks held fixed, so that every step
    sees the same function), with the gradient's global norm clipped to 1.

    Returns
    -------
    list of float
        The loss before each step and after the last.

    Raises
    ------
    GraphTestFailure
        The loss did not go down.
    ExecutionError
        A value or gradient became NaN or infinite (naming the node).
    """
    from ..lower import default_outputs
    from ..program import compile
    g = _as_graph(graph)
    g.check()
    loss = (g.train or {}).get("loss") or default_outputs(g)[0]
    prog = compile(g, dtype="float64", training=True, outputs=[loss], seed=seed)
    if not prog.trainable:
        raise CheckSkipped("no trainable Parameter")
    feeds = example_feeds(prog, batch=batch, seed=seed)
    obj = _Objective(prog, feeds)
    losses = []
    for _ in range(steps):
        losses.append(float(np.sum(obj.first_output())))
        grads = prog.backward()
        names = [p for p in prog.trainable if p in grads]
        if not names:
            raise GraphTestFailure(f"the loss '{loss}' does not depend on any "
                                   "trainable Parameter", node=loss)
        norm = math.sqrt(sum(float(np.sum(grads[p] ** 2)) for p in names))
        step = lr / max(1.0, norm)
        for p in names:
            prog.params[p] -= step * grads[p]
    losses.append(float(np.sum(obj.first_output())))
    if not losses[-1] < losses[0]:
        raise GraphTestFailure(
            f"'{loss}' went {losses[0]:.8g} → {losses[-1]:.8g} in {steps} SGD steps "
            f"(lr {_tol(lr)}) on one batch of {batch}: the gradient does not point "
            "downhill", node=loss)
    return losses
