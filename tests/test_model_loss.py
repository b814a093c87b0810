"""method="model_loss" (coresets for tree models): scores against a plain NumPy reference,
class-stratified Horvitz-Thompson weights, and rows the pilot gets wrong sampled more."""

from __future__ import annotations

import numpy as np
import pytest

from coreset_engine import CoresetTree, sample_coreset
from coreset_engine._pilot import fit_pilot
from coreset_engine.methods import NodeStats, get_method
from coreset_engine.methods._model_loss import MODEL_LOSS_FLOOR, gradient_factor


def _data(n=20_000, d=5, seed=0, positive_share=None):
    rng = np.random.default_rng(seed)
    X = rng.standard_t(df=4, size=(n, d))
    logits = X @ np.linspace(1.5, -1, d) + np.sin(3 * X[:, 0]) * 2 - 1
    if positive_share is not None:
        logits -= np.quantile(logits, 1 - positive_share)
    y = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(np.int64)
    return X, y


def _reference_factor(X, y, pilot, floor):
    """floor + 1 - p(y | x) by plain NumPy: sigmoid (binary) or softmax (several classes)."""
    logits = X @ pilot.coef.T + pilot.intercept
    if pilot.coef.shape[0] == 1:
        p_positive = 1 / (1 + np.exp(-logits[:, 0]))
        p_true = np.where(y == pilot.classes[1], p_positive, 1 - p_positive)
    else:
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        column = np.searchsorted(pilot.classes, y)
        seen = np.isin(y, pilot.classes)
        p_true = np.where(seen, p[np.arange(y.size), np.minimum(column, p.shape[1] - 1)], 0.0)
    return floor + 1 - p_true


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scores_match_the_numpy_reference(n_classes, dtype):
    X, y = _data(n=7000)
    if n_classes == 3:
        y = np.where(X[:, 1] > 0.8, 2, y)
    X = X.astype(dtype)
    weights = np.random.default_rng(1).uniform(1, 5, size=y.size)
    pilot = fit_pilot(X.astype(np.float64), y, weights)
    stats = NodeStats(y.size, np.eye(X.shape[1] + 1), np.bincount(y))
    method = get_method("model_loss")
    rtol = 1e-5  # the pilot's logits come from a float32 GEMM whatever the rows' dtype
    reference = _reference_factor(X.astype(np.float64), y, pilot, MODEL_LOSS_FLOOR)
    np.testing.assert_allclose(gradient_factor(X, y, pilot, n_classes), reference, rtol=rtol)
    np.testing.assert_allclose(method.scores(X, y, weights, stats, pilot), weights * reference,
                               rtol=rtol)  # fmt: skip
    # before the pilot: the weights alone (the leaf's pilot sample is drawn by them)
    np.testing.assert_array_equal(method.scores(X, y, weights, stats), weights)
    # a class the pilot never saw: entirely missed
    unseen = gradient_factor(X[:3], np.full(3, 7), pilot, 8)
    np.testing.assert_allclose(unseen, 1 + MODEL_LOSS_FLOOR)


def test_class_stratified_unbiased_weights_and_hard_rows_oversampled():
    X, y = _data(n=30_000, positive_share=0.03)
    counts = np.bincount(y)
    pilot = fit_pilot(X, y, np.ones(y.size))
    miss = _reference_factor(X, y, pilot, 0.0)
    per_class, hardness = [], []
    for seed in range(20):
        tree = CoresetTree(coreset_size=600, chunk_size=7500, method="model_loss",
                           random_state=seed).build(X, y)  # fmt: skip
        cs = tree.get_coreset()
        per_class.append(np.bincount(cs.y, weights=cs.weights, minlength=2))
        hardness.append(miss[cs.indices].mean())
        assert (cs.y == 1).sum() >= 600 // 4  # the rare class keeps its floor of the budget
    per_class = np.array(per_class)
    np.testing.assert_allclose(per_class.mean(axis=0) / counts, 1, atol=0.03)
    assert np.mean(hardness) > 1.5 * miss.mean()  # rows the pilot misses are drawn more


def test_one_shot_and_saved_trees(tmp_path):
    X, y = _data(n=8000)
    cs = sample_coreset(X, y, 500, method="model_loss", random_state=0)
    assert len(cs) == 500 and abs(cs.weights.sum() / 8000 - 1) < 0.1
    tree = CoresetTree(coreset_size=400, chunk_size=2000, method="model_loss",
                       random_state=3).build(X, y)  # fmt: skip
    tree.save(tmp_path / "t.h5")
    loaded = CoresetTree.load(tmp_path / "t.h5")
    assert loaded.method == "model_loss"
    np.testing.assert_array_equal(loaded.get_coreset().indices, tree.get_coreset().indices)
    with pytest.raises(ValueError, match="'method' parameter.*model_loss"):
        CoresetTree(task="linear_regression", method="model_loss").build(X, y.astype(float))
