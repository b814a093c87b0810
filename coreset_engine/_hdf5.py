"""Streaming row chunks out of HDF5 files.

Where a chunk's rows are plain bytes lying in one run of the file (an uncompressed contiguous
dataset, h5py's default, or unfiltered full-width chunks stored one after another), the chunk is
the file mapped into memory, read-only: no copy and no buffer, and the kernel is asked to read
the next chunk's pages ahead. Otherwise one reader thread fills reusable buffers with
``read_direct`` while the caller builds leaves from the previous two chunks (h5py releases the
GIL while HDF5 reads), so I/O and compute overlap and memory stays at three chunk buffers
however long the file is.
"""

from __future__ import annotations

import math
import mmap
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
    """Yield (first row, X chunk, raw y chunk). Where every chunk's rows are one run of bytes
    in the file (:func:`row_mapper`), the X chunk is a read-only view of the file mapped into
    memory (no copy, no buffer); otherwise it is a view into a reused buffer that a reader
    thread fills, valid until VALID_CHUNKS more chunks were taken."""
    from .readers._chunks import background_chunks

    n, d = X_dataset.shape
    starts = range(0, n, chunk_size)
    mapper = row_mapper(X_dataset, dtype)
    if mapper is not None and all(mapper.offset(s, min(n, s + chunk_size)) is not None
                                  for s in starts):  # fmt: skip
        return _mapped_chunks(mapper, y_dataset, starts, chunk_size, n)

    def row_ranges():
        for start in starts:
            stop = min(n, start + chunk_size)
            yield start, np.s_[start:stop], y_dataset[start:stop]

    def read(rows, out):
        X_dataset.read_direct(out, source_sel=rows)
        return out

    return background_chunks(row_ranges(), read, min(chunk_size, n), d, dtype)


def _mapped_chunks(mapper, y_dataset, starts, chunk_size: int, n: int):
    ahead = None
    for start in starts:
        stop = min(n, start + chunk_size)
        X = mapper.rows(start, stop) if ahead is None else ahead
        following = start + chunk_size
        # ask the kernel to read the next chunk's pages while this one is built (a cold file)
        ahead = mapper.rows(following, min(n, following + chunk_size), will_need=True) \
            if following < n else None  # fmt: skip
        yield start, X, y_dataset[start:stop]


class RowMapper:
    """Rows of an HDF5 dataset mapped straight from its file (see :func:`row_mapper`).
    ``offset(start, stop)`` is the byte offset of those rows in the file where they are one
    run of bytes, else None; ``rows(start, stop)`` maps them as a read-only array."""

    def __init__(self, handle, dtype: np.dtype, width: int, offset):
        self.handle, self.dtype, self.width = handle, dtype, width
        self.descriptor, self.path = handle.id.get_vfd_handle(), handle.filename
        self.row_bytes = width * dtype.itemsize
        self.offset = offset

    def rows(self, start: int, stop: int, will_need: bool = False) -> np.ndarray:
        # mapped from the descriptor HDF5 has open (never by name: a file renamed over the
        # path during the build would be another file); the mapping outlives the descriptor
        if not self.handle.id.valid:  # its descriptor may now be another file's
            raise ValueError(f"The HDF5 file {self.path!r} was closed: its rows "
                             "cannot be mapped any more.")  # fmt: skip
        offset = self.offset(start, stop)
        aligned = offset - offset % mmap.ALLOCATIONGRANULARITY
        region = mmap.mmap(self.descriptor, offset - aligned + (stop - start) * self.row_bytes,
                           access=mmap.ACCESS_READ, offset=aligned)  # fmt: skip
        if will_need and hasattr(region, "madvise") and hasattr(mmap, "MADV_WILLNEED"):
            region.madvise(mmap.MADV_WILLNEED)
        return np.frombuffer(region, dtype=self.dtype, count=(stop - start) * self.width,
                             offset=offset - aligned).reshape(stop - start, self.width)  # fmt: skip


def row_mapper(X_dataset, dtype) -> RowMapper | None:
    """A :class:`RowMapper` for ``X_dataset`` read as ``dtype``, or None where its rows are not
    plain bytes in the file: a stored dtype other than ``dtype`` or not in this machine's byte
    order, filters (compression, shuffle, checksums), external storage, a file driver other than
    the default or a user block, a layout other than contiguous or chunked, chunks narrower than
    a row. A chunked dataset's row range maps where its storage chunks are all written, unfiltered,
    and lie one after another in the file (files written chunk by chunk with other datasets in
    between do not).

    A mapped chunk costs no copy and no buffer. Read through HDF5, the chunks of a warm file
    are copied from the page cache into three reused buffers (216 MB each for 1M x 54 float32
    rows) that must first be faulted in: ``python -m benchmarks.bench_scale --contiguous``
    prints the kernel CPU seconds of a build from the chunked file and from a contiguous copy
    of it. Like any memory map, truncating the file while it is read stops the process
    (SIGBUS) instead of raising an error."""
    dtype = np.dtype(dtype)
    if X_dataset.dtype != dtype or not dtype.isnative or X_dataset.ndim != 2:
        return None
    try:
        plist = X_dataset.id.get_create_plist()
        if plist.get_nfilters() or plist.get_external_count():
            return None
        handle = X_dataset.file
        if handle.driver != "sec2" or handle.userblock_size:
            return None
        layout = plist.get_layout()
        n, width = X_dataset.shape
        row_bytes = width * dtype.itemsize
        if layout == h5py.h5d.CONTIGUOUS:
            base = X_dataset.id.get_offset()
            if base is None:  # never written
                return None
            return RowMapper(handle, dtype, width,
                             lambda start, stop: base + start * row_bytes)  # fmt: skip
        if layout != h5py.h5d.CHUNKED or X_dataset.chunks[1] != width:
            return None
        rows_per_chunk = X_dataset.chunks[0]
        chunk_bytes = rows_per_chunk * row_bytes
        offsets = np.full(-(-n // rows_per_chunk), -1, dtype=np.int64)

        def note(info) -> None:  # one visit of the chunk index (get_chunk_info(i) walks it)
            if info.size == chunk_bytes and not info.filter_mask:
                offsets[info.chunk_offset[0] // rows_per_chunk] = info.byte_offset

        X_dataset.id.chunk_iter(note)
    except (AttributeError, OSError, RuntimeError, ValueError):  # an h5py without these calls
        return None

    def offset(start: int, stop: int) -> int | None:
        span = offsets[start // rows_per_chunk : (stop - 1) // rows_per_chunk + 1]
        if (span < 0).any() or (np.diff(span) != chunk_bytes).any():
            return None
        return int(span[0]) + (start % rows_per_chunk) * row_bytes

    return RowMapper(handle, dtype, width, offset)
