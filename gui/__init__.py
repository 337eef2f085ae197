"""graphlab's desktop editor (PySide6): build, wire, inspect and save graphs.

The editor is a projection of one :class:`graphlab.Graph`: the scene draws it,
and every edit is an undo command acting on it through its public methods.

>>> from gui import MainWindow          # doctest: +SKIP
>>> w = MainWindow("samples/lenet5.graph.json")   # doctest: +SKIP
"""

__all__ = ["MainWindow", "main"]


def __getattr__(name):
    # Import Qt lazily, so that ``import gui`` is cheap and ``gui.app.main`` can
    # choose the platform (offscreen for --screenshot) before Qt loads.
    if name == "MainWindow":
        from .window import MainWindow
        return MainWindow
    if name == "main":
        from .app import main
        return main
    raise AttributeError(f"module 'gui' has no attribute {name!r}")
