"""Graph files as tests: the checks behind ``graphlab test`` and the pytest plugin.

Every graph file yields named items, run in this order:

``check``
    The file loads, validates and every shape infers (warnings are reported).
``run``
    A forward pass in float32, evaluation mode, at the file's Input values or
    at random inputs of the right shapes; outputs are finite and have the
    inferred shapes.
``gradcheck``
    Float64 central differences against the executor's gradient for every
    Parameter and float Input, on a batch of 2, in evaluation mode. Small
    tensors are checked element by element, large ones along a few random
    directions. A disagreement names the first node, walking from the
    inputs, whose VJP disagrees with finite differences on its own.
``tests[i]``
    Each case of the file's ``"tests"`` section (SPEC section 1).
``train-step``
    Files with a ``"train"`` section only: three plain SGD steps on one small
    random batch lower the loss and produce no NaN.

Items other than ``check`` are skipped, saying why, when the graph does not
pass ``check``. Random inputs are seeded, drawn by
:func:`graphlab.feeds.random_feeds`: floats uniform in [0.1, 1), integer
Inputs (class labels) in [0, C) where C is the class count of the
``CrossEntropyLoss`` they feed, and symbolic dimensions ("N") the batch size.

:mod:`graphlab.testing.checks` holds the checks, :mod:`graphlab.testing.runner`
runs a file's items; ``graphlab test`` (:mod:`graphlab.cli.test`) and the
pytest plugin print them. The checks use the public API
(:func:`graphlab.load`, :meth:`Graph.check`, :func:`graphlab.compile`,
``forward``, ``backward``); only the search for the culprit of a failed
gradient check runs node by node
(:func:`graphlab.interpret.trace` and :func:`graphlab.gradcheck.check_vjp`).
"""

from .checks import (CheckSkipped, GraphTestFailure, GraphWarning, assert_graph,
                     example_feeds, gradcheck, run_graph, train_step)
from .runner import FileChecks, ItemResult, find_graph_files, run_files

__all__ = [
    "GraphTestFailure",
    "CheckSkipped",
    "GraphWarning",
    "example_feeds",
    "assert_graph",
    "gradcheck",
    "run_graph",
    "train_step",
    "FileChecks",
    "ItemResult",
    "find_graph_files",
    "run_files",
]
