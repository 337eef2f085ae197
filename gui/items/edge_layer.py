"""Every plain wire and its shape label, drawn by one item.

One ``paint`` call per edge item was most of a frame (measured at 500 nodes,
zoom 1: 6 ms of 7, half of it the labels' text). The scene's edge items stay
(they take clicks, hovers, selection and rubber bands) but draw nothing; this
layer draws their wires as a few combined paths, one per tile of the canvas,
and their labels as blits of one cached pixmap per text. Tiles keep a frame's
work to what is on screen, and a moved wire rebuilds only its tile. A wire
that is selected, hovered or dashed draws itself on top, as before.
"""

import math

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from ..style import C, font

__all__ = ["EdgeLayerItem", "TILE", "LABEL_LOD"]

TILE = 600.0  # scene units; a wire belongs to the tile holding its middle
LABEL_LOD = 0.6  # shape labels only from this zoom on (readable there)
SMOOTH_LOD = 0.3  # antialiased wires from this zoom on


class _Tile:
    __slots__ = ("edges", "path", "labels", "rect")

    def __init__(self):
        self.edges = set()
        self.path = None  # None: rebuilt when next painted
        self.labels = []
        self.rect = QRectF()

    def rebuild(self):
        path = QPainterPath()
        labels = []
        rect = QRectF()
        for e in self.edges:
            path.addPath(e.path)
            if e.label:
                labels.append((e.label_rect, e.label))
            rect = rect.united(e.boundingRect())
        self.path, self.labels, self.rect = path, labels, rect


class EdgeLayerItem(QGraphicsItem):
    """The wires of the scene's edge items that do not draw themselves.

    Edge items call :meth:`place` whenever their path, label, visibility or
    highlight changes, and the scene calls :meth:`remove` when one goes.
    """

    def __init__(self):
        super().__init__()
        self.setZValue(0.9)  # under the edge items that draw themselves (z 1)
        self.setAcceptedMouseButtons(Qt.NoButton)
        self.setAcceptHoverEvents(False)
        # the exposed rectangle: a drag repaints a small region, not every tile
        self.setFlag(QGraphicsItem.ItemUsesExtendedStyleOption)
        self._tiles = {}
        self._placed = {}  # edge item -> (tile key, its rect when placed)
        self._rect = QRectF()
        self._pixmaps = {}  # (text, width) -> label pixmap at _pixmap_scale
        self._pixmap_scale = None

    # ---- membership ------------------------------------------------------------------
    def place(self, edge):
        """(Re)file ``edge`` after a change; the layer draws it if it is visible
        and does not draw itself."""
        self.remove(edge)
        if not edge.isVisible() or edge.draws_itself:
            return
        r = edge.boundingRect()
        c = r.center()
        key = (math.floor(c.x() / TILE), math.floor(c.y() / TILE))
        tile = self._tiles.get(key)
        if tile is None:
            tile = self._tiles[key] = _Tile()
        tile.edges.add(edge)
        tile.path = None
        tile.rect = tile.rect.united(r)  # grows now, exact once rebuilt
        self._placed[edge] = (key, r)
        if not self._rect.contains(r):
            self.prepareGeometryChange()
            self._rect = self._rect.united(r.adjusted(-TILE, -TILE, TILE, TILE))
        self.update(r)

    def remove(self, edge):
        """Stop drawing ``edge`` (removed from the scene, or drawn by itself)."""
        placed = self._placed.pop(edge, None)
        if placed is None:
            return
        key, r = placed
        tile = self._tiles[key]
        tile.edges.discard(edge)
        tile.path = None
        if not tile.edges:
            del self._tiles[key]
        self.update(r)  # only where it was: a drag repaints a small region

    # ---- painting --------------------------------------------------------------------
    def boundingRect(self):
        return self._rect

    def paint(self, painter, option, widget=None):
        exposed = option.exposedRect if isinstance(
            option, QStyleOptionGraphicsItem) else self._rect
        tiles = []
        for tile in self._tiles.values():
            if tile.path is None:
                tile.rebuild()
            if tile.rect.intersects(exposed):
                tiles.append(tile)
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        pen = QPen(C.edge, 1)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.setBrush(Qt.NoBrush)
        # far out the wires are a texture: aliased lines cost a third as much
        painter.setRenderHint(QPainter.Antialiasing, lod >= SMOOTH_LOD)
        for tile in tiles:
            painter.drawPath(tile.path)
        if lod < LABEL_LOD:
            return
        scale = round(lod, 3)
        if scale != self._pixmap_scale or len(self._pixmaps) > 4000:
            # a new zoom: the old pixmaps are the wrong size
            self._pixmaps.clear()
            self._pixmap_scale = scale
        pixmaps = self._pixmaps
        for tile in tiles:
            for rect, text in tile.labels:
                if rect.intersects(exposed):
                    pm = pixmaps.get((text, rect.width()))
                    if pm is None:
                        pm = pixmaps[text, rect.width()] = label_pixmap(
                            text, rect.width(), rect.height(), scale)
                    painter.drawPixmap(rect.topLeft(), pm)


def label_pixmap(text, w, h, scale, hot=False):
    """A wire's shape label (its dark rounded box and the text) rendered at
    ``scale`` device pixels per scene unit; drawn at the label's top-left it
    covers ``w`` × ``h`` scene units one to one."""
    pm = QPixmap(math.ceil(w * scale), math.ceil(h * scale))
    pm.fill(Qt.transparent)
    p = QPainter(pm)
    p.setRenderHints(QPainter.Antialiasing | QPainter.TextAntialiasing)
    p.scale(scale, scale)
    paint_label(p, QRectF(0, 0, w, h), text, hot)
    p.end()
    pm.setDevicePixelRatio(scale)
    return pm


def paint_label(painter, rect, text, hot=False):
    """The label box of a wire: also what :class:`EdgeItem` draws when hot."""
    painter.setPen(Qt.NoPen)
    painter.setBrush(QBrush(C.edge_label_bg))
    painter.drawRoundedRect(rect, 4, 4)
    painter.setFont(font("label"))
    painter.setPen(C.edge_selected if hot else C.edge_label_text)
    painter.drawText(rect, Qt.AlignCenter, text)
