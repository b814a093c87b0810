"""Numba kernels of the full-data logistic refit: per-row losses, residuals and curvature at
several candidate points at once (their decision values come from one GEMM)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._kernels import exp_nonpositive  # plain arithmetic: about twice as fast as libm's exp


@njit(nogil=True, cache=True)
def binary_rows(values, codes, weights, losses, residuals, residual_sums, curvature, spread):
    """Two classes. ``values`` (r, J): decision values of J candidate points. Adds
    sum_i w_i log(1 + exp(-+eta_ij)) to ``losses[j]``; writes ``residuals[i, j]`` =
    w_i (p_ij - y_i) (their column sums added to ``residual_sums``: the intercept's gradient),
    ``curvature[i]`` = w_i p_i0 (1 - p_i0) (the first candidate) and ``spread[i]`` =
    sum_j p_ij (1 - p_ij) (every candidate's share of the Hessian)."""
    rows, candidates = values.shape
    for i in range(rows):
        positive = codes[i] == 1
        w = weights[i]
        total = 0.0
        for j in range(candidates):
            eta = values[i, j]
            small = exp_nonpositive(-abs(eta))
            margin = -eta if positive else eta
            losses[j] += w * (max(margin, 0.0) + math.log1p(small))
            p = 1.0 / (1.0 + small) if eta >= 0.0 else small / (1.0 + small)
            residual = w * (p - 1.0) if positive else w * p
            residuals[i, j] = residual
            residual_sums[j] += residual
            total += p * (1.0 - p)
            if j == 0:
                curvature[i] = w * p * (1.0 - p)
        spread[i] = total


@njit(nogil=True, cache=True)
def multinomial_rows(
    values, codes, weights, n_classes, losses, residuals, residual_sums, first, spread
):
    """K classes. ``values`` (r, J * K): candidate j's decision values in columns
    j*K .. j*K+K-1. Adds sum_i w_i (logsumexp(eta_ij) - eta_ij[y_i]) to ``losses[j]``; writes
    ``residuals`` = w_i (p_ij - onehot(y_i)) in the same layout (column sums added to
    ``residual_sums``), the first candidate's
    probabilities to ``first`` (r, K) and sum_j (1 - sum_k p_ijk^2) to ``spread`` (the trace
    of the rows' Hessian factors, summed over candidates)."""
    rows = values.shape[0]
    candidates = values.shape[1] // n_classes
    for i in range(rows):
        label = codes[i]
        w = weights[i]
        spread[i] = 0.0
        for j in range(candidates):
            base = j * n_classes
            top = values[i, base]
            for k in range(1, n_classes):
                top = max(top, values[i, base + k])
            total = 0.0
            for k in range(n_classes):
                e = exp_nonpositive(values[i, base + k] - top)
                residuals[i, base + k] = e
                total += e
            losses[j] += w * (top + math.log(total) - values[i, base + label])
            inverse = 1.0 / total
            squares = 0.0
            for k in range(n_classes):
                p = residuals[i, base + k] * inverse
                squares += p * p
                if j == 0:
                    first[i, k] = p
                residual = w * p - (w if k == label else 0.0)
                residuals[i, base + k] = residual
                residual_sums[base + k] += residual
            spread[i] += 1.0 - squares


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@njit(nogil=True, cache=True)
def uniform(row, key):
    """A uniform in (0, 1] fixed by (key, row number): splitmix64 of the row number."""
    z = np.uint64(row) * _GOLDEN + key
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z ^= z >> np.uint64(31)
    return (float(z >> np.uint64(11)) + 1.0) * 2.0**-53


@njit(nogil=True, cache=True)
def priority_keys(rows, weights, spread, intercept, first_row, key, importance, keys):
    """Importance q_i = w_i * spread_i * (||x_i||^2 + intercept) of each row for the Hessian
    sample, and its priority key q_i / u_i (u_i fixed by the row's number)."""
    for i in range(rows.shape[0]):
        norm = intercept
        for j in range(rows.shape[1]):
            value = float(rows[i, j])
            norm += value * value
        q = weights[i] * spread[i] * norm
        importance[i] = q
        keys[i] = q / uniform(first_row + i, key) if q > 0.0 else 0.0
