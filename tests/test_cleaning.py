"""Label review (get_cleaning_samples): flipped labels come first, the ranking is stable and
reproducible, every reachable row is scored out of sample, and options behave as documented."""

import gc

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from coreset_engine import CoresetTree
from coreset_engine._cleaning import CleaningScorer, _top
from coreset_engine.datasets import write_hdf5


def _noisy(n=60_000, d=6, seed=0, n_classes=2, flip_rate=0.05):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    coef = rng.normal(size=(d, n_classes)) * 2
    y = (X @ coef + rng.gumbel(size=(n, n_classes)) * 0.3).argmax(axis=1)
    flipped = rng.choice(n, int(flip_rate * n), replace=False)
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, n_classes, flipped.size)) % n_classes
    return X, y, noisy, flipped


def _tree(**params):
    return CoresetTree(**{"coreset_size": 2000, "chunk_size": 10_000, "random_state": 0,
                          **params})  # fmt: skip


@pytest.fixture(scope="module")
def file_tree(tmp_path_factory):
    X, y, noisy, flipped = _noisy()
    path = tmp_path_factory.mktemp("clean") / "noisy.h5"
    write_hdf5(path, X, noisy)
    return path, X, y, noisy, flipped


def test_flipped_labels_come_first_and_the_list_is_ranked_and_reproducible(file_tree):
    path, X, y, noisy, flipped = file_tree
    tree = _tree().build_from_file(path)
    review = tree.get_cleaning_samples(600)  # 1% of the rows; 5% are flipped
    assert review.n_scored == 60_000
    assert np.isin(review.indices, flipped).mean() > 0.95
    order = np.lexsort((review.indices, -review.scores))
    np.testing.assert_array_equal(order, np.arange(600))  # score descending, ties by row
    np.testing.assert_array_equal(review.y, noisy[review.indices])
    np.testing.assert_array_equal(review.X, X[review.indices])
    np.testing.assert_array_equal(review.predicted[:50], y[review.indices[:50]])
    again = _tree().build_from_file(path).get_cleaning_samples(600)
    np.testing.assert_array_equal(again.indices, review.indices)
    assert again.scores.tobytes() == review.scores.tobytes()
    frame = review.to_pandas()
    assert frame.index.name == "row" and frame.columns[:3].tolist() == [
        "label", "predicted", "score"]  # fmt: skip
    assert frame.columns[3:].tolist() == [f"x{i}" for i in range(6)]


def test_coreset_rows_are_scored_by_pilots_that_did_not_train_on_them(file_tree):
    path, X = file_tree[:2]
    tree = _tree().build_from_file(path)
    scorer = CleaningScorer(tree, tree._state)
    root = tree.get_coreset()
    np.testing.assert_array_equal(scorer.held_out_rows, np.sort(root.indices))
    in_sample = scorer.pilot
    from coreset_engine._cleaning import pilot_probabilities

    rows = np.sort(root.indices)
    held_out = scorer.probabilities(rows, X[rows])
    fitted = pilot_probabilities(in_sample, X[rows], 2)
    assert not np.allclose(held_out, fitted)
    # a row outside the coreset is scored by the pilot fitted on the whole coreset
    outside = np.setdiff1d(np.arange(100), root.indices)[:5]
    np.testing.assert_allclose(scorer.probabilities(outside, X[outside]),
                               pilot_probabilities(in_sample, X[outside], 2))  # fmt: skip


def test_class_size_ignore_indices_and_ignore_seen(file_tree, tmp_path):
    path = file_tree[0]
    tree = _tree().build_from_file(path)
    per_class = tree.get_cleaning_samples(100, class_size=20)
    assert len(per_class) == 40 and np.bincount(per_class.y).tolist() == [20, 20]
    only_ones = tree.get_cleaning_samples(30, class_size={1: 30})
    assert (only_ones.y == 1).all() and len(only_ones) == 30
    first = tree.get_cleaning_samples(50)
    skipped = tree.get_cleaning_samples(50, ignore_indices=first.indices[:10])
    np.testing.assert_array_equal(skipped.indices[:40], first.indices[10:])
    tree.save(tmp_path / "tree.h5")  # seen rows are saved
    loaded = CoresetTree.load(tmp_path / "tree.h5")
    fresh = loaded.get_cleaning_samples(50, ignore_seen=True)
    seen = np.concatenate([per_class.indices, only_ones.indices, first.indices,
                           skipped.indices])  # fmt: skip
    assert not np.isin(fresh.indices, seen).any()
    with pytest.raises(ValueError, match="'k' parameter"):
        tree.get_cleaning_samples(0)
    with pytest.raises(ValueError, match="one of the tree's classes|class labels 0..1"):
        tree.get_cleaning_samples(5, class_size={7: 3})


def test_fixed_labels_and_removed_rows_leave_the_list(file_tree):
    path, _, y, _, flipped = file_tree
    tree = _tree().build_from_file(path)
    review = tree.get_cleaning_samples(300)
    truly = review.indices[np.isin(review.indices, flipped)]
    tree.update_targets(truly, y[truly])
    tree.remove_samples(review.indices[~np.isin(review.indices, flipped)])
    after = tree.get_cleaning_samples(300)
    assert not np.isin(after.indices, review.indices).any()
    assert after.n_scored == 60_000 - (~np.isin(review.indices, flipped)).sum()


def test_multiclass_string_labels_and_a_user_model():
    X, _, noisy, flipped = _noisy(n=30_000, n_classes=3, seed=1)
    names = np.array(["ant", "bee", "cat"], dtype=object)
    tree = _tree(chunk_size=8000).build(X, names[noisy])
    review = tree.get_cleaning_samples(300)
    assert set(review.y) <= {"ant", "bee", "cat"}
    assert np.isin(review.indices, flipped).mean() > 0.8
    for labels in (names[noisy], noisy):  # a model fitted on the labels or on the codes
        model = LogisticRegression(max_iter=500).fit(X, labels)
        with_model = tree.get_cleaning_samples(300, model=model)
        assert np.isin(with_model.indices, flipped).mean() > 0.8
        miss = 1 - model.predict_proba(X[with_model.indices])[np.arange(300), noisy[
            with_model.indices]]  # fmt: skip
        np.testing.assert_allclose(with_model.scores, miss)
    with pytest.raises(TypeError, match="predict_proba"):
        tree.get_cleaning_samples(5, model=object())


def test_after_partial_build_and_without_the_source():
    X, _, noisy, flipped = _noisy(n=30_000)
    first, second = (X[:20_000], noisy[:20_000]), (X[20_000:], noisy[20_000:])
    tree = _tree().build(*first).partial_build(*second)
    review = tree.get_cleaning_samples(300)
    assert review.n_scored == 30_000 and review.indices.max() >= 20_000
    assert np.isin(review.indices, flipped).mean() > 0.9
    only_held = tree.get_cleaning_samples(300, scan_source=False)
    held = np.unique(np.concatenate([node.indices for node in tree._state.nodes]))
    assert only_held.n_scored == held.size and np.isin(only_held.indices, held).all()
    del second
    gc.collect()  # the appended arrays are gone: their rows are scored where the tree holds them
    partly = tree.get_cleaning_samples(300)
    assert 20_000 < partly.n_scored < 30_000


def test_a_changed_file_is_an_error(tmp_path):
    X, _, noisy, _ = _noisy(n=20_000)
    path = tmp_path / "data.parquet"
    pd.DataFrame(X).rename(columns=str).assign(label=noisy).to_parquet(path)
    tree = _tree().build_from_file(path, y="label")
    pd.DataFrame(X[::-1]).rename(columns=str).assign(label=noisy).to_parquet(path)
    with pytest.raises(ValueError, match="changed since the tree was built"):
        tree.get_cleaning_samples(10)


def test_top_is_exact_with_ties():
    scores = np.array([0.5, 0.9, 0.5, 0.1, 0.9, 0.5])
    np.testing.assert_array_equal(_top(scores, 3), [0, 1, 4])
    np.testing.assert_array_equal(_top(scores, 4), [0, 1, 2, 4])
    np.testing.assert_array_equal(_top(scores, 10), np.arange(6))
