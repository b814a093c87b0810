"""The local build works on two leaves at once (``_tree._pipelined_leaves``): the tree must be
the one a one-leaf-at-a-time build makes, from every source, and the file readers must keep the
chunks of the leaves in flight untouched while they read ahead."""

import time

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import assert_same_tree

from coreset_engine import CoresetTree
from coreset_engine.datasets import write_hdf5
from coreset_engine.readers._chunks import VALID_CHUNKS, background_chunks


def _data(n=24_000, seed=3):
    rng = np.random.default_rng(seed)
    X = (rng.standard_t(4, size=(n, 6)) * [1, 2, 0.5, 3, 1, 1]).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * 0.3 + rng.normal(size=n) > 0).astype(np.int64)
    y[X[:, 2] > 1.2] = 2
    return X, y


def test_background_chunks_keep_the_chunks_in_flight_untouched():
    rows, width, n_chunks = 50, 4, 9
    originals = [np.full((rows, width), k, dtype=np.float32) for k in range(n_chunks)]
    raw = ((k * rows, originals[k], np.zeros(rows)) for k in range(n_chunks))

    def fill(features, buffer):
        buffer[...] = features
        return buffer

    held = []
    for k, (start, X, _) in enumerate(background_chunks(raw, fill, rows, width, np.float32)):
        assert start == k * rows
        held.append((k, X))
        held = held[-VALID_CHUNKS:]
        time.sleep(0.02)  # the reader fills every free buffer meanwhile
        for j, chunk in held:
            np.testing.assert_array_equal(chunk, originals[j])
    assert VALID_CHUNKS >= 2


@pytest.mark.parametrize("source", ["arrays", "hdf5", "parquet"])
def test_two_leaves_at_once_give_the_one_at_a_time_tree(tmp_path, source):
    X, y = _data()
    params = {"coreset_size": 400, "chunk_size": 1500, "random_state": 5}
    trees = []
    for n_jobs in (1, 2, 4):
        tree = CoresetTree(n_jobs=n_jobs, **params)
        if source == "arrays":
            tree.build(X, y)
        elif source == "hdf5":
            path = tmp_path / "d.h5"
            if not path.exists():
                write_hdf5(path, X, y)
            tree.build_from_file(path)
        else:
            path = tmp_path / "d.parquet"
            if not path.exists():
                columns = {f"x{i}": X[:, i] for i in range(X.shape[1])}
                pq.write_table(pa.table({**columns, "y": y}), path, row_group_size=700)
            tree.build_from_file(path, x=[f"x{i}" for i in range(X.shape[1])], y="y")
        trees.append(tree)
    assert trees[0].n_leaves_ == 16
    for tree in trees[1:]:
        assert_same_tree(tree, trees[0])


def test_a_bad_row_mid_build_is_the_same_error_and_leaves_the_tree_unchanged(tmp_path):
    X, y = _data()
    X[9000, 3] = np.nan  # leaf 6 of 16
    X[20000, 1] = np.inf  # a later leaf, possibly in flight at the same time
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as handle:  # write_hdf5 refuses non-finite rows
        handle["X"], handle["y"] = X, y
    for n_jobs in (1, 2):
        tree = CoresetTree(coreset_size=400, chunk_size=1500, random_state=5, n_jobs=n_jobs)
        with pytest.raises(ValueError, match=r"NaN or infinity in row 9000\b"):
            tree.build_from_file(path)
        with pytest.raises(RuntimeError, match="no data yet"):
            tree.get_coreset()


def test_leaves_and_merges_with_different_thread_counts_share_no_pool():
    """Leaves and merges of several row blocks each, with n_jobs=4: the leaves' passes run on
    2 threads, the merges' on 4 at the same time (a pool shut down under another's pass was an
    error on a 16-core machine)."""
    X, y = _data(n=2_000_000, seed=4)
    # 7 blocks a leaf: more than a pass submits at once (2 x threads), so a leaf's pass keeps
    # submitting while a merge runs
    params = {"coreset_size": 40_000, "chunk_size": 400_000, "random_state": 1}
    one = CoresetTree(n_jobs=1, **params).build(X, y)
    four = CoresetTree(n_jobs=4, **params).build(X, y)
    assert four.n_leaves_ == 5
    assert_same_tree(four, one)


@pytest.mark.parametrize("chunks", [1, 3])
def test_the_last_leaf_in_flight_takes_every_thread(monkeypatch, chunks):
    """Once no chunk is left, the one leaf still being built runs its passes on all n_jobs
    threads (a single-leaf build included), the others on n_jobs // 2; the tree stays the one
    a one-thread build makes. A leaf starts as soon as its chunk is read, before the next
    chunk is asked for: a single leaf's first passes may still run on n_jobs // 2 (how many
    depends on when the reader thread gets to look; on a busy machine more than one)."""
    import threading

    from coreset_engine import _cpu

    X, y = _data(n=chunks * 8_000 - 1_000)
    seen = []
    real = _cpu.n_workers

    def recording():
        value = real()
        seen.append((threading.current_thread().name, value))
        return value

    monkeypatch.setattr(_cpu, "n_workers", recording)
    params = {"coreset_size": 300, "chunk_size": 8_000, "random_state": 0}
    tree = CoresetTree(n_jobs=4, **params).build(X, y)
    leaf_passes = [value for name, value in seen if name.startswith("coreset-engine-leaf")]
    assert 4 in leaf_passes  # the last leaf, alone
    if chunks > 1:
        assert 2 in leaf_passes  # two leaves at once share the threads
    else:  # half the threads until the reader has found the end of the input, then all
        assert set(leaf_passes) <= {2, 4} and leaf_passes == sorted(leaf_passes)
    monkeypatch.setattr(_cpu, "n_workers", real)
    assert_same_tree(tree, CoresetTree(n_jobs=1, **params).build(X, y))
