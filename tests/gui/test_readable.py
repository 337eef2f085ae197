"""Real-size models readable at a glance: weights inside, direction, collapsed
groups, label sizes at fit zoom, screenshot sizes (issue 23)."""

import glob
import json
import os
import subprocess
import sys

import pytest
from PySide6.QtGui import QFontMetricsF, QImage

import graphlab as gl

from .conftest import ROOT, SAMPLES, sample

SAMPLE_FILES = sorted(glob.glob(os.path.join(SAMPLES, "*.graph.json")))


def structure(graph):
    """The graph file without positions (what a view must never change)."""
    d = json.loads(gl.dumps(graph))
    for n in d["nodes"]:
        n.get("ui", {}).pop("pos", None)
    return d


def resnet():
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        from resnet_graph import resnet_graph
    finally:
        sys.path.pop(0)
    return resnet_graph(18)


# ---- weights inside their layer ------------------------------------------------------
def test_weights_are_rows_inside_their_layer_by_default(make_window):
    w = make_window(sample("lenet5"))
    s = w.scene
    assert not s.node_items["conv1_w"].isVisible()
    assert s.node_items["conv1"].inside == {"w": "conv1_w", "b": "conv1_b"}
    edge = next(it for e, it in s.edge_items.items() if e.src == "conv1_w")
    assert not edge.isVisible() and not edge.logical_visible
    from gui.weights import row_text
    assert row_text(w.graph, "conv1_w", "conv1", "w") == ("w", "6×1×5×5")
    assert row_text(w.graph, "conv1_b", "conv1", "b") == ("b", "6")
    # hovering the row gives the Parameter's tooltip, trainable status included
    item = s.node_items["conv1"]
    row = item.geo.inputs["w"]
    assert item.row_param_at(row) == "conv1_w"
    from gui.items.summary import parameter_tooltip
    assert "trainable" in parameter_tooltip(w.graph, "conv1_w")
    w.graph.params["conv1_w"] = __import__("numpy").ones((6, 1, 5, 5))
    assert "<img" in parameter_tooltip(w.graph, "conv1_w")  # the value heatmap


def test_weights_inside_and_as_nodes_give_the_same_graph(make_window, tmp_path):
    w = make_window(sample("lenet5"))
    inside = structure(w.graph)
    w.actions["showWeights"].trigger()
    assert not w.scene.weights_inside
    assert w.scene.node_items["conv1_w"].isVisible()
    assert structure(w.graph) == inside
    from gui.layout import overlapping
    assert overlapping(w.graph, view=w.scene.view_state) == []
    # and the saved files are the same graph
    a, b = tmp_path / "a.graph.json", tmp_path / "b.graph.json"
    w.save_to(str(a))
    w.actions["showWeights"].trigger()
    w.save_to(str(b))
    assert structure(gl.load(str(a))) == structure(gl.load(str(b))) == inside


def test_undo_works_across_a_weights_toggle(make_window):
    w = make_window(sample("lenet5"))
    g = w.graph
    original = structure(g)
    # an edit with weights inside: a frozen weight and a new wire into a row
    w.editor.set_attr("fc1_b", "trainable", False, merge=False)
    w.editor.place_op("Parameter", (0, 0), {"shape": [120]})
    new = [n for n in g.nodes if n not in {d["id"] for d in original["nodes"]}][0]
    assert w.scene.node_items[new].isVisible()  # feeds nothing yet: a box
    w.editor.disconnect([g.in_edges("fc1")["b"]])
    assert w.editor.connect(new, "fc1:b")  # fc1_b now feeds nothing: a box again
    s = w.scene
    assert s.node_items["fc1_b"].isVisible() and not s.node_items[new].isVisible()
    assert s.node_items["fc1"].inside["b"] == new
    edited = structure(g)
    w.actions["showWeights"].trigger()
    assert s.node_items[new].isVisible()
    while w.undo_stack.canUndo():
        w.undo_stack.undo()
    assert structure(g) == original
    # the toggle's layout was undone with it: the view its positions are for
    assert s.weights_inside and not w.actions["showWeights"].isChecked()
    assert s.node_items["fc1"].inside == {"w": "fc1_w", "b": "fc1_b"}
    while w.undo_stack.canRedo():
        w.undo_stack.redo()
    assert structure(g) == edited
    assert not s.weights_inside and s.node_items["fc1"].inside == {}
    w.actions["showWeights"].trigger()  # back inside
    assert s.node_items["fc1"].inside["b"] == new
    assert s.node_items["fc1_b"].isVisible()
    # the scene has an item per node and edge, visible as the view says
    assert set(s.node_items) == set(g.nodes)
    assert set(s.edge_items) == set(g.edges)


def test_weights_of_one_node_shown_as_nodes_from_its_context_menu(make_window):
    w = make_window(sample("lenet5"))
    from PySide6.QtWidgets import QMenu
    menu = QMenu()
    from gui.viewmenu import add_node_view_actions
    add_node_view_actions(w, menu, "conv2")
    action = next(a for a in menu.actions() if a.objectName() == "showNodeWeights")
    action.trigger()
    s = w.scene
    assert s.node_items["conv2_w"].isVisible() and s.node_items["conv2_b"].isVisible()
    assert not s.node_items["conv1_w"].isVisible()
    from gui.layout import overlapping
    assert overlapping(w.graph, view=s.view_state) == []


# ---- layout --------------------------------------------------------------------------
def _contiguous_and_apart(graph, view, positions):
    """No box overlaps another, and no box of a group's outsiders lies inside
    the group's bounding box."""
    boxes = {}
    for n in view.visible():
        x, y = positions[n]
        w, h = view.geometry(n).size
        boxes[n] = (x, y, x + w, y + h)
    names = list(boxes)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            p, q = boxes[a], boxes[b]
            assert not (p[0] < q[2] and q[0] < p[2] and p[1] < q[3] and q[1] < p[3]), \
                (a, b)
    for name, members in view.groups.items():
        shown = [n for n in members if n in boxes]
        if len(shown) < 2:
            continue
        x0 = min(boxes[n][0] for n in shown)
        y0 = min(boxes[n][1] for n in shown)
        x1 = max(boxes[n][2] for n in shown)
        y1 = max(boxes[n][3] for n in shown)
        for n, (a, b, c, d) in boxes.items():
            if n in shown:
                continue
            assert not (a < x1 and x0 < c and b < y1 and y0 < d), (name, n)


@pytest.mark.parametrize("vertical", [True, False], ids=["top-down", "left-right"])
@pytest.mark.parametrize("inside", [True, False], ids=["inside", "as-nodes"])
def test_layout_keeps_groups_together_without_overlaps(vertical, inside):
    from gui.layout import auto_layout
    from gui.viewstate import ViewState
    graphs = [gl.load(p, lenient=True) for p in SAMPLE_FILES] + [resnet()]
    for g in graphs:
        view = ViewState(g, vertical, inside)
        pos = auto_layout(g, view=view)
        assert set(pos) == set(g.nodes)
        _contiguous_and_apart(g, view, pos)


def test_long_chains_wrap_instead_of_running_off():
    from gui.layout import auto_layout
    from gui.viewstate import ViewState
    g = gl.load(sample("vanishing_sigmoid"))
    for vertical in (True, False):
        view = ViewState(g, vertical, True)
        pos = auto_layout(g, view=view, aspect=1.3)
        xs = [pos[n][0] for n in view.visible()]
        ys = [pos[n][1] for n in view.visible()]
        w = max(xs) - min(xs) + 200
        h = max(ys) - min(ys) + 150
        assert 0.5 < w / h < 3.0, (vertical, w, h)


def test_direction_is_a_view_menu_choice_and_one_undo_step(make_window):
    w = make_window(sample("mlp_xor"))
    assert w.scene.vertical and w.actions["layoutTopToBottom"].isChecked()
    fc1 = w.scene.node_items["fc1"]
    assert fc1.geo.inputs["x"].y() == 0.0  # data comes in at the top
    before = w.undo_stack.count()
    w.actions["layoutLeftToRight"].trigger()
    assert not w.scene.vertical and w.actions["layoutLeftToRight"].isChecked()
    assert fc1.geo.inputs["x"].x() == 0.0
    assert w.undo_stack.count() == before + 1
    from gui.layout import overlapping
    assert overlapping(w.graph, view=w.scene.view_state) == []
    w.undo_stack.undo()
    w.actions["layoutTopToBottom"].trigger()
    assert w.scene.vertical


# ---- collapsed groups ----------------------------------------------------------------
def test_big_graphs_open_with_groups_collapsed_to_summary_rows(make_window, tmp_path):
    path = tmp_path / "resnet.graph.json"
    gl.save(resnet(), str(path))
    w = make_window(str(path))
    s = w.scene
    boxes = [it for it in s.node_items.values() if it.isVisible()]
    assert len(w.graph) > 100 and len(boxes) <= 20
    assert not w.isWindowModified()
    head, shape = s.node_items["l2_0_out"].group_label
    assert head == ("layer2.0 · Conv2D 128@3×3/2 · BN · ReLU · Conv2D 128@3×3 · "
                    "BN · Conv2D 128@1×1/2 · BN · Add · ReLU")
    assert shape == "N×128×16×16"
    # expanding one group makes room for it (one undo step)
    before = w.undo_stack.count()
    w.editor.set_group_collapsed("layer2.0", False)
    assert w.undo_stack.count() == before + 1
    from gui.layout import overlapping
    assert overlapping(w.graph, view=s.view_state) == []


def test_lenet_summary_reads_like_a_keras_row():
    from gui.items.summary import group_summary
    g = gl.load(sample("lenet5"))
    for n in ("relu1", "pool1"):
        g.update_ui(n, group="conv1")
    head, shape = group_summary(g, [n for n in g.nodes
                                    if g.node(n).ui.get("group") == "conv1"],
                                g.analyse(), "conv1")
    assert f"{head} → {shape}" == \
        "conv1 · Conv2D 6@5×5 · ReLU · MaxPool 2×2 → N×6×14×14"


# ---- labels at every zoom ------------------------------------------------------------
def _name_heights(w):
    """On-screen height (px) of every visible box's name at the current zoom,
    from the view transform and the metrics of the font the box draws it in."""
    from gui.items.node import title_font
    scale = w.view.transform().m11()
    out = {}
    for n, item in w.scene.node_items.items():
        if not item.isVisible():
            continue
        f = title_font(scale)
        fm = QFontMetricsF(f)
        # the name is drawn whole (not elided) in its box
        room = item.geo.rect.width() - 14
        assert fm.horizontalAdvance(n) <= room or item.collapsed_count, n
        out[n] = f.pixelSize() * scale
        assert fm.height() * scale >= out[n]
    return out


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=os.path.basename)
def test_every_name_is_at_least_9_px_at_fit_zoom(make_window, path):
    w = make_window(path)  # 1400×900, fitted
    heights = _name_heights(w)
    assert heights and min(heights.values()) >= 9.0, heights


def test_lenet_fits_a_1400_by_900_window_legibly(make_window):
    w = make_window(sample("lenet5"))
    assert w.view.transform().m11() >= 0.75  # the boxes' details too, not only names
    assert min(_name_heights(w).values()) >= 9.0


def test_names_stay_9_px_when_zoomed_far_out():
    from gui.items.node import title_px
    for lod in (1.5, 1.0, 0.6, 0.45, 0.3, 0.2, 0.1, 0.05):
        assert title_px(lod) * lod >= 9.0 and title_px(lod) >= 12


# ---- screenshots ---------------------------------------------------------------------
def test_screenshot_has_the_requested_size(tmp_path):
    out = tmp_path / "shot.png"
    env = dict(os.environ, GRAPHLAB_GUI_HOME=str(tmp_path / "home"))
    r = subprocess.run([sys.executable, "-m", "gui", sample("vanishing_sigmoid"),
                        "--screenshot", str(out), "--size", "1200x800"], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    img = QImage(str(out))
    assert (img.width(), img.height()) == (1200, 800)
    r = subprocess.run([sys.executable, "-m", "gui", "--screenshot", str(out),
                        "--size", "big"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "--size" in r.stderr


def test_a_weight_shared_by_nodes_of_one_op_is_a_row_in_each():
    from gui.viewstate import ViewState
    b = gl.GraphBuilder("tied")
    x = b.input("x", ["N", 4])
    w = b.parameter("w", [4, 4])
    h = b.op("Linear", x, w, name="fc1")
    b.op("Linear", h, w, name="fc2")
    g = b.build()
    view = ViewState(g, True, True)
    assert "w" in view.hidden
    assert view.rows == {"fc1": {"w": "w"}, "fc2": {"w": "w"}}
    assert ViewState(g, True, False).rows == {}
    from gui.items.summary import parameter_tooltip
    assert "shared by 2 nodes" in parameter_tooltip(g, "w")
