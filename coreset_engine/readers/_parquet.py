"""Parquet files (pyarrow): columns read by name, batch by batch, memory bounded by a row
group; row groups give random access for ``read_rows``."""

from __future__ import annotations

import numpy as np

from ._base import register_reader
from ._table import TableReader


@register_reader("parquet", (".parquet", ".pq", ".parq"))
class ParquetReader(TableReader):
    def __init__(self, source):
        super().__init__(source)
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            # pre-buffering (pyarrow's default) reads ahead without bound: the whole file in
            # memory by the end of a pass; a plain buffered stream keeps it to a row group
            self._file = pq.ParquetFile(source.path, pre_buffer=False, buffer_size=1 << 20)
        except (pa.ArrowException, OSError) as error:
            raise ValueError(
                f"The data file {source.path!r} is not a readable Parquet file (truncated or "
                f"another format): {error}"
            ) from None

    def close(self) -> None:
        self._file.close()

    @property
    def schema(self):
        return self._file.schema_arrow

    @property
    def n_rows(self) -> int:
        return self._file.metadata.num_rows

    def _batches(self, columns, batch_rows):
        return self._file.iter_batches(batch_size=batch_rows, columns=columns, use_threads=True)

    def read_rows(self, start: int, stop: int):
        sizes = [self._file.metadata.row_group(i).num_rows
                 for i in range(self._file.num_row_groups)]  # fmt: skip
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        first = int(np.searchsorted(offsets, start, side="right")) - 1
        last = int(np.searchsorted(offsets, stop, side="left"))
        columns = [*self.feature_names, self.source.y]
        table = self._file.read_row_groups(range(first, last), columns=columns, use_threads=True)
        return self._split(table.slice(start - int(offsets[first]), stop - start))
