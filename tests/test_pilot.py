"""The pilot fits (coreset_engine._pilot) reach scikit-learn's weighted L2 logistic optimum."""

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.linear_model import LogisticRegression

from coreset_engine._pilot import fit_pilot


def _objective(coef, intercept, X, y, weights):
    """sum_i w_i (logsumexp(z_i) - z_i[y_i]) + ||coef||^2 / 2, in float64 (two classes: the
    one-vs-zero logit against 0, penalising the one coefficient vector)."""
    Z = X.astype(np.float64) @ coef.T + intercept
    if coef.shape[0] == 1:
        Z = np.hstack([np.zeros_like(Z), Z])
    rows = np.arange(len(y))
    return float(weights @ (logsumexp(Z, axis=1) - Z[rows, y]) + 0.5 * np.sum(coef**2))


@pytest.mark.parametrize("n_classes", [2, 3, 7])
def test_the_pilot_reaches_scikit_learns_optimum(n_classes):
    rng = np.random.default_rng(n_classes)
    n = 5000
    y = rng.integers(0, n_classes, size=n)
    X = (rng.standard_t(5, size=(n, 12)) * np.exp(rng.normal(size=12))
         + 0.4 * y[:, None] * rng.normal(size=12)).astype(np.float32)  # fmt: skip
    # coreset-like weights, far from 1 and class-dependent: a weighting slip moves the optimum
    weights = rng.uniform(1.0, 60.0, size=n) * (1.0 + 5.0 * (y == 0))
    pilot = fit_pilot(X, y, weights)
    reference = LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000).fit(
        X.astype(np.float64), y, sample_weight=weights
    )
    ours = _objective(pilot.coef, pilot.intercept, X, y, weights)
    best = _objective(reference.coef_, reference.intercept_, X, y, weights)
    assert pilot.classes.tolist() == list(range(n_classes))
    unweighted = fit_pilot(X, y, np.ones(n))  # the optimum moves with the weights
    assert _objective(unweighted.coef, unweighted.intercept, X, y, weights) > best * 1.1
    # a loosely converged pilot (L-BFGS to a projected gradient of 1e-4 in scaled units): at 7
    # classes and weights up to 360 its objective is within 3e-3 of the optimum (the NumPy
    # softmax it replaced: the same), where ignoring the weights costs over 0.2
    assert ours <= best * (1 + 5e-3), (ours, best)
