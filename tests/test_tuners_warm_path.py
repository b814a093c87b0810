"""LogisticRegression searches fit each fold's C values as a warm-started path."""

import functools

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from coreset_engine import CoresetTree
from tuners import GridSearch, register_backend
from tuners._backends import FitSettings, FitTask, JoblibBackend
from tuners._data import WeightedRows
from tuners._warm_path import path_groups

register_backend("sklearn-cold", functools.partial(JoblibBackend, warm_start_path=False))
GRID = {"C": [1e-3, 1e-2, 0.1, 1.0], "class_weight": [None, "balanced"]}


def one_hot_problem(n, seed):
    """Mostly one-hot columns (a sparse path) and a weak signal."""
    model = np.random.default_rng(99)
    beta = model.normal(scale=0.4, size=44)
    rng = np.random.default_rng(seed)
    levels = rng.integers(0, 8, size=(n, 5))
    X = np.zeros((n, 44))
    X[np.arange(n)[:, None], levels + 8 * np.arange(5)] = 1.0
    X[:, 40:] = rng.normal(size=(n, 4))
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ beta - 1.0)))).astype(np.int64)
    return X, y


def dense_problem(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8)) * rng.uniform(0.5, 3, size=8)
    y = (X[:, 0] - X[:, 3] + rng.logistic(size=n) > 0.8).astype(np.int64)
    return X, y


@pytest.mark.parametrize("problem", [one_hot_problem, dense_problem])
@pytest.mark.parametrize("seed", [0, 1])
def test_same_picks_as_cold_fits(problem, seed):
    X, y = problem(20_000, seed)
    tree = CoresetTree(coreset_size=3000, chunk_size=5000, random_state=seed).build(X, y)
    searches = {
        backend: GridSearch(LogisticRegression(), GRID, cv=3, scoring="roc_auc", refit=False,
                            random_state=seed, backend=backend).fit(tree)
        for backend in ("sklearn", "sklearn-cold")
    }  # fmt: skip
    warm, cold = searches["sklearn"], searches["sklearn-cold"]
    # lbfgs stops at its tol (1e-4) wherever it starts, so a candidate's mean score may differ
    # by up to the atol below between the two; only candidates that close may pick otherwise
    # (one_hot_problem, seed 1: the two C = 0.1 candidates, 3.6e-5 apart in the cold fits)
    if warm.best_params_ != cold.best_params_:
        cold_score = dict(zip(map(repr, cold.cv_results_["params"]),
                              cold.cv_results_["mean_test_score"]))  # fmt: skip
        tie = abs(cold_score[repr(warm.best_params_)] - cold.best_score_)
        assert tie < 2e-4, (warm.best_params_, cold.best_params_, tie)
    np.testing.assert_allclose(warm.cv_results_["mean_test_score"],
                               cold.cv_results_["mean_test_score"], atol=2e-4)  # fmt: skip


def test_paths_group_folds_and_other_parameters_and_sort_by_C():
    rows = WeightedRows(np.zeros((6, 2)), np.array([0, 1] * 3), np.ones(6))
    folds = [(np.arange(3), np.arange(3, 6)), (np.arange(3, 6), np.arange(3))]
    params = [{"C": 1.0, "class_weight": None}, {"C": 0.1, "class_weight": None},
              {"C": 0.1, "class_weight": "balanced"}, {"C": 1.0, "solver": "liblinear"},
              {"C": 0.1, "solver": "liblinear"}]  # fmt: skip
    tasks = [FitTask(i, k, p, *fold) for i, p in enumerate(params) for k, fold in enumerate(folds)]
    settings = FitSettings(LogisticRegression(), rows, None, None, True, np.nan)
    groups = path_groups(tasks, settings)
    by_first = {tuple(group) for group in groups}
    assert (2, 0) in by_first and (3, 1) in by_first  # C 0.1 then 1.0, per fold
    assert (4,) in by_first and (5,) in by_first  # balanced: alone in its group
    assert all(len(group) == 1 for group in groups if tasks[group[0]].params.get("solver"))
    svc = FitSettings(LinearSVC(), rows, None, None, True, np.nan)
    assert path_groups(tasks, svc) is None


def test_results_in_task_order_with_workers_and_failures():
    X, y = one_hot_problem(3000, 2)
    grid = {"C": [1e-2, -1.0, 1.0], "class_weight": [None, "balanced"]}  # C=-1 fails
    search = functools.partial(GridSearch, LogisticRegression(), grid, cv=3, refit=False,
                               scoring="roc_auc", random_state=0)  # fmt: skip
    serial = search().fit(X, y)
    parallel = search(n_jobs=2).fit(X, y)
    assert list(serial.cv_results_["status"]) == ["ok", "ok", "failed", "failed", "ok", "ok"]
    for key in ("mean_test_score", "split0_test_score", "split2_test_score"):
        np.testing.assert_array_equal(serial.cv_results_[key], parallel.cv_results_[key])
    cold = search(backend="sklearn-cold").fit(X, y)
    ok = serial.cv_results_["status"] == "ok"
    np.testing.assert_allclose(serial.cv_results_["mean_test_score"][ok],
                               cold.cv_results_["mean_test_score"][ok], atol=2e-4)  # fmt: skip


@pytest.mark.parametrize("backend", ["sklearn", "sklearn-cold"])
def test_a_single_job_runs_in_process_whatever_n_jobs(monkeypatch, backend):
    """One path (one split, C values only) or one fit: starting joblib workers for it only adds
    their start-up (KDD Cup '99 demo: 1.4 s for a 0.2 s search), so it runs here."""
    from sklearn.model_selection import ShuffleSplit

    from tuners import _backends, _warm_path

    def no_workers(*args, **kwargs):
        raise AssertionError("joblib workers started for a single job")

    X, y = dense_problem(2000, 0)
    one_split = ShuffleSplit(n_splits=1, test_size=0.25, random_state=0)
    grid = {"C": [1e-2, 0.1, 1.0]} if backend == "sklearn" else {"C": [0.1]}
    expected = GridSearch(LogisticRegression(), grid, cv=one_split, refit=False,
                          backend=backend).fit(X, y).cv_results_["mean_test_score"]  # fmt: skip
    monkeypatch.setattr(_warm_path, "Parallel", no_workers)
    monkeypatch.setattr(_backends, "Parallel", no_workers)
    search = GridSearch(LogisticRegression(), grid, cv=one_split, refit=False, n_jobs=2,
                        backend=backend).fit(X, y)  # fmt: skip
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"], expected)
    with pytest.raises(AssertionError, match="workers started"):  # two jobs still use workers
        GridSearch(LogisticRegression(), grid, cv=2, refit=False, n_jobs=2,
                   backend=backend).fit(X, y)  # fmt: skip
