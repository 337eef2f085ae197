"""Small helpers of the editor."""

import os

__all__ = ["settings_dir", "emit_safely"]


def settings_dir():
    """Where the editor keeps recent files and autosaves of untitled graphs.

    ``$GRAPHLAB_GUI_HOME`` if set (tests point it at a temporary directory),
    else the platform's per-user data directory.
    """
    d = os.environ.get("GRAPHLAB_GUI_HOME")
    if not d:
        from PySide6.QtCore import QStandardPaths
        base = QStandardPaths.writableLocation(QStandardPaths.GenericDataLocation)
        d = os.path.join(base or os.path.expanduser("~/.local/share"), "graphlab")
    os.makedirs(d, exist_ok=True)
    return d


def emit_safely(signal, *args):
    """Emit ``signal`` from a worker thread; False once its object (the panel,
    the window) has been deleted and nobody is listening."""
    try:
        signal.emit(*args)
    except RuntimeError:  # "Signal source has been deleted"
        return False
    return True
