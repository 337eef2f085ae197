"""Keeping freed memory in the process between training steps (glibc only).

A training step allocates the same large arrays every time (activations,
gradients). By default glibc serves blocks over 128 KiB with ``mmap`` and gives
them back to the system on ``free``, so every step touches fresh pages:
hundreds of page faults per LeNet-5 step, 5–10 % of its time. Raising the
mmap threshold and the trim threshold keeps freed blocks in the heap for the
next step (PyTorch's CPU allocator keeps a cache for the same reason).
"""

import ctypes
import ctypes.util
import sys

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_MAX = 32 << 20  # glibc's ceiling for the mmap threshold on 64-bit
_TRIM = 512 << 20

_done = False


def keep_freed_memory():
    """Serve blocks up to 32 MiB from the heap and keep up to 512 MiB of freed
    memory there; returns whether it took effect (glibc on Linux only).

    Process-wide and idempotent; the trainer and the benchmarks call it.
    """
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    _done = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_MAX)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM))
    return _done
