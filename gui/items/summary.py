"""Summary texts: a collapsed group as one Keras-summary row, a weight's tooltip.

A collapsed group reads like a row of ``model.summary()``:
``conv1 · Conv2D 6@5×5 · ReLU · MaxPool 2×2 → N×6×14×14``: its name, each
member op in data order with its settings (read from attributes and weight
shapes), and the shape of the tensor that leaves the group.
"""

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFontMetricsF, QPen

from graphlab.shapes import fmt

from ..style import C, font

__all__ = ["group_summary", "op_summary", "paint_summary", "parameter_tooltip"]

_SHORT = {"BatchNorm": "BN", "Linear": "Dense", "CrossEntropyLoss": "CrossEntropy",
          "Upsample2D": "Upsample", "ConvTranspose2D": "ConvT2D"}


def _pair_text(v):
    if isinstance(v, (list, tuple)):
        return "×".join(str(int(x)) for x in v)
    return f"{v}×{v}"


def _weight_shape(graph, node_id, port):
    e = graph.in_edges(node_id).get(port)
    if e is None:
        return None
    node = graph.node(e.src)
    if node.op != "Parameter":
        return None
    try:
        return list(node.resolved.get("shape"))
    except Exception:
        return node.attrs.get("shape")


def op_summary(graph, node_id):
    """Short text for one op with its settings: ``Conv2D 6@5×5``, ``Dense 120``,
    ``MaxPool 2×2``, ``ReLU``."""
    node = graph.node(node_id)
    op = node.op
    name = _SHORT.get(op, op)
    a = node.attrs
    try:
        if op in ("Conv2D", "Conv1D"):
            w = _weight_shape(graph, node_id, "w")
            text = f"{name} {w[0]}@{'×'.join(str(d) for d in w[2:])}" if w else name
            stride = a.get("stride", 1)
            if stride not in (1, [1, 1]):
                text += f"/{stride if not isinstance(stride, list) else stride[0]}"
            return text
        if op == "ConvTranspose2D":
            w = _weight_shape(graph, node_id, "w")
            return f"{name} {w[1]}@{'×'.join(str(d) for d in w[2:])}" if w else name
        if op == "Linear":
            w = _weight_shape(graph, node_id, "w")
            return f"{name} {w[0]}" if w else name
        if op in ("RNN", "LSTM", "GRU"):
            w = _weight_shape(graph, node_id, "w_hh")
            return f"{name} {w[1]}" if w else name
        if op in ("MaxPool2D", "AvgPool2D"):
            return f"{name.replace('2D', '')} {_pair_text(a.get('kernel', 2))}"
        if op == "Dropout":
            return f"Dropout {a.get('p', 0.5)}"
    except (TypeError, IndexError, KeyError):
        pass
    return name


def group_summary(graph, members, report=None, name=None, topo=None, leaving=None):
    """``(name · op · op …, output shape text)`` of a group of nodes.

    ``topo`` (``{node: index}`` in topological order) and ``leaving`` (nodes
    that feed a node of another group) save work when already known."""
    keep = set(members)
    if topo is None:
        topo = {n: i for i, n in enumerate(graph.topological_order())}
    order = sorted(keep, key=topo.get)
    ops = [n for n in order if graph.node(n).op not in ("Parameter", "Constant")]
    parts = [op_summary(graph, n) for n in ops]
    # the tensor that leaves the group: the last member feeding an outsider,
    # else the last op
    if leaving is None:
        leaving = {e.src for e in graph.edges if e.src in keep and e.dst not in keep}
    last = None
    for n in order:
        if n in leaving:
            last = n
    if last is None and ops:
        last = ops[-1]
    shape = ""
    if report is not None and last is not None:
        shapes = report.shapes.get(last)
        if shapes:
            shape = fmt(shapes[0])
    head = " · ".join([name] + parts) if name else " · ".join(parts)
    return head, shape


def parameter_tooltip(graph, param):
    """HTML: a Parameter's id, shape, count, whether it trains, and its values
    (a heatmap, min and max) when it has any."""
    node = graph.node(param)
    if node.op == "Constant":
        from ..weights import row_text
        _, text = row_text(graph, param, "", "")
        return f"<b>{param}</b> · Constant {text}<br>not trained"
    try:
        shape = list(node.resolved.get("shape"))
    except Exception:
        shape = node.attrs.get("shape")
    trainable = node.attrs.get("trainable", True) is not False
    count = 1
    for d in shape or []:
        count *= d if isinstance(d, int) else 1
    users = len({e.dst for e in graph.out_edges(param)})
    lines = [f"<b>{param}</b> · Parameter {fmt(shape) if shape is not None else '?'}"
             f" · {count:,} numbers" + (f" · shared by {users} nodes" if users > 1
                                        else ""),
             "trainable" if trainable else "frozen: not updated by the optimizer",
             f"init: {node.attrs.get('init', 'xavier_uniform')}"]
    value = graph.params.get(param) if hasattr(graph, "params") else None
    if value is not None:
        try:
            from ..annotations import heatmap_tooltip
            tip = heatmap_tooltip(value, "value")
        except Exception:
            tip = ""
        if tip:
            lines.append(tip)
    return "<br>".join(lines)


def paint_summary(item, painter, lod, header, border, bw):
    """A collapsed group's box: name and output shape in the header, the ops
    below (two lines at most), all at least the minimum size on screen."""
    from .text import title_font
    r = item.geo.rect
    if item.error is None and getattr(item, "summary_colour", None) is not None:
        header = item.summary_colour  # the group's main op, not its last ReLU
    painter.setRenderHint(painter.RenderHint.Antialiasing, lod > 0.3)
    painter.setPen(QPen(C.node_border, 1))
    painter.setBrush(QBrush(C.node_body.darker(130)))
    painter.drawRoundedRect(r.translated(5, 5), 6, 6)
    painter.setPen(QPen(border, bw / max(min(lod, 1.0), 0.05) if bw > 1 else bw))
    painter.setBrush(QBrush(C.node_body))
    painter.drawRoundedRect(r, 6, 6)
    hh = 24.0
    painter.setPen(Qt.NoPen)
    painter.setBrush(header)
    painter.drawRect(QRectF(r.x() + 1, r.y() + 1, r.width() - 2, hh))
    head, shape = item.group_label
    name, _, ops = head.partition(" · ")
    tf = title_font(lod)
    fm = QFontMetricsF(tf)
    painter.setFont(tf)
    painter.setPen(C.text)
    w = r.width()
    shape_text = f"→ {shape}" if shape else ""
    sf = font("mono") if lod >= 0.75 else _scaled(font("mono"), lod)
    sfm = QFontMetricsF(sf)
    name_w = min(fm.horizontalAdvance("▸ " + name) + 4, w - 16)
    painter.drawText(QRectF(8, 0, name_w, hh), Qt.AlignVCenter | Qt.AlignLeft,
                     fm.elidedText("▸ " + name, Qt.ElideRight, name_w))
    if shape_text and w - name_w - 20 > 20:
        painter.setFont(sf)
        painter.setPen(QColor(255, 255, 255, 215))
        room = w - name_w - 20
        painter.drawText(QRectF(w - room - 8, 0, room, hh),
                         Qt.AlignVCenter | Qt.AlignRight,
                         sfm.elidedText(shape_text, Qt.ElideLeft, room))
    body = r.adjusted(8, hh + 2, -8, -2)
    of = font("small") if lod >= 0.9 else _scaled(font("small"), lod)
    painter.setFont(of)
    painter.setPen(C.text_dim if lod < DETAIL else C.text)
    painter.drawText(body, Qt.AlignLeft | Qt.AlignTop | Qt.TextWordWrap,
                     _two_lines(ops or "", QFontMetricsF(of), body.width(),
                                body.height()))
    params = getattr(item, "group_params", 0)
    if params and lod >= 0.6:
        painter.setFont(font("small"))
        painter.setPen(C.stats_text)
        from .text import human
        painter.drawText(body, Qt.AlignRight | Qt.AlignBottom,
                         f"{human(params)} params")


DETAIL = 0.45


def _scaled(f, lod):
    """``f`` grown so that it stays about 9 px on screen at ``lod``."""
    g = type(f)(f)
    g.setPixelSize(max(f.pixelSize(), int(-(-9.0 // max(lod, 0.02)))))
    return g


def _two_lines(text, fm, width, height):
    """The text, elided so that it fits the lines the box has room for."""
    lines = max(1, int(height // fm.lineSpacing()))
    if fm.horizontalAdvance(text) <= width * lines * 0.95:
        return text
    return fm.elidedText(text, Qt.ElideRight, width * lines * 0.9)
