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
    """Weighted L2 logistic regression (C = 1 per raw row: penalty ||coef||^2 / 2 against the
    weighted log-loss sum), loosely converged. None if the rows hold a single class.

    Binary pilots use our own damped Newton iteration (a few milliseconds for 5,000 x 55);
    multinomial ones scikit-learn's L-BFGS (several times faster than its Newton-Cholesky at
    7 classes x 54 features, whose (K d)^2 Hessian dominates)."""
    classes = np.unique(labels)
    if classes.size < 2:
        return None
    if classes.size == 2:
        coef, intercept = _binary_newton(X, labels == classes[1], weights)
        return Pilot(coef[None, :], np.array([intercept]), classes)
    mean_weight = float(weights.mean())
    model = LogisticRegression(C=mean_weight, solver="lbfgs", tol=1e-4, max_iter=100)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a rough pilot: convergence and conditioning warnings
        model.fit(X, labels, sample_weight=weights / mean_weight)
    return Pilot(
        np.asarray(model.coef_, dtype=np.float64),
        np.asarray(model.intercept_, dtype=np.float64),
        np.asarray(model.classes_),
    )


def _binary_newton(
    X: np.ndarray, positive: np.ndarray, weights: np.ndarray, *, max_iter: int = 30,
    tol: float = 1e-6,
) -> tuple[np.ndarray, float]:  # fmt: skip
    """Minimise sum_i w_i log(1 + exp(-s_i z_i)) + ||beta||^2 / 2, z = X beta + b, s = +-1.

    Newton steps with backtracking (never increases the objective), stopped when the Newton
    decrement squared falls below ``tol`` times the objective. Features are scaled to unit
    root-mean-square for the solve (the penalty is applied in the original units)."""
    n, d = X.shape
    scale = np.sqrt(np.mean(np.square(X, dtype=np.float64), axis=0))
    scale[scale == 0] = 1.0
    Z = np.empty((n, d + 1))
    np.divide(X, scale, out=Z[:, :d])
    Z[:, d] = 1.0
    sign = np.where(positive, 1.0, -1.0)
    penalty = np.append(1.0 / scale**2, 0.0)  # ||beta||^2 with beta = theta / scale
    theta = np.zeros(d + 1)

    def objective(theta: np.ndarray) -> float:
        margin = sign * (Z @ theta)
        return float(weights @ np.logaddexp(0.0, -margin) + 0.5 * penalty @ theta**2)

    value = objective(theta)
    with threadpool_limits(1):
        for _ in range(max_iter):
            margin = sign * (Z @ theta)
            miss = 0.5 * (1.0 - np.tanh(0.5 * margin))  # 1 / (1 + exp(margin)), no overflow
            gradient = Z.T @ (-weights * sign * miss) + penalty * theta
            curvature = weights * miss * (1.0 - miss)
            hessian = (Z * curvature[:, None]).T @ Z
            hessian[np.diag_indices(d + 1)] += penalty + 1e-12 * (1.0 + hessian.diagonal())
            try:
                step = -np.linalg.solve(hessian, gradient)
            except np.linalg.LinAlgError:
                break
            decrement = -float(gradient @ step)
            if decrement <= tol * max(value, 1e-300):
                break
            t = 1.0
            while t > 1e-8:
                candidate = objective(theta + t * step)
                if candidate <= value - 1e-4 * t * decrement:
                    break
                t *= 0.5
            else:
                break
            theta, value = theta + t * step, candidate
    return theta[:d] / scale, float(theta[d])
