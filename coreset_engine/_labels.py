"""Class labels: any label values (ints, -1/+1, 1/2, bools, strings, bytes, categoricals) mapped
to the codes 0..k-1 a tree works with, as scikit-learn classifiers map them (``classes_``: the
sorted distinct values; code i stands for ``classes_[i]``).

Integer labels that are exactly 0..k-1 map to themselves (the "identity" mapping), so trees on
such data are the same as before labels were mapped. A label column that looks continuous
(non-integral floats, or more than ``max_classes`` distinct values) is an error pointing to the
regression task, never a silent many-class tree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import check_label_range, describe_row, labels_to_int

REGRESSION_HINT = (
    "CoresetTree(task='logistic_regression') needs class labels; for a continuous target use "
    "task='linear_regression'"
)


def arrow_or_numpy(y):
    """A polars or pandas Series as a pyarrow array; anything else (NumPy, pyarrow, lists)
    as it is."""
    import pyarrow as pa

    if hasattr(y, "to_arrow") and not isinstance(y, (pa.Array, pa.ChunkedArray)):  # polars
        return y.to_arrow()
    if hasattr(y, "dtype") and hasattr(y, "iloc"):  # pandas Series
        return pa.Array.from_pandas(y)
    return y


def label_values(y):
    """A label chunk as a NumPy array (numbers, bools) or a pyarrow array (strings, bytes,
    categoricals, or numbers with missing values). Accepts NumPy, pandas, polars, pyarrow."""
    import pyarrow as pa

    y = arrow_or_numpy(y)
    if isinstance(y, (pa.Array, pa.ChunkedArray)):
        kind = y.type
        if pa.types.is_dictionary(kind):
            y = y.cast(kind.value_type)
            kind = y.type
        numeric = (
            pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
        )
        if numeric and y.null_count == 0:
            return y.to_numpy()
        if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            y = y.cast(pa.string())
        elif pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
            y = y.cast(pa.binary())
        return y.combine_chunks() if isinstance(y, pa.ChunkedArray) else y
    y = np.asarray(y)
    if y.dtype.kind in "biuf":
        return y
    if y.dtype.kind in "USO":
        try:
            return pa.array(y, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise TypeError(
                f"Labels must be all numbers, all strings or all bytes. Got {error}"
            ) from None
    raise TypeError(f"Labels must be numbers, bools, strings or bytes. Got dtype {y.dtype}.")


def _first_missing_row(values) -> int:
    import pyarrow.compute as pc

    return int(pc.index(pc.is_null(values), True).as_py())


class LabelCounter:
    """Counts the distinct labels of a column chunk by chunk (the first pass over a file).

    ``name`` says what the labels are in messages ("y", "The y column 'label' in 'd.csv'").
    Raises as soon as a label is missing or non-integral, or more than ``max_classes`` distinct
    values were seen (memory stays at most ``max_classes`` entries)."""

    def __init__(self, name: str = "y", max_classes: int = 100):
        self.name = name
        self.max_classes = max_classes
        self.counts: dict = {}
        self.kind: str | None = None  # "number" or "arrow"
        self.dtype = None
        self.rows = 0

    def add(self, y) -> None:
        values = label_values(y)
        if isinstance(values, np.ndarray):
            self._check_kind("number", values.dtype)
            distinct, counts = self._count_numbers(values)
        else:
            self._check_kind("arrow", values.type)
            distinct, counts = self._count_arrow(values)
        for value, count in zip(distinct, counts):
            self.counts[value] = self.counts.get(value, 0) + int(count)
        self.rows += len(values)
        if len(self.counts) > self.max_classes:
            raise ValueError(
                f"{self.name} has more than {self.max_classes} distinct values in its first "
                f"{self.rows:,} rows (max_classes={self.max_classes}): it looks continuous, "
                f"not like class labels. {REGRESSION_HINT} (or raise max_classes if these are "
                "classes)."
            )

    def merge(self, other: LabelCounter) -> None:
        """Add the counts of ``other`` (the labels of later rows, counted on their own: a
        Dask build counts each block in its own task)."""
        if other.kind is not None:
            self._check_kind(other.kind, other.dtype)
        for value, count in other.counts.items():
            self.counts[value] = self.counts.get(value, 0) + count
        self.rows += other.rows
        if len(self.counts) > self.max_classes:
            raise ValueError(
                f"{self.name} has more than {self.max_classes} distinct values "
                f"(max_classes={self.max_classes}): it looks continuous, not like class labels. "
                f"{REGRESSION_HINT} (or raise max_classes if these are classes)."
            )

    def _check_kind(self, kind: str, dtype) -> None:
        if self.kind is None:
            self.kind, self.dtype = kind, dtype
        elif self.kind != kind:
            raise TypeError(
                f"{self.name} changes type at row {self.rows}: {self.dtype} before, {dtype} "
                "from there on."
            )

    def _count_numbers(self, values: np.ndarray):
        if values.dtype.kind == "f":
            bad = ~np.isfinite(values)
            if bad.any():
                row = self.rows + int(np.flatnonzero(bad)[0])
                raise ValueError(
                    f"{self.name} must hold class labels. Got {values[row - self.rows]!r} in "
                    f"row {row}."
                )
            fractional = values != np.round(values)
            if fractional.any():
                position = int(np.flatnonzero(fractional)[0])
                raise ValueError(
                    f"{self.name} looks continuous: it holds {values[position].item()!r} in row "
                    f"{self.rows + position}, not a whole number. {REGRESSION_HINT}."
                )
        if (
            values.dtype.kind in "iu"
            and values.size
            and values.min() >= 0
            and values.max() < 1 << 16
        ):
            counts = np.bincount(values)
            present = np.flatnonzero(counts)
            return present.astype(values.dtype).tolist(), counts[present]
        distinct, counts = np.unique(values, return_counts=True)
        return distinct.tolist(), counts

    def _count_arrow(self, values):
        import pyarrow.compute as pc

        if values.null_count:
            row = self.rows + _first_missing_row(values)
            raise ValueError(f"{self.name} must hold a class label in every row. Got a missing "
                             f"label in row {row}.")  # fmt: skip
        numeric = values.type
        import pyarrow as pa

        if (
            pa.types.is_floating(numeric)
            or pa.types.is_integer(numeric)
            or pa.types.is_boolean(numeric)
        ):  # numbers with missing values: already reported above
            return self._count_numbers(values.to_numpy(zero_copy_only=False))
        counted = pc.value_counts(values)
        return counted.field("values").to_pylist(), counted.field("counts").to_numpy()

    def classes(self) -> LabelClasses:
        """The label mapping: the distinct values seen, sorted."""
        if self.kind == "arrow":
            classes = np.empty(len(self.counts), dtype=object)
            classes[:] = sorted(self.counts)
        else:
            classes = np.array(sorted(self.counts), dtype=self.dtype)
        return LabelClasses(classes)

    def class_counts(self, classes: LabelClasses) -> np.ndarray:
        counts = np.zeros(classes.n_classes, dtype=np.int64)
        for value, count in self.counts.items():
            counts[classes.code_of(value)] += count
        return counts


@dataclass(frozen=True, eq=False)
class LabelClasses:
    """The label values of a tree, sorted; code i stands for ``classes[i]``."""

    classes: np.ndarray

    @classmethod
    def identity(cls, n_classes: int) -> LabelClasses:
        """Integer labels 0..n_classes-1, each its own code (classes that never occur allowed)."""
        return cls(np.arange(n_classes, dtype=np.int64))

    @property
    def n_classes(self) -> int:
        return int(self.classes.size)

    @property
    def is_identity(self) -> bool:
        """Codes are the labels themselves (numeric labels 0..k-1)."""
        return self.classes.dtype.kind in "biuf" and np.array_equal(
            self.classes, np.arange(self.classes.size)
        )

    def code_of(self, value) -> int:
        if self.classes.dtype.kind in "biuf":
            return int(np.searchsorted(self.classes, value))
        return self._lookup()[value]

    def _lookup(self) -> dict:
        lookup = self.__dict__.get("_lookup_table")
        if lookup is None:
            lookup = {value: code for code, value in enumerate(self.classes.tolist())}
            object.__setattr__(self, "_lookup_table", lookup)
        return lookup

    def encode(self, y, name: str = "y", row_offset: int = 0, batch: str | None = None):
        """Codes (int64) of a label chunk; a label that is not one of the classes is an error
        naming the row."""
        if self.is_identity:
            values = label_values(y)
            if not isinstance(values, np.ndarray):
                values = self._numbers_or_error(values, name, row_offset, batch)
            codes = labels_to_int(values, name, row_offset, batch)
            if codes.size:
                check_label_range(int(codes.max()), self.n_classes, name, codes, row_offset,
                                  batch)  # fmt: skip
            return codes
        values = label_values(y)
        if self.classes.dtype.kind in "biuf":
            if not isinstance(values, np.ndarray):
                values = self._numbers_or_error(values, name, row_offset, batch)
            if values.dtype.kind not in "biuf":
                self._unknown(values, np.ones(len(values), bool), name, row_offset, batch)
            codes = np.searchsorted(self.classes, values).clip(0, self.n_classes - 1)
            unknown = self.classes[codes] != values
            if unknown.any():
                self._unknown(values, unknown, name, row_offset, batch)
            return codes.astype(np.int64)
        return self._encode_arrow(values, name, row_offset, batch)

    def _numbers_or_error(self, values, name, row_offset, batch):
        if values.null_count:
            row = _first_missing_row(values)
            raise ValueError(f"{name} must hold a class label in every row. Got a missing label "
                             f"in {describe_row(row, row_offset, batch)}.")  # fmt: skip
        import pyarrow as pa

        kind = values.type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
            return values.to_numpy(zero_copy_only=False)
        raise TypeError(
            f"{name} must hold labels like the tree's classes {self.classes.tolist()[:10]} "
            f"(numbers). Got {kind} values instead."
        )

    def _encode_arrow(self, values, name, row_offset, batch) -> np.ndarray:
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(values, np.ndarray):  # numbers given to a tree of strings
            values = pa.array(values)
        value_set = pa.array(self.classes.tolist())
        if values.type != value_set.type:
            try:
                values = values.cast(value_set.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise TypeError(
                    f"{name} must hold labels like the tree's classes "
                    f"{self.classes.tolist()[:10]}. Got {values.type} values instead."
                ) from None
        codes = pc.index_in(values, value_set=value_set)
        if codes.null_count:
            unknown = codes.is_null().to_numpy(zero_copy_only=False)
            self._unknown(values, unknown, name, row_offset, batch)
        return codes.to_numpy().astype(np.int64)

    def _unknown(self, values, unknown: np.ndarray, name, row_offset, batch):
        row = int(np.flatnonzero(unknown)[0])
        value = values[row]
        value = value.as_py() if hasattr(value, "as_py") else value
        value = value.item() if hasattr(value, "item") else value
        what = "a missing label" if value is None else f"label {value!r}"
        raise ValueError(
            f"{name} must hold one of the tree's classes {self.classes.tolist()[:20]} (fixed when "
            f"the tree was first built). Got {what} in {describe_row(row, row_offset, batch)} "
            "instead."
        )

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """The label values of codes (an array like ``classes``)."""
        return self.classes[np.asarray(codes, dtype=np.int64)]

    # ---------------------------------------------------------------- persistence
    def to_json(self) -> dict:
        kind = self.classes.dtype.kind
        if kind == "b":
            return {"kind": "bool", "values": self.classes.tolist()}
        if kind in "iu":
            return {"kind": "int", "values": self.classes.tolist()}
        if kind == "f":
            return {"kind": "float", "values": self.classes.tolist()}
        values = self.classes.tolist()
        if values and isinstance(values[0], bytes):
            return {"kind": "bytes", "values": [value.hex() for value in values]}
        return {"kind": "str", "values": values}

    @classmethod
    def from_json(cls, item: dict) -> LabelClasses:
        kind, values = item["kind"], item["values"]
        if kind == "bytes":
            return cls(np.array([bytes.fromhex(v) for v in values], dtype=object))
        if kind == "str":
            return cls(np.array(values, dtype=object))
        dtype = {"bool": np.bool_, "int": np.int64, "float": np.float64}[kind]
        return cls(np.array(values, dtype=dtype))


class LabelPass:
    """The labels' first pass: the classes and the rows of each class, chunk by chunk.

    With ``n_classes`` the classes are the integers 0..n_classes-1 (classes that never occur
    allowed) and every label must be one of them; without, they are the distinct values seen,
    at most ``max_classes`` of them."""

    def __init__(self, name: str, n_classes: int | None, max_classes: int, first_row: int = 0):
        self.name = name
        self.fixed = None if n_classes is None else LabelClasses.identity(n_classes)
        self.counter = LabelCounter(name, max_classes)
        self.counter.rows = first_row  # errors name rows of the whole data
        self.counts = np.zeros(0 if n_classes is None else n_classes, dtype=np.int64)
        self.first_row = first_row
        self.rows = 0

    def add(self, y, row_offset: int = 0) -> None:
        if self.fixed is None:
            self.counter.add(y)
            self.rows = self.counter.rows - self.first_row
            return
        codes = self.fixed.encode(y, self.name, row_offset)
        self.counts += np.bincount(codes, minlength=self.counts.size)
        self.rows += codes.size

    def merge(self, other: LabelPass) -> None:
        """Add a pass over the rows that follow (counted on its own, from ``first_row``: a Dask
        build counts each block of labels in its own task)."""
        if self.fixed is not None:
            self.counts += other.counts
        else:
            other.counter.rows = other.rows  # its rows, not the row it ended at
            self.counter.merge(other.counter)
        self.rows += other.rows

    def result(self) -> tuple[LabelClasses, np.ndarray]:
        if self.fixed is not None:
            return self.fixed, self.counts
        classes = self.counter.classes()
        return classes, self.counter.class_counts(classes)
