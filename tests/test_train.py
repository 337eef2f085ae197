"""The trainer: samples that learn, reproducibility, callbacks, stopping, divergence,
checkpoints, truncated BPTT, and ``graphlab train``."""

import json
import os
import shutil
import signal
import threading
import time
from unittest import mock

import numpy as np
import pytest

import graphlab as gl
from graphlab.data import digits
from graphlab.errors import TrainingError
from graphlab.train import Callback, History, Trainer, train

from .conftest import SAMPLES, sample

TRAINED_SAMPLES = sorted(
    f[:-len(".graph.json")] for f in os.listdir(SAMPLES)
    if f.endswith(".graph.json") and gl.load(os.path.join(SAMPLES, f)).train)


def _mlp(name="mlp", hidden=32, batchnorm=False, dropout=0.0, optimizer=None,
         epochs=4, **section):
    """A small digits classifier built in code (optionally BatchNorm, Dropout)."""
    b = gl.GraphBuilder(name)
    x = b.input("x", ["N", 64])
    y = b.input("y", ["N"], dtype="int64")
    h = b.linear(x, hidden, name="fc1")
    if batchnorm:
        h = b.batchnorm(h, name="bn")
    h = b.relu(h, name="relu")
    if dropout:
        h = b.dropout(h, p=dropout, name="drop")
    logits = b.linear(h, 10, name="fc2")
    b.output(b.cross_entropy_loss(logits, y, name="loss"), logits)
    b.train(loss="loss", data={"dataset": "digits", "feeds": {"x": "images",
                                                              "y": "labels"}},
            optimizer=optimizer or {"type": "adam", "lr": 0.01}, batch_size=32,
            epochs=epochs, **section)
    return b.build()


class Recorder(Callback):
    def __init__(self):
        self.events = []

    def on_train_begin(self, logs):
        self.events.append(("train_begin", logs))

    def on_batch_end(self, batch, logs):
        self.events.append(("batch", batch, logs))

    def on_epoch_end(self, epoch, logs):
        self.events.append(("epoch", epoch, logs))

    def on_train_end(self, logs):
        self.events.append(("train_end", logs))


class StopAt(Callback):
    """Asks the trainer to stop at (epoch, batch), or at an epoch's end."""

    def __init__(self, epoch, batch=None):
        self.epoch, self.batch, self.trainer = epoch, batch, None

    def on_batch_end(self, batch, logs):
        if (logs["epoch"], batch) == (self.epoch, self.batch):
            self.trainer.stop()

    def on_epoch_end(self, epoch, logs):
        if self.batch is None and epoch == self.epoch:
            self.trainer.stop()


def _fit_with(graph, cb, **kw):
    trainer = Trainer(graph, callbacks=[cb], **kw)
    cb.trainer = trainer
    return trainer, trainer.fit()


# ---- samples learn -------------------------------------------------------------------

def test_mlp_xor_solves_xor():
    g = gl.load(sample("mlp_xor"))
    history = train(g)
    assert history.final["test_accuracy"] == 1.0
    assert history.final["test_loss"] < 0.05


def test_mlp_digits_reaches_95_percent():
    g = gl.load(sample("mlp_digits"))
    assert train(g).final["test_accuracy"] >= 0.95


@pytest.mark.parametrize("name, epochs, target", [
    ("lstm_digits", 5, 0.90), ("gru_digits", 5, 0.90), ("rnn_digits", 5, 0.85),
    ("lenet5", 2, 0.85)])
def test_short_runs_learn_digits(name, epochs, target):
    history = train(gl.load(sample(name)), epochs=epochs)
    assert history.final["test_accuracy"] >= target
    assert history.initial["test_accuracy"] < 0.3


def test_autoencoder_reconstruction_loss_falls_by_half():
    history = train(gl.load(sample("autoencoder_digits")), epochs=2)
    assert history.final["test_accuracy"] is None
    assert history.final["test_loss"] <= 0.5 * history.initial["test_loss"]


@pytest.mark.parametrize("dataset, extra", [("spiral", {}), ("xor", {"n": 400})])
def test_playground_sets_are_learnable(dataset, extra):
    b = gl.GraphBuilder(dataset)
    x = b.input("x", ["N", 2])
    y = b.input("y", ["N"], dtype="int64")
    h = b.tanh(b.linear(x, 16, name="fc1", init="xavier_uniform"), name="h1")
    h = b.tanh(b.linear(h, 16, name="fc2", init="xavier_uniform"), name="h2")
    logits = b.linear(h, 2, name="fc3")
    b.output(b.cross_entropy_loss(logits, y, name="loss"), logits)
    b.train(loss="loss", data={"dataset": dataset, "feeds": {"x": "inputs",
                                                             "y": "labels"}, **extra},
            optimizer={"type": "adam", "lr": 0.03, "schedule": {"type": "cosine"}},
            batch_size=32, epochs=150)
    assert train(b.build()).final["test_accuracy"] >= 0.95


@pytest.mark.parametrize("name", TRAINED_SAMPLES)
def test_every_sample_trains_an_epoch(name):
    history = train(gl.load(sample(name)), epochs=1)
    assert np.isfinite(history.final["train_loss"])
    assert np.isfinite(history.final["test_loss"])


# ---- results and reproducibility -----------------------------------------------------

def test_same_seed_same_run_other_seed_other_run():
    runs = []
    for seed in (0, 0, 1):
        g = gl.load(sample("mlp_digits"))
        train(g, epochs=2, seed=seed)
        runs.append(g.params["fc1_w"])
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_trained_values_go_to_graph_params_and_the_sidecar(tmp_path):
    g = gl.load(sample("mlp_digits"))
    history = train(g, epochs=3)
    assert set(g.params) == {"fc1_w", "fc1_b", "fc2_w", "fc2_b"}
    gl.save(g, tmp_path / "m.graph.json")
    g2 = gl.load(tmp_path / "m.graph.json")
    assert g2.params_file == "m.params.npz"
    prog = gl.compile(g2, training=False)
    d = digits()
    out = prog.forward({"x": d["images"].reshape(-1, 64), "y": d["labels"]})
    accuracy = (out["fc2"].argmax(axis=1) == d["labels"]).mean()
    assert accuracy >= history.final["test_accuracy"] - 0.05


def test_training_continues_from_stored_params_unless_fresh():
    g = gl.load(sample("mlp_digits"))
    train(g, epochs=5)
    again = Trainer(g, epochs=1)
    assert again.resumed_from_params
    assert again.evaluate()["accuracy"] >= 0.9
    assert Trainer(g, epochs=1, fresh=True).evaluate()["accuracy"] < 0.3


def test_overrides_change_epochs_batch_size_and_lr():
    rec = Recorder()
    g = gl.load(sample("mlp_digits"))
    history = train(g, epochs=2, batch_size=100, lr=0.003, callbacks=[rec])
    # mlp_digits anneals with a cosine schedule: it starts from the given rate
    # and is halfway down (1 + cos(π/2))/2 = ½ for the second of 2 epochs
    assert len(history) == 2 and history["lr"] == pytest.approx([0.003, 0.0015])
    batches = [e for e in rec.events if e[0] == "batch"]
    assert len(batches) == 2 * 15 and batches[0][2]["size"] == 100


def test_history_reads_like_keras():
    history = train(gl.load(sample("mlp_digits")), epochs=3)
    assert isinstance(history, History) and len(history["loss"]) == 3
    assert history["loss"][0] > history["loss"][-1]
    assert set(history.epochs[0]) >= {"loss", "accuracy", "test_loss",
                                      "test_accuracy", "lr", "seconds"}


def test_cosine_schedule_lowers_the_rate_each_epoch():
    g = _mlp(optimizer={"type": "sgd", "lr": 0.1, "schedule": {"type": "cosine"}},
             epochs=4)
    history = train(g)
    assert history["lr"] == pytest.approx([0.1, 0.0853553, 0.05, 0.0146447], rel=1e-5)


def test_accuracy_found_behind_a_sum_of_losses():
    b = gl.GraphBuilder("ce + l2")
    x = b.input("x", ["N", 64])
    y = b.input("y", ["N"], dtype="int64")
    logits = b.linear(x, 10, name="fc")
    ce = b.cross_entropy_loss(logits, y, name="ce")
    total = b.add(ce, b.l2_penalty("fc_w", weight=1e-3, name="l2"), name="total")
    b.output(total, logits)
    b.train(loss="total", data={"dataset": "digits", "feeds": {"x": "images",
                                                               "y": "labels"}},
            optimizer={"type": "adam", "lr": 0.01}, epochs=3)
    history = train(b.build())
    assert history.final["test_accuracy"] >= 0.9


def test_frozen_parameters_are_not_updated():
    g = gl.load(sample("mlp_digits"))
    g.set_attr("fc1_w", "trainable", False)
    before = gl.compile(g).params["fc1_w"].copy()
    history = train(g, epochs=2)
    np.testing.assert_array_equal(g.params["fc1_w"], before)
    assert history.final["test_accuracy"] > 0.8  # the rest still learns


def test_metrics_can_be_switched_off():
    g = gl.load(sample("mlp_digits"))
    g.train = dict(g.train, metrics=[])
    history = train(g, epochs=1)
    assert history.final["test_accuracy"] is None and history["accuracy"] == [None]


def test_batchnorm_statistics_go_back_to_graph_params():
    g = _mlp(batchnorm=True, epochs=2)
    train(g)
    assert {"bn.running_mean", "bn.running_var"} <= set(g.params)
    assert np.abs(g.params["bn.running_mean"]).sum() > 0


# ---- callbacks and stopping ----------------------------------------------------------

def test_callbacks_see_batches_and_epochs_in_order():
    rec = Recorder()
    train(gl.load(sample("mlp_digits")), epochs=2, callbacks=[rec])
    kinds = [e[0] for e in rec.events]
    assert kinds[0] == "train_begin" and kinds[-1] == "train_end"
    assert kinds.count("epoch") == 2 and kinds.count("batch") == 2 * 45
    assert kinds.index("epoch") == 46  # after the first epoch's 45 batches
    batch_logs = rec.events[1][2]
    assert set(batch_logs) >= {"epoch", "batch", "batches", "loss", "accuracy", "lr",
                               "examples_per_s", "step"}
    epoch_logs = rec.events[46][2]
    assert epoch_logs["epoch"] == 0 and 0 <= epoch_logs["test_accuracy"] <= 1


def test_stop_is_honoured_after_the_current_batch():
    rec = Recorder()
    g = gl.load(sample("mlp_digits"))
    stop = StopAt(1, 4)
    trainer = Trainer(g, epochs=5, callbacks=[stop, rec])
    stop.trainer = trainer
    history = trainer.fit()
    assert history.stopped == "stopped"
    assert sum(e[0] == "batch" for e in rec.events) == 45 + 5
    assert history.final["epochs"] == 1 and history.final["batches"] == 5
    assert "fc1_w" in g.params  # what was trained is kept


def test_stop_from_another_thread_while_fit_runs_on_a_worker():
    g = gl.load(sample("mlp_digits"))
    started, threads, result = threading.Event(), set(), []

    class Slow(Callback):
        def on_batch_end(self, batch, logs):
            threads.add(threading.current_thread().name)
            started.set()
            time.sleep(0.001)

    trainer = Trainer(g, epochs=10_000, callbacks=[Slow()])
    worker = threading.Thread(target=lambda: result.append(trainer.fit()),
                              name="trainer")
    worker.start()
    assert started.wait(30)
    trainer.stop()
    worker.join(60)
    assert not worker.is_alive()
    assert result[0].stopped == "stopped" and result[0].final["epochs"] < 10_000
    assert threads == {"trainer"}


def test_ctrl_c_stops_after_the_batch_and_keeps_the_training():
    g = gl.load(sample("mlp_digits"))

    class CtrlC(Callback):
        def on_batch_end(self, batch, logs):
            if logs["epoch"] == 1 and batch == 2:
                os.kill(os.getpid(), signal.SIGINT)

    history = train(g, epochs=5, callbacks=[CtrlC()])
    assert history.stopped == "interrupted"
    assert (history.final["epochs"], history.final["batches"]) == (1, 3)
    assert history.final["test_accuracy"] > 0.8
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_early_stopping_on_held_out_loss():
    g = _mlp(epochs=50, early_stopping={"patience": 2, "min_delta": 10.0})
    history = train(g)
    assert history.stopped == "early_stopping"
    assert len(history) == 3  # the first epoch sets the best; two more do not beat it


def test_early_stopping_can_restore_the_best_weights():
    g = _mlp(epochs=50, early_stopping={"patience": 1, "min_delta": 10.0,
                                        "restore_best": True})
    history = train(g)
    assert history.final["test_loss"] == pytest.approx(history["test_loss"][0])


# ---- divergence and bad set-ups ------------------------------------------------------

def test_divergence_names_the_node_and_asks_for_a_lower_learning_rate():
    g = gl.load(sample("mlp_digits"))
    with pytest.raises(TrainingError) as e:
        train(g, epochs=3, lr=1e30, optimizer={"type": "sgd"})
    assert e.value.node in g
    assert "diverged" in e.value.message
    assert "lower the learning rate" in e.value.message
    assert "--lr" in e.value.message
    assert not g.params  # nothing broken is written back


def test_input_without_data_is_named():
    g = gl.load(sample("mlp_digits"))
    g.train = dict(g.train, data={"dataset": "digits", "feeds": {"x": "images"}})
    with pytest.raises(TrainingError) as e:
        Trainer(g)
    assert e.value.node == "y" and "train.data.feeds" in e.value.message


def test_labels_outside_the_classes_are_refused():
    g = gl.load(sample("mlp_xor"))  # feeds x ← inputs, y ← labels; 2 classes
    data = {"inputs": np.zeros((8, 2), np.float32), "labels": np.arange(8) % 3}
    with pytest.raises(TrainingError, match="2 classes") as e:
        Trainer(g, data=data)
    assert e.value.node == "y"


def test_arrays_given_in_python_replace_the_dataset():
    g = gl.load(sample("mlp_xor"))
    g.train = {k: v for k, v in g.train.items() if k != "data"}
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (200, 2)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    history = train(g, data={"x": x, "y": y}, epochs=30, batch_size=20)
    assert history.final["test_accuracy"] >= 0.9


def test_unknown_train_key_is_named():
    g = gl.load(sample("mlp_digits"))
    g.train = dict(g.train, epoch=3)
    with pytest.raises(TrainingError, match='did you mean "epochs"'):
        Trainer(g)


# ---- checkpoints ---------------------------------------------------------------------

def _stateful(**section):
    """BatchNorm, Dropout, Nesterov momentum, a step schedule: all state resumes."""
    return _mlp(batchnorm=True, dropout=0.2, epochs=4,
                optimizer={"type": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True,
                           "schedule": {"type": "step", "step_size": 1, "gamma": 0.7}},
                **section)


def _same_run(a, b, ga, gb):
    assert set(ga.params) == set(gb.params)
    for k in ga.params:
        np.testing.assert_array_equal(ga.params[k], gb.params[k], err_msg=k)
    for ea, eb in zip(a.epochs, b.epochs):
        for k in ("loss", "accuracy", "test_loss", "test_accuracy", "lr"):
            assert ea[k] == eb[k], k


def test_two_epochs_then_resume_two_equals_four_epochs(tmp_path):
    ck = str(tmp_path / "ck.npz")
    g_full = _stateful()
    full = train(g_full)
    train(_stateful(), epochs=2, checkpoint=ck)
    g_res = _stateful()
    resumed = train(g_res, epochs=4, resume=ck)
    assert len(resumed) == 4
    _same_run(full, resumed, g_full, g_res)


def test_resume_from_the_middle_of_an_epoch(tmp_path):
    ck = str(tmp_path / "ck.npz")
    g_full = _stateful()
    full = train(g_full)
    _, stopped = _fit_with(_stateful(), StopAt(2, 17), checkpoint=ck)
    assert (stopped.final["epochs"], stopped.final["batches"]) == (2, 18)
    g_res = _stateful()
    resumed = train(g_res, resume=ck)
    _same_run(full, resumed, g_full, g_res)


def test_resume_refuses_another_graphs_checkpoint(tmp_path):
    ck = str(tmp_path / "ck.npz")
    train(gl.load(sample("mlp_xor")), epochs=1, checkpoint=ck)
    with pytest.raises(TrainingError, match="another graph|shape"):
        Trainer(gl.load(sample("mlp_digits")), resume=ck)


# ---- truncated BPTT ------------------------------------------------------------------

def test_bptt_wires_h0_and_c0_and_chunks_the_sequence():
    trainer = Trainer(gl.load(sample("lstm_digits")), bptt=3)
    assert trainer.carry == {"lstm_h0": "lstm:h", "lstm_c0": "lstm:c"}
    assert trainer.chunked == ["x"] and sorted(trainer.programs) == [2, 3]


def test_bptt_chunks_carrying_state_compute_the_whole_sequence():
    trainer = Trainer(gl.load(sample("lstm_digits")), bptt=4, dtype="float64")
    x = trainer.test_data["x"][:20]
    y = trainer.test_data["y"][:20]
    whole = trainer.eval_program.forward({"x": x, "y": y})["fc"]
    prog = trainer.programs[4].eval()
    state = {"lstm_h0": np.zeros((20, 64)), "lstm_c0": np.zeros((20, 64))}
    for start in (0, 4):
        out = prog.forward(dict(state, x=x[:, start:start + 4], y=y))
        state = {"lstm_h0": out["lstm:h"], "lstm_c0": out["lstm:c"]}
    np.testing.assert_allclose(out["fc"], whole, rtol=1e-10, atol=1e-12)


def test_bptt_of_the_whole_sequence_is_plain_training():
    g1, g2 = gl.load(sample("gru_digits")), gl.load(sample("gru_digits"))
    train(g1, epochs=1)
    train(g2, epochs=1, bptt=8)
    np.testing.assert_array_equal(g1.params["gru_w_hh"], g2.params["gru_w_hh"])


def test_bptt_trains_an_lstm():
    g = gl.load(sample("lstm_digits"))
    history = train(g, epochs=5, bptt=4)
    assert history.final["test_accuracy"] >= 0.85
    assert "lstm_h0" not in g.params and "lstm_w_hh" in g.params


def test_bptt_needs_a_recurrent_node():
    with pytest.raises(TrainingError, match="recurrent"):
        Trainer(gl.load(sample("mlp_digits")), bptt=4)


# ---- command line --------------------------------------------------------------------

def _cli(argv):
    """``graphlab ARGV`` in this process; returns the exit status."""
    from graphlab import cli
    return cli.main(argv)


@pytest.fixture
def xor_file(tmp_path):
    path = tmp_path / "mlp_xor.graph.json"
    shutil.copy(sample("mlp_xor"), path)
    return str(path)


def test_cli_train_json_prints_the_spec_object(xor_file, capsys):
    assert _cli(["train", xor_file, "--json", "--epochs", "150"]) == 0
    out, err = capsys.readouterr()
    obj = json.loads(out)
    assert {"epochs", "train_loss", "test_loss", "test_accuracy", "seconds"} <= set(obj)
    assert obj["epochs"] == 150 and obj["test_accuracy"] == 1.0
    assert err == ""  # no progress bar with --json


def test_cli_train_shows_progress_on_stderr(xor_file, capsys):
    assert _cli(["train", xor_file, "--epochs", "3", "--lr", "0.01",
                 "--batch-size", "2"]) == 0
    out, err = capsys.readouterr()
    assert "epoch 3/3" in err and "2/2" in err and "ex/s" in err
    assert "3 epochs" in out and "test accuracy" in out


def test_cli_save_writes_params_and_the_graph_loads_them(xor_file, tmp_path, capsys):
    params = str(tmp_path / "out" / "xor.npz")
    os.makedirs(os.path.dirname(params))
    assert _cli(["train", xor_file, "--save", params, "--json"]) == 0
    capsys.readouterr()
    g = gl.load(xor_file)
    assert g.params_file == "out/xor.npz" and set(g.params) >= {"fc1_w", "fc2_b"}
    assert _cli(["run", xor_file, "--json", "--feed", "x=[[0,0],[0,1],[1,0],[1,1]]",
                 "--feed", "y=[0,1,1,0]"]) == 0
    logits = np.array(json.loads(capsys.readouterr().out)["outputs"]["fc2"])
    assert logits.argmax(axis=1).tolist() == [0, 1, 1, 0]


def test_cli_save_no_link_leaves_the_graph_file(xor_file, tmp_path, capsys):
    with open(xor_file) as f:
        before = f.read()
    params = str(tmp_path / "p.npz")
    assert _cli(["train", xor_file, "--epochs", "2", "--save", params,
                 "--no-link"]) == 0
    with open(xor_file) as f:
        assert f.read() == before
    assert os.path.exists(params)


def test_cli_reports_training_errors_in_the_usual_form(xor_file, capsys):
    g = gl.load(xor_file)
    g.train["data"] = {"dataset": "digits", "feeds": {"x": "images", "y": "labels"}}
    gl.save(g, xor_file)
    capsys.readouterr()
    assert _cli(["train", xor_file]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {xor_file}: node 'x': ")
    assert "8×8" in err and "N×2" in err


def test_cli_train_threads_limits_blas_while_training(xor_file, capsys):
    seen = []
    real = gl.Trainer.__init__

    def spy(self, *args, **kw):
        seen.append(kw.get("threads"))
        real(self, *args, **kw)

    with mock.patch.object(gl.Trainer, "__init__", spy):
        assert _cli(["train", xor_file, "--json", "--epochs", "2",
                     "--threads", "1"]) == 0
        assert _cli(["train", xor_file, "--json", "--epochs", "2"]) == 0
    assert seen == [1, None]  # None: BLAS keeps its own threads


def test_trainer_runs_fused_kernels_by_default():
    trainer = gl.Trainer(gl.load(sample("lenet5")), epochs=1, handle_sigint=False)
    assert "(fused)" in trainer.program.source
    unfused = gl.Trainer(gl.load(sample("lenet5")), epochs=1, handle_sigint=False,
                         fuse=False)
    assert "(fused)" not in unfused.program.source


def test_a_gradient_that_diverges_under_a_finite_loss_names_its_node():
    # √(w²) at w = 0: the loss is 0, its gradient 0·∞ = NaN. The trainer finds it
    # with one probe of its flat gradient and then names the Parameter.
    b = gl.GraphBuilder("nan gradient")
    x = b.input("x", ["N", 64])
    y = b.input("y", ["N"], dtype="int64")
    w = b.parameter("w", [10], value=[0.0] * 10)
    r = b.op("Sqrt", b.op("Mul", w, w), name="r")
    logits = b.op("Add", b.linear(x, 10, name="fc"), r, name="logits")
    b.output(b.cross_entropy_loss(logits, y, name="loss"))
    b.train(loss="loss", data={"dataset": "digits", "feeds": {"x": "images",
                                                              "y": "labels"}},
            optimizer={"type": "sgd", "lr": 0.1}, batch_size=8, epochs=1)
    with pytest.raises(TrainingError) as e:
        train(b.build())
    assert e.value.node == "w"
    assert "its gradient became NaN or infinite" in e.value.message


def test_a_checkpoint_path_over_a_graph_file_is_refused_from_python(tmp_path):
    g = _mlp(epochs=1)
    path = tmp_path / "model.graph.json"
    gl.save(g, str(path))
    other = tmp_path / "other.json"
    other.write_text(path.read_text())  # a graph file by its contents
    before = path.read_text()
    for target in (path, other, tmp_path / "new.graph.json", tmp_path,
                   tmp_path / "missing" / "ckpt.npz"):
        with pytest.raises(TrainingError, match="checkpoint="):
            Trainer(gl.load(str(path)), checkpoint=str(target), progress=False)
    assert path.read_text() == before
