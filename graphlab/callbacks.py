"""What a training run reports: its :class:`History` and the :class:`Callback`
hooks it calls (:class:`ProgressBar` draws the progress on a terminal).

Callbacks run on the thread that calls :meth:`graphlab.Trainer.fit`; ``logs``
is a dict of the numbers of the moment (``loss``, ``accuracy``, ``val_loss``,
``lr``…), as in Keras.
"""

import math
import sys
import time

__all__ = ["History", "Callback", "ProgressBar"]


class History:
    """What a training run did, epoch by epoch.

    Attributes
    ----------
    epochs : list of dict
        One ``logs`` dict per completed epoch (``epoch``, ``loss``,
        ``accuracy``, ``test_loss``, ``test_accuracy``, ``lr``, ``seconds``…).
    initial : dict
        ``test_loss`` and ``test_accuracy`` before the first step.
    final : dict
        ``train_loss``, ``test_loss``, ``test_accuracy`` (None without the
        accuracy metric) after the last step, ``epochs`` completed,
        ``batches`` of a last, partial epoch, and ``seconds`` of training.
    stopped : str
        ``"completed"``, ``"early_stopping"``, ``"stopped"`` (:meth:`Trainer.stop`)
        or ``"interrupted"`` (Ctrl-C).

    ``history["loss"]`` lists one key over the epochs, as Keras' does.
    """

    def __init__(self):
        self.epochs = []
        self.initial = {}
        self.final = {}
        self.stopped = "completed"

    def __getitem__(self, key):
        return [e.get(key) for e in self.epochs]

    def __len__(self):
        return len(self.epochs)

    def as_dict(self):
        return {"epochs": self.epochs, "initial": self.initial, "final": self.final,
                "stopped": self.stopped}

    def __repr__(self):
        f = self.final
        return (f"<History {f.get('epochs', len(self.epochs))} epochs, {self.stopped}, "
                f"test_loss={f.get('test_loss')}, "
                f"test_accuracy={f.get('test_accuracy')}>")


class Callback:
    """Base for callbacks; every method is optional (any object will do).

    ``on_train_begin(logs)``: ``epochs``, ``batches`` per epoch, ``examples``,
    ``batch_size``, ``lr``, ``start_epoch`` and the untrained ``test_loss``,
    ``test_accuracy``. ``on_epoch_begin(epoch, logs)``. ``on_batch_end(batch,
    logs)``: ``epoch``, ``batch``, ``batches``, ``step``, ``size``, ``loss``,
    ``accuracy`` of the batch, ``epoch_loss``, ``epoch_accuracy`` so far, ``lr``,
    ``grad_norm`` (with clipping), ``examples_per_s``. ``on_epoch_end(epoch,
    logs)``: ``loss``, ``accuracy``, ``test_loss``, ``test_accuracy`` (and
    ``val_*``), ``lr``, ``seconds``, ``examples_per_s``. ``on_train_end(logs)``:
    :attr:`History.final`. Epochs and batches count from 0.
    """

    def on_train_begin(self, logs):
        pass

    def on_epoch_begin(self, epoch, logs):
        pass

    def on_batch_end(self, batch, logs):
        pass

    def on_epoch_end(self, epoch, logs):
        pass

    def on_train_end(self, logs):
        pass


class ProgressBar(Callback):
    """A plain-text progress bar per epoch on standard error.

    On a terminal the line is redrawn with ``\\r`` (at most ten times a
    second); elsewhere only finished epochs are written. Long runs keep about
    thirty epoch lines (every k-th epoch, and the last).
    """

    def __init__(self, stream=None, width=24, interval=0.1, lines=30):
        self.stream = stream if stream is not None else sys.stderr
        self.width, self.interval, self.lines = width, interval, lines
        try:
            self.live = self.stream.isatty()
        except (AttributeError, ValueError):
            self.live = False
        self._last = 0.0
        self._epochs = 0
        self._every = 1
        self._pending = None

    def on_train_begin(self, logs):
        self._epochs = logs.get("epochs", 0)
        self._every = max(1, math.ceil(self._epochs / self.lines))

    def _bar(self, done, total):
        filled = int(self.width * done / max(total, 1))
        return "█" * filled + "·" * (self.width - filled)

    def _metrics(self, logs, prefix=""):
        parts = []
        if logs.get(prefix + "loss") is not None:
            parts.append(f"{prefix}loss {logs[prefix + 'loss']:.4f}")
        if logs.get(prefix + "accuracy") is not None:
            parts.append(f"{prefix}acc {100 * logs[prefix + 'accuracy']:.1f}%")
        return parts

    def _head(self, epoch):
        w = len(str(self._epochs))
        return f"epoch {epoch + 1:>{w}}/{self._epochs}"

    def on_batch_end(self, batch, logs):
        if not self.live:
            return
        now = time.perf_counter()
        if now - self._last < self.interval and batch + 1 < logs["batches"]:
            return
        self._last = now
        run = {"loss": logs.get("epoch_loss"), "accuracy": logs.get("epoch_accuracy")}
        n = logs["batches"]
        parts = [self._head(logs["epoch"]),
                 f"{self._bar(batch + 1, n)} {batch + 1}/{n}"]
        parts += self._metrics(run)
        parts.append(f"{logs['examples_per_s']:,.0f} ex/s")
        self.stream.write("\r" + "  ".join(parts) + "\x1b[K")
        self.stream.flush()

    def on_epoch_end(self, epoch, logs):
        parts = [self._head(epoch), f"{self._bar(1, 1)} {logs['batches']}/"
                 f"{logs['batches']}"]
        parts += self._metrics(logs)
        held = "val_" if logs.get("val_loss") is not None else "test_"
        parts += self._metrics(logs, held)
        parts.append(f"{logs['examples_per_s']:,.0f} ex/s  {logs['seconds']:.1f} s")
        line = "  ".join(parts)
        if (epoch + 1) % self._every and epoch + 1 < self._epochs:
            self._pending = line
            if self.live:
                self.stream.write("\r" + line + "\x1b[K")
        else:
            self._pending = None
            self.stream.write(("\r" if self.live else "") + line
                              + ("\x1b[K" if self.live else "") + "\n")
        self.stream.flush()

    def on_train_end(self, logs):
        partial = logs.get("partial_batches")
        if self._pending and not partial:  # the last epoch line was held back
            self.stream.write(("\r" if self.live else "") + self._pending + "\n")
        elif partial and self.live:
            self.stream.write("\n")
        self._pending = None
        self.stream.flush()
