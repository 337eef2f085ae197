"""Fixtures shared by the op tests."""

import warnings

import numpy as np
import pytest


@pytest.fixture
def strict_floats():
    """Overflow, 0/0 and log 0 raise; any warning fails. Underflow stays
    allowed: e^(−2000) rounding to 0 is the right answer, in PyTorch as here."""
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise",
                                                divide="raise"):
        warnings.simplefilter("error")
        yield
