"""Frame times of the Playground view while a 3-layer net trains.

Opens ``samples/playground_spiral.graph.json`` (three tanh layers of 16) in
the editor offscreen, shows the Playground with the units of a hidden layer
(16 small heatmaps), and trains it for a few seconds with the view drawing at
10 frames a second, as the issue asks (``--fps`` to change). Prints, median and
95th percentile in milliseconds:

- worker: one frame on the training thread (copy the trained values, run the
  100×100 grid through the compiled program in one batch, colour it and lay
  the unit tiles out);
- GUI: one frame on the GUI thread (turn the bytes into images, repaint the
  surface with its 500 points and the unit tiles);
- GUI, idle: the same with no training running (the drawing's own cost;
  during training the GUI thread also waits for the GIL that the training
  thread holds, up to the interpreter's 5 ms switch interval a time);
- event-loop gap: the longest the GUI thread was busy between two 5 ms timer
  ticks during training (what a user would feel as a stall), and the same
  for 3 s with nothing running (what the machine's load alone costs).

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_playground.py [--fps 10]

Not a test: numbers depend on the machine and its load.
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _stats(xs):
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
    return f"median {statistics.median(xs):6.2f} ms   p95 {p95:6.2f} ms   ({len(xs)})"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--epochs", type=int, default=400)
    ap.add_argument("--node", default="h2")
    ap.add_argument("--switch-interval", type=float, metavar="S",
                    help="sys.setswitchinterval for the run (Python's default 0.005)")
    args = ap.parse_args(argv)
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)

    from PySide6.QtCore import Qt, QTimer

    from gui.app import make_app
    from gui.playground import PlaygroundPanel, open_playground
    from gui.window import MainWindow

    app = make_app()
    window = MainWindow(os.path.join(ROOT, "samples", "playground_spiral.graph.json"),
                        recover=False)
    window.resize(1600, 1000)
    window.show()
    PlaygroundPanel.fps = args.fps
    panel = open_playground(window)
    window.resizeDocks([window.playground_dock], [620], Qt.Vertical)
    panel.show_node(args.node)
    app.processEvents()

    worker, gui = [], []
    shown = panel._on_frame

    def timed(frame):
        t = time.perf_counter()
        shown(frame)
        panel.view.repaint()
        panel.units.repaint()
        gui.append(1000 * (time.perf_counter() - t))
        worker.append(1000 * frame["seconds"])

    panel.bridge.frame.disconnect(panel._on_frame)
    panel.bridge.frame.connect(timed)

    # the same frames with no training running: the drawing's own cost
    from gui.playground_views import frame_of
    idle_frame = frame_of(panel.surface, panel.surface.program.state_dict(),
                          cols=panel.units.cols)
    idle_frame["seconds"] = 0.0
    for _ in range(30):
        timed(idle_frame)
    idle = gui[:]
    del gui[:], worker[:]

    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(1000 * (now - last[0]))
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(5)
    # the same timer with nothing running: what the machine's load alone costs
    t_idle = time.perf_counter() + 3.0
    while time.perf_counter() < t_idle:
        app.processEvents()
        time.sleep(0.001)
    idle_gaps, gaps[:] = gaps[1:], []
    last[0] = time.perf_counter()
    t0 = time.perf_counter()
    panel.start(args.epochs)
    panel.wait()
    seconds = time.perf_counter() - t0
    timer.stop()
    n = len(gui)
    print(f"Playground, {panel.window_.graph.name}: units of '{args.node}' "
          f"(16 tiles), grid 100×100, {args.fps:g} frames/s asked")
    print(f"trained {panel.last_result['epochs']} epochs in {seconds:.1f} s, "
          f"{n} frames drawn ({n / seconds:.1f} a second), test accuracy "
          f"{100 * panel.last_result['test_accuracy']:.1f} %")
    print(f"worker frame:    {_stats(worker)}")
    print(f"GUI frame:       {_stats(gui)}")
    print(f"GUI frame, idle: {_stats(idle)}  (no training thread competing)")
    for label, g in (("training", gaps), ("idle", idle_gaps)):
        print(f"event-loop gap, {label}: longest {max(g):.1f} ms, p99 "
              f"{sorted(g)[int(0.99 * (len(g) - 1))]:.1f} ms, median "
              f"{statistics.median(g):.1f} ms (timer every 5 ms)")
    window.undo_stack.setClean()
    window.autosave.discard()
    window.close()


if __name__ == "__main__":
    main()
