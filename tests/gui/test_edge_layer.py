"""The edge layer draws the plain wires; a highlighted wire draws itself."""

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QGraphicsItem

from gui.style import C

from .conftest import sample
from .util import show_scene_point, vp_point


def drawn_by_layer(scene):
    return set(scene.edge_layer._placed)


def draws_itself(item):
    return not item.flags() & QGraphicsItem.ItemHasNoContents


def move_mouse(window, point):
    """A plain mouse move (no button held, whatever earlier tests left)."""
    vp = window.view.viewport()
    pos = QPointF(point)
    QApplication.sendEvent(vp, QMouseEvent(QEvent.MouseMove, pos, vp.mapToGlobal(pos),
                                           Qt.NoButton, Qt.NoButton, Qt.NoModifier))
    QApplication.processEvents()


def test_the_layer_draws_every_visible_wire_that_is_not_highlighted(make_window):
    w = make_window(sample("lenet5"))
    s = w.scene
    visible = {it for it in s.edge_items.values() if it.isVisible()}
    assert visible and len(visible) < len(s.edge_items)  # weights inside: hidden
    assert drawn_by_layer(s) == visible
    assert not any(draws_itself(it) for it in s.edge_items.values())
    item = next(iter(visible))
    item.setSelected(True)
    assert item not in drawn_by_layer(s) and draws_itself(item)
    item.setSelected(False)
    assert item in drawn_by_layer(s) and not draws_itself(item)
    # views that hide or show wires keep the layer in step
    w.set_view(weights_inside=False)
    assert drawn_by_layer(s) == {it for it in s.edge_items.values() if it.isVisible()}
    assert len(drawn_by_layer(s)) == len(s.edge_items)


def test_moved_and_removed_wires_follow_in_the_layer(make_window):
    w = make_window(sample("lenet5"))
    s = w.scene
    edge, item = next((e, it) for e, it in s.edge_items.items() if e.dst == "relu1")
    node = s.node_items["relu1"]
    node.setPos(node.pos() + QPointF(400, 250))
    assert s.edge_layer._placed[item][1] == item.boundingRect()
    assert item.path.pointAtPercent(1.0) == node.port_pos("in", edge.dst_port)
    w.editor.disconnect([edge])
    assert item not in drawn_by_layer(s)


@pytest.mark.parametrize("scale", [1.0, 0.15])
def test_a_wire_is_clicked_and_hovered_at_any_zoom(make_window, scale):
    w = make_window(sample("lenet5"))
    s = w.scene
    pos = s.node_items["conv2"].pos()
    w.editor.move({"conv2": (pos.x() + 1500, pos.y() + 3000)}, {})  # a long wire
    item = next(it for e, it in s.edge_items.items() if e.dst == "conv2")
    at = item.path.pointAtPercent(0.5)  # far from any box
    show_scene_point(w, at, scale)
    assert [it for it in w.view.items(vp_point(w, at))
            if it.acceptHoverEvents()][:1] == [item]
    s.clearSelection()
    move_mouse(w, vp_point(w, at) + QPoint(30, 0))
    move_mouse(w, vp_point(w, at))
    assert item.hover and draws_itself(item)
    QTest.mouseClick(w.view.viewport(), Qt.LeftButton, Qt.NoModifier, vp_point(w, at))
    assert s.selected_edges() == [item.edge]
    s.clearSelection()
    move_mouse(w, vp_point(w, at) + QPoint(30, 0))
    assert not item.hover and item in drawn_by_layer(s)


def test_wires_and_their_shape_labels_are_on_screen(make_window):
    w = make_window(sample("lenet5"))
    s = w.scene
    item = next(it for e, it in s.edge_items.items() if e.src == "pool1")
    assert item.label
    show_scene_point(w, item.label_rect.center(), 1.0)
    image = w.view.viewport().grab().toImage()
    r = w.view.mapFromScene(item.label_rect).boundingRect()
    row = [image.pixelColor(x, r.center().y()) for x in range(r.left(), r.right())]
    # the label's light text (lighter than any wire)
    assert QColor(C.edge_label_text).lightness() > 160 > C.edge.lightness()
    assert sum(c.lightness() > 160 for c in row) >= 4
    p = w.view.mapFromScene(item.path.pointAtPercent(0.1))
    near = {image.pixelColor(p.x() + dx, p.y() + dy).rgb()
            for dx in (-1, 0, 1) for dy in (-1, 0, 1)}
    assert near != {C.background.rgb()}  # the wire itself
