"""What a user can do to the graph, each as one undo command.

The :class:`Editor` turns gestures and menu actions (place an op, wire two
ports, delete a selection, paste, lay out…) into commands from
:mod:`gui.commands`, applies them, and pushes them on the undo stack. A
refused edit (a cycle, a taken port, a bad attribute) leaves the graph as it
was and is reported through the ``message`` signal (the status bar); an
unexpected exception goes to the ``failed`` signal (a dialog) with its
traceback logged.
"""

import copy
import json
import logging
import re

from PySide6.QtCore import QObject, Signal

from graphlab.errors import GraphlabError
from graphlab.io import node_dict
from graphlab.ops.base import get_op

from . import commands as cmd
from .commands import unique_id
from .items.port import W_SOURCE, geometry_for
from .layers import LAYERS, fit_shapes, layer_of, settings_of
from .layout import ROW_GAP, auto_layout, overlapping

__all__ = ["FRAGMENT_MIME", "Editor", "default_attrs", "id_prefix", "unique_id"]

log = logging.getLogger("gui")

FRAGMENT_MIME = "application/x-graphlab-fragment"

_PREFIX = {
    "Input": "x", "Parameter": "w", "Constant": "c", "Linear": "fc", "Conv1D": "conv",
    "Conv2D": "conv", "ConvTranspose2D": "deconv", "MaxPool2D": "pool",
    "AvgPool2D": "avgpool", "MaxUnpool2D": "unpool", "Upsample2D": "up",
    "BatchNorm": "bn", "CrossEntropyLoss": "loss", "MSELoss": "loss",
    "KLDivLoss": "loss", "JSDivLoss": "loss", "LogSoftmax": "logsoftmax",
    "MatMul": "matmul", "Dropout": "drop", "L1Penalty": "l1", "L2Penalty": "l2",
}

_DEFAULTS = {
    "Input": {"shape": ["N", 8]},
    "Parameter": {"shape": [8], "init": "xavier_uniform"},
    "Constant": {"value": 1.0},
    "Pow": {"exponent": 2.0},
    "Maxout": {"pieces": 2},
    "Reshape": {"shape": ["N", -1]},
    "MaxPool2D": {"kernel": 2},
    "AvgPool2D": {"kernel": 2},
    "MaxUnpool2D": {"kernel": 2},
    "Upsample2D": {"scale": 2},
}


def id_prefix(op):
    """``Conv2D`` → ``conv``; ``ReLU`` → ``relu``."""
    return _PREFIX.get(op) or re.sub(r"[^a-z0-9_]", "", op.lower()) or "n"


def default_attrs(op):
    """Attributes a newly placed op starts with (its required ones filled in)."""
    attrs = copy.deepcopy(_DEFAULTS.get(op, {}))
    op_def = get_op(op)
    for key, spec in op_def.attrs.items():
        if spec.required and key not in attrs:
            attrs[key] = {"int": 1, "float": 1.0, "pair": 2, "ints": 1,
                          "shape": [1], "value": 0.0}.get(spec.kind, 1)
    return attrs


class Editor(QObject):
    """Edits of one model, pushed on one undo stack.

    Signals
    -------
    message(str)
        A refusal or a result to show in the status bar.
    failed(str, str)
        An unexpected error: title and text with the traceback (a dialog).
    placed(list)
        Node ids just created (the window selects them).
    """

    message = Signal(str)
    failed = Signal(str, str)
    placed = Signal(list)

    def __init__(self, model, undo_stack, parent=None):
        super().__init__(parent)
        self.model = model
        self.undo_stack = undo_stack
        # () -> (ViewState, aspect): how the canvas shows the graph, for the
        # layout (set by the window; None: every node a box, left to right)
        self.view_of = None

    @property
    def graph(self):
        return self.model.graph

    # ---- the one way in --------------------------------------------------------------
    def push(self, make, *, what="edit"):
        """Build a command (``make()`` or a command), apply it, push it.

        Returns the command, or ``None`` if it was refused (the graph is then
        unchanged and the reason was sent as ``message``).
        """
        try:
            command = make() if callable(make) and not isinstance(make, cmd.Command) \
                else make
            if command is None:
                return None
            command.apply()
        except GraphlabError as e:
            self.message.emit(f"Cannot {what}: {e.message if e.node is None else e}")
            return None
        except Exception as e:  # a bug: say so, keep the graph, keep running
            return self._bug(what, e)
        self.undo_stack.push(command)
        return command

    # ---- placing ---------------------------------------------------------------------
    def place(self, name, pos):
        """Place an op or a layer shortcut (``"Dense"``), top-left at ``pos``."""
        if name in LAYERS:
            return self.place_layer(name, pos)
        return self.place_op(name, pos)

    def place_op(self, op, pos, attrs=None):
        node_id = self.graph.new_id(id_prefix(op))
        a = default_attrs(op) if attrs is None else attrs

        def make():
            return cmd.AddNode(self.model, node_id, op, a,
                               {"pos": [round(pos[0]), round(pos[1])]})

        if self.push(make, what=f"place {op}"):
            self.placed.emit([node_id])
            return node_id
        return None

    def place_layer(self, name, pos, settings=None):
        """An op with its Parameter nodes, wired and grouped (one undo step)."""
        kind = LAYERS[name]
        g = self.graph
        taken = set(g.nodes)
        layer = g.new_id(kind.prefix)
        taken.add(layer)
        s = dict(kind.settings)
        s.update(settings or {})
        shapes = kind.shapes(s, kind.default_in)
        x, y = round(pos[0]), round(pos[1])
        op_geo = geometry_for(_FakeNode(kind.op))
        macro = cmd.Macro(self.model, f"Place {name} '{layer}'")
        params = {}
        px = x - W_SOURCE - 70
        src_h = geometry_for(_FakeNode("Parameter")).rect.height()
        step = src_h + ROW_GAP
        n = len(kind.ports)
        # the weights stack left of the op, centred on the ports they feed
        first = op_geo.inputs[kind.ports[0]].y()
        last = op_geo.inputs[kind.ports[-1]].y()
        top = y + (first + last) / 2 - ((n - 1) * step + src_h) / 2
        for i, port in enumerate(kind.ports):
            pid = unique_id(f"{layer}_{port}", taken)
            taken.add(pid)
            params[port] = pid
            macro.add(cmd.AddNode(self.model, pid, "Parameter",
                                  {"shape": shapes[port], "init": kind.inits[port]},
                                  {"pos": [px, round(top + i * step)],
                                   "group": layer}, check=False))
        macro.add(cmd.AddNode(self.model, layer, kind.op, {},
                              {"pos": [x, y], "group": layer}, check=False))
        for port, pid in params.items():
            macro.add(cmd.Connect(self.model, pid, f"{layer}:{port}", check=False))
        if self.push(macro, what=f"place {name}"):
            self.placed.emit([layer])
            return layer
        return None

    # ---- wiring ----------------------------------------------------------------------
    def connect(self, src, dst):
        """Wire ``src`` (``node:port``) to ``dst``; a layer's weights follow its input.

        Refused, with the reason as ``message``, on a cycle or a taken port.
        """
        def make():
            c = cmd.Connect(self.model, src, dst)
            return cmd.Macro(self.model, c.text(), [c])

        edge = None
        try:
            edge = self.graph.check_connect(src, dst)
        except GraphlabError:
            pass  # push reports it
        return self.push_fitted(make, node=edge.dst if edge else None,
                                refit=edge is not None and edge.dst_port == "x",
                                what=f"connect {src} → {dst}") is not None

    def disconnect(self, edges):
        edges = list(edges)
        if not edges:
            return False
        macro = cmd.Macro(self.model, "Disconnect" if len(edges) == 1
                          else f"Disconnect {len(edges)} edges",
                          [cmd.Disconnect(self.model, e.dst, e.dst_port)
                           for e in edges])
        return self.push(macro, what="disconnect") is not None

    def reconnect(self, old_edge, dst):
        """Move the end of an existing edge to another input (one undo step)."""
        src = f"{old_edge.src}:{old_edge.src_port}"

        def make():
            d = cmd.Disconnect(self.model, old_edge.dst, old_edge.dst_port)
            c = cmd.Connect(self.model, src, dst, check=False)
            return cmd.Macro(self.model, f"Reconnect {src} → {dst}", [d, c])

        node, _, port = dst.partition(":")
        return self.push_fitted(make, node=node if node in self.graph else None,
                                refit=port == "x", what="reconnect") is not None

    # ---- layer fitting ---------------------------------------------------------------
    def push_fitted(self, make, *, node, refit=False, what="edit"):
        """Push a :class:`Macro` and, in the same undo step, resize the weights
        of every layer that the edit broke (``refit``: and refit ``node``).

        A layer refitted keeps its settings (units, filters…) and takes its
        input size from the new shapes, as :class:`graphlab.GraphBuilder` does.
        """
        before = self.model.report
        try:
            macro = make()
            if macro is None:
                return None
            macro.apply()
        except GraphlabError as e:
            self.message.emit(f"Cannot {what}: {e.message if e.node is None else e}")
            return None
        except Exception as e:
            return self._bug(what, e)
        try:
            if node is not None:
                for _ in range(len(self.graph)):
                    fixes = self._fixes(before, node, refit)
                    refit = False
                    if not fixes:
                        break
                    with self.model.batch():
                        for pid, shape in fixes:
                            a = self.graph.node(pid).attrs
                            a["shape"] = list(shape)
                            a.pop("value", None)
                            c = cmd.SetAttrs(self.model, pid, a, check=False)
                            c.apply()
                            macro.children.append(c)
        except Exception as e:  # never leave half a fit behind
            macro.undo_checked()
            return self._bug(what, e)
        self.undo_stack.push(macro)
        return macro

    def _fixes(self, before, node, refit):
        """``[(parameter id, shape)]`` for the layers at and below ``node`` that
        the last edit broke (and ``node`` itself if ``refit``)."""
        import networkx as nx

        g = self.graph
        if node not in g:
            return []
        report = self.model.report
        below = nx.descendants(g.nx, node)
        fixes = []
        for n in [node] + [n for n in g.topological_order() if n in below]:
            if n == node:
                if not refit:
                    continue
            elif not (n in report.node_errors and n not in before.node_errors):
                continue
            found = layer_of(g, n)
            if found is None or node in found[1].values():
                continue  # not a layer, or the user is editing its own weights
            fixes.extend(fit_shapes(g, report, n).items())
        return fixes

    def _bug(self, what, e):
        import traceback
        log.exception("%s failed", what)
        self.failed.emit(f"Could not {what}",
                         f"{type(e).__name__}: {e}\n\n{traceback.format_exc()}")
        return None

    def _add_fixes(self, macro, fixes):
        for pid, shape in fixes:
            a = self.graph.node(pid).attrs
            a["shape"] = list(shape)
            a.pop("value", None)
            macro.add(cmd.SetAttrs(self.model, pid, a, check=False))

    # ---- attributes ------------------------------------------------------------------
    def set_attrs(self, node_id, attrs, merge_key=None):
        """Replace a node's attributes; layers downstream are refitted.

        Edits with the same ``merge_key`` in a row (keystrokes in one field)
        are one undo step.
        """
        def make():
            c = cmd.SetAttrs(self.model, node_id, attrs, text=f"Edit '{node_id}'")
            return cmd.Macro(self.model, f"Edit '{node_id}'", [c], merge_key=merge_key)

        return self.push_fitted(make, node=node_id,
                                what=f"edit '{node_id}'") is not None

    def set_attr(self, node_id, key, value, merge=True):
        attrs = self.graph.node(node_id).attrs
        if value is None:
            attrs.pop(key, None)
        else:
            attrs[key] = value
        return self.set_attrs(node_id, attrs,
                              merge_key=(node_id, key) if merge else None)

    def set_layer_settings(self, node_id, settings):
        """Change a layer's units/filters/kernel/hidden: its Parameters resize,
        and so do the layers after it that take its output (one undo step)."""
        found = settings_of(self.graph, node_id)
        if found is None:
            self.message.emit(f"'{node_id}' is not a layer with Parameter inputs")
            return False

        def make():
            fit = fit_shapes(self.graph, self.model.report, node_id, settings)
            if not fit:
                return None
            macro = cmd.Macro(self.model, f"Resize layer '{node_id}'")
            self._add_fixes(macro, fit.items())
            return macro

        return self.push_fitted(make, node=node_id,
                                what=f"resize '{node_id}'") is not None

    def fit_layer(self, node_id):
        """Resize a layer's Parameters to its input (the inspector's fix button)."""
        fit = fit_shapes(self.graph, self.model.report, node_id)
        if not fit:
            self.message.emit(f"'{node_id}' already fits its input")
            return False
        macro = cmd.Macro(self.model, f"Fit '{node_id}' to its input")
        self._add_fixes(macro, fit.items())
        return self.push(macro, what="fit the layer") is not None

    def rename(self, old, new):
        return self.push(lambda: cmd.Rename(self.model, old, new),
                         what=f"rename '{old}'") is not None

    def set_outputs(self, outputs):
        return self.push(lambda: cmd.SetOutputs(self.model, outputs),
                         what="change the outputs") is not None

    def toggle_output(self, node_id):
        outs = list(self.graph.outputs)
        refs = [o for o in outs if o.partition(":")[0] == node_id]
        if refs:
            outs = [o for o in outs if o not in refs]
        else:
            outs.append(node_id)
        return self.set_outputs(outs)

    def set_name(self, name):
        return self.push(lambda: cmd.SetMeta(self.model, "name", name, "Rename graph"),
                         what="rename the graph") is not None

    # ---- deleting, moving ------------------------------------------------------------
    def delete(self, nodes=(), notes=(), edges=()):
        nodes, notes, edges = list(nodes), list(notes), list(edges)
        if not (nodes or notes or edges):
            return False
        macro = cmd.Macro(self.model, "Delete")
        gone = set(nodes)
        for e in edges:
            if e.src not in gone and e.dst not in gone:
                macro.add(cmd.Disconnect(self.model, e.dst, e.dst_port))
        for n in nodes:
            macro.add(cmd.RemoveNode(self.model, n))
        if notes:
            keep = [n for n in self.model.notes() if n.get("id") not in set(notes)]
            macro.add(cmd.SetNotes(self.model, keep, "Delete note"))
        count = len(nodes) + len(notes) + len(edges)
        macro.setText(f"Delete {count} item{'s' if count > 1 else ''}"
                      if count != 1
                      else (f"Delete '{nodes[0]}'" if nodes else "Delete"))
        return self.push(macro, what="delete") is not None

    def move(self, nodes, notes=None):
        """Nodes ``{id: (x, y)}`` and notes ``{id: (x, y)}`` moved by one gesture."""
        parts = []
        if nodes:
            parts.append(cmd.MoveNodes(self.model, nodes))
        if notes:
            new = self.model.notes()
            for n in new:
                if n.get("id") in notes:
                    n["pos"] = [round(v, 1) for v in notes[n["id"]]]
            parts.append(cmd.SetNotes(self.model, new, "Move note"))
        if not parts:
            return False
        c = parts[0] if len(parts) == 1 else cmd.Macro(self.model, "Move", parts)
        return self.push(c, what="move") is not None

    def auto_layout(self, quiet=False):
        if self.view_of is not None:
            view, aspect = self.view_of()
            positions = auto_layout(self.graph, view=view, aspect=aspect)
        else:
            positions = auto_layout(self.graph)
        changed = {n: p for n, p in positions.items()
                   if list(self.graph.node(n).ui.get("pos") or []) != list(p)}
        if not changed:
            if not quiet:
                self.message.emit("The layout is already tidy")
            return False
        return self.push(cmd.AutoLayout(self.model, positions),
                         what="lay out the graph") is not None

    def layout_if_needed(self):
        """Lay the graph out (one more undo step) if boxes overlap in the view."""
        if self.view_of is None:
            return False
        view, _ = self.view_of()
        if not overlapping(self.graph, view=view):
            return False
        return self.auto_layout(quiet=True)

    # ---- groups ----------------------------------------------------------------------
    def group_members(self, name):
        g = self.graph
        return [n for n in g.nodes if g.node(n).ui.get("group") == name]

    def set_group_collapsed(self, name, collapsed):
        members = self.group_members(name)
        if len(members) < 2:
            self.message.emit(f"Group '{name}' has nothing to collapse")
            return False
        # one undo step: the collapse, and the layout it may need
        self.undo_stack.beginMacro(f"{'Collapse' if collapsed else 'Expand'} "
                                   f"group '{name}'")
        try:
            done = self.push(lambda: cmd.SetGroupCollapsed(self.model, members,
                                                           collapsed, name),
                             what="collapse the group") is not None
            if done:
                self.layout_if_needed()
        finally:
            self.undo_stack.endMacro()
        return done

    def group(self, nodes, name=None):
        nodes = list(nodes)
        if len(nodes) < 2:
            self.message.emit("Select two or more nodes to group them")
            return None
        g = self.graph
        groups = {g.node(n).ui.get("group") for n in g.nodes}
        if name is None:
            # name a group after its layer op if it has one, else group1, group2…
            ops = [n for n in nodes if layer_of(g, n) is not None]
            name = ops[0] if len(ops) == 1 and ops[0] not in groups else unique_id(
                "group1", groups)
        if self.push(lambda: cmd.SetGroup(self.model, nodes, name), what="group"):
            return name
        return None

    def ungroup(self, nodes):
        nodes = [n for n in nodes if self.graph.node(n).ui.get("group")]
        if not nodes:
            self.message.emit("No grouped node selected")
            return False
        return self.push(lambda: cmd.SetGroup(self.model, nodes, None),
                         what="ungroup") is not None

    # ---- notes -----------------------------------------------------------------------
    def add_note(self, pos, text="Note"):
        notes = self.model.notes()
        nid = unique_id("note1", {n.get("id") for n in notes})
        notes.append({"id": nid, "text": text, "pos": [round(pos[0]), round(pos[1])]})
        if self.push(cmd.SetNotes(self.model, notes, "Add note"), what="add a note"):
            return nid
        return None

    def set_note_text(self, note_id, text):
        notes = self.model.notes()
        for n in notes:
            if n.get("id") == note_id:
                n["text"] = text
        return self.push(cmd.SetNotes(self.model, notes, "Edit note"),
                         what="edit the note") is not None

    # ---- copy and paste --------------------------------------------------------------
    def fragment(self, nodes, notes=()):
        """A JSON-ready piece of graph: the nodes, the edges among them, notes."""
        g = self.graph
        nodes = [n for n in g.nodes if n in set(nodes)]
        keep = set(nodes)
        out = {"graphlab_fragment": 1, "nodes": [], "edges": [], "notes": []}
        out["nodes"] = [node_dict(g, n) for n in nodes]
        for e in g.edges:
            if e.src in keep and e.dst in keep:
                out["edges"].append([f"{e.src}:{e.src_port}", f"{e.dst}:{e.dst_port}"])
        wanted = set(notes)
        out["notes"] = [n for n in self.model.notes() if n.get("id") in wanted]
        return out

    def paste(self, fragment, at=None, offset=(40, 40)):
        """Add a fragment's nodes with fresh ids; returns the new ids."""
        if isinstance(fragment, (str, bytes)):
            try:
                fragment = json.loads(fragment)
            except ValueError:
                self.message.emit("The clipboard holds no graphlab nodes")
                return []
        if not isinstance(fragment, dict) or not (fragment.get("nodes")
                                                  or fragment.get("notes")):
            self.message.emit("The clipboard holds no graphlab nodes")
            return []
        macro = self.push(lambda: cmd.Paste(self.model, fragment, at, offset),
                          what="paste")
        if macro is None:
            return []
        self.placed.emit(list(macro.new_ids))
        return list(macro.new_ids)


class _FakeNode:
    """Enough of a Node for :func:`geometry_for` before the node exists."""

    def __init__(self, op):
        d = get_op(op)
        self.op = op
        self.placeholder = False
        self.input_ports = d.input_ports
        self.output_ports = d.outputs


