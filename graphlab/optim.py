"""Optimizers, learning-rate schedules and the settings of a train section.

Update rules are PyTorch's.

Every optimizer keeps the parameters it updates, their gradients and its own
state (momentum, Adam's moments) in flat buffers: the arrays of ``params`` are
replaced by views into one vector, so that a whole-model update is a dozen
NumPy calls however many Parameters the graph has. The views keep their shapes
and values, and a program that reads ``params`` sees every update.

Update rules, for gradient g, parameter p, learning rate η, weight decay λ
(as ``torch.optim`` computes them):

- SGD: ``d = g + λp``; with momentum μ, ``b = μb + d`` (``b = d`` on the first
  step) and ``d = b``, or ``d = d + μb`` with Nesterov; ``p -= η·d``.
- Adam: ``g += λp``; ``m = β1·m + (1−β1)·g``; ``v = β2·v + (1−β2)·g²``;
  ``p -= η/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε)``. AdamW instead decays
  ``p *= 1 − ηλ`` before the update.

Gradient clipping by global norm scales every gradient by
``max_norm / (‖g‖ + 1e-6)`` when the norm of all of them together exceeds
``max_norm`` (``torch.nn.utils.clip_grad_norm_``).
"""

import difflib
import json
import math

import numpy as np

from .errors import TrainingError
from .io import read_npz, save_params

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "clip_grad_norm", "Schedule",
           "ConstantLR", "StepLR", "CosineLR", "ExponentialLR", "make_optimizer",
           "make_schedule", "OPTIMIZERS", "TrainConfig", "check_keys",
           "write_checkpoint", "load_checkpoint"]

_SECTION_KEYS = ("loss", "data", "optimizer", "batch_size", "epochs", "metrics",
                 "clip_norm", "bptt", "early_stopping", "seed")
_DATA_KEYS = ("dataset", "feeds", "test_fraction", "val_fraction", "seed", "n",
              "noise", "size", "features", "seq_len", "vocab", "min_len",
              "max_len")


# ---- clipping ------------------------------------------------------------------------

def clip_grad_norm(grads, max_norm):
    """Scale ``{name: gradient}`` in place so that their global L2 norm is at most
    ``max_norm``; returns the norm before clipping.

    Examples
    --------
    >>> g = {"a": np.array([3.0]), "b": np.array([4.0])}
    >>> float(clip_grad_norm(g, 1.0)), round(float(g["a"][0]), 4)
    (5.0, 0.6)
    """
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    scale = max_norm / (total + 1e-6)
    if scale < 1:
        for g in grads.values():
            g *= scale
    return total


# ---- optimizers ----------------------------------------------------------------------

class Optimizer:
    """Base of the optimizers: flat buffers, clipping, state.

    Parameters
    ----------
    params : dict of str to ndarray
        Parameter arrays by name; the entries named in ``names`` are replaced by
        views into this optimizer's flat buffer (same shape and values).
    names : list of str, optional
        The Parameters to update (default: every key of ``params``).
    lr : float
        Learning rate.
    weight_decay : float
        L2 penalty λ added to the gradient (λp).
    clip_norm : float, optional
        Clip the global gradient norm to this before each step.

    Attributes
    ----------
    lr : float
        The learning rate of the next step; schedules set it.
    steps : int
        Steps taken.
    grad_norm : float
        Global gradient norm of the last step, before clipping.
    """

    kind = None
    _state_names = ()

    def __init__(self, params, names=None, *, lr, weight_decay=0.0, clip_norm=None):
        self.names = list(params if names is None else names)
        missing = [n for n in self.names if n not in params]
        if missing:
            raise KeyError(f"no parameter named {missing[0]!r}")
        if lr < 0 or weight_decay < 0:
            raise ValueError("lr and weight_decay must not be negative")
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.clip_norm = None if clip_norm is None else float(clip_norm)
        self.steps = 0
        self.grad_norm = None
        dtype = np.result_type(*[params[n] for n in self.names]) if self.names \
            else np.dtype(np.float32)
        self.shapes = {n: np.shape(params[n]) for n in self.names}
        sizes = [int(np.prod(self.shapes[n])) for n in self.names]
        self.offsets = dict(zip(self.names, np.cumsum([0] + sizes[:-1]).tolist()))
        total = sum(sizes)
        self.param = np.empty(total, dtype)
        self.grad = np.zeros(total, dtype)
        self._tmp = np.empty(total, dtype)
        self._views = {}
        for n, size in zip(self.names, sizes):
            off = self.offsets[n]
            view = self.param[off:off + size].reshape(self.shapes[n])
            view[...] = params[n]
            params[n] = view
            self._views[n] = self.grad[off:off + size].reshape(self.shapes[n])
        self.params = params
        self.state = {k: np.zeros(total, dtype) for k in self._state_names}

    def set_grads(self, grads):
        """Copy ``{name: gradient}`` into the flat gradient (missing ones are 0)."""
        for n in self.names:
            g = grads.get(n)
            if g is None:
                self._views[n][...] = 0
            else:
                self._views[n][...] = g

    def grad_is_finite(self):
        """Whether the flat gradient holds no NaN or ±∞: one dot product (finite
        when every value is), and only when that overflows, a check value by
        value."""
        with np.errstate(all="ignore"):
            if math.isfinite(float(np.dot(self.grad, self.grad))):
                return True
        return bool(np.isfinite(self.grad).all())

    def step(self, grads=None):
        """One update from ``grads`` (``{name: array}``; default: the flat
        gradient as it stands); returns the gradient norm before clipping."""
        if grads is not None:
            self.set_grads(grads)
        norm = None
        if self.clip_norm is not None:
            norm = math.sqrt(float(np.dot(self.grad, self.grad)))
            scale = self.clip_norm / (norm + 1e-6)
            if scale < 1:
                self.grad *= self.grad.dtype.type(scale)
        self.grad_norm = norm
        self.steps += 1
        self._update()
        return norm

    def _update(self):
        raise NotImplementedError(f"{type(self).__name__} has no update rule")

    def zero_grad(self):
        self.grad[...] = 0

    # ---- state -----------------------------------------------------------------------
    def state_dict(self):
        """``{"steps", "lr", "names", "shapes", state buffers}`` for checkpoints."""
        out = {"kind": self.kind, "steps": self.steps, "lr": self.lr,
               "names": list(self.names),
               "shapes": {n: list(s) for n, s in self.shapes.items()}}
        out.update({k: v.copy() for k, v in self.state.items()})
        return out

    def load_state_dict(self, state):
        names = list(state.get("names", self.names))
        if names != self.names:
            raise TrainingError("the checkpoint's optimizer was built for other "
                                f"parameters ({', '.join(names)})")
        if state.get("kind", self.kind) != self.kind:
            raise TrainingError(f"the checkpoint holds {state['kind']} state, but the "
                                f"optimizer is {self.kind}")
        self.steps = int(state["steps"])
        self.lr = float(state.get("lr", self.lr))
        for k in self._state_names:
            self.state[k][...] = state[k]

    def __repr__(self):
        return (f"<{type(self).__name__} lr={self.lr:g}, {len(self.names)} parameters, "
                f"{self.param.size:,} values>")


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum and Nesterov momentum.

    Examples
    --------
    >>> p = {"w": np.array([1.0, 2.0])}
    >>> opt = SGD(p, lr=0.1, momentum=0.9)
    >>> _ = opt.step({"w": np.array([1.0, 1.0])})
    >>> _ = opt.step({"w": np.array([1.0, 1.0])})
    >>> p["w"].round(4).tolist()  # 0.1·1, then 0.1·(0.9·1 + 1)
    [0.71, 1.71]
    """

    kind = "sgd"

    def __init__(self, params, names=None, *, lr, momentum=0.0, nesterov=False,
                 dampening=0.0, weight_decay=0.0, clip_norm=None):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and no dampening")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self._state_names = ("momentum_buffer",) if momentum else ()
        super().__init__(params, names, lr=lr, weight_decay=weight_decay,
                         clip_norm=clip_norm)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.dampening = float(dampening)

    def _update(self):
        p, d, tmp = self.param, self.grad, self._tmp
        t = p.dtype.type
        if self.weight_decay:
            np.multiply(p, t(self.weight_decay), out=tmp)
            d += tmp
        if self.momentum:
            buf = self.state["momentum_buffer"]
            if self.steps == 1:
                buf[...] = d
            else:
                buf *= t(self.momentum)
                if self.dampening:
                    np.multiply(d, t(1 - self.dampening), out=tmp)
                    buf += tmp
                else:
                    buf += d
            if self.nesterov:
                np.multiply(buf, t(self.momentum), out=tmp)
                d += tmp
            else:
                d = buf
        np.multiply(d, t(self.lr), out=tmp)
        p -= tmp


class Adam(Optimizer):
    """Adam (Kingma & Ba), bias-corrected as in PyTorch; weight decay as L2.

    Examples
    --------
    >>> p = {"w": np.array([1.0])}
    >>> opt = Adam(p, lr=0.1)
    >>> _ = opt.step({"w": np.array([0.5])})
    >>> round(float(p["w"][0]), 6)  # the first step moves by lr·sign(g)
    0.9
    """

    kind = "adam"
    _state_names = ("exp_avg", "exp_avg_sq")
    decoupled = False

    def __init__(self, params, names=None, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.0, clip_norm=None):
        b1, b2 = betas
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        super().__init__(params, names, lr=lr, weight_decay=weight_decay,
                         clip_norm=clip_norm)
        self.betas = (float(b1), float(b2))
        self.eps = float(eps)

    def _update(self):
        p, g, tmp = self.param, self.grad, self._tmp
        m, v = self.state["exp_avg"], self.state["exp_avg_sq"]
        t = p.dtype.type
        b1, b2 = self.betas
        if self.weight_decay:
            if self.decoupled:
                p *= t(1 - self.lr * self.weight_decay)
            else:
                np.multiply(p, t(self.weight_decay), out=tmp)
                g += tmp
        m *= t(b1)
        np.multiply(g, t(1 - b1), out=tmp)
        m += tmp
        v *= t(b2)
        np.multiply(g, g, out=tmp)
        tmp *= t(1 - b2)
        v += tmp
        bias1 = 1 - b1 ** self.steps
        bias2 = 1 - b2 ** self.steps
        np.sqrt(v, out=tmp)
        tmp *= t(1 / math.sqrt(bias2))
        tmp += t(self.eps)
        np.divide(m, tmp, out=tmp)
        tmp *= t(self.lr / bias1)
        p -= tmp


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p *= 1 − ηλ."""

    kind = "adamw"
    decoupled = True

    def __init__(self, params, names=None, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.01, clip_norm=None):
        super().__init__(params, names, lr=lr, betas=betas, eps=eps,
                         weight_decay=weight_decay, clip_norm=clip_norm)


# ---- learning-rate schedules ---------------------------------------------------------

class Schedule:
    """The learning rate of each epoch: ``lr_at(epoch)`` with epochs from 0."""

    def __init__(self, base_lr):
        self.base_lr = float(base_lr)

    def lr_at(self, epoch):
        return self.base_lr

    def __repr__(self):
        return f"<{type(self).__name__} base_lr={self.base_lr:g}>"


class ConstantLR(Schedule):
    """The same learning rate every epoch."""


class StepLR(Schedule):
    """``base·gamma^(epoch // step_size)`` (PyTorch ``StepLR``).

    Examples
    --------
    >>> [StepLR(1.0, step_size=2, gamma=0.5).lr_at(e) for e in range(5)]
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(self, base_lr, step_size, gamma=0.1):
        super().__init__(base_lr)
        if int(step_size) < 1:
            raise ValueError(f"step_size must be a positive number of epochs, got "
                             f"{step_size}")
        self.step_size, self.gamma = int(step_size), float(gamma)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class CosineLR(Schedule):
    """``min + (base − min)·(1 + cos(π·epoch/T))/2`` (PyTorch ``CosineAnnealingLR``).

    Examples
    --------
    >>> [round(CosineLR(1.0, t_max=4).lr_at(e), 4) for e in range(5)]
    [1.0, 0.8536, 0.5, 0.1464, 0.0]
    """

    def __init__(self, base_lr, t_max, eta_min=0.0):
        super().__init__(base_lr)
        if int(t_max) < 1:
            raise ValueError(f"t_max must be a positive number of epochs, got {t_max}")
        self.t_max, self.eta_min = int(t_max), float(eta_min)

    def lr_at(self, epoch):
        e = min(epoch, self.t_max)
        return self.eta_min + (self.base_lr - self.eta_min) * (
            1 + math.cos(math.pi * e / self.t_max)) / 2


class ExponentialLR(Schedule):
    """``base·gamma^epoch``."""

    def __init__(self, base_lr, gamma):
        super().__init__(base_lr)
        self.gamma = float(gamma)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** epoch


# ---- from a train section ------------------------------------------------------------

OPTIMIZERS = {"sgd": SGD, "momentum": SGD, "nesterov": SGD, "adam": Adam,
              "adamw": AdamW}

_OPT_KEYS = {
    "sgd": ("type", "lr", "momentum", "nesterov", "weight_decay", "dampening",
            "schedule"),
    "adam": ("type", "lr", "betas", "eps", "weight_decay", "schedule"),
}
_SCHEDULE_KEYS = {"constant": ("type",), "step": ("type", "step_size", "gamma"),
                  "cosine": ("type", "t_max", "eta_min"),
                  "exponential": ("type", "gamma")}


# Names that other libraries use for the same setting.
_ALIASES = {"learning_rate": "lr", "wd": "weight_decay", "l2": "weight_decay",
            "scheduler": "schedule", "lr_schedule": "schedule", "batch": "batch_size",
            "batchsize": "batch_size", "epoch": "epochs", "max_norm": "clip_norm",
            "clip": "clip_norm", "clip_grad_norm": "clip_norm", "optim": "optimizer",
            "stop_early": "early_stopping"}


def _object(value, where, example):
    """``value`` if it is a JSON object, else a TrainingError naming ``where``."""
    if not isinstance(value, dict):
        raise TrainingError(f"{where} must be an object such as {example}, got "
                            f"{json.dumps(value)}")
    return value


def check_keys(section, allowed, where):
    """Raise TrainingError for a key not in ``allowed``, naming the closest."""
    for key in section:
        if key not in allowed:
            close = [_ALIASES[key]] if _ALIASES.get(key) in allowed else \
                difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean \"{close[0]}\"?)" if close else ""
            raise TrainingError(f"unknown key \"{key}\" in {where}{hint}; it takes "
                                f"{', '.join(allowed)}")


def make_optimizer(spec, params, names=None, *, lr=None, clip_norm=None):
    """An optimizer from a train section's ``optimizer`` object.

    Parameters
    ----------
    spec : dict
        ``{"type": "sgd" | "momentum" | "nesterov" | "adam" | "adamw", "lr": ...,
        "momentum": 0.9, "nesterov": false, "weight_decay": 0, "betas": [0.9,
        0.999], "eps": 1e-8}``.
    params, names
        As for :class:`Optimizer`.
    lr : float, optional
        Overrides ``spec["lr"]``.
    clip_norm : float, optional

    Raises
    ------
    TrainingError
        An unknown type or key, or a value out of range.
    """
    spec = dict(spec or {})
    kind = spec.get("type", "sgd")
    if kind not in OPTIMIZERS:
        raise TrainingError(f"unknown optimizer type {kind!r} in train.optimizer: use "
                            f"{', '.join(repr(k) for k in OPTIMIZERS)}")
    family = "adam" if kind.startswith("adam") else "sgd"
    check_keys(spec, _OPT_KEYS[family], "train.optimizer")
    rate = spec.get("lr", 1e-3 if family == "adam" else 0.01) if lr is None else lr
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or rate <= 0 \
            or not math.isfinite(rate):
        raise TrainingError(f"the learning rate must be a positive number, got "
                            f"{rate!r}")
    common = {"lr": float(rate), "weight_decay": float(spec.get("weight_decay", 0.0)),
              "clip_norm": clip_norm}
    try:
        if family == "adam":
            extra = {k: spec[k] for k in ("betas", "eps") if k in spec}
            if kind == "adamw" and "weight_decay" not in spec:
                common.pop("weight_decay")
            return OPTIMIZERS[kind](params, names, **common, **extra)
        momentum = spec.get("momentum", 0.0 if kind == "sgd" else 0.9)
        nesterov = spec.get("nesterov", kind == "nesterov")
        return SGD(params, names, momentum=float(momentum), nesterov=bool(nesterov),
                   dampening=float(spec.get("dampening", 0.0)), **common)
    except (TypeError, ValueError) as e:
        raise TrainingError(f"train.optimizer: {e}") from None


def make_schedule(spec, base_lr, epochs):
    """A :class:`Schedule` from ``optimizer.schedule`` (None: constant).

    ``{"type": "step", "step_size": 10, "gamma": 0.1}``, ``{"type": "cosine"}``
    (over ``t_max`` epochs, default all of them, down to ``eta_min``) or
    ``{"type": "exponential", "gamma": 0.95}``.
    """
    if spec is None:
        return ConstantLR(base_lr)
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, dict):
        raise TrainingError("train.optimizer.schedule must be an object such as "
                            "{\"type\": \"cosine\"}")
    kind = spec.get("type")
    if kind not in _SCHEDULE_KEYS:
        raise TrainingError(f"unknown schedule type {kind!r}: use "
                            f"{', '.join(repr(k) for k in _SCHEDULE_KEYS)}")
    check_keys(spec, _SCHEDULE_KEYS[kind], "train.optimizer.schedule")
    try:
        if kind == "step":
            if "step_size" not in spec:
                raise ValueError("a step schedule needs \"step_size\" (epochs)")
            return StepLR(base_lr, spec["step_size"], spec.get("gamma", 0.1))
        if kind == "cosine":
            return CosineLR(base_lr, spec.get("t_max", max(int(epochs), 1)),
                            spec.get("eta_min", 0.0))
        if kind == "exponential":
            if "gamma" not in spec:
                raise ValueError("an exponential schedule needs \"gamma\"")
            return ExponentialLR(base_lr, spec["gamma"])
        return ConstantLR(base_lr)
    except (TypeError, ValueError) as e:
        raise TrainingError(f"train.optimizer.schedule: {e}") from None


# ---- the train section ---------------------------------------------------------------

def _number(value, what, *, integer=False, positive=True, allow_none=False):
    if value is None and allow_none:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)
    if ok and integer:
        ok = float(value).is_integer()
    if ok and positive:
        ok = value > 0
    if not ok:
        kind = "a positive whole number" if integer else "a positive number"
        raise TrainingError(f"{what} must be {kind}, got {value!r}")
    return int(value) if integer else float(value)


class TrainConfig:
    """A train section, validated, with command-line overrides applied.

    Parameters
    ----------
    section : dict or None
        The graph's ``train`` object.
    epochs, batch_size, lr, seed : optional
        Override the section.

    Raises
    ------
    TrainingError
        A missing or ill-typed setting, or an unknown key (with the closest
        known one).
    """

    def __init__(self, section, *, epochs=None, batch_size=None, lr=None, seed=None,
                 clip_norm=None, bptt=None, early_stopping=None):
        if section is None:
            section = {}
        if not isinstance(section, dict):
            raise TrainingError("the train section must be an object")
        check_keys(section, _SECTION_KEYS, "train")
        self.section = section
        self.loss = section.get("loss")
        self.data = dict(_object(section.get("data") or {}, "train.data",
                                 '{"dataset": "digits"}'))
        check_keys(self.data, _DATA_KEYS, "train.data")
        _object(self.data.get("feeds") or {}, "train.data.feeds",
                '{"x": "images", "y": "labels"}')
        optimizer = section.get("optimizer") or {"type": "sgd", "lr": 0.01}
        self.optimizer = dict(_object(optimizer, "train.optimizer",
                                      '{"type": "adam", "lr": 0.01}'))
        self.epochs = _number(section.get("epochs", 10) if epochs is None else epochs,
                              "epochs", integer=True)
        self.batch_size = _number(section.get("batch_size", 32) if batch_size is None
                                  else batch_size, "batch_size", integer=True)
        self.lr = _number(lr, "the learning rate", allow_none=True)
        seed = section.get("seed", 0) if seed is None else seed
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise TrainingError(f"seed must be a whole number ≥ 0, got {seed!r}")
        self.seed = seed
        clip = section.get("clip_norm") if clip_norm is None else clip_norm
        self.clip_norm = _number(clip, "clip_norm", allow_none=True)
        k = section.get("bptt") if bptt is None else bptt
        self.bptt = _number(k, "bptt", integer=True, allow_none=True)
        metrics = section.get("metrics")
        if metrics is not None and (not isinstance(metrics, list) or
                                    any(m != "accuracy" for m in metrics)):
            raise TrainingError(f"train.metrics must be a list of metric names; known: "
                                f"\"accuracy\" (got {metrics!r})")
        self.metrics = metrics
        es = section.get("early_stopping") if early_stopping is None else early_stopping
        if es is not None:
            if es is True:
                es = {}
            if not isinstance(es, dict):
                raise TrainingError("train.early_stopping must be an object such as "
                                    "{\"patience\": 5, \"min_delta\": 0}")
            check_keys(es, ("patience", "min_delta", "restore_best"),
                        "train.early_stopping")
            es = {"patience": _number(es.get("patience", 5), "early_stopping.patience",
                                      integer=True),
                  "min_delta": _number(es.get("min_delta", 0.0),
                                       "early_stopping.min_delta", positive=False),
                  "restore_best": bool(es.get("restore_best", False))}
        self.early_stopping = es

    def as_dict(self):
        return {"epochs": self.epochs, "batch_size": self.batch_size,
                "lr": self.lr, "seed": self.seed, "clip_norm": self.clip_norm,
                "bptt": self.bptt, "optimizer": self.optimizer}


# ---- checkpoints ---------------------------------------------------------------------

CHECKPOINT_VERSION = 1


def write_checkpoint(path, arrays, meta):
    """Write ``{name: array}`` and a JSON-able ``meta`` record to ``path`` (.npz),
    atomically; random-generator states may hold big integers."""
    meta = dict(meta, version=CHECKPOINT_VERSION)
    save_params(dict(arrays, meta=np.array(json.dumps(meta, default=int))), path)


def load_checkpoint(path):
    """``(arrays, meta)`` of a checkpoint written by :func:`write_checkpoint`."""
    arrays = read_npz(path, "the checkpoint", TrainingError)
    if "meta" not in arrays:
        raise TrainingError(f"'{path}' is not a graphlab checkpoint (no meta record)")
    try:
        meta = json.loads(str(arrays.pop("meta")))
        if not isinstance(meta, dict):
            raise ValueError
    except ValueError:
        raise TrainingError(f"'{path}' is not a graphlab checkpoint (its meta record "
                            "is damaged)") from None
    if meta.get("version", 0) > CHECKPOINT_VERSION:
        raise TrainingError(f"the checkpoint '{path}' was written by a newer graphlab")
    return arrays, meta
