"""Categorical and string features: one encoder fitted on the first pass, stored in the tree,
applied to every chunk, append, test set and saved tree; unseen values go to "<other>"."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from helpers import assert_same_tree

from coreset_engine import CoresetTree
from coreset_engine._encoding import OTHER, TableEncoder


def _frame(n=8000, seed=0):
    rng = np.random.default_rng(seed)
    color = rng.choice(
        ["red", "green", "blue", "teal", None], size=n, p=[0.4, 0.3, 0.2, 0.05, 0.05]
    )
    city = rng.choice(
        [f"city{i:02d}" for i in range(40)], size=n, p=np.r_[[0.5], np.full(39, 0.5 / 39)]
    )
    amount = rng.exponential(size=n)
    label = np.where(amount + (color == "red") + rng.normal(size=n) > 1.2, "buy", "skip")
    return pd.DataFrame({
        "amount": amount,
        "color": pd.Series(color, dtype=object),
        "city": pd.Categorical(city),
        "visits": pd.array(rng.integers(0, 9, n), dtype="Int64"),
        "label": label,
    })  # fmt: skip


def _tree(**params):
    return CoresetTree(**{"coreset_size": 300, "chunk_size": 2000, "random_state": 0,
                          "max_categories": 8, **params})  # fmt: skip


def test_categorical_columns_give_the_same_tree_from_a_dataframe_parquet_and_csv(tmp_path):
    polars = pytest.importorskip("polars")
    frame = _frame()
    reference = _tree().build(frame, "label")
    names = reference.get_feature_names_out().tolist()
    assert names[:7] == ["amount", "color_blue", "color_green", "color_red", "color_teal",
                         "color_<missing>", "color_<other>"]  # fmt: skip
    assert names[-2:] == ["city_<other>", "visits"] and len(names) == 7 + 9 + 1
    assert "city_city00" in names  # the most frequent city is kept
    frame.to_parquet(tmp_path / "d.parquet", row_group_size=999)
    frame.to_csv(tmp_path / "d.csv", index=False)
    for path in ("d.parquet", "d.csv"):
        tree = _tree().build_from_file(tmp_path / path, y="label")
        assert tree.get_feature_names_out().tolist() == names
        assert_same_tree(tree, reference)
    assert_same_tree(_tree().build(polars.from_pandas(frame), "label"), reference)
    cs = reference.get_coreset()
    assert cs.feature_names == tuple(names)
    table = cs.to_pandas()
    assert table.columns.tolist() == [*names, "y", "weight"]
    assert set(table["y"]) == {"buy", "skip"}
    np.testing.assert_array_equal(table.index.to_numpy(), cs.indices)


def test_one_hot_rows_match_the_data_and_rare_values_go_to_other():
    frame = _frame()
    tree = _tree().build(frame, "label")
    X = tree.transform(frame)
    names = tree.get_feature_names_out().tolist()
    color = frame["color"].to_numpy()
    np.testing.assert_array_equal(X[:, names.index("color_red")], color == "red")
    np.testing.assert_array_equal(X[:, names.index("color_<missing>")], pd.isna(color))
    city = frame["city"].astype(str).to_numpy()
    kept = [name.removeprefix("city_") for name in names if name.startswith("city_city")]
    assert len(kept) == 8
    np.testing.assert_array_equal(X[:, names.index("city_<other>")], ~np.isin(city, kept))
    assert np.all(X[:, 1:7].sum(axis=1) == 1)  # exactly one color category per row
    ordinal = _tree(categorical_encoding="ordinal").build(frame, "label")
    assert ordinal.get_feature_names_out().tolist() == ["amount", "color", "city", "visits"]
    codes = ordinal.transform(frame)[:, 1]
    np.testing.assert_array_equal(codes[color == "blue"], 0)
    np.testing.assert_array_equal(codes[pd.isna(color)], 4)  # after the 4 kept values


def test_unseen_values_go_to_other_in_appends_and_test_sets_and_never_fail():
    frame = _frame()
    tree = _tree().build(frame.iloc[:6000], "label")
    later = frame.iloc[6000:].copy()
    later["color"] = later["color"].where(np.arange(2000) % 3 > 0, "purple")
    later["city"] = later["city"].cat.add_categories(["atlantis"])
    later.iloc[:50, later.columns.get_loc("city")] = "atlantis"
    X = tree.transform(later)
    names = tree.get_feature_names_out().tolist()
    assert np.all(X[::3, names.index("color_<other>")] == 1)
    assert np.all(X[:50, names.index("city_<other>")] == 1)
    tree.partial_build(later, "label")
    assert tree.n_samples_ == 8000
    with pytest.raises(KeyError, match=r"lacks the feature columns \['city'\]"):
        tree.transform(later.drop(columns="city"))
    with pytest.raises(TypeError, match="must be a table"):
        tree.transform(X)


def test_fast_encoder_equals_the_scikit_learn_transformer():
    frame = _frame()
    test = _frame(n=3000, seed=1)
    test.loc[:20, "color"] = "purple"
    test.loc[21:40, "color"] = None
    for encoding in ("onehot", "ordinal"):
        tree = _tree(categorical_encoding=encoding).build(frame, "label")
        transformer = tree.encoder_
        expected = np.asarray(transformer.transform(test), dtype=np.float64)
        np.testing.assert_array_equal(tree.transform(test), expected)
        np.testing.assert_array_equal(tree.transform(pa.Table.from_pandas(test)), expected)
        assert transformer.get_feature_names_out().tolist() == tree.get_feature_names_out().tolist()


def test_missing_numbers_are_a_finite_error_and_numbers_can_be_categories():
    frame = _frame()
    frame.loc[4321, "visits"] = pd.NA
    with pytest.raises(ValueError, match="X must be finite. Got NaN or infinity in row 4321"):
        _tree().build(frame, "label")
    frame.loc[4321, "visits"] = 3
    tree = _tree(categorical_features=["visits"]).build(frame, "label")
    assert "visits_3" in tree.get_feature_names_out()
    with pytest.raises(KeyError, match="'categorical_features' \\['nope'\\] are not feature"):
        _tree(categorical_features=["nope"]).build(frame, "label")
    with pytest.raises(ValueError, match="'categorical_encoding' parameter of CoresetTree"):
        _tree(categorical_encoding="hash").build(frame, "label")
    dates = frame.assign(when=pd.Timestamp("2024-01-01"))
    with pytest.raises(TypeError, match="feature column 'when' of X has type timestamp"):
        _tree().build(dates, "label")


def test_saved_tree_keeps_the_encoder_and_classes(tmp_path):
    frame = _frame()
    tree = _tree().build(frame.iloc[:6000], "label")
    tree.save(tmp_path / "tree.h5")
    loaded = CoresetTree.load(tmp_path / "tree.h5")
    assert loaded.classes_.tolist() == ["buy", "skip"]
    assert loaded.get_params() == tree.get_params()
    np.testing.assert_array_equal(loaded.transform(frame), tree.transform(frame))
    tree.partial_build(frame.iloc[6000:], "label")
    loaded.partial_build(frame.iloc[6000:], "label")
    assert_same_tree(loaded, tree)
    assert loaded.get_coreset().feature_names == tree.get_coreset().feature_names


def test_version_1_tree_files_still_load(tmp_path):
    import json

    import h5py

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 3))
    y = (X[:, 0] > 0).astype(np.int64)
    from coreset_engine.datasets import write_hdf5

    write_hdf5(tmp_path / "d.h5", X, y, dtype=np.float64)
    tree = _tree().build_from_file(tmp_path / "d.h5")
    tree.save(tmp_path / "tree.h5")
    with h5py.File(tmp_path / "tree.h5", "r+") as handle:  # as the version-1 code wrote it
        handle.attrs["version"] = 1
        del handle.attrs["encoder"], handle.attrs["classes"]
        params = json.loads(handle.attrs["params"])
        for key in ("n_jobs", "max_classes", "categorical_features", "categorical_encoding",
                    "max_categories"):  # fmt: skip
            params.pop(key)
        handle.attrs["params"] = json.dumps(params)
        segment = json.loads(handle.attrs["segments"])[0]
        source = segment.pop("source")
        handle.attrs["segments"] = json.dumps([{**segment, "kind": "hdf5", "path": source["path"],
                                                "x": "X", "y": "y"}])  # fmt: skip
    loaded = CoresetTree.load(tmp_path / "tree.h5")
    assert_same_tree(loaded, tree)
    assert loaded.classes_.tolist() == [0, 1]
    chunks = [part.copy() for _, part, _ in loaded.iter_source_chunks()]
    np.testing.assert_array_equal(np.concatenate(chunks), X)


def test_reserved_category_names_are_an_error():
    frame = _frame()
    frame.loc[3, "color"] = OTHER
    with pytest.raises(ValueError, match="holds the value '<other>'"):
        _tree().build(frame, "label")
    assert isinstance(_tree().build(_frame(), "label")._state.encoder, TableEncoder)


def test_matrices_and_tables_mix_as_far_as_their_columns_allow():
    frame = _frame()
    numeric = frame[["amount"]].assign(more=frame["amount"] * 2)
    X = numeric.to_numpy()
    labels = frame["label"].to_numpy()
    tree = _tree().build(X[:6000], labels[:6000])  # a matrix tree takes numeric tables too
    tree.partial_build(pa.Table.from_pandas(numeric.iloc[6000:]), labels[6000:])
    assert_same_tree(
        tree, _tree().build(X[:6000], labels[:6000]).partial_build(X[6000:], labels[6000:])
    )
    table_tree = _tree().build(frame.iloc[:6000], "label")
    with pytest.raises(TypeError, match="must be a table .* built from a table"):
        table_tree.partial_build(X[6000:], labels[6000:])
