"""Freed memory kept for the next training step."""

import resource
import sys

import numpy as np
import pytest

from graphlab._malloc import keep_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_repeated_large_arrays_reuse_their_pages():
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True  # idempotent
    for _ in range(3):
        a = np.ones((1000, 1000))  # 8 MB, once served by mmap
        del a
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        a = np.ones((1000, 1000))
        del a
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 100  # fresh pages each time would be 20 × 1953
