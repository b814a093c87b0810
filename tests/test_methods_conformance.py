"""One suite every registered sampling method must pass, for every task it serves (the
Optuna-style conformance idea)."""

import numpy as np
import pytest

from coreset_engine import CoresetTree, available_methods
from coreset_engine.tasks import available_tasks

CASES = [(task, method) for task in available_tasks() for method in available_methods(task)]


def _data(task, n=6000, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_t(df=3, size=(n, d))
    logits = X @ np.linspace(1, -1, d) + 0.5
    if task == "linear_regression":
        return X, logits + rng.normal(size=n) * (1 + np.abs(X[:, 0]))
    y = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(np.int64)
    return X, y


def _loss(task, X, y, weights, b, intercept):
    """The task's weighted loss at a fixed parameter."""
    margin = X @ b + intercept
    if task == "linear_regression":
        return float(np.sum(weights * (y - margin) ** 2))
    s = np.where(y == 1, 1.0, -1.0)
    return float(np.sum(weights * np.logaddexp(0.0, -s * margin)))


def _tree(task, method, **params):
    return CoresetTree(task=task, method=method, **params)


@pytest.mark.parametrize("task, method", CASES)
def test_size_weights_and_row_numbers(task, method):
    X, y = _data(task)
    cs = _tree(task, method, coreset_size=500, chunk_size=2000, random_state=1).build(X, y)
    cs = cs.get_coreset()
    assert len(cs) == 500
    assert np.all(np.isfinite(cs.weights)) and np.all(cs.weights > 0)
    assert np.all(np.diff(cs.indices) > 0)  # sorted, no duplicates
    np.testing.assert_array_equal(cs.X, X[cs.indices])
    np.testing.assert_array_equal(cs.y, y[cs.indices])


@pytest.mark.parametrize("task, method", CASES)
def test_deterministic_under_a_seed(task, method):
    X, y = _data(task)
    params = {"coreset_size": 300, "chunk_size": 1500}
    a = _tree(task, method, random_state=7, **params).build(X, y)
    b = _tree(task, method, random_state=7, **params).build(X, y)
    for level in range(a.depth_ + 1):
        ca, cb = a.get_coreset(level), b.get_coreset(level)
        np.testing.assert_array_equal(ca.indices, cb.indices)
        assert ca.weights.tobytes() == cb.weights.tobytes()
    c = _tree(task, method, random_state=8, **params).build(X, y)
    assert not np.array_equal(a.get_coreset().indices, c.get_coreset().indices)


@pytest.mark.parametrize("task, method", CASES)
def test_weighted_loss_is_unbiased(task, method):
    """Mean over seeds of the coreset's weighted loss at a fixed parameter equals the full loss."""
    X, y = _data(task, n=3000)
    b, intercept = np.array([0.7, -0.2, 0.4, 1.5]), -0.3
    full = _loss(task, X, y, 1.0, b, intercept)
    estimates, weight_sums = [], []
    for seed in range(80):
        tree = _tree(task, method, coreset_size=200, chunk_size=1000, random_state=seed)
        cs = tree.build(X, y).get_coreset()
        estimates.append(_loss(task, cs.X, cs.y, cs.weights, b, intercept))
        weight_sums.append(cs.weights.sum())
    estimates = np.array(estimates)
    standard_error = estimates.std(ddof=1) / np.sqrt(estimates.size)
    assert abs(estimates.mean() - full) < 4 * standard_error + 1e-9 * full
    assert abs(np.mean(weight_sums) / 3000 - 1) < 0.03


@pytest.mark.parametrize("task, method", CASES)
def test_coreset_size_at_least_n_returns_all_rows_with_weight_one(task, method):
    X, y = _data(task, n=700)
    tree = _tree(task, method, coreset_size=700, chunk_size=300, random_state=0).build(X, y)
    root = tree.get_coreset()
    np.testing.assert_array_equal(root.indices, np.arange(700))
    np.testing.assert_array_equal(root.weights, np.ones(700))
