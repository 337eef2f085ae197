"""``graphlab train FILE --plot OUT.png``: the training curves as a picture.

Loss and accuracy per epoch (train and held out) and, for a graph on 2-D data
(:mod:`graphlab.datasets2d`), the final decision surface with the training and
test points, as the editor's Playground view draws it. Needs matplotlib (``pip
install graphlab[plot]``), imported only when a picture is asked for; it draws
through the Agg canvas, never pyplot, so no window or backend state is touched.
"""

import os
import tempfile

import numpy as np

from .errors import GraphlabError, TrainingError

__all__ = ["require_matplotlib", "check_plot_path", "write_training_plot"]

_MISSING = ("--plot needs matplotlib, which is not installed: pip install "
            "graphlab[plot]")


def require_matplotlib():
    """Import matplotlib or raise a one-line :class:`GraphlabError` saying how to
    install it."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError:
        raise GraphlabError(_MISSING) from None


def check_plot_path(path):
    """Before training: matplotlib is there, ``path`` names an image format it
    writes (never a graph file or any other file of the user's), its folder exists."""
    require_matplotlib()
    from matplotlib.backend_bases import FigureCanvasBase
    suffix = os.path.splitext(path)[1].lower()[1:]
    if suffix not in FigureCanvasBase.get_supported_filetypes():
        raise GraphlabError(f"--plot {path}: name an image file ending in .png, .svg "
                            "or .pdf (or another format matplotlib writes)")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise GraphlabError(f"--plot {path}: the folder {folder} does not exist")


def _curves(ax_loss, ax_acc, history):
    epochs = np.arange(1, len(history.epochs) + 1)
    first = history.initial.get("test_loss")
    test_loss = ([first] if first is not None else []) + history["test_loss"]
    test_x = np.arange(len(test_loss)) if first is not None else epochs
    ax_loss.plot(epochs, history["loss"], color="#0877bd", label="train (epoch mean)")
    ax_loss.plot(test_x, test_loss, color="#f59322", label="held out")
    ax_loss.set_title("loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.legend(frameon=False)
    if any(a is not None for a in history["test_accuracy"]):
        ax_acc.plot(epochs, history["accuracy"], color="#0877bd", label="train")
        ax_acc.plot(epochs, history["test_accuracy"], color="#f59322",
                    label="held out")
        ax_acc.set_ylim(0, 1.02)
        ax_acc.legend(frameon=False, loc="lower right")
    else:
        ax_acc.text(0.5, 0.5, "no accuracy metric", ha="center", va="center",
                    transform=ax_acc.transAxes, color="#777777")
    ax_acc.set_title("accuracy")
    ax_acc.set_xlabel("epoch")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)


def draw_surface(ax, surf, parts=None):
    """The output over the plane (``surf``: a loaded :class:`~graphlab.surface.Surface`)
    with ``parts`` ``(train, test)`` of points, on a matplotlib axes."""
    from .surface import BLUE, ORANGE, colors
    from .datasets2d import EXTENT as e
    value = surf.compute()["output"]
    lo, hi = (0.0, 1.0) if surf.classifier or value.min() >= 0 else (-1.0, 1.0)
    ax.imshow(colors(value, lo, hi, strength=0.6), extent=(-e, e, -e, e),
              interpolation="bilinear", origin="upper")
    if parts is not None:
        palette = np.array([ORANGE, BLUE]) / 255.0
        for part, edge, label in ((parts[0], "white", "train"),
                                  (parts[1], "black", "test")):
            p = part["points"]
            ax.scatter(p[:, 0], p[:, 1], s=16, c=palette[part["labels"].clip(0, 1)],
                       edgecolors=edge, linewidths=0.7, label=label)
        ax.legend(loc="upper right", fontsize="small", framealpha=0.8)
    ax.set_xlim(-e, e)
    ax.set_ylim(-e, e)
    ax.set_aspect("equal")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")


def write_training_plot(graph, history, path):
    """Write the curves (and, for 2-D data, the decision surface) to ``path``.

    Parameters
    ----------
    graph : Graph
        The trained graph (its ``params`` hold the trained values).
    history : History
    path : str
        A ``.png`` (or any format matplotlib writes), replaced atomically.

    Raises
    ------
    GraphlabError
        matplotlib missing, or the file cannot be written.
    """
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .surface import Surface, playground_input
    surf = None
    if playground_input(graph) is not None:
        try:
            surf = Surface(graph, resolution=100)
        except TrainingError:
            surf = None
    fig = Figure(figsize=(15 if surf else 10, 4.6), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3 if surf else 2)
    _curves(axes[0], axes[1], history)
    if surf is not None:
        surf.load(graph.params)
        draw_surface(axes[2], surf, surf.dataset())
        acc = history.final.get("test_accuracy")
        axes[2].set_title("output over the plane" + (
            f" · held-out accuracy {100 * acc:.1f} %" if acc is not None else ""))
    fig.suptitle(graph.name or "training")
    fig.tight_layout()
    folder = os.path.dirname(os.path.abspath(path))
    suffix = os.path.splitext(path)[1] or ".png"
    try:
        fd, tmp = tempfile.mkstemp(prefix=".plot-", suffix=suffix, dir=folder)
        os.close(fd)
        try:
            fig.savefig(tmp, format=suffix[1:])
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    except (OSError, ValueError) as e:
        raise GraphlabError(f"cannot write the plot {path}: {e}") from None
