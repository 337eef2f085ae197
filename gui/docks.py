"""The editor's docks: each panel opens in one dock, created on first use."""

from PySide6.QtWidgets import QDockWidget

__all__ = ["show_dock"]


def show_dock(window, name, title, make_panel, area, setup=None):
    """Show the dock ``window.<name>_dock`` holding the panel ``window.<name>``.

    The first call creates both: ``make_panel(window)`` in a dock titled
    ``title`` whose objectName is ``name`` in camel case plus ``Dock``
    (``inspect_model`` → ``inspectModelDock``), placed in ``area``, then
    ``setup(dock)``. Returns ``(panel, created)``.
    """
    dock = getattr(window, f"{name}_dock", None)
    created = dock is None
    if created:
        head, *rest = name.split("_")
        dock = QDockWidget(title, window)
        dock.setObjectName(head + "".join(w.title() for w in rest) + "Dock")
        dock.setWidget(make_panel(window))
        window.addDockWidget(area, dock)
        setattr(window, f"{name}_dock", dock)
        setattr(window, name, dock.widget())
        if setup is not None:
            setup(dock)
    dock.show()
    dock.raise_()
    return getattr(window, name), created
