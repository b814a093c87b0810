"""Editing a built tree: labels, features, removals; exact statistics, only the touched paths
recomputed, weights that follow the live rows, errors that change nothing, persistence."""

import gc

import numpy as np
import pandas as pd
import pytest
from helpers import assert_same_tree

from coreset_engine import CoresetTree, _edits
from coreset_engine.datasets import write_hdf5


def _data(n=20_000, d=5, seed=0, n_classes=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_t(df=4, size=(n, d)) * np.arange(1, d + 1)
    logits = X @ np.linspace(0.8, -0.5, d) - 1.0
    if n_classes == 2:
        y = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(np.int64)
    else:
        y = np.digitize(logits + rng.logistic(size=n), [-2.0, 0.0])
    return X, y


def _tree(**params):
    return CoresetTree(**{"coreset_size": 500, "chunk_size": 2500, "random_state": 0, **params})


def _paths_of(tree, leaves):
    """Positions of the nodes whose leaf range holds one of ``leaves``."""
    nodes = tree._state.nodes
    return sorted(
        i
        for i, node in enumerate(nodes)
        if any(node.first_leaf <= leaf <= node.last_leaf for leaf in leaves)
    )


def _reference_stats(X, y, live, first_row, last_row, n_classes):
    rows = np.flatnonzero(live[first_row:last_row]) + first_row
    Z = np.column_stack([X[rows], np.ones(rows.size)])
    return rows.size, Z.T @ Z, np.bincount(y[rows], minlength=n_classes)


def _check_exact_stats(tree, X, y, live):
    """Every node's row count, Gram matrix and class counts equal those of its live rows."""
    bounds = _edits.leaf_bounds(tree._state)
    for node in tree._state.nodes:
        n, gram, counts = _reference_stats(
            X, y, live, bounds[node.first_leaf], bounds[node.last_leaf + 1], tree.n_classes_
        )
        assert node.stats.n_rows == n
        np.testing.assert_array_equal(node.stats.class_counts, counts)
        np.testing.assert_allclose(node.stats.gram, gram, rtol=1e-9, atol=1e-6)


def _count_recomputations(monkeypatch):
    calls = []
    for name in ("rebuild_leaf", "resample_leaf", "recompute_merge"):
        original = getattr(_edits, name)

        def counted(*args, _original=original, **kwargs):
            calls.append(_original)
            return _original(*args, **kwargs)

        monkeypatch.setattr(_edits, name, counted)
    return calls


def test_updated_labels_give_the_tree_a_build_of_the_fixed_labels_gives():
    X, y = _data()
    tree = _tree().build(X, y)
    rows = np.array([5, 7000, 19_999])
    fixed = y.copy()
    fixed[rows] = 1 - fixed[rows]
    tree.update_targets(rows, fixed[rows])
    assert_same_tree(tree, _tree().build(X, fixed))
    _check_exact_stats(tree, X, fixed, np.ones(len(y), bool))


def test_only_the_paths_of_changed_rows_are_recomputed(monkeypatch):
    X, y = _data(n=27_500)  # 11 leaves: complete subtrees of 8, 2 and 1 leaves and a spine
    tree = _tree().build(X, y)
    n_nodes = len(tree._state.nodes)
    calls = _count_recomputations(monkeypatch)
    tree.update_targets([100], [1 - y[100]])  # leaf 0
    expected = _paths_of(tree, [0])
    assert tree.last_recomputed_nodes_ == expected
    assert len(calls) == len(expected) == 5 < n_nodes  # leaf, 3 merges above it, the root
    calls.clear()
    tree.remove_samples([2600, 26_000])  # leaves 1 and 10
    expected = _paths_of(tree, [1, 10])
    assert tree.last_recomputed_nodes_ == expected and len(calls) == len(expected)
    assert len(expected) == 7  # leaf 1 and its 3 parents, leaf 10, the 2 spine nodes


def test_edits_keep_statistics_exact_and_weights_on_the_live_rows():
    X, y = _data()
    tree = _tree().build(X, y)
    live = np.ones(len(y), bool)
    removed = np.arange(3000, 9000)  # most of leaf 1, all of leaf 2, some of leaf 3
    tree.remove_samples(removed)
    live[removed] = False
    X2, y2 = X.copy(), y.copy()
    y2[[10, 15_000]] = 1 - y2[[10, 15_000]]
    tree.update_targets([10, 15_000], y2[[10, 15_000]])
    X2[[20, 12_345]] = [[1, 2, 3, 4, 5], [-5, 0, 5, 0, 1]]
    tree.update_features([20, 12_345], X2[[20, 12_345]])
    _check_exact_stats(tree, X2, y2, live)
    assert tree.n_samples_ == 14_000
    np.testing.assert_array_equal(tree.class_counts_, np.bincount(y2[live]))
    np.testing.assert_array_equal(tree.removed_indices_, removed)
    for level in range(tree.depth_ + 1):
        cs = tree.get_coreset(level)
        assert not np.isin(cs.indices, removed).any()
        np.testing.assert_array_equal(cs.X, X2[cs.indices])
        np.testing.assert_array_equal(cs.y, y2[cs.indices])
        # Horvitz-Thompson weights: about the live rows (14,000), far from the 20,000 before
        assert abs(cs.weights.sum() / 14_000 - 1) < 0.06, (level, cs.weights.sum())
        per_class = np.bincount(cs.y, weights=cs.weights, minlength=2)
        np.testing.assert_allclose(per_class, np.bincount(y2[live]), rtol=0.1)
    # and a build of the live rows' leaves is what the edited tree holds at every leaf
    leaf = tree._state.nodes[_paths_of(tree, [2])[0]]
    assert leaf.indices.size == 0 and leaf.stats.n_rows == 0


def test_iter_source_chunks_and_filter_out_samples_see_the_edits():
    X, y = _data(n=6000)
    tree = _tree(chunk_size=1000).build(X, y)
    tree.remove_samples([0, 1, 2500]).update_targets([3], [1 - y[3]])
    rows = np.concatenate([r for r, _, _ in tree.iter_source_chunks(700, with_rows=True)])
    np.testing.assert_array_equal(rows, np.setdiff1d(np.arange(6000), [0, 1, 2500]))
    labels = np.concatenate([labels for _, _, labels in tree.iter_source_chunks(700)])
    assert labels[1] == 1 - y[3] and labels.size == 5997  # rows 2, 3, ...
    assert next(tree.iter_source_chunks(700))[0] == 2  # the first chunk's first live row
    tree.filter_out_samples(lambda rows, X, y: X[:, 0] > 3)
    gone = np.union1d([0, 1, 2500], np.flatnonzero(X[:, 0] > 3))
    np.testing.assert_array_equal(tree.removed_indices_, gone)
    assert tree.n_samples_ == 6000 - gone.size
    with pytest.raises(ValueError, match="boolean array"):
        tree.filter_out_samples(lambda rows, X, y: np.ones(3))


def test_invalid_edits_raise_and_change_nothing(tmp_path):
    X, y = _data(n=6000)
    tree = _tree(chunk_size=1000).build(X, y)
    tree.remove_samples([7])
    before = tree._state
    bad_calls = [
        (lambda: tree.update_targets([6000], [0]), r"0\.\.5999.*Got 6000"),
        (lambda: tree.update_targets([-1], [0]), "Got -1"),
        (lambda: tree.update_targets([1, 2], [0]), "one label per row"),
        (lambda: tree.update_targets([1, 1], [0, 1]), "at most once"),
        (lambda: tree.update_targets([1.5], [0]), "row numbers"),
        (lambda: tree.update_targets([1, 2], [0, 5]), "class labels 0..1"),
        (lambda: tree.update_targets([7], [0]), "row 7, which was removed"),
        (lambda: tree.remove_samples([7]), "removed"),
        (lambda: tree.update_features([1], np.ones((1, 4))), "5 features"),
        (lambda: tree.update_features([1], np.full((1, 5), np.nan)), "finite.*row 1"),
        (lambda: tree.remove_samples(np.flatnonzero(y == 1)), "at least two classes"),
        (lambda: tree.update_targets(np.arange(6000)[np.arange(6000) != 7], 0),
         "at least two classes"),
    ]  # fmt: skip
    for call, message in bad_calls:
        with pytest.raises(ValueError, match=message):
            call()
        assert tree._state is before
    assert tree.n_samples_ == 5999


def test_a_changed_data_file_is_an_error_before_anything_changes(tmp_path):
    X, y = _data(n=6000)
    path = tmp_path / "data.h5"
    write_hdf5(path, X, y)
    tree = _tree(chunk_size=1000).build_from_file(path)
    before = tree._state
    write_hdf5(path, X[::-1], y[::-1])
    with pytest.raises(ValueError, match="changed since the tree was built"):
        tree.update_targets([3], [1 - y[3]])
    assert tree._state is before


def test_without_the_source_sampled_rows_are_edited_from_the_samples():
    X, y = _data()
    kept_X, kept_y = X.copy(), y.copy()
    tree = _tree().build(X, y)
    del X, y
    gc.collect()  # the tree holds its arrays by weak reference only: they are gone
    leaf = tree._state.nodes[_paths_of(tree, [3])[0]]
    sampled = leaf.indices[:3]
    not_sampled = np.setdiff1d(np.arange(7500, 10_000), leaf.indices)[0]
    before = tree._state
    with pytest.raises(RuntimeError, match=f"Row {not_sampled} .*none of the tree's samples"):
        tree.update_targets([sampled[0], not_sampled], [0, 0])
    assert tree._state is before
    fixed = kept_y.copy()
    fixed[sampled[:2]] = 1 - fixed[sampled[:2]]
    tree.update_targets(sampled[:2], fixed[sampled[:2]])
    tree.remove_samples(sampled[2:])
    live = np.ones(fixed.size, bool)
    live[sampled[2:]] = False
    _check_exact_stats(tree, kept_X, fixed, live)
    new_leaf = tree._state.nodes[_paths_of(tree, [3])[0]]
    # edited rows are known exactly (weight 1); each class's weights sum to its live rows
    assert (new_leaf.weights[np.isin(new_leaf.indices, sampled[:2])] == 1).all()
    np.testing.assert_allclose(np.bincount(new_leaf.y, weights=new_leaf.weights, minlength=2),
                               new_leaf.stats.class_counts)  # fmt: skip
    assert tree.last_recomputed_nodes_ == _paths_of(tree, [3])


def test_multiclass_string_labels_and_partial_build():
    X, y = _data(n_classes=3)
    names = np.array(["high", "low", "mid"], dtype=object)[y]
    # (the tree holds its arrays by weak reference: slices must be kept to be read again)
    parts = X[:12_000], names[:12_000], X[12_000:], names[12_000:]
    tree = _tree().build(parts[0], parts[1]).partial_build(parts[2], parts[3])
    rows = np.array([4, 11_999, 12_000, 19_000])
    fixed = names.copy()
    fixed[rows] = ["low", "mid", "high", "low"]
    tree.update_targets(rows, fixed[rows])
    expected = _tree().build(X[:12_000], fixed[:12_000]).partial_build(X[12_000:], fixed[12_000:])
    assert_same_tree(tree, expected)
    with pytest.raises(ValueError, match="one of the tree's classes.*'medium'"):
        tree.update_targets([1], ["medium"])
    # appending after an edit continues the numbering and keeps the edits
    more_X, more_y = _data(n=3000, seed=1, n_classes=3)
    tree.remove_samples([0])
    more_names = np.array(["high", "low", "mid"], dtype=object)[more_y]
    tree.partial_build(more_X, more_names)
    assert tree.n_samples_ == 22_999 and tree.removed_indices_.tolist() == [0]
    tree.update_targets([21_000], ["mid"])
    assert tree.get_coreset(tree.depth_).indices.max() >= 20_000


def test_edits_survive_save_and_load_and_continue(tmp_path):
    X, y = _data(n=8000)
    path = tmp_path / "data.parquet"
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)]).assign(label=y)
    frame.to_parquet(path)
    tree = _tree(chunk_size=1000).build_from_file(path, y="label")
    tree.remove_samples([1, 2, 3]).update_targets([10], [1 - y[10]])
    tree.update_features([11], frame.iloc[[12]].drop(columns="label"))
    tree.get_cleaning_samples(5)
    tree.save(tmp_path / "tree.h5")
    import h5py

    with h5py.File(tmp_path / "tree.h5") as handle:
        assert handle.attrs["version"] == 3  # older readers refuse it rather than drop edits
    loaded = CoresetTree.load(tmp_path / "tree.h5")
    assert_same_tree(tree, loaded)
    np.testing.assert_array_equal(loaded.removed_indices_, [1, 2, 3])
    np.testing.assert_array_equal(loaded._state.edits.seen, tree._state.edits.seen)
    tree.update_targets([500], [1 - y[500]])
    loaded.update_targets([500], [1 - y[500]])
    assert_same_tree(tree, loaded)
    fixed = y.copy()
    fixed[[10, 500]] = 1 - fixed[[10, 500]]
    X2 = X.copy()
    X2[11] = X[12]
    _check_exact_stats(loaded, X2, fixed, ~np.isin(np.arange(8000), [1, 2, 3]))
    # a tree without edits is still written as version 2
    _tree(chunk_size=1000).build(X, y).save(tmp_path / "plain.h5")
    with h5py.File(tmp_path / "plain.h5") as handle:
        assert handle.attrs["version"] == 2
