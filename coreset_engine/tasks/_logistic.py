"""``task="logistic_regression"``: class labels, class counts, class budgets."""

from __future__ import annotations

import numpy as np

from .._labels import LabelPass
from .._validation import check_label_range, check_two_classes
from ..methods import NodeStats
from ._base import Task, register_task


class LogisticRegressionTask(Task):
    name = "logistic_regression"
    is_classifier = True

    def label_pass(self, name, n_classes, max_classes, first_row=0):
        return LabelPass(name, n_classes, max_classes, first_row)

    def check_labels(self, class_counts, name="y", classes=None) -> None:
        check_two_classes(class_counts, name, classes)

    def check_leaf_labels(self, labels, n_classes, offset) -> None:
        if labels.size and labels.max() >= n_classes:
            check_label_range(int(labels.max()), n_classes, labels=labels, row_offset=offset)

    def leaf_stats(self, rows, scan, X, labels, n_classes) -> NodeStats:
        return NodeStats(
            X.shape[0],
            rows.gram_with_intercept(scan.col_max, scan.col_sum),
            np.bincount(labels, minlength=n_classes).astype(np.int64),
        )


register_task(LogisticRegressionTask())
