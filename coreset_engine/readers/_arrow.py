"""Arrow IPC files and Feather (v2) files, memory-mapped; record batches give random access.
The IPC stream format (``.arrows``) is read in order only."""

from __future__ import annotations

import numpy as np

from ._base import register_reader
from ._table import TableReader


@register_reader("arrow", (".arrow", ".feather", ".ipc", ".arrows"))
class ArrowReader(TableReader):
    def __init__(self, source):
        super().__init__(source)
        import pyarrow as pa

        self._map = pa.memory_map(source.path)
        try:
            self._file = pa.ipc.open_file(self._map)
        except pa.ArrowInvalid:
            try:
                self._map.seek(0)
                self._schema = pa.ipc.open_stream(self._map).schema
                self._file = None
                self.random_access = False
            except pa.ArrowInvalid as error:
                self._map.close()
                raise ValueError(
                    f"The data file {source.path!r} is not a readable Arrow IPC or Feather file "
                    f"(truncated or another format): {error}"
                ) from None
        self._offsets = None

    def close(self) -> None:
        self._map.close()

    @property
    def schema(self):
        return self._schema if self._file is None else self._file.schema

    @property
    def n_rows(self) -> int | None:
        return None if self._file is None else self._file.count_rows()

    def _reader(self, columns):
        """A file reader that decodes only ``columns`` (compressed Feather decompresses only
        what it returns)."""
        import pyarrow as pa

        indices = [self.schema.get_field_index(name) for name in columns]
        options = pa.ipc.IpcReadOptions(included_fields=sorted(indices))
        return pa.ipc.open_file(self._map, options=options)

    def _batches(self, columns, batch_rows):
        import pyarrow as pa

        if self._file is None:
            with pa.memory_map(self.source.path) as stream_map:
                for batch in pa.ipc.open_stream(stream_map):
                    yield batch.select(columns)
            return
        reader = self._reader(columns)
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i).select(columns)

    def read_rows(self, start: int, stop: int):
        if self._file is None:
            return super().read_rows(start, stop)
        import pyarrow as pa

        if self._offsets is None:
            first_column = self._reader([self.schema.names[0]])
            sizes = [first_column.get_batch(i).num_rows
                     for i in range(first_column.num_record_batches)]  # fmt: skip
            self._offsets = np.concatenate([[0], np.cumsum(sizes)])
        first = int(np.searchsorted(self._offsets, start, side="right")) - 1
        last = int(np.searchsorted(self._offsets, stop, side="left"))
        columns = [*self.feature_names, self.source.y]
        reader = self._reader(columns)
        table = pa.Table.from_batches([reader.get_batch(i).select(columns)
                                       for i in range(first, last)])  # fmt: skip
        return self._split(table.slice(start - int(self._offsets[first]), stop - start))
