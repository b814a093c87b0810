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
from scipy.optimize import minimize

from ._cpu import blas_single_thread
from ._kernels import softmax_residual_rows

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
    multinomial ones our own L-BFGS (:func:`_multinomial_lbfgs`: scipy's L-BFGS-B on a float32
    softmax loss in unit-RMS feature coordinates; 4-5x faster than scikit-learn's lbfgs at
    7 classes x 54 features, and closer to the optimum at the same tolerance)."""
    classes = np.unique(labels)
    if classes.size < 2:
        return None
    if classes.size == 2:
        coef, intercept = _binary_newton(X, labels == classes[1], weights)
        return Pilot(coef[None, :], np.array([intercept]), classes)
    coef, intercept = _multinomial_lbfgs(X, np.searchsorted(classes, labels), classes.size,
                                         weights)  # fmt: skip
    return Pilot(coef, intercept, classes)


def _multinomial_lbfgs(
    X: np.ndarray, y: np.ndarray, n_classes: int, weights: np.ndarray, *, max_iter: int = 100,
    tol: float = 1e-4,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Minimise sum_i w_i (logsumexp(z_i) - z_i[y_i]) + ||coef||^2 / 2, z_i = coef x_i + b
    (K full coefficient vectors, the intercepts unpenalised), for labels ``y`` in 0..K-1.

    L-BFGS-B (scipy) on the objective divided by the number of rows, with the weights scaled
    to mean 1 and the features to unit root-mean-square (the penalty stays in the original
    units); loss and gradient in float32 (two small GEMMs around one Numba pass over the
    logits, :func:`~coreset_engine._kernels.softmax_residual_rows`), the iterate in float64.
    Stops at a projected gradient below ``tol`` or ``max_iter`` iterations. Returns
    (coef (K, d), intercept (K,))."""
    n, d = X.shape
    scale = np.sqrt(np.mean(np.square(X, dtype=np.float64), axis=0))
    scale[scale == 0] = 1.0
    Z = np.empty((n, d + 1), dtype=np.float32)
    np.divide(X, scale, out=Z[:, :d], casting="unsafe")
    Z[:, d] = 1.0
    codes = np.ascontiguousarray(y, dtype=np.int64)
    row_weight = (weights / (weights.mean() * n)).astype(np.float32)
    # ||coef||^2 / 2 in the original units, over the weights' mean (the same optimum as
    # C = 1 per raw row), divided by n like the loss
    penalty = np.append(1.0 / scale**2, 0.0)[:, None] / (n * float(weights.mean()))
    buffer = np.empty((n, n_classes), dtype=np.float32)

    def loss_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W = theta.reshape(d + 1, n_classes)
        S = Z @ W.astype(np.float32)
        loss = softmax_residual_rows(S, codes, row_weight, buffer)
        gradient = (Z.T @ buffer).astype(np.float64) + penalty * W
        return loss + 0.5 * float(np.sum(penalty * W * W)), gradient.ravel()

    with blas_single_thread(), warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # a rough pilot: convergence warnings
        result = minimize(loss_gradient, np.zeros((d + 1) * n_classes), jac=True,
                          method="L-BFGS-B", options={"gtol": tol, "maxiter": max_iter})  # fmt: skip
    W = result.x.reshape(d + 1, n_classes)
    return (W[:d] / scale[:, None]).T.copy(), W[d].copy()


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
    with blas_single_thread():
        for _ in range(max_iter):
            margin = sign * (Z @ theta)
            miss = 0.5 * (1.0 - np.tanh(0.5 * margin))  # 1 / (1 + exp(margin)), no overflow
            gradient = Z.T @ (-weights * sign * miss) + penalty * theta
            curvature = weights * miss * (1.0 - miss)
            root = Z * np.sqrt(curvature)[:, None]
            hessian = root.T @ root  # one operand: BLAS syrk, half a GEMM's flops
            hessian[np.diag_indices(d + 1)] += penalty + 1e-12 * (1.0 + hessian.diagonal())
            try:
                step = -np.linalg.solve(hessian, gradient)
            except np.linalg.LinAlgError:
                break
            decrement = -float(gradient @ step)
            if decrement <= tol * max(value, 1e-300):
                break
            found = armijo_backtrack(objective, theta, step, value, decrement, 1e-8)
            if found is None:
                break
            t, value = found
            theta = theta + t * step
    return theta[:d] / scale, float(theta[d])


def armijo_backtrack(objective, point, step, value: float, decrement: float, smallest: float):
    """The first length t = 1, 1/2, 1/4, ... above ``smallest`` at which
    ``objective(point + t * step) <= value - 1e-4 * t * decrement`` (Armijo's condition, with
    ``decrement`` = -gradient . step): (t, that objective), or None."""
    t = 1.0
    while t > smallest:
        candidate = objective(point + t * step)
        if candidate <= value - 1e-4 * t * decrement:
            return t, candidate
        t *= 0.5
    return None
