"""The import structure: the core never imports Qt, and no module imports in a circle.

The walk reads every ``import`` statement of ``graphlab/`` and ``gui/`` with
``ast`` (those inside functions too: a lazy import that closes a circle is
still a circle) and never runs the modules.
"""

import ast
import os
import subprocess
import sys

import networkx as nx
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("graphlab", "gui")
# Optional extras: the core may import them only inside the functions that use
# them, so that ``import graphlab`` works without them.
OPTIONAL = ("torch", "onnx", "onnxruntime", "matplotlib", "jax")
QT = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "gui")


def _modules():
    """``{dotted name: path}`` of every module of the two packages."""
    out = {}
    for package in PACKAGES:
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts.pop()
                out[".".join(parts)] = path
    return out


def _imports(module, path, modules):
    """``[(imported name, top-level?, line)]`` of one module, resolved."""
    is_package = path.endswith("__init__.py")
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # `try: import x` at module level is module level
        if isinstance(node, (ast.Try, ast.If)):
            top_level.update(id(n) for n in ast.walk(node))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module
            # `from pkg import mod` imports the module pkg.mod
            names = [f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in modules
                     else stem for alias in node.names]
        else:
            continue
        out.extend((name, id(node) in top_level, node.lineno) for name in names)
    return out


def _import_graph():
    modules = _modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    edges = {}
    for module, path in modules.items():
        for name, top, line in _imports(module, path, modules):
            edges.setdefault(module, []).append((name, top, line))
            if name in modules and name != module:
                graph.add_edge(module, name)
    return graph, edges


def _cycles(graph):
    return sorted(sorted(c) for c in nx.strongly_connected_components(graph)
                  if len(c) > 1)


def test_no_import_cycle():
    graph, _ = _import_graph()
    assert _cycles(graph) == []


def test_import_walk_finds_a_cycle(tmp_path, monkeypatch):
    # the walker itself: a circle made on purpose is found
    pkg = tmp_path / "gui"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from . import b\n")
    (pkg / "b.py").write_text("from .a import f\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", str(tmp_path))
    graph, _ = _import_graph()
    assert _cycles(graph) == [["gui.a", "gui.b"]]


def test_graphlab_never_imports_qt_or_gui():
    _, edges = _import_graph()
    bad = [(module, name, line) for module, found in edges.items()
           if module.split(".")[0] == "graphlab" for name, _, line in found
           if name.split(".")[0] in QT]
    assert bad == []


def test_graphlab_imports_optional_extras_only_inside_functions():
    _, edges = _import_graph()
    bad = [(module, name, line) for module, found in edges.items()
           if module.split(".")[0] == "graphlab" for name, top, line in found
           if top and name.split(".")[0] in OPTIONAL]
    assert bad == []


def test_graphlab_imports_with_pyside6_blocked():
    blocked = "".join(f"sys.modules[{name!r}] = None; "
                      for name in ("PySide6", "gui") + OPTIONAL)
    code = (f"import sys; {blocked}\n"
            "import graphlab as gl, graphlab.cli, graphlab.interpret\n"
            "g = gl.load('samples/cs231n.graph.json'); gl.compile(g).forward()\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_nothing_below_the_command_line_imports_it():
    """graphlab/cli/ sits on top: core modules never import it (the entry
    points ``__main__`` may), and the command modules import only
    ``graphlab.cli.common`` among their siblings."""
    import ast
    import os
    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "graphlab")
    for dirpath, _, names in os.walk(root):
        for name in names:
            if not name.endswith(".py") or name == "__main__.py":
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            module = "graphlab." + rel[:-3].replace("/", ".").removesuffix(".__init__")
            package = module if name == "__init__.py" else module.rpartition(".")[0]
            for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
                if isinstance(node, ast.ImportFrom):
                    base = package.split(".")
                    base = base[:len(base) - node.level + 1] if node.level else []
                    target = ".".join(base + ([node.module] if node.module else []))
                    targets = [target] + [f"{target}.{a.name}" for a in node.names]
                elif isinstance(node, ast.Import):
                    targets = [a.name for a in node.names]
                else:
                    continue
                for t in targets:
                    in_cli = t == "graphlab.cli" or t.startswith("graphlab.cli.")
                    if not module.startswith("graphlab.cli"):
                        assert not in_cli, f"{rel} imports {t}"
                    elif module not in ("graphlab.cli", "graphlab.cli.common"):
                        assert not in_cli or t.startswith("graphlab.cli.common"), \
                            f"{rel} imports {t}"
