"""Bad input fails with a message naming the parameter or dataset, what was expected, what came."""

import h5py
import numpy as np
import pytest

from coreset_engine import CoresetTree
from coreset_engine.datasets import write_hdf5


def _tree(**params):
    defaults = {"coreset_size": 50, "chunk_size": 100, "random_state": 0}
    defaults.update(params)
    return CoresetTree(**defaults)


def _xy(n=300, d=3):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d))
    return X, (X[:, 0] > 0).astype(int)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"coreset_size": 0}, "'coreset_size' parameter of CoresetTree must be an int >= 1. Got 0"),
        ({"coreset_size": -5}, "'coreset_size'.*Got -5"),
        ({"coreset_size": 2.5}, "'coreset_size'.*Got 2.5"),
        ({"chunk_size": 0}, "'chunk_size' parameter.*Got 0"),
        ({"task": "regression"}, "'task' parameter.*logistic_regression.*Got 'regression'"),
        ({"method": "magic"}, "'method' parameter.*sensitivity.*uniform.*Got 'magic'"),
        ({"n_classes": 1}, "'n_classes'.*>= 2. Got 1"),
        ({"random_state": -1}, "'random_state'.*Got -1"),
        ({"backend": "gpu"}, "'backend' parameter.*'cpu', 'cuda', 'auto'.*Got 'gpu'"),
    ],
)
def test_bad_parameters(params, message):
    X, y = _xy()
    with pytest.raises(ValueError, match=message):
        _tree(**params).build(X, y)


def test_nan_and_inf_name_the_row():
    X, y = _xy()
    X[217, 1] = np.nan
    with pytest.raises(ValueError, match="X must be finite. Got NaN or infinity in row 217"):
        _tree().build(X, y)
    X[217, 1] = 0
    X[5, 0] = -np.inf
    with pytest.raises(ValueError, match="row 5"):
        _tree().build(X, y)


def test_shape_and_label_errors():
    X, y = _xy()
    with pytest.raises(ValueError, match="same number of rows. Got 300 rows in X and 299"):
        _tree().build(X, y[:-1])
    with pytest.raises(ValueError, match="2-D array.*Got an array of shape \\(300,\\)"):
        _tree().build(X[:, 0], y)
    with pytest.raises(ValueError, match="at least one row"):
        _tree().build(X[:0], y[:0])
    with pytest.raises(ValueError, match="class labels 0..1 \\(n_classes=2\\). Got label 2"):
        _tree(n_classes=2).build(X, np.where(y == 1, 2, 0))
    with pytest.raises(ValueError, match="0..n_classes-1. Got -1 in row"):
        _tree(n_classes=2).build(X, np.where(y == 1, 1, -1))
    with pytest.raises(ValueError, match="looks continuous: it holds 0.5 in row 3.*linear_regr"):
        labels = y.astype(float)
        labels[3] = 0.5
        _tree().build(X, labels)
    with pytest.raises(ValueError, match="at least two classes.*only class \\[1\\]"):
        _tree().build(X, np.ones(300, dtype=int))
    with pytest.raises(TypeError, match="real numbers.*Got dtype <U"):
        _tree().build(X.astype(str), y)


def test_query_before_build():
    with pytest.raises(RuntimeError, match="no data yet"):
        _tree().get_coreset()


def test_file_errors(tmp_path):
    X, y = _xy()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _tree().build_from_file(tmp_path / "missing.h5")
    write_hdf5(tmp_path / "ok.h5", X, y)
    with pytest.raises(KeyError, match="'x' dataset name 'features' was not found.*\\['X', 'y'\\]"):
        _tree().build_from_file(tmp_path / "ok.h5", x="features")
    with pytest.raises(KeyError, match="'y' dataset name 'label'"):
        _tree().build_from_file(tmp_path / "ok.h5", y="label")
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes((tmp_path / "ok.h5").read_bytes()[:1000])
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        _tree().build_from_file(truncated)
    with h5py.File(tmp_path / "odd.h5", "w") as handle:
        handle["X"] = X[:, 0]
        handle["y"] = y
        handle["short_y"] = y[:10]
        handle["X2"] = X
        handle["S"] = X.astype("S4")
    with pytest.raises(ValueError, match="must be 2-D.*Got shape \\(300,\\)"):
        _tree().build_from_file(tmp_path / "odd.h5")
    with pytest.raises(ValueError, match="same number of rows. Got 300 and 10"):
        _tree().build_from_file(tmp_path / "odd.h5", x="X2", y="short_y")
    with pytest.raises(TypeError, match="real numbers"):
        _tree().build_from_file(tmp_path / "odd.h5", x="S")


def test_nan_in_file_names_global_row_and_keeps_old_tree(tmp_path):
    X, y = _xy(n=1000)
    X[777, 2] = np.inf
    with h5py.File(tmp_path / "bad.h5", "w") as handle:
        handle.create_dataset("X", data=X, chunks=(64, 3))
        handle["y"] = y
    tree = _tree()
    X_ok, y_ok = _xy()
    tree.build(X_ok, y_ok)
    with pytest.raises(ValueError, match="row 777"):
        tree.build_from_file(tmp_path / "bad.h5")
    assert tree.n_samples_ == 300  # the earlier tree is intact


def test_load_rejects_files_that_are_not_trees(tmp_path):
    X, y = _xy()
    write_hdf5(tmp_path / "data.h5", X, y)
    with pytest.raises(ValueError, match="not a saved CoresetTree"):
        CoresetTree.load(tmp_path / "data.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(ValueError, match="not a saved CoresetTree"):
        CoresetTree.load(tmp_path / "text.h5")
    with pytest.raises(FileNotFoundError):
        CoresetTree.load(tmp_path / "nope.h5")
    with pytest.raises(FileNotFoundError, match="folder"):
        _tree().build(X, y).save(tmp_path / "no" / "such" / "tree.h5")
