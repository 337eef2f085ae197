"""The training dock's Generate box, and the stepper and unroll view on the
sequence samples."""

import os

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QDoubleSpinBox, QLineEdit, QPlainTextEdit, QPushButton,
                               QSpinBox)

from gui.training import open_training

from .conftest import ROOT, sample


def _box(w):
    panel = open_training(w)
    return panel, {name: panel.findChild(kind, name) for name, kind in (
        ("generatePrime", QLineEdit), ("generateTemperature", QDoubleSpinBox),
        ("generateLength", QSpinBox), ("generateStart", QPushButton),
        ("generateText", QPlainTextEdit))}


def test_generate_box_writes_live_after_the_prime(make_window, qtbot):
    w = make_window(sample("char_rnn"))
    panel, c = _box(w)
    assert all(c.values()) and panel.generate_box.isVisible()
    c["generatePrime"].setText("ROMEO:")
    c["generateLength"].setValue(120)
    c["generateTemperature"].setValue(0.5)
    qtbot.mouseClick(c["generateStart"], Qt.LeftButton)
    assert c["generateStart"].text() == "Stop"  # running, on timer ticks
    qtbot.waitUntil(lambda: not panel.generate_box.running, timeout=20000)
    text = c["generateText"].toPlainText()
    vocab = w.graph.train["data"]["vocab"]
    assert text.startswith("ROMEO:") and len(text) == 6 + 120
    assert set(text) <= set(vocab)
    assert c["generateStart"].text() == "Generate"


def test_generate_box_reports_unknown_characters(make_window, qtbot):
    w = make_window(sample("char_rnn"))
    panel, c = _box(w)
    c["generatePrime"].setText("ROMEO™")
    qtbot.mouseClick(c["generateStart"], Qt.LeftButton)
    assert "Cannot generate:" in c["generateText"].toPlainText()
    assert "'™' is not in the model's vocabulary" in c["generateText"].toPlainText()


def test_generate_box_decodes_a_seq2seq_input_and_hides_for_classifiers(
        make_window, qtbot):
    w = make_window(sample("seq2seq_reverse"))
    panel, c = _box(w)
    assert panel.generate_box.isVisible()
    c["generatePrime"].setText("12345")
    qtbot.mouseClick(c["generateStart"], Qt.LeftButton)
    assert c["generateText"].toPlainText().startswith("12345 → ")
    c["generatePrime"].setText("")
    qtbot.mouseClick(c["generateStart"], Qt.LeftButton)
    assert c["generateText"].toPlainText() == \
        "Cannot generate: the input is empty: give a source sequence to decode"
    w2 = make_window(sample("lstm_digits"))
    panel2, _ = _box(w2)
    assert not panel2.generate_box.isVisible()


def test_stepper_walks_the_char_rnn_sample(make_window):
    w = make_window(sample("char_rnn"))
    st = w.open_stepper()
    assert st.explanation is not None and not st.explanation.mismatches
    st.go_end()
    assert st.position == len(st.steps)
    assert st.explanation.grads["embed_w"].shape == (65, 32)


def test_unroll_view_on_the_seq2seq_encoder(make_window, tmp_path):
    # The sample's graph as build_samples makes it, with 16 units instead of
    # 128: unrolling takes one Jacobian per state unit and step.
    import runpy
    import graphlab as gl
    build = runpy.run_path(os.path.join(ROOT, "samples", "build_samples.py"))
    path = tmp_path / "seq2seq.graph.json"
    gl.save(build["seq2seq_reverse"](hidden=16), path)
    w = make_window(str(path))
    st = w.open_stepper()
    assert st.unroll("encoder")
    assert st.unroll_table.rowCount() == st.unrolled.T == 10
    assert st.unrolled.agrees
    assert "[h, c]" in st.unroll_table.horizontalHeaderItem(3).text()
    norms = [float(st.unroll_table.item(r, 2).text()) for r in range(10)]
    assert np.all(np.isfinite(norms))
