"""Training-step throughput of graphlab's generated code against PyTorch (CPU).

    python benchmarks/bench_executor.py [--steps 20] [--rounds 7] [--json]

Times SGD steps (forward, backward, update) of LeNet-5 at batch 64 and 256
(``samples/lenet5.graph.json``: ReLU and max-pools, on 8×8 digits upsampled to
32×32), of the textbook LeNet-5 as d2l.ai builds it (sigmoid and mean-pools,
28×28 inputs, batch 64) and of an LSTM (input 8, hidden 128, 8 steps, batch
64), in float32. When
PyTorch is installed (``pip install torch``), the same models run in PyTorch
eager mode on the CPU in the same process.

How the two are compared: in each of ``--rounds`` rounds, each side times
two runs of ``--steps`` steps back to back with the other (the side that goes
first alternates) and keeps its faster run; the round's ratio is PyTorch's
time over graphlab's (above 1 means graphlab is faster). Printed are the
median of the rounds' ratios and their range, and each side's median
examples per second. On a shared machine both sides swing by 15 % or more
from minute to minute; a ratio from the same minute cancels most of that,
and the median ignores the rounds where a burst of load hit one side only.
"""

import argparse
import json
import os
import sys

import numpy as np

import graphlab as gl
from graphlab.bench import random_feeds, seconds_per_call, time_steps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXTBOOK = "LeNet-5 σ/mean, B=64"


def lstm_graph(hidden=128, steps=8, features=8, classes=10):
    b = gl.GraphBuilder(f"LSTM {features}→{hidden}, T={steps}")
    x = b.input("x", ["N", steps, features])
    y = b.input("y", ["N"], dtype="int64")
    cell = b.lstm(x, hidden, name="lstm")
    logits = b.linear(b.port(cell, "h"), classes, name="fc")
    b.output(b.cross_entropy_loss(logits, y, name="loss"))
    return b.graph


def textbook_lenet_graph():
    """LeNet-5 with sigmoids and 2×2 mean-pools, as in d2l.ai (28×28 inputs)."""
    b = gl.GraphBuilder("LeNet-5, textbook (sigmoid, mean-pool)")
    x = b.input("x", ["N", 1, 28, 28])
    y = b.input("y", ["N"], dtype="int64")
    h = b.sigmoid(b.conv2d(x, 6, 5, padding=2, name="conv1"), name="act1")
    h = b.avg_pool2d(h, kernel=2, name="pool1")
    h = b.sigmoid(b.conv2d(h, 16, 5, name="conv2"), name="act2")
    h = b.flatten(b.avg_pool2d(h, kernel=2, name="pool2"), name="flat")
    h = b.sigmoid(b.linear(h, 120, name="fc1"), name="act3")
    h = b.sigmoid(b.linear(h, 84, name="fc2"), name="act4")
    b.output(b.cross_entropy_loss(b.linear(h, 10, name="fc3"), y, name="loss"))
    return b.graph


def graphlab_case(graph, batch, steps):
    # Compiled as the trainer compiles: fused conv → activation → pool kernels.
    prog = gl.compile(graph, outputs=["loss"], input_grads=False, fuse=True)
    feeds = random_feeds(graph, prog, batch, np.random.default_rng(0))
    return lambda: time_steps(prog, feeds, steps)


def torch_lenet():
    """The LeNet-5 sample's network in PyTorch (upsample ×4, ReLU, max-pools)."""
    import torch
    from torch import nn

    class LeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.up = nn.Upsample(scale_factor=4, mode="nearest")
            self.conv1, self.conv2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
            self.fc1, self.fc2, self.fc3 = (nn.Linear(400, 120), nn.Linear(120, 84),
                                            nn.Linear(84, 10))

        def forward(self, x):
            x = self.up(x)
            x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
            x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
            x = torch.relu(self.fc1(x.flatten(1)))
            return self.fc3(torch.relu(self.fc2(x)))

    return LeNet()


def torch_sgd_step(model, shape, batch, lr=1e-3):
    """``step()``: one PyTorch eager SGD step of ``model`` (cross-entropy) on a
    random batch of ``batch`` examples of ``shape`` and 10 classes."""
    import torch
    from torch import nn
    x = torch.rand(batch, *shape)
    y = torch.randint(0, 10, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    return step


def torch_cases(steps):
    import torch
    from torch import nn
    torch.set_num_threads(2)

    def textbook_lenet():
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), nn.Sigmoid(), nn.AvgPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(),
            nn.Linear(84, 10))

    class LSTMNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.fc = nn.LSTM(8, 128, batch_first=True), nn.Linear(128, 10)

        def forward(self, x):
            _, (h, _) = self.lstm(x)
            return self.fc(h[0])

    def case(model, shape, batch):
        step = torch_sgd_step(model, shape, batch)
        return lambda: seconds_per_call(step, steps)

    return {
        "LeNet-5, B=64": case(torch_lenet(), (1, 8, 8), 64),
        "LeNet-5, B=256": case(torch_lenet(), (1, 8, 8), 256),
        TEXTBOOK: case(textbook_lenet(), (1, 28, 28), 64),
        "LSTM 8→128, T=8, B=64": case(LSTMNet(), (8, 8), 64),
    }


def compare(name, ours, batch, theirs, rounds):
    """One model's row: median examples per second of each side and, with
    PyTorch, the median and the list of the rounds' ratios."""
    ours_s, theirs_s = [], []
    for i in range(rounds):
        if theirs is None:
            ours_s.append(ours())
        elif i % 2:  # alternate who goes first
            theirs_s.append(theirs())
            ours_s.append(ours())
        else:
            ours_s.append(ours())
            theirs_s.append(theirs())
    row = {"model": name, "batch_size": batch,
           "graphlab_examples_per_s": batch / float(np.median(ours_s))}
    if theirs is not None:
        ratios = [t / o for t, o in zip(theirs_s, ours_s)]
        row.update(torch_examples_per_s=batch / float(np.median(theirs_s)),
                   ratio=float(np.median(ratios)),
                   round_ratios=[round(r, 3) for r in ratios])
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--rounds", type=int, default=7,
                   help="interleaved rounds per model (median of their ratios)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    lenet = gl.load(os.path.join(ROOT, "samples", "lenet5.graph.json"))
    ours = {
        "LeNet-5, B=64": (graphlab_case(lenet, 64, args.steps), 64),
        "LeNet-5, B=256": (graphlab_case(lenet, 256, args.steps), 256),
        TEXTBOOK: (graphlab_case(textbook_lenet_graph(), 64, args.steps), 64),
        "LSTM 8→128, T=8, B=64": (graphlab_case(lstm_graph(), 64, args.steps), 64),
    }
    try:
        theirs = torch_cases(args.steps)
    except ImportError:
        theirs = {}
    rows = [compare(name, run, batch, theirs.get(name), args.rounds)
            for name, (run, batch) in ours.items()]
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'model':<24}{'graphlab ex/s':>15}{'PyTorch ex/s':>15}{'ratio':>8}"
          f"{'rounds':>14}")
    for r in rows:
        torch_txt = f"{r['torch_examples_per_s']:>15,.0f}" if "ratio" in r else \
            f"{'(not installed)':>15}"
        ratio = (f"{r['ratio']:>7.2f}×{min(r['round_ratios']):>8.2f}–"
                 f"{max(r['round_ratios']):.2f}") if "ratio" in r else ""
        speed = r["graphlab_examples_per_s"]
        print(f"{r['model']:<24}{speed:>15,.0f}{torch_txt}{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
