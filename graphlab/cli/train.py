"""``graphlab train``: the command line of :mod:`graphlab.train`."""

import os
import sys

from .. import io
from ..errors import TrainingError
from ..train import Trainer
from .common import load_checked, positive_int

__all__ = ["cmd_train", "add_train_command"]


def cmd_train(args, ctx):
    """``graphlab train FILE [--epochs N] [--batch-size B] [--lr X] [--save P.npz]``."""
    g = load_checked(args.file, ctx)
    for flag, target in (("--save", args.save), ("--checkpoint", args.checkpoint)):
        if target:
            _check_target(flag, target, args.file)
    if g.train is None:
        raise TrainingError("the graph has no \"train\" section (loss, data, "
                            "optimizer, batch_size, epochs): add one to train it")
    trainer = Trainer(g, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                      seed=args.seed, progress=not args.json, dtype=args.dtype,
                      checkpoint=args.checkpoint, resume=args.resume, fresh=args.fresh,
                      threads=args.threads)
    if trainer.resumed_from_params and not args.resume:
        ctx.warn(f"training continues from the parameters in {g.params_file} (the "
                 "file's \"params\"); --fresh starts from new ones")
    history = trainer.fit()
    f = history.final
    lines = []
    if history.stopped == "interrupted":
        print(f"stopped by Ctrl-C after {_plural(f['epochs'], 'epoch')}"
              + (f" and {_plural(f['batches'], 'batch')}" if f["batches"] else "")
              + ": keeping what was trained", file=sys.stderr)
    elif history.stopped == "early_stopping":
        lines.append(f"early stopping after {_plural(f['epochs'], 'epoch')}: the "
                     "held-out loss stopped improving")
    if args.save:
        io.save_params(g.params, args.save)
        if not args.no_link:
            rel = os.path.relpath(os.path.abspath(args.save),
                                  os.path.dirname(os.path.abspath(args.file)))
            g.params_file = rel.replace(os.sep, "/")
            io.save(g, args.file, params=False)
            lines.append(f"saved the trained parameters to {args.save}; {args.file} "
                         f"now loads them (\"params\": \"{g.params_file}\")")
        else:
            lines.append(f"saved the trained parameters to {args.save}")
    held = "the training set: no held-out split" if trainer.held_out_is_train \
        else "the held-out test set"
    summary = [f"{_plural(f['epochs'], 'epoch')} in {f['seconds']:.1f} s"]
    if f["train_loss"] is not None:
        summary.append(f"train loss {f['train_loss']:.4f}")
    summary.append(f"test loss {f['test_loss']:.4f}")
    if f["test_accuracy"] is not None:
        summary.append(f"test accuracy {100 * f['test_accuracy']:.2f}%")
    lines.insert(0, ", ".join(summary) + f" (on {held})")
    obj = {"epochs": f["epochs"], "train_loss": f["train_loss"],
           "test_loss": f["test_loss"], "test_accuracy": f["test_accuracy"],
           "seconds": round(f["seconds"], 3), "stopped": history.stopped,
           "history": [{k: e[k] for k in ("loss", "accuracy", "test_loss",
                                          "test_accuracy", "lr")}
                       for e in history.epochs]}
    ctx.emit(obj, "\n".join(lines))
    return 130 if history.stopped == "interrupted" else 0


def _check_target(flag, target, graph_file):
    """Refuse, before training, a ``--save``/``--checkpoint`` path that would
    overwrite a graph file or cannot be written."""
    where = os.path.dirname(os.path.abspath(target))
    if os.path.isdir(target):
        raise TrainingError(f"{flag} {target} is a directory: give a file name such as "
                            f"{os.path.join(target, 'params.npz')}")
    if os.path.exists(target) and (os.path.samefile(target, graph_file)
                                   or _is_graph_file(target)):
        raise TrainingError(f"{flag} {target} would overwrite a graph file: give a "
                            ".npz file name such as params.npz")
    if target.endswith(".graph.json"):
        raise TrainingError(f"{flag} {target} is named like a graph file: give a .npz "
                            "file name such as params.npz")
    if not os.path.isdir(where):
        raise TrainingError(f"{flag} {target}: the directory {where} does not exist; "
                            "create it first")


def _is_graph_file(path):
    """Whether ``path`` holds a graph file (JSON with ``"graphlab"`` and
    ``"nodes"``), whatever its name."""
    if path.endswith(".graph.json"):
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(4096).lstrip()
    except OSError:
        return False
    return head.startswith(b"{") and b'"graphlab"' in head and b'"nodes"' in head


def _plural(n, word):
    return f"{n} {word}" if n == 1 else f"{n} {word}{'es' if word == 'batch' else 's'}"


def add_train_command(command):
    """Add ``train`` through ``command(name, func, help, file=True)`` (see
    :mod:`graphlab.cli`)."""
    c = command("train", cmd_train, "train as the file's train section says, with a "
                "progress bar")
    c.add_argument("--epochs", type=positive_int, metavar="N",
                   help="epochs (default: the file's)")
    c.add_argument("--batch-size", type=positive_int, metavar="B",
                   help="mini-batch size (default: the file's)")
    c.add_argument("--lr", type=float, metavar="X",
                   help="learning rate (default: the file's)")
    c.add_argument("--seed", type=int, metavar="S",
                   help="seed of initialisation, shuffling and Dropout (default 0)")
    c.add_argument("--save", metavar="PARAMS.npz",
                   help="write the trained parameters there and make FILE load them")
    c.add_argument("--no-link", action="store_true",
                   help="with --save, leave FILE's \"params\" key as it is")
    c.add_argument("--checkpoint", metavar="CKPT.npz",
                   help="write a resumable checkpoint after every epoch")
    c.add_argument("--resume", metavar="CKPT.npz", help="continue from a checkpoint")
    c.add_argument("--fresh", action="store_true",
                   help="start from new parameters, not those FILE's \"params\" "
                   "names")
    c.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    c.add_argument("--threads", type=positive_int, metavar="T",
                   help="BLAS threads (default: BLAS's own; 1 on a busy machine)")
    return c
