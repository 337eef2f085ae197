"""The chain-rule stepper: values and gradients on the wires, step by step."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QListWidget

from graphlab.symbolic.forms import fmt_number

from .conftest import sample


class _NoLabel:
    value_text = grad_text = ""
    hot = False


def edge(window, src, dst):
    """The wire label of the edge ``src`` → ``dst`` (blank when none is shown)."""
    for e in window.scene.edge_items:
        if e.src == src and e.dst == dst:
            return window.scene.annotations.label(e) or _NoLabel()
    raise AssertionError(f"no edge {src} → {dst}")


def labels(window):
    return [window.scene.annotations.label(e) or _NoLabel()
            for e in window.scene.edge_items]


def test_stepper_walks_cs231n(make_window, qtbot):
    w = make_window(sample("cs231n"))
    w.actions["stepper"].trigger()
    st = w.findChild(type(w.stepper), "stepper")
    assert st is w.stepper and st.isVisible()
    assert isinstance(st.parentWidget(), QDockWidget)
    steps = st.findChild(QListWidget, "stepList")
    assert steps.count() == len(st.steps) == 6
    assert steps.item(0).text() == "1. q = x + y = 3"
    # at the start: only the inputs' values, no gradients
    assert st.position == 0
    assert edge(w, "x", "q").value_text == "-2"
    assert edge(w, "q", "f").value_text == ""
    assert all(it.grad_text == "" for it in labels(w))

    qtbot.mouseClick(st.next_button, Qt.LeftButton)
    assert st.position == 1
    assert edge(w, "q", "f").value_text == "3"
    assert st.stub_text("f") == ""
    assert "q = x + y = 3" in st.formula.text()
    qtbot.mouseClick(st.next_button, Qt.LeftButton)  # forward steps done
    assert st.stub_text("f") == "-12"
    assert edge(w, "q", "f").value_text == "3"
    assert edge(w, "z", "f").value_text == "-4"
    assert all(it.grad_text == "" for it in labels(w))

    qtbot.mouseClick(st.next_button, Qt.LeftButton)  # ∂f/∂q
    assert edge(w, "q", "f").grad_text == "-4"
    assert edge(w, "x", "q").grad_text == ""
    assert edge(w, "q", "f").hot

    st.go_end()
    assert st.position == 6 and not st.next_button.isEnabled()
    assert edge(w, "x", "q").grad_text == "-4"
    assert edge(w, "y", "q").grad_text == "-4"
    assert edge(w, "z", "f").grad_text == "3"
    assert edge(w, "q", "f").grad_text == "-4"
    assert st.stub_text("f") == "-12"

    # back goes back: the last gradient disappears again
    qtbot.mouseClick(st.back_button, Qt.LeftButton)
    assert st.position == 5
    assert edge(w, "y", "q").grad_text == ""
    assert edge(w, "x", "q").grad_text == "-4"
    # choosing a step in the list moves there
    steps.setCurrentRow(0)
    assert st.position == 1 and edge(w, "q", "f").grad_text == ""
    assert w.undo_stack.count() == 0 and not w.is_dirty()  # nothing edited


def test_stepper_menu_entry(make_window):
    w = make_window()
    view = next(m for m in w.menuBar().actions() if m.text() == "&View").menu()
    assert w.actions["stepper"] in view.actions()
    assert "stepper" in w.actions["stepper"].text().lower()


def test_stepper_reports_graphlab_errors(make_window):
    w = make_window()
    w.editor.place_op("Add", (0, 0))
    st = w.open_stepper()
    assert st is not None and st.explanation is None
    assert "cannot explain" in w.statusBar().currentMessage().lower()
    assert "not connected" in st.formula.text()
    assert not st.next_button.isEnabled()


def test_editing_the_graph_makes_the_stepper_stale(make_window):
    w = make_window(sample("cs231n"))
    st = w.open_stepper()
    st.go_end()
    assert edge(w, "x", "q").grad_text == "-4"
    w.editor.place_op("Add", (600, 600))
    assert st.stale and not st.next_button.isEnabled()
    assert all(it.grad_text == "" for it in labels(w))
    w.undo_stack.undo()
    st.recompute_button.click()
    assert not st.stale and st.position == 0 and len(st.steps) == 6


def test_closing_the_stepper_removes_the_overlays(make_window, qtbot):
    w = make_window(sample("cs231n"))
    st = w.open_stepper()
    st.go_end()
    n = len(w.scene.items())
    w.stepper_dock.close()
    qtbot.waitUntil(lambda: len(w.scene.items()) < n)
    assert edge(w, "x", "q").grad_text == ""
    w.open_stepper()
    assert w.stepper_dock.isVisible() and len(st.steps) == 6


def test_tensor_values_are_short(make_window):
    w = make_window(sample("lenet5"))
    st = w.open_stepper()
    st.go(30)
    texts = [it.value_text for it in labels(w)]
    assert all(texts) and all(len(t) < 30 for t in texts)
    assert any("×" in t and "‖" in t for t in texts)
    grads = [it.grad_text for it in labels(w) if it.grad_text]
    assert grads and all(len(t) < 30 for t in grads)


@pytest.mark.parametrize("step", ["end", "3"])
def test_screenshot_with_step(qapp, tmp_path, step):
    from gui.app import main
    out = tmp_path / "shot.png"
    assert main([sample("cs231n"), "--screenshot", str(out), "--step", step]) == 0
    assert out.exists() and out.stat().st_size > 10000


def test_step_option_is_checked(qapp, tmp_path):
    from gui.app import main
    with pytest.raises(SystemExit) as e:
        main([sample("cs231n"), "--screenshot", str(tmp_path / "x.png"),
              "--step", "many"])
    assert e.value.code == 2


# ---- typeset formulas, the editable point, heatmap tooltips --------------------------

def test_every_step_is_typeset(make_window, qtbot):
    from gui.mathview import MathView
    w = make_window(sample("cs231n"))
    st = w.open_stepper()
    view = st.findChild(MathView, "stepMath")
    assert view is st.math_view and not view.rendered  # step 0: no formula
    for k in range(1, len(st.steps) + 1):
        qtbot.mouseClick(st.next_button, Qt.LeftButton)
        assert view.last_latex == st.steps[k - 1].latex
        assert view.rendered and view.svg.startswith("<svg") and "<path" in view.svg
        assert view.height() > 10 and view.isVisible()
        assert st.formula.text() == st.steps[k - 1].text  # plain text stays
    view.grab()  # paints without errors


def test_math_view_falls_back_on_bad_latex(qtbot):
    from gui.mathview import MathView
    view = MathView()
    qtbot.addWidget(view)
    assert not view.set_latex(r"\frac{1}{")
    assert view.last_latex == r"\frac{1}{" and view.svg == "" and view.height() == 0
    assert view.set_latex(r"f = {-4}")
    assert view.set_latex("") is False and view.svg == ""


def test_editing_an_input_explains_again(make_window, qtbot):
    from PySide6.QtWidgets import QLineEdit, QTableWidget
    w = make_window(sample("cs231n"))
    with open(sample("cs231n")) as f:
        text_before = f.read()
    st = w.open_stepper()
    table = st.findChild(QTableWidget, "stepInputs")
    assert table.isVisible()
    rows = {table.item(r, 0).text(): table.item(r, 1) for r in range(table.rowCount())}
    assert set(rows) == {"x", "y", "z"} and rows["x"].text() == "-2"
    qtbot.mouseClick(st.next_button, Qt.LeftButton)
    qtbot.mouseClick(st.next_button, Qt.LeftButton)
    assert st.stub_text("f") == "-12"
    table.setCurrentItem(rows["x"])
    table.editItem(rows["x"])
    editor = table.findChild(QLineEdit)
    assert editor is not None
    editor.selectAll()
    qtbot.keyClicks(editor, "-3")
    qtbot.keyClick(editor, Qt.Key_Return)  # the delegate commits it queued
    qtbot.waitUntil(lambda: st.stub_text("f") == "-8")
    assert st.position == 2  # the same step, at the new point
    assert st.stub_text("f") == "-8" and edge(w, "q", "f").value_text == "2"
    assert edge(w, "x", "q").value_text == "-3"
    st.go_end()
    assert edge(w, "z", "f").grad_text == "2"  # ∂f/∂z = q = -3 + 5
    assert edge(w, "x", "q").grad_text == "-4"
    assert st.stub_text("f") == "-8"
    assert float(st.explanation.grads["z"]) == 2
    assert table.item(0, 1).text() == "-3"
    # the graph is untouched
    assert w.undo_stack.count() == 0 and not w.is_dirty()
    assert w.graph.node("x").attrs["value"] == -2.0
    with open(sample("cs231n")) as f:
        assert f.read() == text_before
    # a bad value is refused and the table shows the point again
    assert not st.set_input("y", "lots")
    assert table.item(1, 1).text() == "5" and st.stub_text("f") == "-8"
    assert "lots" in w.statusBar().currentMessage()


def test_heatmap_tooltip_on_tensor_labels(make_window):
    from PySide6.QtGui import QTextDocument

    from gui.stepper import heatmap_image
    w = make_window(sample("lenet5"))
    st = w.open_stepper()
    st.go_end()
    ov = next(ov for e, ov in w.scene.annotations.labels.items()
              if np.ndim(ov.value) == 4 and ov.grad is not None)
    a = np.asarray(ov.value)
    html = ov.tooltip_at(ov.value_rect.center())
    assert "data:image/png;base64," in html
    assert "×".join(map(str, a.shape)) in html
    assert "min " + fmt_number(a.min(), 4) in html
    assert "max " + fmt_number(a.max(), 4) in html
    img = heatmap_image(ov.value)
    assert not img.isNull()
    assert img.width() >= a.shape[-1] and img.height() >= a.shape[-2]
    assert img.width() % a.shape[-1] == 0  # square blocks per cell
    doc = QTextDocument()
    doc.setHtml(html)
    assert doc.size().height() > img.height()  # the image is in the tooltip
    grad_html = ov.tooltip_at(ov.grad_rect.center())
    assert "gradient" in grad_html and "data:image/png" in grad_html
    # the cs231n scalars have no heatmap
    w2 = make_window(sample("cs231n"))
    st2 = w2.open_stepper()
    st2.go_end()
    ov2 = edge(w2, "x", "q")
    assert ov2.tooltip_at(ov2.value_rect.center()) == ""


def test_editing_integer_labels(make_window, qtbot):
    w = make_window(sample("lenet5"))
    st = w.open_stepper()
    rows = {st.inputs_table.item(r, 0).text(): r
            for r in range(st.inputs_table.rowCount())}
    assert set(rows) == {"y"}  # the image batch is too big to edit here
    assert not st.set_input("y", "1.5, 2")
    assert st.set_input("y", "1, 2")
    assert st.explanation.at["y"].tolist() == [1, 2]
    assert st.explanation.at["y"].dtype.kind in "iu"
    assert st.inputs_table.item(rows["y"], 1).text() == "1, 2"


def _node_menu(w, node):
    from PySide6.QtCore import QPoint
    item = w.scene.node_items[node]
    w._context_menu(QPoint(0, 0), item.sceneBoundingRect().center())
    menu = w._menu
    menu.close()
    return {a.text(): a for a in menu.actions()}


def test_unroll_from_the_context_menu(make_window):
    w = make_window(sample("rnn_digits"))
    rnn = next(n for n in w.graph.nodes if w.graph.node(n).op == "RNN")
    assert not any("Unroll" in t for t in _node_menu(w, rnn))  # stepper closed
    st = w.open_stepper()
    st.go(3)
    actions = _node_menu(w, rnn)
    unroll = next(a for t, a in actions.items() if t.startswith("Unroll"))
    assert not st.unroll_panel.isVisible()
    unroll.trigger()
    assert st.unroll_panel.isVisible() and st.position == 3
    expected = st.explanation.unroll(rnn)
    t = st.unroll_table
    assert t.rowCount() == expected.T == len(expected.steps)
    for r, step in enumerate(expected.steps):
        assert t.item(r, 0).text() == str(step.t)
        assert t.item(r, 1).text() == step.h
        assert t.item(r, 2).text() == fmt_number(step.grad_norm, 3)
        assert t.item(r, 4).text() == fmt_number(step.product_norm, 3)
    assert "‖∂L/∂h_t‖" in t.horizontalHeaderItem(2).text()
    assert expected.verdict() in st.unroll_title.text()
    # other nodes get no Unroll; editing the graph hides the table
    other = next(n for n in w.graph.nodes if w.graph.node(n).op != "RNN")
    assert not any("Unroll" in t for t in _node_menu(w, other))
    st.unroll_close.click()
    assert not st.unroll_panel.isVisible() and st.unroll_node is None
    assert st.unroll(rnn) and st.unroll_panel.isVisible()
    w.editor.place_op("Add", (3000, 3000))
    assert st.stale and not st.unroll_panel.isVisible()
    assert not any("Unroll" in t for t in _node_menu(w, rnn))
    w.undo_stack.undo()
    st.recompute_button.click()
    assert st.unroll_panel.isVisible()  # shown again at the recomputed point
    assert not st.unroll("nope") and "cannot unroll" in w.statusBar().currentMessage()


def test_unroll_lstm_header(make_window):
    w = make_window(sample("lstm_digits"))
    st = w.open_stepper()
    assert st.unroll("lstm")
    assert "[h, c]" in st.unroll_table.horizontalHeaderItem(3).text()
    assert st.unroll_table.rowCount() == st.unrolled.T


def test_play_walks_to_the_end_and_stops(make_window, qtbot):
    w = make_window(sample("cs231n"))
    stepper = w.open_stepper()
    stepper._play_timer.setInterval(10)
    qtbot.mouseClick(stepper.play_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not stepper.play_button.isChecked(), timeout=5000)
    assert stepper.position == len(stepper.steps)


def test_unrolled_graph_opens_with_its_own_stepper(make_window, qtbot):
    w = make_window(sample("rnn_digits"))
    stepper = w.open_stepper()
    assert stepper.unroll("rnn")
    assert len(stepper.unroll_plot.norms) == stepper.unrolled.T
    qtbot.mouseClick(stepper.unroll_open, Qt.LeftButton)
    child = stepper._unrolled_windows[-1]
    try:
        assert "rnn" not in child.graph.nodes  # one cell per time step instead
        assert len(child.graph) > len(w.graph)
        sub = child.stepper
        assert sub.explanation is not None and len(sub.steps) > len(stepper.steps)
        # same point and weights: the unrolled walk ends at the same gradients
        want = stepper.explanation.grads["fc_w"]
        np.testing.assert_allclose(sub.explanation.grads["fc_w"], want, rtol=1e-8)
    finally:
        child.undo_stack.setClean()
        child.close()


# ---- hardening ------------------------------------------------------------------------

def test_new_and_open_with_the_stepper_open(make_window, qtbot):
    # the overlays belonged to the old scene: File→New and Open deleted them
    # under the stepper ("Internal C++ object (_Overlay) already deleted")
    w = make_window(sample("cs231n"))
    st = w.open_stepper()
    st.go_end()
    w.actions["new"].trigger()
    assert st.stale or st.explanation is None
    assert w.scene.annotations.labels == {}
    assert w.open_path(sample("cs231n"))
    st.recompute_button.click()
    st.go(3)
    st.go_end()
    assert edge(w, "x", "q").grad_text == "-4"
    assert w.open_path(sample("mlp_xor"))
    st.go_end()  # stale: does nothing, raises nothing
    st.recompute_button.click()
    st.go_end()
    assert st.position == len(st.steps) > 0
    assert all(label.scene() is w.scene for label in w.scene.annotations.labels.values())


def test_an_unconnected_node_is_left_out(make_window):
    w = make_window(sample("cs231n"))
    w.editor.place_op("Add", (600, 600))
    (extra,) = [n for n in w.graph.nodes if n not in "xyzqf"]
    st = w.open_stepper()
    assert st.explanation is not None and len(st.steps) == 6
    assert st.left_out == [extra]
    assert extra in w.statusBar().currentMessage()
    assert extra in st.formula.text() and "left out" in st.formula.text()
    st.go_end()
    assert edge(w, "x", "q").grad_text == "-4"


def test_wire_labels_do_not_overlap_where_wires_fan_in(make_window):
    w = make_window(sample("lstm_digits"))
    st = w.open_stepper()
    st.go_end()
    rects = w.scene.annotations.rects()
    assert len(rects) > 6
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert not a.intersects(b), (a, b)


def test_stepper_overlays_follow_the_model_signal(make_window):
    # the stepper paints through the model: the scene draws model.annotations
    w = make_window(sample("cs231n"))
    st = w.open_stepper()
    st.go_end()
    view = w.model.annotations
    assert view is not None and view.node == st.steps[-1].node
    w.model.set_annotations(None)
    assert w.scene.annotations.labels == {}
    w.model.set_annotations(view)
    assert edge(w, "x", "q").grad_text == "-4"
