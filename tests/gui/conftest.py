"""Qt tests run offscreen: no display needed, in CI or here."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLES = os.path.join(ROOT, "samples")


def sample(name):
    return os.path.join(SAMPLES, f"{name}.graph.json")


@pytest.fixture(autouse=True)
def gui_home(tmp_path, monkeypatch):
    """Recent files and untitled autosaves go to a temporary directory, and no
    question blocks a test: unsaved changes are discarded, autosaves ignored,
    file dialogs must not open."""
    home = tmp_path / "gui-home"
    home.mkdir()
    monkeypatch.setenv("GRAPHLAB_GUI_HOME", str(home))
    from gui.window import MainWindow

    def no_dialog(self):
        raise AssertionError("a test opened a file dialog")

    monkeypatch.setattr(MainWindow, "ask_save_changes", lambda self: "discard")
    monkeypatch.setattr(MainWindow, "ask_recover", lambda self, a, b: False)
    monkeypatch.setattr(MainWindow, "ask_open_path", no_dialog)
    monkeypatch.setattr(MainWindow, "ask_save_path", no_dialog)
    return home


@pytest.fixture
def make_window(qtbot):
    """``make_window(path=None)``: a shown MainWindow, closed after the test."""
    from gui.window import MainWindow

    def make(path=None, **kw):
        kw.setdefault("recover", False)
        w = MainWindow(path, **kw)
        qtbot.addWidget(w)
        w.resize(1400, 900)
        w.show()
        qtbot.waitExposed(w)
        w.view.fit_view()
        return w

    return make


@pytest.fixture
def window(make_window):
    return make_window()


@pytest.fixture(scope="session", autouse=True)
def empty_clipboard_before_exit():
    """Qt's offscreen clipboard still owning copied data when the interpreter
    tears the QApplication down segfaults the process after the last test
    (seen with copy/paste tests, PySide6 6.11.3): empty it while Qt is alive."""
    yield
    from PySide6.QtWidgets import QApplication
    app = QApplication.instance()
    if app is not None:
        app.clipboard().clear()
        app.processEvents()
