"""Training a graph as its ``train`` section says (SPEC section 1).

Assumes a graph that passes :meth:`Graph.check`. The trainer compiles the graph
once, with the loss first and, for a classifier, the logits of its
CrossEntropyLoss next; runs shuffled mini-batches in training mode; evaluates
the held-out split in evaluation mode after every epoch; and writes the trained
values back to ``graph.params`` (BatchNorm running statistics as
``"node.running_mean"`` keys), so that :func:`graphlab.save` writes the sidecar.
The section's settings are read by :class:`graphlab.optim.TrainConfig`, its data
by :func:`graphlab.data.prepare`.

``seed`` (default 0) seeds parameter initialisation, shuffling and Dropout;
``data.seed`` seeds the held-out split. ``data.val_fraction`` holds out a
validation split of the training data for early stopping; without it, early
stopping watches the test split.

Truncated backpropagation through time (``bptt``: k) splits every sequence
Input of shape N×T×… into chunks of k steps. The trainer wires each recurrent
node's initial state itself: an unconnected ``h0`` (and an LSTM's ``c0``) gets
a new Input ``<node>_h0`` (``<node>_c0``) in the training copy of the graph,
fed with the final state of the previous chunk, detached (zeros for the first
chunk). Each chunk is one optimizer step on the graph's loss for that chunk,
as in PyTorch's truncated-BPTT loops and Keras' stateful RNNs; the training
loss and accuracy shown are means over the chunks. Held-out evaluation runs
the original graph over whole sequences.

Callbacks (see :class:`Callback`) run on the thread that calls
:meth:`Trainer.fit`; :meth:`Trainer.stop` may be called from any thread and is
honoured after the current batch.
"""

import math
import os
import signal
import threading
import time

import networkx as nx
import numpy as np

from . import data as datasets
from . import io
from ._malloc import keep_freed_memory
from .callbacks import Callback, History, ProgressBar  # noqa: F401  (re-exported)
from .errors import ExecutionError, GraphlabError, TrainingError
from .optim import (TrainConfig, load_checkpoint, make_optimizer, make_schedule,
                    write_checkpoint)
from .program import Program

__all__ = ["train", "Trainer", "History", "Callback", "ProgressBar", "load_checkpoint",
           "take_gradients"]


def _call(callbacks, name, *args):
    for cb in callbacks:
        fn = getattr(cb, name, None)
        if fn is not None:
            fn(*args)


# ---- the trainer ---------------------------------------------------------------------

class Trainer:
    """Trains a graph; :meth:`fit` runs, :meth:`stop` asks it to stop.

    Parameters
    ----------
    graph : Graph
        A checked graph with a ``train`` section (or ``loss`` and ``data``
        given here).
    epochs, batch_size, lr, seed : optional
        Override the train section.
    callbacks : sequence
        Objects with optional ``on_*`` methods (see :class:`Callback`).
    progress : bool
        Add a :class:`ProgressBar` on standard error.
    data : dict of str to ndarray, optional
        Arrays to train on instead of the section's dataset, named as
        ``data.feeds`` maps them (by default, by Input id).
    loss : str, optional
        The loss node (default: the section's ``loss``, else the first output).
    optimizer : dict, optional
        Replaces the section's ``optimizer`` object.
    clip_norm, bptt, early_stopping : optional
        Override the section.
    checkpoint : str, optional
        Write a resumable checkpoint (``.npz``) there after every epoch and
        when training stops early.
    resume : str, optional
        Continue from a checkpoint written by an identical setup.
    dtype : str
        ``"float32"`` (default) or ``"float64"``.
    eval_batch_size : int
        Chunk size of held-out evaluation.
    handle_sigint : bool
        On the main thread, make Ctrl-C a stop request honoured after the
        current batch (a second Ctrl-C interrupts at once).
    base_dir : str, optional
        Folder for a relative ``npz:PATH`` (default: the graph file's).
    fresh : bool
        Start from freshly initialised Parameters even when ``graph.params``
        holds trained values (by default training continues from them).
    threads : int or None
        BLAS threads while training; None (default) leaves BLAS alone. With
        the fused kernels a second thread gains 10–20 % on an idle two-core
        machine (LeNet-5, batch 32), but can cost several times that on a
        busy one: there, pass 1. Needs ``threadpoolctl`` to take effect.
    workers : int or "auto"
        Threads that a mini-batch is cut over, in chunks, when the graph
        allows it and the kernels are large enough to gain (see
        :mod:`graphlab.parallel`); ``"auto"``: one per core. Default 1: on
        two cores, fused kernels with BLAS's own threads ran faster.
    fuse : bool
        Run fused kernels (conv → activation → pool) where the graph allows
        (default true; see :mod:`graphlab.fuse`).

    Examples
    --------
    >>> import graphlab as gl
    >>> trainer = Trainer(gl.load("samples/mlp_xor.graph.json"), epochs=150)
    >>> trainer.fit().final["test_accuracy"]
    1.0
    """

    def __init__(self, graph, *, epochs=None, batch_size=None, lr=None, seed=None,
                 callbacks=(), progress=False, data=None, loss=None, optimizer=None,
                 clip_norm=None, bptt=None, early_stopping=None, checkpoint=None,
                 resume=None, dtype="float32", eval_batch_size=256, handle_sigint=True,
                 base_dir=None, threads=None, fresh=False, workers=1, fuse=True):
        self.graph = graph
        self.config = cfg = TrainConfig(graph.train, epochs=epochs,
                                        batch_size=batch_size, lr=lr, seed=seed,
                                        clip_norm=clip_norm, bptt=bptt,
                                        early_stopping=early_stopping)
        if optimizer is not None:
            cfg.optimizer = dict(optimizer)
        self.callbacks = list(callbacks) + ([ProgressBar()] if progress else [])
        if checkpoint:  # refused now, not after the first epoch
            io.check_target("checkpoint=", checkpoint, getattr(graph, "path", None))
        self.checkpoint = checkpoint
        self.eval_batch_size = int(eval_batch_size)
        self.handle_sigint = handle_sigint
        self.threads = threads
        self._compile = dict(dtype=dtype, seed=self.config.seed, workers=workers,
                             fuse=fuse)
        self._stop = threading.Event()
        self._stop_reason = "stopped"
        self.history = History()
        self.epoch = 0  # completed epochs
        self._batch = 0  # batches done in the current epoch
        self._accum = _Accum()
        self._early = None
        self._best = None
        self._seconds_before = 0.0

        self.loss = loss or cfg.loss or (graph.outputs[0] if graph.outputs else None)
        if self.loss is None or self.loss.partition(":")[0] not in graph:
            raise TrainingError(f"train.loss names {self.loss!r}, which is not a node: "
                                "give the id of the scalar loss node")
        self._find_metric_refs()
        if base_dir is None:
            base_dir = os.path.dirname(getattr(graph, "path", None) or "./x")
        self._setup_program(dtype, fresh)
        self._setup_data(data, base_dir)
        self._setup_optimizer()
        if resume:
            self._load_checkpoint(resume)

    # ---- setup -----------------------------------------------------------------------
    def _find_metric_refs(self):
        """The CrossEntropyLoss behind the loss: its logits and target refs."""
        g = self.graph
        node = self.loss.partition(":")[0]
        candidates = [node] if g.node(node).op == "CrossEntropyLoss" else [
            n for n in g.topological_order()
            if n in nx.ancestors(g.nx, node) and g.node(n).op == "CrossEntropyLoss"]
        self.logits_ref = self.target_ref = None
        if len(candidates) == 1:
            edges = g.in_edges(candidates[0])
            self.logits_ref = g.source_ref(edges["logits"])
            self.target_ref = g.source_ref(edges["target"])
        want = self.config.metrics
        if want is None:
            self.metrics = ["accuracy"] if self.logits_ref else []
        else:
            self.metrics = list(want)
            if "accuracy" in want and not self.logits_ref:
                raise TrainingError("the accuracy metric needs one CrossEntropyLoss "
                                    "behind the loss (it compares the argmax of its "
                                    "logits with its target)", node=node)

    def _train_graph(self):
        """The graph that training runs: the original, or its BPTT copy."""
        k = self.config.bptt
        self.carry = {}  # Input fed with a carried state → output ref it comes from
        self.chunked = []  # Inputs cut into time chunks
        self.seq_len = None
        if not k:
            return self.graph
        g = self.graph
        rec = [n for n in g.nodes
               if getattr(g.node(n).op_def, "recurrence", None) is not None]
        if not rec:
            raise TrainingError("bptt needs a recurrent node (RNN, LSTM or GRU) in the "
                                "graph")
        shapes = g.analyse().shapes
        lengths = set()
        for r in rec:
            e = g.in_edges(r)["x"]
            src_shape = shapes[e.src][g.node(e.src).output_ports.index(e.src_port)]
            lengths.add(src_shape[1])
        if len(lengths) != 1 or not isinstance(next(iter(lengths)), int):
            raise TrainingError("bptt needs every recurrent node to read sequences of "
                                f"one fixed length, got {sorted(map(str, lengths))}")
        T = next(iter(lengths))
        self.seq_len = T
        if k >= T:
            return g
        tg = g.copy()
        for r in rec:
            hidden = shapes[r][1][-1]
            edges = tg.in_edges(r)
            for port, out in tg.node(r).op_def.recurrence.state.items():
                if port in edges:
                    src = edges[port].src
                    if tg.node(src).op != "Input":
                        raise TrainingError(
                            f"bptt carries the state of '{r}' from chunk to chunk "
                            f"through its {port} input, which here comes from "
                            f"'{src}' ({tg.node(src).op}); leave {port} unconnected "
                            "or feed it from an Input", node=r)
                    inp = src
                else:
                    inp = f"{r}_{port}"
                    while inp in tg:
                        inp += "_"
                    tg.add_node(inp, "Input", {"shape": ["N", hidden]})
                    tg.connect(inp, f"{r}:{port}")
                self.carry[inp] = f"{r}:{out}"
        for n in tg.nodes:
            node = tg.node(n)
            if node.op != "Input" or n in self.carry:
                continue
            shape = list(node.resolved["shape"])
            if len(shape) >= 2 and isinstance(shape[0], str) and shape[1] == T:
                self.chunked.append(n)
        self._bptt_base = tg
        return tg

    def _chunk_graph(self, length):
        tg = self._bptt_base.copy()
        for n in self.chunked:
            shape = list(tg.node(n).resolved["shape"])
            shape[1] = length
            tg.set_attr(n, "shape", shape)
        try:
            tg.check()
        except GraphlabError as e:
            raise TrainingError(f"with bptt {self.config.bptt}, the graph does not fit "
                                f"chunks of {length} time steps: {e.message} (the "
                                "layers after the recurrent node must not depend on "
                                "the sequence length)", node=e.node) from None
        return tg

    def _outputs(self):
        outs = [self.loss]
        if self.logits_ref:
            outs.append(self.logits_ref)
            if self.graph.node(self.target_ref.partition(":")[0]).op != "Input":
                outs.append(self.target_ref)
        outs += [ref for ref in self.carry.values() if ref not in outs]
        return outs

    def _setup_program(self, dtype, fresh=False):
        cfg = self.config
        tg = self._train_graph()
        self.resumed_from_params = bool(self.graph.params) and not fresh
        if fresh and self.graph.params:
            tg = tg.copy()
            tg.params = {}
            if self.carry:
                self._bptt_base = tg
        try:
            if self.carry:
                T, k = self.seq_len, cfg.bptt
                lengths = sorted({min(k, T - s) for s in range(0, T, k)}, reverse=True)
                self.programs = {}
                for n in lengths:
                    self.programs[n] = Program(self._chunk_graph(n), training=True,
                                               outputs=self._outputs(),
                                               input_grads=False, **self._compile)
                self.program = self.programs[k]
                carry, self.carry = self.carry, {}
                self.eval_program = Program(self.graph, training=False,
                                            outputs=self._outputs(), grad=False,
                                            **self._compile)
                self.carry = carry
            else:
                self.program = Program(tg, training=True, outputs=self._outputs(),
                                       input_grads=False, **self._compile)
                self.programs = {None: self.program}
                self.eval_program = self.program
        except GraphlabError as e:
            if isinstance(e, TrainingError):
                raise
            raise TrainingError(f"cannot compile the graph for training: {e.message}",
                                node=e.node) from None
        prog = self.program
        if prog.schedule.loss is None:
            raise TrainingError(f"the loss '{self.loss}' does not depend on any "
                                "trainable Parameter: nothing to train",
                                node=self.loss.partition(":")[0])
        self.trainable = [n for n in prog.trainable if n in prog.schedule.grads]
        if not self.trainable:
            raise TrainingError("the graph has no trainable Parameter that the loss "
                                "depends on", node=self.loss.partition(":")[0])

    def _setup_data(self, arrays, base_dir):
        inputs = dict(self.program.schedule.inputs)
        for n in self.carry:  # carried states start at zero unless data feed them
            if n not in (self.config.data.get("feeds") or {}):
                inputs.pop(n)
        for n in self.chunked:  # the dataset holds whole sequences
            inputs[n] = self.eval_program.schedule.inputs[n]
        parts = datasets.prepare(self.config.data, inputs, self.graph, arrays=arrays,
                                 base_dir=base_dir, dtype=self.program.dtype)
        self.train_data, self.test_data = parts["train"], parts["test"]
        self.val_data = parts["val"]
        self.held_out_is_train = parts["held_out_is_train"]
        self.n_train = len(next(iter(self.train_data.values())))
        self._check_labels()

    def _check_labels(self):
        """Class indices must lie within the logits' classes."""
        if not self.logits_ref or self.target_ref not in self.train_data:
            return
        logits_shape = self.eval_program.schedule.shapes.get(
            dict(self.eval_program.schedule.outputs).get(self.logits_ref))
        classes = logits_shape[-1] if logits_shape else None
        for part in (self.train_data, self.test_data):
            y = part[self.target_ref]
            if y.size and isinstance(classes, int) and not 0 <= y.min() <= y.max() \
                    < classes:
                raise TrainingError(
                    f"the labels fed to '{self.target_ref}' range over {int(y.min())}.."
                    f"{int(y.max())}, but '{self.logits_ref}' scores {classes} classes "
                    f"(0..{classes - 1})", node=self.target_ref)

    def _setup_optimizer(self):
        cfg = self.config
        prog = self.program
        self.optimizer = make_optimizer(cfg.optimizer, prog.params, self.trainable,
                                        lr=cfg.lr, clip_norm=cfg.clip_norm)
        # Chunk programs of other lengths (BPTT) read the same flat parameters.
        for other in self.programs.values():
            if other is not prog:
                other.params.update({k: prog.params[k] for k in prog.params})
        if self.eval_program is not prog:
            shared = self.eval_program.params
            shared.update({k: prog.params[k] for k in prog.params if k in shared})
        self.base_lr = self.optimizer.lr
        self.schedule = make_schedule(cfg.optimizer.get("schedule"), self.base_lr,
                                      cfg.epochs)
        self.shuffle_rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 1]))
        self._epoch_rng_state = self.shuffle_rng.bit_generator.state

    # ---- control ---------------------------------------------------------------------
    def stop(self, reason="stopped"):
        """Ask training to stop after the current batch (thread-safe)."""
        self._stop_reason = reason
        self._stop.set()

    @property
    def stopping(self):
        return self._stop.is_set()

    # ---- steps -----------------------------------------------------------------------
    def _failure(self, e, where):
        """An ExecutionError as a TrainingError; NaN or infinity is divergence."""
        if "NaN" not in e.message and "infinite" not in e.message:
            return TrainingError(e.message, node=e.node)
        lr = self.optimizer.lr
        what = "its gradient became NaN or infinite" if "gradient" in e.message else \
            "NaN or infinite values first appeared here"
        return TrainingError(
            f"training diverged ({where}): {what}; lower the learning rate (it is "
            f"{lr:g}; try --lr {lr / 10:g}) or set clip_norm", node=e.node)

    def _run_step(self, prog, feeds, epoch, batch):
        try:
            out = prog.forward(feeds)
            grads = prog.backward(check=False)
            loss = float(out[self.loss])
            if not math.isfinite(loss):
                raise ExecutionError("NaN", node=self.loss.partition(":")[0])
            take_gradients(self.optimizer, prog, grads)
        except ExecutionError as e:
            raise self._failure(e, f"epoch {epoch + 1}, batch {batch + 1}") from None
        self.optimizer.step()
        return out, loss

    def _correct(self, out, feeds):
        if "accuracy" not in self.metrics:
            return None
        logits = out[self.logits_ref]
        target = feeds.get(self.target_ref) if self.target_ref in feeds \
            else out[self.target_ref]
        target = np.asarray(target)
        hits = int(np.count_nonzero(logits.argmax(axis=-1) == target))
        # Sequences (N×T targets) count each example as the share of its T
        # positions predicted right, so that accuracy stays within [0, 1].
        return hits if target.ndim < 2 else hits / (target.size // len(target))

    def _train_batch(self, feeds, epoch, batch):
        """One mini-batch: ``(mean loss, correct predictions or None)``."""
        if not self.carry:
            out, loss = self._run_step(self.program, feeds, epoch, batch)
            return loss, self._correct(out, feeds)
        n = len(next(iter(feeds.values())))
        T, k = self.seq_len, self.config.bptt
        state = {}
        for inp in self.carry:
            if inp in feeds:
                state[inp] = feeds[inp]
            else:
                _, shape, _ = self.program.schedule.inputs[inp]
                state[inp] = np.zeros((n,) + tuple(shape[1:]), self.program.dtype)
        losses, correct = [], []
        for start in range(0, T, k):
            stop = min(start + k, T)
            chunk = {key: (v[:, start:stop] if key in self.chunked else v)
                     for key, v in feeds.items()}
            chunk.update(state)
            out, loss = self._run_step(self.programs[stop - start], chunk, epoch, batch)
            # The next chunk starts from this state, detached: it is fed as an
            # Input, so no gradient flows back across the chunk boundary.
            state = {inp: np.array(out[ref]) for inp, ref in self.carry.items()}
            losses.append(loss)
            correct.append(self._correct(out, chunk))
        c = None if correct[0] is None else sum(correct) / len(correct)
        return sum(losses) / len(losses), c

    # ---- evaluation ------------------------------------------------------------------
    def evaluate(self, part="test"):
        """Mean loss and accuracy on a split (``"test"``, ``"val"``, ``"train"``),
        in evaluation mode: ``{"loss": x, "accuracy": x or None}``."""
        arrays = {"test": self.test_data, "val": self.val_data,
                  "train": self.train_data}[part]
        if arrays is None:
            raise TrainingError(f"there is no {part} split")
        prog = self.eval_program
        if prog is not self.program:  # BPTT: copy BatchNorm statistics across
            prog.load_state_dict({k: v for k, v in self.program.state_dict().items()
                                  if "." in k})
        n = len(next(iter(arrays.values())))
        total, correct = 0.0, 0
        was_training = prog.training
        prog.eval()
        try:
            for i in range(0, n, self.eval_batch_size):
                feeds = {k: v[i:i + self.eval_batch_size] for k, v in arrays.items()}
                try:
                    out = prog.forward(feeds)
                except ExecutionError as e:
                    raise self._failure(e, f"evaluating the {part} split") from None
                m = len(next(iter(feeds.values())))
                total += float(out[self.loss]) * m
                if "accuracy" in self.metrics:
                    correct += self._correct(out, feeds)
        finally:
            prog.train(was_training)
        return {"loss": total / n,
                "accuracy": correct / n if "accuracy" in self.metrics else None}

    # ---- the loop --------------------------------------------------------------------
    def fit(self):
        """Train; returns the :class:`History`.

        Raises
        ------
        TrainingError
            Divergence (naming the node where NaN or infinity first appeared)
            or data that do not fit.
        """
        cfg = self.config
        self._stop.clear()
        self.history.stopped = "completed"
        restore = self._install_sigint()
        limits = _blas_limits(self.threads)
        keep_freed_memory()  # the next batch reuses this one's pages
        self._t_start = time.perf_counter()
        self._seconds_before = self.history.final.get("seconds", 0.0)
        held = None  # the held-out numbers of the last completed epoch
        try:
            if self.epoch == 0 and self._batch == 0 and not self.history.initial:
                first = self.evaluate("test")
                self.history.initial = {"test_loss": first["loss"],
                                        "test_accuracy": first["accuracy"]}
            _call(self.callbacks, "on_train_begin", dict(
                self.history.initial, epochs=cfg.epochs, examples=self.n_train,
                batches=math.ceil(self.n_train / cfg.batch_size), lr=self.base_lr,
                batch_size=cfg.batch_size, start_epoch=self.epoch))
            while self.epoch < cfg.epochs and not self._stop.is_set():
                held = self._run_epoch(self.epoch)
        finally:
            restore()
            if limits is not None:
                limits.restore_original_limits()
        if self._stop.is_set() and (self.epoch < cfg.epochs or self._batch):
            self.history.stopped = self._stop_reason
        if self._stop_reason == "early_stopping" and self._best is not None:
            self.program.load_state_dict(self._best)  # restore_best
            held = None
        if self._batch and self._stop.is_set() and self.checkpoint:
            self.save_checkpoint(self.checkpoint)
        if held is None or self._batch:
            test = self.evaluate("test")
        else:
            test = {"loss": held["test_loss"], "accuracy": held["test_accuracy"]}
        acc = self._accum
        self.history.final = final = {
            "epochs": self.epoch, "batches": self._batch,
            "train_loss": acc.loss, "train_accuracy": acc.accuracy,
            "test_loss": test["loss"], "test_accuracy": test["accuracy"],
            "seconds": self._seconds(),
            "stopped": self.history.stopped, "partial_batches": self._batch}
        self._seconds_before, self._t_start = final["seconds"], None
        self._write_back()
        _call(self.callbacks, "on_train_end", dict(final))
        return self.history

    def _seconds(self):
        """Training time so far, over resumed runs."""
        t = getattr(self, "_t_start", None)
        return self._seconds_before + (0.0 if t is None else time.perf_counter() - t)

    def _run_epoch(self, epoch):
        """Batches of one epoch (from ``self._batch`` when resuming); its logs
        once complete, else None (stopped inside it)."""
        lr = self.optimizer.lr = self.schedule.lr_at(epoch)
        if self._batch == 0:
            self._accum = _Accum()
            self._epoch_rng_state = self.shuffle_rng.bit_generator.state
        else:  # resuming mid-epoch: draw the same permutation again
            self.shuffle_rng.bit_generator.state = self._epoch_rng_state
        order = datasets.batch_indices(self.n_train, self.config.batch_size,
                                       self.shuffle_rng)
        _call(self.callbacks, "on_epoch_begin", epoch,
              {"epoch": epoch, "epochs": self.config.epochs, "lr": lr,
               "batches": len(order)})
        acc = self._accum
        t_epoch = time.perf_counter() - acc.seconds
        for b in range(self._batch, len(order)):
            feeds = {k: v[order[b]] for k, v in self.train_data.items()}
            try:
                loss, correct = self._train_batch(feeds, epoch, b)
            except KeyboardInterrupt:  # a second Ctrl-C, or no handler installed
                self.stop("interrupted")
                return None
            m = len(order[b])
            acc.add(loss, correct, m)
            self._batch = b + 1
            acc.seconds = time.perf_counter() - t_epoch
            _call(self.callbacks, "on_batch_end", b, {
                "epoch": epoch, "batch": b, "batches": len(order),
                "step": self.optimizer.steps, "size": m, "loss": loss,
                "accuracy": None if correct is None else correct / m,
                "epoch_loss": acc.loss, "epoch_accuracy": acc.accuracy, "lr": lr,
                "grad_norm": self.optimizer.grad_norm,
                "examples_per_s": acc.count / max(acc.seconds, 1e-9)})
            if self._stop.is_set() and self._batch < len(order):
                return None
        logs = self._end_epoch(epoch, lr, len(order))
        if self._early_stop_check(logs):
            self.stop("early_stopping")
        if self.checkpoint:
            self.save_checkpoint(self.checkpoint)
        _call(self.callbacks, "on_epoch_end", epoch, logs)
        return logs

    def _end_epoch(self, epoch, lr, batches):
        acc = self._accum
        logs = {"epoch": epoch, "epochs": self.config.epochs, "batches": batches,
                "loss": acc.loss, "accuracy": acc.accuracy,
                "lr": lr, "seconds": acc.seconds,
                "examples_per_s": acc.count / max(acc.seconds, 1e-9)}
        test = self.evaluate("test")
        logs["test_loss"], logs["test_accuracy"] = test["loss"], test["accuracy"]
        if self.val_data is not None:
            val = self.evaluate("val")
            logs["val_loss"], logs["val_accuracy"] = val["loss"], val["accuracy"]
        self.history.epochs.append(logs)
        self.epoch = epoch + 1
        self._batch = 0
        return logs

    def _early_stop_check(self, logs):
        es = self.config.early_stopping
        if not es:
            return False
        if self._early is None:
            self._early = {"best": None, "wait": 0, "best_epoch": None,
                           "restore_best": es["restore_best"]}
        st = self._early
        value = logs["val_loss"] if "val_loss" in logs else logs["test_loss"]
        if st["best"] is None or value < st["best"] - es["min_delta"]:
            st.update(best=value, wait=0, best_epoch=logs["epoch"])
            if es["restore_best"]:
                self._best = self.program.state_dict()
            return False
        st["wait"] += 1
        return st["wait"] >= es["patience"]

    def _write_back(self):
        """Trained values into ``graph.params`` (a new dict, swapped in at once)."""
        params = dict(self.graph.params)
        params.update({k: np.array(v) for k, v in self.program.state_dict().items()
                       if k.partition(".")[0] in self.graph})
        self.graph.params = params

    def _install_sigint(self):
        """Ctrl-C → stop after this batch; a second one interrupts at once.
        Returns the function that puts the previous handler back."""
        if not self.handle_sigint or threading.current_thread() is not \
                threading.main_thread():
            return lambda: None

        def on_sigint(signum, frame):
            if self._stop.is_set():
                raise KeyboardInterrupt
            self.stop("interrupted")

        previous = signal.signal(signal.SIGINT, on_sigint)
        return lambda: signal.signal(signal.SIGINT, previous)

    # ---- checkpoints -----------------------------------------------------------------
    def save_checkpoint(self, path):
        """Write parameters, optimizer state, position and random states to
        ``path`` (``.npz``), so that :class:`Trainer` ``(resume=path)`` continues
        exactly where this run is."""
        arrays = {f"param/{k}": v for k, v in self.program.state_dict().items()}
        opt = self.optimizer.state_dict()
        for k, v in opt.items():
            if isinstance(v, np.ndarray):
                arrays[f"opt/{k}"] = v
        if self._best is not None:
            arrays.update({f"best/{k}": v for k, v in self._best.items()})
        meta = {
            "epoch": self.epoch, "batch": self._batch,
            "optimizer": {k: v for k, v in opt.items()
                          if not isinstance(v, np.ndarray)},
            "epoch_rng": self._epoch_rng_state,
            "shuffle_rng": self.shuffle_rng.bit_generator.state,
            "program_rng": self.program.rng.bit_generator.state,
            "accum": self._accum.__dict__, "early": self._early,
            "history": self.history.epochs, "initial": self.history.initial,
            "seconds": self._seconds(),
            "config": self.config.as_dict(),
        }
        write_checkpoint(path, arrays, meta)

    def _load_checkpoint(self, path):
        arrays, meta = load_checkpoint(path)
        params = {k[6:]: v for k, v in arrays.items() if k.startswith("param/")}
        missing = [k for k in self.trainable if k not in params]
        if missing:
            raise TrainingError(f"the checkpoint {path} has no values for "
                                f"{', '.join(missing)}: it belongs to another graph")
        for k, v in params.items():
            if "." not in k and k in self.program.params and \
                    np.shape(v) != np.shape(self.program.params[k]):
                raise TrainingError(f"the checkpoint's '{k}' has shape "
                                    f"{list(np.shape(v))}, the graph's "
                                    f"{list(np.shape(self.program.params[k]))}", node=k)
        cfg = meta.get("config", {})
        if cfg.get("batch_size") not in (None, self.config.batch_size):
            raise TrainingError(f"the checkpoint was trained with batch size "
                                f"{cfg['batch_size']}; resume with the same "
                                f"(--batch-size {cfg['batch_size']})")
        self.program.load_state_dict(params)
        opt = dict(meta["optimizer"])
        opt.update({k[4:]: v for k, v in arrays.items() if k.startswith("opt/")})
        self.optimizer.load_state_dict(opt)
        best = {k[5:]: v for k, v in arrays.items() if k.startswith("best/")}
        self._best = best or None
        self.epoch, self._batch = int(meta["epoch"]), int(meta["batch"])
        self._epoch_rng_state = meta["epoch_rng"]
        self.shuffle_rng.bit_generator.state = meta["shuffle_rng"]
        self.program.rng.bit_generator.state = meta["program_rng"]
        self._accum = _Accum(**meta["accum"])
        self._early = meta.get("early")
        self.history.epochs = list(meta.get("history", []))
        self.history.initial = dict(meta.get("initial") or {})
        self.history.final = {"seconds": float(meta.get("seconds", 0.0))}


def take_gradients(optimizer, prog, grads):
    """Copy ``grads`` into ``optimizer``'s flat buffer and probe it once for NaN
    and ±∞ (not once per Parameter); only when the probe finds one does
    ``prog.check_gradients`` name the node, raising ``ExecutionError``."""
    optimizer.set_grads(grads)
    if not optimizer.grad_is_finite():
        prog.check_gradients(grads)


def _blas_limits(threads):
    if threads is None:
        return None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=int(threads), user_api="blas")


class _Accum:
    """Running sums of one epoch (weighted by batch size)."""

    def __init__(self, loss_sum=0.0, correct=0.0, count=0, seconds=0.0, counted=0):
        self.loss_sum, self.correct, self.count = loss_sum, correct, count
        self.seconds, self.counted = seconds, counted

    def add(self, loss, correct, n):
        self.loss_sum += loss * n
        self.count += n
        if correct is not None:
            self.correct += correct
            self.counted += n

    @property
    def loss(self):
        return self.loss_sum / self.count if self.count else None

    @property
    def accuracy(self):
        return self.correct / self.counted if self.counted else None


def train(graph, epochs=None, batch_size=None, lr=None, callbacks=(), seed=None,
          **options):
    """Train ``graph`` as its ``train`` section says; returns a :class:`History`.

    The trained values go to ``graph.params``, so that :func:`graphlab.save`
    writes them to the sidecar ``.npz``. Keyword options are those of
    :class:`Trainer` (``progress``, ``data``, ``checkpoint``, ``resume``,
    ``bptt``, ``early_stopping``, ``optimizer``, ``dtype``…).

    Examples
    --------
    >>> import graphlab as gl
    >>> g = gl.load("samples/mlp_digits.graph.json")
    >>> h = train(g, epochs=2)
    >>> h.final["test_accuracy"] > 0.8, sorted(g.params)[:2]
    (True, ['fc1_b', 'fc1_w'])

    See also
    --------
    Trainer : the same, with :meth:`Trainer.stop` and :meth:`Trainer.evaluate`.
    """
    return Trainer(graph, epochs=epochs, batch_size=batch_size, lr=lr,
                   callbacks=callbacks, seed=seed, **options).fit()
