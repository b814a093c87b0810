"""Gradient calibration of a node's weights: control variates for the sampled log-loss.

A coreset's weighted loss is an unbiased estimate of the loss of the rows it summarises, but
its *gradient* at any fixed parameters is only right on average, and on weak-signal data the
optimum moves with that error (a 20,000-row coreset of 800,000 rows left a test-AUC gap of
0.0035). At a node we know more than the sample: the pilot ``p`` the node was scored with, and
all the rows the node summarises. So after the draw we tilt the weights, w_i' = w_i exp(u_i .
lambda), the smallest change (in Kullback-Leibler divergence) that makes, for every class c,

    sum over coreset rows of class c of  w_i' m_i [x_i, 1]
        = sum over the node's rows of class c of  w_i m_i [x_i, 1],

m_i = 1 - p(y_i | x_i) the pilot's miss probability. For two classes this is the weighted
log-loss gradient at the pilot, class by class (so class-weighted gradients too); for more it is
each class's own-logit part of it. Survey statisticians call this calibration (Deville and
Saerndal, JASA 1992: raking); here the calibrated quantity is the gradient, so the coreset's
optimum lands near the full optimum to second order in the pilot's distance from it. Exponential
tilting keeps every weight positive. A class whose rows are too few for its d + 1 equations, or
whose equations need a tilt beyond :data:`MAX_TILT`, keeps its sampled weights.

Everything is deterministic: sums over fixed blocks of rows in block order (``_cpu.map_blocks``)
and one-thread BLAS, so the tree stays the same bit for bit on any number of threads or workers.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from ._cpu import blas_single_thread, map_blocks
from ._kernels import class_weighted_sums_block

#: A class is calibrated only if it has at least this many coreset rows per equation (d + 1).
MIN_ROWS_PER_EQUATION = 8
#: Largest factor by which calibration may raise or lower a weight; a class that needs more
#: keeps its sampled weights (its rows cannot match the node's gradient without distortion).
MAX_TILT = 10.0
#: Ridges tried in turn (relative to the weights' sum) until the tilt fits the bound: 0 is
#: exact calibration, larger ones match the equations in part.
RIDGES = (0.0, 1e-3, 1e-2, 1e-1, 1.0)
#: Newton iterations of the tilt's dual problem (it usually converges in 3 to 8).
MAX_ITERATIONS = 50
#: A tilt gives up once this many Newton steps in a row end pinned against the line search's
#: box (some weight already 1 / MAX_TILT**2 or MAX_TILT**2 times its drawn value): an answer
#: needs every factor within MAX_TILT, and iterates that stay at twice that bound in log
#: terms mean the equations ask for far more (on heavy-tailed columns such as KDD Cup '99's,
#: every such tilt failed, each after 8 to 15 Hessians).
PINNED_STEPS = 3
#: Once full Newton steps are taken (the quadratic phase), the iterate moves on by about one
#: more step: a tilt gives up when some row's log-factor, less this many times its next step,
#: is still beyond log(MAX_TILT), i.e. when it is converging to an answer out of bounds.
CONVERGING_MARGIN = 4.0


def class_gradient_sums(X: np.ndarray, labels: np.ndarray, weights: np.ndarray | None,
                        miss: np.ndarray, n_classes: int) -> np.ndarray:  # fmt: skip
    """(n_classes, d + 1) float64: row c is sum over rows of class c of w_i m_i [x_i, 1],
    ``miss`` m_i the pilot's miss probability of each row (``weights`` None: unit weights).
    A Numba kernel per fixed block of rows (float64 sums), the blocks summed in order."""
    n, d = X.shape
    values = np.ascontiguousarray(miss if weights is None else miss * weights, dtype=np.float64)
    codes = np.ascontiguousarray(labels, dtype=np.int64)

    def part(start: int, stop: int) -> np.ndarray:
        out = np.zeros((n_classes, d + 1))
        class_weighted_sums_block(X, codes, values, start, stop, out)
        return out

    parts = map_blocks(part, n) if n else []
    total = np.zeros((n_classes, d + 1))
    for partial in parts:
        total += partial
    return total


def calibrate_draw(X: np.ndarray, labels: np.ndarray, weights: np.ndarray | None,
                   miss: np.ndarray, n_classes: int, positions: np.ndarray,
                   drawn_weights: np.ndarray, probabilities: np.ndarray,
                   targets: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """A node's draw, calibrated: the weights ``drawn_weights`` of the rows ``positions`` of
    (X, labels, weights), drawn with ``probabilities``, tilted to the node's per-class sums
    (rows drawn with certainty keep theirs). What every build step and ``bench_passes`` run.
    ``targets``: those sums if already made (the CPU's pilot pass sums them as it goes)."""
    if targets is None:
        targets = class_gradient_sums(X, labels, weights, miss, n_classes)
    return calibrate(X[positions], labels[positions], drawn_weights, miss[positions], targets,
                     fixed=probabilities >= 1.0)  # fmt: skip


def calibrate(X: np.ndarray, labels: np.ndarray, weights: np.ndarray, miss: np.ndarray,
              targets: np.ndarray, fixed: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """Weights tilted so that :func:`class_gradient_sums` of (X, labels, weights, miss) equals
    ``targets``, class by class (classes that cannot be matched keep their weights).

    ``fixed`` marks rows whose weights are exact and stay as they are: rows drawn with
    certainty (inclusion probability 1), e.g. a merged duplicate standing for thousands of raw
    rows; their part is taken off the targets and only the sampled rows are tilted."""
    n, d = X.shape
    out = np.asarray(weights, dtype=np.float64).copy()
    if n == 0:
        return out
    free = np.ones(n, dtype=bool) if fixed is None else ~np.asarray(fixed, dtype=bool)
    with blas_single_thread():
        for c in np.unique(labels):
            rows = np.flatnonzero((labels == c) & free)
            if rows.size < MIN_ROWS_PER_EQUATION * (d + 1):
                continue
            kept = np.flatnonzero((labels == c) & ~free)
            target = targets[c]
            if kept.size:
                target = target - (out[kept] * miss[kept]) @ _with_intercept(X[kept])
            U = _with_intercept(X[rows])
            U *= miss[rows, None]
            for ridge in RIDGES:  # exact if it can be, else as close as the bound allows
                tilted = tilt(U, out[rows], target, ridge)
                if tilted is not None:
                    out[rows] = tilted
                    break
    return out


def _with_intercept(rows: np.ndarray) -> np.ndarray:
    """[rows, 1] in float64."""
    out = np.empty((rows.shape[0], rows.shape[1] + 1))
    out[:, :-1] = rows
    out[:, -1] = 1.0
    return out


def tilt(U: np.ndarray, weights: np.ndarray, target: np.ndarray,
         ridge: float = 0.0) -> np.ndarray | None:  # fmt: skip
    """w_i exp(u_i . lambda) with sum_i w_i exp(u_i . lambda) u_i = target, or None if that
    needs a factor outside [1 / MAX_TILT, MAX_TILT] or does not converge.

    Damped Newton on the convex dual f(lambda) = sum_i w_i exp(u_i . lambda) - lambda . target
    + ridge x sum(w) ||lambda||^2 / 2, in coordinates where U's columns have unit weighted
    root-mean-square. ``ridge`` > 0 trades exactness for a smaller tilt: the equations then hold
    only in part (their residual is ridge x sum(w) x lambda). Directions the rows do not span
    get a tiny ridge in any case. Stops when the dual's gradient is below 1e-6 of the weights'
    sum (in those coordinates) or a step would no longer change any weight."""
    scale = np.sqrt((weights @ np.square(U)) / weights.sum())
    scale[scale == 0] = 1.0
    V = U / scale
    goal = target / scale
    size = float(weights.sum())
    penalty = (ridge + 1e-10) * size
    lam = np.zeros(V.shape[1])
    limit = np.log(MAX_TILT)
    factor = np.ones_like(weights)
    current = np.zeros_like(weights)  # V @ lam, carried from step to step
    value = size
    factorized, last_norm = None, np.inf
    pinned, last_t = 0, 0.0
    for _ in range(MAX_ITERATIONS):
        tilted = weights * factor
        gradient = V.T @ tilted - goal + penalty * lam
        norm = float(np.abs(gradient).max())
        if norm <= 1e-6 * size:
            break
        if factorized is None or norm > 0.25 * last_norm:
            # the Hessian (rows x (d + 1)^2, most of the cost) only when the last one's steps
            # stop cutting the residual fourfold; in between its factor is reused
            root = V * np.sqrt(tilted)[:, None]
            hessian = root.T @ root  # one operand: BLAS syrk, half a GEMM's flops
            hessian[np.diag_indices_from(hessian)] += penalty
            try:
                factorized = cho_factor(hessian)
            except np.linalg.LinAlgError:
                return None
        last_norm = norm
        step = -cho_solve(factorized, gradient)
        change = V @ step
        if np.abs(change).max() <= 1e-9:  # what is left lies in directions the rows lack
            break
        slope = float(gradient @ step)
        if last_t == 1.0 and (np.abs(current) - CONVERGING_MARGIN * np.abs(change)).max() > limit:
            return None
        t = 1.0
        while t > 1e-6:
            exponent = current + t * change
            if np.abs(exponent).max() <= 2 * limit:  # room to come back inside the bound
                candidate_factor = np.exp(exponent)
                trial = lam + t * step
                candidate = float(weights @ candidate_factor - trial @ goal
                                  + 0.5 * penalty * trial @ trial)  # fmt: skip
                if candidate <= value + 1e-4 * t * slope:
                    break
            t *= 0.5
        else:
            return None
        lam, last_t = lam + t * step, t
        factor, value, current = candidate_factor, candidate, exponent
        pinned = pinned + 1 if np.abs(exponent).max() > 0.99 * 2 * limit else 0
        if pinned >= PINNED_STEPS:
            return None
    else:
        return None
    if factor.min() < 1.0 / MAX_TILT or factor.max() > MAX_TILT:
        return None
    return weights * factor
