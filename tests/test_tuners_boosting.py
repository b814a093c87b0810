"""Boosted trees and forests on coresets: weights as each library takes them, early stopping on
a weighted validation split, searches over each family. LightGBM and XGBoost tests skip
without them (``pip install -e ".[boosting]"``)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)

from coreset_engine import CoresetTree
from tuners import FitAdapter, GridSearch, RandomSearch
from tuners._fitting import adapter_for, fit_weighted, validation_split


def _classification(n=30_000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    logits = 2 * np.sin(X[:, 0]) + X[:, 1] * X[:, 2] - 1
    return X, (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(np.int64)


@pytest.fixture(scope="module")
def tree():
    X, y = _classification()
    return CoresetTree(coreset_size=1200, chunk_size=10_000, random_state=0).build(X, y)


def _recorded_fit(monkeypatch, cls):
    calls = []
    original = cls.fit

    def fit(self, X, y, sample_weight=None, **kwargs):
        calls.append({"n": len(y), "weights": sample_weight, **kwargs})
        return original(self, X, y, sample_weight=sample_weight, **kwargs)

    monkeypatch.setattr(cls, "fit", fit)
    return calls


def test_validation_split_is_stratified_and_seeded():
    y = np.array([0] * 90 + [1] * 10)
    train, val = validation_split(y, np.ones(100), classifier=True, seed=3)
    assert val.size == 10 and np.sum(y[val] == 1) == 1
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(100))
    again = validation_split(y, np.ones(100), classifier=True, seed=3)[1]
    np.testing.assert_array_equal(val, again)


def test_boosted_trees_get_raw_weights_and_weighted_early_stopping(monkeypatch, tree):
    cs = tree.get_coreset()
    calls = _recorded_fit(monkeypatch, HistGradientBoostingClassifier)
    model = HistGradientBoostingClassifier(max_iter=300, max_bins=32, n_iter_no_change=3,
                                           random_state=0)  # fmt: skip
    fit_weighted(model, cs.X, cs.y, cs.weights, normalize_weights=True)
    [call] = calls
    # early_stopping="auto" on weights standing for 30,000 rows: on, with our weighted split
    assert call["n"] == len(cs) - call["X_val"].shape[0]
    np.testing.assert_allclose(call["weights"].sum(), cs.weights.sum())  # raw scale, total kept
    np.testing.assert_array_equal(call["sample_weight_val"],
                                  cs.weights[np.isin(cs.X[:, 0], call["X_val"][:, 0])])  # fmt: skip
    assert model.n_iter_ < 300 and model.early_stopping == "auto"
    calls.clear()
    fit_weighted(HistGradientBoostingClassifier(early_stopping=False, max_iter=5), cs.X, cs.y,
                 cs.weights)  # fmt: skip
    assert calls[0]["n"] == len(cs) and "X_val" not in calls[0]


def test_forests_and_other_models_keep_the_default_fit():
    assert type(adapter_for(RandomForestClassifier())) is FitAdapter
    assert adapter_for(HistGradientBoostingRegressor()).rescales_weights is False


@pytest.mark.parametrize("model", [
    HistGradientBoostingClassifier(max_iter=30, max_bins=32, random_state=0),
    RandomForestClassifier(n_estimators=20, random_state=0),
])  # fmt: skip
def test_searches_over_sklearn_tree_models(tree, model):
    space = ({"learning_rate": (0.03, 0.3, "log-uniform"), "max_leaf_nodes": [7, 15]}
             if "Hist" in type(model).__name__ else {"max_depth": [4, 8], "max_features": [0.5, 1.0]})  # fmt: skip
    search = RandomSearch(model, space, n_iter=3, scoring="roc_auc", cv=3, random_state=0)
    search.fit(tree)
    assert np.all(search.cv_results_["status"] == "ok") and search.best_score_ > 0.7


def test_lightgbm_early_stops_on_the_weighted_validation_rows(monkeypatch, tree):
    lightgbm = pytest.importorskip("lightgbm")
    cs = tree.get_coreset()
    calls = _recorded_fit(monkeypatch, lightgbm.LGBMClassifier)
    model = lightgbm.LGBMClassifier(n_estimators=400, early_stopping_round=5, verbose=-1,
                                    n_jobs=1, random_state=0)  # fmt: skip
    fit_weighted(model, cs.X, cs.y, cs.weights)
    [call] = calls
    _, y_val = call["eval_set"][0]
    assert len(y_val) == round(0.1 * len(cs)) or abs(len(y_val) - 0.1 * len(cs)) <= 2
    assert call["eval_sample_weight"][0].sum() > 0
    np.testing.assert_allclose(call["weights"].sum(), cs.weights.sum())
    assert 0 < model.best_iteration_ < 400
    search = GridSearch(lightgbm.LGBMClassifier(n_estimators=50, verbose=-1, n_jobs=1),
                        {"num_leaves": [7, 31]}, scoring="roc_auc", cv=3).fit(tree)  # fmt: skip
    assert np.all(search.cv_results_["status"] == "ok")


def test_xgboost_early_stops_on_the_weighted_validation_rows(monkeypatch, tree):
    xgboost = pytest.importorskip("xgboost")
    cs = tree.get_coreset()
    calls = _recorded_fit(monkeypatch, xgboost.XGBClassifier)
    model = xgboost.XGBClassifier(n_estimators=400, early_stopping_rounds=5, n_jobs=1,
                                  random_state=0)  # fmt: skip
    fit_weighted(model, cs.X, cs.y, cs.weights)
    [call] = calls
    assert len(call["sample_weight_eval_set"][0]) == len(call["eval_set"][0][1])
    assert 0 < model.best_iteration < 399
    search = RandomSearch(xgboost.XGBClassifier(n_estimators=50, n_jobs=1),
                          {"max_depth": [2, 4], "learning_rate": (0.05, 0.5, "log-uniform")},
                          n_iter=2, scoring="roc_auc", cv=3, random_state=0).fit(tree)  # fmt: skip
    assert np.all(search.cv_results_["status"] == "ok")


@pytest.mark.parametrize("search_name", ["grid", "bayes", "halving"])
def test_every_search_tunes_trees_on_a_model_loss_coreset(search_name):
    """The other searches over a HistGradientBoosting and a RandomForest on a model_loss tree."""
    from tuners import BayesSearch, HalvingSearch

    X, y = _classification(n=12_000, seed=1)
    tree = CoresetTree(coreset_size=600, chunk_size=4000, method="model_loss",
                       random_state=0).build(X, y)  # fmt: skip
    for model, space in (
        (HistGradientBoostingClassifier(max_iter=20, max_bins=32, random_state=0),
         {"learning_rate": [0.05, 0.2], "max_leaf_nodes": [7, 15]}),
        (RandomForestClassifier(n_estimators=10, random_state=0),
         {"max_depth": [4, 8], "min_weight_fraction_leaf": [0.0, 0.01]}),
    ):  # fmt: skip
        if search_name == "grid":
            search = GridSearch(model, space, scoring="roc_auc", cv=3)
        elif search_name == "bayes":
            search = BayesSearch(model, space, n_iter=3, scoring="roc_auc", cv=3, random_state=0)
        else:
            search = HalvingSearch(model, space, scoring="roc_auc", cv=3, random_state=0)
        search.fit(tree)
        assert np.all(search.cv_results_["status"] == "ok") and search.best_score_ > 0.7
        assert search.best_estimator_.predict_proba(X[:5]).shape == (5, 2)
