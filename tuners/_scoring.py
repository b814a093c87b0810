"""A faster ROC AUC for the many small validation folds of a coreset search.

``scoring="roc_auc"`` through scikit-learn costs ~6 ms a call on a few thousand rows, most of it
input checks (type_of_target, unique labels, parameter validation), which on a 20,000-row
coreset was 40% of a 48-fit logistic-regression grid. :class:`FastRocAuc` computes the same
number for a binary classifier with ``decision_function`` (or ``predict_proba``) as a weighted
Mann-Whitney statistic (ties count one half, as the trapezoids of scikit-learn's ROC curve do)
and hands every other case (one class present, more than two, labels the estimator does not
know, non-finite scores) to scikit-learn's scorer, so errors and warnings stay scikit-learn's.
"""

from __future__ import annotations

import numpy as np


def weighted_roc_auc(positive: np.ndarray, score: np.ndarray, weight: np.ndarray | None):
    """ROC AUC of ``score`` for the boolean labels ``positive`` with row weights, or None when
    one class has no weight (scikit-learn then raises or warns)."""
    order = np.argsort(score, kind="mergesort")
    sorted_score = score[order]
    w = np.ones(score.size) if weight is None else np.asarray(weight, dtype=np.float64)[order]
    is_positive = positive[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(sorted_score)) + 1])
    positives = np.add.reduceat(np.where(is_positive, w, 0.0), starts)
    negatives = np.add.reduceat(np.where(is_positive, 0.0, w), starts)
    total_positive, total_negative = positives.sum(), negatives.sum()
    if not (total_positive > 0 and total_negative > 0):
        return None
    below = np.cumsum(negatives) - negatives  # negative weight strictly below each group
    return float(positives @ (below + 0.5 * negatives) / (total_positive * total_negative))


class FastRocAuc:
    """A scorer (``scorer(estimator, X, y, sample_weight=None)``) equal to ``sklearn_scorer``
    for ``scoring="roc_auc"``, computed without scikit-learn's per-call checks where the
    estimator is a binary classifier (see the module docstring)."""

    def __init__(self, sklearn_scorer):
        self.sklearn_scorer = sklearn_scorer

    def __call__(self, estimator, X, y, sample_weight=None):
        fast = self._fast(estimator, X, y, sample_weight)
        if fast is None:
            return self.sklearn_scorer(estimator, X, y, sample_weight=sample_weight)
        return fast

    @staticmethod
    def _fast(estimator, X, y, sample_weight):
        classes = getattr(estimator, "classes_", None)
        if classes is None or len(classes) != 2:
            return None
        y = np.asarray(y)
        positive = y == classes[1]
        if not np.all(positive | (y == classes[0])):
            return None
        if hasattr(estimator, "decision_function"):
            score = np.asarray(estimator.decision_function(X), dtype=np.float64)
        elif hasattr(estimator, "predict_proba"):
            score = np.asarray(estimator.predict_proba(X), dtype=np.float64)[:, 1]
        else:
            return None
        if score.shape != y.shape or not np.all(np.isfinite(score)):
            return None
        return weighted_roc_auc(positive, score, sample_weight)

    def __repr__(self) -> str:
        return f"FastRocAuc({self.sklearn_scorer!r})"


def search_scorer(sklearn_scorer, scoring):
    """The scorer a search uses: :class:`FastRocAuc` for ``scoring="roc_auc"``, else
    scikit-learn's."""
    return FastRocAuc(sklearn_scorer) if scoring == "roc_auc" else sklearn_scorer
