"""Node geometry: box size and where each port sits, without any Qt item.

Ports are drawn by the node item itself (one ``paint`` per node is far cheaper
than one item per port); this module says where they are, for painting, for
hit-testing a wire drag, and for the automatic layout, which needs each box's
size before any item exists.

Two directions. Left to right: inputs are rows on the left border, outputs on
the right. Top to bottom: data inputs sit on the top border and outputs on
the bottom, and a layer's weight inputs (and any port whose Parameter is
drawn inside the box) stay rows on the left, so that a chain of layers runs
straight down. ``in_dirs``/``out_dirs`` give each port's outward direction,
which the wires leave and enter along.
"""

from PySide6.QtCore import QPointF, QRectF

__all__ = ["NodeGeometry", "geometry_for", "side_ports", "summary_geometry",
           "PORT_RADIUS", "SOURCE_OPS"]

SOURCE_OPS = ("Input", "Parameter", "Constant")

W_OP = 160.0
W_SOURCE = 128.0
HEADER = 24.0
SHAPE_ROW = 18.0
PORT_ROW = 17.0
FOOTER = 17.0
PAD = 5.0
PORT_RADIUS = 4.5
PORT_HIT = 10.0


class NodeGeometry:
    """Box and port positions of one node, in item coordinates.

    Attributes
    ----------
    rect : QRectF
        The box (origin top-left at 0, 0).
    inputs, outputs : dict of str to QPointF
        Port centres, on the left and right borders.
    rows : list of (str or None, str or None)
        ``(input port, output port)`` per port row, for labels.
    source : bool
        Input/Parameter/Constant: a smaller box with one output and no rows.
    vertical : bool
        Top-to-bottom ports (data in at the top, out at the bottom).
    in_dirs, out_dirs : dict of str to (float, float)
        Outward unit direction of each port.
    """

    def __init__(self, in_ports, out_ports, source, vertical=False, side=()):
        self.source = source
        self.vertical = vertical
        self.inputs = {}
        self.outputs = {}
        self.rows = []
        self.in_dirs = {}
        self.out_dirs = {}
        if vertical:
            self._vertical(in_ports, out_ports, source, side)
            return
        if source:
            w = W_SOURCE
            h = HEADER + SHAPE_ROW + FOOTER + PAD - 2
            mid = HEADER + SHAPE_ROW / 2
            for p in out_ports:
                self.outputs[p] = QPointF(w, mid)
            self.body_top = HEADER
        else:
            w = W_OP
            n = max(len(in_ports), len(out_ports), 1)
            top = HEADER + SHAPE_ROW
            h = top + n * PORT_ROW + FOOTER + PAD
            for i in range(n):
                y = top + (i + 0.5) * PORT_ROW
                ip = in_ports[i] if i < len(in_ports) else None
                op = out_ports[i] if i < len(out_ports) else None
                if ip is not None:
                    self.inputs[ip] = QPointF(0.0, y)
                if op is not None:
                    self.outputs[op] = QPointF(w, y)
                self.rows.append((ip, op))
            self.body_top = top
        self.rect = QRectF(0.0, 0.0, w, h)
        self.in_dirs = {p: (-1.0, 0.0) for p in self.inputs}
        self.out_dirs = {p: (1.0, 0.0) for p in self.outputs}

    def _vertical(self, in_ports, out_ports, source, side):
        w = W_SOURCE if source else W_OP
        rows = [p for p in in_ports if p in side]
        tops = [p for p in in_ports if p not in side]
        if source:
            h = HEADER + SHAPE_ROW + FOOTER + PAD - 2
        else:
            h = HEADER + SHAPE_ROW + len(rows) * PORT_ROW + FOOTER + PAD
        top = HEADER + SHAPE_ROW
        for i, p in enumerate(rows):
            self.inputs[p] = QPointF(0.0, top + (i + 0.5) * PORT_ROW)
            self.in_dirs[p] = (-1.0, 0.0)
            self.rows.append((p, None))
        for i, p in enumerate(tops):
            self.inputs[p] = QPointF(w * (i + 1) / (len(tops) + 1), 0.0)
            self.in_dirs[p] = (0.0, -1.0)
        for i, p in enumerate(out_ports):
            self.outputs[p] = QPointF(w * (i + 1) / (len(out_ports) + 1), h)
            self.out_dirs[p] = (0.0, 1.0)
        self.body_top = top
        self.rect = QRectF(0.0, 0.0, w, h)

    def anchor(self, side):
        """Where a wire without a drawn port meets the box (``"in"``/``"out"``)."""
        r = self.rect
        if self.vertical:
            return QPointF(r.width() / 2, 0.0 if side == "in" else r.height())
        return QPointF(0.0 if side == "in" else r.width(), r.height() / 2)

    def direction(self, side, port):
        """Outward direction of a port (of the anchor if the port is not drawn)."""
        dirs = self.in_dirs if side == "in" else self.out_dirs
        d = dirs.get(port)
        if d is not None:
            return d
        if self.vertical:
            return (0.0, -1.0) if side == "in" else (0.0, 1.0)
        return (-1.0, 0.0) if side == "in" else (1.0, 0.0)

    @property
    def size(self):
        return self.rect.width(), self.rect.height()

    def port_at(self, point, radius=PORT_HIT):
        """``("in"|"out", port)`` of the port nearest ``point`` within ``radius``."""
        best, best_d = None, radius * radius
        for side, ports in (("in", self.inputs), ("out", self.outputs)):
            for p, c in ports.items():
                d = (c.x() - point.x()) ** 2 + (c.y() - point.y()) ** 2
                # the label area of a row also picks its port
                if d > best_d and abs(c.y() - point.y()) <= PORT_ROW / 2 \
                        and c.x() in (0.0, self.rect.width()):
                    dx = point.x() - c.x()
                    if (side == "in" and 0 <= dx <= 40) or (
                            side == "out" and -40 <= dx <= 0):
                        d = best_d - 0.01
                if d <= best_d:
                    best, best_d = (side, p), d
        return best


_cache = {}


_sides = {}


def side_ports(op):
    """A layer op's weight inputs (``w``, ``b``, ``gamma``…): rows on the left
    of its box when laid out top to bottom."""
    ports = _sides.get(op)
    if ports is None:
        from ..layers import LAYERS
        ports = frozenset()
        for kind in LAYERS.values():
            if kind.op == op:
                ports = frozenset(kind.ports)
        _sides[op] = ports
    return ports


def geometry_for(node, vertical=False, inside=()):
    """Geometry of a :class:`graphlab.Node` (cached by op and ports).

    ``inside`` names input ports whose Parameter is drawn inside the box (a
    row, also when the ports run top to bottom).
    """
    ins = tuple(node.input_ports)
    outs = tuple(node.output_ports)
    source = node.op in SOURCE_OPS and not node.placeholder
    side = (side_ports(node.op) | frozenset(inside)) if vertical else frozenset()
    key = (ins, outs, source, bool(vertical), side)
    g = _cache.get(key)
    if g is None:
        g = _cache[key] = NodeGeometry(ins, outs, source, bool(vertical), side)
    return g


SUMMARY_W = 330.0
SUMMARY_H = HEADER + 2 * 16.0 + FOOTER + PAD


def summary_geometry(vertical):
    """The box of a collapsed group: one summary row, no named ports (wires
    meet at the middle of the borders they run between)."""
    key = ("summary", bool(vertical))
    g = _cache.get(key)
    if g is None:
        g = _cache[key] = NodeGeometry((), (), False, bool(vertical))
        g.rect = QRectF(0.0, 0.0, SUMMARY_W, SUMMARY_H)
        g.rows = []
    return g
