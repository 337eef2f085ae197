"""``graphlab-gui [FILE] [--screenshot OUT.png]``: the desktop editor.

With ``--screenshot`` the window is rendered offscreen (no display needed) at
``--size W×H`` (default 1600×1000), with the view fitted to the graph, written
as a PNG and the program exits.
"""

import argparse
import logging
import os
import sys

__all__ = ["main", "make_app"]


def _qt_messages(mode, context, message):
    # the offscreen platform (screenshots, CI) says what it cannot do: noise
    if message.startswith("This plugin does not support"):
        return
    sys.stderr.write(message + "\n")


def make_app(argv=None):
    """The QApplication, created once, with the editor's look."""
    from PySide6.QtCore import qInstallMessageHandler
    from PySide6.QtWidgets import QApplication
    app = QApplication.instance()
    if app is None:
        qInstallMessageHandler(_qt_messages)
        app = QApplication(list(argv or sys.argv[:1]))
        app.setApplicationName("graphlab")
        app.setOrganizationName("graphlab")
        apply_theme(app)
    return app


def apply_theme(app):
    """Fusion with a dark palette, matching the canvas."""
    from PySide6.QtGui import QColor, QPalette
    app.setStyle("Fusion")
    p = QPalette()
    base, window, text = QColor("#22252a"), QColor("#2a2d33"), QColor("#e6e8eb")
    for role, c in ((QPalette.Window, window), (QPalette.WindowText, text),
                    (QPalette.Base, base), (QPalette.AlternateBase, window),
                    (QPalette.ToolTipBase, QColor("#2f333a")),
                    (QPalette.ToolTipText, text), (QPalette.Text, text),
                    (QPalette.Button, window), (QPalette.ButtonText, text),
                    (QPalette.BrightText, QColor("#ff6b6b")),
                    (QPalette.Highlight, QColor("#2f6fb3")),
                    (QPalette.HighlightedText, QColor("#ffffff")),
                    (QPalette.PlaceholderText, QColor("#7d8590")),
                    (QPalette.Link, QColor("#6cb6ff"))):
        p.setColor(role, c)
    p.setColor(QPalette.Disabled, QPalette.Text, QColor("#6d7480"))
    p.setColor(QPalette.Disabled, QPalette.ButtonText, QColor("#6d7480"))
    p.setColor(QPalette.Disabled, QPalette.WindowText, QColor("#6d7480"))
    app.setPalette(p)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="graphlab-gui", description="graphlab's desktop editor: build, wire, "
        "inspect and save neural-network graphs.")
    parser.add_argument("file", nargs="?", metavar="FILE", help="a *.graph.json file")
    parser.add_argument("--screenshot", metavar="OUT.png",
                        help="render the window offscreen to OUT.png and exit")
    parser.add_argument("--size", metavar="W×H", default="1600x1000",
                        help="window size of the screenshot (default 1600x1000)")
    parser.add_argument("--step", metavar="K|end",
                        help="open the chain-rule stepper and move K steps "
                        "(forward, then backward; 'end': all of them)")
    parser.add_argument("--playground", action="store_true",
                        help="with --screenshot: render the Playground view instead")
    parser.add_argument("--train-epochs", type=int, metavar="K",
                        help="with --playground: train K epochs first")
    args = parser.parse_args(argv)
    if args.step is not None and args.step != "end":
        try:
            if int(args.step) < 0:
                raise ValueError
        except ValueError:
            parser.error("--step takes a number of steps (0 or more) or 'end'")
    if args.train_epochs is not None and args.train_epochs < 1:
        parser.error("--train-epochs takes a number of epochs (1 or more)")

    size = _size(args.size)
    if size is None:
        parser.error(f"--size takes WIDTHxHEIGHT in pixels (e.g. 1600x1000), "
                     f"not {args.size!r}")
    if args.screenshot:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    app = make_app([sys.argv[0]])
    from . import guard
    from .window import MainWindow

    if args.file is not None and not os.path.exists(args.file):
        print(f"error: {args.file}: no such file", file=sys.stderr)
        return 1
    if args.screenshot:
        window = MainWindow(recover=False)
        if args.file is not None and not window.open_path(args.file, ask=False):
            print(f"error: {args.file}: "
                  f"{window.statusBar().currentMessage()}", file=sys.stderr)
            return 1
        if args.step is not None:
            stepper = window.open_stepper()
            if stepper is None or stepper.explanation is None:
                print(f"error: {window.statusBar().currentMessage()}", file=sys.stderr)
                return 1
            stepper.go_end() if args.step == "end" else stepper.go(int(args.step))
        try:
            if args.playground:
                from .playground import screenshot_playground
                message = screenshot_playground(window, args.screenshot,
                                                args.train_epochs)
                if message:
                    print(f"error: {args.file}: {message}", file=sys.stderr)
                    return 1
            else:
                window.screenshot(args.screenshot, size=size)
        except OSError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        window.undo_stack.setClean()
        window.autosave.discard()
        window.close()
        return 0

    window = MainWindow(args.file)
    guard.install(window)
    if args.playground and window.actions["playground"].isEnabled():
        from .playground import open_playground
        panel = open_playground(window)
        if args.train_epochs:
            panel.start(args.train_epochs)
    if args.step is not None:
        stepper = window.open_stepper()
        if stepper is not None and stepper.explanation is not None:
            stepper.go_end() if args.step == "end" else stepper.go(int(args.step))
    # copied nodes must not outlive Qt in the clipboard (segfault at exit)
    app.aboutToQuit.connect(app.clipboard().clear)
    window.show()
    try:
        return app.exec()
    finally:
        guard.uninstall()


def _size(text):
    """``"1600x1000"`` (or ``×``) → ``(1600, 1000)``; ``None`` if it is not one."""
    parts = str(text).lower().replace("×", "x").split("x")
    try:
        w, h = (int(p) for p in parts)
    except ValueError:
        return None
    if not (200 <= w <= 8000 and 200 <= h <= 8000):
        return None
    return w, h


if __name__ == "__main__":
    sys.exit(main())
