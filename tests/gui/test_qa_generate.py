"""A hostile user of the Generate box: empty primes, untrained models, a
closed dock and errors mid-generation."""

from PySide6.QtWidgets import QApplication

from gui.training import open_training

from .conftest import sample


def _gen(w):
    panel = open_training(w)
    return panel.generate_box


def _start(box, prime, length):
    """Start the box writing ``length`` characters after ``prime``."""
    box.prime.setText(prime)
    box.length.setValue(length)
    return box.start()


def _write(box, qtbot, prime, length):
    """Start the box with ``prime`` and ``length``; its text once it stops."""
    _start(box, prime, length)
    qtbot.waitUntil(lambda: not box.running, timeout=20000)
    return box.text.toPlainText()


def test_generate_with_an_empty_prime(make_window, qtbot, caplog):
    w = make_window(sample("char_rnn"))
    box = _gen(w)
    text = _write(box, qtbot, "", 20)
    assert len(text) == 20 or text.startswith("Cannot generate:"), text
    assert not box.timer.isActive()


def test_generate_on_an_untrained_graph(make_window, qtbot):
    w = make_window(sample("char_rnn"))
    w.graph.params = {}
    text = _write(_gen(w), qtbot, "A", 10)
    assert len(text) == 11 or text.startswith("Cannot generate:"), text


def test_closing_the_training_dock_stops_generation(make_window, qtbot):
    w = make_window(sample("char_rnn"))
    box = _gen(w)
    _start(box, "A", 100000)
    assert box.running
    w.training_dock.close()
    QApplication.processEvents()
    assert not box.running and not box.timer.isActive()


def test_generate_survives_an_unexpected_error_in_a_tick(make_window, qtbot):
    w = make_window(sample("char_rnn"))
    box = _gen(w)
    _start(box, "A", 1000)

    def broken():
        raise ValueError("boom")
        yield

    box._stream = broken()
    qtbot.waitUntil(lambda: not box.running, timeout=5000)
    assert "boom" in box.text.toPlainText()


def test_a_pasted_huge_prime_cannot_freeze_the_editor(make_window, qtbot):
    import time
    w = make_window(sample("char_rnn"))
    box = _gen(w)
    box.prime.setText("the " * 25000)  # reading 100,000 characters took ~35 s
    box.length.setValue(16)
    t0 = time.perf_counter()
    box.start()
    while box.running:
        box._tick()
    assert time.perf_counter() - t0 < 5
    assert len(box.prime.text()) <= 2000


def test_generating_from_untrained_values_says_so(make_window):
    w = make_window(sample("char_rnn"))
    w.graph.params = {}
    box = _gen(w)
    assert _start(box, "A", 5)
    assert "untrained" in w.statusBar().currentMessage()
