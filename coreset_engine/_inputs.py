"""What a tree is built from, turned into encoders and encoded chunks: in-memory data (NumPy,
pandas, polars, pyarrow) and data files of any registered format (``readers``).

The first pass over the data fits the label mapping (``_labels``) and the categorical encoder
(``_encoding``); it reads only the label column and the categorical feature columns. Every chunk
after that, every append and every test set go through the same encoders.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ._encoding import ENCODINGS, ArrayEncoder, CategoryCounter, TableEncoder
from ._labels import LabelClasses
from ._tables import as_arrow_table, is_table, plan_features
from ._validation import as_feature_matrix, check_feature_dtype, check_int


@dataclass(frozen=True)
class EncodingSettings:
    """The tree parameters the first pass needs."""

    n_classes: int | None
    max_classes: int
    categorical_features: object
    categorical_encoding: str
    max_categories: int
    #: ``CoresetTree(task=...)``: class labels, or continuous targets read as floats.
    task: str = "logistic_regression"

    def label_pass(self, name: str, first_row: int = 0):
        """The first pass over y for this task (``LabelPass`` or ``TargetPass``)."""
        from .tasks import get_task

        return get_task(self.task).label_pass(name, self.n_classes, self.max_classes, first_row)


def check_encoding_params(tree, caller: str) -> None:
    check_int(tree.max_classes, "max_classes", caller, minimum=2)
    check_int(tree.max_categories, "max_categories", caller)
    if tree.categorical_encoding not in ENCODINGS:
        raise ValueError(
            f"The 'categorical_encoding' parameter of {caller} must be one of {list(ENCODINGS)}. "
            f"Got {tree.categorical_encoding!r} instead."
        )
    features = tree.categorical_features
    if not (features is None or features == "from_dtype" or (
        not isinstance(features, (str, bytes)) and all(isinstance(n, str) for n in features)
    )):  # fmt: skip
        raise ValueError(
            f"The 'categorical_features' parameter of {caller} must be 'from_dtype', None or a "
            f"list of column names. Got {features!r} instead."
        )


class InMemoryData:
    """Rows given to ``build`` / ``partial_build``: a table (pandas, polars, pyarrow), whose
    label may be one of its columns (``y`` a column name), or a numeric matrix."""

    def __init__(self, X, y):
        self.original = X
        if is_table(X):
            self.table = as_arrow_table(X)
            self.label_column = y if isinstance(y, str) else None
            if self.label_column is not None:
                if y not in self.table.column_names:
                    raise KeyError(
                        f"The label column {y!r} was not found in X. "
                        f"Columns: {self.table.column_names}."
                    )
                y = self.table.column(y)
            self.matrix = None
            self.n_rows = self.table.num_rows
        else:
            self.table, self.label_column = None, None
            self.matrix = as_feature_matrix(X)
            self.n_rows = self.matrix.shape[0]
        if self.n_rows == 0:
            raise ValueError("X must have at least one row and one column. Got 0 rows.")
        self.labels = _label_array(y, self.n_rows)

    def fit_encoder(self, settings: EncodingSettings):
        if self.table is None:
            return ArrayEncoder(self.matrix.shape[1], self.matrix.dtype)
        plan = plan_features(self.table.schema, None, self.label_column,
                             settings.categorical_features, "X")  # fmt: skip
        counters = {}
        for name in plan.categorical:
            counters[name] = CategoryCounter(name)
            counters[name].add(self.table.column(name))
        return TableEncoder.fit(plan, counters, settings.categorical_encoding,
                                settings.max_categories)  # fmt: skip

    def encoded_matrix(self, encoder) -> np.ndarray | None:
        """The whole encoded matrix for NumPy input (checked up front, as before); None for
        tables, which are encoded chunk by chunk."""
        if isinstance(encoder, ArrayEncoder):  # a tree of plain matrices: any numeric input
            if getattr(self, "_encoded", None) is None:
                features = self.matrix
                if features is None:
                    features = self.table
                    if self.label_column is not None:
                        features = features.drop_columns([self.label_column])
                self._encoded = encoder.transform(features)
            return self._encoded
        if self.table is None:
            raise TypeError(
                "X must be a table (pandas or polars DataFrame, pyarrow Table) with the columns "
                f"{encoder.names}: the tree was built from a table. Got a matrix instead."
            )
        encoder.select(self.table)  # every feature column present: an error before any leaf
        return None

    def chunks(self, encoder, codes: np.ndarray, chunk_size: int, offset: int = 0):
        """(first row of the tree, X chunk, codes) over these rows."""
        matrix = self.encoded_matrix(encoder)
        for start in range(0, self.n_rows, chunk_size):
            stop = min(self.n_rows, start + chunk_size)
            if matrix is not None:
                X = matrix[start:stop]
            else:
                X = encoder.transform(self.table.slice(start, stop - start))
            yield offset + start, X, codes[start:stop]


def _label_array(y, n_rows: int, name: str = "y"):
    """Labels as NumPy or pyarrow, with the shape checks of before."""
    import pyarrow as pa

    if isinstance(y, (pa.Array, pa.ChunkedArray)) or hasattr(y, "to_arrow") or hasattr(y, "iloc"):
        length = len(y)
    else:
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"{name} must be a 1-D array of labels. Got shape {y.shape} instead.")
        length = y.shape[0]
    if length != n_rows:
        raise ValueError(
            f"X and {name} must have the same number of rows. Got {n_rows} rows in X and "
            f"{length} labels in {name}."
        )
    return y


def fit_labels(labels, settings: EncodingSettings, name: str = "y"):
    """(LabelClasses, rows per class) of in-memory labels."""
    label_pass = settings.label_pass(name)
    label_pass.add(labels)
    return label_pass.result()


@dataclass
class FirstPass:
    encoder: object
    classes: LabelClasses
    class_counts: np.ndarray
    n_rows: int
    label_name: str


def first_pass(reader, settings: EncodingSettings) -> FirstPass:
    """Read the label column (and the categorical feature columns) of a file once."""
    source = reader.source
    if reader.kind == "array":
        name = f"The y dataset {source.y!r}"
        dtype = check_feature_dtype(reader.dtype, "X")
        encoder = ArrayEncoder(reader.n_columns, dtype)
        categorical = ()
    else:
        name = f"The y column {source.y!r} of {reader.where}"
        plan = reader.plan(settings.categorical_features)
        categorical = plan.categorical
        counters = {column: CategoryCounter(column) for column in categorical}
    label_pass = settings.label_pass(name)
    n_rows = 0
    for start, labels, columns in reader.iter_labels(categorical):
        label_pass.add(labels, start)
        for column, values in columns.items():
            counters[column].add(values)
        n_rows = start + len(labels)
    if reader.kind == "table":
        encoder = TableEncoder.fit(plan, counters, settings.categorical_encoding,
                                   settings.max_categories)  # fmt: skip
    if n_rows == 0:
        raise ValueError(f"The data file {source.path!r} has no rows.")
    classes, counts = label_pass.result()
    return FirstPass(encoder, classes, counts, n_rows, name)


def file_chunks(reader, encoder, classes: LabelClasses, chunk_size: int, name: str,
                offset: int = 0) -> Iterator:  # fmt: skip
    """(first row of the tree, X chunk, codes) over a file's rows, encoded as at build time."""
    for start, X, labels in reader.iter_chunks(chunk_size, encoder):
        yield offset + start, X, classes.encode(labels, name, offset + start)
