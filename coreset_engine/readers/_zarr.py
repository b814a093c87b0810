"""Zarr stores (``pip install coreset-engine[zarr]``): a group holding a 2-D feature array and
a 1-D label array, as an HDF5 file does; any row range can be read."""

from __future__ import annotations

import numpy as np

from .._validation import check_feature_dtype
from ._array import ArrayReader
from ._base import register_reader
from ._chunks import background_chunks


def _import_zarr():
    try:
        import zarr
    except ImportError:
        raise ImportError(
            "Reading Zarr stores needs zarr: pip install 'coreset-engine[zarr]'."
        ) from None
    return zarr


@register_reader("zarr", (".zarr", ".zarr.zip"))
class ZarrReader(ArrayReader):
    def __init__(self, source):
        super().__init__(source)
        zarr = _import_zarr()
        try:
            group = zarr.open_group(source.path, mode="r")
        except Exception as error:  # zarr raises several types for a store it cannot read
            raise ValueError(
                f"The data file {source.path!r} is not a readable Zarr group: {error}"
            ) from None
        arrays = dict(group.arrays())
        for option, name in (("x", source.x), ("y", source.y)):
            if name not in arrays:
                raise KeyError(
                    f"The {option!r} dataset name {name!r} was not found in {source.path!r}. "
                    f"Arrays in the store: {sorted(arrays)}."
                )
        self.X, self.y = arrays[source.x], arrays[source.y]
        if len(self.X.shape) != 2:
            raise ValueError(
                f"The X dataset {source.x!r} in {source.path!r} must be 2-D (n_rows, "
                f"n_features). Got shape {self.X.shape} instead."
            )
        if len(self.y.shape) != 1 or self.y.shape[0] != self.X.shape[0]:
            raise ValueError(
                f"The y dataset {source.y!r} in {source.path!r} must be 1-D with one label per "
                f"row of X ({self.X.shape[0]}). Got shape {self.y.shape} instead."
            )
        check_feature_dtype(self.X.dtype, f"The X dataset {source.x!r} in {source.path!r}")

    def iter_chunks(self, chunk_size: int, encoder):
        def raw():
            for start in range(0, self.n_rows, chunk_size):
                stop = min(self.n_rows, start + chunk_size)
                yield start, (start, stop), np.asarray(self.y[start:stop])

        def fill(rows, out):
            out[...] = self.X[rows[0] : rows[1]]
            return out

        return background_chunks(raw(), fill, min(chunk_size, self.n_rows), self.n_columns,
                                 encoder.dtype)  # fmt: skip
