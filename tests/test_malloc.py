"""Freed memory kept for reuse during a build where the environment (Dask's nanny) told glibc
to return it at once."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from coreset_engine import _malloc

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or _malloc._glibc() is None, reason="glibc only"
)

CHILD = r"""
import json, resource, sys
import numpy as np
from coreset_engine._build import BuildSettings, leaf_node
from coreset_engine._cpu import blas_single_thread, worker_threads
from coreset_engine._malloc import reuse_freed_memory, needed
from coreset_engine.synthetic import make_synthetic

X, y = make_synthetic(300_000, random_state=0)
settings = BuildSettings(5_000, "sensitivity", True, None, 0, int(y.max()) + 1)

def faults(context):
    with context(), blas_single_thread(), worker_threads(1):
        leaf_node(settings, X, y, 0, 0)  # compiles, warms the heap
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(2):
            leaf_node(settings, X, y, 0, 0)
        return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 2

from contextlib import nullcontext
print(json.dumps({"plain": faults(nullcontext), "reuse": faults(reuse_freed_memory),
                  "needed": needed()}))
"""


def _child(environment: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(environment)
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                         timeout=300, check=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_leaf_stops_page_faulting_under_dasks_malloc_setting():
    dask_like = _child({"MALLOC_TRIM_THRESHOLD_": "65536"})
    assert dask_like["needed"]
    # every temporary above 128 KiB is a fresh mmap: thousands of faults per leaf
    assert dask_like["plain"] > 2000, dask_like
    assert dask_like["reuse"] < dask_like["plain"] / 10, dask_like


def test_builds_keep_freed_memory_where_malloc_keeps_its_dynamic_threshold_too():
    # glibc's dynamic threshold still trims the heap under a leaf's temporaries
    default = _child({})
    assert default["needed"]
    assert default["reuse"] <= default["plain"], default
    assert default["reuse"] < 2000, default


def test_thresholds_are_given_back_when_the_last_user_leaves(monkeypatch):
    calls = []

    class FakeLibc:
        def mallopt(self, parameter, value):
            calls.append((parameter, value))
            return 1

        def malloc_trim(self, pad):
            calls.append(("trim", pad))

    monkeypatch.setattr(_malloc, "_libc", [FakeLibc()])
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    with _malloc.reuse_freed_memory():
        with _malloc.reuse_freed_memory():
            assert calls == [(_malloc._M_MMAP_THRESHOLD, _malloc._BUILD_MMAP),
                             (_malloc._M_TRIM_THRESHOLD, _malloc._BUILD_TRIM)]  # fmt: skip
        assert len(calls) == 2  # the inner exit keeps them
    assert calls[2:] == [(_malloc._M_MMAP_THRESHOLD, 128 * 1024),
                         (_malloc._M_TRIM_THRESHOLD, 65536), ("trim", 0)]  # fmt: skip
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    with _malloc.reuse_freed_memory():
        pass
    # no variable set: glibc's largest dynamic threshold, and twice it for the trim
    assert calls[5:] == [(_malloc._M_MMAP_THRESHOLD, _malloc._BUILD_MMAP),
                         (_malloc._M_TRIM_THRESHOLD, _malloc._BUILD_TRIM),
                         (_malloc._M_MMAP_THRESHOLD, 32 * 1024 * 1024),
                         (_malloc._M_TRIM_THRESHOLD, 64 * 1024 * 1024), ("trim", 0)]  # fmt: skip


def test_populated_buffers_are_writable_aligned_arrays_of_the_asked_shape():
    big = _malloc.populated_empty((300_000, 54), np.float32)  # 65 MB: mapped at once
    assert big.shape == (300_000, 54) and big.dtype == np.float32
    assert big.flags.c_contiguous and big.flags.writeable and big.ctypes.data % 4096 == 0
    big[:] = 1.5
    assert float(big.sum(dtype=np.float64)) == 1.5 * big.size
    small = _malloc.populated_empty((10, 3), np.float64)  # below the threshold: np.empty
    assert small.shape == (10, 3) and small.flags.writeable
