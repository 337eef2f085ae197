"""ONNX in the editor: File → Open imports ``.onnx`` models, File → Export
writes ONNX (or PyTorch source, where ``graphlab.torch`` provides it).

A mixin of :class:`gui.window.MainWindow`: it uses the window's status bar,
``set_graph``, ``_failed`` and ``_add_recent``.
"""

import importlib.util
import os

from PySide6.QtWidgets import QFileDialog

from graphlab.errors import GraphlabError

from .guard import guarded

__all__ = ["OnnxFiles", "export_formats", "export_tip", "OPEN_FILTER"]

OPEN_FILTER = ("Graphs and ONNX models (*.graph.json *.json *.onnx);;ONNX models "
               "(*.onnx);;All files (*)")


def export_formats():
    """``[(suffix, description)]`` that File → Export can write here."""
    formats = [(".onnx", "ONNX model")]
    if importlib.util.find_spec("torch") is None:  # PyTorch source needs torch
        return formats
    return formats + [(".py", "PyTorch source")]


def export_tip():
    return "Write the graph as " + " or ".join(w for _, w in export_formats())


class OnnxFiles:
    """Opening ``.onnx`` models and exporting, for the main window."""

    _imported_dir = None

    def import_dir(self):
        """Where dialogs start for an imported model: beside it."""
        return self._imported_dir or os.getcwd()

    def opened_onnx(self, graph, path):
        """Show an imported model: untitled, so that saving asks for a graph
        file and never writes over the model; an empty one (a 0-byte or
        truncated file parses as one) is refused and the open graph kept."""
        if len(graph) == 0:
            self._open_failed(path, "the model has no nodes (an empty or "
                              "truncated ONNX file?)")
            return False
        self.autosave.discard()
        self.set_graph(graph)
        self._imported_dir = os.path.dirname(os.path.abspath(path))
        self._add_recent(path)
        self.statusBar().showMessage(
            f"Imported {os.path.basename(path)}: {len(graph)} nodes; Save As writes "
            "it as a graph file", 12000)
        return True

    def ask_export_path(self):
        """Where to export, the format by its suffix (tests replace this)."""
        formats = export_formats()
        filters = ";;".join(f"{what} (*{suffix})" for suffix, what in formats)
        path, chosen = QFileDialog.getSaveFileName(self, "Export", self._dir(), filters)
        if path and not os.path.splitext(path)[1]:
            path += next(s for s, what in formats if what in chosen)
        return path or None

    @guarded
    def export_dialog(self):
        path = self.ask_export_path()
        return self.export_to(path) if path else False

    def export_to(self, path):
        """Write the graph as ONNX (``.onnx``) or PyTorch source (``.py``);
        any other suffix (a graph file, the open file) is refused."""
        suffixes = [s for s, _ in export_formats()]
        if not path.lower().endswith(tuple(suffixes)):
            self._failed("Cannot export", f"{path}: Export writes "
                         f"{' or '.join(suffixes)} files (Save As writes graph files)")
            return False
        try:
            if path.lower().endswith(".py"):  # the source and its weights
                from graphlab.torch import require_torch
                from graphlab.torch.export import write_export
                require_torch()
                write_export(self.graph, path)
            else:
                from graphlab.onnx import to_onnx
                to_onnx(self.graph, path)
        except OSError as e:
            self._failed("Cannot export", f"{path}: {e.strerror or e}")
            return False
        except GraphlabError as e:
            where = f"node '{e.node}': " if e.node else ""
            self.statusBar().showMessage(f"Cannot export: {where}{e.message}", 15000)
            self._failed("Cannot export", f"{path}: {where}{e.message}")
            return False
        self.statusBar().showMessage(f"Exported {os.path.basename(path)}", 8000)
        return True
