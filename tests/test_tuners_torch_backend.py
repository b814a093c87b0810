"""Tests of the batched logistic regression solver and the "torch" search backend."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
from helpers import run_without_torch

torch = pytest.importorskip("torch")

from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from coreset_engine import Coreset
from tuners import (
    BayesSearch,
    GridSearch,
    HalvingSearch,
    RandomSearch,
    TorchLogisticBackend,
    register_backend,
)
from tuners._torch_backend import device_scores, weighted_auc
from tuners._torch_logistic import fit_logistic_batch

C_VALUES = [1e-3, 0.03, 1.0, 100.0]
# scikit-learn solved to (nearly) exact optimum, as the batched solver does
EXACT = {"solver": "newton-cholesky", "tol": 1e-12, "max_iter": 1000}


def make_data(n=400, d=4, n_classes=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, size=d)
    scores = X @ rng.normal(size=(d, n_classes)) + rng.normal(scale=1.0, size=(n, n_classes))
    y = scores.argmax(axis=1)
    weights = rng.uniform(0.5, 5, size=n)
    return X, y, weights


def sklearn_fit(X, y, weights, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LogisticRegression(**{**EXACT, **params}).fit(X, y, sample_weight=weights)


# ----------------------------------------------------------------------------- the solver
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("class_weight", [None, "balanced", {0: 1.0, 1: 3.0}])
def test_binary_solutions_match_scikit_learn(fit_intercept, class_weight):
    X, y, weights = make_data()
    batch = fit_logistic_batch(
        X, y, C_VALUES, weights, fit_intercept=fit_intercept, class_weight=class_weight,
        tol=1e-10, device="cpu",
    )  # fmt: skip
    assert batch.coef.shape == (4, 1, 4) and batch.converged.all()
    for member, C in enumerate(C_VALUES):
        reference = sklearn_fit(
            X, y, weights, C=C, fit_intercept=fit_intercept, class_weight=class_weight
        )
        np.testing.assert_allclose(batch.coef[member], reference.coef_, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(
            batch.intercept[member], reference.intercept_, rtol=1e-7, atol=1e-9
        )
        model = batch.to_estimator(member, fit_intercept=fit_intercept)
        np.testing.assert_allclose(model.predict_proba(X), reference.predict_proba(X), atol=1e-9)


def test_multinomial_solutions_match_scikit_learn():
    X, y, weights = make_data(n_classes=3, seed=1)
    C = [0.01, 1.0, np.inf]
    batch = fit_logistic_batch(X, y, C, weights, tol=1e-10, device="cpu")
    assert batch.coef.shape == (3, 3, 4) and batch.converged.all()
    for member, value in enumerate(C):
        reference = sklearn_fit(X, y, weights, C=value)
        np.testing.assert_allclose(batch.coef[member], reference.coef_, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(
            batch.intercept[member], reference.intercept_, rtol=1e-6, atol=1e-8
        )
        assert abs(batch.intercept[member].sum()) < 1e-10  # scikit-learn's centring


def test_weight_rows_per_member_are_folds_and_copies():
    X, y, weights = make_data(n=300)
    train = np.arange(300) % 3 != 0
    masks = np.stack([weights * train, weights * ~train, 2 * weights])
    batch = fit_logistic_batch(X, y, [0.5, 0.5, 0.25], masks, tol=1e-10, device="cpu")
    on_train = sklearn_fit(X[train], y[train], weights[train], C=0.5)
    on_rest = sklearn_fit(X[~train], y[~train], weights[~train], C=0.5)
    np.testing.assert_allclose(batch.coef[0], on_train.coef_, rtol=1e-7)
    np.testing.assert_allclose(batch.coef[1], on_rest.coef_, rtol=1e-7)
    # doubling the weights and halving C: the same optimum
    np.testing.assert_allclose(batch.coef[2], sklearn_fit(X, y, weights, C=0.5).coef_, rtol=1e-7)


def test_mixed_precision_is_as_accurate_on_a_well_conditioned_problem():
    X, y, weights = make_data()
    double = fit_logistic_batch(X, y, C_VALUES, weights, device="cpu", precision="float64")
    mixed = fit_logistic_batch(X, y, C_VALUES, weights, device="cpu", precision="mixed")
    assert double.precision == "float64" and mixed.precision == "mixed"
    np.testing.assert_allclose(mixed.coef, double.coef, rtol=1e-6, atol=1e-8)


def test_string_labels_and_max_iter():
    X, y, weights = make_data()
    labels = np.array(["no", "yes"])[y]
    batch = fit_logistic_batch(X, labels, 1.0, weights, max_iter=1, device="cpu")
    assert list(batch.classes) == ["no", "yes"]
    assert batch.n_iter[0] == 1 and not batch.converged[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"C": [1.0, 0.0]}, "'C' parameter of fit_logistic_batch must be floats > 0"),
        ({"sample_weight": np.ones(5)}, "'sample_weight' parameter .* must have shape"),
        ({"sample_weight": -np.ones(400)}, "must be finite and >= 0"),
        ({"class_weight": "even"}, "'class_weight' parameter of fit_logistic_batch"),
        ({"device": "tpu"}, "'device' parameter of fit_logistic_batch"),
        ({"precision": "float16"}, "'precision' parameter of fit_logistic_batch"),
    ],
)
def test_solver_input_errors(kwargs, message):
    X, y, _ = make_data()
    arguments = {"C": 1.0, "sample_weight": None, **kwargs}
    with pytest.raises(ValueError, match=message):
        fit_logistic_batch(X, y, **arguments)


def test_solver_needs_two_classes():
    X, _, _ = make_data()
    with pytest.raises(ValueError, match="at least 2 classes"):
        fit_logistic_batch(X, np.zeros(len(X)), 1.0)


# ----------------------------------------------------------------------- device scoring
def test_weighted_auc_with_ties_matches_scikit_learn():
    rng = np.random.default_rng(0)
    for _ in range(10):
        n = int(rng.integers(5, 200))
        scores = np.round(rng.normal(size=(3, n)), int(rng.integers(0, 3)))
        y = rng.integers(0, 2, size=n)
        y[:2] = [0, 1]
        w = rng.uniform(0.1, 5, size=n)
        got = weighted_auc(torch, torch.tensor(scores), torch.tensor(y == 1), torch.tensor(w))
        expected = [roc_auc_score(y, row, sample_weight=w) for row in scores]
        np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-13)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_device_log_loss_and_accuracy_match_scikit_learn(n_classes):
    X, y, weights = make_data(n_classes=n_classes)
    model = sklearn_fit(X, y, weights, C=0.1)
    eta = torch.tensor(model.decision_function(X).reshape(len(X), -1).T[None])
    codes, w = torch.tensor(y), torch.tensor(weights)
    accuracy = device_scores(torch, ("accuracy", 1.0), eta, codes, w).item()
    assert accuracy == pytest.approx(
        accuracy_score(y, model.predict(X), sample_weight=weights), abs=1e-14
    )
    loss = device_scores(torch, ("log_loss", -1.0), eta, codes, w).item()
    assert loss == pytest.approx(-log_loss(y, model.predict_proba(X), sample_weight=weights),
                                 abs=1e-12)  # fmt: skip


# ----------------------------------------------------------------------- the backend
@pytest.mark.parametrize("scoring", [None, "roc_auc", "neg_log_loss", "f1"])
def test_grid_search_torch_picks_what_sklearn_picks(scoring):
    X, y, weights = make_data(n=500, seed=2)
    grid = {"C": list(np.logspace(-4, 2, 7)), "class_weight": [None, "balanced", {0: 1, 1: 2}]}
    searches = {
        backend: GridSearch(
            LogisticRegression(**EXACT), grid, scoring=scoring, cv=4, random_state=0,
            backend=backend,
        ).fit(X, y, sample_weight=weights)
        for backend in ("sklearn", "torch")
    }  # fmt: skip
    cpu, batched = searches["sklearn"], searches["torch"]
    assert batched.best_params_ == cpu.best_params_
    np.testing.assert_allclose(
        batched.cv_results_["mean_test_score"], cpu.cv_results_["mean_test_score"], atol=1e-7
    )
    assert set(batched.cv_results_["status"]) == {"ok"}
    assert np.all(batched.cv_results_["mean_fit_time"] > 0)
    assert isinstance(batched.best_estimator_, LogisticRegression)
    np.testing.assert_allclose(batched.best_estimator_.coef_, cpu.best_estimator_.coef_)


def test_multiclass_search_and_default_lbfgs_estimator():
    X, y, weights = make_data(n=450, n_classes=3, seed=3)
    grid = {"C": [1e-3, 1e-2, 0.1, 1.0, 10.0]}
    kwargs = {"scoring": "neg_log_loss", "cv": 3, "random_state": 0}
    cpu = GridSearch(LogisticRegression(), grid, **kwargs).fit(X, y, sample_weight=weights)
    batched = GridSearch(LogisticRegression(), grid, backend="torch", **kwargs).fit(
        X, y, sample_weight=weights
    )
    assert batched.best_params_ == cpu.best_params_
    # lbfgs stops at tol=1e-4; the batched solver goes to the optimum
    np.testing.assert_allclose(batched.cv_results_["mean_test_score"],
                               cpu.cv_results_["mean_test_score"], atol=1e-4)  # fmt: skip


def test_random_bayes_halving_and_validation_data_run_on_the_backend():
    X, y, weights = make_data(n=400, seed=4)
    space = {"C": (1e-3, 10.0, "log-uniform")}
    for search in (
        RandomSearch(LogisticRegression(**EXACT), space, n_iter=6, cv=3, random_state=0),
        BayesSearch(LogisticRegression(**EXACT), space, n_iter=4, n_points=2, cv=3, random_state=0),
        HalvingSearch(LogisticRegression(**EXACT), {"C": C_VALUES}, cv=3, random_state=0),
    ):
        cpu = type(search)(**{**search.get_params(deep=False), "backend": "sklearn"})
        cpu.fit(X, y, sample_weight=weights)
        search.set_params(backend="torch").fit(X, y, sample_weight=weights)
        assert search.best_params_ == cpu.best_params_
        np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                                   cpu.cv_results_["mean_test_score"], atol=1e-7)  # fmt: skip
    X_val, y_val, w_val = make_data(n=200, seed=5)
    validation = (X_val, y_val, w_val)
    cpu, batched = (
        GridSearch(LogisticRegression(**EXACT), {"C": C_VALUES}, scoring="roc_auc",
                   backend=backend).fit(X, y, sample_weight=weights, validation_data=validation)
        for backend in ("sklearn", "torch")
    )  # fmt: skip
    np.testing.assert_allclose(batched.cv_results_["mean_test_score"],
                               cpu.cv_results_["mean_test_score"], atol=1e-9)  # fmt: skip


def test_coreset_input_with_copies_of_rows():
    X, y, weights = make_data(n=300, seed=6)
    rows = np.concatenate([np.arange(300), np.arange(0, 300, 7)])  # some rows twice
    coreset = Coreset(rows, X[rows], y[rows], weights[rows], 300)
    grid = {"C": C_VALUES}
    cpu = GridSearch(LogisticRegression(**EXACT), grid, cv=3, random_state=0).fit(coreset)
    batched = GridSearch(
        LogisticRegression(**EXACT), grid, cv=3, random_state=0, backend="torch"
    ).fit(coreset)
    np.testing.assert_allclose(batched.cv_results_["mean_test_score"],
                               cpu.cv_results_["mean_test_score"], atol=1e-9)  # fmt: skip


def test_unsupported_candidates_are_fitted_by_scikit_learn_with_a_warning():
    X, y, weights = make_data(n=300, seed=7)
    grid = [
        {"C": [0.1, 1.0], "l1_ratio": [0.0, 1.0], "solver": ["saga"], "max_iter": [2000]},
        {"C": [1.0], "solver": ["liblinear"]},
    ]
    kwargs = {"scoring": "roc_auc", "cv": 3, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # saga shuffles with the estimator's random_state: seeded, the two searches' scikit-learn
        # fits are the same fits (unseeded, they drew from the global RNG in turn)
        model = LogisticRegression(random_state=0)
        cpu = GridSearch(model, grid, **kwargs).fit(X, y, sample_weight=weights)
        with pytest.warns(UserWarning, match=r"9 of 15 fits with scikit-learn.*l1_ratio=1\.0"):
            batched = GridSearch(model, grid, backend="torch", **kwargs).fit(
                X, y, sample_weight=weights
            )
    l1 = [params.get("l1_ratio") == 1.0 for params in cpu.cv_results_["params"]]
    # the scikit-learn fits give identical scores; the L2 ones agree to saga's tolerance
    np.testing.assert_array_equal(batched.cv_results_["mean_test_score"][l1],
                                  cpu.cv_results_["mean_test_score"][l1])  # fmt: skip
    np.testing.assert_allclose(batched.cv_results_["mean_test_score"],
                               cpu.cv_results_["mean_test_score"], atol=1e-3)  # fmt: skip


def test_invalid_candidates_fail_like_scikit_learn():
    X, y, weights = make_data(n=200)
    grid = {"C": [-1.0, 1.0]}
    search = GridSearch(LogisticRegression(), grid, cv=2, backend="torch")
    with pytest.warns(UserWarning, match="invalid parameters"):
        search.fit(X, y, sample_weight=weights)
    assert list(search.cv_results_["status"]) == ["failed", "ok"]
    assert "InvalidParameterError" in search.cv_results_["error"][0]
    with (
        pytest.raises(ValueError, match="'C' parameter of LogisticRegression"),
        pytest.warns(UserWarning),
    ):
        GridSearch(LogisticRegression(), grid, cv=2, backend="torch", error_score="raise").fit(
            X, y, sample_weight=weights
        )


@pytest.mark.parametrize(
    "estimator", [LinearSVC(), make_pipeline(StandardScaler(), LogisticRegression())]
)
def test_other_estimators_are_refused(estimator):
    X, y, weights = make_data(n=100)
    with pytest.raises(TypeError, match="'estimator' parameter of a search with backend='torch'"):
        GridSearch(estimator, {}, cv=2, backend="torch").fit(X, y, sample_weight=weights)


def test_backend_variants_and_convergence_warning():
    X, y, weights = make_data(n=200)
    register_backend("torch-test", functools.partial(TorchLogisticBackend, device="cpu",
                                                     precision="mixed", max_iter=1))  # fmt: skip
    with pytest.warns(ConvergenceWarning, match="did not converge in max_iter=1"):
        GridSearch(LogisticRegression(), {"C": C_VALUES}, cv=2, backend="torch-test").fit(
            X, y, sample_weight=weights
        )


def test_import_without_torch_and_backend_says_what_to_install():
    code = (
        "import numpy as np\n"
        "import tuners\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "assert 'torch' not in sys.modules\n"
        "X = np.arange(20.0).reshape(10, 2); y = np.arange(10) % 2\n"
        "try:\n"
        "    tuners.GridSearch(LogisticRegression(), {'C': [1.0]}, cv=2,\n"
        "                      backend='torch').fit(X, y)\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    output = run_without_torch(code)
    assert "torch' search backend needs PyTorch" in output
    assert "pip install coreset-engine[torch]" in output


# ----------------------------------------------------------------------------- GPU
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_matches_cpu():
    X, y, weights = make_data(n=2000, d=10, seed=8)
    C = np.logspace(-4, 2, 16)
    cpu = fit_logistic_batch(X, y, C, weights, device="cpu")
    for precision in ("float64", "mixed"):
        gpu = fit_logistic_batch(X, y, C, weights, device="cuda", precision=precision)
        assert gpu.device.startswith("cuda") and gpu.converged.all()
        np.testing.assert_allclose(gpu.coef, cpu.coef, rtol=1e-6, atol=1e-8)
    register_backend("torch-cuda", functools.partial(TorchLogisticBackend, device="cuda"))
    grid = {"C": list(C), "class_weight": [None, "balanced"]}
    searches = [
        GridSearch(LogisticRegression(**EXACT), grid, scoring="roc_auc", cv=5, random_state=0,
                   backend=backend).fit(X, y, sample_weight=weights)
        for backend in ("sklearn", "torch-cuda")
    ]  # fmt: skip
    assert searches[1].best_params_ == searches[0].best_params_
    np.testing.assert_allclose(searches[1].cv_results_["mean_test_score"],
                               searches[0].cv_results_["mean_test_score"], atol=1e-9)  # fmt: skip
