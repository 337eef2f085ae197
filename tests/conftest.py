import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, "samples")


def sample(name):
    return os.path.join(SAMPLES, f"{name}.graph.json")


@pytest.fixture
def cs231n():
    import graphlab as gl
    return gl.load(sample("cs231n"))
