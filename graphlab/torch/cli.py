"""``graphlab export FILE -o OUT.py`` (the export command of
:mod:`graphlab.cli.interop` hands ``.py`` here), and what ``graphlab train
--backend torch`` needs beside :mod:`graphlab.cli.train`.

The commands import PyTorch only when they run (with a one-line error saying
how to install it when it is missing). This module imports nothing of the
command line's, so that it stays out of the cli's import cycle.
"""

import argparse
import os
import sys

from ..errors import GraphlabError
from . import require_torch

__all__ = ["child_argv", "cmd_export"]


class Quiet:
    """The context of ranks other than 0: they neither warn nor print."""

    def __init__(self, ctx):
        self.args, self.file, self.warnings = ctx.args, ctx.file, []

    def warn(self, message, node=None):
        pass

    def emit(self, obj, text):
        pass


def child_argv(args):
    """The ``graphlab train`` arguments that ``args`` came from, without --nproc."""
    parser = args.train_parser
    argv = ["train"]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.dest in (
                "nproc", "train_parser", "func"):
            continue
        value = getattr(args, action.dest, None)
        if not action.option_strings:
            argv.append(value)
        elif isinstance(action, argparse._StoreTrueAction):
            if value:
                argv.append(action.option_strings[0])
        elif value is not None and value != action.default:
            argv += [action.option_strings[0], str(value)]
    return argv


def _is_export(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return ": PyTorch source exported by graphlab" in f.read(4096)
    except OSError:
        return False


def _refuse_overwrite(path):
    """Only an earlier export (OUT.py and its OUT.npz) may be replaced: a user's
    own script or data set of the same name is never overwritten."""
    weights = os.path.splitext(path)[0] + ".npz"
    if os.path.lexists(path) and not _is_export(path):
        raise GraphlabError("already exists and is not a graphlab export: pick "
                            "another -o or delete it first", file=path)
    if os.path.lexists(weights) and not _is_export(path):
        raise GraphlabError("already exists and is not the weights of an earlier "
                            "export: pick another -o or delete it first", file=weights)


def cmd_export(args, ctx):
    """``graphlab export FILE -o OUT.py [--output ID]...``."""
    from .. import io
    if not args.path.endswith(".py"):
        print(f"graphlab export: error: -o {args.path}: graphlab export writes "
              "PyTorch source; name the file OUT.py", file=sys.stderr)
        return 2
    _refuse_overwrite(args.path)
    g = io.load(args.file)
    for node, message in g.check():
        ctx.warn(message, node)
    require_torch()
    from .export import write_export
    try:
        weights = write_export(g, args.path, outputs=args.outputs or None,
                               origin=args.file)
    except OSError as e:
        raise GraphlabError(f"cannot write {args.path}: {e.strerror or e}") from None
    ctx.emit({"output": args.path, "format": "py", "weights": weights},
             f"wrote {args.path} (PyTorch source, one nn.Module) and its weights "
             f"{weights}; run it: python {args.path}")
    return 0
