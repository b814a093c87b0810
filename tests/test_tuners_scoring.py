"""The search's fast ROC AUC equals scikit-learn's, and hands it every case it does not cover."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import check_scoring, roc_auc_score
from sklearn.naive_bayes import GaussianNB

from coreset_engine import CoresetTree
from tuners import GridSearch
from tuners._scoring import FastRocAuc, weighted_roc_auc


def test_weighted_roc_auc_matches_scikit_learn_with_ties_and_weights():
    rng = np.random.default_rng(0)
    for trial in range(100):
        n = int(rng.integers(5, 2000))
        positive = rng.random(n) < rng.uniform(0.05, 0.9)
        if positive.all() or not positive.any():
            continue
        score = np.round(rng.normal(size=n), int(rng.integers(0, 4)))  # many ties
        weight = rng.exponential(size=n) if trial % 2 else None
        expected = roc_auc_score(positive, score, sample_weight=weight)
        assert weighted_roc_auc(positive, score, weight) == pytest.approx(expected, abs=1e-12)
    assert weighted_roc_auc(np.ones(5, bool), np.arange(5.0), None) is None


def test_fast_scorer_equals_scikit_learn_and_falls_back():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 4))
    y = np.where(X[:, 0] + rng.logistic(size=3000) > 0, "yes", "no")
    w = rng.exponential(size=3000)
    sklearn_scorer = check_scoring(LogisticRegression(), "roc_auc")
    fast = FastRocAuc(sklearn_scorer)
    for model in (LogisticRegression().fit(X, y), GaussianNB().fit(X, y)):
        assert fast(model, X, y, sample_weight=w) == pytest.approx(
            sklearn_scorer(model, X, y, sample_weight=w), abs=1e-12)  # fmt: skip
        assert fast._fast(model, X, y, w) is not None
    model = LogisticRegression().fit(X, y)
    one_class = np.full(3000, "yes")
    assert fast._fast(model, X, one_class, None) is None  # scikit-learn decides (nan, warning)
    with pytest.warns(Warning):
        assert np.isnan(fast(model, X, one_class)) == np.isnan(sklearn_scorer(model, X, one_class))
    three = np.where(X[:, 1] > 1, "maybe", y)
    assert fast._fast(LogisticRegression().fit(X, three), X, three, None) is None
    assert "FastRocAuc" in repr(fast)


def test_a_search_scores_the_same_with_the_fast_scorer():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(20_000, 5))
    y = (X[:, 0] - X[:, 1] + rng.logistic(size=20_000) > 0.5).astype(int)
    tree = CoresetTree(coreset_size=1000, chunk_size=5000, random_state=0).build(X, y)
    grid = {"C": [0.01, 0.1, 1.0], "class_weight": [None, "balanced"]}
    fast = GridSearch(LogisticRegression(), grid, scoring="roc_auc", cv=3).fit(tree)
    assert isinstance(fast.scorer_, FastRocAuc)
    plain = GridSearch(LogisticRegression(), grid,
                       scoring=check_scoring(LogisticRegression(), "roc_auc"), cv=3).fit(tree)  # fmt: skip
    np.testing.assert_allclose(fast.cv_results_["mean_test_score"],
                               plain.cv_results_["mean_test_score"], atol=1e-12)  # fmt: skip
    assert fast.best_params_ == plain.best_params_
