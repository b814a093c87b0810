"""CSV files (also gzip-compressed: ``.csv.gz``, and tab-separated ``.tsv``), streamed with
pyarrow's block reader.

Column types are fixed before any row is built on: pyarrow infers them from the first block,
then every later block is converted to exactly those types (numeric feature columns to float64,
so integers followed by decimals are fine). A value that does not fit its column's type further
down (text in a numeric column) is an error naming the column and the row, never a silent cast.
The number of rows is unknown until the first pass has read the file."""

from __future__ import annotations

import re

from .._tables import is_numeric_type
from ._base import register_reader
from ._table import TableReader

#: Bytes per block: the first block's rows decide the column types. pyarrow's default size;
#: larger blocks parsed 2-3x slower here (1 MiB 4.7 s, 4 MiB 8.6-11.6 s, 16 MiB 13.6 s for a
#: 117 MB file of 54 float columns, two busy cores).
BLOCK_BYTES = 1 << 20
_NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


@register_reader("csv", (".csv", ".csv.gz", ".csv.bz2", ".csv.zst", ".tsv", ".tsv.gz"))
class CsvReader(TableReader):
    random_access = False

    def __init__(self, source):
        super().__init__(source)
        import pyarrow as pa

        options = dict(source.options)
        lower = source.path.lower()
        default = "\t" if ".tsv" in lower else ","
        self._delimiter = options.get("delimiter", default)
        try:
            first_block = self._open(None, None)
            inferred = first_block.schema
            self._first_batch = next(iter(first_block), None)
        except (pa.ArrowInvalid, OSError) as error:
            raise ValueError(
                f"The data file {source.path!r} is not a readable CSV file: {error}"
            ) from None
        types = {}
        for field in inferred:
            kind = field.type
            if field.name != source.y and is_numeric_type(kind) and not pa.types.is_boolean(kind):
                kind = pa.float64()  # ints in the first block, decimals later: still numbers
            elif field.name == source.y and pa.types.is_null(kind):
                kind = pa.string()
            types[field.name] = kind
        self._types = types
        self._schema = pa.schema([(name, kind) for name, kind in types.items()])

    def _open(self, columns, types, *, threads: bool = True):
        import pyarrow as pa
        from pyarrow import csv

        stream = pa.input_stream(self.source.path, compression="detect")
        return csv.open_csv(
            stream,
            read_options=csv.ReadOptions(block_size=BLOCK_BYTES, use_threads=threads),
            parse_options=csv.ParseOptions(delimiter=self._delimiter),
            convert_options=csv.ConvertOptions(
                include_columns=columns, column_types=types, strings_can_be_null=True,
            ),
        )  # fmt: skip

    @property
    def schema(self):
        return self._schema

    def plan(self, categorical_features=None):
        """As for any table, and a text column whose first rows are mostly numbers is an error
        naming a row that is not (a stray "abc" would otherwise make it categorical)."""
        plan = super().plan(categorical_features)
        named = () if isinstance(categorical_features, str) else (categorical_features or ())
        for column in plan.categorical:
            if column not in named and self._first_batch is not None:
                self._check_not_mostly_numbers(column)
        return plan

    def _check_not_mostly_numbers(self, column: str) -> None:
        import pyarrow.compute as pc

        values = self._first_batch.column(column).drop_null()
        if not len(values) or values.type != self._types[column]:
            return
        numeric = pc.match_substring_regex(values.cast("string"), _NUMBER).to_numpy(
            zero_copy_only=False
        )
        if numeric.mean() > 0.5 and not numeric.all():
            everything = self._first_batch.column(column)
            flags = pc.match_substring_regex(everything.cast("string"), _NUMBER)
            not_number = pc.and_(pc.invert(flags.fill_null(True)), pc.is_valid(everything))
            row = int(pc.index(not_number, True).as_py())
            raise ValueError(
                f"The CSV file {self.source.path!r} column {column!r} holds numbers in most of "
                f"its first rows but {everything[row].as_py()!r} in row {row}: fix the value, or "
                "name the column in categorical_features if it holds categories."
            )

    @property
    def n_rows(self) -> None:
        return None

    def _batches(self, columns, batch_rows):
        import pyarrow as pa

        reader = self._open(columns, {name: self._types[name] for name in columns})
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowInvalid as error:
                raise self._conversion_error(columns, error) from None
            yield batch

    def _conversion_error(self, columns, error) -> ValueError:
        """Read again on one thread, which makes pyarrow name the row."""
        import pyarrow as pa

        message = str(error)
        try:
            reader = self._open(columns, {name: self._types[name] for name in columns},
                                threads=False)  # fmt: skip
            for _ in reader:
                pass
        except pa.ArrowInvalid as precise:
            message = str(precise)
        found = re.search(r"CSV column #(\d+): Row #(\d+): (.*)", message, re.DOTALL)
        if not found:
            return ValueError(f"The CSV file {self.source.path!r} could not be read: {message}")
        column = columns[int(found.group(1))]
        row = int(found.group(2)) - 2  # pyarrow counts lines from 1, with the header line
        return ValueError(
            f"The CSV file {self.source.path!r} column {column!r} does not keep the type "
            f"{self._types[column]} of its first rows: row {row} (line {row + 2}): "
            f"{found.group(3).strip()}. Fix the value, or name the column in "
            "categorical_features if it holds categories."
        )
