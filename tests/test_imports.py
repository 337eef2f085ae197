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
