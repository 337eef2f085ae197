"""``graphlab train``: the command line of :mod:`graphlab.train`."""

import contextlib
import os
import sys

from ..errors import TrainingError
from ..io import check_target
from ..train import Trainer
from .common import Usage, load_checked, positive_int

__all__ = ["cmd_train", "add_train_command"]


def cmd_train(args, ctx):
    """``graphlab train FILE [--epochs N] [--batch-size B] [--lr X] [--save P.npz]``."""
    if args.backend == "torch":
        return _cmd_train_torch(args, ctx)
    if args.nproc or args.device != "cpu":
        raise Usage("--device and --nproc need --backend torch")
    g = load_train_graph(args, ctx)
    with this_run(args, g):
        trainer = Trainer(g, **trainer_options(args))
        warn_resumed(args, ctx, g, trainer)
        history = trainer.fit()
    return report_train(args, ctx, g, trainer, history)


@contextlib.contextmanager
def this_run(args, g):
    """The train section as this run reads it: ``--no-clip`` drops its
    ``clip_norm`` for this run only; the file (and ``--save``'s rewrite of it)
    keeps its own."""
    section = g.train
    if args.no_clip:
        g.train = {k: v for k, v in section.items() if k != "clip_norm"}
    try:
        yield
    finally:
        g.train = section


def load_train_graph(args, ctx):
    """The checked graph of ``args.file``; it must have a train section."""
    g = load_checked(args.file, ctx)
    for flag, target in (("--save", args.save), ("--checkpoint", args.checkpoint)):
        if target:
            check_target(flag, target, args.file)
    if g.train is None:
        raise TrainingError("the graph has no \"train\" section (loss, data, "
                            "optimizer, batch_size, epochs): add one to train it")
    if args.plot:  # refused before training, not after
        from ..plot import check_plot_path
        check_plot_path(args.plot)
    return g


def trainer_options(args):
    """The Trainer's keyword arguments from the command line."""
    return dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                seed=args.seed, progress=not args.json, dtype=args.dtype,
                checkpoint=args.checkpoint, resume=args.resume, fresh=args.fresh,
                threads=args.threads)


def warn_resumed(args, ctx, g, trainer):
    if trainer.resumed_from_params and not args.resume:
        ctx.warn(f"training continues from the parameters in {g.params_file} (the "
                 "file's \"params\"); --fresh starts from new ones")


def report_train(args, ctx, g, trainer, history, extra=None):
    """Print and save what a finished run made (``extra``: more JSON fields);
    returns the exit status."""
    from .. import io
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
        if not args.no_link and not args.file.lower().endswith(".onnx"):
            rel = os.path.relpath(os.path.abspath(args.save),
                                  os.path.dirname(os.path.abspath(args.file)))
            g.params_file = rel.replace(os.sep, "/")
            io.save(g, args.file, params=False)
            lines.append(f"saved the trained parameters to {args.save}; {args.file} "
                         f"now loads them (\"params\": \"{g.params_file}\")")
        else:
            lines.append(f"saved the trained parameters to {args.save}")
    if args.plot:
        from ..plot import write_training_plot
        write_training_plot(g, history, args.plot)
        lines.append(f"wrote the curves to {args.plot}")
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
    obj.update(extra or {})
    spec = g.train.get("data") or {}
    if str(spec.get("dataset")).startswith("text:") and not trainer.held_out_is_train:
        # The baseline a language model must beat, on the same held-out text.
        from ..data import bigram_loss, text_split
        train, test, vocab = text_split(spec, os.path.dirname(os.path.abspath(
            args.file)))
        obj["bigram_loss"] = bigram = bigram_loss(train, test, len(vocab))
        lines.append(f"a character bigram model scores {bigram:.4f} on the same "
                     f"held-out text: this model {f['test_loss'] / bigram:.2f}× that")
    ctx.emit(obj, "\n".join(lines))
    return 130 if history.stopped == "interrupted" else 0


def _cmd_train_torch(args, ctx):
    """``graphlab train FILE --backend torch [--device D] [--nproc N]``."""
    from ..torch import require_torch
    require_torch()
    from ..torch.cli import Quiet, child_argv
    from ..torch.train import (TorchTrainer, check_device, distributed_env, launch,
                               leave_distributed)
    env = distributed_env()
    if env is not None and args.nproc and args.nproc != env[1]:
        raise TrainingError(f"--nproc {args.nproc}, but torchrun started "
                            f"{env[1]} processes: leave out --nproc under torchrun")
    if env is None and args.nproc and args.nproc > 1:
        check_device(args.device)
        load_train_graph(args, ctx)  # errors once, here, not in every process
        return launch(child_argv(args), args.nproc)
    rank = env[0] if env else 0
    quiet = ctx if rank == 0 else Quiet(ctx)
    g = load_train_graph(args, quiet)
    options = trainer_options(args)
    options["progress"] = options["progress"] and rank == 0
    with this_run(args, g):
        trainer = TorchTrainer(g, device=args.device, **options)
        if rank == 0:
            warn_resumed(args, ctx, g, trainer)
        try:
            history = trainer.fit()
        except RuntimeError as e:  # a peer failed or left: gloo and nccl say so
            if trainer.world == 1:
                raise
            raise TrainingError("another training process failed or was stopped "
                                f"({str(e).splitlines()[0][:160]})") from None
        finally:
            leave_distributed()
    extra = {"backend": "torch", "world_size": trainer.world, "device": args.device}
    if rank != 0:
        return 130 if history.stopped == "interrupted" else 0
    return report_train(args, ctx, g, trainer, history, extra)


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
    c.add_argument("--no-clip", action="store_true",
                   help="train without the file's clip_norm (to see gradients "
                   "explode)")
    c.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    c.add_argument("--threads", type=positive_int, metavar="T",
                   help="BLAS threads (default: BLAS's own; 1 on a busy machine)")
    c.add_argument("--backend", default="numpy", choices=("numpy", "torch"),
                   help="numpy: the generated code (default); torch: PyTorch's "
                   "engine (pip install graphlab[torch])")
    c.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                   help="with --backend torch: where the steps run")
    c.add_argument("--nproc", type=positive_int, metavar="N",
                   help="with --backend torch: N processes on this machine, each "
                   "taking its share of every batch (DistributedDataParallel)")
    c.set_defaults(train_parser=c)
    c.add_argument("--plot", metavar="OUT.png", help="write the loss and accuracy "
                   "curves there (for 2-D data, with the decision surface); needs "
                   "matplotlib")
    return c
