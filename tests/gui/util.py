"""Helpers that drive the editor as a person would: mouse, keys, drops."""

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication


def activate(window, qtbot):
    """Make the window active, so that its keyboard shortcuts fire."""
    window.activateWindow()
    window.view.setFocus()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)


def vp_point(window, scene_point):
    return window.view.mapFromScene(scene_point)


def show_scene_point(window, scene_point, scale=1.0):
    v = window.view
    v.set_scale(scale)
    v.centerOn(scene_point)
    QApplication.processEvents()


def port_point(window, node, side, port):
    return window.scene.node_items[node].port_pos(side, port)


def drag(window, a, b, button=Qt.LeftButton, modifiers=Qt.NoModifier, steps=4):
    """Press at viewport point ``a``, move in steps, release at ``b``."""
    vp = window.view.viewport()
    QTest.mousePress(vp, button, modifiers, a)
    for i in range(1, steps + 1):
        p = QPoint(a.x() + (b.x() - a.x()) * i // steps,
                   a.y() + (b.y() - a.y()) * i // steps)
        QTest.mouseMove(vp, p)
    QTest.mouseRelease(vp, button, modifiers, b)
    QApplication.processEvents()


def drag_wire(window, src, dst):
    """Drag a wire from output ``src=(node, port)`` to input ``dst=(node, port)``."""
    p1 = port_point(window, src[0], "out", src[1])
    p2 = port_point(window, dst[0], "in", dst[1])
    show_scene_point(window, (p1 + p2) / 2, scale=min(1.0, window.view.scale_factor))
    drag(window, vp_point(window, p1), vp_point(window, p2))


def drop_op(window, name, scene_point):
    """Drop a palette entry on the canvas (what a drag from the palette ends in)."""
    items = window.palette.items()
    md = window.palette.tree.mimeData([items[name]])
    vp = window.view.viewport()
    pos = QPointF(window.view.mapFromScene(scene_point))
    for cls in (QDragEnterEvent, QDragMoveEvent):
        ev = cls(pos.toPoint(), Qt.CopyAction, md, Qt.LeftButton, Qt.NoModifier)
        QApplication.sendEvent(vp, ev)
    ev = QDropEvent(pos, Qt.CopyAction, md, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(vp, ev)
    QApplication.processEvents()
    return ev.isAccepted()


def mime_text(text):
    md = QMimeData()
    md.setText(text)
    return md
