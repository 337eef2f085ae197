"""Undoable edits: every change a user makes is one of these on the undo stack.

Each command acts on the model's :class:`graphlab.Graph` through its public
methods, so that the graph tells the scene what changed; commands never touch
views. A leaf command calls one graph method each way and remembers the index
it needs to put things back exactly (file order of nodes and edges). Compound
edits (delete a selection, paste, auto-layout, place a layer) are
:class:`Macro` commands: if one part fails, the parts already done are undone
and the error is raised, so the graph is left as it was.

Protocol: the editor calls :meth:`Command.apply` (which may raise) and only
then pushes the command; the ``redo`` that ``QUndoStack.push`` makes is then a
no-op, because each command knows whether it is applied.
"""

import copy
import re

from PySide6.QtGui import QUndoCommand

from graphlab.errors import GraphError, PortError

__all__ = [
    "Command", "Macro", "AddNode", "RemoveNode", "Connect", "Disconnect",
    "SetAttrs", "UpdateUi", "MoveNodes", "AutoLayout", "SetGroupCollapsed",
    "SetGroup", "RenameNode", "Rename", "SetMeta", "SetParams", "SetOutputs",
    "SetNotes", "Paste", "unique_id",
]

MERGE_ATTRS = 6001


class Command(QUndoCommand):
    """Base class: ``_redo``/``_undo`` do the work inside one model batch."""

    def __init__(self, model, text=""):
        super().__init__(text)
        self.model = model
        self.done = False

    @property
    def graph(self):
        return self.model.graph

    def apply(self):
        """Do the edit now, raising on failure (the graph is then unchanged)."""
        self.redo_checked()

    def redo_checked(self):
        if self.done:
            return
        with self.model.batch():
            self._redo()
        self.done = True

    def undo_checked(self):
        if not self.done:
            return
        with self.model.batch():
            self._undo()
        self.done = False

    # QUndoStack calls these; exceptions here reach sys.excepthook (the guard).
    def redo(self):
        self.redo_checked()

    def undo(self):
        self.undo_checked()

    def _redo(self):
        raise NotImplementedError

    def _undo(self):
        raise NotImplementedError


class Macro(Command):
    """Several commands as one undo step, all or nothing.

    Macros with the same ``merge_key`` pushed one after another (one field
    being typed into) merge into one undo step.
    """

    def __init__(self, model, text, children=(), merge_key=None):
        super().__init__(model, text)
        self.children = list(children)
        self.merge_key = merge_key

    def id(self):
        return MERGE_ATTRS if self.merge_key is not None else -1

    def mergeWith(self, other):
        if not isinstance(other, Macro) or other.merge_key != self.merge_key:
            return False
        self.children.append(other)
        return True

    def add(self, command):
        self.children.append(command)
        return command

    def _redo(self):
        done = []
        try:
            for c in self.children:
                c.redo_checked()
                done.append(c)
        except BaseException:
            for c in reversed(done):
                c.undo_checked()
            raise

    def _undo(self):
        undone = []
        try:
            for c in reversed(self.children):
                c.undo_checked()
                undone.append(c)
        except BaseException:
            for c in reversed(undone):
                c.redo_checked()
            raise


# ---- nodes ---------------------------------------------------------------------------

class AddNode(Command):
    """Add a node (validated now unless ``check=False``, e.g. inside a macro)."""

    def __init__(self, model, node_id, op, attrs=None, ui=None, *, index=None,
                 lenient=False, check=True):
        super().__init__(model, f"Add {op} '{node_id}'")
        self.node_id = node_id
        self.op = op
        self.attrs = copy.deepcopy(dict(attrs or {}))
        self.ui = copy.deepcopy(dict(ui or {}))
        self.index = index
        self.lenient = lenient
        if check:
            model.graph.check_add_node(node_id, op, self.attrs, lenient=lenient)

    def _redo(self):
        g = self.graph
        g.add_node(self.node_id, self.op, self.attrs, self.ui, index=self.index,
                   lenient=self.lenient)
        self.index = g.index_of(self.node_id)

    def _undo(self):
        self.graph.remove_node(self.node_id)


def _param_keys(graph, node_id):
    return [k for k in graph.params if k == node_id or k.startswith(node_id + ".")]


def _drop_params(graph, node_id):
    """Take a node's parameter values out of the graph; returns them."""
    keys = _param_keys(graph, node_id)
    if not keys:
        return {}
    taken = {k: graph.params[k] for k in keys}
    graph.set_params({k: v for k, v in graph.params.items() if k not in taken})
    return taken


def _put_params(graph, values):
    if values:
        graph.set_params({**graph.params, **values})


class RemoveNode(Command):
    """Remove a node with its edges; undo re-inserts it at the same index.

    The node's edges are child :class:`Disconnect` commands, made when the
    command runs (another node of the same selection may have removed some).
    Parameter values held in ``graph.params`` go and come back with it, so
    that a saved file never names a node that is not there.
    """

    def __init__(self, model, node_id):
        g = model.graph
        node = g.node(node_id)
        super().__init__(model, f"Delete '{node_id}'")
        self.node_id = node_id
        self.op = node.op
        self.attrs = node.attrs
        self.ui = node.ui
        self.index = g.index_of(node_id)
        self.edges = []
        self.outputs = None
        self.params = {}

    def _redo(self):
        g = self.graph
        self.index = g.index_of(self.node_id)
        self.outputs = list(g.outputs)
        self.edges = [Disconnect(self.model, e.dst, e.dst_port) for e in g.edges
                      if self.node_id in (e.src, e.dst)]
        done = []
        try:
            for c in self.edges:
                c.redo_checked()
                done.append(c)
            g.remove_node(self.node_id)
        except BaseException:
            for c in reversed(done):
                c.undo_checked()
            raise
        self.params = _drop_params(g, self.node_id)

    def _undo(self):
        g = self.graph
        g.add_node(self.node_id, self.op, self.attrs, self.ui, index=self.index,
                   lenient=True)
        for c in reversed(self.edges):
            c.undo_checked()
        _put_params(g, self.params)
        if g.outputs != self.outputs:
            g.set_outputs(self.outputs)


class SetAttrs(Command):
    """Replace a node's attributes (validated first).

    Consecutive edits with the same ``merge_key`` (one inspector field being
    typed into) merge into one undo step.
    """

    def __init__(self, model, node_id, attrs, *, merge_key=None, text=None,
                 check=True):
        node = model.graph.node(node_id)
        super().__init__(model, text or f"Edit '{node_id}'")
        self.node_id = node_id
        self.old = node.attrs
        self.new = copy.deepcopy(dict(attrs))
        self.merge_key = merge_key
        self.params = {}
        if check and not node.placeholder:
            node.op_def.resolve_attrs(self.new, node=node_id)

    def id(self):
        return MERGE_ATTRS if self.merge_key is not None else -1

    def mergeWith(self, other):
        if (not isinstance(other, SetAttrs) or other.merge_key != self.merge_key
                or other.node_id != self.node_id):
            return False
        self.new = other.new
        self.params.update(other.params)
        if self.new == self.old:
            self.setObsolete(True)
        return True

    def _redo(self):
        g = self.graph
        g.set_attrs(self.node_id, self.new)
        if g.node(self.node_id).op == "Parameter" and \
                self.old.get("shape") != self.new.get("shape"):
            # values trained for the old shape no longer fit
            self.params.update(_drop_params(g, self.node_id))

    def _undo(self):
        self.graph.set_attrs(self.node_id, self.old)
        _put_params(self.graph, self.params)


class UpdateUi(Command):
    """Change keys of nodes' ``ui`` objects: ``{node: {key: value}}``.

    A value of ``None`` removes the key.
    """

    def __init__(self, model, changes, text="Change layout"):
        super().__init__(model, text)
        g = model.graph
        self.changes = {n: dict(ch) for n, ch in changes.items()}
        self.old = {n: g.node(n).ui for n in self.changes}

    def _redo(self):
        g = self.graph
        for n, ch in self.changes.items():
            ui = copy.deepcopy(self.old[n])
            for k, v in ch.items():
                if v is None:
                    ui.pop(k, None)
                else:
                    ui[k] = copy.deepcopy(v)
            if ui != g.node(n).ui:
                g.set_ui(n, ui)

    def _undo(self):
        g = self.graph
        for n in reversed(list(self.changes)):
            if g.node(n).ui != self.old[n]:
                g.set_ui(n, self.old[n])


class MoveNodes(UpdateUi):
    """Move nodes: ``{node: [x, y]}`` (one drag gesture is one command)."""

    def __init__(self, model, positions, text=None):
        n = len(positions)
        super().__init__(model, {k: {"pos": [round(float(x), 1), round(float(y), 1)]}
                                 for k, (x, y) in positions.items()},
                         text or (f"Move '{next(iter(positions))}'" if n == 1
                                  else f"Move {n} nodes"))


class AutoLayout(MoveNodes):
    """Every node placed by the automatic layout, as one undo step."""

    def __init__(self, model, positions):
        super().__init__(model, positions, "Auto layout")


class SetGroupCollapsed(UpdateUi):
    """Collapse a group to one box, or expand it (``ui.collapsed`` of members)."""

    def __init__(self, model, members, collapsed, group=""):
        super().__init__(model, {n: {"collapsed": True if collapsed else None}
                                 for n in members},
                         f"{'Collapse' if collapsed else 'Expand'} group '{group}'")


class SetGroup(UpdateUi):
    """Put nodes in a group (``ui.group``), or out of any (``group=None``)."""

    def __init__(self, model, nodes, group):
        super().__init__(model, {n: {"group": group, "collapsed": None} for n in nodes},
                         f"Group as '{group}'" if group else "Ungroup")


# ---- edges ---------------------------------------------------------------------------

class Connect(Command):
    """Add an edge ``src`` → ``dst`` (checked now unless ``check=False``)."""

    def __init__(self, model, src, dst, *, check=True):
        super().__init__(model, f"Connect {src} → {dst}")
        self.src = src
        self.dst = dst
        self.index = None
        self.edge = model.graph.check_connect(src, dst) if check else None

    def _redo(self):
        g = self.graph
        self.edge = g.connect(self.src, self.dst, index=self.index)
        self.index = g.edges.index(self.edge)

    def _undo(self):
        self.graph.disconnect(self.edge.dst, self.edge.dst_port)


class Disconnect(Command):
    """Remove the edge into ``node:port``; undo puts it back at its index."""

    def __init__(self, model, node_id, port):
        edge = model.graph.in_edges(node_id).get(port)
        if edge is None:
            raise PortError(f"input '{port}' has no edge to remove", node=node_id)
        super().__init__(model, f"Disconnect {edge}")
        self.edge = edge
        self.index = None

    def _redo(self):
        _, self.index = self.graph.disconnect(self.edge.dst, self.edge.dst_port)

    def _undo(self):
        e = self.edge
        self.graph.connect(f"{e.src}:{e.src_port}", f"{e.dst}:{e.dst_port}",
                           index=self.index)


# ---- names and graph settings --------------------------------------------------------

class RenameNode(Command):
    """The core rename: edges (in file order), outputs, parameter values and
    the train and tests sections follow."""

    def __init__(self, model, old, new):
        super().__init__(model, f"Rename '{old}' to '{new}'")
        self.old_id, self.new_id = old, new

    def _redo(self):
        self._rename(self.old_id, self.new_id)

    def _undo(self):
        self._rename(self.new_id, self.old_id)

    def _rename(self, old, new):
        # the core keeps the edges' file order and rewrites the train and
        # tests sections, so undo is the rename back
        self.graph.rename_node(old, new)


class SetMeta(Command):
    """Set ``name``, ``train`` or ``tests`` of the graph."""

    def __init__(self, model, key, value, text=None):
        super().__init__(model, text or f"Change {key}")
        self.key = key
        self.new = copy.deepcopy(value)
        self.old = copy.deepcopy(getattr(model.graph, key))

    def _redo(self):
        self.graph.set_meta(self.key, copy.deepcopy(self.new))

    def _undo(self):
        self.graph.set_meta(self.key, copy.deepcopy(self.old))


class SetParams(Command):
    """Replace the parameter values, and when given the ``train`` section, as
    one step (trained values with the optimizer and dataset that made them)."""

    def __init__(self, model, params, text="Set parameter values", train=None):
        super().__init__(model, text)
        g = model.graph
        self.old = dict(g.params)
        self.new = dict(params)
        self.old_train = copy.deepcopy(g.train)
        self.new_train = copy.deepcopy(train)

    def _redo(self):
        self.graph.set_params(self.new)
        if self.new_train is not None:
            self.graph.set_train(copy.deepcopy(self.new_train))

    def _undo(self):
        self.graph.set_params(self.old)
        if self.new_train is not None:
            self.graph.set_train(copy.deepcopy(self.old_train))


class SetOutputs(Command):
    def __init__(self, model, outputs):
        super().__init__(model, "Change outputs")
        self.new = list(outputs)
        self.old = list(model.graph.outputs)

    def _redo(self):
        self.graph.set_outputs(self.new)

    def _undo(self):
        self.graph.set_outputs(self.old)


def Rename(model, old, new):
    """Rename a node, and whatever names it: its group (``train`` and ``tests``
    follow in the core rename).

    Returns a :class:`Macro`; raises ``GraphError`` for a bad or taken id.
    """
    g = model.graph
    node = g.node(old)
    if new == old:
        raise GraphError(f"'{old}' already has that name", node=old)
    g.check_add_node(new, node.op, node.attrs, lenient=True)
    macro = Macro(model, f"Rename '{old}' to '{new}'")
    macro.add(RenameNode(model, old, new))
    members = [n for n in g.nodes if g.node(n).ui.get("group") == old]
    if members:
        # the layer's group is named after its op node: keep them together
        ids = [new if n == old else n for n in members]
        macro.add(_LateUi(model, ids, {"group": new}))
    return macro


class _LateUi(Command):
    """UpdateUi whose old values are read when it runs (nodes renamed before)."""

    def __init__(self, model, nodes, change):
        super().__init__(model, "Change group")
        self.nodes, self.change, self.old = list(nodes), dict(change), {}

    def _redo(self):
        g = self.graph
        for n in self.nodes:
            self.old[n] = g.node(n).ui
            ui = dict(self.old[n])
            ui.update(self.change)
            g.set_ui(n, ui)

    def _undo(self):
        for n in reversed(self.nodes):
            self.graph.set_ui(n, self.old[n])


# ---- sticky notes --------------------------------------------------------------------

class SetNotes(Command):
    """Replace the list of sticky notes (add, edit, move and delete are this)."""

    def __init__(self, model, notes, text="Edit note"):
        super().__init__(model, text)
        self.old = model.notes()
        self.new = copy.deepcopy(list(notes))

    def _redo(self):
        self.model.set_notes(self.new)

    def _undo(self):
        self.model.set_notes(self.old)


# ---- paste ---------------------------------------------------------------------------

def unique_id(base, taken):
    """``base`` if free, else ``base2``, ``base3``… (``conv1`` → ``conv2``)."""
    if base not in taken:
        return base
    m = re.match(r"(.*?)(\d+)$", base)
    stem, i = (m.group(1), int(m.group(2)) + 1) if m else (base, 2)
    while f"{stem}{i}" in taken:
        i += 1
    return f"{stem}{i}"


def Paste(model, fragment, at=None, offset=(40, 40)):
    """A :class:`Macro` adding a copied fragment with fresh ids.

    ``fragment`` is ``{"nodes": [...], "edges": [[src, dst]...], "notes": [...]}``
    as :meth:`gui.editor.Editor.fragment` makes it. Nodes keep their ops,
    attributes and ``ui``; ids that are taken get the next free number, groups
    follow their op's new id; positions move by ``offset``, or so that the
    fragment's top-left lands ``at`` a point. ``macro.new_ids`` lists the ids.
    """
    nodes = fragment.get("nodes") or []
    if not isinstance(nodes, list) or not all(
            isinstance(nd, dict) and isinstance(nd.get("id"), str)
            and isinstance(nd.get("op"), str) for nd in nodes):
        raise GraphError("the clipboard's nodes are not graphlab nodes")
    g = model.graph
    taken = set(g.nodes)
    groups_used = {g.node(n).ui.get("group") for n in g.nodes} - {None}
    id_map = {}
    for nd in nodes:
        id_map[nd["id"]] = new = unique_id(nd["id"], taken)
        taken.add(new)
    notes_in = [n for n in fragment.get("notes") or [] if isinstance(n, dict)]
    pts = [(nd.get("ui") or {}).get("pos") for nd in nodes]
    pts += [n.get("pos") for n in notes_in]
    pts = [p for p in pts if isinstance(p, list) and len(p) == 2]
    if at is not None and pts:
        dx = at[0] - min(p[0] for p in pts)
        dy = at[1] - min(p[1] for p in pts)
    else:
        dx, dy = offset
    group_map = {}
    macro = Macro(model, f"Paste {len(nodes)} node{'s' if len(nodes) != 1 else ''}")
    for nd in nodes:
        ui = copy.deepcopy(dict(nd.get("ui") or {}))
        if isinstance(ui.get("pos"), list) and len(ui["pos"]) == 2:
            ui["pos"] = [ui["pos"][0] + dx, ui["pos"][1] + dy]
        grp = ui.get("group")
        if grp:
            if grp not in group_map:
                group_map[grp] = id_map.get(grp) or (
                    unique_id(grp, groups_used | taken) if grp in groups_used else grp)
                groups_used.add(group_map[grp])
            ui["group"] = group_map[grp]
        macro.add(AddNode(model, id_map[nd["id"]], nd["op"], nd.get("attrs") or {},
                          ui, lenient=True, check=False))
    for pair in fragment.get("edges") or []:
        if not (isinstance(pair, list) and len(pair) == 2
                and all(isinstance(x, str) for x in pair)):
            continue
        src, dst = pair
        s_node, sep_s, s_port = src.partition(":")
        d_node, sep_d, d_port = dst.partition(":")
        if s_node in id_map and d_node in id_map:
            macro.add(Connect(model, id_map[s_node] + sep_s + s_port,
                              id_map[d_node] + sep_d + d_port, check=False))
    if notes_in:
        notes = model.notes()
        used = {n.get("id") for n in notes}
        for n in notes_in:
            n = copy.deepcopy(n)
            n["id"] = unique_id(str(n.get("id") or "note1"), used)
            used.add(n["id"])
            if isinstance(n.get("pos"), list) and len(n["pos"]) == 2:
                n["pos"] = [n["pos"][0] + dx, n["pos"][1] + dy]
            notes.append(n)
        macro.add(SetNotes(model, notes, "Paste notes"))
    macro.new_ids = list(id_map.values())
    return macro
