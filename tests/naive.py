"""Slow, obviously correct NumPy references for the Numba kernels and the linear algebra."""

import numpy as np


def scan_finite_and_max(X):
    finite = np.isfinite(X)
    bad_rows = np.flatnonzero(~finite.all(axis=1))
    first_bad = int(bad_rows[0]) if bad_rows.size else -1
    masked = np.where(finite, np.abs(X.astype(np.float64)), 0.0)
    return first_bad, masked.max(axis=0)


def root_leverage_scores(X):
    """sqrt of the leverage scores of [X, 1], by an SVD (the textbook definition)."""
    Z = np.hstack([X.astype(np.float64), np.ones((X.shape[0], 1))])
    U, s, _ = np.linalg.svd(Z, full_matrices=False)
    U = U[:, s > s[0] * 1e-12]
    return np.linalg.norm(U, axis=1)


def sensitivity_scores(X, weights, labels, pilot, floor):
    """weights * (sqrt leverage + 1/n) * (floor + 1 - p_pilot(label | x)), by SVD and softmax."""
    bound = weights * (root_leverage_scores(X) + 1.0 / X.shape[0])
    return bound * (floor + pilot_miss(X, labels, pilot))


def pilot_miss(X, labels, pilot):
    """1 - p_pilot(label | x) per row by softmax (1 for a label the pilot never saw)."""
    logits = X.astype(np.float64) @ pilot.coef.T + pilot.intercept
    if pilot.coef.shape[0] == 1:
        logits = np.hstack([np.zeros_like(logits), logits])
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    column = {int(c): i for i, c in enumerate(pilot.classes)}
    return np.array([1.0 - probabilities[i, column[c]] if c in column else 1.0
                     for i, c in enumerate(labels.tolist())])  # fmt: skip


def inclusion_probabilities(scores, m):
    """pi = min(1, c q) with sum pi = m, by sorting and trying each number of capped rows."""
    n = scores.size
    if m >= n:
        return np.ones(n)
    order = np.argsort(-scores)
    sorted_scores = scores[order]
    for k in range(m + 1):
        c = (m - k) / sorted_scores[k:].sum()
        if (k == 0 or c * sorted_scores[k - 1] >= 1.0) and c * sorted_scores[k] < 1.0:
            break
    pi = np.minimum(1.0, c * scores)
    pi[order[:k]] = 1.0
    return pi


def random_order(raw):
    """Fisher-Yates from 64-bit words, in Python integers: position i swaps with
    floor(raw[i] (i + 1) / 2**64), for i from n - 1 down to 1."""
    order = list(range(len(raw)))
    for i in range(len(raw) - 1, 0, -1):
        j = (int(raw[i]) * (i + 1)) >> 64
        order[i], order[j] = order[j], order[i]
    return np.array(order, dtype=np.int64)


def merge_duplicates(X, labels, weights):
    """First occurrence of each distinct (row, label) and the summed weights, via np.unique."""
    keyed = np.hstack([X.astype(np.float64), labels[:, None].astype(np.float64)])
    _, first, group_of = np.unique(keyed, axis=0, return_index=True, return_inverse=True)
    summed = np.bincount(group_of.ravel(), weights=weights)
    order = np.argsort(first)
    return first[order], summed[order]


def augmented_gram(X, y):
    """[X, 1, y]^T [X, 1, y] in float64, by one matrix product."""
    Z = np.hstack([X.astype(np.float64), np.ones((X.shape[0], 1)), y[:, None]])
    return Z.T @ Z


def leverage_and_residuals(X, y):
    """(leverage of [X, 1] by an SVD, residual of the exact least-squares fit of y on [X, 1]
    over the residuals' norm, by lstsq)."""
    Z = np.hstack([X.astype(np.float64), np.ones((X.shape[0], 1))])
    coef = np.linalg.lstsq(Z, y, rcond=None)[0]
    residual = y - Z @ coef
    return root_leverage_scores(X) ** 2, residual / np.linalg.norm(residual)


def class_gradient_sums(X, labels, weights, pilot, n_classes):
    """Row c: sum over rows of class c of w_i (1 - p_pilot(c | x_i)) [x_i, 1], row by row."""
    miss = pilot_miss(X, labels, pilot)
    out = np.zeros((n_classes, X.shape[1] + 1))
    for i, c in enumerate(labels.tolist()):
        weight = 1.0 if weights is None else weights[i]
        out[c] += weight * miss[i] * np.append(X[i].astype(np.float64), 1.0)
    return out


def softmax_residual(S, labels, row_weight):
    """(w_i (softmax(S_i) - e_{y_i}) per row, sum_i w_i (logsumexp(S_i) - S_i[y_i])) in float64,
    by scipy's logsumexp and softmax."""
    from scipy.special import logsumexp, softmax

    S = S.astype(np.float64)
    rows = np.arange(S.shape[0])
    residual = softmax(S, axis=1)
    residual[rows, labels] -= 1.0
    loss = float(row_weight.astype(np.float64) @ (logsumexp(S, axis=1) - S[rows, labels]))
    return residual * row_weight[:, None], loss
