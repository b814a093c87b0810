"""``task="linear_regression"``: continuous targets (squared loss, optionally ridge).

A node keeps the exact Gram matrix of the augmented rows [x, 1, y] of all raw rows below it
(additive, like the logistic task's [x, 1] Gram): it holds the exact least-squares fit of the
node's data and every row's leverage and residual against it (``methods/_least_squares``).
Duplicate rows are found on (x bits, y bits); the draw has one budget (no classes)."""

from __future__ import annotations

import numpy as np

from .._linalg import augmented_gram, factorizes
from .._targets import TargetPass
from ..methods import NodeStats
from ._base import Task, register_task


class LinearRegressionTask(Task):
    name = "linear_regression"
    is_classifier = False

    def label_pass(self, name, n_classes, max_classes, first_row=0):
        return TargetPass(name, first_row)

    def check_labels(self, class_counts, name="y", classes=None) -> None:
        """Any finite targets can be fitted (checked as they are read)."""

    def check_leaf_labels(self, labels, n_classes, offset) -> None:
        """Targets were checked finite when encoded."""

    def leaf_stats(self, rows, scan, X, labels, n_classes) -> NodeStats:
        gram = rows.gram_with_intercept(scan.col_max, scan.col_sum)
        augmented = augmented_gram(X, labels, gram)
        if X.dtype == np.float32 and not factorizes(augmented):
            # float32 products of X beside float64 ones with y: where y is nearly a linear
            # function of X, their rounding outweighs the residual direction
            gram = rows.gram_with_intercept(scan.col_max, scan.col_sum, float64_products=True)
            augmented = augmented_gram(X, labels, gram)
        return NodeStats(X.shape[0], augmented, np.zeros(0, np.int64))

    def hash_keys(self, labels: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(labels, dtype=np.float64).view(np.uint64)


register_task(LinearRegressionTask())
