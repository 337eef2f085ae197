"""The one mapping from graphlab ops to PyTorch: a graph → one ``nn.Module`` class.

Assumes a checked graph. :func:`module_source` lowers the graph (as the
executor does, without a backward pass) and writes, per step, the PyTorch
call that computes it: one line of ``forward`` per node, with the node id as
a comment. :func:`graphlab.to_torch` executes exactly this source and
:func:`graphlab.torch.to_source` prints it, so that the module a program
trains and the file a person keeps cannot disagree.

Each rule in ``RULES`` takes the step and its input expressions and returns one
expression: a ``torch`` / ``F`` call where PyTorch has the op as one call, or a
call of a function of :mod:`graphlab.torch.helpers` where it needs a few (TF-style
"same" padding with an odd total, Maxout, MaxUnpool2D with per-plane indices,
the divergences, recurrent layers). Window geometry is worked out here when the
spatial sizes are known, so that the common case prints as a plain ``F`` call.
"""

import keyword
import re

from ..lower import lower
from ..shapes import fmt

__all__ = ["RULES", "ModuleSource", "module_source", "class_name_for"]

# Names the generated code uses itself; node variables never take them.
_TAKEN = {"torch", "F", "nn", "math", "self", "np", "numpy", "sys", "os"}


def _lit(v):
    """A Python literal of an attribute value (tuples for pairs)."""
    if isinstance(v, list):
        v = tuple(v)
    return repr(v)


def _known(sizes):
    return all(isinstance(s, int) for s in sizes)


# ---- the rules: step, input expressions → one PyTorch expression -----------------

def _window_call(step, x, kernel, stride, dilation, padding, fn, extra="",
                 groups=1):
    """A convolution-like ``F`` call: symmetric padding inline, else F.pad first."""
    from .helpers import pads
    sizes = step.in_shapes[0][2:]
    if isinstance(padding, str) and _known(sizes):
        widths = [pads(s, k, st, d, padding)
                  for s, k, st, d in zip(sizes, kernel, stride, dilation)]
        if all(a == b for a, b in widths):
            padding = tuple(a for a, _ in widths)
        else:  # the odd one on the right/bottom: pad, then convolve unpadded
            flat = [n for a, b in reversed(widths) for n in (a, b)]
            x = f"F.pad({x}, {_lit(tuple(flat))})"
            padding = tuple(0 for _ in widths)
    elif isinstance(padding, str):  # sizes known only at run time
        x = (f"pad_window({x}, {_lit(kernel)}, {_lit(stride)}, {_lit(dilation)}, "
             f"{padding!r})")
        padding = tuple(0 for _ in kernel)
    args = ""
    if any(s != 1 for s in stride):
        args += f", stride={_lit(stride)}"
    if any(padding):
        args += f", padding={_lit(tuple(padding))}"
    if any(d != 1 for d in dilation):
        args += f", dilation={_lit(dilation)}"
    if groups != 1:
        args += f", groups={groups}"
    return f"{fn}({x}{extra}{args})"


def _conv(fn):
    def rule(step, x, w, b=None):
        a = step.attrs
        kernel = tuple(step.in_shapes[1][2:])
        return _window_call(step, x, kernel, tuple(a["stride"]), tuple(a["dilation"]),
                            a["padding"], fn, f", {w}, {b}", a.get("groups", 1))
    return rule


def _conv_transpose2d(step, x, w, b=None):
    a = step.attrs
    return (f"F.conv_transpose2d({x}, {w}, {b}, stride={_lit(a['stride'])}, "
            f"padding={_lit(a['padding'])}, output_padding={_lit(a['output_padding'])}"
            f", dilation={_lit(a['dilation'])}" + (
                f", groups={a['groups']})" if a.get("groups", 1) != 1 else ")"))


def _pool_symmetric(step):
    """The pool's padding as a pair when it pads both sides alike, else None."""
    from .helpers import pads
    a, sizes = step.attrs, step.in_shapes[0][2:]
    padding = a["padding"]
    if not isinstance(padding, str):
        return tuple(padding)
    if not _known(sizes):
        return None
    widths = [pads(s, k, st, 1, padding)
              for s, k, st in zip(sizes, a["kernel"], a["stride"])]
    return tuple(p for p, _ in widths) if all(p == q for p, q in widths) else None


def _max_pool2d(step, x):
    a = step.attrs
    with_indices = step.outputs[1] in step.used
    sym = _pool_symmetric(step)
    if sym is None:
        return (f"max_pool2d({x}, {_lit(a['kernel'])}, {_lit(a['stride'])}, "
                f"{a['padding']!r}, {with_indices})")
    call = (f"F.max_pool2d({x}, {_lit(a['kernel'])}, {_lit(a['stride'])}, "
            f"{_lit(sym)}")
    return call + (", return_indices=True)" if with_indices else ")")


def _avg_pool2d(step, x):
    a = step.attrs
    sym = _pool_symmetric(step)
    count = a.get("count_include_pad", True)
    if sym is None:
        return (f"avg_pool2d({x}, {_lit(a['kernel'])}, {_lit(a['stride'])}, "
                f"{a['padding']!r}" + (")" if count else ", False)"))
    return (f"F.avg_pool2d({x}, {_lit(a['kernel'])}, {_lit(a['stride'])}, "
            f"{_lit(sym)}" + (")" if count or not any(sym) else
                              ", count_include_pad=False)"))


def _max_unpool2d(step, x, indices):
    size = tuple(step.out_shapes[0][2:])
    if not _known(size):  # sizes known at run time: the pool's input size
        a = step.attrs
        size = "(" + ", ".join(
            f"({x}.shape[{2 + i}] - 1) * {a['stride'][i]} - {2 * a['padding'][i]} + "
            f"{a['kernel'][i]}" for i in range(2)) + ")"
        return f"max_unpool2d({x}, {indices}, {size})"
    return f"max_unpool2d({x}, {indices}, {_lit(size)})"


def _axes(axis):
    return axis if not isinstance(axis, (list, tuple)) else tuple(axis)


def _reduce(fn):
    def rule(step, x):
        a = step.attrs
        if a["axis"] is None:
            full = f"torch.{fn}({x})"
            if not a["keepdims"]:
                return full
            rank = len(step.in_shapes[0])
            return f"{full}.reshape({_lit((1,) * rank)})"
        return (f"torch.{fn}({x}, dim={_lit(_axes(a['axis']))}, "
                f"keepdim={a['keepdims']})")
    return rule


def _reshape(step, x):
    dims = ", ".join(f"{x}.shape[0]" if d == "N" else str(d)
                     for d in step.attrs["shape"])
    return f"{x}.reshape({dims})" if dims else f"{x}.reshape(())"


def _transpose(step, x):
    perm = step.attrs["perm"]
    rank = len(step.in_shapes[0])
    perm = tuple(reversed(range(rank))) if perm is None else tuple(p % rank
                                                                   for p in perm)
    return f"{x}.permute{_lit(perm)}" if len(perm) > 1 else f"{x}.permute({perm[0]},)"


def _batchnorm(step, x, gamma, beta):
    a = step.attrs
    stats = f"self.{step.attr_name}"
    return (f"F.batch_norm({x}, {stats}.running_mean, {stats}.running_var, {gamma}, "
            f"{beta}, self.training, {a['momentum']!r}, {a['eps']!r})")


def _recurrent(fn):
    def rule(step, x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None):
        args = [x, w_ih, w_hh, b_ih, b_hh, h0] + ([c0] if fn == "lstm" else [])
        tail = f", {step.attrs['nonlinearity']!r}" if fn == "rnn" else ""
        return f"{fn}({', '.join(str(v) for v in args)}{tail})"
    return rule


def _cross_entropy(step, z, y):
    if len(step.in_shapes[0]) == 3:  # sequences N×T×C: PyTorch wants C second
        return f"F.cross_entropy({z}.transpose(1, 2), {y}.long())"
    return f"F.cross_entropy({z}, {y}.long())"


def _upsample2d(step, x):
    a = step.attrs
    return f"upsample2d({x}, {_lit(a['scale'])}, {a['mode']!r})"


RULES = {
    "Add": lambda s, a, b: f"{a} + {b}",
    "Sub": lambda s, a, b: f"{a} - {b}",
    "Mul": lambda s, a, b: f"{a} * {b}",
    "Div": lambda s, a, b: f"{a} / {b}",
    "Maximum": lambda s, a, b: f"torch.maximum({a}, {b})",
    "Neg": lambda s, x: f"-{x}",
    "Exp": lambda s, x: f"torch.exp({x})",
    "Log": lambda s, x: f"torch.log({x})",
    "Sqrt": lambda s, x: f"torch.sqrt({x})",
    "Abs": lambda s, x: f"torch.abs({x})",
    "Pow": lambda s, x: f"torch.pow({x}, {s.attrs['exponent']!r})",
    "Sigmoid": lambda s, x: f"torch.sigmoid({x})",
    "Tanh": lambda s, x: f"torch.tanh({x})",
    "ReLU": lambda s, x: f"F.relu({x})",
    "LeakyReLU": lambda s, x: f"F.leaky_relu({x}, {s.attrs['alpha']!r})",
    "ELU": lambda s, x: f"F.elu({x}, {s.attrs['alpha']!r})",
    "Softmax": lambda s, x: f"F.softmax({x}, dim={s.attrs['axis']})",
    "LogSoftmax": lambda s, x: f"F.log_softmax({x}, dim={s.attrs['axis']})",
    "Maxout": lambda s, x: f"maxout({x}, {s.attrs['pieces']}, {s.attrs['axis']})",
    "MatMul": lambda s, a, b: f"torch.matmul({a}, {b})",
    "Linear": lambda s, x, w, b=None: f"F.linear({x}, {w}, {b})",
    "Transpose": _transpose,
    "Reshape": _reshape,
    "Flatten": lambda s, x: f"torch.flatten({x}, {s.attrs['start_axis']})",
    "Concat": lambda s, a, b: f"torch.cat(({a}, {b}), dim={s.attrs['axis']})",
    "Sum": _reduce("sum"),
    "Mean": _reduce("mean"),
    "Conv1D": _conv("F.conv1d"),
    "Conv2D": _conv("F.conv2d"),
    "ConvTranspose2D": _conv_transpose2d,
    "MaxPool2D": _max_pool2d,
    "AvgPool2D": _avg_pool2d,
    "MaxUnpool2D": _max_unpool2d,
    "Upsample2D": _upsample2d,
    "Dropout": lambda s, x: f"dropout({x}, {s.attrs['p']!r}, self.training)",
    "BatchNorm": _batchnorm,
    "L1Penalty": lambda s, x: f"{s.attrs['weight']!r} * torch.abs({x}).sum()",
    "L2Penalty": lambda s, x: f"0.5 * {s.attrs['weight']!r} * ({x} * {x}).sum()",
    "Embedding": lambda s, x, w: f"F.embedding({x}.long(), {w})",
    "RNN": _recurrent("rnn"),
    "LSTM": _recurrent("lstm"),
    "GRU": _recurrent("gru"),
    "MSELoss": lambda s, p, t: f"F.mse_loss({p}, {t})",
    "CrossEntropyLoss": _cross_entropy,
    "KLDivLoss": lambda s, p, q: f"kl_div({p}, {q})",
    "JSDivLoss": lambda s, p, q: f"js_div({p}, {q})",
}

_HELPER_CALL = re.compile(r"(?<![\w.])(max_pool2d|avg_pool2d|max_unpool2d|maxout|"
                          r"dropout|kl_div|js_div|rnn|lstm|gru|upsample2d|"
                          r"pad_window)\(")


# ---- the class ---------------------------------------------------------------------

class ModuleSource:
    """The class source and what it declares.

    Attributes
    ----------
    source : str
        ``class <name>(nn.Module): ...``.
    class_name : str
    params : list of (node id, attribute, shape, trainable)
    stats : list of (node id, attribute, channels)
        BatchNorm nodes, whose running statistics are buffers of a ``Stats``.
    inputs : list of (node id, argument, shape, dtype)
    outputs : list of (ref, variable)
    helpers : list of str
        Functions of :mod:`graphlab.torch.helpers` the source calls.
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def attr_of(self, key):
        """The module attribute of a graph params key (``bn.running_mean`` too)."""
        node, _, rest = key.partition(".")
        names = {n: a for n, a, *_ in self.params}
        names.update({n: a for n, a, _ in self.stats})
        return names[node] + ("." + rest if rest else "") if node in names else None


def class_name_for(graph):
    """A CamelCase class name from the graph file's name (``lstm_digits.graph.json``
    → ``LstmDigits``), else from the graph's name up to a colon."""
    import os
    path = getattr(graph, "path", None)
    text = os.path.basename(path).split(".")[0] if path else \
        (graph.name or "").split(":")[0]
    words = re.findall(r"[A-Za-z0-9]+", text)
    name = "".join(w[:1].upper() + w[1:] for w in words[:4]) or "Graph"
    return ("Graph" + name if name[0].isdigit() else name)[:40]


def module_source(graph, outputs=None, class_name=None):
    """The ``nn.Module`` class that computes ``graph`` (see the module docstring).

    Parameters
    ----------
    graph : Graph
        A checked graph.
    outputs : list of str, optional
        Refs ``forward`` returns (default: the graph's outputs).
    class_name : str, optional

    Returns
    -------
    ModuleSource
    """
    import torch.nn as nn
    sched = lower(graph, outputs=outputs, grad=False)
    used = {v for s in sched.forward for v in s.inputs if v} | {
        v for _, v in sched.outputs}
    reserved = set(_TAKEN) | set(dir(nn.Module)) | set(RULES)
    from . import helpers
    reserved |= set(helpers.HELPERS)

    def safe(name):
        while name in reserved or keyword.iskeyword(name):
            name += "_"
        return name

    local = {}  # schedule variable → local name in forward
    taken = set()

    def local_name(v):
        if v not in local:
            n = safe(v)
            while n in taken:
                n += "_"
            taken.add(n)
            local[v] = n
        return local[v]

    init, body = [], []
    params, stats, inputs = [], [], []
    attr_used = set()

    def attr_name(node):
        a = safe(node)
        while a in attr_used:
            a += "_"
        attr_used.add(a)
        return a

    expr = {}  # variable → expression it is read as
    for node, (v, shape, trainable) in sched.params.items():
        a = attr_name(node)
        params.append((node, a, tuple(shape), trainable))
        zeros = f"torch.zeros({', '.join(map(str, shape))})" if shape else \
            "torch.zeros(())"
        if trainable:
            init.append(f"self.{a} = nn.Parameter({zeros})")
        else:
            init.append(f"self.register_buffer({a!r}, {zeros})  # frozen")
        expr[v] = f"self.{a}"
    for node, (v, value) in sched.constants.items():
        a = attr_name(node)
        init.append(f"self.register_buffer({a!r}, torch.tensor({value.tolist()!r}), "
                    "persistent=False)  # Constant")
        expr[v] = f"self.{a}"
    for node, (v, shape, dtype) in sched.inputs.items():
        arg = local_name(v) if v == node else None
        inputs.append((node, arg, tuple(shape), dtype))
        expr[v] = local_name(v)
    signature = all(arg == node for node, arg, *_ in inputs)
    if not signature:  # an Input id that is not a usable argument name
        body.append("# Inputs arrive by id, as feeds[\"id\"].")
        for node, (v, _, _) in sched.inputs.items():
            body.append(f"{expr[v]} = feeds[{node!r}]")

    names = set()
    for step in sched.forward:
        op = step.op.name
        rule = RULES.get(op)
        if rule is None:
            raise NotImplementedError(f"no PyTorch form for {op}")
        step.used = used
        if op == "BatchNorm":
            step.attr_name = attr_name(step.node)
            channels = step.in_shapes[0][1]
            if not isinstance(channels, int):
                raise NotImplementedError("BatchNorm needs a known channel count")
            stats.append((step.node, step.attr_name, channels))
            init.append(f"self.{step.attr_name} = Stats({channels})  # running "
                        "statistics")
        args = [expr[v] if v else None for v in step.inputs]
        text = rule(step, *args)
        outs = [local_name(v) for v in step.outputs]
        for v, n in zip(step.outputs, outs):
            expr[v] = n
        if op == "MaxPool2D" and step.outputs[1] not in used:
            lhs = outs[0]
        else:
            lhs = ", ".join(outs)
        shape = " → ".join(fmt(s) if s else "scalar" for s in step.out_shapes[:1])
        body.append(f"{lhs} = {text}  # {step.node}: {op}, {shape}")
        names.update(m.group(1) for m in _HELPER_CALL.finditer(text))
    ret = ", ".join(f"{ref!r}: {expr[v]}" for ref, v in sched.outputs)
    body.append(f"return {{{ret}}}")

    helpers_used = set(names) | ({"Stats"} if stats else set())
    todo = list(helpers_used)
    while todo:
        for dep in helpers.HELPERS[todo.pop()]:
            if dep not in helpers_used:
                helpers_used.add(dep)
                todo.append(dep)

    cls = class_name or class_name_for(graph)
    args = ", ".join(["self"] + [arg for _, arg, *_ in inputs]) if signature else \
        "self, **feeds"
    doc = graph.name or "graph"
    lines = [f"class {cls}(nn.Module):",
             f'    """{doc}"""',
             "",
             "    def __init__(self):",
             "        super().__init__()"]
    lines += ["        " + ln for ln in init]
    lines += ["", f"    def forward({args}):"]
    lines += ["        " + ln for ln in body]
    return ModuleSource(source="\n".join(lines) + "\n", class_name=cls,
                        params=params, stats=stats, inputs=inputs,
                        outputs=list(sched.outputs),
                        helpers=[h for h in helpers.HELPERS if h in helpers_used],
                        schedule=sched)
