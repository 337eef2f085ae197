"""The Playground samples reach the figures the README quotes, trained exactly
as their files say (about 4 s together, so not slow-marked)."""

import pytest

import graphlab as gl

from .conftest import sample


@pytest.mark.parametrize("name, low, high", [
    ("playground_circle_2", 0.70, 0.85),  # two half-planes cannot enclose a disc
    ("playground_circle_4", 0.99, 1.0),
    ("playground_circle_6", 0.99, 1.0),
    ("playground_xor", 0.97, 1.0),
    ("playground_spiral", 0.90, 1.0),  # from x1, x2 alone
])
def test_playground_sample_reaches_its_figure(name, low, high):
    g = gl.load(sample(name))
    assert g.train["data"]["features"] == ["x1", "x2"]
    history = gl.Trainer(g).fit()
    acc = history.final["test_accuracy"]
    assert low <= acc <= high, f"{name}: held-out accuracy {acc:.3f}"
