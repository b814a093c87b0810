"""Helpers shared by several test modules."""

from __future__ import annotations

import subprocess
import sys

_HIDE_TORCH = (
    "import sys\n"
    "class NoTorch:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] == 'torch':\n"
    "            raise ImportError('No module named torch')\n"
    "sys.meta_path.insert(0, NoTorch())\n"
)


def run_without_torch(code: str) -> str:
    """Run ``code`` in a fresh interpreter where importing torch fails; return its stdout."""
    return subprocess.run(
        [sys.executable, "-c", _HIDE_TORCH + code], capture_output=True, text=True, check=True
    ).stdout


def assert_same_tree(a, b) -> None:
    """Every level of two trees holds the same rows, X, labels and weights, bit for bit."""
    import numpy as np

    assert a.depth_ == b.depth_ and a.n_samples_ == b.n_samples_
    for level in range(a.depth_ + 1):
        ca, cb = a.get_coreset(level), b.get_coreset(level)
        np.testing.assert_array_equal(ca.indices, cb.indices)
        np.testing.assert_array_equal(ca.X, cb.X)
        np.testing.assert_array_equal(ca.y, cb.y)
        assert ca.weights.tobytes() == cb.weights.tobytes()


def needs_data(relpath: str):
    """Skip marker for a test that reads a real data set (``relpath`` under the data home,
    e.g. the shared data folder beside a source checkout) when the file is not found."""
    import pytest

    from coreset_engine.datasets import find_data_home

    try:
        find_data_home(relpath=relpath)
        found = True
    except FileNotFoundError:
        found = False
    return pytest.mark.skipif(not found, reason=f"data file {relpath} not found")
