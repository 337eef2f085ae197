"""The Generate box of the training dock: a language model writes, live.

``GenerateBox(window)`` (objectName ``generate``) shows for graphs that
:class:`graphlab.generate.Generator` can run: a character model (``text:``
dataset) continues the prime (``generatePrime``) at a temperature
(``generateTemperature``) for a number of characters (``generateLength``); an
encoder–decoder (``reverse``) decodes the prime greedily. Start
(``generateStart``) writes into ``generateText`` a few characters per timer
tick on the GUI thread, so the text grows as it is sampled and the editor
stays responsive; pressing it again stops. The model's current values are
used, so a run after training shows what training taught it. The compiled
program is cached per graph structure (:func:`graphlab.generate.generator_for`).
"""

import logging
import secrets

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from graphlab.errors import GraphlabError

__all__ = ["GenerateBox", "is_language_model"]

log = logging.getLogger("gui")

CHARS_PER_TICK = 16  # about 4–8 ms of sampling between repaints
MAX_PRIME = 2000  # the prime is read in one tick: about 0.35 ms a character


def is_language_model(graph):
    """Whether the graph trains on a ``text:`` or ``reverse`` dataset."""
    data = ((graph.train or {}).get("data") or {})
    name = data.get("dataset")
    return isinstance(name, str) and (name.startswith("text:") or name == "reverse")


class GenerateBox(QGroupBox):
    """Prime, temperature, length, Start, and the text as it is written."""

    def __init__(self, window, parent=None):
        super().__init__("Generate", parent)
        self.setObjectName("generate")
        self.window_ = window
        self._stream = None
        self.prime = QLineEdit()
        self.prime.setObjectName("generatePrime")
        self.prime.setMaxLength(MAX_PRIME)
        self.prime.setToolTip("Text the model reads before it writes (for an "
                              "encoder–decoder: the sequence to decode); at most "
                              f"{MAX_PRIME:,} characters")
        self.temperature = QDoubleSpinBox()
        self.temperature.setObjectName("generateTemperature")
        self.temperature.setRange(0.0, 5.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(0.8)
        self.temperature.setToolTip("Softmax temperature: lower is safer, 0 always "
                                    "takes the most likely character")
        self.length = QSpinBox()
        self.length.setObjectName("generateLength")
        self.length.setRange(1, 100000)
        self.length.setValue(300)
        self.start_button = QPushButton("Generate")
        self.start_button.setObjectName("generateStart")
        self.text = QPlainTextEdit()
        self.text.setObjectName("generateText")
        self.text.setReadOnly(True)
        self.text.setMinimumHeight(90)
        form = QFormLayout()
        form.addRow("Prime", self.prime)
        form.addRow("Temperature", self.temperature)
        form.addRow("Length", self.length)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(form)
        lay.addWidget(self.start_button)
        lay.addWidget(self.text, 1)
        self.timer = QTimer(self)
        self.timer.setInterval(0)
        self.timer.timeout.connect(self._tick)
        self.start_button.clicked.connect(self.toggle)
        window.model.graph_reset.connect(self.refresh)
        self.refresh()

    @property
    def running(self):
        return self._stream is not None

    def refresh(self):
        """Show the box only for language models; fill a prime to start from."""
        self.stop()
        graph = self.window_.graph
        self.setVisible(is_language_model(graph))
        if self.isVisible() and not self.prime.text():
            reverse = ((graph.train or {}).get("data") or {}).get("dataset") == \
                "reverse"
            self.prime.setText("1234567" if reverse else "")

    def toggle(self):
        if self.running:
            self.stop()
        else:
            self.start()

    def start(self):
        """Start writing; False (with the reason in the text box) if it cannot."""
        from graphlab.generate import generator_for
        self.stop()
        graph = self.window_.graph
        try:
            graph.check()
            gen = generator_for(graph)
            prime = self.prime.text()
            if gen.encoder is not None:
                self.text.setPlainText(f"{prime} → {gen.translate(prime)}")
                return True
            gen.encode(prime)  # unknown characters: say so now, not on a tick
            # a fresh seed each run (graphlab.generate refuses None since 9494c5b)
            stream = gen.stream(prime, self.length.value(), self.temperature.value(),
                                seed=secrets.randbits(32))
            self.text.setPlainText(prime)
        except GraphlabError as e:
            self.text.setPlainText(f"Cannot generate: {e.message}")
            return False
        except Exception as e:  # report in the box, never as a dead button
            log.exception("generate")
            self.text.setPlainText(f"Cannot generate: {type(e).__name__}: {e}")
            return False
        if not graph.params:
            self.window_.statusBar().showMessage(
                "Generating from untrained (initial) values: train the model first "
                "for text that reads", 10000)
        self._stream = stream
        self.start_button.setText("Stop")
        self.timer.start()
        return True

    def hideEvent(self, event):
        """Closing the dock (or opening a graph that is not a language model)
        stops writing; minimising the window does not."""
        if not event.spontaneous():
            self.stop()
        super().hideEvent(event)

    def stop(self):
        self.timer.stop()
        self._stream = None
        self.start_button.setText("Generate")

    def _tick(self):
        chunk = []
        try:
            for _ in range(CHARS_PER_TICK):
                chunk.append(next(self._stream))
        except StopIteration:
            self.stop()
        except GraphlabError as e:
            self.stop()
            chunk.append(f"\n[stopped: {e.message}]")
        except Exception as e:  # a timer slot must report and stop, not repeat
            log.exception("generate")
            self.stop()
            chunk.append(f"\n[stopped: {type(e).__name__}: {e}]")
        cursor = self.text.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        cursor.insertText("".join(chunk))
        self.text.setTextCursor(cursor)
