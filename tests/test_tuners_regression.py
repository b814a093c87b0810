"""Searches on regression coresets: regression scorers, k-fold for continuous targets, Ridge's
alpha kept in the caller's units, halving over random subsets."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, Ridge

from coreset_engine import CoresetTree
from tuners import BayesSearch, GridSearch, HalvingSearch, RandomSearch
from tuners._data import resolve_rows
from tuners._fitting import fit_weighted
from tuners._splits import make_splits


@pytest.fixture(scope="module")
def tree():
    rng = np.random.default_rng(0)
    X = rng.standard_t(df=4, size=(40_000, 6))
    y = X @ np.linspace(1, -2, 6) + 0.3 * X[:, 0] ** 2 + rng.normal(size=40_000)
    return CoresetTree(task="linear_regression", coreset_size=1500, chunk_size=10_000,
                       random_state=0).build(X, y)  # fmt: skip


@pytest.mark.parametrize(
    "scoring", ["r2", "neg_root_mean_squared_error", "neg_mean_absolute_error"]
)
def test_grid_search_on_a_regression_tree_with_regression_scorers(tree, scoring):
    search = GridSearch(Ridge(), {"alpha": [0.1, 10.0, 1e5]}, scoring=scoring, cv=3).fit(tree)
    assert search.best_params_["alpha"] in (0.1, 10.0)
    assert np.all(search.cv_results_["status"] == "ok")
    if scoring == "r2":
        assert 0.5 < search.best_score_ <= 1


def test_continuous_targets_get_plain_k_fold(tree):
    rows = resolve_rows(tree, caller="test")
    splits = make_splits(3, rows, random_state=0, caller="test")
    assert len(splits) == 3
    held_out = np.concatenate([test for _, test in splits])
    np.testing.assert_array_equal(np.sort(held_out), np.arange(len(rows)))


def test_ridge_alpha_keeps_its_meaning_when_weights_are_normalized():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(300, 4)), rng.normal(size=300)
    weights = rng.uniform(50, 150, size=300)  # coreset-like weights, mean ~100
    raw = Ridge(alpha=30.0).fit(X, y, sample_weight=weights)
    normalized = fit_weighted(Ridge(alpha=30.0), X, y, weights, normalize_weights=True)
    np.testing.assert_allclose(normalized.coef_, raw.coef_, rtol=1e-8)
    assert normalized.alpha == 30.0


def test_random_bayes_and_halving_searches_run_on_regression(tree):
    space = {"alpha": (1e-3, 1e3, "log-uniform")}
    for search in (
        RandomSearch(Ridge(), space, n_iter=4, scoring="r2", cv=3, random_state=0),
        BayesSearch(Ridge(), space, n_iter=4, scoring="r2", cv=3, random_state=0),
        HalvingSearch(Ridge(), {"alpha": [0.01, 1.0, 100.0, 1e4]}, scoring="r2", cv=3),
    ):
        search.fit(tree)
        assert np.isfinite(search.best_score_)
    halving = HalvingSearch(LinearRegression(), {"fit_intercept": [True, False]}, cv=3)
    halving.fit(tree.get_coreset())  # a coreset: nested random subsets of rows
    assert halving.n_resources_[-1] == len(tree.get_coreset())
