"""Keep freed memory for reuse while a build's passes run.

glibc gives large freed blocks back to the system: blocks above the mmap threshold are unmapped
at once, and free memory at the top of a heap beyond the trim threshold is trimmed. The next
array of that size then page-faults anew, and on this project's virtual machines that is slow
(a fresh 216 MB buffer's first fill took 0.03-0.28 s against 0.015 s for a refill:
``python -m benchmarks.bench_scale --fresh-memory``). Where glibc keeps its dynamic threshold
(no ``MALLOC_*`` variable set), it still trims the heap whenever more than twice the last freed
block sits free at its top, which a leaf's temporaries (8-28 MB each per million rows) do all
the time (``bench_scale`` prints a build's kernel CPU seconds and page faults). Dask's nanny starts every worker with
``MALLOC_TRIM_THRESHOLD_=65536``, which also switches the dynamic threshold off, so every array
above 128 KiB is a fresh ``mmap``: on a 1M x 54 float32 leaf, 31,000 page faults and 0.63 CPU-s
instead of 28 and 0.48 CPU-s (``tests/test_malloc.py`` checks the faults).

:func:`reuse_freed_memory` raises glibc's mmap and trim thresholds while any build step in the
process runs (the process-wide setting is taken by the first and given back by the last, as
for BLAS threads). When the last leaves, it sets the values the environment asked for and
returns the freed memory to the system with ``malloc_trim``, so a Dask worker ends each task as
Dask expects. Where the environment set none, this is a lasting, process-wide change: glibc has
no call that turns its dynamic threshold back on, so after the first build the process keeps a
fixed mmap threshold of 32 MiB (the most the dynamic threshold reaches, after a freed mapped
block of that size) and a trim threshold of 64 MiB: arrays up to 32 MiB then come from the heap
and up to 64 MiB of freed memory stays with the process. It does nothing where the C library
is not glibc.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import threading
from contextlib import contextmanager

import numpy as np

# glibc's mallopt parameters and defaults (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_DEFAULT_TRIM = 128 * 1024
_DEFAULT_MMAP = 128 * 1024
#: While a build runs: arrays up to this size come from malloc's heaps (glibc's largest mmap
#: threshold on 64-bit is 32 MiB)...
_BUILD_MMAP = 32 * 1024 * 1024
#: ... and up to this much freed memory is kept for the next allocation.
_BUILD_TRIM = 1024 * 1024 * 1024
#: After a build where the environment sets no threshold: glibc's largest dynamic mmap
#: threshold and the trim threshold the dynamic rule pairs with it (twice).
_AFTER_MMAP = 32 * 1024 * 1024
_AFTER_TRIM = 2 * _AFTER_MMAP
_VARIABLES = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_",
              "MALLOC_MMAP_MAX_")  # fmt: skip

_lock = threading.Lock()
_users = 0
_libc = []  # [the C library, or None where it is not glibc], loaded once


def _glibc():
    if not _libc:
        library = None
        try:
            candidate = ctypes.CDLL(None)
            candidate.gnu_get_libc_version.restype = ctypes.c_char_p
            candidate.gnu_get_libc_version()
            candidate.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            candidate.malloc_trim.argtypes = [ctypes.c_size_t]
            library = candidate
        except (OSError, AttributeError, TypeError, ValueError):  # not glibc, or no C library
            pass
        _libc.append(library)
    return _libc[0]


def _environment_value(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def needed() -> bool:
    """Whether the thresholds are raised during builds: wherever glibc is the C library."""
    return _glibc() is not None


def _after_build() -> tuple[int, int]:
    """(mmap threshold, trim threshold) to set when the last build step leaves."""
    if any(name in os.environ for name in _VARIABLES):  # what the environment asked for
        return (_environment_value("MALLOC_MMAP_THRESHOLD_", _DEFAULT_MMAP),
                _environment_value("MALLOC_TRIM_THRESHOLD_", _DEFAULT_TRIM))  # fmt: skip
    return _AFTER_MMAP, _AFTER_TRIM


@contextmanager
def reuse_freed_memory():
    """Inside: freed memory is kept for reuse (see the module docstring)."""
    global _users
    with _lock:
        active = _users > 0 or needed()
        if active:
            if _users == 0:
                _glibc().mallopt(_M_MMAP_THRESHOLD, _BUILD_MMAP)
                _glibc().mallopt(_M_TRIM_THRESHOLD, _BUILD_TRIM)
            _users += 1
    try:
        yield
    finally:
        if active:
            with _lock:
                _users -= 1
                if _users == 0:
                    libc = _glibc()
                    mmap_threshold, trim_threshold = _after_build()
                    libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
                    libc.mallopt(_M_TRIM_THRESHOLD, trim_threshold)
                    libc.malloc_trim(0)


def populated_empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised array whose pages are mapped at once (Linux ``MAP_POPULATE``): one
    system call instead of a page fault per page on first touch. For buffers that a build fills
    many times (the file readers' chunk buffers, hundreds of MB): on this project's virtual
    machines a fresh 216 MB buffer's first fill took about 0.1 s this way and 0.03-0.28 s
    faulted in page by page (``python -m benchmarks.bench_scale --fresh-memory``; the low end
    where the machine's memory was recently in use). Falls back to ``np.empty`` where there is
    no such flag."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    populate = getattr(mmap, "MAP_POPULATE", None)
    if populate is None or nbytes < _BUILD_MMAP:
        return np.empty(shape, dtype=dtype)
    try:
        region = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | populate)
    except (OSError, ValueError):
        return np.empty(shape, dtype=dtype)
    return np.frombuffer(region, dtype=dtype).reshape(shape)
