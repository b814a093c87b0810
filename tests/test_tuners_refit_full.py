"""refit="full": the best configuration refit on all rows of the tree's source."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.svm import LinearSVC
from sklearn.utils._param_validation import InvalidParameterError

from coreset_engine import CoresetTree
from tuners import BayesSearch, GridSearch, HalvingSearch, RandomSearch, _full_refit


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30_000, 5))
    y = (X[:, 0] - 0.5 * X[:, 1] + rng.logistic(size=30_000) > 1.0).astype(np.int64)
    return X, y


@pytest.fixture()
def tree(data):
    X, y = data
    return CoresetTree(coreset_size=1500, chunk_size=6000, random_state=0).build(X, y)


def full_optimum(X, y, **params):
    model = LogisticRegression(solver="newton-cholesky", tol=1e-12, max_iter=200, **params)
    return model.fit(X, y)


@pytest.mark.parametrize("search_class", [GridSearch, RandomSearch, BayesSearch, HalvingSearch])
def test_logistic_regression_is_refit_on_all_rows(data, tree, search_class):
    X, y = data
    space = {"C": [0.01, 1.0], "class_weight": [None, "balanced"]}
    kwargs = {"n_iter": 3} if search_class in (RandomSearch, BayesSearch) else {}
    search = search_class(LogisticRegression(), space, cv=3, random_state=0, refit="full",
                          **kwargs).fit(tree)  # fmt: skip
    best = search.best_params_
    model = search.best_estimator_
    assert isinstance(model, LogisticRegression) and model.get_params()["C"] == best["C"]
    assert 1 <= search.refit_passes_ <= 4
    assert search.refit_data_ == (
        f"all 30,000 source rows (streamed Newton, {search.refit_passes_} passes)"
    )
    reference = full_optimum(X, y, **best)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=1e-3, atol=1e-4)
    assert search.refit_time_ > 0


def test_refit_true_stays_on_the_coreset(tree):
    search = GridSearch(LogisticRegression(), {"C": [1.0]}, cv=3, random_state=0).fit(tree)
    assert search.refit_passes_ == 0 and search.refit_data_ == "1,500 searched rows, weighted"


def test_partial_fit_estimators_get_one_pass(data, tree):
    X, y = data
    search = GridSearch(GaussianNB(), {"var_smoothing": [1e-9]}, cv=3, refit="full").fit(tree)
    assert search.refit_passes_ == 1
    assert search.refit_data_ == "all 30,000 source rows (partial_fit, one pass)"
    reference = GaussianNB().fit(X, y)  # naive Bayes: one pass is exact
    np.testing.assert_allclose(search.best_estimator_.theta_, reference.theta_, rtol=1e-9)
    sgd = GridSearch(SGDClassifier(random_state=0), {"alpha": [1e-4]}, cv=3, refit="full")
    assert sgd.fit(tree).best_estimator_.score(X, y) > 0.7


def test_other_estimators_are_fit_in_memory_or_refused(data, tree, monkeypatch):
    X, y = data
    search = GridSearch(LinearSVC(), {"C": [0.5]}, cv=3, refit="full").fit(tree)
    assert search.refit_data_ == "all 30,000 source rows (fit in memory)"
    np.testing.assert_allclose(search.best_estimator_.coef_, LinearSVC(C=0.5).fit(X, y).coef_)
    l1 = LogisticRegression(solver="liblinear")  # not the streamed objective: an ordinary fit
    search = GridSearch(l1, {"C": [0.5]}, cv=3, refit="full").fit(tree)
    assert search.refit_data_.endswith("(fit in memory)")
    monkeypatch.setattr(_full_refit, "_available_memory", lambda: 1_000_000)
    search = GridSearch(LinearSVC(), {"C": [0.5]}, cv=3, refit="full")
    with pytest.raises(ValueError, match="cannot refit LinearSVC on all 30,000 rows"):
        search.fit(tree)
    assert search.best_params_ == {"C": 0.5}  # the search's results are kept


def test_full_refit_with_arrays_and_coresets(data, tree):
    X, y = data
    search = GridSearch(LogisticRegression(), {"C": [1.0]}, cv=3, refit="full").fit(X, y)
    assert search.refit_data_ == "all 30,000 rows given to fit" and search.refit_passes_ == 0
    with pytest.raises(ValueError, match="not a Coreset"):
        GridSearch(LogisticRegression(), {"C": [1.0]}, refit="full").fit(tree.get_coreset())
    with pytest.raises(InvalidParameterError, match="'refit' parameter"):
        GridSearch(LogisticRegression(), {"C": [1.0]}, refit="all").fit(X, y)
