"""The box of one node: title, op, output shape, labelled ports, counts.

The item only draws; the scene feeds it what to show (:meth:`NodeItem.refresh`
from the graph, :meth:`NodeItem.set_analysis` from the model's report) and it
never edits the graph. Painting is cached per device (``DeviceCoordinateCache``)
and drops detail when zoomed out: below a level of detail of 0.45 the box shows
only its id (semantic zoom). At every zoom the id is drawn at least
:data:`MIN_TITLE_PX` pixels tall on screen (:func:`title_px`).

Weights drawn inside (``inside``: ``{port: parameter}``) are rows with the
Parameter's name and shape; hovering one shows the Parameter's tooltip. A box
that stands for a collapsed group draws its summary (``group_label``) instead
(:mod:`gui.items.summary`).
"""

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem

from graphlab.shapes import fmt

from ..style import C, family_colour, font
from .port import PORT_RADIUS
from .text import MIN_TITLE_PX, _fm, human, title_font, title_metrics, title_px

__all__ = ["NodeItem", "human", "title_px", "title_font", "MIN_TITLE_PX"]

DETAIL_LOD = 0.45


class NodeItem(QGraphicsRectItem):
    """One node of the graph on the canvas.

    A rectangle item only so that its bounds live in C++: Qt asks for them
    three times per item per frame, and a Python ``boundingRect`` made those
    calls a third of a zoomed-out frame (2,000 nodes at 25 %). The rectangle is
    never drawn as such (:meth:`paint` is ours).
    """

    def __init__(self, scene, node_id):
        super().__init__()
        self.setPen(Qt.NoPen)
        self._scene = scene
        self.node_id = node_id
        self.setFlags(QGraphicsItem.ItemIsMovable | QGraphicsItem.ItemIsSelectable
                      | QGraphicsItem.ItemSendsGeometryChanges)
        self.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
        self.setAcceptHoverEvents(True)
        self.setZValue(2)
        self.geo = None
        self.op = ""
        self.family = None
        self.placeholder = False
        self.shapes = []  # [(port, shape or None)]
        self.params = 0
        self.macs = 0
        self.error = None
        self.warnings = []
        self.footer = ""
        self.connected = set()  # input ports with an edge
        self.dim_ports = set()  # ports wired inside a collapsed group
        self.collapsed_count = 0  # >0: this box stands for a collapsed group
        self.group_label = ""
        self.hover_port = None
        self.inside = {}  # port -> Parameter drawn inside as a row
        self._short_title = (None, "")  # (id, size, width) -> elided id
        self.is_output = False
        self._colour = family_colour(None)
        self.refresh()

    # ---- what to show ----------------------------------------------------------------
    def refresh(self):
        """Re-read op, ports and attributes from the graph."""
        node = self._scene.graph.node(self.node_id)
        geo = self._scene.geometry_of(self.node_id)
        self.inside = self._scene.inside_of(self.node_id)
        if geo is not self.geo:
            self.prepareGeometryChange()
            self.geo = geo
            self._update_bounds()
        self.op = node.op
        self.placeholder = node.placeholder
        self.family = None if node.placeholder else node.op_def.family
        self._colour = family_colour(self.family)
        self.footer = self._source_footer(node) if geo.source else ""
        self.connected = set(self._scene.graph.in_edges(self.node_id))
        self.is_output = any(o.partition(":")[0] == self.node_id
                             for o in self._scene.graph.outputs)
        self._update_tooltip()
        self.update()

    def _source_footer(self, node):
        attrs = node.attrs
        if node.op == "Input":
            v = attrs.get("value")
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return f"= {v:g}"
            dtype = attrs.get("dtype", "float32")
            return "input" if dtype == "float32" else f"input · {dtype}"
        if node.op == "Constant":
            v = attrs.get("value")
            return f"= {v:g}" if isinstance(v, (int, float)) else "constant"
        return ""

    def set_analysis(self, shapes, params, macs, error, warnings):
        """Shapes of each output, counts and problems from the model's report."""
        if (shapes, params, macs, error, warnings) == (
                self.shapes, self.params, self.macs, self.error, self.warnings):
            return
        self.shapes, self.params, self.macs = shapes, params, macs
        self.error, self.warnings = error, warnings
        self._update_tooltip()
        self.update()

    def set_collapsed(self, hidden_count, label, dim_ports):
        if (hidden_count, label, dim_ports) == (
                self.collapsed_count, self.group_label, self.dim_ports):
            return
        self.prepareGeometryChange()
        self.collapsed_count = hidden_count
        self.group_label = label
        self.dim_ports = dim_ports
        self._update_bounds()
        self.update()

    def set_hover_port(self, port):
        if port != self.hover_port:
            self.hover_port = port
            self.update()

    def _update_tooltip(self):
        node = self._scene.graph.node(self.node_id)
        lines = [f"<b>{self.node_id}</b> · {self.op}"]
        if self.placeholder:
            lines.append("Unknown op: kept as a placeholder, attributes saved as they "
                         "are.")
        elif node.op_def.doc:
            lines.append(node.op_def.doc)
        if self.error is not None:
            lines.append(f"<span style='color:#e5484d'>{_esc(self.error)}</span>")
        for w in self.warnings:
            lines.append(f"<span style='color:#f0a640'>warning: {_esc(w)}</span>")
        self.setToolTip("<br>".join(lines))

    # ---- geometry --------------------------------------------------------------------
    def _update_bounds(self):
        extra = 10.0 if self.collapsed_count else 0.0
        out = 16.0 if self.geo.vertical else 4.0  # port names beside the borders
        self.setRect(self.geo.rect.adjusted(-PORT_RADIUS - 2, -out,
                                            PORT_RADIUS + 2 + extra, out + extra))

    def shape(self):
        p = QPainterPath()
        p.addRoundedRect(self.geo.rect.adjusted(-PORT_RADIUS, 0, PORT_RADIUS, 0), 6, 6)
        return p

    def port_pos(self, side, port):
        """Scene position of a port (``side`` is ``"in"`` or ``"out"``)."""
        ports = self.geo.inputs if side == "in" else self.geo.outputs
        p = ports.get(port)
        if p is None:  # a placeholder's port not drawn yet, or a hidden one
            p = self.geo.anchor(side)
        return self.mapToScene(p)

    def port_dir(self, side, port):
        """Outward direction of a port, which its wire leaves or enters along."""
        return self.geo.direction(side, port)

    def port_at(self, scene_pos):
        return self.geo.port_at(self.mapFromScene(scene_pos))

    # ---- events ----------------------------------------------------------------------
    def itemChange(self, change, value):
        if change == QGraphicsItem.ItemPositionHasChanged:
            self._scene.node_moved(self)
        return super().itemChange(change, value)

    def mouseDoubleClickEvent(self, event):
        self._scene.node_double_clicked(self.node_id)
        event.accept()

    def hoverMoveEvent(self, event):
        # a weight row shows its Parameter's tooltip, the rest the node's
        param = self.row_param_at(event.pos())
        if param != getattr(self, "_tip_for", None):
            self._tip_for = param
            if param is None:
                self._update_tooltip()
            else:
                from .summary import parameter_tooltip
                self.setToolTip(parameter_tooltip(self._scene.graph, param))
        super().hoverMoveEvent(event)

    def row_param_at(self, pos):
        """The Parameter drawn inside at item position ``pos``, or ``None``."""
        for port, param in self.inside.items():
            c = self.geo.inputs.get(port)
            if c is not None and abs(c.y() - pos.y()) <= 8.5 \
                    and 0 <= pos.x() <= self.geo.rect.width():
                return param
        return None

    # ---- painting --------------------------------------------------------------------
    def paint(self, painter, option, widget=None):
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        r = self.geo.rect
        selected = self.isSelected()
        header = QColor(self._colour)
        if self.error is not None:
            header = QColor("#8c2f33")
        border = (C.selected if selected else C.error if self.error is not None
                  else C.warning if self.warnings else C.node_border)
        bw = 2.0 if (selected or self.error is not None or self.warnings) else 1.0

        if self.collapsed_count:
            painter.setPen(QPen(C.node_border, 1))
            painter.setBrush(QBrush(C.node_body.darker(130)))
            for d in (10.0, 5.0):
                painter.drawRoundedRect(r.translated(d, d), 6, 6)

        body = C.placeholder if self.placeholder else (
            C.node_body_src if self.geo.source else C.node_body)
        if self.collapsed_count and self.group_label:
            from .summary import paint_summary
            paint_summary(self, painter, lod, header, border, bw)
            return
        if lod < DETAIL_LOD:
            self._paint_overview(painter, r, header, body, border, bw, lod)
            return

        painter.setRenderHint(painter.RenderHint.Antialiasing, True)
        pen = QPen(border, bw)
        if self.placeholder:
            pen.setStyle(Qt.DashLine)
        painter.setPen(pen)
        painter.setBrush(QBrush(body))
        painter.drawRoundedRect(r, 6, 6)
        # header band
        hh = 24.0 if not self.geo.source else 22.0
        painter.setPen(Qt.NoPen)
        painter.setBrush(header)
        painter.drawPath(_header_path(r, bw, hh))

        w = r.width()
        # title: the id, bold; the op name on the right
        painter.setPen(C.text)
        op_text = self.op if not self.geo.source else {
            "Parameter": "param", "Input": "input", "Constant": "const"}[self.op]
        if self.is_output and not self.geo.source:
            op_text = op_text + " ◉"
        fs = _fm("small")
        title = self.node_id
        if self.collapsed_count:
            title = "▸ " + title
        # the id first, at least MIN_TITLE_PX on screen; the op in what is left
        tf = title_font(lod)
        ft = title_metrics(lod)
        title_w = min(ft.horizontalAdvance(title) + 2, w - 14)
        title = ft.elidedText(title, Qt.ElideRight, title_w)
        painter.setFont(tf)
        painter.drawText(QRectF(8, 0, title_w + 2, hh), Qt.AlignVCenter | Qt.AlignLeft,
                         title)
        room = w - title_w - 20
        if room > 12:
            painter.setFont(font("small"))
            painter.setPen(QColor(255, 255, 255, 185))
            painter.drawText(QRectF(w - room - 6, 0, room, hh),
                             Qt.AlignVCenter | Qt.AlignRight,
                             fs.elidedText(op_text, Qt.ElideRight, room))

        # output shape under the title
        first = self.shapes[0][1] if self.shapes else None
        if self.error is not None:
            painter.setPen(C.error)
            painter.setFont(font("small"))
            text = "✖ " + _fm("small").elidedText(self.error, Qt.ElideRight, w - 28)
        elif self.placeholder:
            painter.setPen(C.text_dim)
            painter.setFont(font("small"))
            text = "unknown op (placeholder)"
        else:
            painter.setPen(C.shape_text)
            painter.setFont(font("mono"))
            text = fmt(first) if first is not None else "?"
            if len(self.shapes) > 1:
                text = f"{self.shapes[0][0]}: {text}"
        painter.drawText(QRectF(8, hh, w - 16, 18), Qt.AlignVCenter | Qt.AlignLeft,
                         _fm("mono").elidedText(text, Qt.ElideRight, w - 16)
                         if self.error is None else text)

        # ports and their labels
        self._paint_ports(painter, lod)

        # footer: parameters and multiply-adds
        fy = r.height() - 17 - 3
        painter.setPen(QPen(QColor(255, 255, 255, 22), 1))
        painter.drawLine(QPointF(6, fy), QPointF(w - 6, fy))
        painter.setFont(font("small"))
        painter.setPen(C.stats_text)
        painter.drawText(QRectF(8, fy, w - 16, 17), Qt.AlignVCenter | Qt.AlignLeft,
                         self._stats_text())
        if self.warnings and self.error is None:
            painter.setPen(C.warning)
            painter.drawText(QRectF(8, fy, w - 16, 17), Qt.AlignVCenter | Qt.AlignRight,
                             "⚠")

    def _stats_text(self):
        if self.collapsed_count:
            extra = f"+{self.collapsed_count} hidden"
            return f"{human(self.params)} params · {extra}" if self.params else extra
        if self.geo.source:
            if self.op == "Parameter":
                return f"{human(self.params)} params"
            return self.footer
        parts = []
        if self.params:
            parts.append(f"{human(self.params)} params")
        parts.append(f"{human(self.macs)} MACs")
        return " · ".join(parts)

    def _paint_ports(self, painter, lod):
        geo = self.geo
        painter.setFont(font("label"))
        fl = _fm("label")
        w = geo.rect.width()
        tops = [p for p, c in geo.inputs.items() if c.y() == 0.0]
        for port, c in geo.inputs.items():
            param = self.inside.get(port)
            if param is not None:
                self._paint_weight_row(painter, port, param, c, w)
                continue
            optional = not self.placeholder and port in self._optional()
            connected = port in self.connected
            colour = C.port_hover if self.hover_port == ("in", port) else (
                C.port_optional
                if (optional and not connected) or port in self.dim_ports
                else C.port_in)
            painter.setPen(QPen(colour.darker(160), 1))
            painter.setBrush(colour if connected else C.node_body)
            painter.drawEllipse(c, PORT_RADIUS, PORT_RADIUS)
            painter.setPen(C.text_dim if not (optional and not connected)
                           else C.port_optional)
            if c.y() == 0.0:  # top to bottom: the name beside the port, above
                if len(tops) > 1:
                    painter.drawText(QRectF(c.x() + 7, c.y() - 15, w / 2, 13),
                                     Qt.AlignVCenter | Qt.AlignLeft, port)
                continue
            painter.drawText(QRectF(c.x() + 9, c.y() - 8, w / 2, 16),
                             Qt.AlignVCenter | Qt.AlignLeft, port)
        multi = len(geo.outputs) > 1
        shapes = dict(self.shapes)
        for port, c in geo.outputs.items():
            colour = C.port_hover if self.hover_port == ("out", port) else C.port_out
            painter.setPen(QPen(colour.darker(160), 1))
            painter.setBrush(colour)
            painter.drawEllipse(c, PORT_RADIUS, PORT_RADIUS)
            if geo.source:
                continue
            painter.setPen(C.text_dim)
            if geo.vertical:  # below the box, beside the wire
                if multi:
                    painter.drawText(QRectF(c.x() + 7, c.y() + 1, w / 2, 13),
                                     Qt.AlignVCenter | Qt.AlignLeft, port)
                continue
            label = port
            if multi and shapes.get(port) is not None:
                label = f"{fmt(shapes[port])}  {port}"
            label = fl.elidedText(label, Qt.ElideLeft, w * 0.72)
            painter.drawText(QRectF(c.x() - 9 - w * 0.72, c.y() - 8, w * 0.72, 16),
                             Qt.AlignVCenter | Qt.AlignRight, label)

    def _paint_weight_row(self, painter, port, param, c, w):
        """A Parameter drawn inside: a band with its name and shape, a square
        port (a wire can still be dropped on it), dimmed when frozen."""
        from ..weights import row_text
        graph = self._scene.graph
        name, shape = row_text(graph, param, self.node_id, port)
        frozen = graph.node(param).op == "Constant" \
            or graph.node(param).attrs.get("trainable", True) is False
        painter.setPen(Qt.NoPen)
        painter.setBrush(QColor(255, 255, 255, 10))
        painter.drawRect(QRectF(2, c.y() - 8, w - 4, 16))
        colour = C.port_hover if self.hover_port == ("in", port) else C.port_in
        painter.setPen(QPen(colour.darker(160), 1))
        painter.setBrush(C.node_body_src if frozen else colour)
        painter.drawRect(QRectF(c.x() - 3.5, c.y() - 3.5, 7, 7))
        painter.setFont(font("label"))
        painter.setPen(C.text if not frozen else C.text_dim)
        painter.drawText(QRectF(c.x() + 9, c.y() - 8, w / 2, 16),
                         Qt.AlignVCenter | Qt.AlignLeft, name)
        name_w = _fm("label").horizontalAdvance(name) + 16
        text = shape + ("  frozen" if frozen and "const" not in shape
                        and not shape.startswith("=") else "")
        painter.setPen(C.shape_text if not frozen else C.text_dim)
        painter.drawText(QRectF(c.x() + 9 + name_w, c.y() - 8, w - name_w - 16, 16),
                         Qt.AlignVCenter | Qt.AlignRight,
                         _fm("label").elidedText(text, Qt.ElideLeft, w - name_w - 16))

    def _optional(self):
        node = self._scene.graph.node(self.node_id)
        return node.op_def.optional_inputs if not node.placeholder else ()

    def _paint_overview(self, painter, r, header, body, border, bw, lod):
        """Zoomed out: a box and its id, in a font that stays readable on screen."""
        painter.setPen(QPen(border, bw / max(lod, 0.05) if bw > 1 else 0))
        painter.setBrush(body)
        painter.drawRect(r)
        painter.setPen(Qt.NoPen)
        painter.setBrush(header)
        painter.drawRect(QRectF(r.x(), r.y(), r.width(), min(r.height(), 24.0)))
        painter.setFont(title_font(lod))
        painter.setPen(C.text)
        key = (self.node_id, title_px(lod), r.width())
        if self._short_title[0] != key:  # measured once per zoom, not per paint
            self._short_title = (key, title_metrics(lod).elidedText(
                self.node_id, Qt.ElideRight, r.width() - 8))
        painter.drawText(r.adjusted(4, 0, -4, 0), Qt.AlignCenter, self._short_title[1])


_headers = {}


def _header_path(r, bw, hh):
    key = (r.width(), bw, hh)
    p = _headers.get(key)
    if p is None:
        p = QPainterPath()
        p.addRoundedRect(QRectF(r.x() + bw / 2, r.y() + bw / 2, r.width() - bw, hh),
                         5, 5)
        p.addRect(QRectF(r.x() + bw / 2, r.y() + hh - 6, r.width() - bw, 6))
        p = _headers[key] = p.simplified()
    return p


def _esc(text):
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
