"""Files: open every sample, save and reopen identical, unknown ops, autosave, close."""

import glob
import json
import os
import shutil

import pytest

import graphlab as gl

from .conftest import SAMPLES, sample

SAMPLE_FILES = sorted(glob.glob(os.path.join(SAMPLES, "*.graph.json")))


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=os.path.basename)
def test_open_every_sample(make_window, path):
    w = make_window(path)
    g = w.graph
    assert len(g) == len(gl.load(path))
    assert set(w.scene.node_items) == set(g.nodes)
    assert len(w.scene.edge_items) == len(g.edges)
    assert not w.model.report.errors
    assert not w.isWindowModified()
    from gui.layout import overlapping
    assert overlapping(g, margin=4, view=w.scene.view_state) == []
    for n, item in w.scene.node_items.items():
        assert item.shapes and item.shapes[0][1] is not None, n


def test_save_and_reopen_identical(make_window, tmp_path):
    w = make_window(sample("lenet5"))
    w.editor.add_note((0, -300), "LeNet-5: two convolutions, three dense layers")
    w.editor.set_group_collapsed("fc2", True)
    w.editor.set_attr("pool2", "kernel", 2, merge=False)  # no-op edit is ignored
    path = str(tmp_path / "lenet.graph.json")
    assert w.save_to(path)
    assert not w.isWindowModified()
    text = open(path, encoding="utf-8").read()
    w2 = make_window(path)
    assert gl.dumps(w2.graph) == text
    assert w2.graph.extra["notes"][0]["text"].startswith("LeNet-5")
    assert not w2.scene.node_items["fc2_w"].isVisible()
    w2.save_to(path)
    assert open(path, encoding="utf-8").read() == text


def test_saving_an_unchanged_file_reproduces_it(make_window, tmp_path):
    # a file laid out left to right opens laid out for the view (top to
    # bottom, the default): only positions change; once saved, it reproduces
    src = sample("vanishing_sigmoid")
    dst = tmp_path / "v.graph.json"
    shutil.copy(src, dst)
    w = make_window(str(dst))
    assert "laid out (top to bottom)" in w.statusBar().currentMessage()
    w.save()

    def structure(path):
        d = json.load(open(path, encoding="utf-8"))
        for n in d["nodes"]:
            n.get("ui", {}).pop("pos", None)
        return d

    assert structure(dst) == structure(src)
    text = open(dst, encoding="utf-8").read()
    w2 = make_window(str(dst))
    assert "laid out" not in w2.statusBar().currentMessage()
    w2.save()
    assert open(dst, encoding="utf-8").read() == text


def test_unknown_op_opens_as_a_placeholder_and_is_saved_unchanged(make_window,
                                                                  tmp_path):
    data = {"graphlab": 1, "name": "from the future", "nodes": [
        {"id": "x", "op": "Input", "attrs": {"shape": ["N", 4]}, "ui": {"pos": [0, 0]}},
        {"id": "mystery", "op": "QuantumDense", "attrs": {"qubits": 7, "mode": "x"},
         "ui": {"pos": [300, 0], "color": "#ff00ff"}},
        {"id": "r", "op": "ReLU", "ui": {"pos": [600, 0]}}],
        "edges": [["x", "mystery:inp"], ["mystery:res", "r:x"]], "outputs": ["r"]}
    path = tmp_path / "future.graph.json"
    path.write_text(json.dumps(data))
    w = make_window(str(path))
    g = w.graph
    assert g.node("mystery").placeholder
    item = w.scene.node_items["mystery"]
    assert item.placeholder and item.error is not None
    assert "QuantumDense" in item.toolTip()
    assert "placeholder" in w.statusBar().currentMessage()
    w.scene.select_nodes(["mystery"])
    from PySide6.QtWidgets import QLabel
    box = w.inspector.findChild(QLabel, "errorBox")
    assert box.isVisible() and "unknown op" in box.text()
    out = tmp_path / "again.graph.json"
    w.save_to(str(out))
    again = json.loads(out.read_text())
    node = next(n for n in again["nodes"] if n["id"] == "mystery")
    assert node["attrs"] == {"qubits": 7, "mode": "x"}
    assert node["ui"]["color"] == "#ff00ff"
    assert again["edges"] == data["edges"]


def test_title_marks_unsaved_changes(make_window, tmp_path):
    path = tmp_path / "c.graph.json"
    shutil.copy(sample("cs231n"), path)
    w = make_window(str(path))
    assert not w.isWindowModified() and "c.graph.json" in w.windowTitle()
    w.editor.place("ReLU", (0, 300))
    assert w.isWindowModified()
    w.undo_stack.undo()
    assert not w.isWindowModified()
    w.undo_stack.redo()
    w.actions["save"].trigger()
    assert not w.isWindowModified()
    assert len(gl.load(str(path))) == 6


def test_close_with_unsaved_changes_asks(make_window, tmp_path):
    path = tmp_path / "c.graph.json"
    shutil.copy(sample("cs231n"), path)
    w = make_window(str(path))
    w.editor.place("ReLU", (0, 300))
    answers = []
    w.ask_save_changes = lambda: answers.append("asked") or "cancel"
    assert not w.close()
    assert w.isVisible() and answers == ["asked"]
    w.ask_save_changes = lambda: "save"
    assert w.close()
    assert len(gl.load(str(path))) == 6


def test_new_and_open_ask_about_unsaved_changes(make_window, tmp_path):
    w = make_window()
    w.editor.place("ReLU", (0, 0))
    w.ask_save_changes = lambda: "cancel"
    w.actions["new"].trigger()
    assert len(w.graph) == 1
    w.ask_save_changes = lambda: "discard"
    w.actions["new"].trigger()
    assert len(w.graph) == 0 and w.undo_stack.count() == 0
    w.ask_open_path = lambda: sample("mlp_xor")
    w.actions["open"].trigger()
    assert w.path.endswith("mlp_xor.graph.json")
    assert os.path.abspath(sample("mlp_xor")) in w.recent_files()
    assert w.recent_menu.actions()


def test_save_as_untitled_asks_for_a_path(make_window, tmp_path):
    w = make_window()
    w.editor.place("Dense", (0, 0))
    target = str(tmp_path / "new.graph.json")
    w.ask_save_path = lambda: target
    w.actions["save"].trigger()
    assert w.path == target and os.path.exists(target)
    assert "new.graph.json" in w.windowTitle()


def test_autosave_writes_aside_and_recovers_after_a_crash(make_window, tmp_path):
    path = tmp_path / "c.graph.json"
    shutil.copy(sample("cs231n"), path)
    w = make_window(str(path))
    assert w.autosave.tick() is None  # nothing to save while clean
    w.editor.place("Sigmoid", (0, 300))
    auto = w.autosave.tick()
    assert auto == str(path) + ".autosave.json"
    assert len(gl.load(auto)) == 6
    assert len(gl.load(str(path))) == 5  # the file itself is untouched
    # the program "crashes": the autosave stays; opening the file offers it
    asked = []
    from gui.window import MainWindow
    MainWindow.ask_recover = lambda self, a, o: asked.append((a, o)) or True
    w2 = make_window(str(path), recover="ask")
    assert asked == [(auto, str(path))]
    assert len(w2.graph) == 6 and w2.isWindowModified() and w2.path == str(path)
    w2.save()
    assert not os.path.exists(auto) and len(gl.load(str(path))) == 6


def test_declining_recovery_deletes_the_autosave(make_window, tmp_path):
    path = tmp_path / "c.graph.json"
    shutil.copy(sample("cs231n"), path)
    w = make_window(str(path))
    w.editor.place("Sigmoid", (0, 300))
    auto = w.autosave.tick()
    w2 = make_window(str(path), recover=False)
    assert len(w2.graph) == 5 and not os.path.exists(auto)


def test_untitled_work_is_recovered_from_a_dead_editor(make_window, gui_home):
    w = make_window()
    w.editor.place("Tanh", (0, 0))
    auto = w.autosave.tick()
    assert auto.startswith(str(gui_home))
    dead = os.path.join(os.path.dirname(auto), "untitled-999999999.graph.json")
    os.replace(auto, dead)
    w2 = make_window(recover=True)
    assert [w2.graph.node(n).op for n in w2.graph.nodes] == ["Tanh"]
    assert w2.isWindowModified() and w2.path is None
    assert not os.path.exists(dead)


def test_an_exception_in_a_handler_leaves_the_graph_unchanged(make_window,
                                                              monkeypatch):
    w = make_window(sample("cs231n"))
    before = gl.dumps(w.graph)
    count = w.undo_stack.count()
    from gui import commands

    def broken(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(commands.SetOutputs, "_redo", broken)
    failures = []
    w.editor.failed.connect(lambda t, m: failures.append(m))
    w.editor.toggle_output("q")
    assert failures and "boom" in failures[0]
    # a compound edit whose second part fails: the first part is undone
    macro = commands.Macro(w.model, "two", [commands.AddNode(w.model, "r", "ReLU"),
                                            commands.SetOutputs(w.model, ["r"])])
    assert w.editor.push(macro) is None
    assert gl.dumps(w.graph) == before
    assert w.undo_stack.count() == count
    assert "boom" in w.statusBar().currentMessage()


def test_an_exception_in_a_slot_is_shown_not_raised(make_window, monkeypatch):
    w = make_window(sample("cs231n"))
    before = gl.dumps(w.graph)

    def broken(*a, **k):
        raise ValueError("the delete handler broke")

    monkeypatch.setattr(w.editor, "delete", broken)
    w.scene.select_nodes(["q"])
    w.actions["delete"].trigger()
    assert "the delete handler broke" in w.statusBar().currentMessage()
    assert gl.dumps(w.graph) == before
