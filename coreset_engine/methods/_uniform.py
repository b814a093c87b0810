"""Uniform sampling: the baseline every other method must beat at equal size."""

from __future__ import annotations

import numpy as np

from ._base import NodeStats, SamplingMethod, register_method


@register_method
class UniformMethod(SamplingMethod):
    """Every raw row equally likely.

    A weighted row stands for ``weight`` raw rows, so its score is its weight; through a tree
    every raw row then ends up with the same overall inclusion probability.
    """

    name = "uniform"
    tasks = ("logistic_regression", "linear_regression")
    class_aware = False

    def scores(
        self, X, y, weights, stats: NodeStats, pilot=None, sketch=None, backend=None
    ) -> np.ndarray:
        if weights is None:
            return np.ones(X.shape[0])
        return np.asarray(weights, dtype=np.float64)
