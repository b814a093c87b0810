"""Labels of any kind map to codes through ``classes_`` (as scikit-learn classifiers do) and
decode back; continuous-looking labels are a clear error pointing to the regression task."""

import numpy as np
import pandas as pd
import pytest
from helpers import assert_same_tree

from coreset_engine import CoresetTree
from coreset_engine.datasets import write_hdf5

#: Root of the tree below, pinned when the multinomial pilot moved from scikit-learn's lbfgs to
#: _pilot._multinomial_lbfgs (the tree before label mapping existed, main at 4d979e8, differed
#: from it in two rows of 60): integer labels 0..k-1 must keep giving exactly this tree, and a
#: change of it must be a deliberate change of the sampling. The weights' sum moved in its 8th
#: digit when the leverage pass took BLAS trmm instead of a GEMM and the calibration's Hessian
#: BLAS syrk (issue 14: the same sums rounded in another order), and in its 8th again when the
#: multinomial pilot's softmax became one Numba pass (its loss summed in float64) and the
#: calibration's tilt began to carry V @ lambda from step to step (same rows). Repinned when
#: the draws' random order came from ``_sampling.permutation`` (a Numba Fisher-Yates on
#: 64-bit words) instead of NumPy's ``rng.permutation``: the same sampling design, another
#: random stream, so other rows. The weights' sum is compared to 1e-7, not to rounding: with the
#: libraries a fresh install pulled on 2026-12-07 (NumPy 2.4.6, SciPy 1.17.1, scikit-learn
#: 1.9.1, Numba 0.68.1) the same rows came with a sum 4e-9 (relative) from the pinned one
#: (float sums rounded in another order); a change of the sampling moves it far more.
MAIN_ROOT_INDICES = [
    3, 13, 160, 409, 414, 528, 725, 821, 874, 876, 927, 956, 1241, 1294, 1386, 1404, 1496, 1650,
    1814, 1837, 2084, 2087, 2091, 2614, 2766, 2803, 2916, 3087, 3135, 3192, 3203, 3206, 3367,
    3421, 3535, 3626, 3642, 3822, 3870, 3927, 4249, 4287, 4347, 4386, 4596, 4602, 4673, 4816,
    4835, 4849, 4955, 4961, 5104, 5193, 5375, 5770, 5809, 5860, 5887, 5906,
]  # fmt: skip


def _tree(**params):
    return CoresetTree(**{"coreset_size": 300, "chunk_size": 1500, "random_state": 0, **params})


def _data(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] + rng.normal(size=n) > 0).astype(np.int64)
    return X, y


def test_integer_labels_give_the_tree_they_gave_before_label_mapping():
    rng = np.random.default_rng(11)
    X = (rng.standard_t(4, size=(6000, 4)) * [1, 3, 0.5, 2]).astype(np.float32)
    y = rng.integers(0, 3, 6000) * (X[:, 0] > -0.5)
    tree = CoresetTree(coreset_size=60, chunk_size=1500, random_state=7).build(X, y)
    cs = tree.get_coreset()
    assert sorted(cs.indices.tolist()) == MAIN_ROOT_INDICES
    assert float(cs.weights.sum()) == pytest.approx(6400.970389260707, rel=1e-7)
    assert tree.classes_.tolist() == [0, 1, 2] and cs.decoded_y.dtype == np.int64
    np.testing.assert_array_equal(cs.decoded_y, cs.y)


@pytest.mark.parametrize(
    "make, classes",
    [
        (lambda y: np.where(y == 1, "yes", "no"), ["no", "yes"]),
        (lambda y: np.where(y == 1, b"pos", b"neg"), [b"neg", b"pos"]),
        (lambda y: pd.Series(pd.Categorical(np.where(y == 1, "b", "a"))), ["a", "b"]),
        (lambda y: np.where(y == 1, 1, -1), [-1, 1]),
        (lambda y: y + 1, [1, 2]),
        (lambda y: y == 1, [False, True]),
        (lambda y: y.astype(np.float32), [0.0, 1.0]),
        (lambda y: pd.Series(y, dtype="Int64"), [0, 1]),
        (lambda y: pd.Series(np.where(y == 1, "yes", "no"), dtype="string"), ["no", "yes"]),
    ],
    ids=[
        "str",
        "bytes",
        "categorical",
        "minus-plus-one",
        "one-two",
        "bool",
        "float",
        "Int64",
        "string-dtype",
    ],
)
def test_any_labels_map_to_codes_and_decode_back(make, classes):
    X, y = _data()
    labels = make(y)
    tree = _tree().build(X, labels)
    assert tree.classes_.tolist() == classes and tree.n_classes_ == 2
    assert_same_tree(tree, _tree().build(X, y))  # the same order of classes: the same tree
    cs = tree.get_coreset()
    expected = np.asarray(labels)[cs.indices]
    np.testing.assert_array_equal(cs.decoded_y, expected)
    np.testing.assert_array_equal(cs.to_pandas()["y"].to_numpy(), expected)
    np.testing.assert_array_equal(cs.to_pandas(decode=False)["y"].to_numpy(), cs.y)


def test_one_two_labels_are_two_classes_and_strings_sort_like_scikit_learn():
    X, y = _data()
    tree = _tree().build(X, y + 1)
    assert tree.n_classes_ == 2 and tree.class_counts_.tolist() == np.bincount(y).tolist()
    names = np.array(["cat", "ant", "bee"])[np.arange(6000) % 3]
    tree = _tree().build(X, names)
    assert tree.classes_.tolist() == ["ant", "bee", "cat"]
    np.testing.assert_array_equal(np.sort(np.unique(names)), tree.classes_)


def test_continuous_labels_are_an_error_that_points_to_regression(tmp_path):
    X, y = _data()
    with pytest.raises(ValueError, match=r"y looks continuous: it holds 0.25 in row 2.*"
                                         r"task='linear_regression'"):  # fmt: skip
        _tree().build(X, np.r_[0.0, 1.0, np.full(5998, 0.25)])
    with pytest.raises(ValueError, match=r"more than 100 distinct values.*max_classes=100.*"
                                         r"linear_regression"):  # fmt: skip
        _tree().build(X, np.arange(6000) % 176)
    assert _tree(max_classes=200).build(X, np.arange(6000) % 176).n_classes_ == 176
    pd.DataFrame({"a": X[:, 0], "target": X[:, 1]}).to_parquet(tmp_path / "d.parquet")
    with pytest.raises(ValueError, match=r"The y column 'target' of .*d.parquet.* looks "
                                         r"continuous.*linear_regression"):  # fmt: skip
        _tree().build_from_file(tmp_path / "d.parquet", y="target")
    with pytest.raises(ValueError, match="'max_classes' parameter of CoresetTree must be an int"):
        _tree(max_classes=1).build(X, y)


def test_n_classes_keeps_integer_labels_with_absent_classes():
    X, y = _data()
    tree = _tree(n_classes=4).build(X, y * 2)  # classes 1 and 3 never occur
    assert tree.classes_.tolist() == [0, 1, 2, 3] and tree.class_counts_[[1, 3]].tolist() == [0, 0]
    with pytest.raises(TypeError, match="numbers"):
        _tree(n_classes=2).build(X, np.where(y == 1, "a", "b"))


def test_missing_and_unknown_labels_name_the_row():
    X, y = _data()
    labels = pd.Series(np.where(y == 1, "yes", "no"), dtype=object)
    labels[17] = None
    with pytest.raises(ValueError, match="missing label in row 17"):
        _tree().build(X, labels)
    tree = _tree().build(X, np.where(y == 1, "yes", "no"))
    more = np.where(y[:100] == 1, "yes", "no").astype(object)
    more[42] = "maybe"
    with pytest.raises(ValueError, match=r"classes \['no', 'yes'\].*Got label 'maybe' in row 42 "
                                         r"of the rows passed to partial_build \(row 6042"):  # fmt: skip
        tree.partial_build(X[:100], more)
    tree.partial_build(X[:100], np.where(y[:100] == 1, "yes", "no"))
    assert tree.n_samples_ == 6100


def test_labels_from_files_of_every_kind(tmp_path):
    X, y = _data()
    write_hdf5(tmp_path / "d.h5", X, y, dtype=np.float64)  # int labels; bytes labels next
    import h5py

    with h5py.File(tmp_path / "b.h5", "w") as handle:
        handle["X"] = X
        handle["y"] = np.where(y == 1, b"pos", b"neg")
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2],
                          "label": pd.Categorical(np.where(y == 1, "pos", "neg"))})  # fmt: skip
    frame.to_parquet(tmp_path / "d.parquet")
    frame.to_csv(tmp_path / "d.csv", index=False)
    reference = _tree().build_from_file(tmp_path / "d.h5")
    for path, y_name, classes in [("b.h5", "y", [b"neg", b"pos"]),
                                  ("d.parquet", "label", ["neg", "pos"]),
                                  ("d.csv", "label", ["neg", "pos"])]:  # fmt: skip
        tree = _tree().build_from_file(tmp_path / path, y=y_name)
        assert tree.classes_.tolist() == classes
        assert_same_tree(tree, reference)


def test_searches_on_a_tree_score_against_test_labels_as_the_data_holds_them():
    from sklearn.linear_model import LogisticRegression

    from tuners import GridSearch

    X, y = _data(n=8000)
    names = np.where(y == 1, "yes", "no")
    results = []
    for labels in (y, names):
        tree = _tree().build(X[:6000], labels[:6000])
        search = GridSearch(LogisticRegression(), {"C": [0.1, 1.0]}, scoring="accuracy",
                            random_state=0)  # fmt: skip
        search.fit(tree, validation_data=(X[6000:], labels[6000:]))
        results.append(search)
        assert set(search.predict(X[6000:6100]).tolist()) == set(labels.tolist())
    np.testing.assert_allclose(results[0].cv_results_["mean_test_score"],
                               results[1].cv_results_["mean_test_score"])  # fmt: skip
    assert results[1].best_score_ > 0.6
