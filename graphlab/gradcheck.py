"""Finite-difference checks of one op's rules, in float64.

Used by the op tests (one table per family) and by :mod:`graphlab.testing` to
find the node whose VJP disagrees. Like ``torch.autograd.gradcheck``: central
differences of ``⟨g, f(x)⟩`` against the VJP, element by element for small
inputs and along random directions for large ones.
"""

import numpy as np

from .ops.base import Ctx, get_op, unbroadcast

__all__ = ["run_op", "op_vjp", "check_vjp", "numeric_grad"]


def _as_tuple(v, n):
    return tuple(v) if n > 1 else (v,)


def run_op(op, inputs, attrs=None, *, training=True, seed=0, state=None):
    """Run ``op.forward`` once; returns ``(outputs_tuple, ctx)``.

    ``op`` is an op or its name; ``inputs`` lists one array (or ``None`` for an
    absent optional input) per input port; ``attrs`` as written in a file.
    """
    op = get_op(op) if isinstance(op, str) else op
    resolved = op.resolve_attrs(attrs or {})
    ctx = Ctx(training=training, rng=np.random.default_rng(seed),
              state={} if state is None else state)
    out = op.forward(ctx, *inputs, **resolved)
    return _as_tuple(out, len(op.outputs)), ctx



def op_vjp(op, inputs, gs, attrs=None, *, training=True, seed=0):
    """Outputs and input gradients (summed to input shape) of one op."""
    op = get_op(op) if isinstance(op, str) else op
    outs, ctx = run_op(op, inputs, attrs, training=training, seed=seed)
    resolved = op.resolve_attrs(attrs or {})
    n_out = len(op.outputs)
    g = gs if n_out > 1 else gs[0]
    out = outs if n_out > 1 else outs[0]
    grads = op.vjp(ctx, g, out, *inputs, **resolved)
    if len(grads) != len(op.inputs):
        raise AssertionError(f"{op.name}.vjp returned {len(grads)} gradients for "
                             f"{len(op.inputs)} inputs")
    grads = tuple(None if gr is None or x is None else
                  unbroadcast(np.asarray(gr), np.shape(x))
                  for gr, x in zip(grads, inputs))
    return outs, grads


def _loss(op, inputs, gs, attrs, training, seed):
    outs, _ = run_op(op, inputs, attrs, training=training, seed=seed)
    return sum(float(np.sum(g * o)) for g, o in zip(gs, outs) if g is not None)


def numeric_grad(op, inputs, gs, index, attrs=None, *, eps=1e-6, training=True,
                 seed=0, directions=None, rng=None):
    """Central differences of ⟨gs, op(inputs)⟩ with respect to input ``index``.

    Returns the full gradient when ``directions`` is None, else the list of
    directional derivatives along the given arrays.
    """
    x = np.array(inputs[index], dtype=np.float64)

    def at(xv):
        args = list(inputs)
        args[index] = xv
        return _loss(op, args, gs, attrs, training, seed)

    if directions is not None:
        return [(at(x + eps * d) - at(x - eps * d)) / (2 * eps) for d in directions]
    grad = np.zeros_like(x)
    flat = grad.reshape(-1)
    for j in range(x.size):
        e = np.zeros(x.size)
        e[j] = eps
        e = e.reshape(x.shape)
        flat[j] = (at(x + e) - at(x - e)) / (2 * eps)
    return grad


def check_vjp(op, inputs, attrs=None, *, eps=1e-6, rtol=1e-5, atol=1e-7, seed=0,
              training=True, max_elements=64):
    """Assert that ``op.vjp`` matches finite differences in float64.

    Every float input that the op does not declare non-differentiable is
    checked: element by element if it has at most ``max_elements`` elements,
    otherwise along three random directions. Integer outputs (indices) get no
    gradient.

    Raises
    ------
    AssertionError
        Naming the op, the input port and the largest disagreement.
    """
    op = get_op(op) if isinstance(op, str) else op
    rng = np.random.default_rng(seed + 1)
    inputs = [None if x is None else
              (np.asarray(x, dtype=np.float64) if np.asarray(x).dtype.kind == "f"
               else np.asarray(x)) for x in inputs]
    outs, _ = run_op(op, inputs, attrs, training=training, seed=seed)
    gs = tuple(rng.standard_normal(np.shape(o)) if np.asarray(o).dtype.kind == "f"
               else None for o in outs)
    _, grads = op_vjp(op, inputs, gs, attrs, training=training, seed=seed)
    checked = 0
    for i, (port, x) in enumerate(zip(op.input_ports, inputs)):
        if x is None or x.dtype.kind != "f" or port in op.nondiff:
            continue
        got = grads[i]
        if got is None:
            raise AssertionError(f"{op.name}.vjp gave no gradient for input '{port}'")
        if got.shape != x.shape:
            raise AssertionError(f"{op.name}.vjp: gradient for '{port}' has shape "
                                 f"{got.shape}, input has {x.shape}")
        if x.size <= max_elements:
            want = numeric_grad(op, inputs, gs, i, attrs, eps=eps, training=training,
                                seed=seed)
            bad = ~np.isclose(got, want, rtol=rtol, atol=atol)
            if bad.any():
                j = np.unravel_index(np.argmax(np.abs(got - want)), x.shape)
                raise AssertionError(
                    f"{op.name}: gradient for input '{port}' disagrees with finite "
                    f"differences at {tuple(int(k) for k in j)}: vjp {got[j]:.8g}, "
                    f"numeric {want[j]:.8g} ({int(bad.sum())} of {x.size} elements "
                    "off)")
        else:
            dirs = [rng.standard_normal(x.shape) for _ in range(3)]
            want = numeric_grad(op, inputs, gs, i, attrs, eps=eps, training=training,
                                seed=seed, directions=dirs)
            for d, w in zip(dirs, want):
                v = float(np.sum(got * d))
                if not np.isclose(v, w, rtol=rtol, atol=atol * np.sqrt(x.size)):
                    raise AssertionError(
                        f"{op.name}: gradient for input '{port}' disagrees with finite "
                        f"differences along a random direction: vjp {v:.8g}, numeric "
                        f"{w:.8g}")
        checked += 1
    return checked
