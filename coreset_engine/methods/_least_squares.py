"""Sampling for least squares (``task="linear_regression"``).

Every node keeps the exact Gram matrix of the augmented rows [x, 1, y] of all raw rows below it.
One Cholesky factor of it gives, in one float64 GEMM over the rows, each row's leverage h_i
of [x_i, 1] and its residual e_i of the node's exact least-squares fit (over the residuals'
norm): the Cholesky basis of [X, 1, y] is that of [X, 1] plus the normalized residual. No
sampled pilot is needed: the node's own optimum is exact.

Scores mix, each part normalized to sum to one over the rows' weights (a row of weight w
stands for w raw rows and scores w times its part):

- uniform, 1 / n;
- the leverage of [x_i, 1, y_i], h_i + e_i^2 / ||e||^2: bounds the sensitivity of the squared
  loss for every coefficient vector (Drineas, Mahoney, Muthukrishnan 2006), so it keeps the
  coreset valid far from the optimum (other ridge penalties, other feature subsets);
- |e_i| sqrt(h_i): the probabilities that minimise the expected excess loss of the coreset's
  least-squares fit at the optimum (its first-order variance, sum_i e_i^2 h_i / pi_i, is
  smallest for pi_i proportional to |e_i| sqrt(h_i): the A-optimal design in the metric
  X^T X, as OSMAC's L-optimal probabilities for logistic regression).

``leverage`` is the first two at 1/2 each ("shrinkage leveraging", Ma, Mahoney, Yu, JMLR 2015);
``sensitivity`` (default) adds the third; both are measured against uniform by
``python -m benchmarks.bench_regression`` (docs/BENCHMARKS.md, section regression).
"""

from __future__ import annotations

import numpy as np

from .._cpu import leverage_and_residuals
from .._linalg import leverage_projection
from ._base import NodeStats, SamplingMethod, register_method

TASK = "linear_regression"


def leverage_and_residual_scores(X, y, stats: NodeStats, sketch=None):
    """(leverage of [x_i, 1], residual e_i / ||e||) of every row against the node's exact
    [X, 1, y] Gram matrix. ``sketch`` (shape (d + 1, k)) projects the [X, 1] part."""
    projection = leverage_projection(stats.gram)
    if sketch is not None:
        projection = np.hstack([projection[:, :-1] @ sketch, projection[:, -1:]])
    return leverage_and_residuals(X, np.ascontiguousarray(y, dtype=np.float64), projection)


class _LeastSquaresMethod(SamplingMethod):
    tasks = (TASK,)
    class_aware = False
    #: Shares of the uniform, augmented-leverage and |e| sqrt(h) parts of the scores.
    shares: tuple[float, float, float] = (0.5, 0.5, 0.0)

    def scores(
        self, X, y, weights, stats: NodeStats, pilot=None, sketch=None, backend=None
    ) -> np.ndarray:
        leverage, residual = leverage_and_residual_scores(X, y, stats, sketch)
        w = np.ones(X.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
        parts = (np.ones_like(leverage), leverage + residual**2,
                 np.abs(residual) * np.sqrt(leverage))  # fmt: skip
        score = np.zeros(X.shape[0])
        for share, part in zip(self.shares, parts):
            total = float(w @ part)
            if share > 0 and total > 0:
                score += (share / total) * part
        return w * score


@register_method
class LeverageMethod(_LeastSquaresMethod):
    """Leverage of [x, 1, y] mixed half and half with uniform (shrinkage leveraging)."""

    name = "leverage"
    shares = (0.5, 0.5, 0.0)


@register_method
class LeastSquaresSensitivityMethod(_LeastSquaresMethod):
    """Uniform, leverage of [x, 1, y] and the loss-optimal |e| sqrt(h), mixed."""

    name = "sensitivity"
    shares = (0.1, 0.2, 0.7)
