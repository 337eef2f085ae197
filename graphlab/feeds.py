"""Random values for a graph's Inputs: the one range every tool draws from.

``graphlab test`` and the pytest plugin (gradient checks, training steps),
``graphlab bench`` (timing on data of the right shapes) and the chain-rule view
(``explain`` at a point nobody gave) all use :func:`random_feeds`:

- float Inputs: uniform in [0.1, 1), positive so that ``Log`` and ``Sqrt`` of
  an Input stay finite;
- integer Inputs: class labels uniform in [0, C), C the class count of the
  ``CrossEntropyLoss`` they feed as target (the logits' last dimension), 2
  when no consumer says;
- symbolic dimensions (``"N"``): the batch size.
"""

import numpy as np

from .errors import ExecutionError
from .shapes import fmt

__all__ = ["random_feeds", "class_count", "LOW", "HIGH"]

LOW, HIGH = 0.1, 1.0


def class_count(graph, node, report=None):
    """Classes the integer Input ``node`` may hold: the last dimension of the
    logits of the ``CrossEntropyLoss`` it feeds as target, else 2."""
    for e in graph.out_edges(node):
        if graph.node(e.dst).op == "CrossEntropyLoss" and e.dst_port == "target":
            logits = graph.in_edges(e.dst).get("logits")
            if logits is None:
                continue
            report = graph.analyse() if report is None else report
            port = graph.node(logits.src).output_ports.index(logits.src_port)
            shapes = report.shapes.get(logits.src)
            if shapes and shapes[port] and isinstance(shapes[port][-1], int):
                return shapes[port][-1]
    return 2


def random_feeds(graph, inputs, *, batch=2, seed=0, sizes=None):
    """Seeded random values for Inputs of ``graph`` (the range in the module
    docstring).

    Parameters
    ----------
    graph : Graph
    inputs : dict
        ``{Input id: (shape, dtype)}`` (or ``(var, shape, dtype)``, as a
        schedule's ``inputs`` holds them), in the order to draw them.
    batch : int
        Size of every symbolic dimension that ``sizes`` does not fix.
    seed : int or numpy.random.Generator
    sizes : dict, optional
        ``{symbol: size}`` already fixed; symbols met are added to it.

    Returns
    -------
    dict of str to ndarray
        float64 floats, int64 labels.

    Raises
    ------
    ExecutionError
        A batch too big for memory, naming the Input and the bytes it needs.

    Examples
    --------
    >>> import graphlab as gl
    >>> g = gl.load("samples/mlp_digits.graph.json")
    >>> feeds = random_feeds(g, {"x": (["N", 64], "float32"), "y": (["N"], "int64")})
    >>> {k: v.shape for k, v in feeds.items()}
    {'x': (2, 64), 'y': (2,)}
    >>> bool(feeds["x"].min() >= 0.1 and feeds["y"].max() < 10)
    True
    """
    rng = np.random.default_rng(seed)
    sizes = {} if sizes is None else sizes
    report = None
    feeds = {}
    for node, entry in inputs.items():
        shape, dtype = entry[-2:]
        size = tuple(sizes.setdefault(d, batch) if isinstance(d, str) else d
                     for d in shape)
        try:
            if str(dtype).startswith("float"):
                feeds[node] = rng.uniform(LOW, HIGH, size)
            else:
                if report is None:
                    report = graph.analyse()
                feeds[node] = rng.integers(0, class_count(graph, node, report), size)
        except MemoryError as e:
            need = getattr(e, "_total_size", None)
            raise ExecutionError(
                f"a random batch of shape {fmt(size)} is too big for memory"
                + (f": it needs {need:,} bytes" if need is not None else "")
                + "; use a smaller batch", node=node) from None
    return feeds
