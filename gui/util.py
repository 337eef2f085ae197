"""Small helpers the editor needs from the core, done without changing it."""

import copy
import os

from graphlab import io

__all__ = ["copy_graph", "settings_dir"]


def copy_graph(graph):
    """A deep copy of a graph without listeners.

    Unlike ``Graph.copy`` this keeps placeholder nodes (unknown ops) and does
    not re-read the sidecar parameter file, so it works on any graph the
    editor can hold.
    """
    data = io.to_dict(graph)
    params_file = data.pop("params", None)
    g = io.from_dict(copy.deepcopy(data), lenient=True)
    g.params_file = params_file
    g.params = {k: v.copy() for k, v in graph.params.items()}
    g.path = graph.path
    return g


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
