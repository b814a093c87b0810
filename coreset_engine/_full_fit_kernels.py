"""Numba kernels of the full-data logistic refit: per-row losses, residuals and curvature at
several candidate points at once (their decision values come from one GEMM). Decision values
are laid out one row per output and candidate, so the loops over data rows vectorize (with the
engine's polynomial exp)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._kernels import exp_nonpositive  # plain arithmetic: about twice as fast as libm's exp


@njit(nogil=True, cache=True, fastmath=True)
def binary_rows(values, codes, weights, losses, residuals, residual_sums, curvature, spread):
    """Two classes. ``values`` (J, r): decision values of J candidate points (one row per
    candidate, so the loops over rows vectorize). Adds sum_i w_i log(1 + exp(-+eta_ji)) to
    ``losses[j]``; writes ``residuals[j, i]`` = w_i (p_ji - y_i) (their sums added to
    ``residual_sums``: the intercept's gradient), ``curvature[i]`` = w_i p_0i (1 - p_0i) (the
    first candidate) and ``spread[i]`` = sum_j p_ji (1 - p_ji) (every candidate's share of
    the Hessian)."""
    candidates, rows = values.shape
    spread[:] = 0.0
    for j in range(candidates):
        eta, out = values[j], residuals[j]
        loss = 0.0
        total = 0.0
        for i in range(rows):
            positive = codes[i] == 1
            small = exp_nonpositive(-abs(eta[i]))
            margin = -eta[i] if positive else eta[i]
            loss += weights[i] * (max(margin, 0.0) + math.log1p(small))
            p = 1.0 / (1.0 + small) if eta[i] >= 0.0 else small / (1.0 + small)
            residual = weights[i] * (p - 1.0) if positive else weights[i] * p
            out[i] = residual
            total += residual
            # p (1 - p) from exp(-|eta|): p * (1 - p) is 0 once p rounds to 1 (|eta| > 37),
            # and a coefficient whose rows all sat there lost its curvature altogether
            share = small / ((1.0 + small) * (1.0 + small))
            spread[i] += share
            if j == 0:
                curvature[i] = weights[i] * share
        losses[j] += loss
        residual_sums[j] += total


@njit(nogil=True, cache=True, fastmath=True)
def multinomial_rows(
    values, codes, weights, n_classes, losses, residuals, residual_sums, first, spread
):
    """K classes. ``values`` (J * K, r): candidate j's decision values in rows j*K ..
    j*K+K-1. Adds sum_i w_i (logsumexp(eta_ji) - eta_ji[y_i]) to ``losses[j]``; writes
    ``residuals`` = w_i (p_ji - onehot(y_i)) in the same layout (row sums added to
    ``residual_sums``), the first candidate's probabilities to ``first`` (K, r) and
    sum_j (1 - sum_k p_jik^2) to ``spread`` (the trace of the rows' Hessian factors, summed
    over candidates)."""
    rows = values.shape[1]
    candidates = values.shape[0] // n_classes
    top = np.empty(rows)
    total = np.empty(rows)
    mine = np.empty(rows)
    squares = np.empty(rows)
    spread[:] = 0.0
    for j in range(candidates):
        base = j * n_classes
        top[:] = values[base]
        for k in range(1, n_classes):
            row = values[base + k]
            for i in range(rows):
                top[i] = max(top[i], row[i])
        for i in range(rows):
            total[i] = 0.0
            squares[i] = 0.0
            mine[i] = values[base + codes[i], i]
        for k in range(n_classes):
            row, out = values[base + k], residuals[base + k]
            for i in range(rows):
                e = exp_nonpositive(row[i] - top[i])
                out[i] = e
                total[i] += e
        loss = 0.0
        for i in range(rows):
            loss += weights[i] * (top[i] + math.log(total[i]) - mine[i])
            total[i] = 1.0 / total[i]
        losses[j] += loss
        for k in range(n_classes):
            out = residuals[base + k]
            for i in range(rows):
                out[i] *= total[i]  # the probability
                squares[i] += out[i] * out[i]
            if j == 0:
                first[k] = out
            row_sum = 0.0
            for i in range(rows):
                residual = weights[i] * out[i] - (weights[i] if codes[i] == k else 0.0)
                out[i] = residual
                row_sum += residual
            residual_sums[base + k] += row_sum
        for i in range(rows):
            spread[i] += 1.0 - squares[i]


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


@njit(nogil=True, cache=True, fastmath=True)
def priority_keys(rows, weights, spread, intercept, first_row, key, importance, keys):
    """Importance q_i = w_i * spread_i * (||x_i||^2 + intercept) of each row for the Hessian
    sample, and its priority key q_i / u_i (u_i fixed by the row's number)."""
    for i in range(rows.shape[0]):
        norm = intercept
        for j in range(rows.shape[1]):
            value = np.float64(rows[i, j])
            norm += value * value
        importance[i] = weights[i] * spread[i] * norm
    for i in range(rows.shape[0]):
        q = importance[i]
        keys[i] = q / uniform(first_row + i, key) if q > 0.0 else 0.0


@njit(nogil=True, cache=True)
def centred_rows_float32(rows, mean, root, out):
    """out[i, j] = float32((rows[i, j] - mean[j]) * root[i]); returns the largest |value|
    before rounding (infinity at the first nan, ``out`` then unfinished), so the caller can
    fall back to float64 where float32 would overflow."""
    largest = 0.0
    for i in range(rows.shape[0]):
        r = root[i]
        for j in range(rows.shape[1]):
            value = (np.float64(rows[i, j]) - mean[j]) * r
            if math.isnan(value):
                return np.inf
            out[i, j] = np.float32(value)
            largest = max(largest, abs(value))
    return largest


@njit(nogil=True, cache=True)
def rows_off_base(rows, columns, base, out):
    """out[i] = whether row i's value in any of ``columns`` differs from that column's
    ``base`` value (a nan differs from every value)."""
    for i in range(rows.shape[0]):
        off = False
        for k in range(columns.size):
            if rows[i, columns[k]] != base[k]:
                off = True
                break
        out[i] = off


@njit(nogil=True, cache=True)
def majority_values(rows, out):
    """out[j] = the value on more than half of the rows in column j, where one is (Boyer and
    Moore's majority vote, one pass over the rows; elsewhere some value of the column)."""
    counts = np.zeros(rows.shape[1], dtype=np.int64)
    for i in range(rows.shape[0]):
        for j in range(rows.shape[1]):
            value = rows[i, j]
            if counts[j] == 0:
                out[j] = value
                counts[j] = 1
            elif value == out[j]:
                counts[j] += 1
            else:
                counts[j] -= 1
