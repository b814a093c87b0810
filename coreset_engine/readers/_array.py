"""The part the array formats (HDF5, Zarr) share: a 2-D feature array ``X`` and a 1-D label
array ``y`` that can be sliced by rows."""

from __future__ import annotations

import numpy as np

from ._base import Reader

#: Labels read per slab in the first pass.
LABEL_PASS_ROWS = 4_000_000


class ArrayReader(Reader):
    kind = "array"
    X = None  # set by subclasses: 2-D, sliceable by rows
    y = None

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_columns(self) -> int:
        return int(self.X.shape[1])

    @property
    def dtype(self):
        return np.dtype(self.X.dtype)

    def iter_labels(self, columns=()):
        for start in range(0, self.n_rows, LABEL_PASS_ROWS):
            yield start, np.asarray(self.y[start : start + LABEL_PASS_ROWS]), {}

    def read_rows(self, start: int, stop: int):
        return np.asarray(self.X[start:stop]), np.asarray(self.y[start:stop])
