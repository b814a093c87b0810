"""task="linear_regression": continuous targets through every path a classification tree takes
(arrays, tables, files, appends, save and load, Dask), the errors, and quality against uniform."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
from helpers import assert_same_tree

from coreset_engine import CoresetTree, sample_coreset
from coreset_engine.evaluation import fit_least_squares, least_squares_objective

PARAMS = {"task": "linear_regression", "coreset_size": 400, "chunk_size": 3000, "random_state": 2}


def _data(n=12_000, d=5, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_t(df=3, size=(n, d)).astype(dtype)
    y = X @ np.linspace(2, -1, d) + 3 + rng.normal(size=n) * (0.5 + np.abs(X[:, 0]))
    return X, y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tree_holds_float_targets_and_weights_sum_to_n(dtype):
    X, y = _data(dtype=dtype)
    tree = CoresetTree(**PARAMS).build(X, y.astype(np.float32))
    for level in range(tree.depth_ + 1):
        cs = tree.get_coreset(level)
        assert cs.y.dtype == np.float64 and cs.classes is None
        np.testing.assert_array_equal(cs.y, y.astype(np.float32)[cs.indices])
        np.testing.assert_array_equal(cs.decoded_y, cs.y)
        assert abs(cs.weights.sum() / len(y) - 1) < 0.1
    assert tree.n_classes_ == 0
    for name in ("classes_", "class_counts_"):
        with pytest.raises(AttributeError, match="classification"):
            getattr(tree, name)
    assert list(tree.get_coreset().to_pandas().columns) == [f"x{i}" for i in range(5)] + [
        "y",
        "weight",
    ]


def test_integer_targets_are_values_not_classes():
    X, y = _data()
    counts = np.round(np.abs(y) * 10).astype(np.int64)  # thousands of distinct integers
    cs = CoresetTree(**PARAMS).build(X, counts).get_coreset()
    np.testing.assert_array_equal(cs.y, counts[cs.indices].astype(np.float64))


def test_same_tree_from_arrays_tables_files_and_appends(tmp_path):
    X, y = _data()
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)]).assign(price=y)
    from_arrays = CoresetTree(**PARAMS).build(X, y)
    from_frame = CoresetTree(**PARAMS).build(frame, "price")
    frame.to_parquet(tmp_path / "d.parquet")
    from_parquet = CoresetTree(**PARAMS).build_from_file(tmp_path / "d.parquet", y="price")
    with h5py.File(tmp_path / "d.h5", "w") as handle:
        handle["X"], handle["y"] = X, y
    from_hdf5 = CoresetTree(**PARAMS).build_from_file(tmp_path / "d.h5")
    assert_same_tree(from_arrays, from_hdf5)
    assert_same_tree(from_frame, from_parquet)
    np.testing.assert_array_equal(from_arrays.get_coreset().indices,
                                  from_frame.get_coreset().indices)  # fmt: skip
    appended = CoresetTree(**PARAMS).build(X[:6000], y[:6000]).partial_build(X[6000:], y[6000:])
    assert_same_tree(from_arrays, appended)
    chunks = list(from_hdf5.iter_source_chunks(5000))
    np.testing.assert_array_equal(np.concatenate([c for _, _, c in chunks]), y)


def test_save_load_round_trip_and_continue(tmp_path):
    X, y = _data()
    tree = CoresetTree(**PARAMS).build(X[:9000], y[:9000])
    tree.save(tmp_path / "t.h5")
    loaded = CoresetTree.load(tmp_path / "t.h5")
    assert loaded.task == "linear_regression"
    assert_same_tree(tree, loaded)
    assert_same_tree(tree.partial_build(X[9000:], y[9000:]),
                     loaded.partial_build(X[9000:], y[9000:]))  # fmt: skip


def test_duplicates_merge_on_x_and_y_bits():
    rng = np.random.default_rng(0)
    X = np.repeat(rng.normal(size=(50, 3)), 40, axis=0)
    y = np.repeat(rng.normal(size=50), 40)
    y[::2] += 1.0  # the same x with two different targets: two distinct rows
    cs = CoresetTree(task="linear_regression", coreset_size=1000, chunk_size=2000,
                     random_state=0).build(X, y).get_coreset()  # fmt: skip
    assert len(cs) == 100 and cs.weights.sum() == 2000
    np.testing.assert_array_equal(np.sort(cs.weights), np.full(100, 20.0))


@pytest.mark.parametrize("bad, message", [
    (np.nan, "finite"), (np.inf, "finite"), ("text", "numbers"),
])  # fmt: skip
def test_bad_targets_are_errors_naming_the_row(bad, message):
    X, y = _data(n=500)
    y = y.astype(object) if isinstance(bad, str) else y.copy()
    y[123] = bad
    with pytest.raises((ValueError, TypeError), match=message) as error:
        CoresetTree(**PARAMS).build(X, y)
    if not isinstance(bad, str):
        assert "row 123" in str(error.value)


def test_missing_target_in_a_table_and_in_an_append(tmp_path):
    X, y = _data(n=4000)
    frame = pd.DataFrame(X, columns=list("abcde")).assign(price=y)
    frame.loc[3500, "price"] = None
    frame.to_parquet(tmp_path / "d.parquet")
    with pytest.raises(ValueError, match="missing value in row 3500"):
        CoresetTree(**PARAMS).build_from_file(tmp_path / "d.parquet", y="price")
    tree = CoresetTree(**PARAMS).build(X, y)
    bad = y[:100].copy()
    bad[7] = np.nan
    with pytest.raises(ValueError, match="row 7 of the rows passed to partial_build"):
        tree.partial_build(X[:100], bad)
    assert tree.n_samples_ == 4000


def test_methods_and_backends_of_the_task_are_checked():
    X, y = _data(n=500)
    with pytest.raises(ValueError, match=r"\['leverage', 'sensitivity', 'uniform'\]"):
        CoresetTree(**{**PARAMS, "method": "l2s"}).build(X, y)
    with pytest.raises(ValueError, match="'cuda'.*logistic_regression"):
        CoresetTree(**{**PARAMS, "backend": "cuda"}).build(X, y)
    assert CoresetTree(**{**PARAMS, "backend": "auto"}).build(X, y).backend_ == "cpu"
    with pytest.raises(ValueError, match="task"):
        CoresetTree(task="poisson").build(X, y)


def test_classification_labels_that_look_continuous_point_here():
    X, y = _data(n=500)
    with pytest.raises(ValueError, match="task='linear_regression'"):
        CoresetTree().build(X, y)


def test_sensitivity_beats_uniform_one_shot_and_tree_root():
    """Full-data squared loss at the coreset's optimum over the optimum, median of 5 seeds,
    on heavy-tailed features with heteroscedastic noise (bench_regression has the tables)."""
    X, y = _data(n=60_000, d=6, seed=3)
    full = least_squares_objective(fit_least_squares(X, y), X, y)
    medians = {}
    for method in ("uniform", "leverage", "sensitivity"):
        for chunk in (60_000, 10_000):
            ratios = [
                least_squares_objective(fit_least_squares(cs.X, cs.y, cs.weights), X, y) / full
                for cs in (
                    CoresetTree(task="linear_regression", coreset_size=600, chunk_size=chunk,
                                method=method, random_state=seed).build(X, y).get_coreset()
                    for seed in range(5)
                )
            ]  # fmt: skip
            medians[method, chunk] = np.median(ratios)
    for chunk in (60_000, 10_000):
        assert medians["sensitivity", chunk] < medians["uniform", chunk]
        assert medians["leverage", chunk] < medians["uniform", chunk]
        assert medians["sensitivity", chunk] < 1.02


def test_sample_coreset_takes_the_task():
    X, y = _data(n=3000)
    cs = sample_coreset(X, y, 300, task="linear_regression", random_state=0)
    assert len(cs) == 300 and cs.y.dtype == np.float64


def test_dask_build_equals_the_local_build(tmp_path):
    da = pytest.importorskip("dask.array")
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    X, y = _data()
    local = CoresetTree(**PARAMS).build(X, y)
    on_threads = CoresetTree(**PARAMS).build(da.from_array(X, chunks=4000),
                                             da.from_array(y, chunks=4000))  # fmt: skip
    assert_same_tree(local, on_threads)
    frame = pd.DataFrame(X, columns=list("abcde")).assign(price=y)
    frame.to_parquet(tmp_path / "d.parquet")
    with (
        LocalCluster(n_workers=1, threads_per_worker=2, processes=False) as cluster,
        Client(cluster) as client,
    ):
        on_workers = CoresetTree(**PARAMS).build_from_file(tmp_path / "d.parquet", y="price",
                                                           client=client)  # fmt: skip
    assert_same_tree(CoresetTree(**PARAMS).build(frame, "price"), on_workers)
