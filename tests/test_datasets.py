"""Tests of coreset_engine.datasets on the real data files in the shared data folder."""

from __future__ import annotations

import os
import pathlib
import shutil

import h5py
import numpy as np
import pytest
from shared_data import SHARED, needs_data

from coreset_engine import datasets as D

# name -> (n rows, n columns after encoding, n positives)
EXPECTED = {
    "kddcup99": (494_021, 118, 396_743),
    "skin": (245_057, 3, 50_859),
    "a9a": (32_561, 123, 7_841),
    "bank_marketing": (41_188, 62, 4_640),
}


@pytest.fixture(scope="module")
def loaded() -> dict[str, D.Dataset]:
    """Each data set, loaded once per module from the shared folder."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder {SHARED} is absent")
    return {name: D.load_dataset(name, data_home=SHARED) for name in D.DATASETS}


@needs_data
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shapes_dtypes_and_class_counts(loaded: dict[str, D.Dataset], name: str) -> None:
    ds = loaded[name]
    n, d, positives = EXPECTED[name]
    assert ds.name == name
    assert ds.X.shape == (n, d)
    assert ds.X.dtype == np.float64 and ds.X.flags.c_contiguous
    assert ds.y.dtype == np.int64 and ds.y.shape == (n,)
    assert set(np.unique(ds.y).tolist()) == {0, 1}
    assert int(ds.y.sum()) == positives
    assert not np.isnan(ds.X).any()
    assert len(ds.feature_names) == d == len(set(ds.feature_names))


@needs_data
def test_kdd_binarization_counts(loaded: dict[str, D.Dataset]) -> None:
    y = loaded["kddcup99"].y
    assert np.bincount(y).tolist() == [97_278, 396_743]


@needs_data
def test_skin_labels_and_range(loaded: dict[str, D.Dataset]) -> None:
    ds = loaded["skin"]
    assert ds.feature_names == ["B", "G", "R"]
    assert np.bincount(ds.y).tolist() == [194_198, 50_859]
    assert ds.X.min() >= 0 and ds.X.max() <= 255


@needs_data
@pytest.mark.parametrize(
    ("name", "prefixes"),
    [
        ("kddcup99", ("protocol_type=", "service=", "flag=")),
        (
            "bank_marketing",
            (
                "job=",
                "marital=",
                "education=",
                "default=",
                "housing=",
                "loan=",
                "contact=",
                "month=",
                "day_of_week=",
                "poutcome=",
            ),
        ),
    ],
)
def test_one_hot_columns(
    loaded: dict[str, D.Dataset], name: str, prefixes: tuple[str, ...]
) -> None:
    ds = loaded[name]
    for prefix in prefixes:
        cols = [j for j, f in enumerate(ds.feature_names) if f.startswith(prefix)]
        assert len(cols) >= 2, prefix
        block = ds.X[:, cols]
        assert np.isin(block, (0.0, 1.0)).all(), prefix
        # Exactly one category per row, and every category is used.
        assert (block.sum(axis=1) == 1).all(), prefix
        assert (block.sum(axis=0) > 0).all(), prefix


@needs_data
def test_kdd_known_values(loaded: dict[str, D.Dataset]) -> None:
    ds = loaded["kddcup99"]
    f = ds.feature_names
    assert [c for c in f if c.startswith("protocol_type=")] == [
        "protocol_type=icmp",
        "protocol_type=tcp",
        "protocol_type=udp",
    ]
    # First row of the file: 0,tcp,http,SF,181,5450,...,normal.
    row = ds.X[0]
    assert row[f.index("protocol_type=tcp")] == 1 and row[f.index("service=http")] == 1
    assert row[f.index("flag=SF")] == 1 and row[f.index("src_bytes")] == 181
    assert row[f.index("dst_bytes")] == 5450 and ds.y[0] == 0


@needs_data
def test_bank_drops_duration(loaded: dict[str, D.Dataset]) -> None:
    ds = loaded["bank_marketing"]
    assert not any(f.startswith("duration") for f in ds.feature_names)
    assert "age" in ds.feature_names and "euribor3m" in ds.feature_names
    assert "job=unknown" in ds.feature_names
    assert np.bincount(ds.y).tolist() == [36_548, 4_640]


@needs_data
def test_a9a_has_test_split_with_123_columns(loaded: dict[str, D.Dataset]) -> None:
    ds = loaded["a9a"]
    assert ds.X_test is not None and ds.y_test is not None
    assert ds.X.shape == (32_561, 123) and ds.X_test.shape == (16_281, 123)
    assert ds.X_test.dtype == np.float64 and ds.y_test.dtype == np.int64
    assert set(np.unique(ds.y_test).tolist()) == {0, 1}
    assert np.isin(ds.X, (0.0, 1.0)).all() and np.isin(ds.X_test, (0.0, 1.0)).all()
    assert ds.feature_names[0] == "f1" and ds.feature_names[-1] == "f123"


@needs_data
def test_train_test_standardized_split(loaded: dict[str, D.Dataset]) -> None:
    ds = loaded["bank_marketing"]
    X_before = ds.X.copy()
    X_tr, X_te, y_tr, y_te = D.train_test_standardized(ds, test_size=0.25, random_state=1)
    assert X_tr.shape[0] + X_te.shape[0] == ds.n_samples
    assert X_te.shape[0] == pytest.approx(0.25 * ds.n_samples, abs=1)
    assert X_tr.dtype == X_te.dtype == np.float64
    assert y_tr.dtype == y_te.dtype == np.int64
    np.testing.assert_allclose(X_tr.mean(axis=0), 0.0, atol=1e-9)
    std = X_tr.std(axis=0)
    assert np.all((np.abs(std - 1) < 1e-9) | (std == 0))
    # Stratified: positive rates agree.
    assert abs(y_tr.mean() - y_te.mean()) < 1e-3
    np.testing.assert_array_equal(ds.X, X_before)  # the data set is not modified
    again = D.train_test_standardized(ds, test_size=0.25, random_state=1)
    np.testing.assert_array_equal(again[0], X_tr)


@needs_data
def test_train_test_standardized_uses_shipped_test(loaded: dict[str, D.Dataset]) -> None:
    ds = loaded["a9a"]
    X_tr, X_te, _, y_te = D.train_test_standardized(ds, test_size=0.5)
    assert X_tr.shape == (32_561, 123) and X_te.shape == (16_281, 123)
    np.testing.assert_array_equal(y_te, ds.y_test)
    np.testing.assert_allclose(X_tr.mean(axis=0), 0.0, atol=1e-9)
    std = X_tr.std(axis=0)
    # Feature 123 is constant zero in a9a: it is centred, not scaled.
    assert np.all((np.abs(std - 1) < 1e-9) | (std == 0))
    assert np.isfinite(X_te).all()


def test_train_test_standardized_constant_column() -> None:
    X = np.column_stack([np.arange(20.0), np.full(20, 3.0)])
    ds = D.Dataset("toy", X, np.arange(20) % 2, ["a", "b"])
    X_tr, X_te, _, _ = D.train_test_standardized(ds, test_size=5)
    assert X_te.shape == (5, 2)
    np.testing.assert_array_equal(X_tr[:, 1], 0.0)
    np.testing.assert_array_equal(X_te[:, 1], 0.0)
    with pytest.raises(ValueError, match="test_size"):
        D.train_test_standardized(ds, test_size=1.5)
    with pytest.raises(TypeError, match="dataset"):
        D.train_test_standardized(X)  # type: ignore[arg-type]


def test_dataset_validation() -> None:
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match="feature_names"):
        D.Dataset("toy", X, np.zeros(4), ["a"])
    with pytest.raises(ValueError, match="y: expected labels 0 and 1"):
        D.Dataset("toy", X, np.array([0, 1, 2, 0]), ["a", "b"])
    with pytest.raises(ValueError, match="y: expected a 1-D array of length 4"):
        D.Dataset("toy", X, np.zeros(3), ["a", "b"])
    with pytest.raises(ValueError, match="X_test, y_test"):
        D.Dataset("toy", X, np.zeros(4), ["a", "b"], X_test=X)
    ds = D.Dataset("toy", X.astype(np.float32), [0, 1, 1, 0], ["a", "b"])
    assert ds.X.dtype == np.float64 and ds.y.dtype == np.int64


def test_write_hdf5_round_trip(tmp_path: pathlib.Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1_000, 7))
    y = (rng.random(1_000) < 0.3).astype(np.int64)
    path = tmp_path / "toy.h5"
    D.write_hdf5(path, X, y, chunk_rows=128)
    with h5py.File(path, "r") as fh:
        assert fh["X"].dtype == np.float32 and fh["X"].chunks == (128, 7)
        assert fh["X"].compression is None
        assert fh["y"].dtype == np.int64
        np.testing.assert_array_equal(fh["X"][:], X.astype(np.float32))
        np.testing.assert_array_equal(fh["y"][:], y)
    assert sorted(os.listdir(tmp_path)) == ["toy.h5"]  # no temp file left behind

    # Default chunks are about 1 MiB; other names and dtype; overwrite an existing file.
    D.write_hdf5(path, X, y, x_name="feat", y_name="lab", dtype=np.float64)
    with h5py.File(path, "r") as fh:
        assert set(fh) == {"feat", "lab"}
        assert fh["feat"].chunks == (1_000, 7)  # 1 MiB would exceed n rows: capped at n
        np.testing.assert_array_equal(fh["feat"][:], X)

    X_big = np.zeros((100_000, 10))
    D.write_hdf5(path, X_big, np.zeros(100_000, dtype=np.int64))
    with h5py.File(path, "r") as fh:
        rows, d = fh["X"].chunks
        assert d == 10 and rows * d * 4 == pytest.approx(1 << 20, rel=0.01)


@needs_data
def test_write_hdf5_real_data(loaded: dict[str, D.Dataset], tmp_path: pathlib.Path) -> None:
    ds = loaded["skin"]
    path = tmp_path / "skin.h5"
    D.write_hdf5(path, ds.X, ds.y)
    with h5py.File(path, "r") as fh:
        assert fh["X"].shape == ds.X.shape and fh["X"].chunks is not None
        np.testing.assert_array_equal(fh["X"][:], ds.X.astype(np.float32))
        np.testing.assert_array_equal(fh["y"][:], ds.y)


def test_write_hdf5_failure_leaves_nothing(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bad.h5"
    X = np.ones((10, 2))
    X[7, 1] = np.nan
    with pytest.raises(ValueError, match="X: expected finite"):
        D.write_hdf5(path, X, np.zeros(10, dtype=np.int64), chunk_rows=2)
    assert list(tmp_path.iterdir()) == []
    # An existing file survives a failed overwrite.
    D.write_hdf5(path, np.ones((10, 2)), np.zeros(10, dtype=np.int64))
    with pytest.raises(ValueError, match="X: expected finite"):
        D.write_hdf5(path, X, np.zeros(10, dtype=np.int64), chunk_rows=2)
    assert list(tmp_path.iterdir()) == [path]
    with h5py.File(path, "r") as fh:
        assert np.isfinite(fh["X"][:]).all()


def test_write_hdf5_validation(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "x.h5"
    X, y = np.ones((4, 2)), np.zeros(4, dtype=np.int64)
    with pytest.raises(ValueError, match="y: expected a 1-D array of length 4"):
        D.write_hdf5(path, X, y[:3])
    with pytest.raises(ValueError, match="chunk_rows"):
        D.write_hdf5(path, X, y, chunk_rows=0)
    with pytest.raises(TypeError, match="dtype"):
        D.write_hdf5(path, X, y, dtype=np.int32)
    with pytest.raises(ValueError, match="x_name, y_name"):
        D.write_hdf5(path, X, y, x_name="a", y_name="a")
    with pytest.raises(ValueError, match="X: expected a non-empty 2-D array"):
        D.write_hdf5(path, np.ones(4), y)
    with pytest.raises(FileNotFoundError, match="path"):
        D.write_hdf5(tmp_path / "missing" / "x.h5", X, y)
    assert list(tmp_path.iterdir()) == []


def test_unknown_dataset_name() -> None:
    with pytest.raises(ValueError, match="name: expected one of") as info:
        D.load_dataset("mnist")
    for name in D.DATASETS:
        assert name in str(info.value)


def test_missing_file_in_data_home(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError, match="data_home") as info:
        D.load_skin(data_home=tmp_path)
    assert str(tmp_path / "skin_nonskin" / "Skin_NonSkin.txt") in str(info.value)
    with pytest.raises(FileNotFoundError, match="a9a"):
        D.load_dataset("a9a", data_home=tmp_path)
    with pytest.raises(TypeError, match="data_home"):
        D.load_skin(data_home=3)  # type: ignore[arg-type]


def test_search_order(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A folder named by the environment variable is searched first; if it lacks the file the
    # search goes on, and the error lists every place looked at.
    monkeypatch.setenv(D.DATA_ENV_VAR, str(tmp_path))
    monkeypatch.setattr(D, "PACKAGE_DATA", tmp_path / "package")
    monkeypatch.setattr(D, "_REPO_ROOT", tmp_path / "repo")
    with pytest.raises(FileNotFoundError) as info:
        D.find_data_home(relpath="skin_nonskin/Skin_NonSkin.txt")
    msg = str(info.value)
    for home in (tmp_path, tmp_path / "package", tmp_path / "shared" / "data"):
        assert str(home / "skin_nonskin" / "Skin_NonSkin.txt") in msg
    with pytest.raises(FileNotFoundError):
        D.find_data_home()

    # A copy of the file in the last candidate is found.
    shared = tmp_path / "shared" / "data" / "skin_nonskin"
    shared.mkdir(parents=True)
    (shared / "Skin_NonSkin.txt").write_text("1\t2\t3\t1\r\n4\t5\t6\t2\r\n")
    assert D.find_data_home(relpath="skin_nonskin/Skin_NonSkin.txt") == tmp_path / "shared" / "data"
    ds = D.load_skin()
    np.testing.assert_array_equal(ds.X, [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(ds.y, [1, 0])

    # The env folder wins when it holds the file.
    env_file = tmp_path / "skin_nonskin" / "Skin_NonSkin.txt"
    shutil.copytree(shared, env_file.parent, dirs_exist_ok=True)
    env_file.write_text("7\t8\t9\t2\n")
    assert D.find_data_home() == tmp_path
    assert D.load_skin().X.tolist() == [[7.0, 8.0, 9.0]]


def test_malformed_skin_file(tmp_path: pathlib.Path) -> None:
    f = tmp_path / "skin_nonskin" / "Skin_NonSkin.txt"
    f.parent.mkdir()
    f.write_text("1\t2\t3\t5\n")
    with pytest.raises(ValueError, match="labels 1"):
        D.load_skin(data_home=tmp_path)


def test_kddcup99_ships_with_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(D.DATA_ENV_VAR, raising=False)
    path = D.find_data_file("kddcup99")
    assert path == D.PACKAGE_DATA / "kddcup99_10pct" / "kddcup.data_10_percent.gz"
    assert path.stat().st_size > 2_000_000
    with pytest.raises(ValueError, match="'name' parameter of find_data_file"):
        D.find_data_file("kdd")
