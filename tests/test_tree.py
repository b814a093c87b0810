"""CoresetTree behaviour: levels, appends, files, persistence, determinism, quality."""

import os

import numpy as np
import pytest
from helpers import assert_same_tree

from coreset_engine import CoresetTree, sample_coreset
from coreset_engine.datasets import write_hdf5
from coreset_engine.evaluation import fit_logistic, logistic_objective, loss_ratio


def _data(n=20_000, d=5, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = (rng.standard_t(df=4, size=(n, d)) * np.arange(1, d + 1)).astype(dtype)
    logits = X @ np.linspace(0.8, -0.5, d) - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(np.int64)
    return X, y


def test_levels_grow_and_keep_total_weight():
    X, y = _data()
    tree = CoresetTree(coreset_size=1000, chunk_size=2500, random_state=0).build(X, y)
    assert tree.n_leaves_ == 8 and tree.depth_ == 3
    sizes = [len(tree.get_coreset(level)) for level in range(tree.depth_ + 1)]
    assert sizes == [1000, 2000, 4000, 8000]
    for level in range(tree.depth_ + 1):
        cs = tree.get_coreset(level)
        np.testing.assert_array_equal(cs.X, X[cs.indices])
    # Horvitz-Thompson weights: the total weight estimates the row count without bias (one
    # seed's root is off by ~2% typically, so the check averages ten seeds).
    deviations = np.array([
        [cs.weights.sum() / X.shape[0] - 1 for cs in map(built.get_coreset, range(4))]
        for built in (CoresetTree(coreset_size=1000, chunk_size=2500, random_state=seed).build(X, y)
                      for seed in range(10))
    ])  # fmt: skip
    assert np.abs(deviations.mean(axis=0)).max() < 0.015
    assert np.abs(deviations).max() < 0.1
    with pytest.raises(ValueError, match="'level'.*0..3.*Got 4"):
        tree.get_coreset(4)


def test_uneven_leaf_count_levels_cover_all_leaves():
    X, y = _data(n=11_000)
    tree = CoresetTree(coreset_size=400, chunk_size=2000, random_state=0).build(X, y)
    assert tree.n_leaves_ == 6
    deepest = tree.get_coreset(tree.depth_)
    assert deepest.indices.max() >= 10_000  # the short last leaf is represented
    assert abs(deepest.weights.sum() / 11_000 - 1) < 0.05


def test_partial_build_continues_the_same_tree():
    X, y = _data()
    whole = CoresetTree(coreset_size=500, chunk_size=3000, random_state=3).build(X, y)
    parts = CoresetTree(coreset_size=500, chunk_size=3000, random_state=3).build(X[:9000], y[:9000])
    parts.partial_build(X[9000:15000], y[9000:15000]).partial_build(X[15000:], y[15000:])
    assert_same_tree(whole, parts)


@pytest.mark.parametrize("threads", ["1", "3"])
def test_tree_does_not_depend_on_the_number_of_threads(monkeypatch, threads):
    # row passes add partial sums over fixed blocks in block order
    rng = np.random.default_rng(5)
    X = (rng.standard_normal((300_000, 6)) * [1, 10, 100, 1, 1e3, 1e-2]).astype(np.float32)
    y = rng.integers(0, 3, 300_000) * (X[:, 0] + 0.1 * X[:, 1] > 0)

    def build():
        return CoresetTree(coreset_size=3000, chunk_size=100_000, random_state=1).build(X, y)

    monkeypatch.setenv("CORESET_ENGINE_THREADS", "2")
    reference = build()
    monkeypatch.setenv("CORESET_ENGINE_THREADS", threads)
    tree = build()
    assert tree.get_coreset().X.dtype == np.float32 and tree.depth_ >= 2
    assert_same_tree(reference, tree)


def test_large_uncalibrated_leaves_are_sampled_in_two_phases_without_bias(monkeypatch):
    from coreset_engine import _build
    from coreset_engine.methods._sensitivity import PILOT_FLOOR, SensitivityMethod

    # the pilot's factors span (1 + floor) / floor: within that ratio of the coreset, the
    # second phase never has to cap a row the first phase did not take with certainty
    assert (1 + PILOT_FLOOR) / PILOT_FLOOR <= _build.FIRST_PHASE_RATIO
    X, y = _data(n=120_000)
    scored = []
    pilot_factor = SensitivityMethod.pilot_factor

    def counting(self, X, *args, **kwargs):
        scored.append(X.shape[0])
        return pilot_factor(self, X, *args, **kwargs)

    monkeypatch.setattr(SensitivityMethod, "pilot_factor", counting)

    def build(seed, ratio=_build.FIRST_PHASE_RATIO):
        monkeypatch.setattr(_build, "FIRST_PHASE_RATIO", ratio)
        return CoresetTree(coreset_size=500, chunk_size=60_000, random_state=seed,
                           calibrate=False).build(X, y)  # fmt: skip

    build(0)
    settings = _build.BuildSettings(500, "sensitivity", True, None, 0, 2)
    size = _build.first_phase_rows(settings, 60_000)
    assert size == _build.FIRST_PHASE_MIN_ROWS and _build.first_phase_rows(settings, 40_000) is None
    # two leaves scored on a first-phase sample of about 20,000 rows, the merge on its 1,000
    leaves, merge = scored[-3:-1], scored[-1]
    assert all(abs(rows - size) < 5 * np.sqrt(size) for rows in leaves) and merge == 1_000
    scored.clear()
    one_phase = build(0, 0)
    assert scored[:2] == [60_000, 60_000]
    scored.clear()  # calibrated weights need the pilot's gradient sums over all rows
    CoresetTree(coreset_size=500, chunk_size=60_000, random_state=0).build(X, y)
    assert scored[:2] == [60_000, 60_000]
    assert not np.array_equal(one_phase.get_coreset().indices, build(0).get_coreset().indices)
    # Horvitz-Thompson weights through both phases: the leaves' weighted column sums and row
    # count estimate the data's without bias, and no less precisely than one phase does
    truth = np.append(np.abs(X).sum(axis=0), X.shape[0])

    def errors(ratio):
        leaves = [build(seed, ratio).get_coreset(1) for seed in range(20)]
        for cs in leaves[:2]:  # row numbers through both phases
            np.testing.assert_array_equal(cs.X, X[cs.indices])
        return np.array([np.append(cs.weights @ np.abs(cs.X), cs.weights.sum()) / truth - 1
                         for cs in leaves])  # fmt: skip

    two, one = errors(_build.FIRST_PHASE_RATIO), errors(0)
    spread = np.sqrt(np.mean(one**2, axis=0))
    assert (np.abs(two.mean(axis=0)) < 3 * spread / np.sqrt(20)).all()
    assert np.sqrt(np.mean(two**2)) < 1.25 * np.sqrt(np.mean(one**2))  # pooled over columns


def test_failed_partial_build_leaves_tree_unchanged():
    X, y = _data(n=6000)
    tree = CoresetTree(coreset_size=300, chunk_size=1000, random_state=0).build(X, y)
    before = tree.get_coreset()
    bad = X[:2000].copy()
    bad[1500, 2] = np.nan
    with pytest.raises(ValueError, match="row 7500"):
        tree.partial_build(bad, y[:2000])
    with pytest.raises(ValueError, match="n_classes-1|0..1"):
        tree.partial_build(X[:10], np.full(10, 2))
    assert tree.n_samples_ == 6000
    np.testing.assert_array_equal(tree.get_coreset().indices, before.indices)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_build_from_file_equals_in_memory_build(tmp_path, dtype):
    X, y = _data(dtype=dtype)
    path = tmp_path / "data.h5"
    write_hdf5(path, X, y, dtype=dtype, chunk_rows=700)
    from_file = CoresetTree(coreset_size=800, chunk_size=3000, random_state=5)
    from_file.build_from_file(path, x="X", y="y")
    in_memory = CoresetTree(coreset_size=800, chunk_size=3000, random_state=5).build(X, y)
    assert_same_tree(from_file, in_memory)
    assert from_file.get_coreset().X.dtype == dtype


def test_save_and_load_round_trip_and_continue(tmp_path):
    X, y = _data()
    tree = CoresetTree(coreset_size=700, chunk_size=4000, random_state=2).build(
        X[:12000], y[:12000]
    )
    tree.save(tmp_path / "tree.h5")
    loaded = CoresetTree.load(tmp_path / "tree.h5")
    assert_same_tree(tree, loaded)
    assert loaded.get_params() == tree.get_params()
    tree.partial_build(X[12000:], y[12000:])
    loaded.partial_build(X[12000:], y[12000:])
    assert_same_tree(tree, loaded)
    assert [p.name for p in tmp_path.iterdir()] == ["tree.h5"]  # no temporary files left


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    X, y = _data(n=3000)
    tree = CoresetTree(coreset_size=200, chunk_size=1000, random_state=0).build(X, y)
    path = tmp_path / "tree.h5"
    tree.save(path)
    original = path.read_bytes()
    from coreset_engine import _persist

    def broken_concat(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(_persist, "_concat", broken_concat)
    with pytest.raises(OSError, match="disk full"):
        tree.save(path)
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tree.h5"]


def test_rare_class_is_never_lost():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 4))
    y = np.zeros(20_000, dtype=np.int64)
    y[rng.choice(20_000, 15, replace=False)] = 1
    for seed in range(3):
        tree = CoresetTree(coreset_size=500, chunk_size=5000, random_state=seed).build(X, y)
        for level in range(tree.depth_ + 1):
            assert np.sum(tree.get_coreset(level).y == 1) == 15


def test_multiclass_allocation_keeps_every_class():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30_000, 3))
    y = rng.choice(5, size=30_000, p=[0.6, 0.3, 0.08, 0.019, 0.001])
    tree = CoresetTree(coreset_size=600, chunk_size=10_000, n_classes=5, random_state=0)
    cs = tree.build(X, y).get_coreset()
    counts = np.bincount(cs.y, minlength=5)
    assert (counts > 0).all() and counts.sum() == 600
    per_class_weight = np.bincount(cs.y, weights=cs.weights, minlength=5)
    np.testing.assert_allclose(per_class_weight, np.bincount(y, minlength=5), rtol=0.25)
    assert tree.n_classes_ == 5


def test_huge_values_do_not_produce_nan_weights():
    X, y = _data(n=5000, dtype=np.float32)
    X[:, 1] *= np.float32(1e30)
    cs = CoresetTree(coreset_size=300, chunk_size=2000, random_state=0).build(X, y).get_coreset()
    assert np.isfinite(cs.weights).all() and (cs.weights > 0).all()


def test_sensitivity_beats_uniform_and_root_stays_close_to_one_shot():
    X, y = _data(n=60_000, d=6)
    X[:30] *= 40  # influential outliers that uniform sampling misses
    full_objective = logistic_objective(fit_logistic(X, y), X, y, 1.0)

    def median_ratio(method, chunk_size):
        ratios = []
        for seed in range(5):
            tree = CoresetTree(coreset_size=600, chunk_size=chunk_size, method=method,
                               random_state=seed)  # fmt: skip
            cs = tree.build(X, y).get_coreset()
            ratios.append(loss_ratio(fit_logistic(cs.X, cs.y, cs.weights), full_objective, X, y))
        return float(np.median(ratios))

    one_shot = median_ratio("sensitivity", 60_000)
    tree_root = median_ratio("sensitivity", 7_500)
    uniform = median_ratio("uniform", 60_000)
    assert one_shot < uniform
    assert tree_root - 1 < 1.5 * (one_shot - 1) + 0.002


def test_sample_coreset_is_a_one_leaf_tree():
    X, y = _data(n=5000)
    cs = sample_coreset(X, y, 400, random_state=4)
    tree = CoresetTree(coreset_size=400, chunk_size=5000, random_state=4).build(X, y)
    np.testing.assert_array_equal(cs.indices, tree.get_coreset().indices)


def test_pandas_input():
    pd = pytest.importorskip("pandas")
    X, y = _data(n=3000)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    a = CoresetTree(coreset_size=200, chunk_size=1000, random_state=0).build(frame, pd.Series(y))
    b = CoresetTree(coreset_size=200, chunk_size=1000, random_state=0).build(X, y)
    assert_same_tree(a, b)


def test_progress_bar_and_build_seconds(tmp_path, capsys):
    X, y = _data(n=4000, dtype=np.float32)
    write_hdf5(tmp_path / "d.h5", X, y)
    tree = CoresetTree(coreset_size=200, chunk_size=1000, random_state=0)
    tree.build_from_file(tmp_path / "d.h5", progress=True)
    assert "rows" in capsys.readouterr().err
    assert tree.build_seconds_ > 0
    assert os.path.exists(tmp_path / "d.h5")


def test_duplicate_rows_are_merged_losslessly():
    rng = np.random.default_rng(0)
    distinct = rng.normal(size=(50, 3))
    X = distinct[rng.integers(0, 50, size=8000)]
    y = (X[:, 0] > 0).astype(np.int64)
    tree = CoresetTree(coreset_size=100, chunk_size=3000, random_state=0).build(X, y)
    cs = tree.get_coreset()
    assert len(cs) == 50  # every distinct row fits: the coreset is exact
    assert cs.weights.sum() == pytest.approx(8000)
    counts = np.array([np.sum(np.all(X == row, axis=1)) for row in cs.X])
    np.testing.assert_allclose(cs.weights, counts)
    plain = CoresetTree(coreset_size=100, chunk_size=3000, deduplicate=False, random_state=0)
    assert len(plain.build(X, y).get_coreset()) == 100


def test_sketch_size_is_reproducible_saved_and_close_to_exact(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.standard_t(df=3, size=(30_000, 24))
    y = (X[:, :3].sum(axis=1) + rng.normal(size=30_000) > 0).astype(np.int64)
    params = {"coreset_size": 1000, "chunk_size": 10_000, "random_state": 4}
    sketched = CoresetTree(sketch_size=12, **params).build(X[:20_000], y[:20_000])
    again = CoresetTree(sketch_size=12, **params).build(X[:20_000], y[:20_000])
    assert_same_tree(sketched, again)
    exact = CoresetTree(**params).build(X[:20_000], y[:20_000])
    assert not np.array_equal(sketched.get_coreset().indices, exact.get_coreset().indices)
    sketched.save(tmp_path / "tree.h5")
    loaded = CoresetTree.load(tmp_path / "tree.h5")
    assert loaded.sketch_size == 12
    sketched.partial_build(X[20_000:], y[20_000:])
    loaded.partial_build(X[20_000:], y[20_000:])
    assert_same_tree(sketched, loaded)
    # the sketched scores are a noisy version of the exact ones: the leaf's scores correlate
    from coreset_engine._cpu import sensitivity_scores
    from coreset_engine._linalg import gram_with_intercept, jl_sketch, leverage_projection

    gram = gram_with_intercept(X, np.abs(X).max(axis=0))
    exact_norms = sensitivity_scores(X, leverage_projection(gram), 0.0)
    noisy = sensitivity_scores(X, leverage_projection(gram, jl_sketch(0, 25, 12)), 0.0)
    assert np.corrcoef(exact_norms, noisy)[0, 1] > 0.8
    assert abs(np.mean(noisy**2) / np.mean(exact_norms**2) - 1) < 0.1  # unbiased in the square


@pytest.mark.parametrize("bad", [0, -3, 2.5, "20"])
def test_sketch_size_is_validated(bad):
    X, y = _data(n=2000)
    with pytest.raises(ValueError, match="'sketch_size' parameter of CoresetTree"):
        CoresetTree(coreset_size=100, chunk_size=1000, sketch_size=bad).build(X, y)


def test_save_never_writes_over_the_file_the_tree_was_built_from(tmp_path):
    from coreset_engine.datasets import write_hdf5

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2_000, 3))
    write_hdf5(tmp_path / "d.h5", X, (X[:, 0] > 0).astype(np.int64))
    original = (tmp_path / "d.h5").read_bytes()
    tree = CoresetTree(coreset_size=100, chunk_size=1_000, random_state=0)
    tree.build_from_file(tmp_path / "d.h5")
    with pytest.raises(ValueError, match="would destroy the input"):
        tree.save(tmp_path / "d.h5")
    tree.save(tmp_path / "t.h5")
    with pytest.raises(ValueError, match="would destroy the input"):
        CoresetTree.load(tmp_path / "t.h5").save(tmp_path / "d.h5")
    assert (tmp_path / "d.h5").read_bytes() == original


def test_partial_build_errors_name_the_row_in_the_batch_and_in_the_tree():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1_000, 3))
    y = (X[:, 0] > 0).astype(np.int64)
    tree = CoresetTree(coreset_size=100, chunk_size=500, random_state=0).build(X, y)
    bad = X[:50].copy()
    bad[7, 1] = np.nan
    with pytest.raises(ValueError, match=r"row 7 of the rows passed to partial_build \(row 1007 "):
        tree.partial_build(bad, y[:50])
    labels = y[:50].copy()
    labels[9] = 5
    with pytest.raises(ValueError, match=r"label 5 in row 9 of the rows passed to partial_build "
                                         r"\(row 1009 of the tree\)"):  # fmt: skip
        tree.partial_build(X[:50], labels)
    labels[9] = -1
    with pytest.raises(ValueError, match=r"row 9 of the rows passed to partial_build \(row 1009"):
        tree.partial_build(X[:50], labels)
    assert tree.n_samples_ == 1_000


def test_iter_source_chunks_streams_the_rows_back_from_arrays_and_files(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5_000, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    write_hdf5(tmp_path / "d.h5", X[:3_000], y[:3_000])
    tree = CoresetTree(coreset_size=200, chunk_size=1_000, random_state=0)
    tree.build_from_file(tmp_path / "d.h5")
    more = X[3_000:].copy()
    tree.partial_build(more, y[3_000:])
    chunks = [(start, X_chunk.copy(), labels) for start, X_chunk, labels in
              tree.iter_source_chunks(chunk_size=700)]  # fmt: skip
    assert [start for start, _, _ in chunks][:5] == [0, 700, 1400, 2100, 2800]
    np.testing.assert_array_equal(np.concatenate([c for _, c, _ in chunks]), X.astype(np.float32))
    np.testing.assert_array_equal(np.concatenate([lab for _, _, lab in chunks]), y)

    tree.save(tmp_path / "t.h5")
    loaded = CoresetTree.load(tmp_path / "t.h5")
    with pytest.raises(RuntimeError, match="Rows 3000..4999 .* no longer exist"):
        next(loaded.iter_source_chunks())  # the appended arrays are not saved
    del more
    with pytest.raises(RuntimeError, match="no longer exist"):
        next(tree.iter_source_chunks())  # the tree held them by weak reference only

    only_file = CoresetTree(coreset_size=200, chunk_size=1_000, random_state=0)
    only_file.build_from_file(tmp_path / "d.h5").save(tmp_path / "f.h5")
    loaded = CoresetTree.load(tmp_path / "f.h5")
    assert sum(c.shape[0] for _, c, _ in loaded.iter_source_chunks()) == 3_000
    with open(tmp_path / "d.h5", "r+b") as handle:  # change the data after the build
        handle.seek(-8, os.SEEK_END)
        handle.write(b"\x01" * 8)
    with pytest.raises(ValueError, match="changed since the tree was built"):
        next(loaded.iter_source_chunks())
