"""Node geometry: box size and where each port sits, without any Qt item.

Ports are drawn by the node item itself (one ``paint`` per node is far cheaper
than one item per port); this module says where they are, for painting, for
hit-testing a wire drag, and for the automatic layout, which needs each box's
size before any item exists.
"""

from PySide6.QtCore import QPointF, QRectF

__all__ = ["NodeGeometry", "geometry_for", "PORT_RADIUS", "SOURCE_OPS"]

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
    """

    def __init__(self, in_ports, out_ports, source):
        self.source = source
        self.inputs = {}
        self.outputs = {}
        self.rows = []
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
                if d > best_d and abs(c.y() - point.y()) <= PORT_ROW / 2:
                    dx = point.x() - c.x()
                    if (side == "in" and 0 <= dx <= 40) or (
                            side == "out" and -40 <= dx <= 0):
                        d = best_d - 0.01
                if d <= best_d:
                    best, best_d = (side, p), d
        return best


_cache = {}


def geometry_for(node):
    """Geometry of a :class:`graphlab.Node` (cached by op and ports)."""
    ins = tuple(node.input_ports)
    outs = tuple(node.output_ports)
    source = node.op in SOURCE_OPS and not node.placeholder
    key = (ins, outs, source)
    g = _cache.get(key)
    if g is None:
        g = _cache[key] = NodeGeometry(ins, outs, source)
    return g
