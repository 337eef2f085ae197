"""Training on PyTorch's engine: one process, or many with DistributedDataParallel.

Assumes a checked graph with a ``train`` section. :class:`TorchTrainer` is the
NumPy :class:`graphlab.train.Trainer` with another step: the section's parsing,
datasets, schedules, clipping, early stopping, metrics, checkpoints (the same
``.npz``) and history are the trainer's own. What differs:

- The forward and backward pass run in the module :func:`graphlab.to_torch`
  builds (wrapped in ``DistributedDataParallel`` when there are several
  processes), on ``device``. Held-out evaluation runs there too.
- The parameters stay the flat NumPy buffer of graphlab's optimizer, which
  updates them (SGD, momentum, Adam, AdamW, clipping, schedules: the same
  code, so a checkpoint of either backend resumes on the other). On the CPU
  the module's parameters *are* that buffer (``torch.from_numpy`` shares the
  memory); on a GPU they are copied there before each step.
- With a world of W processes every rank draws the same shuffled batches (the
  epoch's seed is the trainer's) and takes its share of each, interleaved as
  ``DistributedSampler`` deals (rank r takes examples r, r + W, …). Its loss
  is scaled by ``W·n_r/n`` before the backward pass, so that the gradient
  ``DistributedDataParallel`` averages is exactly the gradient of the whole
  batch's mean loss, also when the batch does not divide evenly. Loss,
  correct predictions and stop requests are summed over the ranks after each
  step, so that every rank logs the same numbers and stops after the same
  batch. BatchNorm normalises each rank's share with its own statistics (as
  DDP does without SyncBatchNorm); the running statistics of rank 0 are
  broadcast before every evaluation.
- Only rank 0 writes checkpoints; callers print and save on rank 0 only.

Processes join a group from the ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and
``MASTER_PORT`` variables, as ``torchrun`` sets them; :func:`launch` starts N
local processes the same way.
"""

import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

from ..errors import ExecutionError, TrainingError
from ..train import Trainer
from .module import to_torch

__all__ = ["TorchTrainer", "TorchProgram", "distributed_env", "init_distributed",
           "leave_distributed", "launch", "train_torch"]


torch = dist = None  # PyTorch and torch.distributed, bound by _load_torch()


def _load_torch():
    """Import PyTorch on first use (importing graphlab never does)."""
    global torch, dist
    if torch is None:
        import torch as _torch
        import torch.distributed as _dist
        torch, dist = _torch, _dist
    return torch


# ---- the process group -----------------------------------------------------------

def distributed_env():
    """``(rank, world size, local rank)`` from torchrun's variables, or None."""
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        return None
    return (int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]),
            int(os.environ.get("LOCAL_RANK", os.environ["RANK"])))


def check_device(device):
    """A ``torch.device`` for ``"cpu"``/``"cuda"``, or a one-line TrainingError."""
    _load_torch()
    if device not in ("cpu", "cuda"):
        raise TrainingError(f"--device {device}: choose cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda: PyTorch sees no CUDA GPU here "
                            "(torch.cuda.is_available() is False); train with "
                            "--device cpu, or install a CUDA build of PyTorch")
    return torch.device(device)


def init_distributed(device):
    """Join the process group the environment describes (gloo on CPU, nccl on
    CUDA); returns ``(rank, world, torch.device)``. One process: ``(0, 1, …)``."""
    env = distributed_env()
    dev = check_device(device)
    if env is None:
        return 0, 1, dev
    rank, world, local = env
    if dev.type == "cuda":
        torch.cuda.set_device(local % torch.cuda.device_count())
        dev = torch.device("cuda", local % torch.cuda.device_count())
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo",
                                rank=rank, world_size=world)
    return rank, world, dev


def leave_distributed():
    """Leave the process group :func:`init_distributed` joined, if any. A process
    that exits with gloo's threads still running can abort at exit ("terminate
    called without an active exception", seen once in a resumed 2-process
    run), and PyTorch asks for this call before exit."""
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# ---- the program the Trainer drives ----------------------------------------------

class TorchProgram:
    """What :class:`graphlab.train.Trainer` asks of a program, run by a module.

    ``params`` is the NumPy program's dict (the optimizer's views); the module's
    parameters share it on the CPU and are refreshed from it on a GPU.
    """

    def __init__(self, numpy_program, module, device):
        self.numpy_program = numpy_program
        self.module = module
        self.device = device
        self.schedule = numpy_program.schedule
        self.params = numpy_program.params
        self.trainable = numpy_program.trainable
        self.dtype = numpy_program.dtype
        self.rng = numpy_program.rng
        self.graph = numpy_program.graph
        self.info = module.graph_info
        self.shared = device.type == "cpu"

    @property
    def training(self):
        return self.module.training

    def train(self, mode=True):
        self.module.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def tensors(self, feeds):
        fed = self.numpy_program.feeds_for(feeds)
        return {k: torch.from_numpy(np.ascontiguousarray(v)).to(self.device)
                for k, v in fed.items()}

    def refresh(self):
        """Copy the NumPy parameters to the device (nothing to do on the CPU)."""
        if self.shared:
            return
        with torch.no_grad():
            for node, attr, *_ in self.info.params:
                if node in self.params:
                    getattr(self.module, attr).copy_(torch.from_numpy(
                        np.asarray(self.params[node])), non_blocking=True)

    def forward(self, feeds=None):
        self.refresh()
        with torch.no_grad():
            out = self.module(**self.tensors(feeds))
        return {k: v.detach().cpu().numpy() for k, v in out.items()}

    def state_dict(self):
        out = {k: np.array(v) for k, v in self.params.items()
               if k in self.schedule.params}
        for node, attr, _ in self.info.stats:
            stats = getattr(self.module, attr)
            for key in ("running_mean", "running_var"):
                out[f"{node}.{key}"] = getattr(stats, key).detach().cpu().numpy() \
                    .astype(self.dtype)
        return out

    def load_state_dict(self, state):
        stats = {node: attr for node, attr, _ in self.info.stats}
        with torch.no_grad():
            for k, v in state.items():
                node, _, key = k.partition(".")
                if key and node in stats:
                    getattr(getattr(self.module, stats[node]), key).copy_(
                        torch.as_tensor(np.asarray(v)))
                elif not key and k in self.params:
                    self.params[k][...] = v
        self.refresh()


class _StepOut(dict):
    """Outputs of one step, with the correct predictions summed over the ranks."""
    correct = None


# ---- the trainer -----------------------------------------------------------------

class TorchTrainer(Trainer):
    """:class:`graphlab.train.Trainer` whose step runs on PyTorch (see the module
    docstring).

    Parameters
    ----------
    graph : Graph
    device : str
        ``"cpu"`` (default) or ``"cuda"``.
    distributed : bool
        Join the process group that torchrun's variables describe, when they are
        set (default true).
    **options
        As for :class:`graphlab.train.Trainer`.
    """

    backend = "torch"

    def __init__(self, graph, *, device="cpu", distributed=True, **options):
        _load_torch()
        if distributed:
            self.rank, self.world, self.device = init_distributed(device)
        else:
            self.rank, self.world, self.device = 0, 1, check_device(device)
        self._requested = None
        self._scale = 1.0
        self._count = 0
        if options.get("threads"):  # PyTorch's own threads, as BLAS's for NumPy
            torch.set_num_threads(int(options["threads"]))
        super().__init__(graph, **options)
        torch.manual_seed(self.config.seed * 1000 + self.rank)  # Dropout masks

    # ---- setup: the module, bound to the optimizer's buffer --------------------------
    def _setup_optimizer(self):
        super()._setup_optimizer()
        prog = self.program
        module = self._module_for(prog)
        for node, attr, *_ in module.graph_info.params:
            p = getattr(module, attr)
            if self.device.type == "cpu":
                p.data = torch.from_numpy(prog.params[node])  # shared memory
            if isinstance(p, torch.nn.Parameter):
                p.requires_grad_(node in self.trainable)
        self.module = module
        self.step_module = module
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.step_module = DistributedDataParallel(module, device_ids=ids)
        train = TorchProgram(prog, module, self.device)
        evaluation = train
        if self.eval_program is not prog:  # BPTT: whole sequences, shared state
            other = self._module_for(self.eval_program)
            for node, attr, *_ in other.graph_info.params:
                setattr(other, attr, getattr(module, module.graph_info.attr_of(node)))
            for node, attr, _ in other.graph_info.stats:
                setattr(other, attr, getattr(module, module.graph_info.attr_of(node)))
            evaluation = TorchProgram(self.eval_program, other, self.device)
        self.program, self.eval_program = train, evaluation
        self.programs = {k: train for k in self.programs}

    def _module_for(self, prog):
        outputs = [ref for ref, _ in prog.schedule.outputs]
        g = prog.graph
        saved = g.params
        g.params = {**saved, **{k: v for k, v in prog.params.items()}}
        try:
            module = to_torch(g, outputs=outputs, dtype=str(prog.dtype),
                              seed=self.config.seed)
        finally:
            g.params = saved
        return module.to(self.device)

    # ---- control ---------------------------------------------------------------------
    def stop(self, reason="stopped"):
        """Ask training to stop after the current batch (thread-safe); with several
        processes, every process stops after the same batch."""
        if self.world > 1 and reason != "early_stopping":
            self._requested = reason  # agreed on with the others after the step
        else:
            super().stop(reason)

    def _install_sigint(self):
        restore = super()._install_sigint()
        if self.world == 1 or not self.handle_sigint or \
                signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return restore
        # torchrun ends its workers with SIGTERM: stop as for Ctrl-C.
        previous = signal.signal(signal.SIGTERM,
                                 lambda signum, frame: self.stop("interrupted"))

        def both():
            restore()
            signal.signal(signal.SIGTERM, previous)
        return both

    # ---- the step --------------------------------------------------------------------
    def _train_batch(self, feeds, epoch, batch):
        if self.world == 1:
            return super()._train_batch(feeds, epoch, batch)
        n = len(next(iter(feeds.values())))
        mine = np.arange(self.rank, n, self.world)
        self._count = len(mine)
        self._scale = self.world * len(mine) / n
        if not len(mine):  # fewer examples than processes: one, weighted 0
            mine = np.arange(1)
        return super()._train_batch({k: v[mine] for k, v in feeds.items()}, epoch,
                                    batch)

    def _run_step(self, prog, feeds, epoch, batch):
        m = len(next(iter(feeds.values())))
        count = self._count if self.world > 1 else m
        prog.refresh()
        tensors = prog.tensors(feeds)
        out = self.step_module(**tensors)
        loss = out[self.loss]
        (loss * self._scale if self.world > 1 else loss).backward()
        value = float(loss.detach())
        finite = math.isfinite(value)
        numpy_out = _StepOut({k: v.detach().cpu().numpy() for k, v in out.items()
                              if k != self.loss})
        correct = super()._correct(numpy_out, feeds) if finite else None
        total = [value * count if finite else 0.0, correct or 0, count, 0 if finite
                 else 1, self._requested == "stopped", self._requested == "interrupted"]
        if self.world > 1:
            t = torch.tensor(total, dtype=torch.float64)
            dist.all_reduce(t)
            total = t.tolist()
        if total[3]:
            for p in self.module.parameters():
                p.grad = None
            raise self._failure(ExecutionError("NaN", node=self.loss.partition(":")[0]),
                                f"epoch {epoch + 1}, batch {batch + 1}") from None
        if total[4] or total[5]:
            self._requested = None
            super().stop("interrupted" if total[5] else "stopped")
        grads = {}
        for node, attr, *_ in self.module.graph_info.params:
            p = getattr(self.module, attr)
            if node in self.trainable and p.grad is not None:
                grads[node] = p.grad.detach().cpu().numpy()
        self.optimizer.step(grads)
        for p in self.module.parameters():
            p.grad = None
        numpy_out.correct = None if correct is None else int(round(total[1]))
        return numpy_out, total[0] / max(total[2], 1)

    def _correct(self, out, feeds):
        if isinstance(out, _StepOut):
            return out.correct
        return super()._correct(out, feeds)

    # ---- evaluation and files --------------------------------------------------------
    def evaluate(self, part="test"):
        if self.world > 1:  # every rank evaluates with rank 0's running statistics
            for b in self.module.buffers():
                if b.numel():
                    dist.broadcast(b, 0)
        return super().evaluate(part)

    def save_checkpoint(self, path):
        if self.rank == 0:
            super().save_checkpoint(path)


# ---- several local processes ---------------------------------------------------------

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(argv, nproc, *, stdout=None, grace=10.0, module="graphlab"):
    """Run ``python -m graphlab ARGV`` in ``nproc`` processes of one group
    (``python ARGV`` when ``module`` is None).

    Each process gets torchrun's variables (``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) and runs in a session of
    its own; Ctrl-C (SIGINT) or SIGTERM here is passed on to every process once,
    so that they stop together after the current batch. When one process
    fails, the others are ended after ``grace`` seconds. Returns rank 0's exit
    status (or the first failure's). Rank 0 writes to this process's standard
    output (or ``stdout``) and standard error; the others' standard error is
    shown only when they fail first.
    """
    port = _free_port()
    procs, logs = [], []
    # As torchrun does: the cores shared out, not every process on all of them.
    threads = os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1)
                                                          // nproc))
    for rank in range(nproc):
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                   RANK=str(rank), WORLD_SIZE=str(nproc), LOCAL_RANK=str(rank),
                   LOCAL_WORLD_SIZE=str(nproc), OMP_NUM_THREADS=threads)
        err = None if rank == 0 else tempfile.TemporaryFile()
        logs.append(err)
        procs.append(subprocess.Popen(
            [sys.executable] + (["-m", module] if module else []) + list(argv), env=env,
            stdout=stdout if rank == 0 else subprocess.DEVNULL, stderr=err,
            start_new_session=True))
    signals = []

    def forward(signum, frame):
        signals.append(time.monotonic())
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)

    main = __import__("threading").current_thread() is \
        __import__("threading").main_thread()
    previous = {}
    if main:
        for s in (signal.SIGINT, signal.SIGTERM):
            previous[s] = signal.signal(s, forward)
    failed_first = None
    ended_at = None
    try:
        while True:
            codes = [p.poll() for p in procs]
            for rank, c in enumerate(codes):
                if c not in (None, 0, 130) and failed_first is None:
                    failed_first = rank
                    ended_at = time.monotonic()
            if all(c is not None for c in codes):
                break
            late = ended_at is not None and time.monotonic() - ended_at > grace
            if late or (signals and time.monotonic() - signals[-1] > 3 * grace):
                for p in procs:
                    if p.poll() is None:
                        p.kill() if late and time.monotonic() - ended_at > 2 * grace \
                            else p.terminate()
            time.sleep(0.05)
    finally:
        for p in procs:  # never leave a process behind
            if p.poll() is None:
                p.kill()
                p.wait()
        if main:
            for s, h in previous.items():
                signal.signal(s, h)
    codes = [p.returncode for p in procs]
    if failed_first not in (None, 0):
        f = logs[failed_first]
        f.seek(0)
        text = f.read().decode("utf-8", "replace").strip()
        if text:
            print("\n".join(f"rank {failed_first}: {line}" for line in
                            text.splitlines()[-20:]), file=sys.stderr)
    for f in logs:
        if f is not None:
            f.close()
    if failed_first is not None:
        return codes[failed_first] if codes[failed_first] > 0 else 1
    return codes[0]


# ---- gl.train(graph, backend="torch") ------------------------------------------------

_CLI_OPTIONS = {"epochs": "--epochs", "batch_size": "--batch-size", "lr": "--lr",
                "seed": "--seed", "checkpoint": "--checkpoint", "resume": "--resume",
                "dtype": "--dtype"}
_SECTION_OPTIONS = ("optimizer", "clip_norm", "bptt", "early_stopping")


def train_torch(graph, *, nproc=1, device="cpu", epochs=None, batch_size=None,
                lr=None, callbacks=(), seed=None, **options):
    """Train on PyTorch (see :func:`graphlab.train` with ``backend="torch"``).

    With ``nproc`` > 1, the graph goes to a temporary file, :func:`launch` runs
    ``graphlab train`` in that many processes, and the trained values and the
    history come back; ``data`` and ``callbacks`` need one process then.
    """
    if nproc == 1 or distributed_env() is not None:
        return TorchTrainer(graph, device=device, epochs=epochs,
                            batch_size=batch_size, lr=lr, seed=seed,
                            callbacks=callbacks, **options).fit()
    return _train_in_processes(graph, nproc, device, callbacks, dict(
        options, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed))


def _train_in_processes(graph, nproc, device, callbacks, options):
    import json

    from .. import io
    from ..train import History
    unsupported = [k for k in options if options[k] is not None and k not in
                   _CLI_OPTIONS and k not in _SECTION_OPTIONS + ("progress",
                                                                 "fresh")]
    if callbacks or unsupported:
        what = ", ".join((["callbacks"] if callbacks else []) + unsupported)
        raise TrainingError(f"with nproc > 1 the processes run graphlab train: "
                            f"{what} cannot reach them (train with nproc=1, or put "
                            "the settings in the graph's train section)")
    g = graph.copy()
    section = dict(g.train or {})
    for k in _SECTION_OPTIONS:
        if options.get(k) is not None:
            section[k] = options[k]
    g.train = section
    with tempfile.TemporaryDirectory(prefix="graphlab-torch-") as tmp:
        path = os.path.join(tmp, "graph.graph.json")
        if graph.path and g.train.get("data", {}).get("dataset", "").startswith("npz:"):
            ds = g.train["data"]["dataset"][4:]
            if not os.path.isabs(ds):
                base = os.path.dirname(os.path.abspath(graph.path))
                g.train["data"] = dict(g.train["data"],
                                       dataset="npz:" + os.path.join(base, ds))
        if g.params:
            io.save_params(g.params, os.path.join(tmp, "start.npz"))
            g.params_file = "start.npz"
        io.save(g, path, params=False)
        out = os.path.join(tmp, "trained.npz")
        argv = ["train", path, "--backend", "torch", "--device", device, "--json",
                "--save", out, "--no-link"]
        if options.get("fresh"):
            argv.append("--fresh")
        for k, flag in _CLI_OPTIONS.items():
            if options.get(k) is not None:
                argv += [flag, str(options[k])]
        result = os.path.join(tmp, "result.json")
        with open(result, "wb") as f:
            code = launch(argv, nproc, stdout=f)
        with open(result, encoding="utf-8") as f:
            text = f.read().strip()
        if code not in (0, 130) or not text:
            raise TrainingError(f"training in {nproc} processes failed (exit status "
                                f"{code}); the error is above")
        obj = json.loads(text.splitlines()[-1])
        graph.params = {**graph.params, **io.read_npz(out, "the trained parameters")}
    h = History()
    h.epochs = obj["history"]
    h.stopped = obj["stopped"]
    h.final = {k: obj.get(k) for k in ("epochs", "train_loss", "test_loss",
                                       "test_accuracy", "seconds")}
    h.final["world_size"] = obj.get("world_size")
    return h
