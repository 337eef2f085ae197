"""The training panel: train the graph as its ``train`` section says, live.

``TrainingPanel(window)`` (objectName ``training``, shown in a dock by
:func:`open_training`) has dataset / optimizer / epochs / learning rate / batch
size boxes filled from ``graph.train``, Train and Stop buttons, a live plot of
the batch losses and one of the test accuracy per epoch (:mod:`gui.plots`).
The boxes are overrides for one run: ``graph.train`` is left alone unless the
run ends and the dataset or optimizer type differed from the section's; then
the section records the dataset and the optimizer object used, in the same
undoable step as the trained values (one Undo puts both back).

Training runs :class:`graphlab.train.Trainer` on a worker thread, on a copy of
the graph (editing meanwhile is safe); its callbacks emit Qt signals,
delivered on the GUI thread. When it ends (completed or stopped) the trained
values go back as one undoable :class:`gui.commands.SetParams`, but only into
the graph they were trained on (not after File→New or Open) and only where
they still fit (:func:`fitting_values`); the others are named in the status
bar and left out, so that a saved file always opens again.
"""

import copy
import logging
import threading

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
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

from .commands import SetParams
from .docks import show_dock
from .guard import guarded
from .plots import AccuracyPlot, LinePlot, LossPlot, decimate
from .util import emit_safely

__all__ = ["LinePlot", "LossPlot", "AccuracyPlot", "TrainingPanel", "open_training",
           "decimate", "fitting_values"]

DATASETS = ("digits", "xor", "spiral", "circle", "gauss")
PLANE_SETS = ("circle", "xor", "gauss", "spiral")  # noise and size apply
OPTIMIZERS = ("sgd", "momentum", "adam")

log = logging.getLogger("gui")


class _Bridge(QObject):
    """Signals the worker emits; delivered (queued) on the GUI thread."""
    begin = Signal(object)
    batch = Signal(object)
    epoch = Signal(int, object)
    finished = Signal(object, object)
    failed = Signal(str)


class _Callback:
    """Trainer callbacks → bridge signals (the bridge may be gone: the window
    closed while the worker finished its batch)."""

    def __init__(self, bridge):
        self.bridge = bridge

    def _emit(self, signal, *args):
        emit_safely(getattr(self.bridge, signal), *args)

    def on_train_begin(self, logs):
        self._emit("begin", dict(logs))

    def on_batch_end(self, batch, logs):
        if logs.get("loss") is not None:
            self._emit("batch", {k: logs.get(k) for k in
                                 ("loss", "epoch", "batch", "batches")})

    def on_epoch_end(self, epoch, logs):
        self._emit("epoch", int(epoch), dict(logs))


def _shapes(graph):
    """``{node: output shapes}`` of the nodes whose shapes are known."""
    report = graph.analyse()
    return {n: tuple(map(tuple, shapes)) for n, shapes in report.shapes.items()
            if shapes is not None and all(x is not None for x in shapes)}


def fitting_values(graph, trained, shapes_then):
    """Split trained values into those that still fit ``graph`` and the rest.

    A value fits when its node is still there; a Parameter's value must have
    the node's current shape, and a state value (``node.running_mean``) needs
    the node's output shapes as they were when training started
    (``shapes_then``, from :func:`_shapes`). Returns ``(kept, [(key, why)])``.
    """
    kept, left = {}, []
    now = _shapes(graph)
    for key, value in trained.items():
        node_id, dot, _ = key.partition(".")
        if node_id not in graph:
            left.append((key, "its node is gone"))
            continue
        node = graph.node(node_id)
        if not dot and node.op == "Parameter":
            try:
                shape = tuple(node.resolved["shape"])
            except GraphlabError:
                shape = None
            if shape != tuple(value.shape):
                left.append((key, f"trained {_dims(value.shape)}, the node is now "
                                  f"{_dims(shape) if shape else 'invalid'}"))
                continue
        elif now.get(node_id) is None or now.get(node_id) != shapes_then.get(node_id):
            left.append((key, "its node's shapes changed"))
            continue
        kept[key] = value
    return kept, left


def _dims(shape):
    return "×".join(str(d) for d in shape) if len(shape) else "scalar"


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
        self.kept_out = []  # keys of trained values not put back (graph changed)
        self._source = None

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
        self.bridge.begin.connect(self._on_begin)
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
    @guarded
    def start(self):
        """Start training on a worker thread; False if it cannot start."""
        if self.running:
            return False
        w = self.window_
        graph = w.graph
        try:
            work = copy_to_train(w)
        except GraphlabError as e:
            return self._on_failed(e.message)
        section, opt = self.overrides()
        work.train = section
        # the trained values may only go back into this graph, where they fit
        self._source = graph
        self._shapes_then = _shapes(graph)
        self._run_section = section
        self.plot.clear()
        self.accuracy_plot.clear()
        self._steps = 0
        self._last_epoch = ""
        self._stop_asked.clear()
        self.last_result = None
        self.kept_out = []
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
        callback = _Callback(self.bridge)
        try:
            if backend == "torch":  # the same trainer, its steps run by PyTorch
                from graphlab.torch import require_torch
                require_torch()
                from graphlab.torch.train import TorchTrainer as make_trainer
                settings = dict(settings, distributed=False)
            else:
                from graphlab.train import Trainer as make_trainer
            trainer = make_trainer(graph, callbacks=[callback], progress=False,
                                   handle_sigint=False, **settings)
            self.trainer = trainer
            for hook in list(self.window_.trainer_hooks):
                try:  # a viewer must never stop the run
                    hook(trainer, graph)
                except Exception:
                    log.exception("trainer hook")
            if self._stop_asked.is_set():
                trainer.stop()
            history = trainer.fit()
        except GraphlabError as e:
            callback._emit("failed", e.message)
            return
        except Exception as e:  # the worker must report, never vanish silently
            log.exception("training")
            callback._emit("failed", f"{type(e).__name__}: {e}")
            return
        finally:
            self.trainer = None
        callback._emit("finished", graph.params, dict(history.final))

    def stop(self):
        """Ask the worker to stop after the current batch."""
        self._stop_asked.set()
        t = self.trainer
        if t is not None:
            t.stop()
        if self.running:
            self.status.setText("Stopping after this batch…")

    @guarded
    def _on_begin(self, logs):
        self._batches = logs.get("batches")
        self.status.setText(f"Training: {logs.get('examples', '?')} examples, "
                            f"{self._batches} batches an epoch…")

    @guarded
    def _on_batch(self, logs):
        self._steps += 1
        self.plot.add(self._steps, logs["loss"])
        if self._stop_asked.is_set():
            return
        epochs = self.epochs.value()
        text = (f"epoch {int(logs.get('epoch') or 0) + 1}/{epochs} · batch "
                f"{int(logs.get('batch') or 0) + 1}/{logs.get('batches') or '?'} · "
                f"loss {logs['loss']:.4g}")
        self.status.setText(text + (f"\n{self._last_epoch}" if self._last_epoch
                                    else ""))

    @guarded
    def _on_epoch(self, epoch, logs):
        acc = logs.get("test_accuracy")
        self.accuracy_plot.add(epoch + 1, acc)
        text = f"epoch {epoch + 1}: loss {logs.get('loss', float('nan')):.4g}"
        if acc is not None:
            text += f", test accuracy {acc:.3f}"
        self._last_epoch = text
        self.status.setText(text)

    @guarded
    def _on_finished(self, params, final):
        self.thread = None
        self.train_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        w = self.window_
        self.last_result = final
        n = final.get("epochs", 0)
        acc = final.get("test_accuracy")
        text = (f"{final.get('stopped', 'completed')}: {n} epoch(s), "
                f"test loss {final.get('test_loss', float('nan')):.4g}")
        if acc is not None:
            text += f", test accuracy {acc:.3f}"
        if w.graph is not self._source:
            self.kept_out = sorted(params)
            why = ("the graph it trained was closed (another file was opened or a "
                   "new one started): the trained values are not kept")
            self.load_settings()  # the boxes show the open graph's section again
            self.status.setText(f"{text} · {why}")
            w.statusBar().showMessage(f"Training {text}; {why}", 15000)
            return
        keep, left = fitting_values(w.graph, params, self._shapes_then)
        self.kept_out = [k for k, _ in left]
        if keep:
            new = dict(w.graph.params)
            new.update(keep)
            w.undo_stack.push(SetParams(w.model, new, f"Train {n} epoch(s)",
                                        self._recorded_section()))
        if left:
            said = "; ".join(f"{k} ({why})" for k, why in left[:4])
            more = f" and {len(left) - 4} more" if len(left) > 4 else ""
            note = (f"{len(left)} trained value(s) kept out because the graph "
                    f"changed while training: {said}{more}")
            self.status.setText(f"{text}\n{note}")
            w.statusBar().showMessage(f"Training {text} · {note}", 20000)
            return
        self.status.setText(text + " · trained values are in the graph (unsaved)")
        w.statusBar().showMessage(f"Training {text}", 10000)

    def _recorded_section(self):
        """The train section to store with the values: a changed dataset or
        optimizer type is recorded (same undo step); otherwise None."""
        old = self.window_.graph.train or {}
        run = self._run_section
        changed = ((old.get("data") or {}).get("dataset") != run["data"]["dataset"] or
                   (old.get("optimizer") or {}).get("type", "sgd")
                   != run["optimizer"]["type"])
        if not changed:
            return None
        train = copy.deepcopy(old)
        train["data"] = dict(old.get("data") or {}, dataset=run["data"]["dataset"])
        train["optimizer"] = dict(run["optimizer"])
        return train

    @guarded
    def _on_failed(self, message):
        self.thread = None
        self.train_button.setEnabled(bool(self.window_.graph.train))
        self.stop_button.setEnabled(False)
        self.status.setText(f"Cannot train: {message}")
        self.window_.statusBar().showMessage(f"Cannot train: {message}", 15000)
        return False


def copy_to_train(window):
    """The window's graph, checked and copied for a training thread, after the
    editors still open (a note, an attribute field) are committed; raises
    :class:`GraphlabError` saying why it cannot train."""
    window.commit_open_editors()
    graph = window.graph
    if not graph.train:
        raise GraphlabError("this graph has no train section")
    graph.check()
    return graph.copy()


def open_training(window):
    """Show the training dock (created on first use)."""
    panel, created = show_dock(window, "training", "Training", TrainingPanel,
                               Qt.RightDockWidgetArea)
    if not created:
        panel.load_settings()
    return panel
