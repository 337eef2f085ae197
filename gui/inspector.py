"""The inspector: the selected node's id, attributes, shapes, counts and problems.

Editors are generated from the op's :class:`graphlab.ops.base.Attr` kinds:
spin boxes for integers, combo boxes for choices, a combo that also takes a
number for padding and init, text for shapes (``N, 1, 8, 8``), pairs and
values. Each keystroke is validated by the op itself (``resolve_attrs``) and
invalid input turns the field red with the op's message; the value is applied
when the field is confirmed (Enter, focus out, a choice picked, a spin-box
arrow), as one undo command. An invalid value then leaves the graph as it
was, and no intermediate value (a shape half retyped) ever reaches the graph,
so layers are not refitted and trained values not dropped on the way.
:meth:`Inspector.commit` confirms the field being typed into (Save, Train and
the stepper call it through the window).

With nothing selected the inspector summarises the graph: totals and every
problem, each a link that selects its node.
"""

import json
import re

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from graphlab.errors import AttrError, PortError, ShapeError
from graphlab.graph import ID_PATTERN
from graphlab.shapes import fmt

from .items.node import human
from .layers import fit_shapes, settings_of

__all__ = ["Inspector", "parse_attr", "format_attr"]

_RED = ("QLineEdit, QComboBox, QSpinBox { border: 1px solid #e5484d; "
        "background: #3a2326; }")
_TOKEN = re.compile(r"-?\d+\Z")


def format_attr(kind, value):
    """An attribute value as the text its editor shows."""
    if value is None:
        return ""
    if kind in ("shape", "pair", "ints", "axes", "padding") and isinstance(
            value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if kind == "value":
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _number(token):
    if _TOKEN.match(token):
        return int(token)
    try:
        return float(token)
    except ValueError:
        return token


def parse_attr(kind, text):
    """Text typed into an editor → a value for the graph (``None``: use the default).

    Raises ``AttrError`` for text that is not even of the right form; the op
    checks ranges and meaning.
    """
    t = text.strip()
    if t == "":
        return None
    if kind in ("shape", "pair", "ints", "axes"):
        t = t.strip("[]()")
        tokens = [x for x in re.split(r"[,\s×x*]+", t) if x] if kind == "shape" else [
            x for x in re.split(r"[,\s]+", t) if x]
        vals = [_number(x) for x in tokens]
        if kind == "shape":
            return [v if not isinstance(v, float) else _bad(text) for v in vals]
        if len(vals) == 1 and kind != "shape":
            return vals[0]
        return vals
    if kind == "padding":
        if t in ("valid", "same", "full"):
            return t
        vals = [_number(x) for x in re.split(r"[,\s]+", t.strip("[]()")) if x]
        return vals[0] if len(vals) == 1 else vals
    if kind == "int":
        v = _number(t)
        return v
    if kind == "float":
        try:
            return float(t)
        except ValueError:
            raise AttrError(f"'{text}' is not a number") from None
    if kind == "init":
        v = _number(t)
        return float(v) if isinstance(v, int) else v
    if kind == "value":
        try:
            return json.loads(t)
        except ValueError:
            raise AttrError("write a number or a JSON list such as [[1, 2], [3, 4]]") \
                from None
    return t


def _bad(text):
    raise AttrError(f"'{text}': sizes are integers or names such as N")


def _hint(err, is_layer_fixable):
    """What to do about an error, in one sentence."""
    if isinstance(err, PortError) and "not connected" in err.message:
        return ("Drag a wire from another node's output port onto the input named "
                "above.")
    if isinstance(err, ShapeError):
        if is_layer_fixable:
            return ("This layer's parameters do not match its input: press “Fit "
                    "parameters to input”, or change the layer settings.")
        return ("Change this node's attributes below, or the nodes feeding it: the "
                "shapes arriving are written on its incoming edges.")
    if isinstance(err, AttrError):
        return "Correct the attribute marked in red below."
    if "unknown op" in err.message:
        return ("This version of graphlab does not know this op. The node is kept "
                "with its attributes and saved unchanged; replace it with a known op "
                "to run the graph.")
    return "Fix the node as the message says; the canvas updates as you edit."


class _Field:
    """One attribute editor row."""

    def __init__(self, inspector, node_id, key, spec, parent):
        self.inspector = inspector
        self.parent = parent  # the row widget: no editor is ever a top-level window
        self.node_id = node_id
        self.key = key
        self.spec = spec
        self.kind = spec.kind
        self.message = QLabel(parent)
        self.message.setObjectName(f"attrError_{key}")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #e5484d; font-size: 11px;")
        self.message.hide()
        self.widget = self._make()
        self.widget.setObjectName(f"attr_{key}")
        tip = spec.doc or ""
        if not spec.required and spec.default is not None:
            default = format_attr(self.kind, spec.default)
            tip += (" — " if tip else "") + f"default: {default}"
        elif spec.required:
            tip += (" — " if tip else "") + "required"
        self.widget.setToolTip(tip)
        # parented: a parentless widget shown is a top-level window
        self.reset = QToolButton(parent)
        self.reset.setText("↺")
        self.reset.setToolTip("Back to the default")
        self.reset.setObjectName(f"reset_{key}")
        self.reset.setVisible(not spec.required)
        self.reset.clicked.connect(lambda: self.apply(None))
        self._loading = False

    @property
    def graph(self):
        return self.inspector.model.graph

    def _make(self):
        spec, kind = self.spec, self.kind
        parent = self.parent
        if kind == "bool":
            w = QCheckBox(parent)
            w.toggled.connect(lambda v: self._edited(v))
            return w
        if kind in ("str", "dtype") and (spec.choices or kind == "dtype"):
            w = QComboBox(parent)
            w.addItems(list(spec.choices or ("float32", "float64", "int64")))
            w.currentTextChanged.connect(lambda t: self._edited(t))
            return w
        if kind in ("padding", "init"):
            w = QComboBox(parent)
            w.setEditable(True)
            w.addItems(["valid", "same", "full"] if kind == "padding"
                       else list(spec.choices or ()))
            w.lineEdit().textEdited.connect(self._typed)
            w.lineEdit().editingFinished.connect(self.commit)
            w.activated.connect(lambda i: self._confirm(w.itemText(i)))
            return w
        if kind == "int":
            w = QSpinBox(parent)
            w.setRange(int(spec.min) if spec.min is not None else -1_000_000,
                       int(spec.max) if spec.max is not None else 1_000_000)
            w.setKeyboardTracking(False)  # Enter, focus out or an arrow applies
            w.valueChanged.connect(lambda v: self._edited(v))
            return w
        w = QLineEdit(parent)
        if kind == "shape":
            w.setPlaceholderText("e.g. N, 1, 28, 28")
        w.textEdited.connect(self._typed)
        w.editingFinished.connect(self.commit)
        return w

    def load(self):
        """Show the node's current value (unless the user is typing here)."""
        if self.inspector.active_field is self:
            return
        attrs = self.graph.node(self.node_id).attrs
        set_ = self.key in attrs
        value = attrs.get(self.key, None if self.spec.required else self.spec.default)
        self._loading = True
        w = self.widget
        try:
            if isinstance(w, QCheckBox):
                w.setChecked(bool(value))
            elif isinstance(w, QSpinBox):
                w.setValue(int(value) if isinstance(value, (int, float)) else 0)
            elif isinstance(w, QComboBox) and not w.isEditable():
                w.setCurrentText(str(value))
            else:
                text = format_attr(self.kind, value) if set_ else ""
                line = w.lineEdit() if isinstance(w, QComboBox) else w
                if isinstance(w, QComboBox):
                    w.setEditText(text)
                else:
                    line.setText(text)
                default = self.spec.default
                line.setPlaceholderText(
                    "required" if self.spec.required else
                    f"default: {format_attr(self.kind, default)}" if default is not None
                    else (self.spec.doc or "none"))
                if self.kind == "value" and len(text) > 400:
                    line.setText(text[:60] + "…")
                    line.setReadOnly(True)
                    line.setToolTip("A large tensor: edit it in the file or set it by "
                                    "training")
        finally:
            self._loading = False
        self.reset.setEnabled(set_)
        self._show_error(None)

    def _typed(self, text):
        """A keystroke: check the text (red with the op's message if wrong),
        apply nothing until the field is confirmed."""
        self.inspector.active_field = self
        try:
            value = parse_attr(self.kind, text)
            node = self.graph.node(self.node_id)
            if not node.placeholder:
                node.op_def.resolve_attrs(self.candidate(value), node=self.node_id)
        except AttrError as e:
            self._show_error(e.message)
            return
        self._show_error(None)

    def text(self):
        """The text being edited (line edits and editable combos), or None."""
        w = self.widget
        if isinstance(w, QLineEdit):
            return None if w.isReadOnly() else w.text()
        if isinstance(w, QComboBox) and w.isEditable():
            return w.currentText()
        return None

    def commit(self):
        """Apply the typed text (Enter, focus out, or the window's Save)."""
        if self._loading or self.node_id not in self.graph:
            return
        if isinstance(self.widget, QSpinBox):
            self.widget.interpretText()  # typed digits not yet confirmed
            return
        text = self.text()
        if text is None:
            return
        if self.inspector.active_field is self:
            self.inspector.active_field = None
        self._confirm(text)

    def _confirm(self, text):
        if self._loading or self.node_id not in self.graph:
            return
        try:
            value = parse_attr(self.kind, text)
        except AttrError as e:
            self._show_error(e.message)  # the graph stays as it was
            return
        self.apply(value)

    def _edited(self, value):
        if self._loading:
            return
        self.apply(value)

    def candidate(self, value):
        attrs = self.graph.node(self.node_id).attrs
        if value is None:
            attrs.pop(self.key, None)
        else:
            attrs[self.key] = value
        return attrs

    def apply(self, value):
        node = self.graph.node(self.node_id)
        attrs = self.candidate(value)
        if attrs == node.attrs:
            self._show_error(None)
            return
        if not node.placeholder:
            try:
                node.op_def.resolve_attrs(attrs, node=self.node_id)
            except AttrError as e:
                self._show_error(e.message)
                return
        self._show_error(None)
        self.inspector.editor.set_attrs(self.node_id, attrs)
        if self.node_id in self.graph:
            self.reset.setEnabled(self.key in self.graph.node(self.node_id).attrs)

    def _show_error(self, message):
        self.message.setText(message or "")
        self.message.setVisible(bool(message))
        self.widget.setStyleSheet(_RED if message else "")
        self.error = message


class Inspector(QScrollArea):
    """The ``inspector`` widget.

    Signals
    -------
    select_requested(str)
        A problem in the graph summary was clicked: select that node.
    """

    select_requested = Signal(str)

    def __init__(self, model, editor, parent=None):
        super().__init__(parent)
        self.setObjectName("inspector")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.NoFrame)
        self.model = model
        self.editor = editor
        self.node_id = None
        self.nodes = []
        self.fields = {}
        self.layer_fields = {}
        self.active_field = None
        self._body = None
        model.analysed.connect(self._refresh)
        model.attrs_changed.connect(self._attrs_changed)
        model.node_renamed.connect(self._renamed)
        model.node_removed.connect(self._removed)
        model.graph_reset.connect(self._reset)
        model.meta_changed.connect(self._refresh)
        model.ui_changed.connect(self._ui_changed)
        self.show_nodes([])

    def commit(self):
        """Apply the attribute field being typed into, if any (Save, Train,
        the stepper: an edit on screen is an edit in the graph)."""
        for f in list(self.fields.values()):
            if f is self.active_field or f.widget.hasFocus():
                f.commit()
        for key, w in list(self.layer_fields.items()):
            if w.hasFocus():
                w.interpretText() if isinstance(w, QSpinBox) else \
                    self._layer_text(key, w)
        if self.node_id is not None and getattr(self, "id_edit", None) is not None \
                and self.id_edit.hasFocus():
            self._id_commit()
        if not self.nodes and getattr(self, "name_edit", None) is not None \
                and self.name_edit.hasFocus():
            self._name_commit()

    # ---- what to show ----------------------------------------------------------------
    def show_nodes(self, node_ids):
        node_ids = [n for n in node_ids if n in self.model.graph]
        if node_ids == self.nodes and self._body is not None:
            return
        self.nodes = list(node_ids)
        self.node_id = node_ids[0] if len(node_ids) == 1 else None
        self.active_field = None
        self._build()

    def _reset(self):
        self.nodes = None
        self.show_nodes([])

    def _removed(self, node_id):
        if node_id in self.nodes:
            self.show_nodes([n for n in self.nodes if n != node_id])

    def _renamed(self, old, new):
        if old in self.nodes:
            # no rebuild: the id field that asked for the rename is still busy
            self.nodes = [new if n == old else n for n in self.nodes]
            if self.node_id == old:
                self.node_id = new
                for f in self.fields.values():
                    f.node_id = new
                if self.id_edit.text() != new:
                    self.id_edit.setText(new)
            self._refresh()

    def _attrs_changed(self, node_id):
        if node_id == self.node_id:
            for f in self.fields.values():
                f.load()

    def _ui_changed(self, node_id):
        if node_id == self.node_id and self._group_label is not None:
            self._fill_group()

    # ---- building --------------------------------------------------------------------
    def _build(self):
        self.fields = {}
        self.layer_fields = {}
        self._group_label = None
        body = QWidget()
        body.setObjectName("inspectorBody")
        lay = QVBoxLayout(body)
        lay.setContentsMargins(10, 10, 10, 10)
        lay.setSpacing(8)
        self._lay = lay
        if self.node_id is not None:
            self._build_node(lay)
        elif self.nodes:
            self._build_many(lay)
        else:
            self._build_graph(lay)
        lay.addStretch(1)
        old = self.takeWidget()
        if old is not None:  # a signal of one of its widgets may be running
            old.hide()
            old.deleteLater()
        self._body = body
        self.setWidget(body)
        self._refresh()

    def _title(self, lay, text, sub=None):
        t = QLabel(text)
        t.setStyleSheet("font-size: 15px; font-weight: bold;")
        t.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(t)
        if sub:
            s = QLabel(sub)
            s.setWordWrap(True)
            s.setStyleSheet("color: #9aa1ad;")
            lay.addWidget(s)

    def _section(self, lay, text):
        h = QLabel(text.upper())
        h.setStyleSheet("color: #8f98a6; font-size: 10px; font-weight: bold; "
                        "letter-spacing: 1px; margin-top: 6px;")
        lay.addWidget(h)

    def _build_node(self, lay):
        g = self.model.graph
        node = g.node(self.node_id)
        fam = "" if node.placeholder else f" · {node.op_def.family}"
        doc = ("Unknown op: kept as a placeholder with its attributes, saved unchanged."
               if node.placeholder else node.op_def.doc)
        self._title(lay, f"{node.op}{fam}", doc)

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignRight)
        self.id_edit = QLineEdit(self.node_id)
        self.id_edit.setObjectName("nodeId")
        self.id_edit.textEdited.connect(self._id_typed)
        self.id_edit.returnPressed.connect(self._id_commit)
        self.id_edit.editingFinished.connect(self._id_commit)
        form.addRow("id", self.id_edit)
        lay.addLayout(form)
        self.id_error = QLabel()
        self.id_error.setStyleSheet("color: #e5484d; font-size: 11px;")
        self.id_error.setWordWrap(True)
        self.id_error.hide()
        lay.addWidget(self.id_error)

        # problems first: they are why one looks
        self.error_box = QLabel()
        self.error_box.setObjectName("errorBox")
        self.error_box.setWordWrap(True)
        self.error_box.setTextFormat(Qt.RichText)
        self.error_box.setStyleSheet("background: #3a2326; border: 1px solid #e5484d; "
                                     "border-radius: 4px; padding: 6px; "
                                     "color: #f2c4c6;")
        lay.addWidget(self.error_box)
        self.fit_button = QPushButton("Fit parameters to input")
        self.fit_button.setObjectName("fitLayer")
        self.fit_button.clicked.connect(lambda: self.editor.fit_layer(self.node_id))
        lay.addWidget(self.fit_button)
        self.warn_box = QLabel()
        self.warn_box.setObjectName("warningBox")
        self.warn_box.setWordWrap(True)
        self.warn_box.setStyleSheet("background: #3a3222; border: 1px solid #f0a640; "
                                    "border-radius: 4px; padding: 6px; color: #f5d9a8;")
        lay.addWidget(self.warn_box)

        found = settings_of(g, self.node_id)
        if found is not None and found[1]:
            kind, settings, _ = found
            self._section(lay, f"layer · {kind.name}")
            lform = QFormLayout()
            for key, value in settings.items():
                if isinstance(value, (list, tuple)):
                    w = QLineEdit(format_attr("pair", value))
                    w.editingFinished.connect(
                        lambda k=key, w=w: self._layer_text(k, w))
                else:
                    w = QSpinBox()
                    w.setRange(1, 1_000_000)
                    w.setValue(int(value))
                    w.setKeyboardTracking(False)
                    w.valueChanged.connect(
                        lambda v, k=key: self.editor.set_layer_settings(
                            self.node_id, {k: v}))
                w.setObjectName(f"layer_{key}")
                w.setToolTip("Resizes this layer's Parameter nodes (one undo step)")
                lform.addRow(key, w)
                self.layer_fields[key] = w
            lay.addLayout(lform)

        if node.placeholder:
            self._section(lay, "attributes (kept as written)")
            text = QLabel(json.dumps(node.attrs, indent=1) if node.attrs else "none")
            text.setTextInteractionFlags(Qt.TextSelectableByMouse)
            text.setWordWrap(True)
            text.setStyleSheet("font-family: 'DejaVu Sans Mono'; font-size: 11px;")
            lay.addWidget(text)
        elif node.op_def.attrs:
            self._section(lay, "attributes")
            form = QFormLayout()
            form.setLabelAlignment(Qt.AlignRight)
            for key, spec in node.op_def.attrs.items():
                row = QWidget(lay.parentWidget())
                f = _Field(self, self.node_id, key, spec, row)
                rl = QVBoxLayout(row)
                rl.setContentsMargins(0, 0, 0, 0)
                rl.setSpacing(2)
                line = QHBoxLayout()
                line.setSpacing(2)
                line.addWidget(f.widget, 1)
                line.addWidget(f.reset)
                rl.addLayout(line)
                rl.addWidget(f.message)
                label = QLabel(key + (" *" if spec.required else ""))
                label.setToolTip(f.widget.toolTip())
                form.addRow(label, row)
                self.fields[key] = f
                f.load()
            lay.addLayout(form)

        self._section(lay, "output")
        self.out_label = QLabel()
        self.out_label.setObjectName("outputInfo")
        self.out_label.setTextFormat(Qt.RichText)
        self.out_label.setWordWrap(True)
        self.out_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(self.out_label)
        self.output_check = QCheckBox("graph output (returned by a run)")
        self.output_check.setObjectName("isOutput")
        self.output_check.toggled.connect(self._toggle_output)
        lay.addWidget(self.output_check)

        self._section(lay, "group")
        row = QHBoxLayout()
        self._group_label = QLabel()
        self._group_label.setWordWrap(True)
        row.addWidget(self._group_label, 1)
        self.collapse_button = QPushButton()
        self.collapse_button.setObjectName("collapseGroup")
        self.collapse_button.clicked.connect(self._toggle_collapse)
        row.addWidget(self.collapse_button)
        lay.addLayout(row)
        self._fill_group()

    def _fill_group(self):
        node = self.model.graph.node(self.node_id)
        group = node.ui.get("group")
        if not group:
            self._group_label.setText("none (select nodes and press Ctrl+G to group)")
            self.collapse_button.hide()
            return
        members = self.editor.group_members(group)
        collapsed = any(self.model.graph.node(n).ui.get("collapsed") for n in members)
        self._group_label.setText(f"{group} · {len(members)} nodes")
        self.collapse_button.setText("Expand" if collapsed else "Collapse")
        self.collapse_button.setVisible(len(members) > 1)

    def _toggle_collapse(self):
        group = self.model.graph.node(self.node_id).ui.get("group")
        if group:
            members = self.editor.group_members(group)
            collapsed = any(self.model.graph.node(n).ui.get("collapsed")
                            for n in members)
            self.editor.set_group_collapsed(group, not collapsed)

    def _toggle_output(self, checked):
        if self._loading_output:
            return
        is_out = any(o.partition(":")[0] == self.node_id
                     for o in self.model.graph.outputs)
        if checked != is_out:
            self.editor.toggle_output(self.node_id)

    def _layer_text(self, key, widget):
        try:
            value = parse_attr("pair", widget.text())
        except AttrError as e:
            widget.setStyleSheet(_RED)
            widget.setToolTip(e.message)
            return
        if isinstance(value, int):
            value = [value, value]
        if not (isinstance(value, list) and len(value) == 2 and all(
                isinstance(v, int) and v >= 1 for v in value)):
            widget.setStyleSheet(_RED)
            widget.setToolTip("a kernel is one or two positive integers: 3 or 3, 5")
            return
        widget.setStyleSheet("")
        self.editor.set_layer_settings(self.node_id, {key: value})

    def _id_typed(self, text):
        msg = None
        if text != self.node_id:
            if not ID_PATTERN.match(text):
                msg = "letters, digits and _, not starting with a digit"
            elif text in self.model.graph:
                msg = f"'{text}' is taken: ids must be unique"
        self.id_error.setText(msg or "")
        self.id_error.setVisible(bool(msg))
        self.id_edit.setStyleSheet(_RED if msg else "")

    def _id_commit(self):
        text = self.id_edit.text()
        if self.node_id is None or text == self.node_id:
            return
        if not self.editor.rename(self.node_id, text):
            self.id_edit.setText(self.node_id)
            self._id_typed(self.node_id)

    def _name_commit(self):
        if self.name_edit.text() != self.model.graph.name:
            self.editor.set_name(self.name_edit.text())

    def _build_many(self, lay):
        self._title(lay, f"{len(self.nodes)} nodes selected")
        self.summary = QLabel()
        self.summary.setObjectName("selectionSummary")
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)

    def _build_graph(self, lay):
        g = self.model.graph
        self._title(lay, "Graph")
        form = QFormLayout()
        self.name_edit = QLineEdit(g.name)
        self.name_edit.setObjectName("graphName")
        self.name_edit.editingFinished.connect(self._name_commit)
        form.addRow("name", self.name_edit)
        lay.addLayout(form)
        self.summary = QLabel()
        self.summary.setObjectName("graphSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.RichText)
        lay.addWidget(self.summary)
        self._section(lay, "problems")
        self.problems = QLabel()
        self.problems.setObjectName("problems")
        self.problems.setWordWrap(True)
        self.problems.setTextFormat(Qt.RichText)
        self.problems.linkActivated.connect(self.select_requested.emit)
        lay.addWidget(self.problems)
        tip = QLabel("Drag ops from the palette, or press Tab on the canvas and type a "
                     "name. Drag from an output port to an input port to connect.")
        tip.setWordWrap(True)
        tip.setStyleSheet("color: #8f98a6; margin-top: 12px;")
        lay.addWidget(tip)

    # ---- refreshing ------------------------------------------------------------------
    _loading_output = False

    def _refresh(self, report=None):
        if self._body is None:
            return
        m = self.model
        g = m.graph
        if self.node_id is not None:
            if self.node_id not in g:
                return
            self._refresh_node()
        elif self.nodes:
            params = sum(m.stats[n].params for n in self.nodes if n in m.stats
                         and g.node(n).op == "Parameter")
            macs = sum(m.stats[n].macs for n in self.nodes if n in m.stats)
            errors = sum(1 for n in self.nodes if n in m.report.node_errors)
            self.summary.setText(f"{human(params)} parameters in selected Parameter "
                                 f"nodes · {human(macs)} multiply-adds"
                                 + (f" · {errors} with errors" if errors else ""))
        else:
            self._refresh_graph()

    def _refresh_node(self):
        m = self.model
        g = m.graph
        n = self.node_id
        err = m.report.node_errors.get(n)
        if err is not None:
            fixable = bool(fit_shapes(g, m.report, n))
            self.error_box.setText(
                f"<b>{_esc(type(err).__name__)}</b>: {_esc(err.message)}"
                f"<br><br><b>What to do:</b> {_esc(_hint(err, fixable))}")
            self.error_box.show()
            self.fit_button.setVisible(fixable)
        else:
            self.error_box.hide()
            self.fit_button.setVisible(False)
        warns = m.warnings_of(n)
        self.warn_box.setText("\n".join(f"⚠ {w}" for w in warns))
        self.warn_box.setVisible(bool(warns))
        rows = []
        for port, shape in m.output_shapes(n):
            rows.append(f"<tr><td>{_esc(port)}&nbsp;&nbsp;</td>"
                        f"<td><b>{_esc(fmt(shape)) if shape is not None else '?'}</b>"
                        "</td></tr>")
        st = m.stats.get(n)
        params = st.params if st else 0
        macs = st.macs if st else 0
        what = ("parameters" if g.node(n).op == "Parameter"
                else "parameters (weights in)")
        rows.append(f"<tr><td>{what}&nbsp;&nbsp;</td><td>{params:,}</td></tr>")
        rows.append(f"<tr><td>multiply-adds&nbsp;&nbsp;</td><td>{macs:,} "
                    "per example</td></tr>")
        self.out_label.setText("<table>" + "".join(rows) + "</table>")
        self._loading_output = True
        self.output_check.setChecked(any(o.partition(":")[0] == n for o in g.outputs))
        self._loading_output = False
        found = settings_of(g, n)
        if found is not None:
            for key, value in found[1].items():
                w = self.layer_fields.get(key)
                if w is None or w.hasFocus():
                    continue
                w.blockSignals(True)
                if isinstance(w, QSpinBox):
                    w.setValue(int(value))
                else:
                    w.setText(format_attr("pair", value))
                w.blockSignals(False)

    def _refresh_graph(self):
        m = self.model
        g = m.graph
        params, trainable, macs, nerr, nwarn = m.totals()
        frozen = params - trainable
        self.summary.setText(
            f"<table><tr><td>nodes&nbsp;&nbsp;</td><td>{len(g)}</td></tr>"
            f"<tr><td>edges</td><td>{len(g.edges)}</td></tr>"
            f"<tr><td>parameters</td><td>{params:,}"
            + (f" ({frozen:,} frozen)" if frozen else "") + "</td></tr>"
            f"<tr><td>multiply-adds</td><td>{macs:,} per example</td></tr>"
            f"<tr><td>outputs</td><td>{_esc(', '.join(g.outputs) or '—')}</td></tr>"
            "</table>")
        items = []
        for err in m.report.errors:
            where = (f"<a href='{_esc(err.node)}' style='color:#ff8a8e'>"
                     f"{_esc(err.node)}</a>: ") if err.node else ""
            items.append(f"<p style='color:#f2c4c6'>✖ {where}{_esc(err.message)}</p>")
        for node, msg in m.report.warnings:
            items.append(f"<p style='color:#f5d9a8'>⚠ <a href='{_esc(node)}' "
                         f"style='color:#f0a640'>{_esc(node)}</a>: {_esc(msg)}</p>")
        self.problems.setText("".join(items) or "<p style='color:#8fd18f'>✔ no problems"
                              "</p>")
        if not self.name_edit.hasFocus():
            self.name_edit.setText(g.name)
            self.name_edit.setCursorPosition(0)  # the start of a long name


def _esc(text):
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))

