"""``to_source``: a graph as standalone PyTorch source a person can keep.

Assumes a graph that passes :meth:`Graph.check`. The file holds the helper
functions the graph needs (copied from :mod:`graphlab.torch.helpers`), the one
``nn.Module`` class that :func:`graphlab.to_torch` executes (the same text),
``load_weights`` for a graphlab ``.npz`` (arrays keyed by node id), and a
``__main__`` block that loads the weights and runs the model once. It imports
only ``numpy`` and ``torch``.
"""

import inspect
import os

import numpy as np

from . import helpers
from .emit import module_source

__all__ = ["to_source", "write_export", "export_values"]

_HEADER = '''"""{name}: PyTorch source exported by graphlab{origin}.

    python {stem}.py [WEIGHTS.npz]

loads the weights (default: {stem}.npz beside this file, arrays keyed by
graphlab node id) and runs the model once on {what}. In your
own code: ``model = {cls}(); load_weights(model, "{stem}.npz")``.
"""

import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
'''

_LOADER = '''

def load_weights(module, path):
    """Copy a graphlab ``.npz`` (arrays keyed by node id; BatchNorm statistics as
    ``<node>.running_mean``) into ``module``; returns the module."""
    renamed = {renamed}
    state = module.state_dict()
    with np.load(path) as arrays:
        for key in arrays.files:
            node, dot, rest = key.partition(".")
            name = renamed.get(node, node) + dot + rest
            if name in state:
                with torch.no_grad():
                    state[name].copy_(torch.from_numpy(arrays[key]))
    return module
'''


def _class_count(graph, report, node):
    """Classes an integer Input indexes: the last size of the logits of the
    CrossEntropyLoss it is the target of (2 when none says)."""
    for e in graph.out_edges(node):
        if graph.node(e.dst).op == "CrossEntropyLoss" and e.dst_port == "target":
            logits = graph.in_edges(e.dst).get("logits")
            if logits is not None:
                port = graph.node(logits.src).output_ports.index(logits.src_port)
                shape = report.shapes.get(logits.src, [None] * (port + 1))[port]
                if shape and isinstance(shape[-1], int):
                    return shape[-1]
    return 2


def _example(graph, info):
    """Source lines building example feeds for ``__main__``."""
    report = graph.analyse()
    lines = []
    for node, arg, shape, dtype in info.inputs:
        value = graph.node(node).resolved["value"]
        size = ", ".join("2" if isinstance(d, str) else str(d) for d in shape)
        size = f"({size},)" if len(shape) == 1 else f"({size})"
        if value is not None:
            kind = "torch.int64" if not dtype.startswith("float") else "torch.float32"
            lines.append(f"{node!r}: torch.tensor({np.asarray(value).tolist()!r}, "
                         f"dtype={kind}),")
        elif dtype.startswith("float"):
            lines.append(f"{node!r}: torch.rand{size},")
        else:
            c = _class_count(graph, report, node)
            lines.append(f"{node!r}: torch.randint(0, {c}, {size}),")
    return lines


def to_source(graph, *, outputs=None, class_name=None, origin=None, stem="model"):
    """Standalone PyTorch source for ``graph``.

    Parameters
    ----------
    graph : Graph
        A checked graph.
    outputs : list of str, optional
        Refs ``forward`` returns (default: the graph's outputs).
    class_name : str, optional
        Default: from the graph's name (``Lenet5``).
    origin : str, optional
        The graph file's name, for the header.
    stem : str
        The file's name without ``.py``, for the header's usage lines.

    Returns
    -------
    str
        Python source that imports only NumPy and PyTorch.

    Examples
    --------
    >>> import graphlab as gl
    >>> src = to_source(gl.load("samples/cs231n.graph.json"))
    >>> "q = x + y  # q: Add, scalar" in src
    True
    """
    graph.check()
    info = module_source(graph, outputs=outputs, class_name=class_name)
    what = ("the graph's Input values" if all(
        graph.node(n).resolved["value"] is not None for n, *_ in info.inputs)
        else "random inputs of the right shapes (N = 2)")
    source = f" from {os.path.basename(origin)}" if origin else ""
    parts = [_HEADER.format(name=graph.name or "graph", cls=info.class_name,
                            origin=source,
                            stem=stem, what=what)]
    for name in info.helpers:
        text = helpers.STATS_SOURCE if name == "Stats" else inspect.getsource(
            getattr(helpers, name))
        parts.append("\n\n" + text.rstrip("\n") + "\n")
    parts.append("\n\n" + info.source)
    renamed = {n: a for n, a, *_ in info.params if a != n}
    renamed.update({n: a for n, a, _ in info.stats if a != n})
    parts.append(_LOADER.format(renamed=repr(renamed)))
    feeds = "\n".join("        " + ln for ln in _example(graph, info))
    parts.append(f'''

if __name__ == "__main__":
    torch.manual_seed(0)
    weights = sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_suffix(".npz")
    model = load_weights({info.class_name}(), weights).eval()
    feeds = {{
{feeds}
    }}
    with torch.no_grad():
        for ref, value in model(**feeds).items():
            print(ref, tuple(value.shape), value.flatten()[:6].tolist())
''')
    return "".join(parts)


def export_values(graph, outputs=None, seed=0):
    """``{key: array}``: every value the exported module loads (Parameters as the
    executor starts from them, BatchNorm statistics where the graph has them)."""
    from ..lower import lower
    from ..program import init_params
    sched = lower(graph, outputs=outputs, grad=False)
    values = {k: v for k, v in init_params(graph, sched, np.float64, seed).items()
              if k in sched.params}
    values.update({k: np.asarray(v) for k, v in graph.params.items() if "." in k})
    return values


def write_export(graph, path, *, outputs=None, origin=None):
    """Write ``path`` (``.py``) and its weights beside it (same stem, ``.npz``).

    Returns the weights' path. Both writes are atomic.
    """
    from ..io import _atomic_write, save_params
    stem = os.path.splitext(os.path.basename(path))[0]
    src = to_source(graph, outputs=outputs, origin=origin, stem=stem)
    weights = os.path.splitext(path)[0] + ".npz"
    save_params(export_values(graph, outputs), weights)
    _atomic_write(path, lambda f: f.write(src.encode("utf-8")))
    return weights
