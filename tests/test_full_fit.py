"""fit_logistic_full: streamed Newton passes reach scikit-learn's full-data optimum."""

import warnings

import numpy as np
import pytest
from shared_data import SHARED, needs_data
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.utils.class_weight import compute_class_weight

from coreset_engine import CoresetTree, _full_fit, _full_fit_surrogate, fit_logistic_full
from coreset_engine._full_fit_kernels import (
    binary_rows,
    centred_rows_float32,
    majority_values,
    multinomial_rows,
    rows_off_base,
)
from coreset_engine._full_fit_pass import (
    HessianSample,
    Layout,
    PassPlan,
    binary_hessian,
    multinomial_hessian,
    run_pass,
    sample_hessian,
)
from coreset_engine._full_fit_surrogate import CoresetSurrogate, ExactRows, rare_columns
from coreset_engine.datasets import load_dataset, train_test_standardized
from coreset_engine.synthetic import make_synthetic


def objective(model, X, y, C, class_weight=None, sample_weight=None):
    """C-free form: sum_i s_i cw_i loss_i + ||coef||^2 / (2 C), computed directly."""
    scores = np.atleast_2d(model.decision_function(X).T).T
    classes = model.classes_
    position = np.searchsorted(classes, y)
    if scores.shape[1] == 1:
        scores = np.hstack([np.zeros_like(scores), scores])
    losses = np.logaddexp.reduce(scores, axis=1) - scores[np.arange(y.size), position]
    weights = np.ones(y.size) if sample_weight is None else np.asarray(sample_weight, float)
    if class_weight is not None:
        factors = compute_class_weight(class_weight, classes=classes, y=y,
                                       sample_weight=sample_weight)  # fmt: skip
        weights = weights * factors[position]
    penalty = 0.0 if np.isinf(C) else float((model.coef_**2).sum()) / (2 * C)
    return float(weights @ losses) + penalty


def reference(X, y, C=1.0, class_weight=None, sample_weight=None, fit_intercept=True):
    model = LogisticRegression(C=C, class_weight=class_weight, solver="newton-cholesky",
                               tol=1e-12, max_iter=300, fit_intercept=fit_intercept)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y, sample_weight=sample_weight)


def gap(model, ref, X, y, **kwargs):
    best = objective(ref, X, y, **kwargs)
    return (objective(model, X, y, **kwargs) - best) / best


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40_000, 6)) * np.array([1, 2, 0.5, 1, 3, 1])
    y = X @ np.array([1.0, -0.5, 2.0, 0.0, 0.3, -1.0]) + 0.5 + rng.logistic(size=40_000) > 0
    return X, y.astype(np.int64)


@pytest.fixture(scope="module")
def multiclass():
    return make_synthetic(30_000, n_features=8, n_classes=4, dtype=np.float64, random_state=1)


@pytest.mark.parametrize("class_weight", [None, "balanced", {0: 3.0, 1: 0.5}])
def test_binary_tree_matches_sklearn_in_few_passes(binary, class_weight):
    X, y = binary
    tree = CoresetTree(coreset_size=1000, chunk_size=8000, random_state=0).build(X, y)
    model = fit_logistic_full(tree, C=0.5, class_weight=class_weight)
    report = model.full_fit_
    assert report.converged and report.passes <= 4 and report.warm_start == "coreset"
    assert report.n_rows == X.shape[0] and model.n_iter_[0] == report.passes
    ref = reference(X, y, C=0.5, class_weight=class_weight)
    assert gap(model, ref, X, y, C=0.5, class_weight=class_weight) < 1e-6
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=2e-3, atol=1e-4)
    assert np.all(np.diff(report.objectives) <= 1e-9 * report.objectives[0])  # never up


@needs_data
def test_a9a_reaches_the_optimum():
    """a9a (one-hot blocks, standardised: a rare column's 9 rows take the value 60;
    Hessian condition ~1e4) is where Newton is slowest here: from the 10% coreset's optimum
    (about 3e-3 above the full one) Newton's own steps converge only linearly for several
    passes (``python -m benchmarks.bench_newton_tail``), along one coefficient of a column
    with 7 or 14 rows. Issue 14 asks for 1e-6 of the optimum in at most 4 passes. The trees of
    seeds 0-3, 11 and 21 (seed 0 is the slowest of 24; 11 and 21 stopped unconverged at 10
    passes while the damping was scaled by the Hessian's diagonal), with and without class
    weights: converged, never up, within 1e-6 of scikit-learn, in at most 4 passes each. Today
    3 each, with the rare columns' rows held exactly in the coreset-corrected candidate's
    model; 4-7 (5.0 on average) without them."""
    X, _, y, _ = train_test_standardized(load_dataset("a9a", data_home=SHARED))
    for class_weight in (None, "balanced"):
        ref = reference(X, y, C=1.0, class_weight=class_weight)
        for seed in (0, 1, 2, 3, 11, 21):
            tree = CoresetTree(coreset_size=len(y) // 10, random_state=seed).build(X, y)
            model = fit_logistic_full(tree, C=1.0, class_weight=class_weight)
            report = model.full_fit_
            assert report.converged and report.passes <= 4, (seed, report.steps)
            assert "coreset" in report.steps and report.exact_rows > 0
            assert np.all(np.diff(report.objectives) <= 1e-9 * report.objectives[0])  # never up
            assert gap(model, ref, X, y, C=1.0, class_weight=class_weight) < 1e-6


def rare_one_hot(n=40_000, seed=0):
    """4 normal columns and a one-hot block of 26 categories, standardised: 20 common ones and
    6 of 10 rows each, all labelled 1 (a9a's slow case: the rare columns' coefficients far out
    where the loss along them is exponential)."""
    rng = np.random.default_rng(seed)
    dense = rng.normal(size=(n, 4))
    categories = rng.choice(20, size=n)
    rare = rng.choice(n, size=60, replace=False)
    categories[rare] = 20 + np.arange(60) % 6
    one_hot = np.zeros((n, 26))
    one_hot[np.arange(n), categories] = 1.0
    logit = dense @ np.array([1.0, -0.5, 0.25, 0.0]) + 0.3 * (categories % 3) - 0.5
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    y[rare] = 1
    X = np.hstack([dense, one_hot])
    return ((X - X.mean(axis=0)) / X.std(axis=0)).astype(np.float32), y


def test_rare_rows_held_exactly_take_the_slow_coefficients_in_few_passes(monkeypatch):
    """Rare categories whose rows all have one label: from a 2,000-row coreset the refit
    takes 7-8 passes without the rare columns' exact rows (the coefficients crawl out along an
    exponential loss) and 2-3 with them (measured for seeds 0-3), to scikit-learn's optimum."""
    X, y = rare_one_hot()
    ref = reference(X, y, C=1.0)
    for seed in (0, 1):
        tree = CoresetTree(coreset_size=2000, chunk_size=10_000, random_state=seed).build(X, y)
        model = fit_logistic_full(tree, C=1.0)
        report = model.full_fit_
        assert report.converged and report.passes <= 3, report.steps
        assert 0 < report.exact_rows <= 2 * 2000
        assert gap(model, ref, X, y, C=1.0) < 1e-6
        monkeypatch.setattr(_full_fit, "USE_EXACT_ROWS", False)
        without = fit_logistic_full(tree, C=1.0).full_fit_
        monkeypatch.setattr(_full_fit, "USE_EXACT_ROWS", True)
        assert without.exact_rows == 0 and without.passes >= report.passes + 3


def test_rare_rows_come_from_a_mapped_file_too(tmp_path):
    """From an HDF5 file (contiguous rows: the reader maps them read-only) the first pass
    collects the rare rows as from arrays: the same refit."""
    import h5py

    X, y = rare_one_hot(20_000)
    path = tmp_path / "rare.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("X", data=X)
        handle.create_dataset("y", data=y)
    make = lambda: CoresetTree(coreset_size=1000, chunk_size=5000, random_state=0)
    from_file = fit_logistic_full(make().build_from_file(str(path)), C=1.0)
    from_arrays = fit_logistic_full(make().build(X, y), C=1.0)
    assert from_file.full_fit_.exact_rows == from_arrays.full_fit_.exact_rows > 0
    assert from_file.full_fit_.passes == from_arrays.full_fit_.passes <= 3
    np.testing.assert_allclose(from_file.coef_, from_arrays.coef_, rtol=1e-6, atol=1e-8)


def test_lazy_hessian_takes_the_same_steps_for_less_work():
    """The warm start's passes over a coreset in memory sum the Hessian after a pass of several
    candidates, and only where it took the first (elsewhere the sample's, as before): the same
    steps, passes and coefficients as summing it in every pass (here: pass 2 takes Newton's
    step from several, one sweep; the next passes evaluate Newton's step alone)."""
    X, y = rare_one_hot(20_000)
    weights = np.random.default_rng(2).uniform(0.5, 20.0, y.size)
    args = (X, y, weights, 1.0, None, True, None, 1e-8, 100, None, "auto", 2000, 0, None)
    eager = _full_fit._fit_full(*args)
    lazy = _full_fit._fit_full(*args, lazy_hessian=True)
    assert lazy.full_fit_.steps == eager.full_fit_.steps and lazy.full_fit_.converged
    assert lazy.full_fit_.passes == eager.full_fit_.passes
    assert eager.full_fit_.hessian_sweeps == 0 < lazy.full_fit_.hessian_sweeps
    np.testing.assert_allclose(lazy.coef_, eager.coef_, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_off_base_matches_numpy(dtype):
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 3, size=(500, 7)).astype(dtype)
    rows[rng.random(rows.shape) < 0.9] = 0.0
    rows[4, 2] = np.nan
    columns = np.array([1, 2, 5])
    base = np.array([0.0, 0.0, 1.0])
    out = np.empty(500, dtype=bool)
    rows_off_base(rows, columns, base, out)
    expected = (rows[:, columns] != base).any(axis=1)  # nan != anything
    np.testing.assert_array_equal(out, expected)
    assert out[4]
    rows_off_base(rows, columns[:0], base[:0], out)  # no columns: no row is off
    assert not out.any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_majority_values_match_numpy(dtype):
    """Each column's value on more than half the rows, where one is (NumPy: np.unique's
    counts); elsewhere a value of the column."""
    rng = np.random.default_rng(5)
    rows = rng.normal(size=(301, 6)).astype(dtype)
    rows[rng.random(301) < 0.6, 0] = 0.0
    rows[rng.random(301) < 0.9, 1] = 2.5
    rows[:151, 2] = -1.0  # 151 of 301: a majority of one
    rows[:150, 3] = -1.0  # 150: none
    rows[rng.permutation(301)[:200], 4] = 7.0
    out = np.full(6, np.nan)
    majority_values(rows, out)
    for j in range(6):
        values, counts = np.unique(rows[:, j], return_counts=True)
        if counts.max() * 2 > rows.shape[0]:
            assert out[j] == values[np.argmax(counts)], j
        else:
            assert out[j] in rows[:, j], j
    assert out[2] == -1.0 and out[4] == 7.0


def test_rare_columns_take_the_rarest_columns_the_budget_allows():
    """A column's base is its value on most coreset rows; the rows off base it expects over
    all rows are the weights of its coreset rows off base; the rarest come first, while they
    add up to at most the budget; a continuous column is never rare."""
    rng = np.random.default_rng(0)
    X = np.zeros((100, 5), dtype=np.float32)
    X[:, 0] = rng.normal(size=100)  # continuous: every row off any base
    X[:, 1] = 2.0
    X[:3, 1] = 7.0  # 3 rows off base 2
    X[:10, 2] = 1.0  # 10 rows off base 0
    X[:40, 3] = 1.0  # 40
    # column 4: constant 0, nothing off base
    weights = np.full(100, 2.0)
    rare = rare_columns(X, weights, budget=30)
    np.testing.assert_array_equal(rare.columns, [1, 2, 4])  # 0 + 6 + 20 <= 30; then 80
    np.testing.assert_array_equal(rare.base, [2.0, 0.0, 0.0])
    assert rare.expected == 26.0 and rare.limit == _full_fit_surrogate.OVERFLOW * 30
    assert rare_columns(X, weights, budget=200).columns.tolist() == [1, 2, 3, 4]
    assert rare_columns(X[:, [0]], weights, budget=100) is None
    assert rare_columns(X[:0], weights[:0], budget=100) is None


def test_exact_rows_replace_the_coreset_rows_off_base():
    """The pass's chunks go through unchanged; the rows off base in the rare columns are
    collected with their class codes and weights (1 where a chunk has none) and, in the
    surrogate, take the place of the coreset's rows off base; too many, and it keeps its own."""
    layout = Layout(2, 3, True, np.ones(2))
    coreset = np.array([[0, 5, 1], [1, 5, 2], [0, 5, 3], [0, 6, 4]], dtype=np.float32)
    surrogate = CoresetSurrogate(coreset, np.array([0, 1, 0, 1]), np.array([3.0, 3, 3, 3]),
                                 layout)  # fmt: skip
    rare = rare_columns(coreset, surrogate.chunk[2], budget=8)
    np.testing.assert_array_equal(rare.columns, [0, 1])
    chunks = [
        (np.array([[0, 5, 9], [2, 5, 9], [0, 5, 9]], np.float32), np.array([0, 1, 1]), None),
        (np.array([[0, 8, 9], [0, 5, 9]], np.float32), np.array([1, 0]), np.array([0.5, 2.0])),
    ]
    collector = ExactRows(rare)
    seen = list(collector.watch(iter(chunks)))
    assert all(a is b for pair in zip(seen, chunks) for a, b in zip(*pair))
    X, codes, weights = collector.rows()
    np.testing.assert_array_equal(X, [[2, 5, 9], [0, 8, 9]])
    np.testing.assert_array_equal(codes, [1, 1])
    np.testing.assert_array_equal(weights, [1.0, 0.5])
    exact = surrogate.with_exact_rows(collector)
    assert exact.exact_rows == 2 and exact.chunk[0].dtype == np.float32
    np.testing.assert_array_equal(exact.chunk[0], [[0, 5, 1], [0, 5, 3], [2, 5, 9], [0, 8, 9]])
    np.testing.assert_array_equal(exact.chunk[1], [0, 0, 1, 1])
    np.testing.assert_array_equal(exact.chunk[2], [3.0, 3.0, 1.0, 0.5])
    small = ExactRows(_full_fit_surrogate.RareColumns(rare.columns, rare.base, 1.0, 1))
    list(small.watch(iter(chunks)))
    assert small.rows() is None and surrogate.with_exact_rows(small) is surrogate
    assert ExactRows(rare).rows() is None  # nothing read
    none = ExactRows(rare)  # all rows at base: the coreset's rows off base are gone (an edit)
    list(none.watch(iter([(np.array([[0, 5, 9]], np.float32), np.array([0]), None)])))
    emptied = surrogate.with_exact_rows(none)
    assert emptied.exact_rows == 0
    np.testing.assert_array_equal(emptied.chunk[0], [[0, 5, 1], [0, 5, 3]])


def test_a_poor_coreset_candidate_is_never_taken(binary, monkeypatch):
    """The coreset-corrected candidate is evaluated on all rows like the others: one that
    raises the objective is not taken and, where it comes beside Newton's step, costs no
    pass (the same steps as without it). Where it came alone (after it was taken) and
    failed, the next pass offers Newton's step and the dampings again."""
    X, y = binary
    tree = CoresetTree(coreset_size=2000, chunk_size=10_000, random_state=0).build(X, y)
    start = np.zeros((1, 7))
    monkeypatch.setattr(_full_fit, "USE_CORESET_CANDIDATE", False)
    plain = fit_logistic_full(tree, C=0.5, max_passes=30, warm_start=start).full_fit_
    monkeypatch.setattr(_full_fit, "USE_CORESET_CANDIDATE", True)
    real = CoresetSurrogate.minimiser
    calls = []

    def poor_after(good_calls):
        def minimiser(self, theta, *args):
            calls.append(1)
            return real(self, theta, *args) if len(calls) <= good_calls else theta + 3.0

        return minimiser

    monkeypatch.setattr(CoresetSurrogate, "minimiser", poor_after(0))
    report = fit_logistic_full(tree, C=0.5, max_passes=30, warm_start=start).full_fit_
    assert report.steps == plain.steps and report.passes == plain.passes, report.steps
    calls.clear()
    monkeypatch.setattr(CoresetSurrogate, "minimiser", poor_after(1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = fit_logistic_full(tree, C=0.5, max_passes=30, warm_start=start)
    report = model.full_fit_
    assert report.steps[:3] == ["start", "coreset", "none"], report.steps
    assert report.steps[3] in ("newton", "damped")  # Newton's step and dampings offered
    assert report.converged and report.steps.count("coreset") == 1
    assert np.all(np.diff(report.objectives) <= 1e-9 * report.objectives[0])  # never up
    assert gap(model, reference(X, y, C=0.5), X, y, C=0.5) < 1e-6


def test_a_refit_whose_corrected_candidates_turn_poor_still_stops_at_tol(monkeypatch):
    """After one good coreset-corrected candidate, poor ones (a review's case): the passes
    take Newton's and damped steps, whose Hessian comes from the pass's sample. When that
    Hessian came from the corrected model instead (its correction carried on from the point
    held), the refit stopped as converged 1.2e-6 above the optimum (tol 1e-7) on one tree and
    did not converge in 15 passes on the other; with the correction made fresh only from an
    exact Hessian, 5.5e-7 above it on one. Now: converged within 2e-7 on both."""
    X, y = rare_one_hot()
    X64 = X.astype(np.float64)  # the gap in float64 (float32 scores round at ~1e-7)
    ref = reference(X64, y, C=1.0)
    monkeypatch.setattr(_full_fit, "USE_EXACT_ROWS", False)
    real = CoresetSurrogate.minimiser
    for seed in (0, 1):
        calls = []

        def good_once(self, theta, *args, calls=calls):
            calls.append(1)
            return real(self, theta, *args) if len(calls) <= 1 else theta + 0.3

        monkeypatch.setattr(CoresetSurrogate, "minimiser", good_once)
        tree = CoresetTree(coreset_size=2000, chunk_size=10_000, random_state=seed).build(X, y)
        model = fit_logistic_full(tree, C=1.0, max_passes=15)
        assert model.full_fit_.converged, model.full_fit_.steps
        assert gap(model, ref, X64, y, C=1.0) < 2e-7, seed


@pytest.mark.parametrize("hessian", ["auto", "exact"])
def test_multinomial_tree_matches_sklearn(multiclass, hessian):
    X, y = multiclass
    tree = CoresetTree(coreset_size=2000, chunk_size=10_000, random_state=0).build(X, y)
    model = fit_logistic_full(tree, C=2.0, class_weight="balanced", hessian=hessian)
    report = model.full_fit_
    assert report.hessian == ("sampled" if hessian == "auto" else "exact")
    assert report.converged and report.passes <= 5
    ref = reference(X, y, C=2.0, class_weight="balanced")
    assert gap(model, ref, X, y, C=2.0, class_weight="balanced") < 1e-6
    assert model.coef_.shape == (4, 8) and model.intercept_.shape == (4,)
    assert abs(model.intercept_.sum()) < 1e-9  # scikit-learn's symmetric form


def test_float32_rows_and_chunk_size_do_not_change_the_result(binary):
    X, y = binary
    X32 = X.astype(np.float32)
    tree = CoresetTree(coreset_size=1000, chunk_size=9000, random_state=0).build(X32, y)
    small = fit_logistic_full(tree, C=1.0, chunk_size=3000)
    large = fit_logistic_full(tree, C=1.0, chunk_size=40_000)
    assert small.full_fit_.passes == large.full_fit_.passes
    np.testing.assert_allclose(small.coef_, large.coef_, rtol=1e-8, atol=1e-10)
    X64 = X32.astype(np.float64)  # the optimum of the stored float32 values
    assert gap(large, reference(X64, y), X64, y, C=1.0) < 1e-6


def test_arrays_with_sample_weight_and_no_intercept(binary):
    X, y = binary
    weights = np.random.default_rng(1).uniform(0.2, 3.0, size=y.size)
    model = fit_logistic_full(X, y, sample_weight=weights, C=0.1, fit_intercept=False)
    assert model.full_fit_.warm_start == "zeros" and model.full_fit_.converged
    assert np.all(model.intercept_ == 0)
    ref = reference(X, y, C=0.1, sample_weight=weights, fit_intercept=False)
    assert gap(model, ref, X, y, C=0.1, sample_weight=weights) < 1e-6


def test_no_penalty_multinomial_is_centred(multiclass):
    X, y = multiclass
    model = fit_logistic_full(X, y, C=np.inf)
    ref = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-12, max_iter=300)
    ref.fit(X, y)
    assert gap(model, ref, X, y, C=np.inf) < 1e-6
    np.testing.assert_allclose(model.coef_.sum(axis=0), 0.0, atol=1e-9)


def test_divergence_prone_start_is_survived(binary):
    """A start far out (all rows saturated, Newton steps huge): only decreasing steps are
    taken, and it still reaches the optimum."""
    X, y = binary
    ref = reference(X, y, C=1.0)
    start = np.hstack([ref.coef_ * -40.0, [[25.0]]])
    model = fit_logistic_full(X, y, C=1.0, warm_start=start, max_passes=40)
    objectives = np.array(model.full_fit_.objectives)
    assert np.all(np.diff(objectives) <= 0)
    assert objectives[0] > 50 * objectives[-1]
    assert model.full_fit_.converged and gap(model, ref, X, y, C=1.0) < 1e-6


def test_callable_source_counts_labels_once(multiclass):
    X, y = multiclass
    labels = np.array(["a", "b", "c", "d"])[y]

    def chunks():
        for start in range(0, len(y), 7000):
            yield X[start : start + 7000], labels[start : start + 7000]

    model = fit_logistic_full(chunks, C=1.0, class_weight="balanced")
    report = model.full_fit_
    assert report.label_pass and report.passes >= 2 and list(model.classes_) == list("abcd")
    ref = reference(X, labels, C=1.0, class_weight="balanced")
    assert gap(model, ref, X, labels, C=1.0, class_weight="balanced") < 1e-6


def test_warm_start_model_and_convergence_warning(binary):
    X, y = binary
    ref = reference(X, y, C=1.0)
    model = fit_logistic_full(X, y, warm_start=ref)
    assert model.full_fit_.passes == 1 and model.full_fit_.warm_start == "given"
    with pytest.warns(ConvergenceWarning, match="max_passes=1"):
        fit_logistic_full(X, y, max_passes=1)


def test_errors(binary):
    X, y = binary
    with pytest.raises(ValueError, match="'C' parameter of fit_logistic_full"):
        fit_logistic_full(X, y, C=0)
    with pytest.raises(ValueError, match="'hessian' parameter"):
        fit_logistic_full(X, y, hessian="full")
    with pytest.raises(ValueError, match="needs y"):
        fit_logistic_full(X)
    with pytest.raises(ValueError, match="at least 2 classes"):
        fit_logistic_full(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="classes"):
        fit_logistic_full(X, y, warm_start=reference(X[:500], y[:500] * 2))
    with pytest.raises(ValueError, match="tuples"):
        fit_logistic_full(lambda: iter([X]))
    tree = CoresetTree(coreset_size=500, chunk_size=5000, random_state=0).build(X.copy(), y)
    with pytest.raises(RuntimeError, match="no longer exist"):  # the arrays were dropped
        fit_logistic_full(tree)
    with pytest.raises(ValueError, match="only with an array"):
        fit_logistic_full(tree, y)


# ----------------------------------------------------------------- kernels and Hessians
def test_kernels_match_numpy():
    rng = np.random.default_rng(3)
    values = rng.normal(scale=20, size=(300, 3))
    codes = rng.integers(0, 2, 300)
    weights = rng.uniform(0.5, 2, 300)
    losses, sums = np.zeros(3), np.zeros(3)
    residuals, curvature, spread = np.empty((3, 300)), np.empty(300), np.empty(300)
    binary_rows(values.T.copy(), codes, weights, losses, residuals, sums, curvature, spread)
    residuals = residuals.T
    p = 1 / (1 + np.exp(-values))
    margin = np.where(codes[:, None] == 1, -values, values)
    np.testing.assert_allclose(losses, weights @ np.logaddexp(0, margin), rtol=1e-10)
    np.testing.assert_allclose(residuals, weights[:, None] * (p - codes[:, None]), atol=1e-12)
    np.testing.assert_allclose(sums, residuals.sum(axis=0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(curvature, weights * p[:, 0] * (1 - p[:, 0]), atol=1e-12)

    K = 4
    values = rng.normal(scale=10, size=(200, 2 * K))
    codes = rng.integers(0, K, 200)
    losses, sums = np.zeros(2), np.zeros(2 * K)
    residuals, first, spread = np.empty((2 * K, 200)), np.empty((K, 200)), np.empty(200)
    multinomial_rows(values.T.copy(), codes, weights[:200], K, losses, residuals, sums, first,
                     spread)  # fmt: skip
    residuals, first = residuals.T, first.T
    for j in range(2):
        eta = values[:, j * K : (j + 1) * K]
        prob = np.exp(eta - np.logaddexp.reduce(eta, axis=1)[:, None])
        loss = np.logaddexp.reduce(eta, axis=1) - eta[np.arange(200), codes]
        np.testing.assert_allclose(losses[j], weights[:200] @ loss, rtol=1e-10)
        target = np.eye(K)[codes]
        expected = weights[:200, None] * (prob - target)
        np.testing.assert_allclose(residuals[:, j * K : (j + 1) * K], expected, atol=1e-12)
        if j == 0:
            np.testing.assert_allclose(first, prob, atol=1e-12)


def test_binary_hessian_centres_before_its_float32_gram():
    """centred_rows_float32 against NumPy; the Hessian equals the float64 one to float32
    rounding of the centred spread, also for columns far from 0; nan and huge values take the
    float64 Gram."""
    rng = np.random.default_rng(4)
    rows = rng.normal(size=(500, 5)) * np.array([1, 10, 0.1, 1, 1e-3]) + np.array(
        [0, 1e4, 0, 50, 0])  # fmt: skip
    curvature = rng.uniform(0, 0.25, 500)
    root = np.sqrt(curvature)
    mean = rows.T @ curvature / curvature.sum()
    narrow = np.empty(rows.shape, dtype=np.float32)
    largest = centred_rows_float32(rows, mean, root, narrow)
    expected_rows = (rows - mean) * root[:, None]
    np.testing.assert_array_equal(narrow, expected_rows.astype(np.float32))
    assert largest == pytest.approx(np.abs(expected_rows).max(), rel=1e-12)
    Z = np.hstack([rows, np.ones((500, 1))])
    expected = (Z * curvature[:, None]).T @ Z
    got = binary_hessian(rows, curvature, True)
    centred = (rows - mean).T @ ((rows - mean) * curvature[:, None])  # what float32 must keep
    np.testing.assert_allclose(got[:5, :5] - (expected[:5, :5] - centred), centred,
                               rtol=1e-5, atol=1e-6 * np.abs(centred).max())  # fmt: skip
    np.testing.assert_allclose(got[:, -1], expected[:, -1], rtol=1e-12)
    for bad in (1e16, np.nan):
        odd = rows.copy()
        odd[7, 2] = bad
        assert centred_rows_float32(odd, mean, root, narrow) > 1e15
        if bad == 1e16:
            exact = np.hstack([odd, np.ones((500, 1))])
            np.testing.assert_allclose(binary_hessian(odd, curvature, True),
                                       (exact * curvature[:, None]).T @ exact, rtol=1e-12)  # fmt: skip


def test_columns_far_from_zero_converge():
    """Uncentred float32 Gram products lost these columns' curvature to cancellation and
    Newton stalled (10 passes without converging at offsets 1e3 and 1e4)."""
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(60_000, 4))
    y = (Z[:, 0] - 0.5 * Z[:, 1] + 0.3 * Z[:, 2] + rng.logistic(size=60_000) > 0).astype(int)
    for offset in (1e3, 1e4):
        X = np.column_stack([offset + Z[:, 0], 50 + 0.1 * Z[:, 1], Z[:, 2], 10 * offset + Z[:, 3]])
        model = fit_logistic_full(X, y, C=1.0, max_passes=6)
        assert model.full_fit_.converged and model.full_fit_.passes <= 5
        assert gap(model, reference(X, y, C=1.0), X, y, C=1.0) < 1e-6


def test_multinomial_hessian_matches_kronecker_sum():
    rng = np.random.default_rng(4)
    rows = rng.normal(size=(50, 3))
    w = rng.uniform(0.5, 2, 50)
    prob = rng.dirichlet(np.ones(3), size=50)
    expected = sum(
        w[i] * np.kron(np.diag(prob[i]) - np.outer(prob[i], prob[i]),
                       np.outer(np.r_[rows[i], 1], np.r_[rows[i], 1]))
        for i in range(50)
    )  # fmt: skip
    np.testing.assert_allclose(multinomial_hessian(rows, w, prob, True), expected, atol=1e-10)


def test_exact_pass_hessian_and_sampled_estimate(multiclass):
    X, y = multiclass
    layout = Layout(4, X.shape[1], True, np.ones(4))
    theta = np.random.default_rng(5).normal(scale=0.1, size=(1, 4, X.shape[1] + 1))
    chunks = [(X[s : s + 6000], y[s : s + 6000], None) for s in range(0, len(y), 6000)]
    exact = run_pass(chunks, layout, PassPlan(theta, True, 3000, 7))
    prob = np.exp(X @ theta[0, :, :-1].T + theta[0, :, -1])
    prob /= prob.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(exact.hessian, multinomial_hessian(X, np.ones(len(y)), prob, True),
                               rtol=1e-9, atol=1e-6)  # fmt: skip
    estimate = sample_hessian(exact.sample, theta[0], layout)
    error = np.linalg.norm(estimate - exact.hessian) / np.linalg.norm(exact.hessian)
    assert len(exact.sample.codes) == 3000 and error < 0.1
    everything = HessianSample(X, y, np.ones(len(y)))  # all rows: the estimate is exact
    np.testing.assert_allclose(sample_hessian(everything, theta[0], layout), exact.hessian,
                               rtol=1e-9, atol=1e-6)  # fmt: skip


def test_rows_at_huge_margins_keep_their_column_live():
    """A warm start that puts a rare column's rows at margins past 37, where p rounds to 1:
    their curvature once came out exactly 0, the column dropped out of the Newton system
    (no curvature, no penalty with C = inf) and the refit reported convergence with its
    coefficient still at the start's 45."""
    rng = np.random.default_rng(8)
    X = np.zeros((20_000, 4))
    X[:, :3] = rng.normal(size=(20_000, 3))
    y = (X[:, :3] @ np.array([1.0, -1.0, 0.5]) + rng.logistic(size=20_000) > 0).astype(int)
    rare = np.arange(0, 20_000, 2000)  # 10 rows, half of each class
    X[rare, 3] = 1.0
    y[rare] = np.arange(10) % 2
    start = np.array([[1.0, -1.0, 0.5, 45.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = fit_logistic_full(X, y, C=np.inf, warm_start=start, max_passes=30)
    ref = reference(X, y, C=np.inf)
    assert model.full_fit_.converged
    assert abs(model.coef_[0, 3] - ref.coef_[0, 3]) < 1e-3, (model.coef_, ref.coef_)
    assert gap(model, ref, X, y, C=np.inf) < 1e-6


def test_sampled_binary_hessian_keeps_curvature_at_huge_margins():
    """The Hessian from a sample (used at any candidate but the first) gave rows at margins
    past 37 a curvature of exactly 0 (p (1 - p) with p rounded to 1), as the pass kernel once
    did: it must match exp(-|eta|) / (1 + exp(-|eta|))^2, the kernel's form, to rounding."""
    rng = np.random.default_rng(12)
    rows = rng.normal(size=(40, 3))
    rows[:, 2] = 1.0 + rng.uniform(size=40)  # margins of about 45-90
    theta = np.array([[0.1, -0.2, 45.0, 0.0]])
    weights = rng.uniform(0.5, 2.0, 40)
    layout = Layout(2, 3, True, np.ones(2))
    got = sample_hessian(HessianSample(rows, np.zeros(40, dtype=np.int64), weights), theta,
                         layout)  # fmt: skip
    eta = rows @ theta[0, :3] + theta[0, 3]
    share = np.exp(-np.abs(eta)) / (1.0 + np.exp(-np.abs(eta))) ** 2
    ones = np.hstack([rows, np.ones((40, 1))])
    expected = (ones * (weights * share)[:, None]).T @ ones
    assert expected[2, 2] > 0
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0)


def test_rows_of_zero_total_weight_are_refused():
    X = np.random.default_rng(9).normal(size=(100, 2))
    y = np.arange(100) % 2
    with pytest.raises(ValueError, match="positive total weight"):
        fit_logistic_full(X, y, sample_weight=np.zeros(100))


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_pass_sums_column_squares_once_asked(binary, fit_intercept):
    """A pass asked to (the first of a two-class refit) also sums w_i x_ij^2, the scale of
    the refit's dampings, exactly; a pass not asked returns None."""
    X, y = binary
    X32 = X.astype(np.float32)
    weights = np.random.default_rng(6).uniform(0.5, 2.0, len(y))
    factors = np.array([2.0, 0.5])
    layout = Layout(2, X.shape[1], fit_intercept, factors)
    theta = np.zeros((2, 1, layout.width))
    chunks = [(X32[s : s + 7000], y[s : s + 7000], weights[s : s + 7000])
              for s in range(0, len(y), 7000)]  # fmt: skip
    asked = run_pass(chunks, layout, PassPlan(theta, True, 0, 1, column_squares=True))
    w = weights * factors[y]
    expected = w @ np.square(X32.astype(np.float64))
    if fit_intercept:
        expected = np.r_[expected, w.sum()]
    np.testing.assert_allclose(asked.column_squares, expected, rtol=1e-12)
    assert run_pass(chunks, layout, PassPlan(theta, True, 0, 1)).column_squares is None


def test_tree_with_string_labels_gives_a_model_of_the_label_values():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(20_000, 3))
    names = np.array(["cat", "dog", "emu"])
    y = names[np.argmax(X @ rng.normal(size=(3, 3)) + rng.gumbel(size=(20_000, 3)), axis=1)]
    tree = CoresetTree(coreset_size=1500, chunk_size=5000, random_state=0).build(X, y)
    model = fit_logistic_full(tree, C=1.0)
    assert model.full_fit_.warm_start == "coreset" and model.full_fit_.converged
    np.testing.assert_array_equal(model.classes_, names)
    reference = LogisticRegression(C=1.0, tol=1e-10, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-3, atol=1e-4)


def test_a_column_of_zeros_without_penalty_gets_no_coefficient():
    """C = inf: nothing curves or penalises such a coefficient; its step stays exactly 0 (the
    per-coefficient damping's scaling once blew rounding noise up to a coefficient of -1530)."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20_000, 6))
    X[:, 3] = 0.0
    y = (X[:, 0] - 0.5 * X[:, 1] + rng.logistic(size=20_000) > 0).astype(int)
    for fit_intercept in (True, False):
        model = fit_logistic_full(X, y, C=np.inf, fit_intercept=fit_intercept)
        assert model.full_fit_.converged and model.coef_[0, 3] == 0.0
    ref = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-12).fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.coef_, atol=2e-3)


def test_digit_string_labels_and_class_weight_dicts():
    """Labels "0" / "1": scikit-learn's compute_class_weight looks a dict up by int("0"); the
    refit looks the label itself up first, so the tree's warm start and a user's dict work."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(30_000, 4))
    y = np.where(X[:, 0] + rng.logistic(size=30_000) > 0.5, "1", "0")
    tree = CoresetTree(coreset_size=1500, chunk_size=10_000, random_state=0).build(X, y)
    for class_weight in (None, "balanced", {"0": 2.0, "1": 0.5}):
        model = fit_logistic_full(tree, C=1.0, class_weight=class_weight)
        assert model.full_fit_.warm_start == "coreset" and model.full_fit_.converged
        assert list(model.classes_) == ["0", "1"] and model.full_fit_.passes <= 4
    codes = (y == "1").astype(int)
    ref = reference(X, codes, C=1.0, class_weight={0: 2.0, 1: 0.5})
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-3, atol=1e-4)
    with pytest.raises(ValueError, match=r"names labels that are not classes of the rows: \['2'\]"):
        fit_logistic_full(tree, class_weight={"0": 1.0, "2": 3.0})


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_coreset_surrogate_on_all_rows_is_newtons_exact_solve(binary, fit_intercept):
    """With the "coreset" being all rows themselves, the corrections vanish and the corrected
    model is the full objective: its minimiser, from any point, is the full optimum
    (scikit-learn's, here), in one call. Class factors multiply the rows' weights."""
    X, y = binary
    X, y = X[:5000], y[:5000]
    weights = np.random.default_rng(13).uniform(0.5, 2.0, len(y))
    factors = np.array([1.5, 0.5])
    layout = Layout(2, X.shape[1], fit_intercept, factors)
    surrogate = CoresetSurrogate(X.astype(np.float32), y, weights, layout)
    total = float((weights * factors[y]).sum())
    C = 0.5
    lam = 1.0 / (C * total)
    penalized = np.ones((1, layout.width))
    if fit_intercept:
        penalized[0, -1] = 0.0
    theta = np.zeros((1, layout.width))
    theta[0, 0] = 0.3  # anywhere
    sums = run_pass([(X.astype(np.float32), y, weights)], layout, PassPlan(theta[None], True, 0, 1))
    gradient = sums.gradients[0] / total + lam * theta * penalized
    live = np.ones(layout.width, dtype=bool)
    found = surrogate.minimiser(theta, gradient, sums.hessian / total, lam, penalized, live, total,
                                0.0)
    ref = reference(X.astype(np.float32), y, C=C, sample_weight=weights * factors[y],
                    fit_intercept=fit_intercept)  # fmt: skip
    np.testing.assert_allclose(found[0, : X.shape[1]], ref.coef_[0], rtol=1e-5, atol=1e-7)
    if fit_intercept:
        assert found[0, -1] == pytest.approx(ref.intercept_[0], rel=1e-5, abs=1e-7)
