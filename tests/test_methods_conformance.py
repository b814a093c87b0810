"""One suite every registered sampling method must pass (the Optuna-style conformance idea)."""

import numpy as np
import pytest

from coreset_engine import CoresetTree, available_methods

METHODS = available_methods()


def _data(n=6000, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_t(df=3, size=(n, d))
    logits = X @ np.linspace(1, -1, d) + 0.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(np.int64)
    return X, y


def _weighted_loss(coreset, b, intercept):
    s = np.where(coreset.y == 1, 1.0, -1.0)
    return float(np.sum(coreset.weights * np.logaddexp(0.0, -s * (coreset.X @ b + intercept))))


@pytest.mark.parametrize("method", METHODS)
def test_size_weights_and_row_numbers(method):
    X, y = _data()
    tree = CoresetTree(coreset_size=500, chunk_size=2000, method=method, random_state=1)
    cs = tree.build(X, y).get_coreset()
    assert len(cs) == 500
    assert np.all(np.isfinite(cs.weights)) and np.all(cs.weights > 0)
    assert np.all(np.diff(cs.indices) > 0)  # sorted, no duplicates
    np.testing.assert_array_equal(cs.X, X[cs.indices])
    np.testing.assert_array_equal(cs.y, y[cs.indices])


@pytest.mark.parametrize("method", METHODS)
def test_deterministic_under_a_seed(method):
    X, y = _data()
    a = CoresetTree(coreset_size=300, chunk_size=1500, method=method, random_state=7).build(X, y)
    b = CoresetTree(coreset_size=300, chunk_size=1500, method=method, random_state=7).build(X, y)
    for level in range(a.depth_ + 1):
        ca, cb = a.get_coreset(level), b.get_coreset(level)
        np.testing.assert_array_equal(ca.indices, cb.indices)
        assert ca.weights.tobytes() == cb.weights.tobytes()
    c = CoresetTree(coreset_size=300, chunk_size=1500, method=method, random_state=8).build(X, y)
    assert not np.array_equal(a.get_coreset().indices, c.get_coreset().indices)


@pytest.mark.parametrize("method", METHODS)
def test_weighted_loss_is_unbiased(method):
    """Mean over seeds of the coreset's weighted loss at a fixed parameter equals the full loss."""
    X, y = _data(n=3000)
    b, intercept = np.array([0.7, -0.2, 0.4, 1.5]), -0.3
    s = np.where(y == 1, 1.0, -1.0)
    full = float(np.sum(np.logaddexp(0.0, -s * (X @ b + intercept))))
    estimates, weight_sums = [], []
    for seed in range(80):
        tree = CoresetTree(coreset_size=200, chunk_size=1000, method=method, random_state=seed)
        cs = tree.build(X, y).get_coreset()
        estimates.append(_weighted_loss(cs, b, intercept))
        weight_sums.append(cs.weights.sum())
    estimates = np.array(estimates)
    standard_error = estimates.std(ddof=1) / np.sqrt(estimates.size)
    assert abs(estimates.mean() - full) < 4 * standard_error + 1e-9 * full
    assert abs(np.mean(weight_sums) / 3000 - 1) < 0.03


@pytest.mark.parametrize("method", METHODS)
def test_coreset_size_at_least_n_returns_all_rows_with_weight_one(method):
    X, y = _data(n=700)
    cs = CoresetTree(coreset_size=700, chunk_size=300, method=method, random_state=0).build(X, y)
    root = cs.get_coreset()
    np.testing.assert_array_equal(root.indices, np.arange(700))
    np.testing.assert_array_equal(root.weights, np.ones(700))
