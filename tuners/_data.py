"""Turn what a user passes to ``fit`` into weighted rows, and fit estimators on them."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_consistent_length, has_fit_parameter


@dataclass(frozen=True)
class WeightedRows:
    """Rows, labels and positive weights to search on.

    ``row_ids`` are the rows' numbers in the original data (a coreset's ``indices``), used to
    keep copies of one row in the same fold and to group rows by tree leaf; None for plain
    arrays. ``leaf_size`` is the number of original rows per tree leaf, when known.
    """

    X: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    row_ids: np.ndarray | None = None
    leaf_size: int | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def take(self, rows: np.ndarray, *, weight_scale: float = 1.0) -> WeightedRows:
        row_ids = None if self.row_ids is None else self.row_ids[rows]
        return WeightedRows(
            self.X[rows], self.y[rows], self.weights[rows] * weight_scale, row_ids, self.leaf_size
        )


def int_seed(random_state) -> int:
    """An int seed: ``random_state`` itself if it is an int, else one drawn from it."""
    if isinstance(random_state, Integral):
        return int(random_state)
    return int(check_random_state(random_state).randint(2**31 - 1))


def is_coreset_tree(data) -> bool:
    return hasattr(data, "get_coreset") and hasattr(data, "depth_")


def is_coreset(data) -> bool:
    return all(hasattr(data, name) for name in ("X", "y", "weights", "indices"))


def resolve_rows(data, y=None, sample_weight=None, *, level: int = 0, caller: str) -> WeightedRows:
    """Weighted rows from a coreset tree (its coreset at ``level``), a coreset, or arrays."""
    if is_coreset_tree(data) or is_coreset(data):
        if y is not None or sample_weight is not None:
            raise ValueError(
                f"{caller}.fit takes y and sample_weight only with an array X; a coreset "
                "or a coreset tree carries its own labels and weights."
            )
        leaf_size = getattr(data, "chunk_size", None) if is_coreset_tree(data) else None
        if is_coreset_tree(data):
            data = data.get_coreset(level=level)
        X = check_array(data.X, dtype=(np.float64, np.float32))
        # decoded labels (the data's own values, not codes), so fitted models predict them and
        # score against test labels as the data holds them
        labels = _check_targets(getattr(data, "decoded_y", data.y), caller)
        return WeightedRows(
            X, labels, _check_weights(data.weights, len(X), caller),
            np.asarray(data.indices, dtype=np.int64), leaf_size,
        )  # fmt: skip
    if y is None:
        raise ValueError(
            f"{caller}.fit needs y with an array X (or pass a Coreset or a CoresetTree)."
        )
    X = check_array(data, dtype=(np.float64, np.float32))
    y = _check_targets(y, caller)
    check_consistent_length(X, y)
    if sample_weight is None:
        weights = np.ones(len(X))
    else:
        weights = _check_weights(sample_weight, len(X), caller)
    return WeightedRows(X, y, weights)


def _check_targets(y, caller: str) -> np.ndarray:
    """y as an array; numeric targets must be finite (the searches' fits skip scikit-learn's
    own scan of their rows, see ``tuners._backends.fit_and_score``)."""
    y = np.asarray(y)
    if y.dtype.kind in "fc" and not np.all(np.isfinite(y)):
        finite_rows = np.isfinite(y.reshape(y.shape[0], -1)).all(axis=1)
        row = int(np.flatnonzero(~finite_rows)[0])
        raise ValueError(
            f"The targets y given to {caller}.fit must be finite. Got {y[row]!r} at row {row} "
            "instead."
        )
    return y


def _check_weights(weights, n_rows: int, caller: str) -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (n_rows,) or not np.all(np.isfinite(weights)) or np.any(weights <= 0):
        raise ValueError(
            f"The sample weights given to {caller}.fit must be {n_rows} finite floats > 0. "
            f"Got an array of shape {weights.shape} with min "
            f"{np.min(weights) if weights.size else 'n/a'} instead."
        )
    return weights


def check_accepts_weights(estimator, caller: str) -> None:
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    if not has_fit_parameter(final, "sample_weight"):
        raise TypeError(
            f"The 'estimator' parameter of {caller} must accept sample_weight in fit: "
            f"coreset rows are only representative with their weights. "
            f"Got {type(final).__name__} instead."
        )
