"""Every kernel against its NumPy reference in tests/naive.py, on random inputs."""

import naive
import numpy as np
import pytest

from coreset_engine import _kernels
from coreset_engine._cpu import scan_rows, sensitivity_scores
from coreset_engine._linalg import gram_with_intercept, leverage_projection, projected_row_norms


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 17, 100_000])
def test_scan_rows_matches_reference(dtype, n):
    rng = np.random.default_rng(n)
    X = (rng.standard_cauchy(size=(n, 7)) * 100).astype(dtype)
    labels = rng.integers(0, 3, size=n)
    scan = scan_rows(X, labels, hashes=True)
    ref_first, ref_max = naive.scan_finite_and_max(X)
    assert scan.first_bad == ref_first == -1
    np.testing.assert_allclose(scan.col_max, ref_max, rtol=1e-7)
    np.testing.assert_allclose(scan.col_sum, X.astype(np.float64).sum(axis=0), rtol=1e-9)
    assert scan.hashes.shape == (n,) and scan.hashes.dtype == np.uint64
    # equal rows and labels hash equal, whichever thread's range they fall in
    assert (
        scan_rows(X[::-1], labels[::-1], hashes=True).hashes[::-1].tolist() == scan.hashes.tolist()
    )
    assert scan_rows(X, labels).hashes is None


def test_row_hashes_separate_labels_and_bits():
    X = np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [-0.0, 2.0], [0.0, 2.0]])
    hashes = scan_rows(X, np.array([0, 0, 1, 0, 0]), hashes=True).hashes
    assert hashes[0] == hashes[1] and len(set(hashes[1:].tolist())) == 4


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_scan_finds_first_bad_row_across_blocks(bad, threads, monkeypatch):
    monkeypatch.setenv("CORESET_ENGINE_THREADS", threads)
    X = np.ones((200_000, 3))
    X[140_000, 0] = bad  # a later block
    X[73_333, 2] = bad
    X[95_000, 0] = bad
    assert scan_rows(X).first_bad == naive.scan_finite_and_max(X)[0] == 73_333
    X[30_000, 1] = bad  # the first block
    assert scan_rows(X).first_bad == 30_000


def test_thread_setting_is_validated(monkeypatch):
    monkeypatch.setenv("CORESET_ENGINE_THREADS", "zero")
    with pytest.raises(ValueError, match="CORESET_ENGINE_THREADS must be a positive integer"):
        scan_rows(np.ones((5, 2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_fused_sensitivity_scores_match_reference(dtype, n_classes):
    from coreset_engine._pilot import fit_pilot

    rng = np.random.default_rng(n_classes)
    n = 70_000
    labels = rng.integers(0, n_classes, size=n)
    X = (rng.normal(size=(n, 6)) + labels[:, None] * 0.5).astype(dtype)
    weights = rng.random(n) + 0.5
    gram = gram_with_intercept(X, np.abs(X.astype(np.float64)).max(axis=0))
    projection = leverage_projection(gram)
    seen = labels < n_classes - 1 if n_classes > 2 else np.ones(n, bool)  # pilot misses a class
    pilot = fit_pilot(X[seen][:3000], labels[seen][:3000], np.ones(3000))
    got = sensitivity_scores(X, projection, 1 / n, weights, labels, pilot, 0.1, n_classes)
    expected = naive.sensitivity_scores(X, weights, labels, pilot, 0.1)
    np.testing.assert_allclose(got, expected, rtol=2e-3)  # float32 GEMM by default
    exact = sensitivity_scores(X, projection, 1 / n, weights, labels, pilot, 0.1, n_classes,
                               compute_dtype=dtype)  # fmt: skip
    np.testing.assert_allclose(exact, expected, rtol=2e-3 if dtype == np.float32 else 1e-7)
    plain = sensitivity_scores(X, projection, 1 / n)
    np.testing.assert_allclose(plain, naive.root_leverage_scores(X) + 1 / n, rtol=2e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_classes", [2, 3, 7])
def test_pilot_factor_alone_matches_reference(dtype, n_classes):
    """The pilot's factor pass alone: one logit (BLAS gemv), 3 (a plain GEMM) and 7 (the GEMM
    operand padded to 8 columns), with the per-class sums of the same pass."""
    from coreset_engine._calibration import class_gradient_sums
    from coreset_engine._pilot import fit_pilot
    from coreset_engine.methods import get_method

    rng = np.random.default_rng(40 + n_classes)
    n = 20_000
    labels = rng.integers(0, n_classes, size=n)
    X = (rng.normal(size=(n, 11)) + labels[:, None] * 0.3).astype(dtype)
    pilot = fit_pilot(X[:3000], labels[:3000], np.ones(3000))
    method = get_method("sensitivity")
    weights = rng.random(n) + 0.5
    factor, sums = method.pilot_factor(X, labels, pilot, n_classes, class_sums_of=weights)
    expected = 0.1 + naive.pilot_miss(X, labels, pilot)
    np.testing.assert_allclose(factor, expected, rtol=1e-4, atol=1e-6)  # a float32 GEMM
    np.testing.assert_array_equal(
        sums, class_gradient_sums(X, labels, weights, method.pilot_miss(factor), n_classes)
    )
    alone = method.pilot_factor(X, labels, pilot, n_classes)
    np.testing.assert_array_equal(alone, factor)


def test_float64_rows_score_as_their_float32_rounding():
    """Float64 input is scored in float32 (issue 14): the scores are those of the float32
    rounding of the rows, to float32 precision, and differ from the float64 GEMM's only by it."""
    from coreset_engine._pilot import fit_pilot

    rng = np.random.default_rng(7)
    n = 30_000
    labels = rng.integers(0, 3, size=n)
    X = rng.standard_t(3, size=(n, 9)) * np.exp(rng.normal(size=9)) + labels[:, None]
    projection = leverage_projection(gram_with_intercept(X, np.abs(X).max(axis=0)))
    pilot = fit_pilot(X[:3000], labels[:3000], np.ones(3000))
    args = (projection, 1 / n, None, labels, pilot, 0.1, 3)
    from_64 = sensitivity_scores(X, *args)
    from_32 = sensitivity_scores(X.astype(np.float32), *args)
    exact = sensitivity_scores(X, *args, compute_dtype=np.float64)
    np.testing.assert_allclose(from_64, from_32, rtol=1e-6)
    np.testing.assert_allclose(from_64, exact, rtol=1e-3)
    assert not np.array_equal(from_64, exact)  # the float32 path did run


def test_rows_beyond_float32_range_are_scored_in_float64():
    X = np.random.default_rng(3).normal(size=(5_000, 4))
    X[1234, 2] = 1e39  # finite in float64, infinite in float32
    projection = leverage_projection(gram_with_intercept(X, np.abs(X).max(axis=0)))
    got = sensitivity_scores(X, projection, 1e-3)
    assert np.isfinite(got).all()
    np.testing.assert_array_equal(got, sensitivity_scores(X, projection, 1e-3,
                                                          compute_dtype=np.float64))  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_projected_row_norms_are_root_leverage_scores(dtype):
    rng = np.random.default_rng(1)
    X = (rng.normal(size=(3000, 6)) * [1, 10, 0.1, 5, 1, 1] + 3).astype(dtype)
    X[:10] *= 50  # a few high-leverage rows
    projection = leverage_projection(gram_with_intercept(X, np.abs(X).max(axis=0)))
    got = projected_row_norms(X, projection)
    tolerance = 1e-3 if dtype == np.float32 else 1e-7
    np.testing.assert_allclose(got, naive.root_leverage_scores(X), rtol=tolerance)


def test_leverage_handles_constant_and_duplicate_columns():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(500, 3))
    X = np.hstack([X, X[:, :1], np.full((500, 1), 7.0), np.zeros((500, 1))])
    projection = leverage_projection(gram_with_intercept(X, np.abs(X).max(axis=0)))
    got = projected_row_norms(X, projection)
    np.testing.assert_allclose(got, naive.root_leverage_scores(X), rtol=1e-4)


def test_gram_survives_huge_float32_values():
    X = np.ones((1000, 3), dtype=np.float32)
    X[:, 1] = np.linspace(-1e30, 1e30, 1000, dtype=np.float32)
    gram = gram_with_intercept(X, np.abs(X.astype(np.float64)).max(axis=0))
    assert np.isfinite(gram).all()
    reference = np.hstack([X, np.ones((1000, 1))]).astype(np.float64)
    np.testing.assert_allclose(gram, reference.T @ reference, rtol=1e-6)
    norms = projected_row_norms(X, leverage_projection(gram))
    assert np.isfinite(norms).all()


def _one_hot_float32_rows(n=40_000, seed=0):
    """float32 rows with a one-hot block (exactly dependent with the intercept) beside
    continuous columns far from zero: float32 products break that null direction."""
    rng = np.random.default_rng(seed)
    onehot = np.eye(6)[rng.choice(6, size=n, p=[0.5, 0.2, 0.15, 0.1, 0.04, 0.01])]
    z = rng.normal(size=n)
    continuous = np.column_stack([z * 3 + 40, z * 3 + 40 + rng.normal(scale=0.05, size=n),
                                  rng.lognormal(size=n) * 100])  # fmt: skip
    return np.hstack([continuous, onehot]).astype(np.float32)


def test_float32_gram_falls_back_to_float64_products_where_rounding_breaks_a_null_direction():
    from coreset_engine._linalg import _block_gram, factorizes

    X = _one_hot_float32_rows()
    col_max = np.abs(X).max(axis=0).astype(np.float64)
    gram = gram_with_intercept(X, col_max)
    float32_only = gram.copy()
    float32_only[:-1, :-1] = _block_gram(X, np.float32)
    assert not factorizes(float32_only)  # the float32 products alone need a large jitter
    assert factorizes(gram)
    # the same float64 products the float64 path takes, bit for bit
    np.testing.assert_array_equal(gram, gram_with_intercept(X.astype(np.float64), col_max))
    reference = naive.root_leverage_scores(X.astype(np.float64))
    got = projected_row_norms(X, leverage_projection(gram))
    np.testing.assert_allclose(got, reference, rtol=1e-3)  # float32 scoring's rounding
    damped = projected_row_norms(X, leverage_projection(float32_only))
    assert np.abs(damped / reference - 1).max() > 1e-2  # what the float32 products gave
    # rows without exact dependencies keep the float32 products
    rng = np.random.default_rng(1)
    Y = rng.normal(size=(40_000, 9)).astype(np.float32)
    fast = gram_with_intercept(Y, np.abs(Y).max(axis=0).astype(np.float64))
    exact = gram_with_intercept(Y.astype(np.float64), np.abs(Y).max(axis=0).astype(np.float64))
    assert not np.array_equal(fast, exact)
    np.testing.assert_allclose(fast, exact, rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize("m", [1, 10, 199, 200, 500])
def test_inclusion_probabilities_match_reference(m):
    rng = np.random.default_rng(m)
    scores = rng.pareto(1.2, size=300) + 1e-3  # heavy tail: many rows get capped
    pi = _kernels.inclusion_probabilities(scores, m)
    np.testing.assert_allclose(pi, naive.inclusion_probabilities(scores, m), rtol=1e-10)
    assert np.isclose(pi.sum(), min(m, 300))
    assert (pi <= 1).all() and (pi > 0).all()


def test_systematic_select_has_exact_size_and_inclusion_probabilities():
    rng = np.random.default_rng(3)
    pi = _kernels.inclusion_probabilities(rng.pareto(1.5, size=40) + 0.05, 12)
    counts = np.zeros(40)
    trials = 20_000
    for _ in range(trials):
        chosen = _kernels.systematic_select(pi, rng.permutation(40), rng.random())
        assert chosen.size == 12 and np.unique(chosen).size == 12
        counts[chosen] += 1
    # each row's empirical frequency is within 5 binomial standard errors of pi
    standard_error = np.sqrt(pi * (1 - pi) / trials) + 1e-12
    assert (np.abs(counts / trials - pi) <= 5 * standard_error + 1e-9).all()


@pytest.mark.parametrize("n", [0, 1, 2, 1000])
def test_random_order_matches_reference(n):
    raw = np.random.default_rng(n).integers(0, 2**64 - 1, size=n, dtype=np.uint64, endpoint=True)
    raw[:: 7] = np.iinfo(np.uint64).max  # the largest word picks the last position allowed
    order = _kernels.random_order(raw, np.empty(n, dtype=np.int64))
    assert order.tolist() == naive.random_order(raw).tolist()
    assert sorted(order.tolist()) == list(range(n))


def test_permutation_is_uniform_and_falls_back_to_numpy_for_huge_classes(monkeypatch):
    from itertools import permutations

    from coreset_engine import _sampling

    rng = np.random.default_rng(11)
    index = {p: i for i, p in enumerate(permutations(range(4)))}
    trials = 48_000
    counts = np.zeros(len(index))
    for _ in range(trials):
        counts[index[tuple(_sampling.permutation(rng, 4).tolist())]] += 1
    # each of the 24 orders within 5 binomial standard errors of 1/24
    expected = trials / 24
    assert (np.abs(counts - expected) <= 5 * np.sqrt(expected * (1 - 1 / 24))).all()
    monkeypatch.setattr(_sampling, "_KERNEL_ORDER_ROWS", 3)
    numpy_order = np.random.default_rng(5).permutation(10)
    assert _sampling.permutation(np.random.default_rng(5), 10).tolist() == numpy_order.tolist()


@pytest.mark.parametrize("budget_of", ["some", "none", "all"])
def test_class_inclusion_probabilities_rows_match_the_reference_per_class(budget_of):
    rng = np.random.default_rng(7)
    codes = rng.integers(0, 3, size=400)
    scores = rng.pareto(1.2, size=400) + 1e-3
    counts = np.bincount(codes, minlength=3)
    budgets = {"some": [5, 40, 90], "none": [0, 40, 90], "all": [counts[0], 40, 1]}[budget_of]
    pi = _kernels.class_inclusion_probabilities_rows(scores, codes, np.array(budgets))
    for c, budget in enumerate(budgets):
        rows = codes == c
        expected = naive.inclusion_probabilities(scores[rows], budget) if budget else 0.0
        np.testing.assert_allclose(pi[rows], expected, rtol=1e-10)
        assert np.isclose(pi[rows].sum(), budget)


def test_poisson_draw_has_the_fixed_size_draws_inclusion_probabilities():
    from coreset_engine._sampling import poisson_draw, row_inclusion_probabilities

    rng = np.random.default_rng(4)
    n, size = 2_000, 300
    scores = rng.pareto(1.5, size=n) + 0.05
    labels = np.where(rng.random(n) < 0.02, 2, rng.integers(0, 2, size=n))  # a rare class
    expected, _ = row_inclusion_probabilities(scores, labels, 3, size)
    assert (expected == 1).any() and (expected < 1).any()
    counts, sizes, trials = np.zeros(n), [], 4_000
    for seed in range(trials):
        positions, pi = poisson_draw(scores, labels, 3, size, np.random.default_rng(seed))
        assert (np.diff(positions) > 0).all()
        np.testing.assert_allclose(pi, expected[positions], rtol=1e-12)
        counts[positions] += 1
        sizes.append(positions.size)
    standard_error = np.sqrt(expected * (1 - expected) / trials)
    assert (np.abs(counts / trials - expected) <= 5 * standard_error + 1e-9).all()
    assert abs(np.mean(sizes) - size) < 5 * np.sqrt(size / trials)
    whole, pi = poisson_draw(scores, None, 0, n, rng)  # a budget of every row: all of them
    assert whole.size == n and (pi == 1).all()


@pytest.mark.parametrize("size", [50, 900])  # a few rows are sorted, many marked in a mask
def test_draw_returns_sorted_rows_with_their_probabilities(size):
    from coreset_engine._sampling import draw, row_inclusion_probabilities

    rng = np.random.default_rng(size)
    scores = rng.pareto(1.5, size=2_000) + 0.05
    labels = rng.integers(0, 3, size=2_000)
    expected, _ = row_inclusion_probabilities(scores, labels, 3, size)
    positions, pi = draw(scores, labels, 3, size, rng)
    assert positions.size == size and (np.diff(positions) > 0).all()
    np.testing.assert_array_equal(pi, expected[positions])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_merge_duplicates_matches_reference(dtype):
    from coreset_engine._dedup import merge_duplicates

    rng = np.random.default_rng(5)
    X = rng.integers(0, 3, size=(5000, 3)).astype(dtype)  # 27 distinct rows, many repeats
    labels = rng.integers(0, 2, size=5000)
    weights = rng.random(5000) + 0.5
    first, summed = merge_duplicates(X, labels, weights)
    ref_first, ref_summed = naive.merge_duplicates(X, labels, weights)
    np.testing.assert_array_equal(first, ref_first)
    np.testing.assert_allclose(summed, ref_summed, rtol=1e-12)
    distinct = rng.normal(size=(300, 4)).astype(dtype)
    assert merge_duplicates(distinct, np.zeros(300, dtype=np.int64), None)[0] is None


def test_pilot_miss_probability_matches_sklearn():
    from sklearn.linear_model import LogisticRegression

    from coreset_engine._pilot import fit_pilot

    rng = np.random.default_rng(6)
    X = rng.normal(size=(2000, 3))
    for n_classes in (2, 4):
        labels = rng.integers(0, n_classes, size=2000)
        X_shifted = X + labels[:, None] * 0.7
        pilot = fit_pilot(X_shifted, labels, np.full(2000, 3.0))
        # the miss probabilities are exactly those of the pilot's coefficients ...
        model = LogisticRegression().fit(X_shifted, labels)
        model.coef_, model.intercept_ = pilot.coef, pilot.intercept
        expected = 1 - model.predict_proba(X_shifted)[np.arange(2000), labels]
        np.testing.assert_allclose(pilot.miss_probability(X_shifted, labels), expected, atol=1e-12)
        # ... and the pilot is (loosely) the weighted L2 optimum: C = 1 per unit of weight
        optimum = LogisticRegression(C=3.0, solver="newton-cholesky", tol=1e-10, max_iter=100)
        optimum.fit(X_shifted, labels)
        best = 1 - optimum.predict_proba(X_shifted)[np.arange(2000), labels]
        np.testing.assert_allclose(pilot.miss_probability(X_shifted, labels), best, atol=2e-3)
    unseen = pilot.miss_probability(X[:5], np.full(5, 9))
    np.testing.assert_array_equal(unseen, np.ones(5))  # a class the pilot never saw
    assert fit_pilot(X, np.zeros(2000, dtype=np.int64), np.ones(2000)) is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1_000, 150_000])
def test_least_squares_scores_match_reference(dtype, n):
    """Augmented Gram, then leverage and normalized residual of every row (the fused kernel
    over blocks of rows) against an SVD and lstsq."""
    from coreset_engine._cpu import leverage_and_residuals
    from coreset_engine._linalg import augmented_gram

    rng = np.random.default_rng(n)
    X = (rng.standard_t(df=3, size=(n, 5)) * [1, 10, 0.1, 3, 1]).astype(dtype)
    y = X.astype(np.float64) @ [1.0, -0.2, 3.0, 0.5, 0.0] + rng.normal(size=n) * 2 + 4
    scan = scan_rows(X)
    gram = augmented_gram(X, y, gram_with_intercept(X, scan.col_max, scan.col_sum))
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(gram, naive.augmented_gram(X, y), rtol=rtol)
    exact = naive.augmented_gram(X, y)  # float32 Gram rounding is not what is tested below
    leverage, residual = leverage_and_residuals(X, y, leverage_projection(exact))
    ref_leverage, ref_residual = naive.leverage_and_residuals(X, y)
    np.testing.assert_allclose(leverage, ref_leverage, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(residual, ref_residual, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(leverage.sum(), 6, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [1, 3, 40])
@pytest.mark.parametrize("threads", ["1", "3"])
def test_triangular_leverage_pass_matches_the_gemm_pass(dtype, d, threads, monkeypatch):
    """The leverage pass multiplies by the triangular projection with BLAS trmm (issue 14):
    the same scores as the GEMM it replaces and as the SVD reference, for float32 and float64
    compute, with and without row weights, over blocks of every size, on one thread or
    several at once (each block's BLAS call without the GIL)."""
    from coreset_engine import _cpu

    monkeypatch.setenv("CORESET_ENGINE_THREADS", threads)
    rng = np.random.default_rng(d)
    n = 70_001  # a partial last block
    X = (rng.standard_t(4, size=(n, d)) * np.exp(rng.normal(size=d)) + 2).astype(dtype)
    weights = rng.random(n) + 0.5
    projection = leverage_projection(gram_with_intercept(X, np.abs(X.astype(float)).max(axis=0)))
    matrix = np.ascontiguousarray(projection[:d], dtype=np.float32)
    assert _cpu._triangular_product(matrix, projection, d, d + 1) is not None
    calls = []
    kernel = _cpu.triangular_scores_block
    monkeypatch.setattr(_cpu, "triangular_scores_block",
                        lambda *args: calls.append(1) or kernel(*args))  # fmt: skip
    got = {c: sensitivity_scores(X, projection, 1 / n, weights, compute_dtype=c)
           for c in (np.float32, np.float64)}  # fmt: skip
    plain = sensitivity_scores(X, projection, 1 / n)
    assert len(calls) == 3 * (n // 2048 + 1)
    monkeypatch.setattr(_cpu, "_triangular_product", lambda *args: None)
    for compute, scores in got.items():
        gemm = sensitivity_scores(X, projection, 1 / n, weights, compute_dtype=compute)
        exact = compute == np.float64 and dtype == np.float64
        np.testing.assert_allclose(scores, gemm, rtol=1e-12 if exact else 1e-5)
    np.testing.assert_allclose(plain, sensitivity_scores(X, projection, 1 / n), rtol=1e-5)
    reference = weights * (naive.root_leverage_scores(X) + 1 / n)
    np.testing.assert_allclose(got[np.float64], reference, rtol=1e-7 if dtype == np.float64
                               else 1e-3)  # fmt: skip
    np.testing.assert_allclose(got[np.float32], reference, rtol=1e-3)


def test_sketched_dense_or_pilot_scores_keep_the_gemm(monkeypatch):
    from coreset_engine import _cpu
    from coreset_engine._linalg import jl_sketch
    from coreset_engine._pilot import fit_pilot

    rng = np.random.default_rng(4)
    X = rng.normal(size=(5_000, 6))
    labels = (X[:, 0] > 0).astype(np.int64)
    projection = leverage_projection(gram_with_intercept(X, np.abs(X).max(axis=0)))
    sketched = projection @ jl_sketch(0, 7, 4)
    assert _cpu._triangular_product(np.ascontiguousarray(sketched[:6]), sketched, 6, 4) is None
    dense = np.ascontiguousarray(projection[:6] + 1e-3)  # not triangular
    assert _cpu._triangular_product(dense, projection, 6, 7) is None
    calls = []
    kernel = _cpu.triangular_scores_block
    monkeypatch.setattr(_cpu, "triangular_scores_block",
                        lambda *args: calls.append(1) or kernel(*args))  # fmt: skip
    pilot = fit_pilot(X[:2000], labels[:2000], np.ones(2000))
    for args in ((sketched, 1e-3), (projection + 1e-3, 1e-3),
                 (projection, 1e-3, None, labels, pilot, 0.1, 2)):  # fmt: skip
        sensitivity_scores(X, *args)
    assert not calls
    sensitivity_scores(X, projection, 1e-3)
    assert calls


@pytest.mark.parametrize("triangular", [True, False])
def test_rows_overflowing_float32_are_rescored_in_float64(triangular, monkeypatch):
    """A float64 row beyond float32's range scores inf in the float32 pass (trmm or GEMM) and
    the whole call runs again in float64. (A leverage projection of such rows already has
    entries too small for float32, so it goes to float64 up front: this projection is made
    by hand.)"""
    from coreset_engine import _cpu

    if not triangular:
        monkeypatch.setattr(_cpu, "_triangular_product", lambda *args: None)
    rng = np.random.default_rng(8)
    X = rng.normal(size=(5_000, 4))
    X[4321, 1] = 1e39
    projection = np.triu(rng.uniform(0.5, 1.5, size=(5, 5)))
    got = sensitivity_scores(X, projection, 1e-3)
    assert np.isfinite(got).all() and got[4321] > 1e38
    np.testing.assert_array_equal(got, sensitivity_scores(X, projection, 1e-3,
                                                          compute_dtype=np.float64))  # fmt: skip


@pytest.mark.parametrize("n_classes", [3, 7])
def test_softmax_residual_rows_match_reference(n_classes):
    """The multinomial pilot's per-row pass (softmax, loss, gradient residual) against scipy's
    softmax and logsumexp, with logits far from zero on both sides (no overflow, no NaN)."""
    rng = np.random.default_rng(n_classes)
    S = (rng.normal(size=(4000, n_classes)) * 5).astype(np.float32)
    S[:50] += 80.0  # exp would overflow float32 without the row maximum taken off
    S[50:100] -= 120.0
    S[100, 0] = 60.0  # one dominant logit: its class's probability rounds to 1
    labels = rng.integers(0, n_classes, size=4000)
    row_weight = (rng.random(4000) / 4000).astype(np.float32)
    out = np.empty_like(S)
    loss = _kernels.softmax_residual_rows(S, labels, row_weight, out)
    expected, expected_loss = naive.softmax_residual(S, labels, row_weight)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-7 * row_weight.max())
    assert loss == pytest.approx(expected_loss, rel=1e-6)
    np.testing.assert_allclose(out.sum(axis=1), 0.0, atol=1e-6 * row_weight.max())


def test_class_budgets_sum_to_the_size_when_a_class_scores_zero():
    from coreset_engine._sampling import class_budgets

    # a class whose rows all score 0 keeps its floor; the others share the rest by score
    budgets = class_budgets(np.array([0.0, 1.0, 2.0]), np.array([5, 50, 50]), 20)
    assert budgets.sum() == 20 and budgets[0] == 4 and budgets[2] > budgets[1]
    # where the scoring classes run out of rows, the zero-score class takes the rest
    budgets = class_budgets(np.array([0.0, 1.0, 2.0]), np.array([50, 5, 5]), 20)
    assert budgets.tolist() == [10, 5, 5]
    # a subnormal total: the budgets still sum to the size, no class below its floor of 5
    budgets = class_budgets(np.array([1e-320, 1.0]), np.array([100, 100]), 20)
    assert budgets.sum() == 20 and budgets.min() >= 5
    with pytest.raises(ValueError, match="'class_score_totals' parameter of class_budgets"):
        class_budgets(np.array([np.nan, 1.0]), np.array([5, 50]), 20)


def test_least_squares_gram_of_float32_rows_takes_float64_products_where_y_fits_almost_exactly():
    from coreset_engine._backend import CpuBackend
    from coreset_engine._linalg import augmented_gram, factorizes
    from coreset_engine.tasks import get_task

    rng = np.random.default_rng(1)
    X = (rng.normal(size=(10_000, 3)) + 20).astype(np.float32)
    y = X.astype(np.float64) @ rng.normal(size=3) + rng.normal(scale=0.01, size=10_000)
    rows = CpuBackend().rows(X, y)
    scan = rows.scan()
    float32_gram = rows.gram_with_intercept(scan.col_max, scan.col_sum)
    assert factorizes(float32_gram) and not factorizes(augmented_gram(X, y, float32_gram))
    stats = get_task("linear_regression").leaf_stats(rows, scan, X, y, 0)
    exact = rows.gram_with_intercept(scan.col_max, scan.col_sum, float64_products=True)
    np.testing.assert_array_equal(stats.gram, augmented_gram(X, y, exact))
    assert factorizes(stats.gram)
