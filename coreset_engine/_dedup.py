"""Exact merging of duplicate rows: identical (x, y) rows become one row whose weight is the sum.

The weighted loss is unchanged for every parameter, so this is lossless; on data with repeated
rows (KDD Cup '99: 145,585 distinct rows of 494,021, one repeated 193,081 times) it frees the
sample for rows that carry information.
"""

from __future__ import annotations

import numpy as np

from ._cpu import n_workers, row_words, run_in_pool, scan_rows
from ._kernels import group_partitions, partition_by_hash

# Rows are split by hash into partitions of about this many rows, each grouped with its own
# small hash table (fits in cache); partitions are shared out among the worker threads.
_ROWS_PER_PARTITION = 4096
_MAX_PARTITION_BITS = 12


def merge_duplicates(
    X: np.ndarray, labels: np.ndarray, weights: np.ndarray | None, hashes: np.ndarray | None = None
):
    """Return (positions of the kept rows, their summed weights), or (None, weights) if every
    row is distinct. ``weights`` None means unit weights. Positions are first occurrences, in
    row order. ``hashes`` are the rows' hashes from :func:`coreset_engine._cpu.scan_rows`, if
    already computed."""
    words = row_words(X)
    n = X.shape[0]
    if hashes is None:
        hashes = scan_rows(X, labels, hashes=True).hashes
    n_bits = int(np.clip(np.log2(max(n, 1) / _ROWS_PER_PARTITION), 0, _MAX_PARTITION_BITS))
    order, starts, sorted_hashes = partition_by_hash(hashes, n_bits)
    representative = np.empty(n, dtype=np.int64)
    # contiguous groups of partitions with about equal rows, one per worker thread
    cuts = np.searchsorted(starts, np.linspace(0, n, n_workers() + 1)[1:-1])
    bounds = np.unique(np.concatenate([[0], cuts, [starts.size - 1]]))
    run_in_pool(
        lambda a, b: group_partitions(words, labels, sorted_hashes, order, starts, a, b,
                                      representative),
        list(zip(bounds[:-1].tolist(), bounds[1:].tolist())),
    )
    first = np.flatnonzero(representative == np.arange(n))
    if first.size == n:
        return None, weights
    group_id = np.empty(n, dtype=np.int64)
    group_id[first] = np.arange(first.size)
    group_of = group_id[representative]
    if weights is None:
        summed = np.bincount(group_of, minlength=first.size).astype(np.float64)
    else:
        summed = np.bincount(group_of, weights=weights, minlength=first.size)
    return first, summed
