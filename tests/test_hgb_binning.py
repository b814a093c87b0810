"""tuners' weighted binning for HistGradientBoosting against scikit-learn's own function."""

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.ensemble._hist_gradient_boosting import binning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from tuners._fitting import fit_weighted
from tuners._hgb_binning import _binning_module, fast_weighted_binning, find_binning_thresholds

ORIGINAL = binning._find_binning_thresholds
needs_slow_binning = pytest.mark.skipif(
    _binning_module() is None, reason="this scikit-learn has no weighted-binning loop to replace"
)


def _columns(rng, n):
    """Columns that reach every branch: continuous, heavy ties, values on percentile
    boundaries (integer weights), few distinct values, NaNs, constant."""
    continuous = rng.standard_t(3, n)
    ties = rng.integers(0, 400, n).astype(np.float64)  # > 255 distinct, many ties
    few = rng.integers(0, 9, n).astype(np.float64)  # midpoints branch
    with_nan = continuous.copy()
    with_nan[rng.random(n) < 0.1] = np.nan
    huge = continuous * 1e300  # thresholds clipped at ALMOST_INF
    huge[:5] = np.inf
    return {"continuous": continuous, "ties": ties, "few": few, "nan": with_nan,
            "huge": huge, "constant": np.full(n, 3.0)}  # fmt: skip


def _weights(rng, n):
    exponential = rng.exponential(size=n) * 57.3
    integers = rng.integers(1, 4, n).astype(np.float64)  # ranks land exactly on the cdf
    zeros = exponential.copy()
    zeros[rng.random(n) < 0.2] = 0.0
    return {"exponential": exponential, "integers": integers, "zeros": zeros,
            "unit": np.ones(n)}  # fmt: skip


@needs_slow_binning
@pytest.mark.parametrize("n", [40, 300, 5000])
@pytest.mark.parametrize("max_bins", [255, 17])
def test_thresholds_are_scikit_learns_bit_for_bit(n, max_bins):
    rng = np.random.default_rng(n + max_bins)
    for column_name, column in _columns(rng, n).items():
        for weight_name, weights in [*_weights(rng, n).items(), ("none", None)]:
            expected = ORIGINAL(column, max_bins, weights)
            got = find_binning_thresholds(column, max_bins, weights, ORIGINAL)
            assert got.dtype == expected.dtype, (column_name, weight_name)
            np.testing.assert_array_equal(got, expected, err_msg=f"{column_name}/{weight_name}")


@needs_slow_binning
@pytest.mark.parametrize("pipeline", [False, True])
def test_fit_weighted_gives_scikit_learns_model_and_restores_binning(pipeline, monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.standard_t(4, size=(3000, 6))
    X[:, 5] = rng.integers(0, 5, 3000)
    y = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(size=3000) > 0).astype(int)
    weights = rng.exponential(size=3000) * 40
    params = {"max_iter": 30, "random_state": 0, "early_stopping": False}
    expected = HistGradientBoostingClassifier(**params).fit(X, y, sample_weight=weights)
    calls = []
    monkeypatch.setattr(
        "tuners._hgb_binning.find_binning_thresholds",
        lambda *args: calls.append(1) or find_binning_thresholds(*args),
    )
    model = HistGradientBoostingClassifier(**params)
    if pipeline:
        model = make_pipeline(FunctionTransformer(), model)
    fit_weighted(model, X, y, weights, normalize_weights=False)  # a Pipeline would rescale
    assert len(calls) == X.shape[1]  # every column binned by the replacement
    assert binning._find_binning_thresholds is ORIGINAL
    np.testing.assert_array_equal(model.predict_proba(X), expected.predict_proba(X))
    with fast_weighted_binning():
        assert binning._find_binning_thresholds is not ORIGINAL
        regressor = HistGradientBoostingRegressor(max_iter=20, random_state=0)
        fast = regressor.fit(X, X[:, 0], sample_weight=weights).predict(X)
    assert binning._find_binning_thresholds is ORIGINAL
    slow = HistGradientBoostingRegressor(max_iter=20, random_state=0)
    np.testing.assert_array_equal(fast, slow.fit(X, X[:, 0], sample_weight=weights).predict(X))


@needs_slow_binning
def test_nested_and_failing_fits_restore_binning():
    with fast_weighted_binning():
        with fast_weighted_binning():
            pass
        assert binning._find_binning_thresholds is not ORIGINAL
    assert binning._find_binning_thresholds is ORIGINAL
    with pytest.raises(ValueError, match="Input y contains NaN"):
        fit_weighted(HistGradientBoostingClassifier(max_iter=5), np.ones((10, 2)),
                     np.full(10, np.nan), np.ones(10))  # fmt: skip
    assert binning._find_binning_thresholds is ORIGINAL


def test_a_pipeline_ending_in_boosted_trees_fits_it_as_it_would_alone():
    """Raw weights and the weighted early-stopping split, as for the bare model."""
    rng = np.random.default_rng(3)
    X = rng.standard_t(4, size=(4000, 5))
    y = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(size=4000) > 0).astype(int)
    weights = rng.exponential(size=4000) * 300  # stand for 1.2M rows: early stopping "auto"
    params = {"max_iter": 40, "random_state": 0, "l2_regularization": 5.0}
    alone = fit_weighted(HistGradientBoostingClassifier(**params), X, y, weights)
    scaler = StandardScaler().fit(X)
    pipeline = fit_weighted(
        make_pipeline(StandardScaler(), HistGradientBoostingClassifier(**params)), X, y, weights
    )
    np.testing.assert_allclose(pipeline[0].mean_, scaler.mean_)
    assert pipeline[-1].n_iter_ == alone.n_iter_ and pipeline[-1].do_early_stopping_
    np.testing.assert_allclose(pipeline.predict_proba(X), alone.predict_proba(X), atol=1e-6)
