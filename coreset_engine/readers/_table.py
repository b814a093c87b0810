"""The part every table format (Parquet, CSV, Arrow IPC) shares: feature columns chosen by
name, a label-and-categoricals-only first pass, and leaves re-sliced to ``chunk_size`` rows."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator

from .._tables import plan_features
from ._base import Reader
from ._chunks import background_chunks, rechunk_batches

#: Rows per batch of the first pass (label and categorical columns only).
LABEL_PASS_ROWS = 1 << 20
#: Rows per batch when reading feature rows (re-sliced to chunk_size afterwards).
BATCH_ROWS = 1 << 16


class TableReader(Reader):
    kind = "table"

    @property
    @abstractmethod
    def schema(self):
        """The pyarrow schema of the file's columns (as this reader will return them)."""

    @abstractmethod
    def _batches(self, columns: list[str], batch_rows: int) -> Iterator:
        """pyarrow record batches of ``columns``, in row order, of any size."""

    def plan(self, categorical_features=None):
        """Feature columns, categorical columns and dtype (``_tables.plan_features``)."""
        return plan_features(self.schema, self.source.x, self.source.y, categorical_features,
                             self.where)  # fmt: skip

    @property
    def feature_names(self) -> list[str]:
        return list(self.plan().columns)

    def iter_labels(self, columns=()):
        start = 0
        for batch in self._batches([self.source.y, *columns], LABEL_PASS_ROWS):
            yield start, batch.column(self.source.y), {c: batch.column(c) for c in columns}
            start += batch.num_rows

    def iter_chunks(self, chunk_size: int, encoder):
        columns = [*encoder.names, self.source.y]
        tables = rechunk_batches(self._batches(columns, min(BATCH_ROWS, chunk_size)), chunk_size)
        raw = ((start, table, table.column(self.source.y)) for start, table in tables)
        max_rows = chunk_size if self.n_rows is None else max(1, min(chunk_size, self.n_rows))
        return background_chunks(raw, encoder.transform, max_rows, encoder.n_features,
                                 encoder.dtype)  # fmt: skip

    def _split(self, table):
        """(feature columns, label column) of a table read by ``read_rows``."""
        return table.select(self.feature_names), table.column(self.source.y)
