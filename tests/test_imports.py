"""The core never imports Qt."""

import subprocess
import sys


def test_graphlab_imports_with_pyside6_blocked():
    code = ("import sys; sys.modules['PySide6'] = None; sys.modules['gui'] = None\n"
            "import graphlab as gl, graphlab.cli, graphlab.interpret\n"
            "g = gl.load('samples/cs231n.graph.json'); gl.compile(g).forward()\n"
            "print('ok')")
    import os
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
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
