"""The Playground view: what the network and each neuron compute over the plane.

``PlaygroundPanel(window)`` (objectName ``playground``, in a dock opened by
View → Playground, action ``playground``, enabled for graphs whose input is a
point of the plane, see :func:`graphlab.surface.playground_input`) shows:

- the output over the input plane as a heatmap (P(class 1) for two classes,
  orange 0 to blue 1), with the training points (white rim) and the test
  points (dark rim) on it, and axes x₁, x₂ over [−6, 6];
- the train and test loss beside it, per epoch, as numbers and a plot;
- one small heatmap per unit of a chosen node whose output is N×U (a hidden
  Linear, an activation): the node picked in the box ``playNode``, or
  selected on the canvas. Hovering a unit shows its incoming weights.

Train (``playTrain``) runs :class:`graphlab.train.Trainer` on a worker thread
on a copy of the graph, starting from the graph's current values (Reset,
``playReset``, from new ones). The worker computes the frames itself: at most
``fps`` times a second, between batches, it copies the trained values into its
own evaluation program and runs the grid through it in one batch
(:class:`graphlab.surface.Surface`), colours included, and hands the pixels to
the GUI thread, which only draws them; so the interface never waits for the
network. When training ends, the trained values go into the graph as one
undoable step, as the Training dock does.
"""

import contextlib
import logging
import threading
import time

import numpy as np

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QUndoCommand
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from graphlab import surface as surf
from graphlab.errors import GraphlabError

from .docks import show_dock
from .playground_views import RESOLUTION, LossCurves, SurfaceView, UnitGrid, frame_of
from .training import copy_to_train
from .util import emit_safely

__all__ = ["PlaygroundPanel", "open_playground", "add_playground_action"]

log = logging.getLogger("gui")


class _Bridge(QObject):
    """Signals the worker emits; delivered (queued) on the GUI thread."""
    frame = Signal(object)
    epoch = Signal(int, object)
    dock_run = Signal()
    finished = Signal(object, object)
    failed = Signal(str)


def _one_blas_thread():
    """One BLAS thread for a frame's small matrix products: a second thread
    made them several times slower on a busy machine (the Training dock's
    trainer leaves BLAS alone)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1)


class _FrameCallback:
    """On the worker: a frame at most ``fps`` times a second, and every epoch's
    losses."""

    def __init__(self, panel, trainer, surface, fps):
        self.bridge = panel.bridge
        self.units = panel.units
        self.trainer = trainer
        self.surface = surface
        self.base_interval = self.interval = 1.0 / fps
        self.last = 0.0
        self.frames = 0

    def _frame(self, epoch, force=False):
        now = time.perf_counter()
        if not force and now - self.last < self.interval:
            return
        self.last = now
        try:
            cols = self.units.cols
        except RuntimeError:  # the window was deleted: nobody is watching
            self.trainer.stop()
            return
        with _one_blas_thread():
            # laid out on this thread too: the GUI thread only draws
            frame = frame_of(self.surface, self.trainer.program.state_dict(),
                             cols=cols)
        frame["epoch"] = epoch
        frame["seconds"] = spent = time.perf_counter() - now
        # frames take at most a quarter of the training thread's time
        self.interval = max(self.base_interval, 3.0 * spent)
        self.frames += 1
        if not emit_safely(self.bridge.frame, frame):
            self.trainer.stop()

    def on_batch_end(self, batch, logs):
        self._frame(logs["epoch"])

    def on_epoch_end(self, epoch, logs):
        if not emit_safely(self.bridge.epoch, int(epoch), {k: logs.get(k) for k in (
                "loss", "test_loss", "accuracy", "test_accuracy")}):
            self.trainer.stop()

    def on_train_end(self, logs):
        self._frame(logs.get("epochs", 0), force=True)


class _SetValues(QUndoCommand):
    """Trained values into the graph as one undoable step."""

    def __init__(self, model, new, text):
        super().__init__(text)
        self.model = model
        self.old = dict(model.graph.params)
        self.new = new

    def redo(self):
        self.model.graph.params = dict(self.new)

    def undo(self):
        self.model.graph.params = dict(self.old)


def _fits(graph, before, key, value):
    """Whether a trained value still belongs in ``graph``: its node is there,
    unchanged since the run started (op and attributes as in ``before``), and
    the value has the shape of the one it replaces."""
    node_id = key.partition(".")[0]
    if node_id not in graph or before is None or node_id not in before:
        return False
    now, then = graph.node(node_id), before.node(node_id)
    if now.op != then.op or now.attrs != then.attrs:
        return False
    old = graph.params.get(key)
    return old is None or np.shape(old) == np.shape(value)


class PlaygroundPanel(QWidget):
    """The Playground view of the window's graph (see the module docstring)."""

    fps = 20  # frames a second the worker draws at most

    def __init__(self, window):
        super().__init__(window)
        self.setObjectName("playground")
        self.window_ = window
        self.surface = None  # the GUI thread's Surface (tooltips, idle frames)
        self.node = None
        self.thread = None
        self.trainer = None
        self.bridge = _Bridge(self)
        self.frames_shown = 0
        self.last_result = None
        self._stop_asked = threading.Event()
        self._run = None  # (the window's graph, the copy trained) while running
        self._fresh = False
        self._last_state = None

        self.title = QLabel()
        self.title.setObjectName("playTitle")
        self.title.setWordWrap(True)
        self.view = SurfaceView()
        self.units = UnitGrid(self)
        self.curves = LossCurves()
        self.loss_label = QLabel("train loss —\ntest loss —")
        self.loss_label.setObjectName("playLoss")
        big = QFont(self.loss_label.font())
        big.setPointSizeF(big.pointSizeF() + 2)
        self.loss_label.setFont(big)
        self.status = QLabel()
        self.status.setObjectName("playStatus")
        self.status.setWordWrap(True)
        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("playTrain")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("playStop")
        self.stop_button.setEnabled(False)
        self.reset_button = QPushButton("Reset")
        self.reset_button.setObjectName("playReset")
        self.reset_button.setToolTip("Train from new initial values next time")
        self.epochs = QSpinBox()
        self.epochs.setObjectName("playEpochs")
        self.epochs.setRange(1, 100000)
        self.epochs.setPrefix("epochs ")
        self.show_test = QCheckBox("test points")
        self.show_test.setObjectName("playShowTest")
        self.show_test.setChecked(True)
        self.node_box = QComboBox()
        self.node_box.setObjectName("playNode")
        self.node_box.setToolTip("The node whose units are drawn below (or select "
                                 "it on the canvas)")

        controls = QHBoxLayout()
        for w in (self.train_button, self.stop_button, self.reset_button,
                  self.epochs, self.show_test):
            controls.addWidget(w)
        controls.addStretch(1)
        legend = QLabel("Colour: the output, P(class 1): orange 0 · white ½ · blue 1 "
                        "(units: orange negative, blue positive). Points: white rim "
                        "training, dark rim test. Hover a unit for its weights.")
        legend.setObjectName("playLegend")
        legend.setWordWrap(True)
        side = QVBoxLayout()
        side.addWidget(self.loss_label)
        side.addWidget(self.curves, 1)
        side.addWidget(self.status)
        side.addWidget(legend)
        top = QGridLayout()
        top.addWidget(self.view, 0, 0)
        top.addLayout(side, 0, 1)
        top.setColumnStretch(0, 3)
        top.setColumnStretch(1, 2)
        units_row = QHBoxLayout()
        units_row.addWidget(QLabel("Units of"))
        units_row.addWidget(self.node_box, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.title)
        lay.addLayout(controls)
        lay.addLayout(top, 3)
        lay.addLayout(units_row)
        lay.addWidget(self.units, 1)

        self.train_button.clicked.connect(lambda: self.start())
        self.stop_button.clicked.connect(self.stop)
        self.reset_button.clicked.connect(self.reset)
        self.show_test.toggled.connect(self.view.set_show_test)
        self.node_box.currentIndexChanged.connect(self._node_chosen)
        self.bridge.frame.connect(self._on_frame)
        self.bridge.epoch.connect(self._on_epoch)
        self.bridge.finished.connect(self._on_finished)
        self.bridge.failed.connect(self._on_failed)
        window.model.graph_reset.connect(self._load_epochs)
        window.model.graph_reset.connect(self.refresh)
        window.model.changed.connect(self._graph_changed)
        window.undo_stack.indexChanged.connect(self._values_changed)
        window.scene.selectionChanged.connect(self._selection_changed)
        self._load_epochs()
        self.refresh()
        self.bridge.dock_run.connect(self._dock_run_started)
        self._shown = False  # isVisible(), for the dock's worker thread to read
        window.trainer_hooks.append(self._on_dock_trainer)
        window.installEventFilter(self)

    def eventFilter(self, obj, event):
        """The window closed (not just asked to): training stops."""
        if obj is self.window_ and event.type() == QEvent.Type.Close:
            QTimer.singleShot(0, self, self._stop_if_closed)
        return False

    def _stop_if_closed(self):
        if not self.window_.isVisible():
            self.stop()

    def _load_epochs(self):
        if not self.running:
            train = self.window_.graph.train or {}
            self.epochs.setValue(int(train.get("epochs", 50)))

    @property
    def running(self):
        return self.thread is not None and self.thread.is_alive()

    # ---- what is shown ---------------------------------------------------------------
    def refresh(self, keep_curves=False):
        """Rebuild from the graph: title, points, node list and a frame (and
        the loss plot, unless ``keep_curves``)."""
        if self.running:
            return
        g = self.window_.graph
        found = surf.playground_input(g)
        t = g.train or {}
        if found is None:
            self.surface = None
            self._set_nodes([])
            self.view.set_points(None)
            self.view.set_frame(None)
            self.view.message = ("The Playground shows graphs whose input is a point "
                                 "of the plane: a 2-D dataset (circle, xor, gauss, "
                                 "spiral) in the train section, or an Input of "
                                 "shape N×2.")
            self.units.set_units(None, None)
            self.title.setText("")
            self.train_button.setEnabled(False)
            return
        inp, features, spec = found
        what = (f"{spec['dataset']}, {spec.get('size', spec.get('n', 500))} points, "
                f"noise {spec.get('noise', 0)}" if spec else "no dataset")
        self.title.setText(f"<b>{g.name or 'graph'}</b> · {what} · input "
                           f"'{inp}' sees {', '.join(features)}")
        self.train_button.setEnabled(bool(t))
        try:
            nodes = surf.unit_nodes(g, inp)
        except GraphlabError:
            nodes = []
        self._set_nodes(nodes)
        self._rebuild()
        try:
            self.view.set_points(self.surface.dataset() if self.surface else None)
        except GraphlabError as e:
            self.view.set_points(None)
            self.status.setText(f"No points: {e.message}")
        if not keep_curves:
            self.curves.clear()
            self.loss_label.setText("train loss —\ntest loss —")

    def _default_node(self, nodes):
        """The deepest activation before the output (its units are the
        features the output layer combines), else the first node."""
        logits = None
        try:
            logits = surf.output_ref(self.window_.graph)[0]
        except GraphlabError:
            pass
        acts = [n for n in nodes if n != logits
                and self.window_.graph.node(n).op != "Linear"]
        return acts[-1] if acts else (nodes[0] if nodes else None)

    def _set_nodes(self, nodes):
        keep = self.node if self.node in nodes else self._default_node(nodes)
        self.node_box.blockSignals(True)
        self.node_box.clear()
        self.node_box.addItems(nodes)
        if keep is not None:
            self.node_box.setCurrentText(keep)
        self.node_box.blockSignals(False)
        self.node = keep

    def _rebuild(self):
        """A new Surface for the graph's current values; draw one frame."""
        g = self.window_.graph
        try:
            g.check()
            self.surface = surf.Surface(g, resolution=RESOLUTION, node=self.node)
            if self.running and self._last_state is not None:
                self.surface.load(self._last_state)  # the run's latest values
            frame = frame_of(self.surface)  # e.g. an Input of a fixed batch
        except (GraphlabError, ValueError) as e:  # ValueError: values that do not fit
            self.surface = None
            self.view.set_frame(None)
            self.view.message = ("Cannot compute the surface: "
                                 f"{getattr(e, 'message', e)}")
            self.units.set_units(None, None)
            return
        self._show(frame)

    def _show(self, frame):
        self.view.set_frame(frame["rgb"])
        self.units.set_units(self.node, frame["unit_rgb"], frame.get("mosaic"))
        self.frames_shown += 1

    def show_node(self, node):
        """Draw the units of ``node`` (one of the box's choices)."""
        if node is not None and self.node_box.findText(node) >= 0:
            self.node_box.setCurrentText(node)

    def _node_chosen(self, index):
        node = self.node_box.itemText(index) if index >= 0 else None
        if node == self.node:
            return
        self.node = node
        self._rebuild()

    def _selection_changed(self):
        try:
            items = self.window_.scene.selectedItems()
        except RuntimeError:
            return
        ids = [getattr(it, "node_id", None) for it in items]
        ids = [i for i in ids if i is not None]
        if len(ids) == 1:
            self.show_node(ids[0])

    def _graph_changed(self):
        if not self.running and self.isVisible():
            self.refresh()

    def _values_changed(self, *_):
        if not self.running and self.surface is not None and self.isVisible():
            try:
                self.surface.load(self.window_.graph.params)
                frame = frame_of(self.surface)
            except (GraphlabError, ValueError):  # values that no longer fit
                self._rebuild()  # says why on the view
                return
            self._show(frame)

    # ---- training --------------------------------------------------------------------
    def _on_dock_trainer(self, trainer, graph):
        """On the Training dock's worker, before its trainer trains: frames of the
        run from its first step, drawn from the graph it trains (a hook of
        ``window.trainer_hooks``; only plain attributes are read here)."""
        if not self._shown or self.running or self.surface is None:
            return
        try:
            worker_surface = surf.Surface(graph, resolution=RESOLUTION, node=self.node)
        except GraphlabError:
            return
        trainer.callbacks.append(_FrameCallback(self, trainer, worker_surface,
                                                self.fps))
        emit_safely(self.bridge.dock_run)

    def _dock_run_started(self):
        self.curves.clear()
        self.status.setText("Training from the Training dock…")

    def showEvent(self, event):
        self._shown = True
        super().showEvent(event)

    def hideEvent(self, event):
        self._shown = False
        super().hideEvent(event)

    def reset(self):
        """Start the next run from new initial values; show them now."""
        if self.running:
            return
        self._fresh = True
        if self.surface is not None:
            g = self.window_.graph.copy()
            g.params = {}
            fresh = surf.Surface(g, resolution=RESOLUTION, node=self.node)
            self.surface.load(fresh.program.state_dict())
            self._show(frame_of(self.surface))
        self.curves.clear()
        self.status.setText("Next run starts from new initial values.")

    def start(self, epochs=None):
        """Train on a worker thread; False if it cannot start."""
        if self.running or self.surface is None:
            return False
        graph = self.window_.graph
        try:
            work = copy_to_train(self.window_)
        except GraphlabError as e:
            return self._on_failed(e.message)
        self.curves.clear()
        self._stop_asked.clear()
        self._run = (graph, work.copy())
        self._last_state = None
        self.last_result = None
        self.train_button.setEnabled(False)
        self.reset_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.status.setText("Preparing…")
        # one BLAS thread: these matrices are small, and on a busy machine a
        # second thread made each frame's forward several times slower
        settings = {"epochs": int(epochs or self.epochs.value()), "fresh": self._fresh,
                    "threads": 1}
        self.thread = threading.Thread(target=self._work, args=(work, settings),
                                       name="graphlab-playground", daemon=True)
        self.thread.start()
        return True

    def _work(self, graph, settings):
        from graphlab.train import Trainer
        try:
            trainer = Trainer(graph, progress=False, handle_sigint=False, **settings)
            worker_surface = surf.Surface(graph, resolution=RESOLUTION, node=self.node)
            cb = _FrameCallback(self, trainer, worker_surface, self.fps)
            trainer.callbacks.append(cb)
            self.trainer = trainer
            if self._stop_asked.is_set():
                trainer.stop()
            history = trainer.fit()
        except GraphlabError as e:
            emit_safely(self.bridge.failed, e.message)
            return
        except Exception as e:  # the worker must report, never vanish silently
            log.exception("playground training")
            emit_safely(self.bridge.failed, f"{type(e).__name__}: {e}")
            return
        finally:
            self.trainer = None
        emit_safely(self.bridge.finished, graph.params, dict(history.final))

    def stop(self):
        """Ask the worker to stop after the current batch."""
        self._stop_asked.set()
        t = self.trainer
        if t is not None:
            t.stop()

    def wait(self, timeout=None):
        """Block until training ends, then deliver its signals (for scripts)."""
        from PySide6.QtWidgets import QApplication
        t0 = time.perf_counter()
        while self.running:
            QApplication.processEvents()
            time.sleep(0.005)
            if timeout is not None and time.perf_counter() - t0 > timeout:
                return False
        QApplication.processEvents()
        return True

    def _on_frame(self, frame):
        s = self.surface
        if s is None:
            return
        if frame.get("state") is not None:
            s.load(frame["state"])  # tooltips show these weights
            self._last_state = frame["state"]
        if frame["node"] != s.node:  # another node was picked mid-run
            frame = frame_of(s)
        self._show(frame)

    def _on_epoch(self, epoch, logs):
        self.curves.add(logs.get("loss"), logs.get("test_loss"))
        self._loss_text(epoch + 1, logs)

    def _loss_text(self, epochs, logs):
        def f(v, pct=False):
            if v is None:
                return "—"
            return f"{100 * v:.1f} %" if pct else f"{v:.4f}"
        self.loss_label.setText(
            f"train loss {f(logs.get('loss') or logs.get('train_loss'))}\n"
            f"test loss {f(logs.get('test_loss'))}")
        acc = logs.get("test_accuracy")
        self.status.setText(f"epoch {epochs}" + (
            f" · test accuracy {f(acc, True)}" if acc is not None else ""))

    def _on_finished(self, params, final):
        self.thread = None
        self._fresh = False
        self.train_button.setEnabled(True)
        self.reset_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        w = self.window_
        trained_on, before = self._run or (None, None)
        self._run = None
        n = final.get("epochs", 0)
        self.last_result = final
        self._loss_text(n, final)
        done = self.status.text() + f" · {final.get('stopped')}"
        if trained_on is not w.graph:  # File → New or Open during the run
            self.refresh()
            self.status.setText(done + ", trained values not kept: another graph "
                                "is open now")
            return
        fit = {k: v for k, v in params.items() if _fits(w.graph, before, k, v)}
        left = sorted({k.partition(".")[0] for k in params if k not in fit})
        new = dict(w.graph.params)
        new.update(fit)
        w.undo_stack.push(_SetValues(w.model, new, f"Train {n} epoch(s) (Playground)"))
        if left:
            done += (f", trained values not kept for {', '.join(left)} (edited "
                     "during the run)")
            w.statusBar().showMessage(f"Playground: {done.partition(' · ')[2]}", 15000)
        self.refresh(keep_curves=True)  # edits made during the run
        self.status.setText(done + ", trained values are in the graph (unsaved)")

    def _on_failed(self, message):
        self.thread = None
        self._run = None
        self.train_button.setEnabled(bool(self.window_.graph.train))
        self.reset_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.status.setText(f"Cannot train: {message}")
        self.window_.statusBar().showMessage(f"Cannot train: {message}", 15000)
        return False

    def screenshot(self, out, size=(1280, 860)):
        """Render the panel alone to ``out`` (PNG)."""
        from PySide6.QtWidgets import QApplication
        dock = self.window_.playground_dock
        dock.setFloating(True)
        dock.resize(*size)
        dock.show()
        QApplication.processEvents()
        if not self.grab().save(out):
            raise OSError(f"cannot write {out}")


def open_playground(window):
    """Show the Playground dock (created on first use)."""
    panel, _ = show_dock(window, "playground", "Playground", PlaygroundPanel,
                         Qt.BottomDockWidgetArea)
    panel.refresh()
    return panel


def add_playground_action(window, menu):
    """View → Playground (action ``playground``), enabled while the graph's
    input is a point of the plane."""
    from .guard import guarded

    @guarded
    def trigger(*_):
        return open_playground(window)

    action = window._action("playground", "&Playground", trigger, None,
                            "The output and each neuron over the input plane, "
                            "live while training (2-D inputs)")
    menu.addAction(action)

    def update(*_):
        try:
            action.setEnabled(surf.playground_input(window.graph) is not None)
        except Exception:  # an unfinished graph: nothing to show
            action.setEnabled(False)

    window.model.changed.connect(update)
    window.model.graph_reset.connect(update)
    update()
    return action


def screenshot_playground(window, out, epochs=None):
    """``graphlab-gui FILE --screenshot OUT --playground [--train-epochs K]``:
    the Playground view (after K epochs) as a PNG; an error message or None."""
    if not window.actions["playground"].isEnabled():
        return ("the Playground needs a graph whose input is a point of the plane "
                "(a 2-D dataset in its train section, or an Input of shape N×2)")
    panel = open_playground(window)
    if epochs:
        if not panel.start(epochs):
            return panel.status.text()
        panel.wait()
        if panel.last_result is None:
            return panel.status.text()
    panel.screenshot(out)
    return None
