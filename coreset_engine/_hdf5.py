"""Streaming row chunks out of HDF5 files.

One reader thread fills reusable buffers with ``read_direct`` while the caller builds leaves
from the previous two chunks (h5py releases the GIL while HDF5 reads), so I/O and compute
overlap and memory stays at three chunk buffers however long the file is.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager

import h5py
import numpy as np

from ._validation import check_feature_dtype

_MAX_CHUNK_CACHE_BYTES = 256 * 2**20


def open_readable(path: str, what: str, unreadable: str) -> h5py.File:
    """Open an HDF5 file for reading; a missing file or one HDF5 cannot parse (truncated, another
    format) raises an error that starts with ``what`` and names the path."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} {path!r} does not exist.")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise ValueError(
            f"{what} {path!r} {unreadable} (truncated or another format): {error}"
        ) from None


@contextmanager
def open_dataset_pair(path, x_name: str, y_name: str, chunk_size: int):
    """Open ``path`` and yield its (X, y) datasets after checking names, shapes and dtypes."""
    path = os.fspath(path)
    handle = open_readable(path, "The data file", "is not a readable HDF5 file")
    try:
        X = _get_dataset(handle, x_name, "x", path)
        y = _get_dataset(handle, y_name, "y", path)
        if X.ndim != 2:
            raise ValueError(
                f"The X dataset {x_name!r} in {path!r} must be 2-D (n_rows, n_features). "
                f"Got shape {X.shape} instead."
            )
        if y.ndim != 1:
            raise ValueError(
                f"The y dataset {y_name!r} in {path!r} must be 1-D. Got shape {y.shape} instead."
            )
        if X.shape[0] != y.shape[0]:
            raise ValueError(
                f"The X dataset {x_name!r} and y dataset {y_name!r} in {path!r} must have the "
                f"same number of rows. Got {X.shape[0]} and {y.shape[0]}."
            )
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"The X dataset {x_name!r} in {path!r} is empty (shape {X.shape}).")
        check_feature_dtype(X.dtype, f"The X dataset {x_name!r} in {path!r}")
        yield _with_chunk_cache(X, chunk_size), y
    finally:
        handle.close()


def _get_dataset(handle, name: str, option: str, path: str):
    if name not in handle or not isinstance(handle[name], h5py.Dataset):
        available = []
        handle.visititems(
            lambda key, obj: available.append(key) if isinstance(obj, h5py.Dataset) else None
        )
        raise KeyError(
            f"The {option!r} dataset name {name!r} was not found in {path!r}. "
            f"Datasets in the file: {available}."
        )
    return handle[name]


def _with_chunk_cache(dataset, chunk_size: int):
    """Reopen ``dataset`` with a chunk cache that holds every storage chunk one read of
    ``chunk_size`` rows touches; HDF5's 1 MiB default re-reads chunks that straddle two reads."""
    if dataset.chunks is None:
        return dataset
    rows_per_chunk, cols_per_chunk = dataset.chunks
    chunk_bytes = rows_per_chunk * cols_per_chunk * dataset.dtype.itemsize
    touched = (math.ceil(chunk_size / rows_per_chunk) + 1) * math.ceil(
        dataset.shape[1] / cols_per_chunk
    )
    nbytes = min(_MAX_CHUNK_CACHE_BYTES, max(chunk_bytes * touched, 2**20))
    access = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
    access.set_chunk_cache(max(521, 10 * touched + 1), nbytes, 1.0)
    return h5py.Dataset(h5py.h5d.open(dataset.file.id, dataset.name.encode(), dapl=access))


def iterate_chunks(
    X_dataset, y_dataset, chunk_size: int, dtype: np.dtype
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield (first row, X chunk, raw y chunk). The X chunk is a view into a reused buffer:
    it is valid until the next iteration."""
    from .readers._chunks import background_chunks

    n, d = X_dataset.shape

    def row_ranges():
        for start in range(0, n, chunk_size):
            stop = min(n, start + chunk_size)
            yield start, np.s_[start:stop], y_dataset[start:stop]

    def read(rows, out):
        X_dataset.read_direct(out, source_sel=rows)
        return out

    return background_chunks(row_ranges(), read, min(chunk_size, n), d, dtype)
