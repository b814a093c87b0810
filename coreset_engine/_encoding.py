"""Feature encoders: how the rows of a table (numbers, strings, categoricals) become the float
matrix a tree is built on, the same way for every chunk, append and test set.

A categorical column keeps its ``max_categories`` most frequent values (counted on the first
pass over the data); every other value, including values never seen before, goes to one
"<other>" category, and a missing value is a category of its own ("<missing>") when the first
pass saw one. So encoding never fails mid-file. ``encoding="onehot"`` gives one 0/1 column per
category, ``"ordinal"`` one column holding the category's number.

The stored, user-facing form is a scikit-learn transformer (``TableEncoder.to_sklearn``: a
``ColumnTransformer`` of ``OneHotEncoder`` / ``OrdinalEncoder`` with explicit categories);
chunks are encoded by the same mapping done with pyarrow (``pc.index_in``), which is many times
faster on strings and gives identical output (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._tables import FeaturePlan, as_arrow_table, is_table
from ._validation import as_feature_matrix

OTHER = "<other>"
MISSING = "<missing>"
ENCODINGS = ("onehot", "ordinal")
#: Rows written per block when a chunk's columns are interleaved into the row-major matrix (a
#: block of the output stays in cache while every column is written into it).
_BLOCK_ROWS = 16_384
#: Distinct values a category counter holds before it drops the rarest half (bounded memory on
#: ID-like columns; the values kept are the frequent ones, which are all that is needed).
_COUNTER_LIMIT = 200_000


def category_strings(array):
    """A pyarrow array of categories as strings (dictionary<string> kept as it is)."""
    import pyarrow as pa

    kind = array.type
    if pa.types.is_dictionary(kind) and pa.types.is_string(kind.value_type):
        return array
    if pa.types.is_string(kind):
        return array
    return array.cast(pa.string())


class CategoryCounter:
    """Frequencies of a categorical column's values, chunk by chunk (None: missing)."""

    def __init__(self, name: str):
        self.name = name
        self.counts: dict = {}

    def add(self, array) -> None:
        import pyarrow.compute as pc

        counted = pc.value_counts(category_strings(array))
        for value, count in zip(counted.field("values").to_pylist(),
                                counted.field("counts").to_pylist()):  # fmt: skip
            self.counts[value] = self.counts.get(value, 0) + count
        if len(self.counts) > _COUNTER_LIMIT:
            kept = sorted(self.counts.items(), key=lambda item: -item[1])[: _COUNTER_LIMIT // 2]
            self.counts = dict(kept)

    def kept(self, max_categories: int) -> tuple[tuple[str, ...], bool]:
        """The most frequent values (ties: smaller value first), sorted, and whether "missing"
        is among them."""
        for reserved in (OTHER, MISSING):
            if reserved in self.counts:
                raise ValueError(
                    f"The categorical column {self.name!r} holds the value {reserved!r}, which "
                    "names a category of the encoder. Rename that value."
                )
        ranked = sorted(self.counts.items(), key=lambda item: (-item[1], item[0] is None,
                                                               item[0] or ""))  # fmt: skip
        top = [value for value, _ in ranked[:max_categories]]
        return tuple(sorted(value for value in top if value is not None)), None in top


@dataclass(frozen=True)
class EncodedColumn:
    """A feature column: numeric (``categories`` None) or categorical with its kept values."""

    name: str
    categories: tuple[str, ...] | None = None
    missing: bool = False

    def all_categories(self) -> list[str]:
        """Every category in code order: the kept values, "<missing>" if kept, "<other>"."""
        return [*self.categories, *([MISSING] if self.missing else []), OTHER]


@dataclass(frozen=True, eq=False)
class TableEncoder:
    """Encodes table rows (pyarrow, pandas, polars) into a float matrix."""

    columns: tuple[EncodedColumn, ...]
    encoding: str
    dtype: np.dtype

    @classmethod
    def fit(cls, plan: FeaturePlan, counters: dict, encoding: str, max_categories: int):
        """From the first pass: ``counters`` maps each categorical column to its counter."""
        columns = []
        for name in plan.columns:
            if name in plan.categorical:
                values, missing = counters[name].kept(max_categories)
                columns.append(EncodedColumn(name, values, missing))
            else:
                columns.append(EncodedColumn(name))
        return cls(tuple(columns), encoding, np.dtype(plan.dtype))

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def feature_names(self) -> list[str]:
        """Names of the output columns, as scikit-learn's encoders name them."""
        names = []
        for column in self.columns:
            if column.categories is None or self.encoding == "ordinal":
                names.append(column.name)
            else:
                names.extend(f"{column.name}_{value}" for value in column.all_categories())
        return names

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def has_categories(self) -> bool:
        return any(column.categories is not None for column in self.columns)

    def _width(self, column: EncodedColumn) -> int:
        if column.categories is None or self.encoding == "ordinal":
            return 1
        return len(column.all_categories())

    # ---------------------------------------------------------------------- encoding
    def transform(self, data, out: np.ndarray | None = None) -> np.ndarray:
        """The encoded rows of ``data`` (a table holding at least the feature columns), written
        into ``out`` when given (shape (rows, n_features), this encoder's dtype)."""
        table = self.select(data)
        n_rows = table.num_rows
        if out is None:
            out = np.empty((n_rows, self.n_features), dtype=self.dtype)
        row = 0
        for batch in table.to_batches():
            if batch.num_rows:
                self._write_batch(batch, out[row : row + batch.num_rows])
                row += batch.num_rows
        return out

    def select(self, data, where: str = "X"):
        """The feature columns of a table, as a pyarrow Table; a missing column is an error."""
        table = as_arrow_table(data, where)
        missing = [name for name in self.names if name not in table.column_names]
        if missing:
            raise KeyError(
                f"{where} lacks the feature columns {missing} the tree was built with. "
                f"Got columns {table.column_names}."
            )
        return table.select(self.names)

    def _write_batch(self, batch, out: np.ndarray) -> None:
        parts = []  # (first output column, kind, values)
        position = 0
        for index, column in enumerate(self.columns):
            array = batch.column(index)
            if column.categories is None:
                parts.append((position, "value", _numeric_values(array, self.dtype)))
            else:
                codes = self._codes(array, column)
                kind = "value" if self.encoding == "ordinal" else "onehot"
                parts.append((position, kind, codes))
                if kind == "onehot":
                    out[:, position : position + self._width(column)] = 0
            position += self._width(column)
        n_rows = out.shape[0]
        for start in range(0, n_rows, _BLOCK_ROWS):
            stop = min(n_rows, start + _BLOCK_ROWS)
            block = out[start:stop]
            for first, kind, values in parts:
                if kind == "value":
                    block[:, first] = values[start:stop]
                else:
                    block[np.arange(stop - start), first + values[start:stop]] = 1

    def _codes(self, array, column: EncodedColumn) -> np.ndarray:
        """Category numbers (code order of ``all_categories``) of an array's values."""
        import pyarrow as pa
        import pyarrow.compute as pc

        values = category_strings(array)
        kept = pa.array(list(column.categories), type=pa.string())
        codes = pc.index_in(values, value_set=kept).fill_null(-1).to_numpy().astype(np.intp)
        other = len(column.categories) + int(column.missing)
        unmatched = codes < 0
        if unmatched.any():
            codes[unmatched] = other
            if values.null_count and column.missing:
                codes[values.is_null().to_numpy(zero_copy_only=False)] = len(column.categories)
        return codes

    # ------------------------------------------------------------------- scikit-learn
    def to_sklearn(self):
        """The same encoding as a fitted scikit-learn ``ColumnTransformer`` (one step per column,
        in column order; a categorical column is a ``Pipeline`` that maps values outside the kept
        categories to "<other>" and then a ``OneHotEncoder`` / ``OrdinalEncoder`` with explicit
        categories). ``transform`` of a pandas DataFrame gives the same matrix as
        :meth:`transform`."""
        import pandas as pd
        from sklearn.compose import ColumnTransformer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder

        steps, prototype = [], {}
        for index, column in enumerate(self.columns):
            if column.categories is None:
                steps.append((f"column{index}", "passthrough", [column.name]))
                prototype[column.name] = [0.0]
                continue
            categories = column.all_categories()
            if self.encoding == "onehot":
                encoder = OneHotEncoder(categories=[categories], sparse_output=False,
                                        dtype=self.dtype)  # fmt: skip
            else:
                encoder = OrdinalEncoder(categories=[categories], dtype=self.dtype)
            kept = FunctionTransformer(
                keep_known_categories, feature_names_out="one-to-one",
                kw_args={"kept": list(column.categories), "missing": column.missing},
            )  # fmt: skip
            steps.append((f"column{index}", Pipeline([("kept", kept), ("encode", encoder)]),
                          [column.name]))  # fmt: skip
            prototype[column.name] = pd.Series([OTHER], dtype=object)
        transformer = ColumnTransformer(steps, remainder="drop", sparse_threshold=0.0,
                                        verbose_feature_names_out=False)  # fmt: skip
        return transformer.fit(pd.DataFrame(prototype))

    # ------------------------------------------------------------------- persistence
    def to_json(self) -> dict:
        return {
            "kind": "table",
            "encoding": self.encoding,
            "dtype": self.dtype.str,
            "columns": [
                {"name": c.name, "categories": None if c.categories is None else list(c.categories),
                 "missing": c.missing}
                for c in self.columns
            ],
        }  # fmt: skip


def keep_known_categories(X, kept, missing):
    """One column of values as strings, values outside ``kept`` replaced by "<other>" and
    missing values by "<missing>" (or "<other>" if ``missing`` is False); the first step of
    :meth:`TableEncoder.to_sklearn`."""
    import pyarrow as pa

    if is_table(X):
        array = as_arrow_table(X).column(0)
    else:
        array = pa.array(np.asarray(X, dtype=object)[:, 0], from_pandas=True)
    known = set(kept)
    strings = category_strings(array).cast(pa.string()).to_pylist()
    replaced = [
        (MISSING if missing else OTHER) if value is None else value if value in known else OTHER
        for value in strings
    ]
    return np.array(replaced, dtype=object).reshape(-1, 1)


def _numeric_values(array, dtype: np.dtype) -> np.ndarray:
    """A numeric column as NumPy ``dtype`` (missing values: NaN, caught by the finite check)."""
    import pyarrow as pa

    target = pa.from_numpy_dtype(dtype)
    if array.type != target:
        array = array.cast(target, safe=False)
    return array.to_numpy(zero_copy_only=False)


@dataclass(frozen=True, eq=False)
class ArrayEncoder:
    """Plain numeric matrices (NumPy, HDF5, Zarr): columns kept as they are, in ``dtype``."""

    n_columns: int
    dtype: np.dtype
    names: tuple[str, ...] | None = None

    @property
    def feature_names(self) -> list[str] | None:
        return None if self.names is None else list(self.names)

    @property
    def n_features(self) -> int:
        return self.n_columns

    has_categories = False

    def transform(self, data, out: np.ndarray | None = None) -> np.ndarray:
        if is_table(data) and not hasattr(data, "to_numpy"):
            table = as_arrow_table(data)
            data = np.column_stack([column.to_numpy() for column in table.columns])
        X = as_feature_matrix(data)
        if X.shape[1] != self.n_columns:
            raise ValueError(
                f"X must have {self.n_columns} features, as the rows already in the tree. "
                f"Got {X.shape[1]} instead."
            )
        X = X.astype(self.dtype, copy=False)
        if out is not None:
            out[...] = X
            return out
        return X

    def to_json(self) -> dict:
        return {"kind": "array", "n_columns": self.n_columns, "dtype": self.dtype.str,
                "names": None if self.names is None else list(self.names)}  # fmt: skip


def encoder_from_json(item: dict):
    if item["kind"] == "array":
        names = item.get("names")
        return ArrayEncoder(int(item["n_columns"]), np.dtype(item["dtype"]),
                            None if names is None else tuple(names))  # fmt: skip
    columns = tuple(
        EncodedColumn(c["name"], None if c["categories"] is None else tuple(c["categories"]),
                      bool(c["missing"]))
        for c in item["columns"]
    )  # fmt: skip
    return TableEncoder(columns, item["encoding"], np.dtype(item["dtype"]))
