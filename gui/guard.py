"""Exceptions in handlers: shown to the user, never fatal, never half an edit.

Edits cannot leave the graph half changed: every command is checked before it
changes anything, and compound commands undo their finished parts when a later
part fails (:mod:`gui.commands`). What remains is reporting: Qt calls Python
slots and virtual methods from C++, where an exception can only go to
``sys.excepthook``. :func:`install` points that hook at the window (status bar
and a non-modal dialog, traceback logged) while the program runs, and
:func:`guarded` wraps a slot so that its exception is reported the same way.
"""

import functools
import logging
import sys
import traceback

__all__ = ["install", "uninstall", "guarded", "guard_call", "report"]

log = logging.getLogger("gui")
_window = None
_previous = None


def report(exc_type, exc, tb):
    """Show an exception in the window (or on stderr if there is none)."""
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    log.error("unhandled exception in the editor:\n%s", text)
    w = _window
    if w is None:
        sys.stderr.write(text)
        return
    try:
        w.show_exception(exc, text)
    except Exception:  # the report must not raise in turn
        sys.stderr.write(text)


def _hook(exc_type, exc, tb):
    if issubclass(exc_type, KeyboardInterrupt):
        (_previous or sys.__excepthook__)(exc_type, exc, tb)
        return
    report(exc_type, exc, tb)


def install(window):
    """Route uncaught exceptions to ``window.show_exception``."""
    global _window, _previous
    _window = window
    if sys.excepthook is not _hook:
        _previous = sys.excepthook
        sys.excepthook = _hook


def uninstall():
    global _window, _previous
    if sys.excepthook is _hook:
        sys.excepthook = _previous or sys.__excepthook__
    _window = None
    _previous = None


def guarded(fn):
    """Decorator for slots: report an exception instead of raising it."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception:
            target = _reporter(args[0]) if args else None
            exc_type, exc, tb = sys.exc_info()
            text = "".join(traceback.format_exception(exc_type, exc, tb))
            log.error("error in %s:\n%s", fn.__name__, text)
            if target is not None:
                target.show_exception(exc, text)
            else:
                report(exc_type, exc, tb)
            return None

    return wrapper


def _reporter(obj):
    """Whom to show an exception: the object's window, if it can tell."""
    window = getattr(obj, "window", None)
    for candidate in (obj, getattr(obj, "window_", None),
                      None if callable(window) else window):
        if candidate is not None and hasattr(candidate, "show_exception"):
            return candidate
    return None


def guard_call(window, fn):
    """``fn`` wrapped so that an exception is shown in ``window`` (menu
    entries, lambdas: callables with no ``self`` to report to)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception:
            exc_type, exc, tb = sys.exc_info()
            text = "".join(traceback.format_exception(exc_type, exc, tb))
            log.error("error in %s:\n%s", getattr(fn, "__name__", "a handler"), text)
            window.show_exception(exc, text)
            return None

    return wrapper
