"""Running graph files as tests: the items of one file (:class:`FileChecks`)
and of many (:func:`run_files`), as ``graphlab test`` and the pytest plugin
run them."""

import os
import time
from dataclasses import dataclass, field

from ..errors import GraphError, GraphlabError
from .checks import (TESTS_ITEM, CheckSkipped, GraphTestFailure, _gradcheck,
                     run_case, run_graph, train_step)

__all__ = ["FileChecks", "ItemResult", "find_graph_files", "run_files"]


# ---- one file's items ----------------------------------------------------------------

class FileChecks:
    """The items of one graph file; loads the file once for all of them.

    Parameters
    ----------
    path : str or os.PathLike
    display : str, optional
        How messages name the file (default: ``path``).
    """

    def __init__(self, path, display=None):
        self.path = os.fspath(path)
        self.display = display or self.path
        self._graph = None
        self._load_error = None
        self._check_error = None
        self._checked = False
        self._warnings = []

    @property
    def basename(self):
        return os.path.basename(self.display)

    def graph(self):
        """The loaded graph (raises the loader's error, naming the file)."""
        if self._graph is None and self._load_error is None:
            from ..io import load
            try:
                self._graph = load(self.path)
            except GraphlabError as e:
                self._load_error = self._named(e)
        if self._load_error is not None:
            raise self._load_error
        return self._graph

    def names(self):
        """Item names: ``check`` only if the file does not load."""
        try:
            g = self.graph()
        except GraphlabError:
            return ["check"]
        names = ["check", "run", "gradcheck"]
        names += [f"tests[{i}]" for i in range(len(g.tests))]
        if g.train:
            names.append("train-step")
        return names

    def _named(self, e):
        if e.file is None or e.file == self.path:
            e.file = self.display
        return e

    def _checked_graph(self):
        g = self.graph()
        if not self._checked:
            self._checked = True
            try:
                self._warnings = g.check()
            except GraphlabError as e:
                self._check_error = self._named(e)
        return g

    def run(self, name):
        """Run one item; returns the warnings ``[(node, message)]`` it found.

        Raises
        ------
        GraphTestFailure, GraphlabError
            The item failed.
        CheckSkipped
            The item does not apply; the message says why.
        """
        try:
            return self._run(name)
        except GraphlabError as e:
            raise self._named(e)

    def _run(self, name):
        if name == "check":
            g = self._checked_graph()
            if self._check_error is not None:
                raise self._check_error
            return list(self._warnings)
        g = self._checked_graph()
        if self._check_error is not None:
            raise CheckSkipped("the graph does not pass check (see ::check)")
        if name == "run":
            run_graph(g)
        elif name == "gradcheck":
            checked, reason = _gradcheck(g)
            if not checked:
                raise CheckSkipped(reason)
        elif name == "train-step":
            if not g.train:
                raise CheckSkipped("the file has no train section")
            train_step(g)
        else:
            m = TESTS_ITEM.match(name)
            if not m or int(m.group(1)) >= len(g.tests):
                raise GraphError(f"no item '{name}': items are "
                                 f"{', '.join(self.names())}")
            i = int(m.group(1))
            run_case(g, g.tests[i], i)
        return []

    def failure_text(self, name, exc):
        """How a failure reads, or None for an unexpected exception: ``FILE::item:
        message`` for a wrong number, ``error: FILE: node 'ID': ...`` for an
        error of the core."""
        if isinstance(exc, GraphTestFailure):
            return f"{self.basename}::{name}: {exc.message}"
        if isinstance(exc, GraphlabError):
            return f"error: {exc}"
        return None


# ---- running files -------------------------------------------------------------------

@dataclass
class ItemResult:
    """One item's outcome: ``passed``, ``failed`` or ``skipped``."""

    file: str
    item: str
    outcome: str
    message: str = ""
    warnings: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self):
        return self.outcome != "failed"

    def line(self):
        text = f"{self.outcome.upper():<7} {self.file}::{self.item}"
        return f"{text} - {self.message}" if self.message else text


def find_graph_files(paths):
    """Files to test: each path itself, or every ``*.graph.json`` below a
    directory (sorted). Raises ``GraphlabError`` for a directory with none."""
    files = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            found = sorted(
                os.path.normpath(os.path.join(root, f))
                for root, dirs, names in os.walk(p)
                for f in names if f.endswith(".graph.json"))
            if not found:
                raise GraphlabError(f"{p}: no *.graph.json files in this directory")
            files += found
        else:
            files.append(p)
    return files


def run_files(paths, *, debug=False, on_result=None):
    """Run every item of every file; returns the list of :class:`ItemResult`.

    ``on_result(result)`` is called as each item finishes. With ``debug``, an
    unexpected exception (a bug, not a failed check) propagates.
    """
    results = []
    for path in find_graph_files(paths):
        checks = FileChecks(path)
        for name in checks.names():
            t0 = time.perf_counter()
            warnings = []
            try:
                warnings = checks.run(name)
                outcome, message = "passed", ""
            except CheckSkipped as e:
                outcome, message = "skipped", str(e)
            except GraphTestFailure as e:
                outcome, message = "failed", e.message
            except GraphlabError as e:
                outcome, message = "failed", checks.failure_text(name, e)
            except Exception as e:  # a bug, not a failed check: report it, go on
                if debug:
                    raise
                outcome, message = "failed", f"{type(e).__name__}: {e}"
            result = ItemResult(path, name, outcome, message, warnings,
                                time.perf_counter() - t0)
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results
