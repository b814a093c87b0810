"""How coresets are judged: the full-data loss at the coreset's optimum over the full optimum.

Logistic regression: the objective is scikit-learn's L2-regularised logistic regression,
``sum_i w_i * log_loss_i + ||coef||^2 / (2 C)``. Linear regression: the squared loss
``sum_i w_i (y_i - x_i b - b_0)^2 + alpha ||b||^2`` (ridge; ``alpha=0`` is ordinary least
squares), fitted exactly from the weighted normal equations. The loss ratio of a coreset is the
full-data objective at the model fitted on the coreset (with its weights) over the full-data
objective at the model fitted on all rows. It is >= 1 up to solver tolerance, and 1 is perfect.
The squared loss at any coefficients is a quadratic form in the Gram matrix of [X, 1, y], so
:func:`least_squares_objective` also takes that matrix instead of the rows (a 10M-row set is
judged from one pass that sums it).
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits


def fit_logistic(
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None = None,
    *,
    C: float = 1.0,
    max_iter: int = 200,
    tol: float = 1e-8,
    n_threads: int | None = 1,
) -> LogisticRegression:
    """Fit sklearn's LogisticRegression minimising ``C * sum w_i loss_i + ||coef||^2 / 2``.

    Newton-Cholesky (exact second order, cheap for n >> d) reaches the optimum to high accuracy
    in a few iterations where lbfgs needs hundreds on near-separable data such as KDD Cup '99.
    Weights are rescaled to mean 1 and C multiplied by their mean: the same optimum, better
    conditioned.
    """
    if sample_weight is None:
        sample_weight = np.ones(X.shape[0])
    mean_weight = float(np.mean(sample_weight))
    model = LogisticRegression(
        C=C * mean_weight, solver="newton-cholesky", max_iter=max_iter, tol=tol
    )
    with threadpool_limits(n_threads):
        model.fit(X, y, sample_weight=sample_weight / mean_weight)
    model.C = C  # report the user's regularisation, not the rescaled one
    return model


def logistic_objective(model: LogisticRegression, X: np.ndarray, y: np.ndarray, C: float,
                       sample_weight: np.ndarray | None = None) -> float:  # fmt: skip
    """``sum_i w_i log_loss_i + ||coef||^2 / (2 C)`` of a fitted model on (X, y); ``w_i`` is
    ``sample_weight`` (None: 1, unweighted)."""
    scores = model.decision_function(X)
    class_position = np.searchsorted(model.classes_, y)
    if scores.ndim == 1:  # binary: log(1 + exp(-/+ score)), computed without overflow
        losses = np.logaddexp(0.0, np.where(class_position == 1, -scores, scores))
    else:
        true_scores = scores[np.arange(y.shape[0]), class_position]
        losses = np.logaddexp.reduce(scores, axis=1) - true_scores
    data_loss = float(losses.sum() if sample_weight is None else sample_weight @ losses)
    return data_loss + float(np.sum(model.coef_**2)) / (2.0 * C)


def loss_ratio(
    coreset_model: LogisticRegression,
    full_objective: float,
    X: np.ndarray,
    y: np.ndarray,
    C: float = 1.0,
) -> float:
    """Full-data objective at the coreset's fitted model over the full-data optimum."""
    return logistic_objective(coreset_model, X, y, C) / full_objective


def fit_least_squares(
    X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None, *, alpha: float = 0.0
) -> np.ndarray:
    """Coefficients [b, b_0] minimising ``sum_i w_i (y_i - x_i b - b_0)^2 + alpha ||b||^2``
    (the intercept is not penalized), from the weighted normal equations in float64 (a tiny
    relative jitter makes rank-deficient data solvable)."""
    weights = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
    Z = np.hstack([np.asarray(X, dtype=np.float64), np.ones((X.shape[0], 1))])
    return solve_least_squares(
        (Z * weights[:, None]).T @ Z, Z.T @ (weights * np.asarray(y, dtype=np.float64)), alpha
    )


def solve_least_squares(gram: np.ndarray, cross: np.ndarray, alpha: float = 0.0) -> np.ndarray:
    """The ridge solution from Z^T W Z (``gram``, Z = [X, 1]) and Z^T W y (``cross``)."""
    system = np.array(gram, dtype=np.float64)
    d = system.shape[0] - 1
    system[np.arange(d), np.arange(d)] += alpha
    system[np.diag_indices(d + 1)] += 1e-12 * (1.0 + np.abs(system.diagonal()))
    return np.linalg.solve(system, cross)


def least_squares_objective(
    coef: np.ndarray, X: np.ndarray | None = None, y: np.ndarray | None = None, *,
    alpha: float = 0.0, gram: np.ndarray | None = None,
) -> float:  # fmt: skip
    """``sum_i (y_i - x_i b - b_0)^2 + alpha ||b||^2`` of coefficients [b, b_0] on rows (X, y),
    unweighted, or from ``gram``, the Gram matrix of [X, 1, y] of those rows."""
    coef = np.asarray(coef, dtype=np.float64)
    penalty = alpha * float(coef[:-1] @ coef[:-1])
    if gram is not None:
        v = np.append(coef, -1.0)
        return float(v @ gram @ v) + penalty
    residual = np.asarray(y, dtype=np.float64) - (np.asarray(X) @ coef[:-1] + coef[-1])
    return float(residual @ residual) + penalty
