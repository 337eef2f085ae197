"""The pytest plugin, driven by pytest's own ``pytester``: graph files collected
as items, failures that read like assertions, skips that say why.

Each inner run loads the plugin with ``-p no:graphlab -p graphlab.pytest_plugin``:
that works whether or not the ``pytest11`` entry point (named ``graphlab``) is
installed, since blocking the entry point's name keeps pluggy from
registering the module a second time. Inner runs load no other installed
plugin (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``): pytester restores ``sys.modules``
after each run, so a plugin that imports a heavy library lazily (hypothesis's
does) would import it afresh every time.
"""

import importlib.metadata
import json
import shutil

import pytest

from graphlab.ops import get_op

from .conftest import sample

pytest_plugins = ["pytester"]

PLUGIN = ("-p", "no:graphlab", "-p", "graphlab.pytest_plugin")


@pytest.fixture(autouse=True)
def no_other_plugins(monkeypatch):
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def run(pytester, *args):
    return pytester.runpytest_inprocess(*PLUGIN, *args)


def copy_sample(pytester, name, dest=None):
    dest = pytester.path / (dest or f"{name}.graph.json")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(sample(name), dest)
    return dest


def write(pytester, name, data):
    path = pytester.path / name
    path.write_text(json.dumps({"graphlab": 1, **data}))
    return path


def test_passing_sample_yields_an_item_per_check(pytester):
    copy_sample(pytester, "cs231n")
    result = run(pytester, "--graphlab", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines([
        "cs231n.graph.json::check PASSED*",
        "cs231n.graph.json::run PASSED*",
        "cs231n.graph.json::gradcheck PASSED*",
        "cs231n.graph.json::tests?0? PASSED*",
    ])


def test_trainable_sample_gets_a_train_step(pytester):
    copy_sample(pytester, "mlp_xor")
    result = run(pytester, "--graphlab", "-v")
    result.assert_outcomes(passed=5)  # check, run, gradcheck, tests[0], train-step
    result.stdout.fnmatch_lines(["mlp_xor.graph.json::train-step PASSED*"])


def test_wrong_expectation_reads_like_an_assertion(pytester):
    with open(sample("cs231n"), encoding="utf-8") as f:
        data = json.load(f)
    data["tests"][0]["grads"]["x"] = -3
    (pytester.path / "cs231n.graph.json").write_text(json.dumps(data))
    result = run(pytester, "--graphlab")
    result.assert_outcomes(passed=3, failed=1)
    assert ("cs231n.graph.json::tests[0]: grads['x'] = -4.0, expected -3.0 "
            "(rtol 1e-6)") in result.stdout.lines
    assert "Traceback" not in result.stdout.str()


def test_broken_vjp_fails_gradcheck_naming_the_node(pytester, monkeypatch):
    cls = type(get_op("MatMul"))
    orig = cls.vjp

    def vjp(self, ctx, g, out, a, b):
        ga, gb = orig(self, ctx, g, out, a, b)
        return 2 * ga, gb

    monkeypatch.setattr(cls, "vjp", vjp)  # seen by the in-process run
    copy_sample(pytester, "neuron")
    result = run(pytester, "--graphlab", "-rf")
    result.assert_outcomes(passed=2, failed=2)  # gradcheck and tests[0]
    result.stdout.fnmatch_lines([
        ("neuron.graph.json::gradcheck: node 'Wx' (MatMul): its VJP disagrees with "
         "finite differences: gradient for input 'a' *"),
        "FAILED neuron.graph.json::gradcheck - neuron.graph.json::gradcheck: *",
    ])


def test_broken_vjp_from_a_conftest(pytester):
    # The same with the bug planted by the project's own conftest.py.
    pytester.makeconftest("""
        import pytest
        from graphlab.ops import get_op

        cls = type(get_op("Upsample2D"))
        orig = cls.vjp

        def pytest_configure(config):
            cls.vjp = lambda self, *a, **k: tuple(
                None if g is None else -g for g in orig(self, *a, **k))

        def pytest_unconfigure(config):
            cls.vjp = orig
    """)
    copy_sample(pytester, "lenet5")
    result = run(pytester, "--graphlab", "-k", "gradcheck")
    result.assert_outcomes(failed=1, deselected=3)
    result.stdout.fnmatch_lines(
        ["lenet5.graph.json::gradcheck: node 'up' (Upsample2D)*"])


def test_malformed_file_fails_check_with_the_core_error_line(pytester):
    write(pytester, "bad.graph.json", {"nodes": [{"id": "t", "op": "Tahn"}]})
    result = run(pytester, "--graphlab")
    result.assert_outcomes(failed=1)  # only check: the file does not load
    assert ("error: bad.graph.json: node 't': unknown op 'Tahn'; did you mean "
            "'Tanh'?") in result.stdout.lines


def test_graph_that_does_not_check_skips_the_rest(pytester):
    write(pytester, "shape.graph.json", {
        "nodes": [{"id": "a", "op": "Input", "attrs": {"shape": [2]}},
                  {"id": "b", "op": "Input", "attrs": {"shape": [3]}},
                  {"id": "s", "op": "Add"}],
        "edges": [["a", "s:a"], ["b", "s:b"]], "outputs": ["s"]})
    result = run(pytester, "--graphlab", "-rs")
    result.assert_outcomes(failed=1, skipped=2)
    result.stdout.fnmatch_lines([
        "error: shape.graph.json: node 's': Add: inputs 2 and 3 do not broadcast*",
        ("SKIPPED [[]2[]] shape.graph.json:1: the graph does not pass check "
         "(see ::check)"),
    ])


def test_integer_only_graph_skips_gradcheck_saying_why(pytester):
    write(pytester, "labels.graph.json", {
        "nodes": [{"id": "y", "op": "Input",
                   "attrs": {"shape": ["N"], "dtype": "int64"}},
                  {"id": "s", "op": "Sum"}],
        "edges": [["y", "s"]], "outputs": ["s"]})
    result = run(pytester, "--graphlab", "-rs")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines([("SKIPPED * nothing to differentiate: no Parameter, "
                                  "and Input 'y' is integer")])


def test_check_warning_becomes_a_pytest_warning(pytester):
    write(pytester, "drop.graph.json", {
        "nodes": [{"id": "x", "op": "Input", "attrs": {"shape": [1, 1, 13]}},
                  {"id": "w", "op": "Parameter", "attrs": {"shape": [1, 1, 6]}},
                  {"id": "c", "op": "Conv1D",
                   "attrs": {"stride": 5, "padding": "valid"}},
                  {"id": "s", "op": "Sum"}],
        "edges": [["x", "c:x"], ["w", "c:w"], ["c", "s"]], "outputs": ["s"]})
    result = run(pytester, "--graphlab")
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines([("*GraphWarning: drop.graph.json: node 'c': "
                                  "(13 − 6 + 0)/5 + 1 = 2.4 → 2*")])


def test_graph_files_need_the_flag_or_the_ini_option(pytester):
    copy_sample(pytester, "cs231n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_graph_file_named_on_the_command_line_is_collected(pytester):
    path = copy_sample(pytester, "cs231n")
    run(pytester, str(path)).assert_outcomes(passed=4)


def test_graphlab_paths_collects_without_the_flag(pytester):
    copy_sample(pytester, "cs231n", "graphs/cs231n.graph.json")
    copy_sample(pytester, "neuron", "graphs/more/neuron.graph.json")
    copy_sample(pytester, "sigmoid_neuron", "elsewhere/sigmoid_neuron.graph.json")
    pytester.makepyfile(test_unit="def test_unit():\n    pass\n")
    pytester.makeini("""
        [pytest]
        testpaths = test_unit.py
        graphlab_paths = graphs
    """)
    result = run(pytester, "--collect-only", "-q")
    result.stdout.fnmatch_lines([
        "test_unit.py::test_unit",
        "graphs/cs231n.graph.json::check", "*", "*",
        "graphs/cs231n.graph.json::tests?0?",
        "graphs/more/neuron.graph.json::check", "*", "*", "*",
        "9 tests collected*",
    ])
    assert "elsewhere" not in result.stdout.str()
    # Paths given on the command line replace testpaths and graphlab_paths alike.
    run(pytester, "test_unit.py").assert_outcomes(passed=1)


@pytest.mark.skipif(
    not any(ep.value == "graphlab.pytest_plugin"
            for ep in importlib.metadata.entry_points(group="pytest11")),
    reason="the pytest11 entry point is not installed yet")
def test_installed_entry_point_is_enough(pytester, monkeypatch):
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    copy_sample(pytester, "cs231n")
    pytester.runpytest_inprocess("--graphlab").assert_outcomes(passed=4)
    pytester.runpytest_inprocess("-p", "graphlab", "--graphlab").assert_outcomes(
        passed=4)
