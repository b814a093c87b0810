"""Input checks shared by the public entry points. Messages name the parameter, what was
expected and what came."""

from __future__ import annotations

import numbers

import numpy as np


def check_int(value, name: str, caller: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(
            f"The {name!r} parameter of {caller} must be an int >= {minimum}. Got {value!r} instead."
        )
    return int(value)


def check_feature_dtype(dtype: np.dtype, name: str) -> np.dtype:
    """Return the float dtype rows are processed in: float32/float64 kept, ints/bools to float64."""
    dtype = np.dtype(dtype)
    if dtype in (np.float32, np.float64):
        return dtype
    if dtype.kind in "iub":
        return np.dtype(np.float64)
    raise TypeError(
        f"{name} must hold real numbers (float32, float64, int or bool). Got dtype {dtype} instead."
    )


def as_feature_matrix(X, name: str = "X") -> np.ndarray:
    """Turn array-likes (NumPy, pandas, lists) into a 2-D float32/float64 array."""
    if hasattr(X, "to_numpy"):
        X = X.to_numpy()
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_rows, n_features). "
            f"Got an array of shape {X.shape} instead."
        )
    dtype = check_feature_dtype(X.dtype, name)
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} must have at least one row and one column. Got shape {X.shape}.")
    return np.ascontiguousarray(X, dtype=dtype)


def describe_row(row: int, row_offset: int = 0, batch: str | None = None) -> str:
    """'row 7', or for rows passed to an append: 'row 7 of the rows passed to partial_build
    (row 1007 of the tree)'."""
    if batch is None:
        return f"row {row_offset + row}"
    return f"row {row} of the rows passed to {batch} (row {row_offset + row} of the tree)"


def labels_to_int(
    y: np.ndarray, name: str = "y", row_offset: int = 0, batch: str | None = None
) -> np.ndarray:
    if y.dtype.kind not in "iubf":
        raise TypeError(
            f"{name} must hold integer class labels 0..n_classes-1. Got dtype {y.dtype} instead."
        )
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{name} must hold integer class labels 0..n_classes-1. "
                f"Got {y[row].item()!r} in {describe_row(row, row_offset, batch)}."
            )
    labels = y.astype(np.int64)
    if labels.size and labels.min() < 0:
        row = int(np.argmin(labels))
        raise ValueError(
            f"{name} must hold class labels 0..n_classes-1. Got {labels[row]} in "
            f"{describe_row(row, row_offset, batch)}."
        )
    return labels


def check_label_range(
    counts_max_label: int, n_classes: int, name: str = "y", labels: np.ndarray | None = None,
    row_offset: int = 0, batch: str | None = None,
) -> None:  # fmt: skip
    """Labels must be below ``n_classes``; with ``labels`` given the error names the first
    row out of range."""
    if counts_max_label >= n_classes:
        where = ""
        if labels is not None:
            row = int(np.argmax(labels >= n_classes))
            where = f" in {describe_row(row, row_offset, batch)}"
        raise ValueError(
            f"{name} must hold class labels 0..{n_classes - 1} (n_classes={n_classes}). "
            f"Got label {counts_max_label}{where} instead."
        )


def check_two_classes(class_counts: np.ndarray, name: str = "y", classes=None) -> None:
    """At least two classes occur; ``classes`` (the label values of the codes) name them."""
    present = np.flatnonzero(class_counts)
    if present.size < 2:
        values = present if classes is None else np.asarray(classes)[present]
        raise ValueError(
            f"{name} must contain at least two classes to fit a classifier. "
            f"Got only class {values.tolist()} in {int(class_counts.sum())} rows."
        )
