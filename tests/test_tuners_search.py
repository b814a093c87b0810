"""Tests of the searches in tuners: results, weights, validation, failures, callbacks, halving."""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from coreset_engine import Coreset, CoresetTree
from tuners import (
    BayesSearch,
    GridSearch,
    HalvingSearch,
    RandomSearch,
    StopWhenScoreReaches,
    StopWithoutImprovement,
    register_backend,
)
from tuners._backends import JoblibBackend
from tuners._data import WeightedRows
from tuners._fitting import fit_weighted
from tuners._splits import make_splits

GRID = {"C": [0.01, 1.0], "solver": ["lbfgs", "liblinear"]}


def make_data(n=400, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.8, size=n) > 0).astype(np.int64)
    return X, y


class FakeTree:
    """A stand-in CoresetTree: level k holds the first 100 * 2**k rows, weights summing to n."""

    chunk_size = 100

    def __init__(self, X, y):
        self.X, self.y = X, y
        self.depth_ = int(np.log2(len(X) // 100))
        self.n_samples_ = len(X)
        self.levels_read = []

    def get_coreset(self, level=0):
        self.levels_read.append(level)
        rows = np.arange(100 * 2**level)
        weights = np.full(rows.size, len(self.X) / rows.size)
        return Coreset(rows, self.X[rows], self.y[rows], weights, len(self.X))


class WeightSpy(ClassifierMixin, BaseEstimator):
    """Records the sample weights and C it was fitted with; predicts the weighted majority."""

    def __init__(self, C=1.0):
        self.C = C

    def fit(self, X, y, sample_weight=None):
        self.seen_weights_ = np.asarray(sample_weight)
        self.seen_C_ = self.C
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


@pytest.fixture(scope="module")
def data():
    return make_data()


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


# ------------------------------------------------------------------------ results and refit
def test_grid_search_results_and_refit(data):
    X, y = data
    search = GridSearch(LogisticRegression(), GRID, scoring="roc_auc", cv=3, random_state=0)
    search.fit(X, y)
    results = search.cv_results_
    assert len(results["params"]) == 4
    for key in ("mean_test_score", "std_test_score", "rank_test_score", "mean_fit_time",
                "split0_test_score", "split2_test_score", "status", "error", "n_train_rows"):  # fmt: skip
        assert len(results[key]) == 4, key
    assert np.all(results["mean_fit_time"] > 0)
    assert set(results["status"]) == {"ok"}
    assert results["rank_test_score"][search.best_index_] == 1
    assert search.best_score_ == results["mean_test_score"].max()
    assert search.n_splits_ == 3 and search.n_rows_fitted_ == 4 * 2 * len(X)
    assert 0.5 < search.score(X, y) <= 1.0
    np.testing.assert_allclose(search.score(X, y), roc_auc_score(y, search.predict_proba(X)[:, 1]))
    assert search.best_estimator_.get_params()["C"] == search.best_params_["C"]


def test_failed_candidates_are_recorded_not_raised(data):
    X, y = data
    grid = {"C": [1.0], "l1_ratio": [0.0, 1.0], "solver": ["lbfgs", "liblinear"]}
    search = GridSearch(LogisticRegression(), grid, cv=3, random_state=0).fit(X, y)
    results = search.cv_results_
    failed = np.flatnonzero(results["status"] == "failed")
    assert [results["params"][i] for i in failed] == [
        {"C": 1.0, "l1_ratio": 1.0, "solver": "lbfgs"}
    ]
    assert "lbfgs" in results["error"][failed[0]] and "ValueError" in results["error"][failed[0]]
    assert np.isnan(results["mean_test_score"][failed[0]])
    assert results["rank_test_score"][failed[0]] == 4  # failed ranks last
    assert search.best_params_ != results["params"][failed[0]]


def test_all_failed_raises_with_first_reason(data):
    X, y = data
    grid = {"l1_ratio": [1.0], "solver": ["lbfgs", "newton-cg"]}
    with pytest.raises(ValueError, match="All 2 candidates of GridSearch failed.*lbfgs"):
        GridSearch(LogisticRegression(), grid, cv=3).fit(X, y)


def test_error_score_raise(data):
    X, y = data
    with pytest.raises(ValueError, match="lbfgs"):
        GridSearch(LogisticRegression(), {"l1_ratio": [1.0]}, cv=3, error_score="raise").fit(X, y)


# ---------------------------------------------------------------------------------- weights
def test_normalized_fit_has_the_same_optimum_as_raw_weights(data):
    X, y = data
    weights = np.random.default_rng(1).uniform(50, 500, size=len(y))
    model = LogisticRegression(C=0.05, tol=1e-10, max_iter=10_000)
    raw = LogisticRegression(C=0.05, tol=1e-10, max_iter=10_000).fit(X, y, sample_weight=weights)
    normalized = fit_weighted(model, X, y, weights, normalize_weights=True)
    np.testing.assert_allclose(normalized.coef_, raw.coef_, rtol=1e-5)
    assert normalized.C == 0.05  # reported in the caller's units
    unweighted = LogisticRegression(C=0.05, tol=1e-10).fit(X, y)
    assert not np.allclose(unweighted.coef_, raw.coef_, rtol=1e-2)


def test_weights_reach_fit_scaled_and_c_rescaled(data):
    X, y = data
    weights = np.linspace(10, 30, len(y))
    search = GridSearch(WeightSpy(), {"C": [2.0]}, cv=[(np.arange(200), np.arange(200, 400))])
    fitted = search.fit(X, y, sample_weight=weights).best_estimator_
    np.testing.assert_allclose(fitted.seen_weights_, weights / weights.mean())
    assert fitted.seen_C_ == pytest.approx(2.0 * weights.mean())
    assert fitted.C == 2.0
    raw = GridSearch(WeightSpy(), {"C": [2.0]}, cv=2, normalize_weights=False).fit(
        X, y, sample_weight=weights
    )
    np.testing.assert_allclose(raw.best_estimator_.seen_weights_, weights)
    assert raw.best_estimator_.seen_C_ == 2.0


def test_weights_change_the_scores(data):
    """Weights that make class 1 rare change every candidate's validation score."""
    X, y = data
    weights = np.where(y == 1, 0.02, 1.0)
    grid = {"C": [1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0]}
    plain = GridSearch(LogisticRegression(), grid, scoring="neg_log_loss", cv=3, random_state=0)
    weighted = GridSearch(LogisticRegression(), grid, scoring="neg_log_loss", cv=3, random_state=0)
    plain.fit(X, y)
    weighted.fit(X, y, sample_weight=weights)
    assert not np.allclose(
        plain.cv_results_["mean_test_score"], weighted.cv_results_["mean_test_score"]
    )


def test_held_out_rows_are_scored_with_their_weights(data):
    X, y = data
    weights = np.random.default_rng(2).uniform(1, 9, size=len(y))
    seen = []

    def scorer(estimator, X_held, y_held, sample_weight=None):
        seen.append((X_held, sample_weight))
        return 0.0

    GridSearch(LogisticRegression(), {"C": [1.0]}, scoring=scorer, cv=4, random_state=0).fit(
        X, y, sample_weight=weights
    )
    assert len(seen) == 4
    for X_held, held_weights in seen:
        rows = [np.flatnonzero((X == row).all(axis=1))[0] for row in X_held]
        np.testing.assert_array_equal(held_weights, weights[rows])


def test_pipeline_gets_weights_in_its_last_step(data):
    X, y = data
    weights = np.full(len(y), 40.0)
    pipeline = make_pipeline(StandardScaler(), WeightSpy())
    search = GridSearch(pipeline, {"weightspy__C": [3.0]}, cv=2).fit(X, y, sample_weight=weights)
    spy = search.best_estimator_[-1]
    np.testing.assert_allclose(spy.seen_weights_, 1.0)
    assert spy.seen_C_ == pytest.approx(120.0) and spy.C == 3.0


def test_estimator_without_sample_weight_is_refused(data):
    X, y = data
    with pytest.raises(TypeError, match="'estimator' parameter of GridSearch must accept"):
        GridSearch(KNeighborsClassifier(), {"n_neighbors": [3]}).fit(X, y)


# ------------------------------------------------------------------------ inputs and splits
def test_tree_and_coreset_inputs_use_their_rows_and_weights():
    X, y = make_data(n=20_000, d=5)
    tree = CoresetTree(coreset_size=500, chunk_size=5000, random_state=0).build(X, y)
    coreset = tree.get_coreset(level=1)
    on_tree = GridSearch(LogisticRegression(), GRID, cv=2, random_state=0, level=1).fit(tree)
    on_coreset = GridSearch(LogisticRegression(), GRID, cv=2, random_state=0).fit(coreset)
    np.testing.assert_array_equal(
        on_tree.cv_results_["mean_test_score"], on_coreset.cv_results_["mean_test_score"]
    )
    assert on_tree.cv_results_["n_train_rows"][0] == len(coreset) // 2
    with pytest.raises(ValueError, match="only with an array X"):
        GridSearch(LogisticRegression(), GRID).fit(tree, y)


def test_default_folds_are_stratified_and_seeded(data):
    X, y = data
    rows = WeightedRows(X, y, np.ones(len(y)))
    splits = make_splits(None, rows, random_state=0, caller="GridSearch")
    assert len(splits) == 5
    for _, test in splits:
        assert abs(y[test].mean() - y.mean()) < 0.02
    again = make_splits(5, rows, random_state=0, caller="GridSearch")
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(splits, again))


def test_copies_of_a_row_stay_in_one_fold():
    X, y = make_data(n=60)
    row_ids = np.repeat(np.arange(30), 2)
    rows = WeightedRows(X, y, np.ones(60), row_ids)
    for train, test in make_splits(3, rows, random_state=0, caller="GridSearch"):
        assert not set(row_ids[train]) & set(row_ids[test])


def test_leaf_folds_hold_out_whole_leaves():
    X, y = make_data(n=800)
    tree = FakeTree(X, y)
    rows = WeightedRows(X, y, np.ones(800), np.arange(800), leaf_size=100)
    splits = make_splits("leaves", rows, random_state=0, caller="GridSearch")
    assert len(splits) == 5
    for train, test in splits:
        assert not set(train // 100) & set(test // 100)
    search = GridSearch(LogisticRegression(), GRID, cv="leaves", level=3).fit(tree)
    assert search.n_splits_ == 5
    with pytest.raises(ValueError, match="'leaves' only when fit gets a CoresetTree"):
        GridSearch(LogisticRegression(), GRID, cv="leaves").fit(X, y)


def test_validation_data_scores_real_rows(data):
    X, y = data
    X_val, y_val = make_data(n=200, seed=5)
    search = GridSearch(LogisticRegression(), GRID, scoring="roc_auc").fit(
        X, y, validation_data=(X_val, y_val)
    )
    assert search.n_splits_ == 1
    best = search.best_params_
    expected = roc_auc_score(y_val, LogisticRegression(**best).fit(X, y).predict_proba(X_val)[:, 1])
    assert search.best_score_ == pytest.approx(expected)


def test_parameter_errors_name_parameter_and_caller(data):
    X, y = data
    with pytest.raises(InvalidParameterError, match="The 'cv' parameter of GridSearch must be"):
        GridSearch(LogisticRegression(), GRID, cv=1).fit(X, y)
    with pytest.raises(InvalidParameterError, match="The 'n_iter' parameter of RandomSearch"):
        RandomSearch(LogisticRegression(), GRID, n_iter=0).fit(X, y)
    with pytest.raises(ValueError, match="sample weights given to GridSearch.fit must be"):
        GridSearch(LogisticRegression(), GRID).fit(X, y, sample_weight=-np.ones(len(y)))


# -------------------------------------------------------- reproducibility, jobs, callbacks
def test_same_random_state_same_results(data):
    X, y = data

    def scores(seed, n_jobs=None):
        search = RandomSearch(
            LogisticRegression(), {"C": (1e-3, 1e3, "log-uniform")}, n_iter=4, cv=3,
            random_state=seed, n_jobs=n_jobs,
        )  # fmt: skip
        search.fit(X, y)
        return search.cv_results_["params"], search.cv_results_["mean_test_score"]

    params, first = scores(0)
    params_again, again = scores(0)
    assert params == params_again
    np.testing.assert_array_equal(first, again)
    other_params, _ = scores(1)
    assert other_params != params
    _, parallel = scores(0, n_jobs=2)
    np.testing.assert_array_equal(first, parallel)


def test_no_random_state_gives_the_same_folds_and_pick_on_every_run():
    # as scikit-learn's cv=5: a search left at random_state=None is repeatable
    X, y = make_data(n=300, seed=3)
    grid = {"C": [0.003, 0.01, 0.03, 0.1, 0.3, 1.0]}

    def run(search_class, **options):
        search = search_class(LogisticRegression(), grid, scoring="roc_auc", **options).fit(X, y)
        return search.best_params_, search.cv_results_["split0_test_score"]

    for search_class, options in ((GridSearch, {}), (HalvingSearch, {"factor": 2})):
        first_pick, first_scores = run(search_class, **options)
        pick, scores = run(search_class, **options)
        assert pick == first_pick
        np.testing.assert_array_equal(scores, first_scores)
        _, seeded = run(search_class, random_state=0, **options)
        np.testing.assert_array_equal(seeded, first_scores)  # None means 0
    draws = [RandomSearch(LogisticRegression(), {"C": (1e-3, 1e3, "log-uniform")}, n_iter=3,
                          cv=3).fit(X, y).cv_results_["params"] for _ in range(2)]  # fmt: skip
    assert draws[0] == draws[1]


def test_callback_stops_the_search(data):
    X, y = data
    grid = {"C": [0.001, 0.01, 0.1, 1, 10, 100]}
    search = GridSearch(
        LogisticRegression(), grid, cv=2, callbacks=[StopWhenScoreReaches(-np.inf)]
    ).fit(X, y)
    assert search.stopped_early_ and len(search.cv_results_["params"]) == 1
    assert search.best_params_ == {"C": 0.001}  # the best of what finished is refit
    stop = StopWithoutImprovement(patience=2)
    plateau = GridSearch(LogisticRegression(), {"C": [1.0] * 6}, cv=2, callbacks=[stop])
    assert len(plateau.fit(X, y).cv_results_["params"]) == 3
    assert len(plateau.fit(X, y).cv_results_["params"]) == 3  # reset between fits
    full = GridSearch(LogisticRegression(), grid, cv=2).fit(X, y)
    assert not full.stopped_early_ and len(full.cv_results_["params"]) == 6


def test_progress_bar_and_custom_backend(data, capsys):
    X, y = data
    runs = []

    class RecordingBackend(JoblibBackend):
        def run(self, tasks, settings):
            runs.append(len(tasks))
            return super().run(tasks, settings)

    register_backend("recording", RecordingBackend)
    GridSearch(LogisticRegression(), GRID, cv=2, backend="recording", progress_bar=True).fit(X, y)
    assert runs == [8]
    assert "8/8" in capsys.readouterr().err
    with pytest.raises(ValueError, match="'backend' parameter of GridSearch must be one of"):
        GridSearch(LogisticRegression(), GRID, backend="nope").fit(X, y)


# --------------------------------------------------------------------- random and Bayes
def test_random_search_samples_ranges_and_lists(data):
    X, y = data
    space = {"C": (1e-3, 1e-1, "log-uniform"), "max_iter": (50, 60), "solver": ["lbfgs"]}
    search = RandomSearch(LogisticRegression(), space, n_iter=6, cv=2, random_state=0).fit(X, y)
    for params in search.cv_results_["params"]:
        assert 1e-3 <= params["C"] <= 1e-1 and 50 <= params["max_iter"] <= 60
        assert isinstance(params["max_iter"], (int, np.integer)) and params["solver"] == "lbfgs"
    with pytest.raises(ValueError, match="search range of 'C' in RandomSearch"):
        RandomSearch(LogisticRegression(), {"C": (0, 1, "log-uniform")}).fit(X, y)


def test_bayes_search_ask_tell(data):
    import optuna

    X, y = data
    space = {
        "C": (1e-4, 1e2, "log-uniform"),
        "class_weight": [None, {0: 1, 1: 2}],  # not an Optuna-native choice: sampled by index
        "l1_ratio": optuna.distributions.CategoricalDistribution([0.0, 1.0]),
    }
    search = BayesSearch(LogisticRegression(), space, n_iter=8, cv=2, random_state=0).fit(X, y)
    assert len(search.study_.trials) == 8
    states = {trial.state.name for trial in search.study_.trials}
    failed = search.cv_results_["status"] == "failed"  # l1 with lbfgs
    assert failed.any() and "FAIL" in states
    assert sum(t.state.name == "FAIL" for t in search.study_.trials) == failed.sum()
    assert search.best_params_["class_weight"] in (None, {0: 1, 1: 2})
    again = BayesSearch(LogisticRegression(), space, n_iter=8, cv=2, random_state=0).fit(X, y)
    assert again.cv_results_["params"] == search.cv_results_["params"]


def test_bayes_search_reaches_the_grid_optimum(data):
    X, y = data
    grid = GridSearch(LogisticRegression(), {"C": list(np.logspace(-4, 2, 7))}, scoring="roc_auc",
                      cv=3, random_state=0).fit(X, y)  # fmt: skip
    bayes = BayesSearch(LogisticRegression(), {"C": (1e-4, 1e2, "log-uniform")}, n_iter=15,
                        scoring="roc_auc", cv=3, random_state=0).fit(X, y)  # fmt: skip
    assert bayes.best_score_ >= grid.best_score_ - 1e-3


# ----------------------------------------------------------------------------- halving
def test_halving_walks_down_the_tree_with_fewer_rows():
    X, y = make_data(n=800)
    tree = FakeTree(X, y)
    grid = {"C": list(np.logspace(-3, 2, 9))}
    halving = HalvingSearch(LogisticRegression(), grid, cv=2, random_state=0).fit(tree)
    assert halving.n_resources_ == [0, 1] and halving.n_candidates_ == [9, 3]
    assert tree.levels_read == [0, 1]
    results = halving.cv_results_
    assert list(results["iter"]) == [0] * 9 + [1] * 3
    assert results["iter"][halving.best_index_] == 1
    assert results["rank_test_score"][halving.best_index_] == 1
    assert halving.best_estimator_ is not None
    full = GridSearch(LogisticRegression(), grid, cv=2, random_state=0, level=1).fit(tree)
    assert halving.n_rows_fitted_ < full.n_rows_fitted_
    assert halving.best_params_ in [
        full.cv_results_["params"][i] for i in np.argsort(full.cv_results_["rank_test_score"])[:3]
    ]


def test_halving_without_a_tree_uses_row_subsets(data):
    X, y = data
    halving = HalvingSearch(
        LogisticRegression(), {"C": [0.001, 0.01, 0.1, 1, 10, 100, 1000, 1e4, 1e5]}, cv=2,
        random_state=0, min_rows=50,
    ).fit(X, y, sample_weight=np.full(len(y), 3.0))  # fmt: skip
    assert halving.n_resources_ == [50, 150] and halving.n_candidates_ == [9, 3]
    assert list(halving.cv_results_["n_train_rows"][:9]) == [25] * 9
    default = HalvingSearch(LogisticRegression(), {"C": [0.01, 0.1, 1, 10]}, cv=2, random_state=0)
    assert default.fit(X, y).n_resources_ == [134, 400]


class FinitenessSpy(WeightSpy):
    """Records whether scikit-learn would scan the rows for NaN and infinity during its fit."""

    seen: ClassVar[list] = []

    def fit(self, X, y, sample_weight=None):
        import sklearn

        FinitenessSpy.seen.append(sklearn.get_config()["assume_finite"])
        return super().fit(X, y, sample_weight)


def test_search_fits_skip_the_finiteness_scan_its_input_check_already_made(data, monkeypatch):
    import sklearn
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.preprocessing import FunctionTransformer

    from tuners import _backends

    assert _backends._fits_its_input(LogisticRegression())
    assert _backends._fits_its_input(HistGradientBoostingClassifier())
    for other in (make_pipeline(StandardScaler(), LogisticRegression()),
                  RandomForestClassifier(), FinitenessSpy()):  # fmt: skip
        assert not _backends._fits_its_input(other)  # wrappers, and estimators we do not know
    monkeypatch.setattr(_backends, "_DIRECT_MODULES", (*_backends._DIRECT_MODULES, __name__))
    X, y = data
    FinitenessSpy.seen = []
    GridSearch(FinitenessSpy(), {"C": [0.1, 1.0]}, cv=2).fit(X, y)
    assert len(FinitenessSpy.seen) == 5 and all(FinitenessSpy.seen[:4])  # 4 CV fits, 1 refit
    FinitenessSpy.seen = []
    GridSearch(make_pipeline(FinitenessSpy()), {"finitenessspy__C": [1.0]}, cv=2).fit(X, y)
    assert not any(FinitenessSpy.seen)  # a Pipeline's steps may make NaN from finite rows
    assert sklearn.get_config()["assume_finite"] is False  # and the setting does not leak
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):  # the one check is still made
        GridSearch(FinitenessSpy(), {"C": [0.1, 1.0]}, cv=2).fit(bad, y)
    with pytest.raises(ValueError, match=r"targets y given to GridSearch.fit must be finite\. "
                                         r"Got np.float64\(nan\) at row 7"):  # fmt: skip
        GridSearch(FinitenessSpy(), {"C": [1.0]}, cv=2).fit(X, np.where(np.arange(len(y)) == 7,
                                                                       np.nan, y))  # fmt: skip
    # a step that makes infinity from finite rows: every fit fails as before, with the reason
    logged = make_pipeline(FunctionTransformer(np.log), LogisticRegression())
    positive = np.abs(X) + 1.0
    positive[5, 0] = 0.0
    with pytest.raises(ValueError, match="infinity"):
        GridSearch(logged, {"logisticregression__C": [1.0]}, cv=2).fit(positive, y)
