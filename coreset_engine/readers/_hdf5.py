"""HDF5 files (h5py): a 2-D feature dataset and a 1-D label dataset, read by the existing
threaded reader (``coreset_engine._hdf5``)."""

from __future__ import annotations

from functools import cached_property

import numpy as np

from .. import _hdf5
from ._array import ArrayReader
from ._base import register_reader


@register_reader("hdf5", (".h5", ".hdf5", ".hdf", ".he5"))
class Hdf5Reader(ArrayReader):
    def __init__(self, source, chunk_size: int = 1 << 20):
        super().__init__(source)
        self._pair = _hdf5.open_dataset_pair(source.path, source.x, source.y, chunk_size)
        self.X, self.y = self._pair.__enter__()

    def close(self) -> None:
        self._pair.__exit__(None, None, None)

    @cached_property
    def _mapper(self):
        """One look at the chunk index per open file."""
        return _hdf5.row_mapper(self.X, self.X.dtype)

    def read_rows(self, start: int, stop: int):
        """Rows ``start..stop`` (a Dask build's leaf task): mapped from the file where they are
        plain bytes in one run (:func:`coreset_engine._hdf5.row_mapper`), else read."""
        mapper = self._mapper
        if mapper is not None and stop > start and mapper.offset(start, stop) is not None:
            return mapper.rows(start, stop), np.asarray(self.y[start:stop])
        return super().read_rows(start, stop)

    def iter_chunks(self, chunk_size: int, encoder):
        X = _hdf5._with_chunk_cache(self.X, chunk_size)
        return _hdf5.iterate_chunks(X, self.y, chunk_size, encoder.dtype)
