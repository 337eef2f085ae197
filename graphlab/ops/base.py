"""How an op is declared: ports, attributes and rules, in one class.

Each op is one subclass of :class:`Op`, registered by name with
:func:`register`. Everything graphlab knows about an op lives on that class:

``shape(*in_shapes, **attrs)``
    Checks the input shapes and returns the output shape (a tuple of shapes
    for an op with several outputs). Raises :class:`ShapeError`.
``forward(ctx, *inputs, **attrs)``
    The NumPy kernel. Returns the output (a tuple for several outputs).
``vjp(ctx, g, out, *inputs, **attrs)``
    The vector-Jacobian product: one gradient per input, ``None`` for an input
    that is absent or not differentiable. ``g`` and ``out`` are tuples for ops
    with several outputs (``g[k]`` is ``None`` when no gradient reaches output
    ``k``). Rules never unbroadcast; the caller sums to input shape.
``sympy(*symbols, **attrs)``
    Elementwise ops only: the scalar formula as a SymPy expression. The
    chain-rule view differentiates it; no second derivative table exists.
``formulas``
    Tensor ops only: ``{port: (latex, fn)}``, the matrix-calculus form of
    each input's gradient and a NumPy transcription of it, ``fn(g, out,
    *inputs, **attrs)``, which a test checks against ``vjp``.
``template``, ``vjp_templates``
    Elementwise ops: one-line NumPy forms for the generated code, with
    ``{port}``, ``{attr}``, ``{g}`` and ``{out}`` placeholders.

Attributes are keyword-only in every rule and always arrive resolved: defaults
filled in and values normalised by their :class:`Attr` (``kernel=5`` arrives as
``(5, 5)`` where the op wants a pair).
"""

import difflib
import math
import numbers

from ..errors import AttrError, GraphError

__all__ = [
    "Attr",
    "Ctx",
    "Op",
    "register",
    "get_op",
    "op_names",
    "ops_by_family",
    "FAMILIES",
    "REQUIRED",
    "along_axis_batching",
    "unbroadcast",
    "may_broadcast",
]

REQUIRED = object()

# Families in the order the palette and the documentation list them.
FAMILIES = (
    "sources",
    "arithmetic",
    "activations",
    "linear algebra, shape",
    "convolution",
    "pooling, resampling",
    "regularisation",
    "sequences",
    "recurrent",
    "losses",
)

_REGISTRY = {}


def register(name):
    """Class decorator: register an op class under its graph-file name."""

    def wrap(cls):
        if name in _REGISTRY:
            raise ValueError(f"op {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls()
        return cls

    return wrap


def get_op(name, *, node=None):
    """The registered op called ``name``.

    Raises
    ------
    GraphError
        If no op has that name; the message suggests the closest name.
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), _REGISTRY, n=1, cutoff=0.5)
        lower = {k.lower(): k for k in _REGISTRY}
        if not close and str(name).lower() in lower:
            close = [lower[str(name).lower()]]
        hint = f"; did you mean '{close[0]}'?" if close else (
            "; run 'graphlab ops' to list the ops")
        raise GraphError(f"unknown op '{name}'{hint}", node=node) from None


def op_names():
    """Every registered op name, in family then declaration order."""
    return [op.name for fam in FAMILIES for op in ops_by_family().get(fam, [])]


def ops_by_family():
    """``{family: [op, ...]}`` in declaration order."""
    out = {}
    for op in _REGISTRY.values():
        out.setdefault(op.family, []).append(op)
    return out


class Ctx:
    """Per-node scratch space of one program run.

    ``training`` and ``rng`` are set by the program; ``state`` persists from
    run to run (BatchNorm's running statistics); any other attribute a forward
    rule sets is there for its ``vjp`` in the same step.
    ``needs_input_grad`` (one bool per input port, as in PyTorch) tells a
    ``vjp`` which gradients will be used, so that it may skip the others and
    return ``None`` for them. ``needs_output`` (one bool per output port, or
    None for all) tells a ``forward`` which outputs anything reads, so that
    it may return ``None`` for the others (an LSTM whose sequence output ``y``
    goes nowhere).
    """

    def __init__(self, training=True, rng=None, state=None, needs_input_grad=None,
                 needs_output=None):
        self.training = training
        self.rng = rng
        self.state = {} if state is None else state
        self.needs_input_grad = needs_input_grad
        self.needs_output = needs_output


class Attr:
    """An attribute's kind, default and valid range.

    Kinds: ``int``, ``float``, ``bool``, ``str`` (with ``choices``), ``pair``
    (int or two ints, normalised to a 2-tuple), ``ints`` (int or list of ints,
    normalised to a tuple of length ``n``), ``padding`` (int, pair or one of
    ``"valid"``, ``"same"``, ``"full"``; or 2·n ints, the padding before each
    axis then after each, normalised to one ``(before, after)`` per axis when
    they differ), ``axes`` (None, int or list of ints),
    ``shape`` (list of ints and symbolic dimension names), ``init`` (a name or
    a number), ``value`` (a number or nested lists of numbers), ``dtype``.
    """

    def __init__(self, kind, default=REQUIRED, *, min=None, max=None,
                 choices=None, n=None, doc=""):
        self.kind = kind
        self.default = default
        self.min = min
        self.max = max
        self.choices = tuple(choices) if choices else None
        self.n = n
        self.doc = doc

    @property
    def required(self):
        return self.default is REQUIRED

    def normalise(self, value, name):
        """Return the value in canonical form; raise ``AttrError`` if invalid."""
        kind = self.kind
        if kind == "int":
            return self._range(_int(value, name), name)
        if kind == "float":
            if not _is_number(value):
                raise AttrError(f"attribute '{name}' must be a number, got {value!r}")
            return self._range(float(value), name)
        if kind == "bool":
            if not isinstance(value, bool):
                raise AttrError(f"attribute '{name}' must be true or false, got "
                                f"{value!r}")
            return value
        if kind == "str":
            if not isinstance(value, str) or (self.choices
                                               and value not in self.choices):
                raise AttrError(f"attribute '{name}' must be one of "
                                f"{', '.join(map(repr, self.choices))}, got {value!r}")
            return value
        if kind in ("pair", "ints"):
            n = 2 if kind == "pair" else self.n
            if isinstance(value, (list, tuple)):
                if n is not None and len(value) != n:
                    raise AttrError(f"attribute '{name}' must be an integer or a "
                                    f"list of {n} integers, got {value!r}")
                vals = tuple(_int(v, name) for v in value)
            else:
                vals = (_int(value, name),) * (n or 1)
            for v in vals:
                self._range(v, name)
            return vals
        if kind == "padding":
            if isinstance(value, str):
                if value not in ("valid", "same", "full"):
                    raise AttrError(f"attribute '{name}' must be an integer, a pair, "
                                    f"or 'valid', 'same', 'full', got {value!r}")
                return value
            n = self.n
            if n and isinstance(value, (list, tuple)) and len(value) == 2 * n:
                # before… then after…, as ONNX's pads: one (before, after) per axis
                flat = Attr("ints", n=2 * n, min=0).normalise(value, name)
                pairs = tuple(zip(flat[:n], flat[n:]))
                if all(b == a for b, a in pairs):
                    return flat[:n]
                return pairs
            vals = Attr("ints", n=self.n, min=0).normalise(value, name)
            return vals
        if kind == "axes":
            if value is None:
                return None
            if isinstance(value, (list, tuple)):
                return tuple(_int(v, name) for v in value)
            return _int(value, name)
        if kind == "shape":
            if not isinstance(value, (list, tuple)):
                raise AttrError(f"attribute '{name}' must be a list of sizes, got "
                                f"{value!r}")
            out = []
            for d in value:
                if isinstance(d, str) and d.isidentifier():
                    out.append(d)
                elif isinstance(d, bool) or not isinstance(d, int) or d < (
                        -1 if self.min == -1 else 0):
                    raise AttrError(f"attribute '{name}' holds {d!r}: sizes are "
                                    "non-negative integers or names such as \"N\"")
                else:
                    out.append(d)
            return tuple(out)
        if kind == "init":
            if _is_number(value):
                return float(value)
            if value not in self.choices:
                raise AttrError(f"attribute '{name}' must be a number or one of "
                                f"{', '.join(self.choices)}, got {value!r}")
            return value
        if kind == "value":
            if value is None and self.default is None:
                return None
            _check_nested_numbers(value, name)
            return value
        if kind == "dtype":
            if value not in ("float32", "float64", "int64"):
                raise AttrError(f"attribute '{name}' must be 'float32', 'float64' or "
                                f"'int64', got {value!r}")
            return value
        raise AssertionError(f"unknown attribute kind {kind!r}")

    def _range(self, v, name):
        if self.min is not None and v < self.min:
            raise AttrError(f"attribute '{name}' must be at least {self.min}, got {v}")
        if self.max is not None and v > self.max:
            raise AttrError(f"attribute '{name}' must be at most {self.max}, got {v}")
        return v


def _is_number(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _int(v, name):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        if isinstance(v, float) and v.is_integer():
            return int(v)
        raise AttrError(f"attribute '{name}' must be an integer, got {v!r}")
    return int(v)


def _check_nested_numbers(v, name):
    if isinstance(v, (list, tuple)):
        if not v:
            return
        for item in v:
            _check_nested_numbers(item, name)
    elif isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise AttrError(f"attribute '{name}' must be a number or nested lists of "
                        f"numbers, got {v!r}")
    elif not _fits_float64(v):
        text = (f"an integer of {len(str(abs(v)))} digits" if isinstance(v, int) else
                "NaN" if math.isnan(v) else "a number beyond ±1.8e308 (read as "
                "infinity)")
        raise AttrError(f"attribute '{name}' holds {text}: numbers must be finite and "
                        "within float64's range (about ±1.8e308)")


def _fits_float64(v):
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


class Op:
    """Base of all ops; subclasses declare ports, attributes and rules.

    Class attributes
    ----------------
    inputs : tuple of str
        Input port names, in order; a trailing ``?`` marks an optional port.
    outputs : tuple of str
        Output port names; the first is the default source of an edge.
    attrs : dict of str to Attr
    family : str
        One of :data:`FAMILIES`.
    template : str, optional
        Inline NumPy form for generated code, with ``{port}`` and ``{attr}``
        placeholders (``"np.tanh({x})"``). Ops without one are called as kernels.
    vjp_templates : dict of str to str
        Inline NumPy form of each input's gradient, with ``{g}`` (arriving
        gradient), ``{out}``, port and attribute placeholders.
    formulas : dict of str to (str, callable)
        Tensor ops: LaTeX matrix-calculus form of each input's gradient, and
        its NumPy transcription.
    nondiff : tuple of str
        Input ports that never receive a gradient (labels, indices).
    int_inputs, int_outputs : tuple of str
        Ports that carry integer tensors (a max-pool's indices); a float
        tensor wired into an ``int_inputs`` port is refused at check.
    batching : str or None
        How the op treats the examples of a batch (axis 0), so that a batch
        can be cut into chunks that run in parallel (:mod:`graphlab.parallel`):
        ``"map"`` (each example on its own, through ``batch_ports``),
        ``"linear"`` (an affine combination of its inputs), ``"mean"`` or
        ``"sum"`` (over the examples), or None (mixes examples; never cut).
    vjp_reads_out : bool
        Whether ``vjp`` reads the forward outputs ``out`` (kernel ops only;
        when it does not, backward keeps them no longer than forward needs).
    batch_ports : tuple of str, optional
        With ``"map"``: the input ports that may carry the batch (default:
        all); the others must not depend on it (weights).
    batch_mixing : str
        What to say when ``batching`` is None: how the op mixes examples.
    recurrence : Recurrence or None
        Recurrent ops: their gates, the state they carry from step to step and
        one time step as ops of the catalog
        (:class:`graphlab.ops.recurrent.Recurrence`).
    """

    name = None
    family = None
    inputs = ()
    outputs = ("out",)
    attrs = {}
    template = None
    vjp_templates = {}
    formulas = {}
    nondiff = ()
    int_inputs = ()
    int_outputs = ()
    elementwise = False
    vjp_reads_out = True
    batching = None
    batch_ports = None
    batch_mixing = "mixes the examples of the batch"
    recurrence = None

    # ---- declaration helpers -------------------------------------------------
    @property
    def input_ports(self):
        """Input port names without the optional marker."""
        return tuple(p.rstrip("?") for p in self.inputs)

    @property
    def required_inputs(self):
        return tuple(p for p in self.inputs if not p.endswith("?"))

    @property
    def optional_inputs(self):
        return tuple(p.rstrip("?") for p in self.inputs if p.endswith("?"))

    @property
    def doc(self):
        """The first line of the op's docstring."""
        doc = type(self).__doc__
        return doc.strip().splitlines()[0] if doc else ""

    def resolve_attrs(self, attrs, *, node=None):
        """Validate ``attrs`` (as written in a file) and fill in defaults.

        Raises
        ------
        AttrError
            Naming the attribute: unknown, missing, or of the wrong type or range.
        """
        attrs = attrs or {}
        if not isinstance(attrs, dict):
            raise AttrError(f"{self.name}: 'attrs' must be an object, got {attrs!r}",
                            node=node)
        out = {}
        for key in attrs:
            if key not in self.attrs:
                close = difflib.get_close_matches(key, self.attrs, n=1)
                known = ", ".join(self.attrs) or "none"
                hint = f"did you mean '{close[0]}'?" if close else f"known: {known}"
                raise AttrError(f"{self.name} has no attribute '{key}' ({hint})",
                                node=node)
        for key, spec in self.attrs.items():
            if key in attrs:
                try:
                    out[key] = spec.normalise(attrs[key], key)
                except AttrError as e:
                    raise AttrError(f"{self.name}: {e.message}", node=node) from None
            elif spec.required:
                raise AttrError(f"{self.name} needs attribute '{key}'"
                                + (f" ({spec.doc})" if spec.doc else ""), node=node)
            else:
                out[key] = spec.default
        self.check_attrs(out, node=node)
        return out

    def check_attrs(self, attrs, *, node=None):
        """Cross-attribute checks; override where attributes constrain each other."""

    # ---- rules ------------------------------------------------------------------
    def shape(self, *shapes, **attrs):
        raise NotImplementedError(f"{self.name}: no shape rule")

    def forward(self, ctx, *inputs, **attrs):
        raise NotImplementedError(f"{self.name}: no forward rule")

    def vjp(self, ctx, g, out, *inputs, **attrs):
        raise NotImplementedError(f"{self.name}: no vjp rule")

    def sympy(self, *symbols, **attrs):
        raise NotImplementedError(f"{self.name}: no scalar SymPy form")

    def formulas_for(self, training, state=None):
        """The ``formulas`` that hold in training or evaluation mode.

        Override where the mode changes the gradient (Dropout is the identity
        when not training; BatchNorm's running statistics, ``state``, are
        constants when not training).
        """
        return self.formulas

    def grad_broadcasts(self, port, in_shapes, out_shapes):
        """Whether the VJP's gradient for ``port`` may have another shape than
        that input, so that the backward walker must sum it back
        (:func:`unbroadcast`). Default: the input may have been broadcast
        against the first output, as elementwise ops broadcast."""
        i = self.input_ports.index(port)
        return may_broadcast(in_shapes[i], out_shapes[0])

    def batching_for(self, attrs, training, ranks):
        """``(batching, batch_ports)`` under ``attrs``, the mode and the input
        ranks (None for an absent input).

        Override where they decide: a softmax over axis 0 mixes examples, and
        BatchNorm does while training.
        """
        ports = self.input_ports if self.batch_ports is None else self.batch_ports
        return self.batching, ports

    def vjp_template(self, port, attrs):
        """The inline gradient form for ``port`` under ``attrs``, or ``None``.

        Override where the form depends on an attribute's value.
        """
        return self.vjp_templates.get(port)

    def parameters(self, attrs):
        """Number of trainable numbers this node holds (Parameter nodes only)."""
        return 0

    def macs(self, in_shapes, out_shapes, **attrs):
        """Multiply-adds for one example (the batch dimension counted as 1)."""
        return 0

    def calls(self, in_shapes, out_shapes, **attrs):
        """Roughly how many NumPy calls ``forward`` makes (a loop over time
        steps makes many small ones): tells whether a chunk of a batch gives
        each call enough work to pay for running chunks on threads."""
        return 1

    def __repr__(self):
        return f"<op {self.name}>"


def along_axis_batching(op, attrs, training, ranks):
    """``Op.batching_for`` of an op working along its ``axis`` attribute (a
    softmax, a concatenation): each example on its own, unless that axis is 0,
    the batch. Assign it as the method: ``batching_for = along_axis_batching``."""
    rank = ranks[0]
    if rank and attrs["axis"] % rank != 0:
        return "map", op.input_ports
    return None, ()


def may_broadcast(in_shape, out_shape):
    """Whether ``in_shape`` may have been broadcast to ``out_shape`` (NumPy's
    rules, a symbolic dimension agreeing with any size)."""
    in_shape, out_shape = tuple(in_shape), tuple(out_shape)
    if in_shape == out_shape or len(in_shape) > len(out_shape):
        return False
    tail = out_shape[len(out_shape) - len(in_shape):]
    return all(a == 1 or a == b or isinstance(a, str) or isinstance(b, str)
               for a, b in zip(in_shape, tail))


def unbroadcast(g, shape):
    """Sum a broadcast gradient back to ``shape`` (the input's shape)."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, (a, b) in enumerate(zip(g.shape, shape)) if b == 1 and a != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)
