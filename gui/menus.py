"""The main window's actions, menus and toolbar.

:func:`build_actions` makes them once; a feature adds its own entry with
:func:`add_action` (``window.actions[name]``), whose slot is guarded: an
exception in it is shown in the window and never raised into Qt.
"""

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QToolBar

from .guard import guard_call
from .onnx_files import export_tip
from .viewmenu import add_view_menu, build_view_actions

__all__ = ["add_action", "build_actions"]


def add_action(window, name, text, slot, shortcut=None, tip=None):
    """A window action: ``window.actions[name]``, its slot kept in
    ``window._slots[name]`` and looked up when triggered (tests replace it),
    an exception in it shown in the window, never raised into Qt."""
    a = QAction(text, window)
    a.setObjectName(name)
    if shortcut is not None:
        if isinstance(shortcut, (list, tuple)):
            a.setShortcuts([QKeySequence(s) for s in shortcut])
        else:
            a.setShortcut(QKeySequence(shortcut))
    if tip:
        a.setStatusTip(tip)
    window._slots[name] = slot
    a.triggered.connect(guard_call(window, lambda checked=False, n=name: (
        window._slots[n](checked) if window.actions[n].isCheckable()
        else window._slots[n]())))
    window.addAction(a)
    window.actions[name] = a
    return a


def build_actions(window):
    """Every action, the menus and the toolbar of the main window."""
    window.actions = {}
    window._slots = {}

    def A(*args):
        return add_action(window, *args)

    A("new", "&New", window.new_file, QKeySequence.New, "Start an empty graph")
    A("open", "&Open…", window.open_dialog, QKeySequence.Open)
    A("save", "&Save", window.save, QKeySequence.Save)
    A("saveAs", "Save &As…", window.save_as, QKeySequence.SaveAs)
    A("export", "&Export…", window.export_dialog, "Ctrl+Shift+E", export_tip())
    A("quit", "&Quit", window.close, QKeySequence.Quit)
    undo = window.undo_stack.createUndoAction(window, "&Undo")
    undo.setObjectName("undo")
    undo.setShortcuts([QKeySequence("Ctrl+Z")])
    redo = window.undo_stack.createRedoAction(window, "&Redo")
    redo.setObjectName("redo")
    redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    window.addAction(undo)
    window.addAction(redo)
    window.actions["undo"], window.actions["redo"] = undo, redo
    A("cut", "Cu&t", window.cut, QKeySequence.Cut)
    A("copy", "&Copy", window.copy, QKeySequence.Copy)
    A("paste", "&Paste", window.paste, QKeySequence.Paste)
    A("duplicate", "&Duplicate", window.duplicate, "Ctrl+D")
    A("delete", "&Delete", window.delete_selection,
      [QKeySequence.Delete, "Backspace"])
    A("selectAll", "Select &All", window.select_all, QKeySequence.SelectAll)
    A("group", "&Group", window.group_selection, "Ctrl+G",
      "Put the selected nodes in one group")
    A("ungroup", "&Ungroup", window.ungroup_selection, "Ctrl+Shift+G")
    A("toggleCollapse", "Collapse/&Expand Group", window.toggle_collapse, "Ctrl+E")
    A("addNote", "Add Sticky &Note", window.add_note, "Ctrl+Shift+N")
    A("toggleOutput", "Toggle Graph &Output", window.toggle_output)
    A("searchOp", "Add &Node…", lambda: window.view.open_search(), None,
      "Search an op or layer by name (Tab on the canvas)")
    A("autoLayout", "&Auto Layout", window.auto_layout, "Ctrl+L",
      "Lay the graph out in the view's direction")
    A("fitView", "&Fit to View", window.fit_view, "F")
    A("zoomIn", "Zoom &In", lambda: window.view.zoom_by(1.25), QKeySequence.ZoomIn)
    A("zoomOut", "Zoom &Out", lambda: window.view.zoom_by(0.8), QKeySequence.ZoomOut)
    A("resetZoom", "&Actual Size", lambda: window.view.set_scale(1.0), "Ctrl+0")
    A("toggleMinimap", "&Minimap", window._toggle_minimap)
    A("stepper", "&Chain-rule stepper", window.open_stepper, None,
      "Step through the forward and backward pass of the graph")
    A("training", "&Training", window.open_training, None,
      "Train the graph as its train section says, with a live loss plot")
    A("inspectModel", "&Inspect model", window.open_inspect_model, None,
      "Conv filters, feature maps and a handwriting pad for the current values")
    window.actions["toggleMinimap"].setCheckable(True)
    window.actions["toggleMinimap"].setChecked(True)
    build_view_actions(window)
    # shortcuts that only make sense on the canvas must not fire while typing
    for name in ("fitView",):
        window.actions[name].setShortcutContext(Qt.WidgetWithChildrenShortcut)
        window.view.addAction(window.actions[name])

    mb = window.menuBar()
    m = mb.addMenu("&File")
    for n in ("new", "open"):
        m.addAction(window.actions[n])
    window.recent_menu = m.addMenu("Open &Recent")
    window.recent_menu.setObjectName("recentMenu")
    m.addSeparator()
    for n in ("save", "saveAs", "export"):
        m.addAction(window.actions[n])
    m.addSeparator()
    m.addAction(window.actions["quit"])
    m = mb.addMenu("&Edit")
    for n in ("undo", "redo", None, "cut", "copy", "paste", "duplicate", "delete",
              None, "selectAll"):
        m.addSeparator() if n is None else m.addAction(window.actions[n])
    m = mb.addMenu("&Graph")
    for n in ("searchOp", "addNote", None, "group", "ungroup", "toggleCollapse",
              "toggleOutput", None, "autoLayout"):
        m.addSeparator() if n is None else m.addAction(window.actions[n])
    m = mb.addMenu("&View")
    for n in ("fitView", "zoomIn", "zoomOut", "resetZoom", None, "toggleMinimap"):
        m.addSeparator() if n is None else m.addAction(window.actions[n])
    add_view_menu(window, m)
    m.addAction(window.palette_dock.toggleViewAction())
    m.addAction(window.inspector_dock.toggleViewAction())
    m.addSeparator()
    m.addAction(window.actions["stepper"])
    m.addAction(window.actions["training"])
    m.addAction(window.actions["inspectModel"])
    from .playground import add_playground_action
    add_playground_action(window, m)

    tb = QToolBar("Main", window)
    tb.setObjectName("mainToolbar")
    tb.setMovable(False)
    tb.setToolButtonStyle(Qt.ToolButtonTextOnly)
    for n in ("new", "open", "save", None, "undo", "redo", None, "autoLayout",
              "fitView", "addNote"):
        if n is None:
            tb.addSeparator()
        elif n in ("undo", "redo"):
            tb.addAction(_toolbar_twin(window, n))
        else:
            tb.addAction(window.actions[n])
    window.addToolBar(tb)
    window._refresh_recent()


def _toolbar_twin(window, name):
    """A fixed-width toolbar button for undo/redo (the stack's own actions
    change their text to "Undo Move 'conv1'", which makes the bar jump)."""
    a = QAction("Undo" if name == "undo" else "Redo", window)
    a.setObjectName(f"{name}Button")
    stack = window.undo_stack
    if name == "undo":
        a.triggered.connect(stack.undo)
        stack.canUndoChanged.connect(a.setEnabled)
        stack.undoTextChanged.connect(a.setToolTip)
        a.setEnabled(stack.canUndo())
    else:
        a.triggered.connect(stack.redo)
        stack.canRedoChanged.connect(a.setEnabled)
        stack.redoTextChanged.connect(a.setToolTip)
        a.setEnabled(stack.canRedo())
    return a
