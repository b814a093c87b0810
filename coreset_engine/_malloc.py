"""Keep freed memory for reuse while a build's passes run, where malloc was told not to.

Dask's nanny starts every worker with ``MALLOC_TRIM_THRESHOLD_=65536`` (so that freed memory
goes back to the system at once and the worker's memory reading stays honest). Setting any such
variable also switches off glibc's dynamic mmap threshold, so every array above 128 KiB is a
fresh ``mmap``: a leaf's temporaries (scores, hashes, GEMM blocks) then page-fault anew each
time. Measured on a 1M x 54 float32 leaf: 31,000 page faults and 0.63 CPU-s instead of 28 and
0.48 CPU-s (``tests/test_malloc.py`` checks the faults).

:func:`reuse_freed_memory` raises glibc's mmap and trim thresholds while any build step in the
process runs (the process-wide setting is taken by the first and given back by the last, as
for BLAS threads), then restores the values the environment asked for and returns the freed
memory to the system with ``malloc_trim``, so the worker ends each task as Dask expects. It does
nothing where the environment sets none of glibc's malloc variables (the dynamic threshold
already reuses memory) or where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import os
import threading
from contextlib import contextmanager

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
    """Whether the environment switched off glibc's dynamic mmap threshold (and glibc is the
    C library)."""
    return any(name in os.environ for name in _VARIABLES) and _glibc() is not None


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
                    libc.mallopt(_M_MMAP_THRESHOLD,
                                 _environment_value("MALLOC_MMAP_THRESHOLD_", _DEFAULT_MMAP))  # fmt: skip
                    libc.mallopt(_M_TRIM_THRESHOLD,
                                 _environment_value("MALLOC_TRIM_THRESHOLD_", _DEFAULT_TRIM))  # fmt: skip
                    libc.malloc_trim(0)
