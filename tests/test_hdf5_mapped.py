"""HDF5 rows mapped straight from the file (``_hdf5.row_mapper``) where they are plain bytes,
read through HDF5 into buffers everywhere else; the same tree either way."""

import h5py
import numpy as np
import pytest

from coreset_engine import CoresetTree
from coreset_engine._hdf5 import iterate_chunks, row_mapper

ROWS, COLUMNS = 12_000, 6


def _data(dtype=np.float32):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((ROWS, COLUMNS)).astype(dtype)
    return X, (X[:, 0] + 0.5 * rng.standard_normal(ROWS) > 0).astype(np.int64)


def _write(path, X, y, **options):
    with h5py.File(path, "w") as handle:
        handle.create_dataset("X", data=X, **options)
        handle.create_dataset("y", data=y)
    return path


def _chunks(path, chunk_size=5_000, dtype=np.float32):
    with h5py.File(path, "r") as handle:
        return [(start, X.copy(), X.flags.writeable, y.copy())
                for start, X, y in iterate_chunks(handle["X"], handle["y"], chunk_size, dtype)]


@pytest.mark.parametrize("options", [{}, {"chunks": (1_000, COLUMNS)}], ids=["contiguous", "chunked"])
def test_plain_rows_are_mapped_read_only_and_equal_the_data(tmp_path, options):
    X, y = _data()
    path = _write(tmp_path / "plain.h5", X, y, **options)
    with h5py.File(path, "r") as handle:
        assert row_mapper(handle["X"], np.float32) is not None
        assert row_mapper(handle["X"], np.float64) is None  # another dtype: read and cast
    chunks = _chunks(path)
    assert [start for start, *_ in chunks] == [0, 5_000, 10_000]
    for start, part, writeable, labels in chunks:
        assert not writeable  # the file's pages, not a buffer
        np.testing.assert_array_equal(part, X[start : start + 5_000])
        np.testing.assert_array_equal(labels, y[start : start + 5_000])


@pytest.mark.parametrize("options", [{"chunks": (1_000, COLUMNS), "compression": "gzip"},
                                     {"chunks": (1_000, 3)}],
                         ids=["compressed", "narrow-chunks"])  # fmt: skip
def test_rows_that_are_not_plain_bytes_are_read_into_buffers(tmp_path, options):
    X, y = _data()
    path = _write(tmp_path / "filtered.h5", X, y, **options)
    with h5py.File(path, "r") as handle:
        assert row_mapper(handle["X"], np.float32) is None
    for start, part, writeable, _ in _chunks(path):
        assert writeable
        np.testing.assert_array_equal(part, X[start : start + 5_000])


def test_chunks_written_apart_fall_back_to_reading_the_whole_file(tmp_path):
    """The second half's chunks come after another dataset in the file: a range across the
    gap cannot be one mapping, so every chunk is read through HDF5 (one way per file)."""
    X, y = _data()
    path = tmp_path / "apart.h5"
    with h5py.File(path, "w") as handle:
        out = handle.create_dataset("X", shape=X.shape, dtype=X.dtype, chunks=(1_000, COLUMNS))
        out[:6_000] = X[:6_000]
        handle.flush()  # the first half's chunks get their place in the file now
        handle.create_dataset("between", data=np.ones(50_000))
        out[6_000:] = X[6_000:]
        handle.create_dataset("y", data=y)
    with h5py.File(path, "r") as handle:
        mapper = row_mapper(handle["X"], np.float32)
        assert mapper.offset(0, 6_000) is not None and mapper.offset(6_000, ROWS) is not None
        assert mapper.offset(5_000, 7_000) is None
        np.testing.assert_array_equal(mapper.rows(6_000, ROWS), X[6_000:])
    chunks = _chunks(path)
    assert all(writeable for _, _, writeable, _ in chunks)
    for start, part, _, _ in chunks:
        np.testing.assert_array_equal(part, X[start : start + 5_000])
    assert all(not w for *_, w, _ in _chunks(path, chunk_size=6_000))  # ranges within runs


@pytest.mark.parametrize("options", [{}, {"chunks": (1_000, COLUMNS), "compression": "gzip"}],
                         ids=["mapped", "read"])  # fmt: skip
def test_a_tree_from_the_file_is_the_tree_of_its_arrays(tmp_path, options):
    X, y = _data()
    path = _write(tmp_path / "tree.h5", X, y, **options)
    params = {"coreset_size": 600, "chunk_size": 4_000, "random_state": 0}
    from_file = CoresetTree(**params).build_from_file(path).get_coreset()
    in_memory = CoresetTree(**params).build(X, y).get_coreset()
    np.testing.assert_array_equal(from_file.indices, in_memory.indices)
    np.testing.assert_array_equal(from_file.weights, in_memory.weights)
    np.testing.assert_array_equal(from_file.X, in_memory.X)


def test_a_dask_leaf_task_reads_its_rows_mapped(tmp_path):
    from coreset_engine.readers import make_source

    X, y = _data()
    source = make_source(_write(tmp_path / "rows.h5", X, y), None, "X", "y")
    features, labels = source.read_rows(2_500, 9_000)
    assert not features.flags.writeable  # mapped
    np.testing.assert_array_equal(features, X[2_500:9_000])
    np.testing.assert_array_equal(labels, y[2_500:9_000])
    compressed = make_source(_write(tmp_path / "gz.h5", X, y, chunks=(1_000, COLUMNS),
                                    compression="gzip"), None, "X", "y")  # fmt: skip
    features, _ = compressed.read_rows(2_500, 9_000)
    assert features.flags.writeable
    np.testing.assert_array_equal(features, X[2_500:9_000])


def test_rows_are_mapped_from_the_open_file_not_from_its_path(tmp_path):
    """A file renamed over the path during a build is another file: the rows still come from
    the one HDF5 opened; once it is closed, mapping refuses instead of reading a reused
    descriptor."""
    import os

    X, y = _data()
    path = _write(tmp_path / "data.h5", X, y)
    other = _write(tmp_path / "other.h5", X + 100, y)
    handle = h5py.File(path, "r")
    mapper = row_mapper(handle["X"], np.float32)
    os.replace(other, path)
    np.testing.assert_array_equal(mapper.rows(100, 5_000), X[100:5_000])
    handle.close()
    with pytest.raises(ValueError, match="was closed"):
        mapper.rows(0, 10)


def test_make_data_files_are_mapped_whole(tmp_path):
    """``make_synthetic_hdf5`` allocates X's chunks one after another (not between the labels'
    chunks as they are written), so every chunk of a build maps."""
    from coreset_engine.synthetic import make_synthetic_hdf5

    path = tmp_path / "made.h5"
    make_synthetic_hdf5(path, 300_000, n_features=5, chunk_rows=1_000, random_state=0)
    with h5py.File(path, "r") as handle:
        mapper = row_mapper(handle["X"], np.float32)
        assert mapper is not None and mapper.offset(0, 300_000) is not None
        np.testing.assert_array_equal(mapper.rows(0, 300_000), handle["X"][()])
