"""Where a tree's per-leaf row passes run: ``CoresetTree(backend="cpu" | "cuda" | "auto")``.

A backend turns a leaf's host chunk into a *rows* object with the three large passes over it:
``scan(hashes)`` (a :class:`coreset_engine._cpu.RowScan`), ``gram_with_intercept(col_max,
col_sum)`` and, for rows on a device, ``take(positions)`` and ``sensitivity_scores(...)`` (the
signature of :func:`coreset_engine._cpu.sensitivity_scores`), which sampling methods that set
``accepts_backend`` call instead of the CPU function. The CUDA backend uploads the chunk once and
reuses it for all three passes. Duplicate merging, inclusion probabilities, the draw, merges of
small nodes and pilot fits always run on the CPU.
"""

from __future__ import annotations

import numpy as np

from ._cpu import RowScan, scan_rows
from ._linalg import gram_with_intercept

BACKENDS = ("cpu", "cuda", "auto")


class CpuRows:
    """A chunk whose passes run on the CPU (``_cpu`` and ``_linalg``, unchanged)."""

    on_device = False

    def __init__(self, X: np.ndarray, labels: np.ndarray):
        self.X = X
        self.labels = labels

    def scan(self, hashes: bool = False) -> RowScan:
        return scan_rows(self.X, self.labels, hashes=hashes)

    def gram_with_intercept(self, col_max: np.ndarray, col_sum: np.ndarray, *,
                            float64_products: bool = False) -> np.ndarray:  # fmt: skip
        return gram_with_intercept(self.X, col_max, col_sum, float64_products=float64_products)


class CpuBackend:
    name = "cpu"
    #: A build may run several leaves in threads at once (each leaf's passes are thread-safe).
    concurrent_leaves = True

    def rows(self, X: np.ndarray, labels: np.ndarray) -> CpuRows:
        return CpuRows(X, labels)


def check_backend(value, caller: str = "CoresetTree") -> None:
    if not isinstance(value, str) or value not in BACKENDS:
        raise ValueError(
            f"The 'backend' parameter of {caller} must be one of {list(BACKENDS)}. "
            f"Got {value!r} instead."
        )


def get_backend(name: str, caller: str = "CoresetTree"):
    """The backend called ``name``: "cpu"; "cuda" (raises RuntimeError naming the parameter
    when no usable GPU, numba-cuda or GEMM library is found); "auto" (CUDA when usable, else
    the CPU; never Numba's CUDA simulator)."""
    check_backend(name, caller)
    if name == "cpu":
        return CpuBackend()
    from . import _cuda

    if name == "cuda":
        reason = _cuda.unavailable_reason()
        if reason is not None:
            raise RuntimeError(
                f"The 'backend' parameter of {caller} is 'cuda' but {reason}. Use "
                "backend='cpu', or backend='auto' (the GPU when one is usable, else the CPU), or "
                "install coreset-engine[cuda] on a machine with an NVIDIA GPU."
            )
        return _cuda.CudaBackend()
    return _cuda.CudaBackend() if _cuda.auto_selects_gpu() else CpuBackend()
