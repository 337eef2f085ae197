"""Autosave: the edited graph written aside every ~30 s while it has unsaved changes.

A graph with a file is autosaved to ``<file>.autosave.json`` beside it; an
untitled one to ``untitled-<pid>.graph.json`` in the per-user directory. Files
are written by :func:`graphlab.io.save` (atomic: a crash mid-write leaves the
previous autosave whole). Saving or closing normally deletes the autosave, so
one that is still there when a file is opened means the program did not exit
normally, and the window offers to recover it.
"""

import glob
import os

from PySide6.QtCore import QObject, QTimer

from graphlab import io

from .guard import guarded
from .util import settings_dir

__all__ = ["Autosave", "autosave_path", "stale_untitled"]

SUFFIX = ".autosave.json"


def autosave_path(path):
    """Where the autosave of ``path`` (``None``: untitled) goes."""
    if path:
        return os.fspath(path) + SUFFIX
    d = os.path.join(settings_dir(), "autosave")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, f"untitled-{os.getpid()}.graph.json")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def stale_untitled():
    """Autosaves of untitled graphs left by editors that are no longer running,
    newest first."""
    d = os.path.join(settings_dir(), "autosave")
    out = []
    for f in glob.glob(os.path.join(d, "untitled-*.graph.json")):
        try:
            pid = int(os.path.basename(f)[len("untitled-"):-len(".graph.json")])
        except ValueError:
            continue
        if pid != os.getpid() and not _alive(pid):
            out.append(f)
    return sorted(out, key=os.path.getmtime, reverse=True)


def newer_autosave(path):
    """The autosave of ``path`` if it exists and is newer than the file."""
    a = autosave_path(path)
    if not os.path.exists(a):
        return None
    try:
        if os.path.getmtime(a) <= os.path.getmtime(path):
            return None
    except OSError:
        pass
    return a


class Autosave(QObject):
    """Writes the window's graph aside while it is dirty."""

    def __init__(self, window, interval_s=30.0):
        super().__init__(window)
        self.window = window
        self.timer = QTimer(self)
        self.timer.setInterval(int(interval_s * 1000))
        self.timer.timeout.connect(self.tick)
        self.timer.start()
        self._written_at = None  # undo index when last written
        self.last_path = None

    @guarded
    def tick(self):
        """Write now if there are changes not yet autosaved; returns the path."""
        w = self.window
        if not w.is_dirty():
            return None
        state = (w.undo_stack.index(), id(w.graph))
        if state == self._written_at and self.last_path and os.path.exists(
                self.last_path):
            return None
        path = autosave_path(w.path)
        try:
            g = w.graph.copy()
            io.save(g, path, params=False)
        except Exception as e:  # never let autosave disturb editing
            w.statusBar().showMessage(f"Autosave failed: {e}", 8000)
            return None
        if self.last_path and self.last_path != path and os.path.exists(self.last_path):
            _remove(self.last_path)
        self._written_at = state
        self.last_path = path
        return path

    def discard(self):
        """Delete this window's autosave (after a save, or a close that discards)."""
        for p in {self.last_path, autosave_path(self.window.path)}:
            if p and os.path.exists(p):
                _remove(p)
        self.last_path = None
        self._written_at = None


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass
