"""pytest plugin: graph files as test subjects, the way nbval tests notebooks.

PYTEST_DONT_REWRITE (no asserts here; lets ``-p`` load this module again
without a rewrite warning)

``pytest --graphlab samples/`` collects every ``*.graph.json`` below the
paths given, and runs per file the items of :mod:`graphlab.testing`:
``check``, ``run``, ``gradcheck``, ``tests[i]`` for each case of the file's
``"tests"`` section, and ``train-step`` for files with a ``"train"`` section.
Without ``--graphlab``, graph files below the directories listed in the
``graphlab_paths`` ini option are collected, and those directories are added
to the run when pytest is started without paths (as ``testpaths`` are)::

    [tool.pytest.ini_options]
    graphlab_paths = ["samples"]

A graph file named on the command line is always collected.

Registered through the ``pytest11`` entry point ``graphlab``, so installing
graphlab is enough. To load it by hand where the entry point is not
installed, use ``-p graphlab.pytest_plugin``; where it is, that would
register the module twice (pluggy refuses), so write
``-p no:graphlab -p graphlab.pytest_plugin`` to do both.
"""

import os
import warnings

import pytest

__all__ = ["GraphFile", "GraphItem"]

SUFFIX = ".graph.json"


def pytest_addoption(parser):
    group = parser.getgroup("graphlab", "graphlab graph files")
    group.addoption(
        "--graphlab", action="store_true", default=False,
        help="collect *.graph.json files below the given paths as tests: check, "
             "run, gradcheck, each 'tests' case, train-step")
    parser.addini(
        "graphlab_paths", type="paths", default=[],
        help="directories whose *.graph.json files are collected as tests without "
             "--graphlab (added to the run when pytest is given no paths)")


def pytest_configure(config):
    paths = config.getini("graphlab_paths")
    if not paths or config.args_source == pytest.Config.ArgsSource.ARGS:
        return
    base = config.invocation_params.dir
    covered = [(base / arg.split("::")[0]).resolve() for arg in config.args]
    for path in paths:
        path = path.resolve()
        if path.exists() and not any(path == c or c in path.parents for c in covered):
            config.args.append(str(path))


def _wanted(file_path, parent):
    config = parent.config
    if config.getoption("graphlab") or parent.session.isinitpath(file_path):
        return True
    resolved = file_path.resolve()
    return any(p.resolve() in resolved.parents for p in config.getini("graphlab_paths"))


def pytest_collect_file(file_path, parent):
    if file_path.name.endswith(SUFFIX) and _wanted(file_path, parent):
        return GraphFile.from_parent(parent, path=file_path)
    return None


class GraphFile(pytest.File):
    """A graph file: one item per check (``check``, ``run``, ``gradcheck``,
    ``tests[i]``, ``train-step``)."""

    def collect(self):
        from .testing import FileChecks
        display = self.nodeid or os.fspath(self.path)
        self.checks = FileChecks(self.path, display=display)
        for name in self.checks.names():
            yield GraphItem.from_parent(self, name=name)


class GraphItem(pytest.Item):
    """One check of one graph file; a failure reads like an assertion:
    ``cs231n.graph.json::tests[0]: grads['x'] = -3.0, expected -4.0 (rtol 1e-6)``,
    or, when the core refuses the graph, like its error line."""

    def runtest(self):
        from .testing import CheckSkipped, GraphWarning
        checks = self.parent.checks
        try:
            found = checks.run(self.name)
        except CheckSkipped as e:
            _skip(str(e))
        for node, message in found:
            where = f"{checks.display}: node '{node}'" if node else checks.display
            warnings.warn(GraphWarning(f"{where}: {message}"), stacklevel=1)

    def repr_failure(self, excinfo, style=None):
        text = self.parent.checks.failure_text(self.name, excinfo.value)
        if text is None:  # not a failed check but a bug: show the traceback
            return super().repr_failure(excinfo, style=style)
        return text

    def reportinfo(self):
        # The bare name: pytest -v turns dots in a domain into "::".
        return self.path, 0, self.name


def _skip(reason):
    """Skip, reported at the graph file rather than at this module."""
    try:
        exc = pytest.skip.Exception(reason, _use_item_location=True)
    except TypeError:  # a pytest without the keyword: report it here
        pytest.skip(reason)
    raise exc
