"""The pilot model that makes sensitivity scores loss-aware.

Square-root leverage bounds a row's sensitivity over *all* parameters; at the parameters a user
will actually fit, rows the model already classifies confidently matter little. A rough pilot
fit (Wang, Zhu and Ma's OSMAC, JASA 2018) tells which rows those are: each row's score is
multiplied by (floor + 1 - p_pilot(true class | x)). The floor keeps every row's probability
away from zero, so the coreset stays unbiased and still covers parameters far from the pilot's.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

#: Rows the pilot is fitted on (a weighted subsample of the current coreset when larger).
PILOT_ROWS = 5000


@dataclass(frozen=True)
class Pilot:
    """A fitted linear classifier: ``coef`` (k, d), ``intercept`` (k,), ``classes`` (k or 2,)."""

    coef: np.ndarray
    intercept: np.ndarray
    classes: np.ndarray

    def logit_layout(self, n_classes: int):
        """(coef (c, d), intercept (c,), column of each label 0..n_classes-1 in the pilot's
        probabilities or -1, binary) for the fused scoring kernel. Binary pilots have c = 1 and
        column 1 means the positive class."""
        column_of_label = np.full(max(n_classes, int(self.classes.max()) + 1), -1, dtype=np.int64)
        column_of_label[self.classes.astype(np.int64)] = np.arange(self.classes.size)
        return self.coef, self.intercept, column_of_label, self.coef.shape[0] == 1

    def miss_probability(self, X: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """1 - p(true class | x) under the pilot, for every row."""
        scores = X @ self.coef.T.astype(X.dtype, copy=False) + self.intercept
        scores = scores.astype(np.float64, copy=False)
        if self.coef.shape[0] == 1:  # binary: classes[1] is the positive class
            sign = np.where(labels == self.classes[1], 1.0, -1.0)
            return 1.0 / (1.0 + np.exp(np.clip(sign * scores[:, 0], -700, 700)))
        scores -= scores.max(axis=1, keepdims=True)
        probabilities = np.exp(scores)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        position = np.searchsorted(self.classes, labels)
        known = (position < self.classes.size) & (
            self.classes[np.minimum(position, self.classes.size - 1)] == labels
        )
        column = np.minimum(position, self.classes.size - 1)
        true_probability = np.where(known, probabilities[np.arange(labels.size), column], 0.0)
        return 1.0 - true_probability


def fit_pilot(X: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> Pilot | None:
    """Weighted L2 logistic regression (C = 1 per raw row), loosely converged. None if the rows
    hold a single class."""
    if np.unique(labels).size < 2:
        return None
    mean_weight = float(weights.mean())
    model = LogisticRegression(C=mean_weight, solver="newton-cholesky", tol=1e-4, max_iter=50)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a rough pilot: convergence and conditioning warnings
        model.fit(X, labels, sample_weight=weights / mean_weight)
    return Pilot(
        np.asarray(model.coef_, dtype=np.float64),
        np.asarray(model.intercept_, dtype=np.float64),
        np.asarray(model.classes_),
    )
