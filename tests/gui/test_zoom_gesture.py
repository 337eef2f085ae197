"""A zoom gesture draws boxes in full within a per-frame budget, the rest plain
(box and id) until their turn; when it ends every box is drawn in full."""

import gui.scene
from gui.items import NodeItem

from .conftest import sample


def count_drawings(monkeypatch):
    drawn = {"full": 0, "plain": 0}
    full, plain = NodeItem._paint_ports, NodeItem._paint_overview

    def counting_full(self, *args):
        drawn["full"] += 1
        return full(self, *args)

    def counting_plain(self, *args):
        drawn["plain"] += 1
        return plain(self, *args)

    monkeypatch.setattr(NodeItem, "_paint_ports", counting_full)
    monkeypatch.setattr(NodeItem, "_paint_overview", counting_plain)
    return drawn


def frame(window, drawn):
    drawn["full"] = drawn["plain"] = 0
    window.view.viewport().grab()
    return dict(drawn)


def test_a_zoom_gesture_spreads_drawing_boxes_over_frames(make_window, monkeypatch):
    w = make_window(sample("lenet5"))
    s, v = w.scene, w.view
    v.set_scale(1.0)
    v.centerOn(s.nodes_rect().center())
    drawn = count_drawings(monkeypatch)
    boxes = sum(1 for it in s.node_items.values() if it.isVisible()
                and it.sceneBoundingRect().intersects(v.visible_scene_rect()))
    assert boxes >= 6
    frame(w, drawn)
    assert frame(w, drawn) == {"full": 0, "plain": 0}  # a still view: cached
    # a budget that one box's drawing spends: one box in full per frame
    monkeypatch.setattr(gui.scene, "PAINT_BUDGET", 1e-9)
    v.zoom_by(1.02)
    assert s.zooming
    first = frame(w, drawn)
    assert first["full"] == 1 and first["plain"] >= boxes - 1
    for _ in range(3 * boxes):  # the plain ones are drawn in full, one a frame
        if not s._deferred:
            break
        assert frame(w, drawn)["full"] <= 1
    assert not s._deferred
    assert frame(w, drawn) == {"full": 0, "plain": 0}  # all cached in full
    v._zoom_ended()  # the gesture ends: every box in full at the new zoom
    assert not s.zooming
    last = frame(w, drawn)
    assert last["plain"] == 0 and last["full"] >= boxes
