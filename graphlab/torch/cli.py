"""``graphlab train --backend torch`` and ``graphlab export FILE -o OUT.py``.

Loaded only when one of them runs; they import PyTorch (with a one-line error
saying how to install it when it is missing).
"""

import argparse

from ..errors import GraphlabError, TrainingError
from . import require_torch

__all__ = ["cmd_train_torch", "child_argv", "cmd_export", "add_export_command"]


class _Quiet:
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


def cmd_train_torch(args, ctx):
    """``graphlab train FILE --backend torch [--device D] [--nproc N]``."""
    require_torch()
    from ..train_cli import (load_train_graph, report_train, trainer_options,
                             warn_resumed)
    from .train import TorchTrainer, check_device, distributed_env, launch
    env = distributed_env()
    if args.nproc is not None and args.nproc < 1:
        raise TrainingError("--nproc must be 1 or more")
    if env is not None and args.nproc and args.nproc != env[1]:
        raise TrainingError(f"--nproc {args.nproc}, but torchrun started "
                            f"{env[1]} processes: leave out --nproc under torchrun")
    if env is None and args.nproc and args.nproc > 1:
        check_device(args.device)
        load_train_graph(args, ctx)  # errors once, here, not in every process
        return launch(child_argv(args), args.nproc)
    rank = env[0] if env else 0
    quiet = ctx if rank == 0 else _Quiet(ctx)
    g = load_train_graph(args, quiet)
    options = trainer_options(args)
    options["progress"] = options["progress"] and rank == 0
    trainer = TorchTrainer(g, device=args.device, **options)
    if rank == 0:
        warn_resumed(args, ctx, g, trainer)
    try:
        history = trainer.fit()
    except RuntimeError as e:  # a peer failed or left: gloo and nccl say so here
        if trainer.world == 1:
            raise
        raise TrainingError("another training process failed or was stopped "
                            f"({str(e).splitlines()[0][:160]})") from None
    extra = {"backend": "torch", "world_size": trainer.world, "device": args.device}
    if rank != 0:
        return 130 if history.stopped == "interrupted" else 0
    return report_train(args, ctx, g, trainer, history, extra)


def cmd_export(args, ctx):
    """``graphlab export FILE -o OUT.py [--output ID]...``."""
    from ..cli import _load_checked, _Usage
    if not args.path.endswith(".py"):
        raise _Usage(f"-o {args.path}: graphlab export writes PyTorch source; name "
                     "the file OUT.py")
    g = _load_checked(args.file, ctx)
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


def add_export_command(command):
    """Add ``graphlab export`` through ``command`` (as :func:`graphlab.cli._parser`
    defines it)."""
    c = command("export", cmd_export, "write the graph as standalone PyTorch source "
                "(OUT.py, with its weights in OUT.npz)")
    c.add_argument("-o", dest="path", required=True, metavar="OUT.py",
                   help="the Python file to write")
    c.add_argument("--output", dest="outputs", action="append", metavar="ID",
                   help="a node the module returns (default: the graph's outputs)")
    return c
