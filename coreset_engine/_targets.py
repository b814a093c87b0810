"""Continuous targets (``task="linear_regression"``): what stands where class labels stand for a
classification tree.

:class:`ContinuousTarget` has the interface of :class:`coreset_engine._labels.LabelClasses`
(``encode``, ``decode``, ``classes``, ``n_classes``, ``to_json``), so reading, appending and
streaming rows back take one code path for both kinds of tree: a regression tree's "codes" are
its targets as float64. :class:`TargetPass` is the first pass over them (the counterpart of
``LabelPass``): it checks every value and counts rows; no classes, no ``max_classes``.
"""

from __future__ import annotations

import numpy as np

from ._labels import arrow_or_numpy
from ._validation import describe_row


def target_values(y, name: str = "y", row_offset: int = 0, batch: str | None = None):
    """A target chunk (NumPy, pandas, polars, pyarrow; any int, bool or float dtype) as
    float64; NaN, infinity, a missing value or a non-numeric value is an error naming the row."""
    import pyarrow as pa

    y = arrow_or_numpy(y)
    if isinstance(y, (pa.Array, pa.ChunkedArray)):
        kind = y.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)
                or pa.types.is_boolean(kind) or pa.types.is_decimal(kind)):  # fmt: skip
            raise TypeError(
                f"{name} must hold numbers for task='linear_regression'. Got {kind} values "
                "instead (class labels need task='logistic_regression')."
            )
        if y.null_count:
            import pyarrow.compute as pc

            if isinstance(y, pa.ChunkedArray):
                y = y.combine_chunks()
            row = int(pc.index(pc.is_null(y), True).as_py())
            raise ValueError(
                f"{name} must hold a finite number in every row. Got a missing value in "
                f"{describe_row(row, row_offset, batch)}."
            )
        y = y.cast(pa.float64()).to_numpy(zero_copy_only=False)
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold numbers for task='linear_regression'. Got dtype {y.dtype} "
            "instead (class labels need task='logistic_regression')."
        )
    values = np.ascontiguousarray(y, dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} must hold finite numbers. Got {values[row]!r} in "
            f"{describe_row(row, row_offset, batch)}."
        )
    return values


class ContinuousTarget:
    """The target mapping of a regression tree: values are their own codes, as float64."""

    classes = None
    n_classes = 0
    is_identity = True

    def encode(self, y, name: str = "y", row_offset: int = 0, batch: str | None = None):
        return target_values(y, name, row_offset, batch)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return np.asarray(codes, dtype=np.float64)

    def to_json(self) -> dict:
        return {"kind": "continuous"}

    def __eq__(self, other) -> bool:
        return isinstance(other, ContinuousTarget)

    def __hash__(self) -> int:
        return hash(ContinuousTarget)


class TargetPass:
    """The first pass over a continuous target: every value checked, rows counted (the same
    interface as ``LabelPass``, whose class counts are empty here)."""

    def __init__(self, name: str, first_row: int = 0):
        self.name = name
        self.first_row = first_row
        self.rows = 0

    def add(self, y, row_offset: int = 0) -> None:
        self.rows += target_values(y, self.name, row_offset).size

    def merge(self, other: TargetPass) -> None:
        self.rows += other.rows

    def result(self) -> tuple[ContinuousTarget, np.ndarray]:
        return ContinuousTarget(), np.zeros(0, dtype=np.int64)


def label_mapping_from_json(item: dict):
    """A saved tree's label classes, or its continuous target."""
    from ._labels import LabelClasses

    if item.get("kind") == "continuous":
        return ContinuousTarget()
    return LabelClasses.from_json(item)
