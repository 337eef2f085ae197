"""The main window: palette, canvas, inspector, status bar, menus and files.

``MainWindow(path=None)`` builds the window without showing it (tests drive it
that way). ``window.graph`` is the :class:`graphlab.Graph` being edited and
``window.undo_stack`` its ``QUndoStack``. Questions a person must answer (save
changes? recover an autosave? which file?) are methods, ``ask_*``, that tests
replace to answer them programmatically.
"""

import json
import logging
import os

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
)

from graphlab import io
from graphlab.errors import GraphlabError
from graphlab.graph import Graph

from .autosave import Autosave, autosave_path, newer_autosave, stale_untitled
from .editor import FRAGMENT_MIME, Editor
from .guard import guard_call, guarded
from .inspector import Inspector
from .items.node import NodeItem, human
from .menus import add_action, build_actions
from .model import GraphModel
from .onnx_files import OPEN_FILTER, OnnxFiles
from .palette import Palette
from .scene import GraphScene
from .util import settings_dir
from .view import CanvasView
from .viewmenu import (
    add_node_view_actions,
    prepare_view,
    set_view,
    view_aspect,
)

__all__ = ["MainWindow", "unfit_values"]

log = logging.getLogger("gui")
MAX_RECENT = 8
FILE_FILTER = "Graph files (*.graph.json *.json);;All files (*)"
_DOCK_FEATURES = QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable


class MainWindow(OnnxFiles, QMainWindow):
    """The graph editor.

    Parameters
    ----------
    path : str, optional
        A graph file to open.
    recover : "ask", bool
        What to do when a newer autosave exists: ask (``ask_recover``), or
        recover / ignore without asking.
    autosave_interval : float
        Seconds between autosaves while there are unsaved changes.
    """

    def __init__(self, path=None, *, recover="ask", autosave_interval=30.0,
                 parent=None):
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.path = None
        # Called on the Training dock's worker thread with each new trainer and
        # the graph it trains, before it trains (the Playground draws its runs).
        self.trainer_hooks = []
        self._recovered = False
        self._fitted = False
        self._view_touched = False
        self.recover_policy = recover
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setObjectName("undoStack")
        self.model = GraphModel(Graph("untitled"), self)
        self.editor = Editor(self.model, self.undo_stack, self)
        self.scene = GraphScene(self.model, self.editor, self)
        self.view = CanvasView(self.scene, self)
        self.editor.view_of = self._layout_view
        self.setCentralWidget(self.view)
        self._build_docks()
        self._build_status()
        self._build_actions()
        self._connect()
        self.autosave = Autosave(self, autosave_interval)
        self.resize(1600, 1000)
        self._update_title()
        self._update_totals()
        if path is not None:
            self.open_path(path, ask=False)
        else:
            self._offer_untitled_recovery()

    # ---- the graph -------------------------------------------------------------------
    @property
    def graph(self):
        return self.model.graph

    def commit_open_editors(self):
        """Apply what is being typed (a sticky note, an inspector field) before
        saving, closing, training or stepping: what is on screen is saved."""
        self.scene.commit_edits()
        self.inspector.commit()

    def is_dirty(self):
        return self._recovered or not self.undo_stack.isClean()

    def set_graph(self, graph, path=None):
        """Edit another graph: a fresh undo history, laid out if it needs it."""
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self._recovered = False
        self.path = os.fspath(path) if path else None
        self.scene.weights_shown = set()
        needs = prepare_view(graph, self.scene.vertical, self.scene.weights_inside,
                             view_aspect(self))
        self.model.set_graph(graph)
        self._update_title()
        self._fitted = False
        self._view_touched = False
        if self.isVisible():
            self.view.fit_view()
            self._fitted = True
        return needs

    # ---- building --------------------------------------------------------------------
    def _build_docks(self):
        self.palette = Palette(self)
        dock = QDockWidget("Ops", self)
        dock.setObjectName("paletteDock")
        dock.setWidget(self.palette)
        dock.setFeatures(_DOCK_FEATURES)
        self.addDockWidget(Qt.LeftDockWidgetArea, dock)
        self.palette_dock = dock
        self.inspector = Inspector(self.model, self.editor, self)
        dock = QDockWidget("Inspector", self)
        dock.setObjectName("inspectorDock")
        dock.setWidget(self.inspector)
        dock.setFeatures(_DOCK_FEATURES)
        self.addDockWidget(Qt.RightDockWidgetArea, dock)
        self.inspector_dock = dock
        self.resizeDocks([self.palette_dock, self.inspector_dock], [210, 320],
                         Qt.Horizontal)

    def _build_status(self):
        sb = self.statusBar()
        sb.setObjectName("statusBar")
        self.totals_label = QLabel()
        self.totals_label.setObjectName("totals")
        self.zoom_label = QLabel("100%")
        self.zoom_label.setObjectName("zoom")
        sb.addPermanentWidget(self.totals_label)
        sb.addPermanentWidget(self.zoom_label)

    def _action(self, name, text, slot, shortcut=None, tip=None):
        """Add a guarded window action (see :func:`gui.menus.add_action`)."""
        return add_action(self, name, text, slot, shortcut, tip)

    def _build_actions(self):
        build_actions(self)

    def _connect(self):
        self.editor.message.connect(self._message)
        self.editor.failed.connect(self._failed)
        self.editor.placed.connect(self._placed)
        self.palette.place_requested.connect(self.place_at_centre)
        self.view.place_requested.connect(self._place_at)
        self.view.zoom_changed.connect(self._zoom_changed)
        self.view.context_requested.connect(self._context_menu)
        self.scene.selectionChanged.connect(self._selection_changed)
        self.inspector.select_requested.connect(self.select_node)
        self.model.changed.connect(self._update_totals)
        self.model.graph_reset.connect(self._update_totals)
        self.undo_stack.cleanChanged.connect(self._update_title)
        self.undo_stack.indexChanged.connect(self._update_title)

    def _message(self, text):
        self.statusBar().showMessage(text, 10000)

    def _zoom_changed(self, scale):
        self._view_touched = True
        self.zoom_label.setText(f"{scale:.0%}")

    # ---- status and title ------------------------------------------------------------
    def _update_title(self, *_):
        name = os.path.basename(self.path) if self.path else "untitled"
        title = self.graph.name or ""
        text = f"{name}[*]" + (f" — {title}" if title and title != "untitled" else "")
        self.setWindowTitle(f"{text} — graphlab")
        self.setWindowModified(self.is_dirty())

    def _update_totals(self):
        params, trainable, macs, nerr, nwarn = self.model.totals()
        g = self.graph
        problems = (f"✖ {nerr} error{'s' if nerr != 1 else ''}" if nerr
                    else "✔ no errors")
        if nwarn:
            problems += f" · ⚠ {nwarn} warning{'s' if nwarn != 1 else ''}"
        self.totals_label.setText(
            f"{len(g)} nodes · {params:,} parameters ({human(params)}) · "
            f"{human(macs)} multiply-adds per example · {problems}")

    def show_exception(self, exc, text=""):
        """An unexpected error: status bar, log, and a dialog that does not block."""
        msg = (exc.message if isinstance(exc, GraphlabError)
               else f"{type(exc).__name__}: {exc}")
        self.statusBar().showMessage(f"Error: {msg}", 15000)
        if isinstance(exc, GraphlabError):
            return
        self._failed("Unexpected error", f"{msg}\n\n{text}")

    def _failed(self, title, text):
        self.statusBar().showMessage(f"{title}: {text.splitlines()[0]}", 15000)
        if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
            log.error("%s: %s", title, text)
            return
        box = QMessageBox(QMessageBox.Critical, title, text.split("\n\n")[0],
                          QMessageBox.Ok, self)
        box.setDetailedText(text)
        box.setModal(False)
        box.open()

    # ---- selection and placing -------------------------------------------------------
    def _selection_changed(self):
        try:
            items = self.scene.selectedItems()
        except RuntimeError:  # the scene is going away
            return
        ids = [it.node_id for it in items if isinstance(it, NodeItem)]
        self.inspector.show_nodes(ids)

    def select_node(self, node_id):
        if node_id in self.scene.node_items:
            self.scene.select_nodes([node_id])
            self.view.centerOn(self.scene.node_items[node_id])

    def _placed(self, ids):
        self.scene.select_nodes(ids)

    @guarded
    def _place_at(self, name, scene_pos):
        # the box's top-left goes a little up-left of the point, so that the
        # node lands under the cursor
        return self.editor.place(name, (scene_pos.x() - 20, scene_pos.y() - 12))

    @guarded
    def place_at_centre(self, name):
        c = self.view.mapToScene(self.view.viewport().rect().center())
        # don't stack repeated placements exactly on top of each other
        x, y = c.x() - 80, c.y() - 40
        taken = {(it.pos().x(), it.pos().y()) for it in self.scene.node_items.values()}
        while (round(x), round(y)) in taken:
            x += 30
            y += 30
        return self.editor.place(name, (x, y))

    # ---- edit actions ----------------------------------------------------------------
    @guarded
    def delete_selection(self):
        s = self.scene
        self.editor.delete(s.selected_nodes(), s.selected_notes(), s.selected_edges())

    def select_all(self):
        for it in list(self.scene.node_items.values()) + list(
                self.scene.note_items.values()):
            if it.isVisible():
                it.setSelected(True)

    @guarded
    def copy(self):
        s = self.scene
        nodes, notes = s.selected_nodes(), s.selected_notes()
        if not nodes and not notes:
            self.statusBar().showMessage("Nothing selected to copy", 5000)
            return False
        frag = self.editor.fragment(nodes, notes)
        from PySide6.QtCore import QMimeData
        md = QMimeData()
        text = json.dumps(frag)
        md.setData(FRAGMENT_MIME, text.encode())
        md.setText(text)
        QApplication.clipboard().setMimeData(md)
        self.statusBar().showMessage(f"Copied {len(nodes)} nodes", 4000)
        return True

    @guarded
    def cut(self):
        if self.copy():
            self.delete_selection()

    @guarded
    def paste(self):
        md = QApplication.clipboard().mimeData()
        if md is None:
            return []
        if md.hasFormat(FRAGMENT_MIME):
            text = bytes(md.data(FRAGMENT_MIME)).decode()
        else:
            text = md.text()
        at = None
        local = self.view.viewport().mapFromGlobal(self.view.cursor().pos())
        if self.view.viewport().rect().contains(local) and self.view.underMouse():
            p = self.view.mapToScene(local)
            at = (p.x(), p.y())
        return self.editor.paste(text, at=at)

    @guarded
    def duplicate(self):
        s = self.scene
        nodes, notes = s.selected_nodes(), s.selected_notes()
        if not nodes and not notes:
            self.statusBar().showMessage("Select nodes to duplicate", 5000)
            return []
        return self.editor.paste(self.editor.fragment(nodes, notes))

    @guarded
    def group_selection(self):
        self.editor.group(self.scene.selected_nodes())

    @guarded
    def ungroup_selection(self):
        self.editor.ungroup(self.scene.selected_nodes())

    @guarded
    def toggle_collapse(self):
        sel = [it.node_id for it in self.scene.selectedItems()
               if isinstance(it, NodeItem)]
        for n in sel:
            group = self.graph.node(n).ui.get("group")
            if group:
                members = self.editor.group_members(group)
                collapsed = any(self.graph.node(m).ui.get("collapsed") for m in members)
                self.editor.set_group_collapsed(group, not collapsed)
                return
        self.statusBar().showMessage("Select a node of a group to collapse it", 5000)

    @guarded
    def toggle_output(self):
        sel = [it.node_id for it in self.scene.selectedItems()
               if isinstance(it, NodeItem)]
        if len(sel) == 1:
            self.editor.toggle_output(sel[0])

    @guarded
    def add_note(self, scene_pos=None):
        p = scene_pos if scene_pos is not None else self.view.mapToScene(
            self.view.viewport().rect().center())
        nid = self.editor.add_note((p.x(), p.y()), "Double-click to edit this note")
        if nid:
            self.scene.clearSelection()
            self.scene.note_items[nid].setSelected(True)
        return nid

    @guarded
    def auto_layout(self):
        self.editor.auto_layout()
        self.view.fit_view()

    def fit_view(self):
        self.view.fit_view()

    @guarded
    def open_stepper(self):
        """Show the chain-rule stepper (View → Chain-rule stepper)."""
        from .stepper import open_stepper
        return open_stepper(self)

    @guarded
    def open_training(self):
        """Show the training panel (View → Training)."""
        from .training import open_training
        return open_training(self)

    @guarded
    def open_inspect_model(self):
        """Show the model inspection dock (View → Inspect model)."""
        from .inspect_model import open_inspect_model
        return open_inspect_model(self)

    def _toggle_minimap(self, on):
        self.view.minimap.setVisible(on)

    def _context_menu(self, global_pos, scene_pos):
        menu = QMenu(self)
        item = self.scene.node_item_at(scene_pos)
        if item is not None:
            if not item.isSelected():
                self.scene.select_nodes([item.node_id])
            group = self.graph.node(item.node_id).ui.get("group")
            if group:
                menu.addAction(self.actions["toggleCollapse"])
            add_node_view_actions(self, menu, item.node_id)
            menu.addAction(self.actions["toggleOutput"])
            menu.addAction(self.actions["duplicate"])
            menu.addAction(self.actions["delete"])
            stepper = getattr(self, "stepper", None)
            if stepper is not None:
                stepper.add_context_actions(menu, item.node_id)
            menu.addSeparator()
        menu.addAction("Add Node Here…",
                       guard_call(self, lambda: self.view.open_search(scene_pos)))
        menu.addAction("Add Sticky Note Here",
                       guard_call(self, lambda: self.add_note(scene_pos)))
        menu.addSeparator()
        menu.addAction(self.actions["autoLayout"])
        menu.addAction(self.actions["fitView"])
        menu.popup(global_pos)
        self._menu = menu

    # ---- files -----------------------------------------------------------------------
    def ask_save_changes(self):
        """``"save"``, ``"discard"`` or ``"cancel"`` (tests replace this)."""
        name = os.path.basename(self.path or "untitled")
        box = QMessageBox(QMessageBox.Warning, "Unsaved changes",
                          f"Save the changes to {name} before closing?",
                          QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel,
                          self)
        box.setDefaultButton(QMessageBox.Save)
        r = box.exec()
        return {QMessageBox.Save: "save", QMessageBox.Discard: "discard"}.get(
            QMessageBox.StandardButton(r), "cancel")

    def ask_recover(self, autosave, original):
        """Whether to recover ``autosave`` (newer than ``original``)."""
        r = QMessageBox.question(
            self, "Recover unsaved work?",
            f"An autosave of {os.path.basename(original or 'an untitled graph')} is "
            "newer than the file: the editor did not close normally.\n\nRecover the "
            "autosaved version? (No deletes the autosave.)",
            QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
        return r == QMessageBox.Yes

    def ask_open_path(self):
        path, _ = QFileDialog.getOpenFileName(self, "Open graph", self._dir(),
                                              OPEN_FILTER)
        return path or None

    def ask_save_path(self):
        path, _ = QFileDialog.getSaveFileName(self, "Save graph as", self._dir(),
                                              FILE_FILTER)
        if path and not path.endswith(".json"):
            path += ".graph.json"
        return path or None

    def _dir(self):
        return os.path.dirname(self.path) if self.path else self.import_dir()

    def maybe_save(self):
        """Ask about unsaved changes; False if the user cancelled."""
        self.commit_open_editors()
        if not self.is_dirty():
            return True
        choice = self.ask_save_changes()
        if choice == "save":
            return self.save()
        if choice == "discard":
            self.autosave.discard()
            return True
        return False

    @guarded
    def new_file(self):
        if not self.maybe_save():
            return False
        self.autosave.discard()
        self.set_graph(Graph("untitled"))
        return True

    @guarded
    def open_dialog(self):
        path = self.ask_open_path()
        if path:
            return self.open_path(path)
        return False

    def open_path(self, path, ask=True):
        """Open a graph file (unknown ops kept as placeholders)."""
        if ask and not self.maybe_save():
            return False
        path = os.fspath(path)
        try:
            g = io.load(path, lenient=True)
        except GraphlabError as e:
            self._open_failed(path, str(e))  # names the node, when there is one
            return False
        except Exception as e:
            log.exception("opening %s", path)
            self._open_failed(path, f"{type(e).__name__}: {e}")
            return False
        if path.lower().endswith(".onnx"):
            return self.opened_onnx(g, path)
        recovered = False
        auto = newer_autosave(path)
        if auto is not None and self._should_recover(auto, path):
            try:
                g = io.load(auto, lenient=True)
                g.path = path
                recovered = True
            except GraphlabError as e:
                self.statusBar().showMessage(f"Could not recover the autosave: "
                                             f"{e.message}", 10000)
        elif auto is not None:
            os.remove(auto)
        self.autosave.discard()
        relaid = self.set_graph(g, path)
        self._recovered = recovered
        self._update_title()
        self._add_recent(path)
        placeholders = [n for n in g.nodes if g.node(n).placeholder]
        msg = f"Opened {os.path.basename(path)}"
        if recovered:
            msg = (f"Recovered unsaved changes to {os.path.basename(path)} from the "
                   "autosave")
        if placeholders:
            msg += (f" · {len(placeholders)} node(s) with ops this version does not "
                    f"know kept as placeholders: {', '.join(placeholders[:4])}")
        elif relaid:
            msg += f" · laid out ({relaid})"
        self.statusBar().showMessage(msg, 12000)
        return True

    def _should_recover(self, auto, original):
        if self.recover_policy == "ask":
            return self.ask_recover(auto, original)
        return bool(self.recover_policy)

    def _offer_untitled_recovery(self):
        if self.recover_policy is False:
            return
        stale = stale_untitled()
        if not stale or not self._should_recover(stale[0], None):
            for f in stale:
                _remove(f)
            return
        try:
            g = io.load(stale[0], lenient=True)
        except GraphlabError:
            return
        g.path = None
        self.set_graph(g)
        self._recovered = True
        self._update_title()
        for f in stale:
            _remove(f)
        self.statusBar().showMessage("Recovered an untitled graph from its autosave",
                                     12000)

    def _open_failed(self, path, message):
        self.statusBar().showMessage(f"Cannot open {path}: {message}", 15000)
        if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
            return
        box = QMessageBox(QMessageBox.Critical, "Cannot open file",
                          f"{os.path.basename(path)}:\n{message}", QMessageBox.Ok, self)
        box.setModal(False)
        box.open()

    @guarded
    def save(self):
        if not self.path:
            return self.save_as()
        return self.save_to(self.path)

    @guarded
    def save_as(self):
        path = self.ask_save_path()
        if not path:
            return False
        return self.save_to(path)

    def save_to(self, path):
        self.commit_open_editors()
        old_auto = autosave_path(self.path) if self.is_dirty() else None
        unfit = unfit_values(self.graph)
        try:
            if unfit:
                # values that no longer fit their node would make a file that
                # does not open: write the rest (they stay in memory for Undo)
                g = self.graph.copy()
                g.params = {k: v for k, v in g.params.items() if k not in unfit}
                io.save(g, path)
                self.graph.params_file = g.params_file
            else:
                io.save(self.graph, path)
        except GraphlabError as e:
            self.statusBar().showMessage(f"Cannot save: {e.message}", 15000)
            self._failed("Cannot save", f"{path}: {e.message}")
            return False
        self.autosave.discard()
        if old_auto and os.path.exists(old_auto):
            _remove(old_auto)
        self.path = os.fspath(path)
        self._recovered = False
        self.undo_stack.setClean()
        self._update_title()
        self._add_recent(self.path)
        msg = f"Saved {os.path.basename(path)}"
        if unfit:
            msg += (" · values not saved because they no longer fit their node: "
                    + ", ".join(f"{k} ({why})" for k, why in list(unfit.items())[:4]))
        self.statusBar().showMessage(msg, 15000 if unfit else 6000)
        return True

    # ---- recent files ----------------------------------------------------------------
    def _settings(self):
        return QSettings(os.path.join(settings_dir(), "gui.ini"), QSettings.IniFormat)

    def recent_files(self):
        v = self._settings().value("recent", [])
        if isinstance(v, str):
            v = [v]
        return [p for p in (v or []) if isinstance(p, str)]

    def _add_recent(self, path):
        path = os.path.abspath(path)
        files = [path] + [p for p in self.recent_files() if p != path]
        s = self._settings()
        s.setValue("recent", files[:MAX_RECENT])
        s.sync()
        self._refresh_recent()

    def _refresh_recent(self):
        self.recent_menu.clear()
        files = [p for p in self.recent_files() if os.path.exists(p)]
        for p in files:
            self.recent_menu.addAction(
                os.path.basename(p),
                guard_call(self, lambda p=p: self.open_path(p))).setToolTip(p)
        self.recent_menu.setEnabled(bool(files))

    # ---- window events ---------------------------------------------------------------
    def showEvent(self, event):
        super().showEvent(event)
        if not self._fitted:
            self._fitted = True
            QTimer.singleShot(0, self._initial_fit)

    def _initial_fit(self):
        # once the window has its size; not if the view was zoomed meanwhile
        if not self._view_touched:
            self.view.fit_view()

    def closeEvent(self, event):
        if not self.maybe_save():
            event.ignore()
            return
        self.autosave.timer.stop()
        if getattr(self, "training", None) is not None:
            self.training.stop()  # the worker stops after its current batch
        if not self.is_dirty():
            self.autosave.discard()
        event.accept()

    # ---- screenshots -----------------------------------------------------------------
    def screenshot(self, out, *, size=(1600, 1000)):
        """Render the window at ``size`` (width, height) to ``out`` (PNG), with
        the view fitted to the graph. The window is never made larger than
        asked: a big graph is shown as the canvas shows it at that size
        (collapsed groups, labels kept legible)."""
        app = QApplication.instance()
        self.resize(*size)
        self.show()
        app.processEvents()
        if self.size().width() != size[0] or self.size().height() != size[1]:
            self.resize(*size)  # a minimum size of the docks may have won
            app.processEvents()
        self.view.fit_view()
        app.processEvents()
        pm = self.grab()
        if pm.width() != size[0] or pm.height() != size[1]:
            pm = pm.scaled(size[0], size[1], Qt.IgnoreAspectRatio,
                           Qt.SmoothTransformation)
        if not pm.save(out):
            raise OSError(f"cannot write {out}")
        return pm

    # ---- view modes (gui.viewmenu) ------------------------------------------------------
    def _layout_view(self):
        return self.scene.view_for(), view_aspect(self)

    def set_view(self, vertical=None, weights_inside=None, shown=None, relayout=False):
        """Show the graph another way (:func:`gui.viewmenu.set_view`)."""
        return set_view(self, vertical, weights_inside, shown, relayout)


def unfit_values(graph):
    """``{key: why}`` for parameter values the file could not be opened with:
    a node that is gone, or a Parameter's value of another shape."""
    out = {}
    for key, value in graph.params.items():
        node_id, dot, _ = key.partition(".")
        if node_id not in graph:
            out[key] = "its node is gone"
            continue
        node = graph.node(node_id)
        if dot or node.op != "Parameter" or node.placeholder:
            continue
        try:
            shape = tuple(node.resolved["shape"])
        except GraphlabError:
            continue  # the node itself is in error; the loader says so
        if tuple(value.shape) != shape:
            out[key] = (f"{'×'.join(map(str, value.shape))}, the node is "
                        f"{'×'.join(map(str, shape))}")
    return out


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass
