"""HDF5 files (h5py): a 2-D feature dataset and a 1-D label dataset, read by the existing
threaded reader (``coreset_engine._hdf5``)."""

from __future__ import annotations

from .. import _hdf5
from ._base import Reader, register_reader

#: Labels read per slab in the first pass.
LABEL_PASS_ROWS = 4_000_000


@register_reader("hdf5", (".h5", ".hdf5", ".hdf", ".he5"))
class Hdf5Reader(Reader):
    kind = "array"

    def __init__(self, source, chunk_size: int = 1 << 20):
        super().__init__(source)
        self._pair = _hdf5.open_dataset_pair(source.path, source.x, source.y, chunk_size)
        self.X, self.y = self._pair.__enter__()

    def close(self) -> None:
        self._pair.__exit__(None, None, None)

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_columns(self) -> int:
        return int(self.X.shape[1])

    @property
    def dtype(self):
        return self.X.dtype

    def iter_labels(self, columns=()):
        for start in range(0, self.n_rows, LABEL_PASS_ROWS):
            yield start, self.y[start : start + LABEL_PASS_ROWS], {}

    def iter_chunks(self, chunk_size: int, encoder):
        X = _hdf5._with_chunk_cache(self.X, chunk_size)
        return _hdf5.iterate_chunks(X, self.y, chunk_size, encoder.dtype)

    def read_rows(self, start: int, stop: int):
        return self.X[start:stop], self.y[start:stop]
