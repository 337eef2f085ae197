"""The canvas scene: one item per node, edge, group and note of the model.

The scene listens to :class:`gui.model.GraphModel` signals and keeps its items
in step with the graph; it never edits the graph. What a user does to items
(drag nodes, click a group's triangle, edit a note) becomes a request to the
editor (:class:`gui.editor.Editor`), which pushes an undo command; the model
then tells the scene, which updates the items.
"""

import math
from collections import defaultdict

from PySide6.QtCore import QPointF, QRectF, QTimer, Signal
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene

from graphlab.shapes import fmt

from .annotations import AnnotationLayer
from .items import EdgeItem, EdgeLayerItem, GroupItem, NodeItem, NoteItem
from .items.overview import OVERVIEW_LOD, OverviewItem
from .items.summary import group_summary
from .layers import describe, settings_of
from .layout import FARTHEST
from .style import C, family_colour
from .viewstate import ViewState

__all__ = ["GraphScene"]


class GraphScene(QGraphicsScene):
    """Items for the model's graph.

    Signals
    -------
    contents_changed()
        Items were added, removed or moved (the minimap redraws).
    """

    contents_changed = Signal()

    def __init__(self, model, editor, parent=None):
        super().__init__(parent)
        self.model = model
        self.editor = editor
        self.setBackgroundBrush(C.background)
        self.setItemIndexMethod(QGraphicsScene.BspTreeIndex)
        self.node_items = {}
        self.edge_items = {}
        self.group_items = {}
        self.note_items = {}
        self.node_edges = defaultdict(set)
        self.edge_layer = None
        self._selected_edges = set()
        self.overviewed = False
        self.overview = None
        self._pending_edges = []
        self._groups_dirty = False
        self._move_start = None
        self._rect_dirty = True
        self._moved = False
        self._caching = True
        self.zooming = False
        self._scale = 1.0
        self._group_of = {}
        self._rep_of_hidden = {}
        self.annotations = AnnotationLayer(self)
        self._absorbed = {}
        # how the graph is shown (gui.viewstate): not stored in the graph
        self.vertical = True
        self.weights_inside = True
        self.weights_shown = set()  # nodes whose weights are shown as nodes
        self.view_state = None  # built by rebuild(), again on each change
        self._view_fresh = False
        m = model
        m.graph_reset.connect(self.rebuild)
        m.node_added.connect(self._on_node_added)
        m.node_removed.connect(self._on_node_removed)
        m.edge_added.connect(self._on_edge_added)
        m.edge_removed.connect(self._on_edge_removed)
        m.attrs_changed.connect(self._on_attrs_changed)
        m.ui_changed.connect(self._on_ui_changed)
        m.node_renamed.connect(self._on_node_renamed)
        m.meta_changed.connect(self._on_meta_changed)
        m.notes_changed.connect(self._sync_notes)
        m.analysed.connect(self._on_analysed)
        m.changed.connect(self._on_changed)
        m.annotations_changed.connect(self.annotations.sync)
        self.contents_changed.connect(self.annotations.relayout)
        self.selectionChanged.connect(self._selection_repaint)
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(0)
        self._redraw_timer.timeout.connect(self._redraw_far)
        self.rebuild()

    def _redraw_far(self):
        if self.overviewed and self.overview is not None:
            self.overview.rebuild()

    def _selection_repaint(self):
        if self.overviewed and self.overview is not None:
            self.overview.update()
        # a selected wire draws itself, highlighted; the others are the layer's
        selected = {it for it in self.selectedItems() if isinstance(it, EdgeItem)}
        for item in selected ^ self._selected_edges:
            if item.scene() is self:
                item.sync()
        self._selected_edges = selected

    @property
    def graph(self):
        return self.model.graph

    # ---- building --------------------------------------------------------------------
    def rebuild(self):
        """Drop every item and build the scene from the graph."""
        self.annotations.forget()  # clear() deletes their items
        self._selected_edges = set()
        self.clear()
        self.node_items.clear()
        self.edge_items.clear()
        self.group_items.clear()
        self.note_items.clear()
        self.node_edges.clear()
        self._pending_edges = []
        self.edge_layer = EdgeLayerItem()
        self.addItem(self.edge_layer)
        self.overview = OverviewItem(self)
        self.overview.setVisible(False)
        self.addItem(self.overview)
        self.overviewed = False
        g = self.graph
        self.weights_shown &= set(g.nodes)
        self.view_state = ViewState(g, self.vertical, self.weights_inside,
                                    self.weights_shown)
        self._view_fresh = True
        for n in g.nodes:
            self._add_node_item(n)
        for e in g.edges:
            self._add_edge_item(e)
        self._sync_notes()
        self._update_groups()
        self._on_analysed(self.model.report)
        self.reroute_long_edges()
        self.update_scene_rect()
        self.annotations.sync()
        self.contents_changed.emit()

    def _add_node_item(self, node_id):
        item = NodeItem(self, node_id)
        if self.overviewed:
            _set_drawn(item, False)
        pos = self.graph.node(node_id).ui.get("pos")
        item.setPos(*_xy(pos))
        self.node_items[node_id] = item
        self.addItem(item)
        return item

    def _add_edge_item(self, edge):
        if edge.src not in self.node_items or edge.dst not in self.node_items:
            self._pending_edges.append(edge)
            return None
        item = EdgeItem(edge, self.edge_layer)
        self.edge_items[edge] = item
        self.node_edges[edge.src].add(item)
        self.node_edges[edge.dst].add(item)
        self._place_edge(item)
        item.set_label(self._edge_label(edge))
        self.addItem(item)
        return item

    def _edge_label(self, edge):
        shape = self.model.port_shape(edge.src, edge.src_port) \
            if self.model.report is not None else None
        return fmt(shape) if shape is not None else ""

    def _end_item(self, node_id):
        rep = self._rep_of_hidden.get(node_id)
        return self.node_items[rep] if rep is not None else self.node_items[node_id]

    def _place_edge(self, item):
        e = item.edge
        a = self._rep_of_hidden.get(e.src, e.src)
        b = self._rep_of_hidden.get(e.dst, e.dst)
        src, dst = self.node_items[a], self.node_items[b]
        # a collapsed box has no named ports: wires meet it at its anchors
        sp = e.src_port if a == e.src and not src.collapsed_count else None
        dp = e.dst_port if b == e.dst and not dst.collapsed_count else None
        p1, p2 = src.port_pos("out", sp), dst.port_pos("in", dp)
        item.set_ends(p1, p2, self._channel(p1, p2, e), src.port_dir("out", sp),
                      dst.port_dir("in", dp))

    def geometry_of(self, node_id):
        """The box of a node in the current view (weight rows, summary box)."""
        return self.view_state.geometry(node_id)

    def inside_of(self, node_id):
        """``{port: parameter}`` drawn inside the node."""
        return dict(self.view_state.rows.get(node_id, {}))

    def _channel(self, p1, p2, edge):
        """Height of a free horizontal channel for a long wire whose plain curve
        would cross other boxes, or ``None`` when the plain curve is clear."""
        if self.vertical or p2.x() - p1.x() < 300:
            return None
        x0, x1 = p1.x() + 20, p2.x() - 20
        ends = {self._rep_of_hidden.get(edge.src, edge.src),
                self._rep_of_hidden.get(edge.dst, edge.dst)}
        boxes = []
        corridor = QRectF(x0, -1e7, x1 - x0, 2e7)
        for it in self.items(corridor):
            if isinstance(it, NodeItem) and it.isVisible() and it.node_id not in ends:
                r = it.mapRectToScene(it.geo.rect)
                grow_top = 34.0 if it.node_id in self._group_of else 10.0
                boxes.append(r.adjusted(-10, -grow_top, 10, 10))
        boxes = [b for b in boxes if b.right() > x0 and b.left() < x1]
        if not boxes:
            return None
        # other wires' channels are taken too (one lane each)
        lanes = [QRectF(o.p1.x() + 60, o.channel - 9, o.p2.x() - o.p1.x() - 120, 18)
                 for o in self.edge_items.values()
                 if o.channel is not None and o.edge != edge and o.logical_visible]
        lanes = [b for b in lanes if b.right() > x0 and b.left() < x1]
        lo, hi = min(p1.y(), p2.y()), max(p1.y(), p2.y())
        band = QRectF(x0, lo - 6, x1 - x0, hi - lo + 12)
        if not any(b.intersects(band) for b in boxes):
            return None

        blocks = boxes + lanes

        def hits(y):
            return [b for b in blocks if b.top() <= y <= b.bottom()]

        down = hi
        while hits(down):
            down = max(b.bottom() for b in hits(down)) + 8
        up = lo
        while hits(up):
            up = min(b.top() for b in hits(up)) - 8
        return up if (lo - up) <= (down - hi) else down

    def reroute_long_edges(self):
        for item in self.edge_items.values():
            item.channel = None
        if self.vertical:
            return
        for item in self.edge_items.values():
            if item.logical_visible and (item.p2.x() - item.p1.x() >= 300
                                         or item.channel is not None):
                self._place_edge(item)

    # ---- model events ----------------------------------------------------------------
    def _on_node_added(self, node_id):
        self._add_node_item(node_id)
        self._groups_dirty = True
        self._rect_dirty = True

    def _on_node_removed(self, node_id):
        item = self.node_items.pop(node_id, None)
        if item is not None:
            self.removeItem(item)
        self.node_edges.pop(node_id, None)
        self._groups_dirty = True
        self._rect_dirty = True

    def _on_edge_added(self, edge):
        item = self._add_edge_item(edge)
        if item is None:
            return
        for n in (edge.src, edge.dst):
            self.node_items[n].refresh()
        g = self.graph
        if g.node(edge.dst).placeholder or g.node(edge.src).placeholder:
            for it in self.node_edges[edge.dst] | self.node_edges[edge.src]:
                self._place_edge(it)
        self._groups_dirty = True

    def _on_edge_removed(self, edge):
        item = self.edge_items.pop(edge, None)
        if item is None:
            self._pending_edges = [e for e in self._pending_edges if e != edge]
            return
        self.node_edges[edge.src].discard(item)
        self.node_edges[edge.dst].discard(item)
        self.edge_layer.remove(item)
        self.removeItem(item)
        if edge.dst in self.node_items:
            self.node_items[edge.dst].refresh()
        self._groups_dirty = True

    def _on_attrs_changed(self, node_id):
        item = self.node_items.get(node_id)
        if item is not None:
            item.refresh()
            self._groups_dirty = True  # a layer's caption shows its settings
        if node_id in self.view_state.absorbed:  # its weight rows
            for n, rows in self.view_state.rows.items():
                if node_id in rows.values() and n in self.node_items:
                    self.node_items[n].update()

    def _on_ui_changed(self, node_id):
        item = self.node_items.get(node_id)
        if item is None:
            return
        ui = self.graph.node(node_id).ui
        x, y = _xy(ui.get("pos"))
        if item.pos() != QPointF(x, y):
            item.setPos(x, y)
        if ui.get("group") != self._group_of.get(node_id) or ui.get("collapsed") or \
                node_id in self._rep_of_hidden or self._group_of.get(node_id):
            self._groups_dirty = True

    def _on_node_renamed(self, old, new):
        item = self.node_items.pop(old, None)
        if item is not None:
            item.node_id = new
            self.node_items[new] = item
            self.node_edges[new] = self.node_edges.pop(old, set())
            pending, self._pending_edges = self._pending_edges, []
            for e in pending:
                self._add_edge_item(e)
            item.refresh()
        self._groups_dirty = True

    def _on_meta_changed(self, key):
        if key == "outputs":
            for item in self.node_items.values():
                item.refresh()
            self._groups_dirty = True  # an output Parameter gets its own box

    def _on_analysed(self, report):
        if report is None:
            return
        m = self.model
        stats = m.stats
        for n, item in self.node_items.items():
            err = report.node_errors.get(n)
            st = stats.get(n)
            item.set_analysis(m.output_shapes(n), st.params if st else 0,
                              st.macs if st else 0,
                              None if err is None else _message(err),
                              m.warnings_of(n))
        for e, item in self.edge_items.items():
            item.set_label(self._edge_label(e))
        self._groups_dirty = True

    def _on_changed(self):
        if self.overview is not None:
            self.overview.dirty = True
        if self._groups_dirty:
            self._update_groups()
        if self._moved:
            self._moved = False
            self.reroute_long_edges()
        if self._rect_dirty:
            self.update_scene_rect()
        if self.overviewed:
            self.overview.rebuild()
        self.contents_changed.emit()

    # ---- groups and collapsing -------------------------------------------------------
    def group_members(self, name):
        g = self.graph
        return [n for n in g.nodes if g.node(n).ui.get("group") == name]

    def representative(self, name, members):
        """The node that stands for a collapsed group: the one named like the
        group (a layer's op), else the last member."""
        return name if name in members else members[-1]

    def _update_groups(self, replace_all=False):
        """Bring boxes, visibility and wires in line with the view: weights
        inside their layer, collapsed groups, group frames."""
        self._groups_dirty = False
        g = self.graph
        if not self._view_fresh:
            self.view_state = ViewState(g, self.vertical, self.weights_inside,
                                        self.weights_shown)
        self._view_fresh = False
        vs = self.view_state
        groups = vs.groups
        self._group_of = {n: name for name, ms in groups.items() for n in ms}
        old_hidden = set(self._rep_of_hidden) | set(self._absorbed)
        self._rep_of_hidden = dict(vs.rep_of_hidden)
        self._absorbed = dict(vs.absorbed)
        touched = set(old_hidden) | vs.hidden
        # boxes: weight rows and summary boxes change a node's geometry
        for n, item in self.node_items.items():
            if item.geo is not vs.geometry(n) or item.inside != self.inside_of(n):
                item.refresh()
                touched.add(n)
        for n, item in self.node_items.items():
            hidden = n in vs.hidden
            if item.isVisible() == hidden:
                item.setVisible(not hidden)
                if hidden:
                    item.setSelected(False)
        reps = defaultdict(list)
        for n, rep in self._rep_of_hidden.items():
            reps[rep].append(n)
        stats = self.model.stats
        topo = None
        for n, item in self.node_items.items():
            hidden = reps.get(n, [])
            if hidden:
                if topo is None:
                    topo = {m: i for i, m in enumerate(g.topological_order())}
                    grp = self._group_of
                    leaving = {e.src for e in g.edges
                               if grp.get(e.src) != grp.get(e.dst)}
                name = self._group_of.get(n, "")
                members = sorted([n] + hidden, key=topo.get)
                item.group_params = sum(stats[m].params for m in members if m in stats)
                label = group_summary(g, members, self.model.report, name, topo,
                                      leaving)
                main = next((m for m in members if not g.node(m).placeholder
                             and g.node(m).op_def.family != "sources"), n)
                item.summary_colour = family_colour(
                    None if g.node(main).placeholder else g.node(main).op_def.family)
                item.set_collapsed(len(hidden), label, set())
            else:
                item.set_collapsed(0, "", set())
        # edges: hide those inside a collapsed group or from a weight drawn
        # inside; reroute those crossing a collapsed group
        items = self.edge_items.values() if replace_all else {
            it for n in touched for it in self.node_edges.get(n, ())}
        for item in items:
            e = item.edge
            a = self._rep_of_hidden.get(e.src, e.src)
            b = self._rep_of_hidden.get(e.dst, e.dst)
            item.logical_visible = a != b and e.src not in self._absorbed
            # a wire meets a collapsed box at its border, not at a port: drawn
            # as any other (dashing every wire of a collapsed model read as dim)
            item.dim = False
            item.setVisible(item.logical_visible)  # synced by _place_edge
            self._place_edge(item)
        # frames
        for name in list(self.group_items):
            if name not in groups:
                self.removeItem(self.group_items.pop(name))
        for name, members in groups.items():
            item = self.group_items.get(name)
            if item is None:
                item = self.group_items[name] = GroupItem(self, name)
                if self.overviewed:
                    _set_drawn(item, False)
                item.setCacheMode(QGraphicsItem.DeviceCoordinateCache if self._caching
                                  else QGraphicsItem.ItemCoordinateCache)
                self.addItem(item)
            rep = self.representative(name, members)
            fam = None if g.node(rep).placeholder else g.node(rep).op_def.family
            item.set_members([self.node_items[n] for n in members],
                             self._caption(name, rep), family_colour(fam))
            collapsed = any(n in self._rep_of_hidden for n in members)
            # a frame around one box would take room the layout did not give it
            shown = sum(1 for n in members if n not in vs.hidden)
            item.setVisible(not collapsed and shown > 1)

    # ---- view modes ------------------------------------------------------------------
    def set_view(self, vertical=None, weights_inside=None, shown=None):
        """Change how the graph is shown (direction, weights inside, the nodes
        whose weights are shown as nodes); the graph is not touched."""
        if vertical is not None:
            self.vertical = bool(vertical)
        if weights_inside is not None:
            self.weights_inside = bool(weights_inside)
        if shown is not None:
            self.weights_shown = set(shown)
        self.view_state = ViewState(self.graph, self.vertical, self.weights_inside,
                                    self.weights_shown)
        self._view_fresh = True
        for item in self.node_items.values():
            item.refresh()
        self._update_groups(replace_all=True)
        self.reroute_long_edges()
        self.update_scene_rect()
        if self.overviewed:
            self.overview.rebuild()
        self.contents_changed.emit()

    def view_for(self, vertical=None, weights_inside=None, shown=None):
        """The :class:`ViewState` the graph would have with these settings."""
        return ViewState(self.graph, self.vertical if vertical is None else vertical,
                         self.weights_inside if weights_inside is None
                         else weights_inside,
                         self.weights_shown if shown is None else shown)

    def _caption(self, name, rep):
        found = settings_of(self.graph, rep) if rep in self.graph else None
        if found is None:
            return name
        kind, settings, _ = found
        return f"{name} · {describe(kind, settings)}"

    def is_hidden(self, node_id):
        return node_id in self._rep_of_hidden

    def collapsed_group_of(self, node_id):
        """The collapsed group that ``node_id`` stands for, or ``None``."""
        item = self.node_items.get(node_id)
        if item is not None and item.collapsed_count:
            return self._group_of.get(node_id)
        return None

    def request_collapse(self, name, collapsed):
        self.editor.set_group_collapsed(name, collapsed)

    def node_double_clicked(self, node_id):
        group = self.collapsed_group_of(node_id)
        if group is not None:
            self.editor.set_group_collapsed(group, False)

    # ---- notes -----------------------------------------------------------------------
    def _sync_notes(self):
        notes = {n.get("id"): n for n in self.model.notes() if n.get("id")}
        for nid in list(self.note_items):
            if nid not in notes:
                self.removeItem(self.note_items.pop(nid))
        for nid, data in notes.items():
            item = self.note_items.get(nid)
            if item is None:
                item = self.note_items[nid] = NoteItem(self, data)
                self.addItem(item)
            elif item.data != data:
                item.set_data(data)
        self._rect_dirty = True

    def commit_edits(self):
        """Finish any note being edited (its text becomes an undo step)."""
        for item in list(self.note_items.values()):
            if item.editor is not None:
                item.finish_edit()

    def request_note_text(self, note_id, text):
        self.editor.set_note_text(note_id, text)

    # ---- moving ----------------------------------------------------------------------
    def node_moved(self, item):
        for e in self.node_edges.get(item.node_id, ()):
            self._place_edge(e)
        hidden_here = [n for n, r in self._rep_of_hidden.items() if r == item.node_id] \
            if item.collapsed_count else ()
        for n in hidden_here:
            for e in self.node_edges.get(n, ()):
                self._place_edge(e)
        name = self._group_of.get(item.node_id)
        if name is not None and name in self.group_items:
            self.group_items[name].update_rect()
        self._rect_dirty = True
        self._moved = True
        if self.overviewed:
            self._redraw_timer.start()  # once per event-loop turn, not per node

    def begin_move(self):
        """Remember where the selected items are (a drag starts)."""
        self._move_start = {it: it.pos() for it in self.selectedItems()
                            if isinstance(it, (NodeItem, NoteItem))}

    def end_move(self):
        """A drag ended: one undo command for everything that moved."""
        start, self._move_start = self._move_start, None
        if not start:
            return
        nodes, notes = {}, {}
        for it, p in start.items():
            if it.scene() is not self or it.pos() == p:
                continue
            x, y = round(it.pos().x(), 1), round(it.pos().y(), 1)
            if isinstance(it, NodeItem):
                nodes[it.node_id] = (x, y)
            else:
                notes[it.note_id] = (x, y)
        if nodes or notes:
            if not self.editor.move(nodes, notes):
                for it, p in start.items():  # refused: put the items back
                    if it.scene() is self:
                        it.setPos(p)

    # ---- selection -------------------------------------------------------------------
    def selected_nodes(self):
        out = []
        for it in self.selectedItems():
            if isinstance(it, NodeItem):
                out.append(it.node_id)
                group = self.collapsed_group_of(it.node_id)
                if group is not None:  # a collapsed box stands for its whole group
                    out.extend(n for n, r in self._rep_of_hidden.items()
                               if r == it.node_id)
        order = {n: i for i, n in enumerate(self.graph.nodes)}
        return sorted(set(out), key=lambda n: order.get(n, 0))

    def selected_node_items(self):
        return [it for it in self.selectedItems() if isinstance(it, NodeItem)]

    def selected_notes(self):
        return [it.note_id for it in self.selectedItems() if isinstance(it, NoteItem)]

    def selected_edges(self):
        return [it.edge for it in self.selectedItems() if isinstance(it, EdgeItem)]

    def select_nodes(self, node_ids):
        self.clearSelection()
        for n in node_ids:
            item = self.node_items.get(n)
            if item is not None and item.isVisible():
                item.setSelected(True)

    def set_caching(self, on):
        """Per-device caches on a still canvas; during a zoom gesture each step
        would redraw every one of them, so items are cached at their own
        resolution instead and scaled (a little soft until the gesture ends)."""
        if on == self._caching:
            return
        self._caching = on
        self.zooming = not on
        mode = QGraphicsItem.DeviceCoordinateCache if on \
            else QGraphicsItem.ItemCoordinateCache
        for items in (self.node_items, self.note_items, self.group_items):
            for item in items.values():
                item.setCacheMode(mode)

    # ---- level of detail -------------------------------------------------------------
    def set_zoom(self, scale):
        """The view's scale changed: draw every box in one item when far out."""
        self._scale = scale
        far = scale < OVERVIEW_LOD
        if far != self.overviewed:
            self.overviewed = far
            # the overview draws the boxes; the items stop painting but still
            # take clicks, drags and rubber bands (transparent items would not:
            # Qt skips items of opacity 0 when it looks for the item under the
            # mouse)
            items = list(self.node_items.values()) + list(self.group_items.values())
            for item in items:
                _set_drawn(item, not far)
            if far:
                self.overview.rebuild()
            self.overview.setVisible(far)

    def nodes_rect(self):
        r = QRectF()
        for it in self.node_items.values():
            if it.isVisible():
                r = r.united(it.sceneBoundingRect())
        for it in self.note_items.values():
            r = r.united(it.sceneBoundingRect())
        for it in self.group_items.values():
            if it.isVisible():
                r = r.united(it.sceneBoundingRect())
        return r

    def update_scene_rect(self):
        self._rect_dirty = False
        r = self.nodes_rect()
        if r.isNull():
            r = QRectF(-400, -300, 800, 600)
        m = 2000.0
        self.setSceneRect(r.adjusted(-m, -m, m, m))

    def node_item_at(self, scene_pos):
        for it in self.items(scene_pos):
            if isinstance(it, NodeItem):
                return it
        return None

    def port_at(self, scene_pos):
        """``(NodeItem, side, port)`` under ``scene_pos``, or ``None``."""
        r = QRectF(scene_pos.x() - 45, scene_pos.y() - 10, 90, 20)
        best = None
        for it in self.items(r):
            if isinstance(it, NodeItem) and it.isVisible():
                hit = it.port_at(scene_pos)
                if hit is not None:
                    best = (it, hit[0], hit[1])
                    break
        return best


def _set_drawn(item, drawn):
    """Paint the item or not; either way it stays under the mouse."""
    item.setFlag(QGraphicsItem.ItemHasNoContents, not drawn)
    item.update()


def _xy(pos):
    try:
        x, y = float(pos[0]), float(pos[1])
    except (TypeError, ValueError, IndexError):
        return 0.0, 0.0
    if not (math.isfinite(x) and math.isfinite(y)):
        return 0.0, 0.0
    return max(-FARTHEST, min(x, FARTHEST)), max(-FARTHEST, min(y, FARTHEST))


def _message(err):
    return getattr(err, "message", None) or str(err)

