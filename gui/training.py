"""The training panel: train the graph as its ``train`` section says, live.

``TrainingPanel(window)`` (objectName ``training``, shown in a dock by
:func:`open_training`) has dataset / optimizer / epochs / learning rate / batch
size boxes filled from ``graph.train``, Train and Stop buttons, a live plot of
the batch losses and one of the test accuracy per epoch. The boxes are
overrides for one run: ``graph.train`` is left alone unless the run ends and
the dataset or optimizer type differed from the section's; then the section
records the dataset and the optimizer object used, in the same undoable step
as the trained values (one Undo puts both back). Training runs :class:`graphlab.train.Trainer` on a worker thread, on a
copy of the graph (editing meanwhile is safe); its callbacks emit Qt signals,
delivered on the GUI thread. When it ends (completed or stopped) the trained
values go into ``window.graph.params`` as one undoable step, which marks the
document as changed.
"""

import copy
import logging
import math
import threading

import numpy as np

from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QUndoCommand
from PySide6.QtWidgets import (
    QComboBox,
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

__all__ = ["LinePlot", "LossPlot", "AccuracyPlot", "TrainingPanel", "open_training",
           "decimate"]

DATASETS = ("digits", "xor", "spiral", "circle", "gauss")
PLANE_SETS = ("circle", "xor", "gauss", "spiral")  # noise and size apply
OPTIMIZERS = ("sgd", "momentum", "adam")

log = logging.getLogger("gui")


def decimate(xs, ys, x0, x1, width):
    """Indices of the points to draw for a line ``width`` pixels wide.

    ``xs`` must be non-decreasing. Each pixel column keeps its first, lowest,
    highest and last point (in their original order), so that spikes survive
    and the path has at most 4 points a column, however many there are.
    """
    n = len(xs)
    width = max(int(width), 1)
    if n <= 4 * width:
        return np.arange(n)
    xs = np.asarray(xs, float)
    ys = np.asarray(ys, float)
    col = np.clip(((xs - x0) / max(x1 - x0, 1e-300) * width).astype(np.int64),
                  0, width - 1)
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    ends = np.r_[starts[1:], n] - 1
    lo = np.minimum.reduceat(ys, starts)
    hi = np.maximum.reduceat(ys, starts)
    # first index within each run where the min / max occurs
    seg = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
    big = np.iinfo(np.int64).max
    idx = np.arange(n)
    imin = np.full(len(starts), big)
    imax = np.full(len(starts), big)
    np.minimum.at(imin, seg, np.where(ys == lo[seg], idx, big))
    np.minimum.at(imax, seg, np.where(ys == hi[seg], idx, big))
    keep = np.concatenate([starts, ends, imin, imax])
    return np.unique(keep)


class LinePlot(QWidget):
    """A line over ``points`` (a list of (x, y)), drawn decimated to the
    widget's pixel width so that long runs stay smooth."""

    color = "#4ea1ff"
    placeholder = "values appear here"
    y_range = None  # fixed (lo, hi), or None to fit the data

    def __init__(self, parent=None):
        super().__init__(parent)
        self.points = []
        self.setMinimumHeight(120)
        self.drawn = 0  # points in the last painted path (for tests)

    def clear(self):
        self.points = []
        self.update()

    def add(self, x, y):
        if y is not None and math.isfinite(y):
            self.points.append((float(x), float(y)))
            self.update()

    def caption(self):
        return f"{len(self.points)} points · last {self.points[-1][1]:.4g}"

    def paintEvent(self, event):
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing, True)
        p.fillRect(self.rect(), QColor("#1d1f23"))
        r = self.rect().adjusted(40, 8, -8, -18)
        p.setPen(QColor("#3a3f47"))
        p.drawRect(r)
        if not self.points:
            p.setPen(QColor("#7d8590"))
            p.drawText(r, Qt.AlignCenter | Qt.TextWordWrap, self.placeholder)
            self.drawn = 0
            return
        pts = np.asarray(self.points, float)
        xs, ys = pts[:, 0], pts[:, 1]
        x0 = float(xs.min())
        x1 = max(float(xs.max()), x0 + 1)
        if self.y_range is not None:
            y0, y1 = self.y_range
        else:
            y0, y1 = float(ys.min()), float(ys.max())
            if y1 - y0 < 1e-12:
                y0, y1 = y0 - 0.5, y1 + 0.5
        keep = decimate(xs, ys, x0, x1, r.width())
        px = r.left() + (xs[keep] - x0) / (x1 - x0) * r.width()
        py = r.bottom() - (ys[keep] - y0) / (y1 - y0) * r.height()
        path = QPainterPath(QPointF(px[0], py[0]))
        for x, y in zip(px[1:].tolist(), py[1:].tolist()):
            path.lineTo(x, y)
        self.drawn = len(keep)
        p.setPen(QPen(QColor(self.color), 1.5))
        p.drawPath(path)
        if len(keep) <= 40:  # few points (epochs): mark them
            p.setBrush(QColor(self.color))
            for x, y in zip(px.tolist(), py.tolist()):
                p.drawEllipse(QPointF(x, y), 2.5, 2.5)
        p.setPen(QColor("#9aa1ad"))
        p.drawText(2, r.top() + 10, f"{y1:.3g}")
        p.drawText(2, r.bottom(), f"{y0:.3g}")
        p.drawText(r.left(), self.height() - 4, self.caption())


class LossPlot(LinePlot):
    """Batch losses as a line (``points``: a list of (step, loss))."""

    placeholder = "loss per batch appears here while training"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("lossPlot")

    def caption(self):
        return f"{len(self.points)} batches · last loss {self.points[-1][1]:.4g}"


class AccuracyPlot(LinePlot):
    """Test accuracy per epoch (``points``: a list of (epoch, accuracy))."""

    color = "#57c785"
    placeholder = "test accuracy per epoch appears here"
    y_range = (0.0, 1.0)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("accuracyPlot")

    def caption(self):
        return f"{len(self.points)} epochs · test accuracy {self.points[-1][1]:.3f}"


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
    """Trained values (and, when given, a new ``train`` section) as one step."""

    def __init__(self, model, new, text, train=None):
        super().__init__(text)
        self.model = model
        self.old = dict(model.graph.params)
        self.new = new
        self.old_train = copy.deepcopy(model.graph.train)
        self.new_train = train

    def redo(self):
        self.model.graph.params = dict(self.new)
        if self.new_train is not None:
            self.model.graph.train = copy.deepcopy(self.new_train)

    def undo(self):
        self.model.graph.params = dict(self.old)
        if self.new_train is not None:
            self.model.graph.train = copy.deepcopy(self.old_train)


def _backend_box():
    """NumPy, and PyTorch where it is installed (``objectName`` trainBackend)."""
    import importlib.util
    box = QComboBox()
    box.setObjectName("trainBackend")
    box.setToolTip("What runs the steps: graphlab's generated NumPy code, or "
                   "PyTorch (the same optimizer, data and checkpoints)")
    box.addItem("NumPy", "numpy")
    if importlib.util.find_spec("torch") is not None:
        box.addItem("PyTorch", "torch")
    return box


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

        self.dataset = QComboBox()
        self.dataset.setObjectName("trainDataset")
        self.dataset.setToolTip("The dataset for this run (the train section's by "
                                "default)")
        self.optimizer = QComboBox()
        self.optimizer.setObjectName("trainOptimizer")
        self.optimizer.setToolTip("The optimizer for this run; its learning-rate "
                                  "schedule and weight decay are kept")
        self.epochs = QSpinBox()
        self.epochs.setObjectName("trainEpochs")
        self.epochs.setRange(1, 100000)
        self.lr = QDoubleSpinBox()
        self.lr.setObjectName("trainLr")
        self.lr.setDecimals(6)
        self.lr.setRange(1e-6, 100.0)
        self.lr.setSingleStep(0.001)
        self.noise = QDoubleSpinBox()
        self.noise.setObjectName("trainNoise")
        self.noise.setRange(0.0, 0.5)
        self.noise.setSingleStep(0.05)
        self.noise.setToolTip("Noise of a 2-D dataset (the Playground's 0–50 %)")
        self.size = QSpinBox()
        self.size.setObjectName("trainSize")
        self.size.setRange(3, 100000)
        self.size.setSpecialValueText("default")  # 500; XOR's four-point table
        self.size.setToolTip("Points of a 2-D dataset (train and test together)")
        self.dataset.currentTextChanged.connect(self._plane_options)
        self.batch_size = QSpinBox()
        self.batch_size.setObjectName("trainBatchSize")
        self.batch_size.setRange(1, 1000000)
        self.backend = _backend_box()
        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("trainStart")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("trainStop")
        self.stop_button.setEnabled(False)
        self.status = QLabel()
        self.status.setObjectName("trainStatus")
        self.status.setWordWrap(True)
        self.plot = LossPlot()
        self.accuracy_plot = AccuracyPlot()

        form = QFormLayout()
        form.addRow("Dataset", self.dataset)
        plane = QHBoxLayout()
        plane.addWidget(QLabel("noise"))
        plane.addWidget(self.noise)
        plane.addWidget(QLabel("size"))
        plane.addWidget(self.size)
        form.addRow("", plane)
        form.addRow("Optimizer", self.optimizer)
        form.addRow("Epochs", self.epochs)
        form.addRow("Learning rate", self.lr)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Backend", self.backend)
        row = QHBoxLayout()
        row.addWidget(self.train_button)
        row.addWidget(self.stop_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(form)
        lay.addLayout(row)
        lay.addWidget(self.status)
        plots = QHBoxLayout()
        plots.addWidget(self.plot, 3)
        plots.addWidget(self.accuracy_plot, 2)
        lay.addLayout(plots, 1)
        from .generate import GenerateBox  # shows itself for language models only
        self.generate_box = GenerateBox(window)
        lay.addWidget(self.generate_box, 1)

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
        data = t.get("data") or {}
        self._fill(self.dataset, DATASETS, data.get("dataset") or "digits")
        self.noise.setValue(float(data.get("noise", 0.0)))
        self.size.setValue(int(data.get("size", data.get("n")) or 3))
        self._plane_options(self.dataset.currentText())
        self._fill(self.optimizer, OPTIMIZERS, opt.get("type") or "sgd")
        self.epochs.setValue(int(t.get("epochs", 10)))
        self.lr.setValue(float(opt.get("lr", t.get("lr", 0.01))))
        self.batch_size.setValue(int(t.get("batch_size", 32)))
        self.train_button.setEnabled(bool(t))
        self.status.setText("" if t else "This graph has no train section.")

    def _plane_options(self, name):
        self.noise.setEnabled(name in PLANE_SETS)
        self.size.setEnabled(name in PLANE_SETS)

    @staticmethod
    def _fill(combo, choices, current):
        """The standard choices plus the section's own when it is another one
        (``npz:PATH``, ``nesterov``, ``adamw``), with ``current`` selected."""
        combo.blockSignals(True)
        combo.clear()
        combo.addItems(list(choices))
        if current not in choices:
            combo.addItem(str(current))
        combo.setCurrentText(str(current))
        combo.blockSignals(False)

    def overrides(self):
        """``(train section for this run, optimizer object)``: the graph's
        section with the chosen dataset and optimizer, as a new dict."""
        t = copy.deepcopy(self.window_.graph.train or {})
        opt = dict(t.get("optimizer") or {"type": "sgd", "lr": 0.01})
        kind = self.optimizer.currentText()
        if kind != opt.get("type", "sgd"):
            # keys every type takes; type-specific ones (betas, momentum…) drop
            opt = {"type": kind, **{k: opt[k] for k in ("weight_decay", "schedule")
                                    if k in opt}}
        opt["lr"] = self.lr.value()
        t["optimizer"] = opt
        data = dict(t.get("data") or {})
        data["dataset"] = self.dataset.currentText()
        if data["dataset"] in PLANE_SETS:
            data.pop("n", None)
            data.pop("size", None)
            if self.size.value() > self.size.minimum():
                data["size"] = self.size.value()
            data["noise"] = self.noise.value()
        t["data"] = data
        return t, opt

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
        section, opt = self.overrides()
        work.train = section
        self._run_section = section
        self.plot.clear()
        self.accuracy_plot.clear()
        self._steps = 0
        self._stop_asked.clear()
        self.last_result = None
        settings = {"epochs": self.epochs.value(), "lr": self.lr.value(),
                    "batch_size": self.batch_size.value(), "optimizer": opt}
        self.train_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.status.setText("Preparing the data…")
        self.thread = threading.Thread(target=self._work, args=(
            work, settings, self.backend.currentData()),
                                       name="graphlab-train", daemon=True)
        self.thread.start()
        return True

    def _work(self, graph, settings, backend="numpy"):
        from graphlab.train import Trainer
        bridge = self.bridge
        try:
            if backend == "torch":  # the same trainer, its steps run by PyTorch
                from graphlab.torch import require_torch
                require_torch()
                from graphlab.torch.train import TorchTrainer
                settings = dict(settings, distributed=False)
                Trainer = TorchTrainer  # noqa: N806
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
        self.accuracy_plot.add(epoch + 1, acc)
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
        # the section records a changed dataset / optimizer type with the
        # values it produced (same undo step); otherwise it stays as it was
        old = w.graph.train or {}
        run = self._run_section
        changed = ((old.get("data") or {}).get("dataset") != run["data"]["dataset"] or
                   (old.get("optimizer") or {}).get("type", "sgd")
                   != run["optimizer"]["type"])
        train = None
        if changed:
            train = copy.deepcopy(old)
            train["data"] = dict(old.get("data") or {}, dataset=run["data"]["dataset"])
            train["optimizer"] = dict(run["optimizer"])
        w.undo_stack.push(_SetParams(w.model, new, f"Train {n} epoch(s)", train))
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
