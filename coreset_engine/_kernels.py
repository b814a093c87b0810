"""Numba kernels for the per-row passes. Each has a plain NumPy twin in ``tests/naive.py``."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# Rows per parallel work item: large enough to amortise scheduling, small enough to balance.
_BLOCK_ROWS = 16384


@njit(parallel=True, cache=True)
def scan_finite_and_max(X):
    """Return (first row holding NaN/inf or -1, per-column max |x| as float64)."""
    n, d = X.shape
    n_blocks = max(1, (n + _BLOCK_ROWS - 1) // _BLOCK_ROWS)
    block_max = np.zeros((n_blocks, d))
    block_bad = np.full(n_blocks, -1, dtype=np.int64)
    for b in prange(n_blocks):
        start = b * _BLOCK_ROWS
        stop = min(n, start + _BLOCK_ROWS)
        for i in range(start, stop):
            row_bad = False
            for j in range(d):
                a = abs(np.float64(X[i, j]))
                if not (a < np.inf):  # false for NaN and for +-inf
                    row_bad = True
                elif a > block_max[b, j]:
                    block_max[b, j] = a
            if row_bad:
                block_bad[b] = i
                break
    first_bad = -1
    for b in range(n_blocks):
        if block_bad[b] >= 0:
            first_bad = block_bad[b]
            break
    col_max = np.zeros(d)
    for b in range(n_blocks):
        for j in range(d):
            col_max[j] = max(col_max[j], block_max[b, j])
    return first_bad, col_max


@njit(parallel=True, cache=True)
def biased_row_norms(U, bias, out):
    """out[i] = || U[i] + bias ||_2, accumulated in float64."""
    n, k = U.shape
    for i in prange(n):
        s = 0.0
        for j in range(k):
            t = np.float64(U[i, j]) + bias[j]
            s += t * t
        out[i] = np.sqrt(s)


@njit(cache=True)
def inclusion_probabilities(scores, m):
    """Inclusion probabilities pi_i = min(1, c * q_i) with sum(pi) = m.

    ``scores`` must be positive. Rows whose scaled score reaches 1 are capped and the rest of the
    budget is spread over the others, repeated until no new row is capped.
    """
    n = scores.shape[0]
    pi = np.empty(n)
    if m >= n:
        pi[:] = 1.0
        return pi
    capped = np.zeros(n, dtype=np.bool_)
    n_capped = 0
    c = 0.0
    while True:
        rest = 0.0
        for i in range(n):
            if not capped[i]:
                rest += scores[i]
        c = (m - n_capped) / rest
        newly = 0
        for i in range(n):
            if not capped[i] and c * scores[i] >= 1.0:
                capped[i] = True
                newly += 1
        n_capped += newly
        if newly == 0:
            break
    for i in range(n):
        pi[i] = 1.0 if capped[i] else c * scores[i]
    return pi


@njit(cache=True)
def systematic_select(pi, order, start):
    """Systematic sampling: exactly round(sum(pi)) rows, row i with probability pi[i].

    Rows are visited in ``order`` (a random permutation, so that no pattern in the data's order
    can line up with the sampling grid); ``start`` is uniform in [0, 1). Rows with pi == 1 are
    always taken. Returns the selected row numbers, unsorted.
    """
    n = pi.shape[0]
    total = 0.0
    for i in range(n):
        total += pi[i]
    n_pick = int(np.floor(total + 0.5))
    out = np.empty(n_pick, dtype=np.int64)
    count = 0
    cumulative = 0.0
    target = start
    for t in range(n):
        i = order[t]
        p = pi[i]
        if p >= 1.0:
            if count < n_pick:
                out[count] = i
                count += 1
                target += 1.0
            cumulative += 1.0
            continue
        cumulative += p
        if cumulative > target and count < n_pick:
            out[count] = i
            count += 1
            target += 1.0
    # Rounding can leave the last grid point just past the final cumulative sum; take the
    # remaining rows from the end of the order (they carry the leftover probability mass).
    t = n - 1
    while count < n_pick and t >= 0:
        i = order[t]
        taken = False
        for k in range(count):
            if out[k] == i:
                taken = True
                break
        if not taken:
            out[count] = i
            count += 1
        t -= 1
    return out


@njit(parallel=True, cache=True)
def row_hashes(words, labels):
    """64-bit hash of each row's bit pattern and label (FNV-1a over words, splitmix64 finish)."""
    n, k = words.shape
    out = np.empty(n, dtype=np.uint64)
    prime = np.uint64(0x100000001B3)
    for i in prange(n):
        h = np.uint64(0xCBF29CE484222325) ^ np.uint64(labels[i])
        for j in range(k):
            h = (h ^ np.uint64(words[i, j])) * prime
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
        out[i] = h
    return out


@njit(cache=True)
def group_identical_rows(words, labels, hashes):
    """Group rows with identical bits and label. Returns (first row of each group, in row order;
    group of every row). Open-addressing hash table; equal hashes are confirmed word by word."""
    n, k = words.shape
    size = 1
    while size < 2 * n:
        size *= 2
    mask = np.uint64(size - 1)
    table = np.full(size, -1, dtype=np.int64)  # group id stored in the slot
    first = np.empty(n, dtype=np.int64)
    group_of = np.empty(n, dtype=np.int64)
    n_groups = 0
    for i in range(n):
        h = hashes[i]
        slot = h & mask
        while True:
            g = table[slot]
            if g < 0:
                table[slot] = n_groups
                first[n_groups] = i
                group_of[i] = n_groups
                n_groups += 1
                break
            j = first[g]
            if hashes[j] == h and labels[j] == labels[i]:
                same = True
                for c in range(k):
                    if words[i, c] != words[j, c]:
                        same = False
                        break
                if same:
                    group_of[i] = g
                    break
            slot = (slot + np.uint64(1)) & mask
    return first[:n_groups].copy(), group_of
