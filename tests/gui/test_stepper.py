"""The chain-rule stepper: values and gradients on the wires, step by step."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QListWidget

from .conftest import sample


def edge(window, src, dst):
    for e, item in window.scene.edge_items.items():
        if e.src == src and e.dst == dst:
            return item
    raise AssertionError(f"no edge {src} → {dst}")


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
    assert all(it.grad_text == "" for it in w.scene.edge_items.values())

    qtbot.mouseClick(st.next_button, Qt.LeftButton)
    assert st.position == 1
    assert edge(w, "q", "f").value_text == "3"
    assert st.stub_text("f") == ""
    assert "q = x + y = 3" in st.formula.text()
    qtbot.mouseClick(st.next_button, Qt.LeftButton)  # forward steps done
    assert st.stub_text("f") == "-12"
    assert edge(w, "q", "f").value_text == "3"
    assert edge(w, "z", "f").value_text == "-4"
    assert all(it.grad_text == "" for it in w.scene.edge_items.values())

    qtbot.mouseClick(st.next_button, Qt.LeftButton)  # ∂f/∂q
    assert edge(w, "q", "f").grad_text == "-4"
    assert edge(w, "x", "q").grad_text == ""
    assert st._overlays[edge(w, "q", "f").edge].hot

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
    assert all(it.grad_text == "" for it in w.scene.edge_items.values())
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
    texts = [it.value_text for it in w.scene.edge_items.values()]
    assert all(texts) and all(len(t) < 30 for t in texts)
    assert any("×" in t and "‖" in t for t in texts)
    grads = [it.grad_text for it in w.scene.edge_items.values() if it.grad_text]
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
