"""Canvas frame times for big graphs (the editor must stay smooth at 500 nodes).

Builds a random layered graph of N nodes (ReLU/Tanh/Add/Linear layers with their
Parameter nodes, every shape valid), lays it out, shows it in a 1600×1000
canvas offscreen, and renders frames the way the window does (the viewport's
paint event, into a pixmap) at several zoom levels, while panning, during a
continuous zoom and while dragging one node. Prints median and 95th-percentile
milliseconds per frame.

Most rows repaint the whole viewport each frame (the worst case). The "drag
frame" row times what one step of a drag costs in the window: the move (its
wires follow) and the event loop's repaint of the region that changed.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_canvas.py [--nodes 500 2000]

Not a test: numbers depend on the machine. Targets from the shared GUI notes:
500 nodes under 8 ms median / 10 ms p95 for pan and zoom frames (continuous
zoom at least under 16 ms median), drags under 2 ms; 2,000 nodes under 12 ms
median / 16.7 ms p95.
"""

import argparse
import os
import random
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def random_graph(n, seed=0):
    """About ``n`` nodes in layers; each layer's ops read from the layer before."""
    import graphlab as gl
    rng = random.Random(seed)
    g = gl.Graph(f"random {n}")
    width = max(3, int(n ** 0.5 / 1.6))
    prev = []
    for i in range(width):
        g.add_node(f"x{i}", "Input", {"shape": ["N", 16]})
        prev.append(f"x{i}")
    k = 0
    while len(g) < n:
        layer = []
        for _ in range(width):
            if len(g) >= n:
                break
            k += 1
            kind = rng.random()
            src = rng.choice(prev)
            if kind < 0.25 and len(g) + 3 <= n:
                w, b, op = f"w{k}", f"b{k}", f"fc{k}"
                g.add_node(w, "Parameter", {"shape": [16, 16]}, {"group": op})
                g.add_node(b, "Parameter", {"shape": [16]}, {"group": op})
                g.add_node(op, "Linear", {}, {"group": op})
                g.connect(src, f"{op}:x")
                g.connect(w, f"{op}:w")
                g.connect(b, f"{op}:b")
            elif kind < 0.5 and len(prev) > 1:
                op = f"add{k}"
                g.add_node(op, "Add")
                a, c = rng.sample(prev, 2)
                g.connect(a, f"{op}:a")
                g.connect(c, f"{op}:b")
            else:
                op = f"act{k}"
                g.add_node(op, rng.choice(["ReLU", "Tanh", "Sigmoid"]))
                g.connect(src, f"{op}:x")
            layer.append(op)
        prev = layer or prev
    return g


def stats(times):
    times = sorted(times)
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    return statistics.median(times) * 1000, p95 * 1000


def frame(view):
    """CPU time of one frame on this thread (wall time is reported too, but on a
    shared machine it measures the neighbours)."""
    w, t = time.perf_counter(), time.thread_time()
    view.viewport().grab()
    frame.wall.append(time.perf_counter() - w)
    return time.thread_time() - t


frame.wall = []


def moved_frame(app, step, i):
    """CPU time of one live frame: ``step(i)`` and the repaint it asks for,
    done by the event loop as in the window (only the region that changed)."""
    t = time.thread_time()
    step(i)
    app.processEvents()
    return time.thread_time() - t


def run(n, frames):
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QUndoStack
    from PySide6.QtWidgets import QApplication

    from gui.app import make_app
    from gui.editor import Editor
    from gui.layout import auto_layout
    from gui.model import GraphModel
    from gui.scene import GraphScene
    from gui.view import CanvasView

    app = make_app()
    t0 = time.perf_counter()
    g = random_graph(n)
    t1 = time.perf_counter()
    from gui.viewstate import ViewState
    # laid out as the editor shows it by default: top to bottom, weights inside
    for node, (x, y) in auto_layout(g, view=ViewState(g, True, True)).items():
        g.update_ui(node, pos=[x, y])
    t2 = time.perf_counter()
    model = GraphModel(g)
    stack = QUndoStack()
    editor = Editor(model, stack)
    scene = GraphScene(model, editor)
    view = CanvasView(scene)
    view.minimap.hide()
    view.resize(1600, 1000)
    view.show()
    app.processEvents()
    t3 = time.perf_counter()
    view.fit_view(max_scale=1.0)
    frame(view)
    t4 = time.perf_counter()
    print(f"\n{len(g)} nodes, {len(g.edges)} edges: graph {1000 * (t1 - t0):.0f} ms, "
          f"layout {1000 * (t2 - t1):.0f} ms, scene {1000 * (t3 - t2):.0f} ms, "
          f"first frame {1000 * (t4 - t3):.0f} ms")
    rows = []
    centre = scene.nodes_rect().center()

    def measure(name, setup, step=None, live=False):
        deadline = time.perf_counter() + 0.4  # let a zoom gesture end (caches back)
        while time.perf_counter() < deadline:
            app.processEvents()
            time.sleep(0.02)
        setup()
        frame(view)  # warm the caches
        times = []
        frame.wall = []
        for i in range(frames):
            if live:
                times.append(moved_frame(app, step, i))
                continue
            if step is not None:
                step(i)
            times.append(frame(view))
        med, p95 = stats(times)
        rows.append((name, med, p95,
                     stats(frame.wall)[0] if frame.wall else float("nan")))

    def at(scale):
        def setup():
            view.set_scale(scale)
            view.centerOn(centre)
        return setup

    measure("whole graph in view", lambda: view.fit_view(max_scale=1.0))
    for s in (1.0, 0.5, 0.25):
        measure(f"zoom {s}", at(s))

    def pan(i):
        bar = view.horizontalScrollBar()
        bar.setValue(bar.value() + (40 if (i // 20) % 2 == 0 else -40))

    measure("panning, zoom 1", at(1.0), pan)
    measure("panning, zoom 0.25", at(0.25), pan)

    def zoom(i):
        view.zoom_by(1.04 if (i // 15) % 2 == 0 else 1 / 1.04)

    measure("continuous zoom around 0.5", at(0.5), zoom)
    item = next(iter(scene.node_items.values()))

    def drag_setup():
        view.set_scale(1.0)
        view.centerOn(item)

    def drag(i):
        item.setPos(item.pos() + QPointF(3 if (i // 10) % 2 == 0 else -3, 2))

    measure("dragging one node, zoom 1", drag_setup, drag)
    measure("drag frame (move + repaint), zoom 1", drag_setup, drag, live=True)
    print(f"{'frame (CPU ms)':38s} {'median':>8s} {'p95':>8s} {'wall median':>12s}")
    for name, med, p95, wall in rows:
        wall = f"{wall:12.2f}" if wall == wall else f"{'':12s}"
        print(f"{name:38s} {med:8.2f} {p95:8.2f} {wall}")
    view.close()
    scene.clear()
    QApplication.processEvents()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, nargs="+", default=[500, 2000])
    ap.add_argument("--frames", type=int, default=60)
    args = ap.parse_args()
    for n in args.nodes:
        run(n, args.frames)


if __name__ == "__main__":
    main()
