"""The training panel: train the graph as its ``train`` section says, live.

``TrainingPanel(window)`` (objectName ``training``, shown in a dock by
:func:`open_training`) has epochs / learning rate / batch size boxes filled
from ``graph.train``, Train and Stop buttons and a live plot of the batch
losses. Training runs :class:`graphlab.train.Trainer` on a worker thread, on a
copy of the graph (editing meanwhile is safe); its callbacks emit Qt signals,
delivered on the GUI thread. When it ends (completed or stopped) the trained
values go into ``window.graph.params`` as one undoable step, which marks the
document as changed.
"""

import logging
import math
import threading

from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QUndoCommand
from PySide6.QtWidgets import (
    QDockWidget,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from graphlab.errors import GraphlabError

__all__ = ["LossPlot", "TrainingPanel", "open_training"]

log = logging.getLogger("gui")


class LossPlot(QWidget):
    """Batch losses as a line (``points``: a list of (step, loss))."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("lossPlot")
        self.points = []
        self.setMinimumHeight(120)

    def clear(self):
        self.points = []
        self.update()

    def add(self, step, loss):
        if math.isfinite(loss):
            self.points.append((float(step), float(loss)))
            self.update()

    def paintEvent(self, event):
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing, True)
        p.fillRect(self.rect(), QColor("#1d1f23"))
        r = self.rect().adjusted(40, 8, -8, -18)
        p.setPen(QColor("#3a3f47"))
        p.drawRect(r)
        if not self.points:
            p.setPen(QColor("#7d8590"))
            p.drawText(r, Qt.AlignCenter, "loss per batch appears here while training")
            return
        xs = [x for x, _ in self.points]
        ys = [y for _, y in self.points]
        x0, x1 = min(xs), max(max(xs), min(xs) + 1)
        y0, y1 = min(ys), max(ys)
        if y1 - y0 < 1e-12:
            y0, y1 = y0 - 0.5, y1 + 0.5
        path = QPainterPath()
        for i, (x, y) in enumerate(self.points):
            pt = QPointF(r.left() + (x - x0) / (x1 - x0) * r.width(),
                         r.bottom() - (y - y0) / (y1 - y0) * r.height())
            path.moveTo(pt) if i == 0 else path.lineTo(pt)
        p.setPen(QPen(QColor("#4ea1ff"), 1.5))
        p.drawPath(path)
        p.setPen(QColor("#9aa1ad"))
        p.drawText(2, r.top() + 10, f"{y1:.3g}")
        p.drawText(2, r.bottom(), f"{y0:.3g}")
        p.drawText(r.left(), self.height() - 4,
                   f"{len(self.points)} batches · last loss {ys[-1]:.4g}")


class _Bridge(QObject):
    """Signals the worker emits; delivered (queued) on the GUI thread."""
    batch = Signal(float)
    epoch = Signal(int, object)
    finished = Signal(object, object)
    failed = Signal(str)


class _Callback:
    def __init__(self, bridge):
        self.bridge = bridge

    def on_batch_end(self, batch, logs):
        loss = logs.get("loss")
        if loss is not None:
            self.bridge.batch.emit(float(loss))

    def on_epoch_end(self, epoch, logs):
        self.bridge.epoch.emit(int(epoch), dict(logs))


class _SetParams(QUndoCommand):
    def __init__(self, model, new, text):
        super().__init__(text)
        self.model = model
        self.old = dict(model.graph.params)
        self.new = new

    def redo(self):
        self.model.graph.params = dict(self.new)

    def undo(self):
        self.model.graph.params = dict(self.old)


class TrainingPanel(QWidget):
    """Train / Stop and the live loss plot."""

    def __init__(self, window):
        super().__init__(window)
        self.setObjectName("training")
        self.window_ = window
        self.trainer = None
        self.thread = None
        self._stop_asked = threading.Event()
        self.bridge = _Bridge(self)
        self.last_result = None

        self.epochs = QSpinBox()
        self.epochs.setObjectName("trainEpochs")
        self.epochs.setRange(1, 100000)
        self.lr = QDoubleSpinBox()
        self.lr.setObjectName("trainLr")
        self.lr.setDecimals(6)
        self.lr.setRange(1e-6, 100.0)
        self.lr.setSingleStep(0.001)
        self.batch_size = QSpinBox()
        self.batch_size.setObjectName("trainBatchSize")
        self.batch_size.setRange(1, 1000000)
        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("trainStart")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("trainStop")
        self.stop_button.setEnabled(False)
        self.status = QLabel()
        self.status.setObjectName("trainStatus")
        self.status.setWordWrap(True)
        self.plot = LossPlot()

        form = QFormLayout()
        form.addRow("Epochs", self.epochs)
        form.addRow("Learning rate", self.lr)
        form.addRow("Batch size", self.batch_size)
        row = QHBoxLayout()
        row.addWidget(self.train_button)
        row.addWidget(self.stop_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(form)
        lay.addLayout(row)
        lay.addWidget(self.status)
        lay.addWidget(self.plot, 1)

        self.train_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.bridge.batch.connect(self._on_batch)
        self.bridge.epoch.connect(self._on_epoch)
        self.bridge.finished.connect(self._on_finished)
        self.bridge.failed.connect(self._on_failed)
        window.model.graph_reset.connect(self.load_settings)
        self.load_settings()

    @property
    def running(self):
        return self.thread is not None and self.thread.is_alive()

    def load_settings(self):
        """Fill the boxes from the graph's ``train`` section (or defaults)."""
        if self.running:
            return
        t = self.window_.graph.train or {}
        opt = t.get("optimizer") or {}
        self.epochs.setValue(int(t.get("epochs", 10)))
        self.lr.setValue(float(opt.get("lr", t.get("lr", 0.01))))
        self.batch_size.setValue(int(t.get("batch_size", 32)))
        self.train_button.setEnabled(bool(t))
        self.status.setText("" if t else "This graph has no train section.")

    # ---- running ---------------------------------------------------------------------
    def start(self):
        """Start training on a worker thread; False if it cannot start."""
        if self.running:
            return False
        graph = self.window_.graph
        if not graph.train:
            return self._on_failed("this graph has no train section")
        try:
            graph.check()
            work = graph.copy()
        except GraphlabError as e:
            return self._on_failed(e.message)
        self.plot.clear()
        self._steps = 0
        self._stop_asked.clear()
        self.last_result = None
        settings = {"epochs": self.epochs.value(), "lr": self.lr.value(),
                    "batch_size": self.batch_size.value()}
        self.train_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.status.setText("Preparing the data…")
        self.thread = threading.Thread(target=self._work, args=(work, settings),
                                       name="graphlab-train", daemon=True)
        self.thread.start()
        return True

    def _work(self, graph, settings):
        from graphlab.train import Trainer
        bridge = self.bridge
        try:
            trainer = Trainer(graph, callbacks=[_Callback(bridge)], progress=False,
                              handle_sigint=False, **settings)
            self.trainer = trainer
            if self._stop_asked.is_set():
                trainer.stop()
            history = trainer.fit()
        except GraphlabError as e:
            bridge.failed.emit(e.message)
            return
        except Exception as e:  # the worker must report, never vanish silently
            log.exception("training")
            bridge.failed.emit(f"{type(e).__name__}: {e}")
            return
        finally:
            self.trainer = None
        bridge.finished.emit(graph.params, dict(history.final))

    def stop(self):
        """Ask the worker to stop after the current batch."""
        self._stop_asked.set()
        t = self.trainer
        if t is not None:
            t.stop()
        if self.running:
            self.status.setText("Stopping after this batch…")

    def _on_batch(self, loss):
        self._steps += 1
        self.plot.add(self._steps, loss)

    def _on_epoch(self, epoch, logs):
        acc = logs.get("test_accuracy")
        text = f"epoch {epoch + 1}: loss {logs.get('loss', float('nan')):.4g}"
        if acc is not None:
            text += f", test accuracy {acc:.3f}"
        self.status.setText(text)

    def _on_finished(self, params, final):
        self.thread = None
        self.train_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        w = self.window_
        keep = {k: v for k, v in params.items() if k.partition(".")[0] in w.graph}
        new = dict(w.graph.params)
        new.update(keep)
        n = final.get("epochs", 0)
        w.undo_stack.push(_SetParams(w.model, new, f"Train {n} epoch(s)"))
        self.last_result = final
        acc = final.get("test_accuracy")
        text = (f"{final.get('stopped', 'completed')}: {n} epoch(s), "
                f"test loss {final.get('test_loss', float('nan')):.4g}")
        if acc is not None:
            text += f", test accuracy {acc:.3f}"
        self.status.setText(text + " · trained values are in the graph (unsaved)")
        w.statusBar().showMessage(f"Training {text}", 10000)

    def _on_failed(self, message):
        self.thread = None
        self.train_button.setEnabled(bool(self.window_.graph.train))
        self.stop_button.setEnabled(False)
        self.status.setText(f"Cannot train: {message}")
        self.window_.statusBar().showMessage(f"Cannot train: {message}", 15000)
        return False


def open_training(window):
    """Show the training dock (created on first use)."""
    dock = getattr(window, "training_dock", None)
    if dock is None:
        dock = QDockWidget("Training", window)
        dock.setObjectName("trainingDock")
        dock.setWidget(TrainingPanel(window))
        window.addDockWidget(Qt.RightDockWidgetArea, dock)
        window.training_dock = dock
        window.training = dock.widget()
    else:
        window.training.load_settings()
    dock.show()
    dock.raise_()
    return window.training
