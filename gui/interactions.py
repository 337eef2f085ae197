"""Gestures on the canvas, each ending in one request to the editor.

- :class:`WireDrag`: press on an output port and drag to an input to connect
  (or from an input back to an output). Pressing on an input that already has
  an edge picks that edge up: drop it on another input to move it, or on empty
  canvas to delete it. While dragging, the wire turns red over a port the edge
  would be refused at, and the status bar says why.
- :class:`MoveGesture`: dragging selected nodes and notes; one undo command
  when the button is released.
- Rubber-band selection is Qt's own (``QGraphicsView.RubberBandDrag``): drag on
  empty canvas to select every node the band touches, Ctrl to add.
"""

from PySide6.QtCore import Qt
from PySide6.QtGui import QPen
from PySide6.QtWidgets import QGraphicsPathItem

from graphlab.errors import GraphlabError

from .items.edge import bezier
from .style import C

__all__ = ["WireDrag", "MoveGesture"]


class WireDrag:
    """One wire being dragged from a port."""

    def __init__(self, view, node_item, side, port):
        self.view = view
        self.scene = view.scene()
        self.graph = self.scene.graph
        self.editor = self.scene.editor
        self.detached = None
        self.src = self.dst = None
        node_id = node_item.node_id
        if side == "out":
            self.src = (node_id, port)
            self.anchor = node_item.port_pos("out", port)
        else:
            edge = self.graph.in_edges(node_id).get(port)
            if edge is not None:  # pick up the existing wire by its end
                self.detached = edge
                self.src = (edge.src, edge.src_port)
                src_item = self.scene.node_items[edge.src]
                self.anchor = src_item.port_pos("out", edge.src_port)
                item = self.scene.edge_items.get(edge)
                if item is not None:
                    item.show_wire(False)
            else:
                self.dst = (node_id, port)
                self.anchor = node_item.port_pos("in", port)
        self.wire = QGraphicsPathItem()
        self.wire.setZValue(10)
        self._pen(C.wire_ok)
        self.scene.addItem(self.wire)
        self.hover = None
        self.reason = None

    def _pen(self, colour):
        pen = QPen(colour, 2)
        pen.setCosmetic(True)
        pen.setStyle(Qt.DashLine)
        self.wire.setPen(pen)

    def _target(self, scene_pos):
        hit = self.scene.port_at(scene_pos)
        if hit is None:
            return None
        item, side, port = hit
        if self.src is not None and side == "in":
            return item, side, port
        if self.dst is not None and side == "out":
            return item, side, port
        return None

    def _ends(self, item, port):
        """The new edge's source and target references, ``item:port`` at the
        end being dragged."""
        if self.src is not None:
            return f"{self.src[0]}:{self.src[1]}", f"{item.node_id}:{port}"
        return f"{item.node_id}:{port}", f"{self.dst[0]}:{self.dst[1]}"

    def _refusal(self, item, port):
        """Why the edge to ``item:port`` would be refused, or ``None``."""
        src, dst = self._ends(item, port)
        if self.detached is not None and (item.node_id, port) == (
                self.detached.dst, self.detached.dst_port):
            return None
        try:
            # a picked-up edge still exists while dragged; it cannot take part
            # in a cycle through the new edge (it leaves the new edge's source)
            self.graph.check_connect(src, dst)
        except GraphlabError as e:
            return e.message
        return None

    def move(self, scene_pos):
        target = self._target(scene_pos)
        if self.hover is not None and (target is None or target[0] is not self.hover):
            self.hover.set_hover_port(None)
            self.hover = None
        end = scene_pos
        self.reason = None
        if target is not None:
            item, side, port = target
            end = item.port_pos(side, port)
            item.set_hover_port((side, port))
            self.hover = item
            self.reason = self._refusal(item, port)
        self._pen(C.wire_bad if self.reason else C.wire_ok)
        if self.reason:
            self.editor.message.emit(f"Cannot connect here: {self.reason}")
        # the wire leaves and enters along its ports' sides (top to bottom too)
        vertical = self.scene.vertical
        out_d, in_d = (((0.0, 1.0), (0.0, -1.0)) if vertical
                       else ((1.0, 0.0), (-1.0, 0.0)))
        if target is not None:
            d = item.port_dir(side, port)
            out_d, in_d = (d, in_d) if side == "out" else (out_d, d)
        if self.src is not None:
            self.wire.setPath(bezier(self.anchor, end, out_d, in_d))
        else:
            self.wire.setPath(bezier(end, self.anchor, out_d, in_d))

    def finish(self, scene_pos):
        target = self._target(scene_pos)
        self._cleanup()
        if target is None:
            if self.detached is not None:  # dropped on nothing: the edge goes
                self.editor.disconnect([self.detached])
            return
        item, side, port = target
        src, dst = self._ends(item, port)
        if self.detached is not None:
            if (item.node_id, port) == (self.detached.dst, self.detached.dst_port):
                self._restore()
                return
            if not self.editor.reconnect(self.detached, dst):
                self._restore()
            return
        self.editor.connect(src, dst)

    def cancel(self):
        self._cleanup()
        self._restore()

    def _restore(self):
        if self.detached is not None:
            item = self.scene.edge_items.get(self.detached)
            if item is not None:
                item.show_wire(item.logical_visible)

    def _cleanup(self):
        if self.hover is not None:
            self.hover.set_hover_port(None)
            self.hover = None
        if self.wire.scene() is not None:
            self.scene.removeItem(self.wire)


class MoveGesture:
    """Selected nodes and notes dragged with the left button."""

    def __init__(self, scene):
        self.scene = scene
        scene.begin_move()

    def finish(self):
        self.scene.end_move()
