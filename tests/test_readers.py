"""build_from_file on every registered format: the same rows give the same tree whatever the
format, row-group or batch sizes; columns chosen by name; CSV type changes name the row; bounded
memory; row ranges read from a picklable description (for workers)."""

import gzip
import json
import pickle
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from helpers import assert_same_tree
from pyarrow import feather

from coreset_engine import CoresetTree
from coreset_engine.readers import FileSource, Reader, available_formats, register_reader

N_ROWS, N_FEATURES = 9_000, 4


def _table(n=N_ROWS, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_t(4, size=(n, N_FEATURES)) * [1.0, 2.0, 0.5, 3.0]
    y = ((X[:, 0] + rng.normal(size=n) > 0) + (X[:, 1] > 2)).astype(np.int64)
    frame = pd.DataFrame({f"f{i}": X[:, i] for i in range(N_FEATURES)})
    frame["y"] = y
    return X, y, frame


def _tree(**params):
    return CoresetTree(**{"coreset_size": 400, "chunk_size": 2000, "random_state": 3, **params})


def _zarr_group(path, X, y):
    zarr = pytest.importorskip("zarr")
    group = zarr.open_group(str(path), mode="w")
    create = getattr(group, "create_array", None) or group.create_dataset
    create("X", data=X, chunks=(1234, X.shape[1]))
    create("y", data=y, chunks=(5000,))


def _write_every_format(folder, frame, X, y):
    table = pa.Table.from_pandas(frame, preserve_index=False)
    paths = {}
    paths["parquet"] = folder / "d.parquet"
    pq.write_table(table, paths["parquet"], row_group_size=777, compression="snappy")
    paths["csv"] = folder / "d.csv"
    pa_csv.write_csv(table, paths["csv"])
    paths["csv.gz"] = folder / "d.csv.gz"
    with gzip.open(paths["csv.gz"], "wb") as handle:
        handle.write(paths["csv"].read_bytes())
    paths["feather"] = folder / "d.feather"
    feather.write_feather(table, paths["feather"], chunksize=1500)  # lz4-compressed batches
    paths["arrow"] = folder / "d.arrow"
    with pa.ipc.new_file(paths["arrow"], table.schema) as writer:
        writer.write_table(table, max_chunksize=3001)
    paths["arrows"] = folder / "d.arrows"
    with pa.ipc.new_stream(paths["arrows"], table.schema) as writer:
        writer.write_table(table, max_chunksize=999)
    paths["h5"] = folder / "d.h5"
    with h5py.File(paths["h5"], "w") as handle:
        handle.create_dataset("X", data=X, chunks=(500, N_FEATURES))
        handle["y"] = y
    return paths


def test_every_format_and_table_type_gives_the_same_tree(tmp_path):
    polars = pytest.importorskip("polars")
    X, y, frame = _table()
    reference = _tree().build(X, y)
    for name, path in _write_every_format(tmp_path, frame, X, y).items():
        tree = _tree().build_from_file(path)
        assert_same_tree(tree, reference)
        assert tree.get_coreset().X.dtype == np.float64, name
        if name != "h5":
            assert tree.feature_names_in_.tolist() == ["f0", "f1", "f2", "f3"]
            assert tree.get_coreset().feature_names == ("f0", "f1", "f2", "f3")
    _zarr_group(tmp_path / "d.zarr", X, y)
    assert_same_tree(_tree().build_from_file(tmp_path / "d.zarr"), reference)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for data in (frame, polars.from_pandas(frame), table, table.to_batches(max_chunksize=10**6)[0]):
        assert_same_tree(_tree().build(data, "y"), reference)
    assert_same_tree(_tree().build(frame.drop(columns="y"), frame["y"]), reference)
    half = _tree().build(frame.iloc[:5000], "y").partial_build(table.slice(5000), "y")
    assert_same_tree(half, _tree().build(X[:5000], y[:5000]).partial_build(X[5000:], y[5000:]))


def test_format_argument_suffixes_and_file_signatures(tmp_path):
    X, y, frame = _table(n=3000)
    frame.to_parquet(tmp_path / "data.bin")
    reference = _tree().build(X, y)
    assert_same_tree(_tree().build_from_file(tmp_path / "data.bin"), reference)  # "PAR1" signature
    frame.to_csv(tmp_path / "data.txt", index=False)
    assert_same_tree(_tree().build_from_file(tmp_path / "data.txt", format="csv"), reference)
    frame.to_csv(tmp_path / "data.tsv", sep="\t", index=False)
    assert_same_tree(_tree().build_from_file(tmp_path / "data.tsv"), reference)
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        _tree().build_from_file(tmp_path / "data.txt")
    with pytest.raises(ValueError, match=r"'format' parameter of build_from_file must be one of "
                                         r"\['arrow', 'csv', 'hdf5', 'parquet', 'zarr'\]"):  # fmt: skip
        _tree().build_from_file(tmp_path / "data.txt", format="excel")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(ValueError, match="not a readable Parquet file"):
        _tree().build_from_file(tmp_path / "broken.parquet")


def test_feature_columns_by_name(tmp_path):
    X, y, frame = _table()
    frame.insert(0, "id", np.arange(N_ROWS) * 7.0)
    frame.to_parquet(tmp_path / "d.parquet")
    tree = _tree().build_from_file(tmp_path / "d.parquet", x=["f3", "f1"])
    assert_same_tree(tree, _tree().build(X[:, [3, 1]], y))
    assert tree.feature_names_in_.tolist() == ["f3", "f1"]
    with pytest.raises(KeyError, match=r"feature columns \['nope'\] were not found.*'id', 'f0'"):
        _tree().build_from_file(tmp_path / "d.parquet", x=["f0", "nope"])
    with pytest.raises(KeyError, match="label column 'label' was not found"):
        _tree().build_from_file(tmp_path / "d.parquet", y="label")
    with pytest.raises(ValueError, match="label column 'y' is also listed"):
        _tree().build_from_file(tmp_path / "d.parquet", x=["f0", "y"])


def test_csv_type_change_mid_file_names_the_column_and_row(tmp_path, monkeypatch):
    from coreset_engine.readers import _csv

    monkeypatch.setattr(_csv, "BLOCK_BYTES", 1 << 18)  # types from the first ~3,000 rows
    *_, frame = _table(n=200_000)
    frame["f0"] = frame["f0"].round(0).astype(np.int64)  # ints first ...
    frame["f0"] = frame["f0"].astype(object)
    frame.loc[150_000, "f0"] = 2.5  # ... a decimal later: still numbers, read as float64
    frame.to_csv(tmp_path / "ok.csv", index=False)
    tree = _tree(chunk_size=50_000).build_from_file(tmp_path / "ok.csv")
    assert tree.n_samples_ == 200_000
    frame["f2"] = frame["f2"].astype(object)
    frame.loc[180_001, "f2"] = "abc"  # text in a numeric column, far past the first block
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=r"column 'f2' does not keep the type double of its "
                                         r"first rows: row 180001 .*'abc'"):  # fmt: skip
        _tree(chunk_size=50_000).build_from_file(tmp_path / "bad.csv")


def test_read_rows_from_a_picklable_source(tmp_path):
    X, y, frame = _table()
    paths = _write_every_format(tmp_path, frame, X, y)
    _zarr_group(tmp_path / "d.zarr", X, y)
    paths["zarr"] = tmp_path / "d.zarr"
    tree = _tree().build(frame, "y")
    for name, path in paths.items():
        built = _tree().build_from_file(path)
        source = built._state.segments[0].source
        assert isinstance(source, FileSource)
        source = pickle.loads(pickle.dumps(source))
        if name in ("csv", "csv.gz", "arrows"):
            with pytest.raises(NotImplementedError, match="in order"):
                source.read_rows(10, 20)
            continue
        features, labels = source.read_rows(1500, 4100)
        X_part, codes = built._state.encode_rows(features, labels, 1500)
        np.testing.assert_array_equal(X_part, X[1500:4100])
        np.testing.assert_array_equal(codes, y[1500:4100])
        np.testing.assert_array_equal(tree.transform(frame.iloc[1500:4100]), X[1500:4100])


def test_iter_source_chunks_and_save_load_for_any_format(tmp_path):
    _, y, frame = _table()
    frame["color"] = np.array(["red", "green", None, "blue"], dtype=object)[np.arange(N_ROWS) % 4]
    frame.to_parquet(tmp_path / "d.parquet", row_group_size=1000)
    tree = _tree().build_from_file(tmp_path / "d.parquet")
    expected = tree.transform(frame)
    chunks = [(start, part.copy(), codes) for start, part, codes in tree.iter_source_chunks(700)]
    np.testing.assert_array_equal(np.concatenate([c[1] for c in chunks]), expected)
    np.testing.assert_array_equal(np.concatenate([c[2] for c in chunks]), y)
    tree.save(tmp_path / "tree.h5")
    loaded = CoresetTree.load(tmp_path / "tree.h5")
    np.testing.assert_array_equal(
        np.concatenate([part.copy() for _, part, _ in loaded.iter_source_chunks()]), expected
    )
    with pytest.raises(ValueError, match="would destroy the input"):
        tree.save(tmp_path / "d.parquet")


def test_parquet_build_streams_with_bounded_memory(tmp_path):
    """Peak Arrow memory of a build does not grow with the file: the same for 1.2M and 2.4M
    rows (pyarrow's default pre-buffering held the whole file by the end of a pass)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(2_400_000, 8)), columns=[f"f{i}" for i in range(8)])
    frame["y"] = (frame["f0"] > 0).astype(np.int64)
    frame.iloc[:1_200_000].to_parquet(tmp_path / "small.parquet", row_group_size=100_000)
    frame.to_parquet(tmp_path / "big.parquet", row_group_size=100_000)
    del frame
    code = (
        "import json, sys, pyarrow as pa\n"
        "from coreset_engine import CoresetTree\n"
        "tree = CoresetTree(coreset_size=500, chunk_size=200_000, random_state=0)\n"
        "tree.build_from_file(sys.argv[1])\n"
        "print(json.dumps({'peak': pa.default_memory_pool().max_memory(),"
        " 'rows': tree.n_samples_}))\n"
    )
    peaks = []
    for name, rows in (("small", 1_200_000), ("big", 2_400_000)):
        result = subprocess.run([sys.executable, "-c", code, str(tmp_path / f"{name}.parquet")],
                                capture_output=True, text=True, check=True)  # fmt: skip
        measured = json.loads(result.stdout.strip().splitlines()[-1])
        assert measured["rows"] == rows
        peaks.append(measured["peak"])
    assert peaks[1] < 1.2 * peaks[0], peaks
    assert peaks[1] < 2_400_000 * 9 * 8 / 2, peaks  # a few 200,000-row chunks, not the file


def test_a_registered_reader_is_used_by_suffix(tmp_path):
    @register_reader("npz-test", (".npz",))
    class NpzReader(Reader):
        kind = "array"

        def __init__(self, source):
            super().__init__(source)
            with np.load(source.path) as data:
                self.X, self.y = data[source.x], data[source.y]
            self.n_columns, self.dtype = self.X.shape[1], self.X.dtype

        @property
        def n_rows(self):
            return self.X.shape[0]

        def iter_labels(self, columns=()):
            yield 0, self.y, {}

        def iter_chunks(self, chunk_size, encoder):
            for start in range(0, self.n_rows, chunk_size):
                yield start, self.X[start : start + chunk_size], self.y[start : start + chunk_size]

    try:
        X, y, _ = _table(n=3000)
        np.savez(tmp_path / "d.npz", X=X, y=y)
        assert "npz-test" in available_formats()
        assert_same_tree(_tree().build_from_file(tmp_path / "d.npz"), _tree().build(X, y))
    finally:
        from coreset_engine.readers import _base

        _base._READERS.pop("npz-test")
        _base._SUFFIXES.pop(".npz")


def test_csv_text_among_numbers_in_the_first_rows_is_an_error_not_a_category(tmp_path):
    *_, frame = _table(n=3000)
    frame["f2"] = frame["f2"].astype(object)
    frame.loc[123, "f2"] = "abc"
    frame.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(ValueError, match=r"column 'f2' holds numbers in most of its first rows "
                                         r"but 'abc' in row 123.*categorical_features"):  # fmt: skip
        _tree().build_from_file(tmp_path / "d.csv")
    tree = _tree(categorical_features=["f2"]).build_from_file(tmp_path / "d.csv")
    assert (
        "f2_abc" not in tree.get_feature_names_out()
        and "f2_<other>" in tree.get_feature_names_out()
    )
