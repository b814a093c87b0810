"""numba.cuda kernels for the CUDA backend's row passes (``_cuda.py`` launches them).

Each computes what its CPU twin in ``_kernels.py`` computes, with the same arithmetic per row:

* :func:`scan_columns`: finite check (first bad row), max |x| and float64 sums per column. A
  block of 32 x 8 threads reads 32 adjacent columns of 8 rows at a time (coalesced); every block
  writes its own partial results, which the host reduces in a fixed order, so the sums do not
  depend on timing (no floating-point atomics);
* :func:`hash_rows_tiled`: the 64-bit row hash of ``_kernels.scan_rows_block``, bit for bit (four
  FNV-1a lanes over interleaved words, splitmix64 mixing). A block copies a tile of rows into
  shared memory with coalesced reads, then each thread hashes one row;
* :func:`fused_scores_tiled_f32` / ``_f64``: the fused scoring of ``_kernels.fused_scores_block``
  applied to U = X @ [P | W] (the GEMM runs in cuBLAS), one thread per row over a shared tile.

Importing this module needs ``numba.cuda``; set ``NUMBA_ENABLE_CUDASIM=1`` before Numba is
imported to run the kernels on the CPU in Numba's simulator (slow: tests use small arrays).
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, float32, float64, int64, uint64

#: Scan blocks are SCAN_COLUMNS x SCAN_ROWS threads.
SCAN_COLUMNS = 32
SCAN_ROWS = 8
#: Threads per block of the tiled (one thread per row) kernels.
TILE_THREADS = 128
#: Shared tile sizes (32 KiB each).
HASH_TILE_WORDS = 4096
SCORE_TILE_F32 = 8192
SCORE_TILE_F64 = 4096


@cuda.jit
def scan_columns(X, partial_sum, partial_max, partial_bad):
    """Block (bx, by) covers columns by*32 .. by*32+31 of rows bx*8 + ty, stepping by
    gridDim.x * 8 rows. Writes partial_sum/max/bad[bx, j]; bad is the first row of the block's
    share holding NaN or infinity in column j, or n."""
    n = X.shape[0]
    d = X.shape[1]
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    j = np.int64(cuda.blockIdx.y) * SCAN_COLUMNS + tx
    sums = cuda.shared.array((SCAN_ROWS, SCAN_COLUMNS), float64)
    maxima = cuda.shared.array((SCAN_ROWS, SCAN_COLUMNS), float64)
    bads = cuda.shared.array((SCAN_ROWS, SCAN_COLUMNS), int64)
    s = 0.0
    m = 0.0
    bad = n
    if j < d:
        i = np.int64(cuda.blockIdx.x) * SCAN_ROWS + ty
        step = np.int64(cuda.gridDim.x) * SCAN_ROWS
        while i < n:
            a = np.float64(X[i, j])
            if not (abs(a) < math.inf):  # NaN or +-inf
                bad = min(bad, i)
            s += a
            m = max(m, abs(a))
            i += step
    sums[ty, tx] = s
    maxima[ty, tx] = m
    bads[ty, tx] = bad
    cuda.syncthreads()
    if ty == 0 and j < d:
        for r in range(1, SCAN_ROWS):
            s += sums[r, tx]
            m = max(m, maxima[r, tx])
            bad = min(bad, bads[r, tx])
        block = cuda.blockIdx.x
        partial_sum[block, j] = s
        partial_max[block, j] = m
        partial_bad[block, j] = bad


@cuda.jit(device=True)
def _mix(h):
    """splitmix64 finaliser (as ``_kernels._mix``)."""
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return h


@cuda.jit(device=True)
def _row_hash(src, base, k, label):
    """Hash of the k words src[base:base + k] and the label: the loop of
    ``_kernels.scan_rows_block``, operation for operation."""
    prime = np.uint64(0x100000001B3)
    h0 = np.uint64(0xCBF29CE484222325) ^ np.uint64(label)
    h1 = np.uint64(0x84222325CBF29CE4)
    h2 = np.uint64(0x9E3779B97F4A7C15)
    h3 = np.uint64(0xC2B2AE3D27D4EB4F)
    j = 0
    while j + 4 <= k:
        h0 = (h0 ^ np.uint64(src[base + j])) * prime
        h1 = (h1 ^ np.uint64(src[base + j + 1])) * prime
        h2 = (h2 ^ np.uint64(src[base + j + 2])) * prime
        h3 = (h3 ^ np.uint64(src[base + j + 3])) * prime
        j += 4
    while j < k:
        h0 = (h0 ^ np.uint64(src[base + j])) * prime
        j += 1
    h = _mix(h0) ^ _mix(h1 ^ np.uint64(0x5555555555555555))
    h = _mix(h ^ _mix(h2 ^ np.uint64(0x3333333333333333)) + _mix(h3))
    return h


@cuda.jit
def hash_rows_tiled(words, k, n, labels, tile_rows, hashes):
    """hashes[i] = hash of row i (words: the rows' bits, flat, k words a row). Each block copies
    ``tile_rows`` rows (tile_rows * k <= HASH_TILE_WORDS) into shared memory, then thread t
    hashes row t of the tile."""
    tile = cuda.shared.array(HASH_TILE_WORDS, uint64)
    t = cuda.threadIdx.x
    start = np.int64(cuda.blockIdx.x) * tile_rows
    step = np.int64(cuda.gridDim.x) * tile_rows
    while start < n:  # the same for every thread of the block, so syncthreads is safe
        count = min(tile_rows, n - start)
        base = start * k
        e = np.int64(t)
        while e < count * k:
            tile[e] = np.uint64(words[base + e])
            e += cuda.blockDim.x
        cuda.syncthreads()
        if t < count:
            hashes[start + t] = _row_hash(tile, t * k, k, labels[start + t])
        cuda.syncthreads()
        start += step


@cuda.jit
def hash_rows_global(words, k, n, labels, hashes):
    """As :func:`hash_rows_tiled`, reading global memory directly (rows too wide for a tile)."""
    i = np.int64(cuda.grid(1))
    step = np.int64(cuda.gridsize(1))
    while i < n:
        hashes[i] = _row_hash(words, i * k, k, labels[i])
        i += step


@cuda.jit(device=True)
def _score_row(src, base, k, n_logits, bias, label, weight, column_of_label, inv_n, floor,
               unit, use_pilot, binary):  # fmt: skip
    """The score of one row from its products src[base:base + k + n_logits] (see
    ``_kernels.fused_scores_block``: the same operations in the same order; ``math.exp`` in
    place of the CPU's vectorizable polynomial, both clamped at -50)."""
    s = 0.0
    for j in range(k):
        t = np.float64(src[base + j]) + bias[j]
        s += t * t
    score = math.sqrt(s) + inv_n
    if not unit:
        score *= weight
    if not use_pilot:
        return score
    column = -1
    if 0 <= label < column_of_label.shape[0]:
        column = column_of_label[label]
    if binary:
        z = np.float64(src[base + k]) + bias[k]
        if column != 1:
            z = -z
        e = math.exp(max(-abs(z), -50.0))  # miss = 1 / (1 + exp(z)), without overflow
        miss = e / (1.0 + e) if z > 0 else 1.0 / (1.0 + e)
        if column < 0:
            miss = 1.0
        return score * (floor + miss)
    top = np.float64(src[base + k]) + bias[k]
    for j in range(1, n_logits):
        top = max(top, np.float64(src[base + k + j]) + bias[k + j])
    total = 0.0
    mine = 0.0
    for j in range(n_logits):
        e = math.exp(max(np.float64(src[base + k + j]) + bias[k + j] - top, -50.0))
        total += e
        if column == j:
            mine += e
    miss = (total - mine) / total if column >= 0 else 1.0
    return score * (floor + miss)


@cuda.jit(device=True)
def _fused_tiles(tile, U, m, n, k, bias, labels, weights, column_of_label, offset, inv_n, floor,
                 unit, use_pilot, binary, tile_rows, out):  # fmt: skip
    t = cuda.threadIdx.x
    start = np.int64(cuda.blockIdx.x) * tile_rows
    step = np.int64(cuda.gridDim.x) * tile_rows
    while start < n:
        count = min(tile_rows, n - start)
        base = start * m
        e = np.int64(t)
        while e < count * m:
            tile[e] = U[base + e]
            e += cuda.blockDim.x
        cuda.syncthreads()
        if t < count:
            row = offset + start + t
            weight = 1.0
            if not unit:
                weight = weights[row]
            out[row] = _score_row(tile, t * m, k, m - k, bias, labels[row], weight,
                                  column_of_label, inv_n, floor, unit, use_pilot, binary)  # fmt: skip
        cuda.syncthreads()
        start += step


@cuda.jit
def fused_scores_tiled_f32(U, m, n, k, bias, labels, weights, column_of_label, offset, inv_n,
                           floor, unit, use_pilot, binary, tile_rows, out):  # fmt: skip
    """out[offset + i] = score of row i of U (float32, flat, m = k + logits values a row)."""
    tile = cuda.shared.array(SCORE_TILE_F32, float32)
    _fused_tiles(tile, U, m, n, k, bias, labels, weights, column_of_label, offset, inv_n, floor,
                 unit, use_pilot, binary, tile_rows, out)  # fmt: skip


@cuda.jit
def fused_scores_tiled_f64(U, m, n, k, bias, labels, weights, column_of_label, offset, inv_n,
                           floor, unit, use_pilot, binary, tile_rows, out):  # fmt: skip
    """As :func:`fused_scores_tiled_f32` for float64 U."""
    tile = cuda.shared.array(SCORE_TILE_F64, float64)
    _fused_tiles(tile, U, m, n, k, bias, labels, weights, column_of_label, offset, inv_n, floor,
                 unit, use_pilot, binary, tile_rows, out)  # fmt: skip


@cuda.jit
def fused_scores_global(U, m, n, k, bias, labels, weights, column_of_label, offset, inv_n, floor,
                        unit, use_pilot, binary, out):  # fmt: skip
    """As the tiled kernels, reading global memory directly (rows too wide for a tile)."""
    i = np.int64(cuda.grid(1))
    step = np.int64(cuda.gridsize(1))
    while i < n:
        row = offset + i
        weight = 1.0
        if not unit:
            weight = weights[row]
        out[row] = _score_row(U, i * m, k, m - k, bias, labels[row], weight, column_of_label,
                              inv_n, floor, unit, use_pilot, binary)  # fmt: skip
        i += step
