"""Gradient calibration of node weights (coreset_engine._calibration, CoresetTree(calibrate=))."""

import json

import h5py
import naive
import numpy as np
import pytest
from helpers import assert_same_tree

from coreset_cli.bench.engine import fit_model
from coreset_engine import CoresetTree, _calibration
from coreset_engine._calibration import (
    MAX_TILT,
    MIN_ROWS_PER_EQUATION,
    calibrate,
    class_gradient_sums,
)
from coreset_engine._pilot import fit_pilot
from coreset_engine.evaluation import logistic_objective
from coreset_engine.methods import get_method
from coreset_engine.synthetic import make_weak_signal


def _problem(n=6_000, d=5, classes=2, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(dtype)
    logits = X @ rng.normal(size=(d, classes)) + rng.normal(size=(n, classes))
    return X, np.argmax(logits, axis=1).astype(np.int64)


@pytest.mark.parametrize("classes", [2, 4])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_class_gradient_sums_match_the_row_by_row_reference(classes, dtype, weighted):
    X, y = _problem(n=140_000 if dtype == np.float64 and not weighted else 3_000,
                    classes=classes, dtype=dtype)  # fmt: skip (several row blocks once)
    weights = np.random.default_rng(1).uniform(0.5, 3.0, y.size) if weighted else None
    pilot = fit_pilot(X[:2000], y[:2000], np.ones(2000))
    miss = pilot.miss_probability(X, y)
    got = class_gradient_sums(X, y, weights, miss, classes + 1)  # a class that never occurs
    want = naive.class_gradient_sums(X, y, weights, pilot, classes + 1)
    np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-10,
                               atol=1e-4 * np.abs(want).max())  # fmt: skip
    assert not got[classes].any()


@pytest.mark.parametrize("classes", [2, 3])
def test_calibrated_weights_meet_the_node_sums(classes):
    X, y = _problem(n=50_000, classes=classes)
    pilot = fit_pilot(X[:3000], y[:3000], np.ones(3000))
    miss = pilot.miss_probability(X, y)
    targets = class_gradient_sums(X, y, None, miss, classes)
    rng = np.random.default_rng(2)
    rows = rng.choice(y.size, 2_000, replace=False)
    sampled = np.full(rows.size, y.size / rows.size) * rng.uniform(0.7, 1.3, rows.size)
    before = class_gradient_sums(X[rows], y[rows], sampled, miss[rows], classes)
    tilted = calibrate(X[rows], y[rows], sampled, miss[rows], targets)
    after = class_gradient_sums(X[rows], y[rows], tilted, miss[rows], classes)
    scale = np.abs(targets).max()
    assert np.abs(before - targets).max() > 1e-3 * scale  # there was something to correct
    assert np.abs(after - targets).max() < 1e-5 * scale
    ratio = tilted / sampled
    assert ratio.min() >= 1 / MAX_TILT and ratio.max() <= MAX_TILT and (ratio != 1).all()


def test_classes_it_cannot_match_keep_their_weights():
    X, y = _problem(n=20_000)
    pilot = fit_pilot(X[:3000], y[:3000], np.ones(3000))
    miss = pilot.miss_probability(X, y)
    targets = class_gradient_sums(X, y, None, miss, 2)
    d = X.shape[1]
    ones = np.flatnonzero(y == 1)[: MIN_ROWS_PER_EQUATION * (d + 1) - 1]  # too few rows
    zeros = np.flatnonzero(y == 0)[:500]
    rows = np.concatenate([zeros, ones])
    sampled = np.full(rows.size, 10.0)
    tilted = calibrate(X[rows], y[rows], sampled, miss[rows], targets)
    np.testing.assert_array_equal(tilted[zeros.size:], 10.0)
    assert (tilted[: zeros.size] != 10.0).all()
    impossible = targets.copy()
    impossible[0, 0] = -np.abs(targets[0]).sum() * 100  # no positive tilt reaches it
    np.testing.assert_array_equal(calibrate(X[rows], y[rows], sampled, miss[rows], impossible)[
        : zeros.size], 10.0)  # fmt: skip


@pytest.mark.parametrize("stretch, with_rules, without_rules", [(2.0, 2, 3), (50.0, 5, 9)])
def test_a_tilt_out_of_bounds_gives_up_early(monkeypatch, stretch, with_rules, without_rules):
    """A heavy-tailed column whose sum must grow by ``stretch``: no tilt within MAX_TILT does
    it. The early exits (iterates pinned at the box; converging beyond the bound) return None
    after fewer Hessians than the full Newton run would take to find that out."""
    rng = np.random.default_rng(0)
    n = 3000
    U = np.column_stack([rng.lognormal(0.0, 2.0, n), rng.normal(size=n), np.ones(n)])
    weights = np.full(n, 5.0)
    target = U.T @ weights
    target[0] *= stretch
    factorizations = []
    original = _calibration.cho_factor
    monkeypatch.setattr(_calibration, "cho_factor",
                        lambda matrix: factorizations.append(1) or original(matrix))  # fmt: skip
    reachable = U.T @ weights
    reachable[0] *= 1.2  # within reach: the rules leave it alone
    tilted = _calibration.tilt(U, weights, reachable)
    np.testing.assert_allclose(U.T @ tilted, reachable, rtol=1e-5)
    factorizations.clear()
    assert _calibration.tilt(U, weights, target) is None
    early = len(factorizations)
    factorizations.clear()
    monkeypatch.setattr(_calibration, "PINNED_STEPS", 10**9)
    monkeypatch.setattr(_calibration, "CONVERGING_MARGIN", np.inf)
    assert _calibration.tilt(U, weights, target) is None
    assert early <= with_rules < without_rules <= len(factorizations)  # measured: (2, 3), (5, 9)


@pytest.mark.parametrize("classes", [2, 5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_sensitivity_methods_miss_is_the_pilots(classes, dtype):
    X, y = _problem(n=5_000, classes=classes, dtype=dtype)
    pilot = fit_pilot(X[:2000], y[:2000], np.ones(2000))
    method = get_method("sensitivity")
    miss = method.pilot_miss(method.pilot_factor(X, y, pilot, classes))
    np.testing.assert_allclose(miss, pilot.miss_probability(X, y), atol=1e-5)


@pytest.mark.parametrize("classes", [2, 5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_the_pilot_pass_sums_the_calibration_targets_to_the_bit(classes, dtype, weighted):
    """The build sums the targets in the pilot's scoring pass (rows still in cache): the
    same sums as class_gradient_sums, bit for bit, over several blocks of rows."""
    X, y = _problem(n=140_000, classes=classes, dtype=dtype)  # three blocks of 65,536 rows
    weights = np.random.default_rng(3).uniform(0.5, 40.0, y.size) if weighted else None
    pilot = fit_pilot(X[:2000], y[:2000], np.ones(2000))
    method = get_method("sensitivity")
    factor, targets = method.pilot_factor(X, y, pilot, classes, class_sums_of=weights)
    np.testing.assert_array_equal(factor, method.pilot_factor(X, y, pilot, classes))
    expected = class_gradient_sums(X, y, weights, method.pilot_miss(factor), classes)
    np.testing.assert_array_equal(targets, expected)
    with pytest.raises(ValueError, match="class_sums_of"):
        method.pilot_factor(X, y, pilot, classes, backend=object(), class_sums_of=None)


def _excess_loss(X, y, size, calibrate, seeds=3):
    """Median over seeds of the full-data objective at the tree root's optimum over the full
    optimum's, minus 1."""
    best = logistic_objective(fit_model(X, y), X, y, 1.0)
    out = []
    for seed in range(seeds):
        cs = CoresetTree(coreset_size=size, chunk_size=y.size // 4, calibrate=calibrate,
                         random_state=seed).build(X, y).get_coreset()  # fmt: skip
        out.append(logistic_objective(fit_model(cs.X, cs.y, cs.weights), X, y, 1.0) / best - 1)
    return float(np.median(out))


def test_calibration_cuts_the_excess_loss_on_weak_signal_data():
    X, y = make_weak_signal(40_000, random_state=1)
    plain = _excess_loss(X, y, 2_000, calibrate=False)
    calibrated = _excess_loss(X, y, 2_000, calibrate=True)
    assert calibrated < 0.5 * plain, (calibrated, plain)


def test_tree_parameter_saved_loaded_and_validated(tmp_path):
    X, y = _problem(n=8_000)
    tree = CoresetTree(coreset_size=500, chunk_size=2_000, random_state=0).build(X, y)
    plain = CoresetTree(coreset_size=500, chunk_size=2_000, calibrate=False,
                        random_state=0).build(X, y)  # fmt: skip
    assert not np.array_equal(tree.get_coreset().weights, plain.get_coreset().weights)
    np.testing.assert_array_equal(tree.get_coreset(2).indices, plain.get_coreset(2).indices)
    tree.save(tmp_path / "t.h5")
    assert CoresetTree.load(tmp_path / "t.h5").calibrate is True
    plain.save(tmp_path / "p.h5")
    with h5py.File(tmp_path / "p.h5", "r+") as handle:  # a file from before the parameter
        params = json.loads(handle.attrs["params"])
        del params["calibrate"]
        handle.attrs["params"] = json.dumps(params)
    old = CoresetTree.load(tmp_path / "p.h5")
    assert old.calibrate is False
    old.partial_build(X[:2_000], y[:2_000])
    again = CoresetTree(coreset_size=500, chunk_size=2_000, calibrate=False, random_state=0)
    again.build(X, y).partial_build(X[:2_000], y[:2_000])
    assert_same_tree(old, again)
    with pytest.raises(ValueError, match="'calibrate'.*bool.*'yes'"):
        CoresetTree(calibrate="yes").build(X, y)


def test_other_methods_are_not_calibrated():
    X, y = _problem(n=8_000)
    for method in ("l2s", "uniform", "model_loss"):
        on = CoresetTree(coreset_size=500, chunk_size=2_000, method=method, random_state=0)
        off = CoresetTree(coreset_size=500, chunk_size=2_000, method=method, calibrate=False,
                          random_state=0)  # fmt: skip
        assert_same_tree(on.build(X, y), off.build(X, y))


def test_a_calibrating_plugin_method_with_the_older_pilot_factor_still_builds():
    """A registered method that calibrates but has the documented five-argument pilot_factor
    (no sums in its pass): the tree sums the targets in a pass of its own, with the same
    result as the sensitivity method's one-pass sums."""
    from coreset_engine.methods import SensitivityMethod, register_method
    from coreset_engine.methods._base import _REGISTRY

    class OlderPilotFactor(SensitivityMethod):
        name = "test-older-pilot-factor"
        sums_in_pilot_pass = False

        def pilot_factor(self, X, y, pilot, n_classes, backend=None):
            return super().pilot_factor(X, y, pilot, n_classes, backend)

    register_method(OlderPilotFactor)
    try:
        for classes in (2, 4):
            X, y = _problem(n=12_000, classes=classes)
            trees = [CoresetTree(coreset_size=800, chunk_size=4_000, method=method,
                                 random_state=0).build(X, y)
                     for method in ("sensitivity", OlderPilotFactor.name)]  # fmt: skip
            assert_same_tree(*trees)
    finally:
        del _REGISTRY[OlderPilotFactor.name]


def test_rows_drawn_with_certainty_keep_their_exact_weights():
    X, y = _problem(n=30_000)
    pilot = fit_pilot(X[:3000], y[:3000], np.ones(3000))
    miss = pilot.miss_probability(X, y)
    targets = class_gradient_sums(X, y, None, miss, 2)
    rng = np.random.default_rng(3)
    rows = rng.choice(y.size, 1_500, replace=False)
    sampled = np.full(rows.size, 20.0) * rng.uniform(0.7, 1.3, rows.size)
    fixed = np.zeros(rows.size, dtype=bool)
    fixed[:40] = True
    sampled[:40] = 1.0  # e.g. rows taken with probability 1
    tilted = calibrate(X[rows], y[rows], sampled, miss[rows], targets, fixed=fixed)
    np.testing.assert_array_equal(tilted[:40], 1.0)
    assert (tilted[40:] != sampled[40:]).all()
    after = class_gradient_sums(X[rows], y[rows], tilted, miss[rows], 2)
    assert np.abs(after - targets).max() < 1e-5 * np.abs(targets).max()


def test_the_pilot_pass_sums_only_a_pilots_factor():
    from coreset_engine._cpu import sensitivity_scores

    X, y = _problem(n=500)
    with pytest.raises(ValueError, match="'class_sums_of' parameter of sensitivity_scores.*"
                                         "Got 6 columns, pilot None"):  # fmt: skip
        sensitivity_scores(X, np.eye(6), 1.0, None, y, None, 0.1, 2, class_sums_of=None)
