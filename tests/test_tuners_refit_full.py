"""refit="full": the best configuration refit on all rows of the tree's source."""

import numpy as np
import pytest
from shared_data import SHARED, needs_data
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.svm import LinearSVC
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.class_weight import compute_class_weight

from coreset_engine import CoresetTree, fit_logistic_full
from coreset_engine.datasets import load_dataset, train_test_standardized
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


def string_label_table(n_rows, seed=0):
    """A table with a string categorical column and string labels (three classes)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    color = rng.choice(["red", "green", "blue", "grey"], size=n_rows)
    x = rng.normal(size=(n_rows, 3))
    shift = pd.Series(color).map({"red": 1.0, "green": -0.5, "blue": 0.0, "grey": 0.3}).to_numpy()
    score = x[:, 0] - 0.7 * x[:, 1] + shift + rng.logistic(size=n_rows)
    label = np.where(score > 1.2, "high", np.where(score > -0.5, "mid", "low"))
    return pd.DataFrame({"f0": x[:, 0], "f1": x[:, 1], "f2": x[:, 2],
                         "color": pd.Categorical(color), "y": label})  # fmt: skip


@pytest.mark.parametrize("binary", [True, False])
def test_full_refit_of_a_tree_built_from_parquet_with_string_labels(tmp_path, binary):
    from coreset_engine.evaluation import logistic_objective

    frame = string_label_table(24_000)
    if binary:
        frame["y"] = np.where(frame["y"] == "low", "no", "yes")
    path = tmp_path / "rows.parquet"
    frame.to_parquet(path, row_group_size=5000)
    tree = CoresetTree(coreset_size=1500, chunk_size=6000, random_state=0).build_from_file(path)
    assert "color_red" in tree.get_feature_names_out()  # the colors one-hot encoded
    search = GridSearch(LogisticRegression(), {"C": [0.01, 1.0]}, cv=3, random_state=0,
                        refit="full").fit(tree)  # fmt: skip
    model = search.best_estimator_
    assert 1 <= search.refit_passes_ <= 4
    np.testing.assert_array_equal(model.classes_, np.unique(frame["y"]))
    # all rows, encoded as the build encoded them: the optimum scikit-learn finds on them
    X, y = tree.transform(frame), frame["y"].to_numpy()
    reference = LogisticRegression(C=search.best_params_["C"], tol=1e-10, max_iter=2000)
    reference.fit(X.astype(np.float64), y)
    ours = logistic_objective(model, X, y, search.best_params_["C"])
    best = logistic_objective(reference, X, y, search.best_params_["C"])
    assert abs(ours - best) <= 1e-6 * best
    assert np.mean(model.predict(X) == reference.predict(X)) > 0.999
    assert set(model.predict(X[:50])) <= set(frame["y"])
    # estimators refit by partial_fit or in memory get the label values too
    for estimator in (GaussianNB(), LinearSVC()):
        other = GridSearch(estimator, {}, cv=3, refit="full").fit(tree).best_estimator_
        np.testing.assert_array_equal(other.classes_, np.unique(frame["y"]))


@needs_data
@pytest.mark.parametrize("class_weight", [None, "balanced"])
def test_the_warm_start_is_polished_on_the_coreset(class_weight):
    """The search's coreset refit (lbfgs to its own tol) is solved tightly on the coreset
    before the full passes: on a9a the full refit then takes no more passes than
    fit_logistic_full's own warm start gives it (before the polish: 1-2 more; how many that
    is depends on the coreset drawn, `bench_refit --seeds`)."""
    X, _, y, _ = train_test_standardized(load_dataset("a9a", data_home=SHARED))
    tree = CoresetTree(coreset_size=len(y) // 10, random_state=0).build(X, y)
    template = LogisticRegression(max_iter=1000, class_weight=class_weight)
    search = GridSearch(template, {"C": [1.0]}, cv=3, refit="full", random_state=0).fit(tree)
    engine = fit_logistic_full(tree, C=1.0, class_weight=class_weight)
    assert search.refit_passes_ <= engine.full_fit_.passes
    assert engine.full_fit_.converged

    def objective(model):  # C = 1: sum of class-weighted losses + ||coef||^2 / 2
        margin = np.where(y == model.classes_[1], 1.0, -1.0) * model.decision_function(X)
        factors = np.ones(2)
        if class_weight == "balanced":
            factors = compute_class_weight("balanced", classes=model.classes_, y=y)
        losses = factors[np.searchsorted(model.classes_, y)] @ np.logaddexp(0.0, -margin)
        return losses + float((model.coef_**2).sum()) / 2

    best = objective(engine)
    assert abs(objective(search.best_estimator_) - best) <= 2e-7 * best
