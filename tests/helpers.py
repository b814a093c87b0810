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
