"""BLAS routines NumPy does not expose, for the Numba kernels: SciPy's ``cython_blas`` entry
points as ctypes function pointers, passed to ``@njit(nogil=True)`` kernels as arguments (so
the kernels stay cacheable and call BLAS without the GIL; SciPy's own Python wrappers hold it).

Only ``?trmm`` for now: a triangular matrix product costs half the flops of the GEMM it
replaces in the leverage pass (the leverage projection is triangular)."""

from __future__ import annotations

import ctypes
import functools

import numpy as np

_POINTER = ctypes.c_void_p
#: side, uplo, transa, diag, m, n, alpha, a, lda, b, ldb: all by reference (Fortran BLAS)
_TRMM = ctypes.CFUNCTYPE(None, *([_POINTER] * 11))


@functools.cache
def trmm(dtype) -> ctypes._CFuncPtr | None:
    """BLAS strmm / dtrmm for float32 / float64, or None (another dtype, or SciPy's BLAS not
    loadable: callers then keep their GEMM)."""
    name = {np.dtype(np.float32): "strmm", np.dtype(np.float64): "dtrmm"}.get(np.dtype(dtype))
    if name is None:
        return None
    try:
        from numba.extending import get_cython_function_address

        return _TRMM(get_cython_function_address("scipy.linalg.cython_blas", name))
    except (ImportError, ValueError, AttributeError):  # pragma: no cover - SciPy builds without it
        return None
