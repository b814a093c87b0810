"""CPU row passes: fixed blocks of rows handed out to a small thread pool.

Each block is handled by a serial, GIL-free Numba kernel or by single-threaded BLAS. On a
busy 2-core machine, multi-threaded OpenBLAS and OpenMP kernels spin while waiting for a
descheduled thread and ran 10-20x slower here; independent blocks taken by whichever thread is
free keep the same speed on an idle machine and degrade gracefully on a busy one. The builder
calls these through :func:`blas_single_thread`, which pins BLAS to one thread for the duration
of a build. Blocks have a fixed size and their partial sums are added in block order, so a
tree does not depend on the number of threads (bit for bit, on the same CPU and BLAS).

Three passes per leaf:

* :func:`scan_rows`: finite check, per-column max |x| and sums (float64), and the 64-bit row
  hashes used to merge duplicate rows, in one read of the chunk;
* :func:`gram_with_intercept` (in ``_linalg``): partial Gram matrices per block, added in
  float64 in block order;
* :func:`sensitivity_scores`: one GEMM of the rows with [leverage projection | pilot
  coefficients], then one fused kernel: square-root leverage + 1/n, times the row weight, times
  (floor + the pilot's miss probability). The leverage pass alone (no pilot, an unsketched
  projection, which is triangular) multiplies by BLAS trmm instead: half the flops.
"""

from __future__ import annotations

import contextvars
import itertools
import os
import sys
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from . import _blas
from ._kernels import (
    fused_scores_block,
    leverage_residual_block,
    miss_weighted_sums_block,
    scan_rows_block,
    triangular_scores_block,
)

#: Rows per block of a row pass (a multiple of _SCORE_BLOCK_ROWS). Fixed, so that sums over
#: blocks do not depend on the number of threads.
_BLOCK_ROWS = 65536
#: Rows per GEMM block in the scoring pass: the block's products stay in cache (2048-4096 rows
#: ran the pass 1.3x faster here than 65536).
_SCORE_BLOCK_ROWS = 2048
assert _BLOCK_ROWS % _SCORE_BLOCK_ROWS == 0  # every scoring GEMM block starts at the same rows
_WORD = {4: np.uint32, 8: np.uint64}

_pool_lock = threading.Lock()
#: One pool per thread count asked for: builds in several threads at once (a local build's
#: leaves and merges, Dask tasks on a threaded worker) may ask for different counts, and no
#: pool is ever shut down under another's running pass.
_pools: dict[int, ThreadPoolExecutor] = {}


_threads_override: contextvars.ContextVar[int | Callable[[], int] | None] = contextvars.ContextVar(
    "coreset_engine_threads", default=None
)


@contextmanager
def worker_threads(n: int | Callable[[], int] | None):
    """Run the row passes started in this context on ``n`` threads (None: :func:`n_workers`'s
    default; a callable: asked at the start of every pass). ``CoresetTree(n_jobs=...)`` uses
    it for a build."""
    token = _threads_override.set(n)
    try:
        yield
    finally:
        _threads_override.reset(token)


def n_workers() -> int:
    """Threads used by the row passes: the ``n_jobs`` of the build in progress (see
    :func:`worker_threads`), else ``CORESET_ENGINE_THREADS`` if set, else the CPUs this
    process may run on."""
    override = _threads_override.get()
    if callable(override):
        return override()
    if override is not None:
        return override
    configured = os.environ.get("CORESET_ENGINE_THREADS")
    if configured:
        try:
            value = int(configured)
        except ValueError:
            raise ValueError(
                "The environment variable CORESET_ENGINE_THREADS must be a positive integer. "
                f"Got {configured!r} instead."
            ) from None
        if value < 1:
            raise ValueError(
                "The environment variable CORESET_ENGINE_THREADS must be a positive integer. "
                f"Got {configured!r} instead."
            )
        return value
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _executor(workers: int) -> ThreadPoolExecutor:
    with _pool_lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = _pools[workers] = ThreadPoolExecutor(
                workers, thread_name_prefix=f"coreset-engine-rows-{workers}"
            )
        return pool


def row_blocks(n: int, block: int = _BLOCK_ROWS) -> list[tuple[int, int]]:
    """Rows 0..n as consecutive (start, stop) blocks of ``block`` rows (the last may be
    shorter; one empty block for n = 0)."""
    return [(a, min(n, a + block)) for a in range(0, n, block)] or [(0, 0)]


def iter_in_pool(function, ranges: list[tuple[int, int]]):
    """Yield function(a, b) for (a, b) in ``ranges``, in that order, computed by n_workers()
    threads as they come free; at most 2 x n_workers() calls are in flight, so results that
    are consumed as they come (partial sums) never pile up."""
    workers = n_workers()
    if len(ranges) <= 1 or workers == 1:
        for a, b in ranges:
            yield function(a, b)
        return
    pool = _executor(workers)
    waiting = iter(ranges)
    in_flight = deque(
        pool.submit(function, a, b) for a, b in itertools.islice(waiting, 2 * workers)
    )
    while in_flight:
        result = in_flight.popleft().result()
        following = next(waiting, None)
        if following is not None:
            in_flight.append(pool.submit(function, *following))
        yield result


def run_in_pool(function, ranges: list[tuple[int, int]]) -> list:
    """[function(a, b) for (a, b) in ranges], in the pool's threads, results in order."""
    return list(iter_in_pool(function, ranges))


def iter_blocks(function, n: int):
    """function(start, stop) for each block of :func:`row_blocks`, in block order, in the pool's
    threads (see :func:`iter_in_pool`)."""
    return iter_in_pool(function, row_blocks(n))


def map_blocks(function, n: int) -> list:
    """[function(start, stop) for each block of :func:`row_blocks`], in the pool's threads."""
    return list(iter_blocks(function, n))


_controller: list = []  # (modules loaded when made, ThreadpoolController)


def _threadpool_controller():
    """A cached ThreadpoolController (making one scans the loaded libraries, ~30 ms: too much
    for every Dask task), remade once new modules were imported."""
    if not _controller or _controller[0][0] != len(sys.modules):
        from threadpoolctl import ThreadpoolController

        _controller[:] = [(len(sys.modules), ThreadpoolController())]
    return _controller[0][1]


_blas_lock = threading.Lock()
_blas_users = 0
_blas_limiter = None


@contextmanager
def blas_single_thread():
    """Limit BLAS to one thread while any build in this process runs (restored when the last
    one ends); the row passes parallelise themselves. Builds may overlap in threads (Dask
    tasks on a threaded worker): the limit is process-wide, so it is taken by the first and
    given back by the last, never restored under a build still running."""
    global _blas_users, _blas_limiter
    with _blas_lock:
        if _blas_users == 0:
            _blas_limiter = _threadpool_controller().limit(limits=1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None


def row_words(X: np.ndarray) -> np.ndarray:
    """The rows' bit patterns as unsigned integers (for hashing and exact comparison): 64-bit
    words when a row's bytes allow it (half the hashing work for float32 rows of even width)."""
    X = np.ascontiguousarray(X)
    if X.ndim == 2 and X.shape[1] and (X.shape[1] * X.dtype.itemsize) % 8 == 0:
        return X.view(np.uint64)
    return X.view(_WORD[X.dtype.itemsize])


@dataclass
class RowScan:
    """What one read of a chunk yields."""

    first_bad: int  # first row holding NaN or infinity, or -1
    col_max: np.ndarray  # (d,) float64, max |x| per column
    col_sum: np.ndarray  # (d,) float64
    hashes: np.ndarray | None  # (n,) uint64 row hashes, if asked for


def scan_rows(X: np.ndarray, labels: np.ndarray | None = None, *, hashes: bool = False) -> RowScan:
    """Finite check, column max |x| and sums, and (with ``hashes``) row hashes of (x, label)."""
    n, d = X.shape
    X = np.ascontiguousarray(X)
    words = row_words(X) if hashes else np.empty((0, 0), dtype=np.uint64)
    if labels is None:
        labels = np.zeros(0, dtype=np.int64)
    out = np.empty(n if hashes else 0, dtype=np.uint64)

    def part(start: int, stop: int):
        col_max, col_sum = np.zeros(d), np.zeros(d)
        bad = scan_rows_block(X, words, labels, start, stop, col_max, col_sum, out, hashes)
        return bad, col_max, col_sum

    results = map_blocks(part, n)
    bad = [b for b, _, _ in results if b >= 0]
    col_sum = np.zeros(d)
    for _, _, partial in results:  # in block order: the same sums on any number of threads
        col_sum += partial
    return RowScan(
        bad[0] if bad else -1,
        np.max([m for _, m, _ in results], axis=0),
        col_sum,
        out if hashes else None,
    )


def score_matrix(projection: np.ndarray, pilot, n_classes: int, dtype):
    """The scoring GEMM's right-hand side [P[:d] | W^T] (``dtype``), its bias row [P[d] | b]
    (float64), the pilot column of each label (or -1) and whether the pilot is binary. Shared by
    the CPU and CUDA backends."""
    d = projection.shape[0] - 1
    columns = [np.asarray(projection[:d])]
    bias = [np.asarray(projection[d], dtype=np.float64)]
    if pilot is not None:  # the pilot's logits come from the same GEMM
        coef, intercept, column_of_label, binary = pilot.logit_layout(n_classes)
        columns.append(coef.T)
        bias.append(intercept)
    else:
        column_of_label, binary = np.full(1, -1, dtype=np.int64), False
    return (
        np.ascontiguousarray(np.hstack(columns), dtype=dtype),
        np.ascontiguousarray(np.concatenate(bias), dtype=np.float64),
        column_of_label,
        binary,
    )


def _fits_float32(values: np.ndarray) -> bool:
    """Whether float32 holds these values to its full relative precision (no overflow, no
    subnormals)."""
    magnitudes = np.abs(values[values != 0])
    return magnitudes.size == 0 or bool(magnitudes.max() < 1e30 and magnitudes.min() > 1e-30)


def _gemm_operand(matrix: np.ndarray) -> np.ndarray:
    """The scoring GEMM's right-hand side as BLAS multiplies it fastest: one column as a
    vector (gemv), more than 4 padded with zero columns to a multiple of 8 (the extra products
    are ignored). Here, on 54 float32 columns, 7 columns took 1.4x the time of 8 and a
    one-column GEMM 1.5x that of gemv (scratch timings)."""
    width = matrix.shape[1]
    if width == 1:
        return np.ascontiguousarray(matrix[:, 0])
    if width <= 4 or width % 8 == 0:
        return matrix
    padded = np.zeros((matrix.shape[0], width + 8 - width % 8), dtype=matrix.dtype)
    padded[:, :width] = matrix
    return padded


def _triangular_product(matrix: np.ndarray, projection: np.ndarray, d: int, k: int):
    """(BLAS trmm, P[:d, :d] in the compute dtype, P[:d, d] in float64) when the scoring
    GEMM's right-hand side ``matrix`` (= P[:d] in the compute dtype) is a square leverage
    projection whose first d columns are upper triangular, as Cholesky-based projections are;
    else None (a sketched projection, or no BLAS trmm)."""
    if k != d + 1 or d == 0:
        return None
    upper = np.ascontiguousarray(matrix[:, :d])
    trmm = _blas.trmm(upper.dtype)
    if trmm is None or np.tril(upper, -1).any():
        return None
    return trmm, upper, np.ascontiguousarray(projection[:d, d], dtype=np.float64)


def sensitivity_scores(
    X: np.ndarray,
    projection: np.ndarray,
    inv_n: float,
    weights: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    pilot=None,
    floor: float = 0.0,
    n_classes: int = 0,
    *,
    compute_dtype=None,
    class_sums_of=False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """weights_i * (||[x_i, 1] P|| + inv_n) * (floor + miss_i), float64.

    ``projection`` P has shape (d + 1, k). Without a ``pilot`` the last factor is 1; with one,
    miss_i = 1 - p_pilot(labels_i | x_i) (1 for a label the pilot never saw). ``weights`` None
    means unit weights.

    The GEMM runs in ``compute_dtype``, by default float32 whatever the input's dtype: a
    sampling distribution needs no more, and float32 halves the GEMM's time and memory traffic.
    Float64 rows are cast a block at a time (no copy of the chunk); a row too large for float32
    makes the whole call run again in float64.

    ``class_sums_of`` (only for a pilot's factor alone: an empty P, unit weights, inv_n 1):
    row weights, or None for unit ones, to return with the factors the calibration's targets
    :func:`coreset_engine._calibration.class_gradient_sums` of (X, labels, those weights,
    miss). They are summed while each block of rows is still in cache, in the same blocks and
    order as that function, so they are the same to the bit.
    """
    compute = np.dtype(np.float32 if compute_dtype is None else compute_dtype)
    if X.dtype != np.float64 and compute.itemsize > X.dtype.itemsize:
        compute = X.dtype  # never widen float32 input
    n, d = X.shape
    k = projection.shape[1]
    matrix, bias, column_of_label, binary = score_matrix(projection, pilot, n_classes, np.float64)
    if compute.itemsize < matrix.itemsize and not _fits_float32(matrix):
        compute = np.dtype(np.float64)
    matrix = np.ascontiguousarray(matrix, dtype=compute)
    use_pilot = pilot is not None
    unit = weights is None
    weights = np.zeros(0) if unit else np.ascontiguousarray(weights, dtype=np.float64)
    labels = np.zeros(0, dtype=np.int64) if labels is None else labels
    out = np.empty(n)
    cast = compute != X.dtype
    sums = class_sums_of is not False
    if sums:
        if k or not unit or inv_n != 1.0 or not use_pilot:
            raise ValueError("The 'class_sums_of' parameter of sensitivity_scores is for a "
                             "pilot's factor alone: expected a pilot, no projection columns, "
                             f"unit weights and inv_n 1. Got {k} columns, pilot "
                             f"{'given' if use_pilot else 'None'}, "
                             f"{'unit' if unit else 'row'} weights, inv_n {inv_n}.")  # fmt: skip
        codes = np.ascontiguousarray(labels, dtype=np.int64)
        sums_unit = class_sums_of is None
        sum_weights = (np.zeros(0) if sums_unit
                       else np.ascontiguousarray(class_sums_of, dtype=np.float64))  # fmt: skip

    triangular = _triangular_product(matrix, projection, d, k) if not use_pilot else None
    width = matrix.shape[1]
    gemm = _gemm_operand(matrix)

    def part(start: int, stop: int) -> np.ndarray | None:
        rows = min(_SCORE_BLOCK_ROWS, stop - start)
        if triangular is not None:  # the leverage pass alone: half a GEMM's flops
            trmm, upper, last = triangular
            buffer = np.empty((rows, d), dtype=compute)
            for a in range(start, stop, _SCORE_BLOCK_ROWS):
                b = min(stop, a + _SCORE_BLOCK_ROWS)  # an overflowing cast scores inf: below
                triangular_scores_block(trmm, X, a, b, upper, last, bias, weights, unit, inv_n,
                                        buffer[: b - a], out)  # fmt: skip
            return None
        U = np.empty((rows, gemm.shape[1] if gemm.ndim == 2 else 1), dtype=compute)
        buffer = np.empty((rows, d), dtype=compute) if cast else None
        partial = np.zeros((n_classes, d + 1)) if sums else None
        for a in range(start, stop, _SCORE_BLOCK_ROWS):
            b = min(stop, a + _SCORE_BLOCK_ROWS)
            block = X[a:b]
            if cast:
                with np.errstate(over="ignore"):  # checked below: such rows score inf
                    np.copyto(buffer[: b - a], block, casting="same_kind")
                block = buffer[: b - a]
            if gemm.ndim == 2:
                np.matmul(block, gemm, out=U[: b - a])
            else:  # one column: BLAS gemv
                np.matmul(block, gemm, out=U[: b - a, 0])
            fused_scores_block(U[: b - a, :width], k, bias, labels, weights, column_of_label, a, inv_n,
                               floor, unit, use_pilot, binary, out)  # fmt: skip
            if sums:  # the same values, rows and order as class_gradient_sums
                miss_weighted_sums_block(X, codes, out, floor, sum_weights, sums_unit, a, b,
                                         partial)  # fmt: skip
        return partial

    parts = map_blocks(part, n)
    if cast and compute.itemsize < X.dtype.itemsize and not np.isfinite(out).all():
        return sensitivity_scores(
            X, projection, inv_n, None if unit else weights, labels if labels.size else None,
            pilot, floor, n_classes, compute_dtype=X.dtype, class_sums_of=class_sums_of,
        )  # fmt: skip
    if not sums:
        return out
    total = np.zeros((n_classes, d + 1))
    for partial in parts if n else []:
        total += partial
    return out, total


def leverage_and_residuals(
    X: np.ndarray, targets: np.ndarray, projection: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(leverage of [x_i, 1], normalized least-squares residual of y_i) for every row, float64,
    from the projection P (shape (d + 2, k + 1)) of the augmented matrix [X, 1, y]: one
    float64 GEMM per block of rows (the residual is a difference of nearly equal terms where
    the fit is good, too fine for float32) and :func:`leverage_residual_block`."""
    n, d = X.shape
    matrix = np.ascontiguousarray(projection[:d], dtype=np.float64)
    bias = np.ascontiguousarray(projection[d], dtype=np.float64)
    target_row = np.ascontiguousarray(projection[d + 1], dtype=np.float64)
    leverage, residual = np.empty(n), np.empty(n)

    def part(start: int, stop: int) -> None:
        U = np.empty((min(_SCORE_BLOCK_ROWS, stop - start), matrix.shape[1]))
        for a in range(start, stop, _SCORE_BLOCK_ROWS):
            b = min(stop, a + _SCORE_BLOCK_ROWS)
            np.matmul(X[a:b].astype(np.float64, copy=False), matrix, out=U[: b - a])
            leverage_residual_block(U[: b - a], bias, target_row, targets, a, leverage, residual)

    map_blocks(part, n)
    return leverage, residual
