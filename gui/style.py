"""Colours, fonts and sizes shared by the canvas items and the panels.

One place for the look, so that the node boxes, the minimap and the palette
agree on what colour a family is.
"""

from PySide6.QtGui import QColor, QFont

__all__ = ["FAMILY_COLOURS", "family_colour", "font", "C"]

# Header colour of each op family (muted, readable with white text).
FAMILY_COLOURS = {
    "sources": "#3f7f5f",
    "arithmetic": "#5a6478",
    "activations": "#8a5a2b",
    "linear algebra, shape": "#3a6ea5",
    "convolution": "#6a4c9c",
    "pooling, resampling": "#2f7f8a",
    "regularisation": "#5e7a3c",
    "sequences": "#7c4c9c",
    "recurrent": "#9c4c6a",
    "losses": "#a07c24",
    "layers": "#3a6ea5",
    None: "#55585f",
}


class C:
    """Canvas colours."""

    background = QColor("#1d1f23")
    grid_minor = QColor("#25282d")
    grid_major = QColor("#2c3036")
    node_body = QColor("#2c2f36")
    node_body_src = QColor("#283029")
    node_border = QColor("#15171a")
    text = QColor("#e6e8eb")
    text_dim = QColor("#9aa1ad")
    shape_text = QColor("#9fd4ff")
    stats_text = QColor("#8f98a6")
    selected = QColor("#4ea1ff")
    error = QColor("#e5484d")
    warning = QColor("#f0a640")
    edge = QColor("#7d8696")
    edge_selected = QColor("#4ea1ff")
    edge_label_bg = QColor(29, 31, 35, 225)
    edge_label_text = QColor("#c3c9d3")
    port_in = QColor("#c9ced6")
    port_out = QColor("#c9ced6")
    port_optional = QColor("#6d7480")
    port_hover = QColor("#ffd24d")
    wire_ok = QColor("#8fd18f")
    wire_bad = QColor("#e5484d")
    group_fill = QColor(120, 140, 170, 22)
    group_border = QColor(140, 160, 190, 90)
    note_fill = QColor("#f3df86")
    note_text = QColor("#2b2a22")
    placeholder = QColor("#5b5f66")


def family_colour(family):
    return QColor(FAMILY_COLOURS.get(family, FAMILY_COLOURS[None]))


_fonts = {}


def font(kind):
    """Cached fonts: ``title``, ``small``, ``mono``, ``label``, ``note``, ``big``."""
    f = _fonts.get(kind)
    if f is None:
        if kind == "title":
            f = QFont("DejaVu Sans")
            f.setPixelSize(12)
            f.setBold(True)
        elif kind == "small":
            f = _px("DejaVu Sans", 10)
        elif kind == "mono":
            f = _px("DejaVu Sans Mono", 11)
        elif kind == "label":
            f = _px("DejaVu Sans Mono", 10)
        elif kind == "note":
            f = _px("DejaVu Sans", 12)
        elif kind == "big":
            f = _px("DejaVu Sans", 30)
            f.setBold(True)
        else:
            raise KeyError(kind)
        f.setHintingPreference(QFont.PreferNoHinting)
        _fonts[kind] = f
    return f


def _px(family, pixels):
    f = QFont(family)
    f.setPixelSize(pixels)
    return f
