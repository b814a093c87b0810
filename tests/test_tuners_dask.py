"""Searches and ensembles on a Dask cluster: the same results as locally, the coreset sent once."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from coreset_engine import CoresetTree
from tuners import (
    BaggingEnsemble,
    BayesSearch,
    GridSearch,
    HalvingSearch,
    RandomSearch,
    StopWithoutImprovement,
    VotingEnsemble,
)

distributed = pytest.importorskip("distributed")
from distributed import Client, LocalCluster

pytestmark = pytest.mark.timeout(300)

GRID = {"C": [0.01, 0.1, 1.0, 10.0], "solver": ["lbfgs", "liblinear"]}
SPACE = {"C": (1e-3, 1e3, "log-uniform")}


@pytest.fixture(scope="module")
def tree():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6000, 4))
    y = (X[:, 0] - 0.5 * X[:, 1] + rng.normal(size=6000) > 0).astype(np.int64)
    return CoresetTree(coreset_size=300, chunk_size=1500, random_state=0).build(X, y)


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:  # fmt: skip
        yield client


@pytest.fixture
def scatters(client, monkeypatch):
    """The objects scattered to the workers during a test."""
    seen = []
    scatter = type(client).scatter

    def spy(self, data, *args, **kwargs):
        seen.append(data)
        return scatter(self, data, *args, **kwargs)

    monkeypatch.setattr(type(client), "scatter", spy)
    return seen


def test_dask_backend_without_a_client_says_what_to_do(tree):
    # first in the module: the module's client is not made yet
    try:
        distributed.default_client()
        pytest.skip("a Dask client from another test is still the default")
    except ValueError:
        pass
    with pytest.raises(ValueError, match="no Dask client is running.*distributed.Client"):
        GridSearch(LogisticRegression(), GRID, backend="dask").fit(tree)
    with pytest.raises(ValueError, match="no Dask client"):
        VotingEnsemble([("a", LogisticRegression())], backend="dask").fit(tree)


SEARCHES = {
    "grid": lambda backend: GridSearch(LogisticRegression(), GRID, cv=3, random_state=0,
                                       backend=backend),
    "random": lambda backend: RandomSearch(LogisticRegression(), SPACE, n_iter=6, cv=3,
                                           random_state=0, backend=backend),
    "bayes": lambda backend: BayesSearch(LogisticRegression(), SPACE, n_iter=8, n_points=4, cv=3,
                                         random_state=0, backend=backend),
    "halving": lambda backend: HalvingSearch(LogisticRegression(), GRID, cv=3, random_state=0,
                                             backend=backend),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(SEARCHES))
def test_every_search_finds_the_same_on_dask_as_locally(kind, tree, client, scatters):
    local = SEARCHES[kind]("sklearn").fit(tree)
    on_dask = SEARCHES[kind]("dask").fit(tree)
    assert on_dask.best_params_ == local.best_params_
    assert on_dask.best_score_ == local.best_score_
    np.testing.assert_array_equal(
        on_dask.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    assert on_dask.cv_results_["params"] == local.cv_results_["params"]
    np.testing.assert_array_equal(on_dask.best_estimator_.coef_, local.best_estimator_.coef_)
    # each coreset once, whatever the number of fits: halving searches one coreset per level
    rounds = len(local.n_resources_) if kind == "halving" else 1
    assert len(scatters) == rounds
    assert len({id(rows) for rows in scatters}) == rounds


def test_ensembles_on_dask_equal_local_ones(tree, client, scatters):
    members = [("a", LogisticRegression()), ("b", LogisticRegression(C=0.01))]
    X = tree.get_coreset(1).X
    local = VotingEnsemble(members).fit(tree)
    on_dask = VotingEnsemble(members, backend="dask").fit(tree)
    np.testing.assert_array_equal(on_dask.predict_proba(X), local.predict_proba(X))
    assert len(scatters) == 1  # both members share the coreset
    local = BaggingEnsemble(LogisticRegression(), n_estimators=4, random_state=1).fit(tree)
    on_dask = BaggingEnsemble(LogisticRegression(), n_estimators=4, random_state=1,
                              backend="dask").fit(tree)  # fmt: skip
    np.testing.assert_array_equal(on_dask.predict_proba(X), local.predict_proba(X))


def test_failures_and_early_stops_behave_as_locally(tree, client):
    grid = {"C": [0.1, 1.0], "penalty": ["l1", "l2"], "solver": ["lbfgs"]}  # l1: lbfgs fails
    search = GridSearch(LogisticRegression(), grid, cv=3, random_state=0, backend="dask")
    results = search.fit(tree).cv_results_
    assert list(results["status"]) == ["failed", "ok", "failed", "ok"]
    assert "l1" in results["error"][0]
    with pytest.raises(ValueError, match="penalty"):
        GridSearch(LogisticRegression(), grid, cv=3, error_score="raise", backend="dask").fit(tree)
    stop = StopWithoutImprovement(patience=1)
    many = {"C": list(np.logspace(-3, 3, 12)[::-1])}
    local = GridSearch(LogisticRegression(), many, cv=3, callbacks=[stop], random_state=0).fit(tree)
    on_dask = GridSearch(LogisticRegression(), many, cv=3, callbacks=[stop], random_state=0,
                         backend="dask").fit(tree)  # fmt: skip
    assert on_dask.stopped_early_ and local.stopped_early_
    assert len(on_dask.cv_results_["params"]) == len(local.cv_results_["params"]) < 12
    client.run(lambda: None)  # the cancelled fits left the cluster usable


def test_full_refit_on_dask_equals_the_local_one(client):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(6000, 4))  # kept: the refit streams the rows again
    y = (X[:, 0] - 0.5 * X[:, 1] + rng.normal(size=6000) > 0).astype(np.int64)
    tree = CoresetTree(coreset_size=300, chunk_size=1500, random_state=0).build(X, y)
    searches = [
        GridSearch(LogisticRegression(), {"C": [0.01, 1.0]}, cv=3, random_state=0,
                   refit="full", backend=backend).fit(tree)
        for backend in ("sklearn", "dask")
    ]  # fmt: skip
    local, on_dask = searches
    assert on_dask.refit_data_ == local.refit_data_ and on_dask.refit_passes_ >= 1
    np.testing.assert_array_equal(on_dask.best_estimator_.coef_, local.best_estimator_.coef_)
