"""Trees built on Dask: the same tree as a local build on any cluster, faults, memory, inputs."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from coreset_engine import CoresetTree
from coreset_engine._labels import LabelPass
from coreset_engine.datasets import write_hdf5

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
from distributed import Client, LocalCluster

from coreset_engine import _dask, _dask_tasks
from coreset_engine._build import Node

pytestmark = pytest.mark.timeout(300)

SETTINGS = {"coreset_size": 400, "chunk_size": 3000, "random_state": 4}


def _data(n=20_000, d=6, seed=0, dtype=np.float32, n_classes=3):
    rng = np.random.default_rng(seed)
    X = (rng.standard_t(df=4, size=(n, d)) * np.arange(1, d + 1)).astype(dtype)
    y = np.digitize(X[:, 0] + rng.normal(size=n), [-0.5, 1.5][: n_classes - 1]).astype(np.int64)
    return X, y


def _same_tree(a: CoresetTree, b: CoresetTree) -> None:
    """Every node equal bit for bit, in the same order, with the same children."""
    sa, sb = a._state, b._state
    assert (sa.n_rows, sa.n_leaves, sa.root, sa.stack) == (
        sb.n_rows,
        sb.n_leaves,
        sb.root,
        sb.stack,
    )
    assert len(sa.nodes) == len(sb.nodes)
    for na, nb in zip(sa.nodes, sb.nodes):
        assert (na.first_leaf, na.last_leaf, na.height, na.children, na.spine) == (
            nb.first_leaf,
            nb.last_leaf,
            nb.height,
            nb.children,
            nb.spine,
        )
        for field in ("indices", "X", "y", "weights"):
            assert getattr(na, field).tobytes() == getattr(nb, field).tobytes(), field
        assert na.stats.gram.tobytes() == nb.stats.gram.tobytes()
        np.testing.assert_array_equal(na.stats.class_counts, nb.stats.class_counts)


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module")
def local_tree(data):
    return CoresetTree(**SETTINGS).build(*data)


@pytest.fixture
def threads_client():
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def process_client():
    """Three single-threaded worker processes (the one slow fixture: processes start in
    seconds)."""
    with (
        LocalCluster(
            n_workers=3, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(lambda: __import__("coreset_engine._dask"))  # imports before the timed part
        yield client


def _dask_input(data, row_chunks=2500, column_chunks=4):
    X, y = data
    return da.from_array(X, chunks=(row_chunks, column_chunks)), da.from_array(y, chunks=3500)


@pytest.mark.parametrize("scheduler", ["threads", "sync"])
def test_dask_array_without_a_client_equals_the_local_build(data, local_tree, scheduler):
    import dask

    X, y = _dask_input(data)  # blocks misaligned with the leaves, two blocks of columns
    with dask.config.set(scheduler=scheduler):
        tree = CoresetTree(**SETTINGS).build(X, y)
    _same_tree(local_tree, tree)
    assert tree._dask_summary.scheduler != "distributed"


@pytest.mark.parametrize("n_workers", [1, 2, 4])
def test_same_tree_on_1_2_4_threaded_workers(data, local_tree, n_workers):
    with (
        LocalCluster(
            n_workers=n_workers, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        tree = CoresetTree(**SETTINGS).build(*_dask_input(data, row_chunks=3000))
    _same_tree(local_tree, tree)
    assert tree._dask_summary.scheduler == "distributed"


def test_same_tree_on_worker_processes_from_an_array_and_a_file(
    data, local_tree, tmp_path, process_client
):
    tree = CoresetTree(**SETTINGS).build(*_dask_input(data), client=process_client)
    _same_tree(local_tree, tree)
    path = tmp_path / "data.h5"
    write_hdf5(path, *data, dtype=np.float32, chunk_rows=1000)
    from_file = CoresetTree(**SETTINGS).build_from_file(path, client=process_client)
    _same_tree(local_tree, from_file)
    assert from_file._state.segments[0].path == str(path)


def test_killed_worker_process_does_not_change_the_tree(tmp_path, process_client):
    X, y = _data(n=60_000, d=20)
    path = tmp_path / "data.h5"
    write_hdf5(path, X, y, dtype=np.float32, chunk_rows=2000)
    settings = {"coreset_size": 500, "chunk_size": 4000, "random_state": 1}
    expected = CoresetTree(**settings).build(X, y)
    pids = process_client.run(os.getpid)
    killed = []

    def kill_a_busy_worker(rows):  # after the first leaf: most tasks are still to run
        busy = [worker for worker, keys in process_client.processing().items() if keys]
        if killed or not busy:
            return
        killed.append(busy[0])
        os.kill(pids[busy[0]], signal.SIGKILL)

    tree = CoresetTree(**settings)
    _dask.build_file(tree, path, "X", "y", client=process_client, on_leaf=kill_a_busy_worker)
    assert killed and tree.n_leaves_ == 15
    _same_tree(expected, tree)
    process_client.wait_for_workers(3, timeout=120)  # the nanny restarts it for later tests
    assert pids[killed[0]] not in process_client.run(os.getpid).values()


def test_build_from_file_uses_the_active_client_unless_told_not_to(
    data, local_tree, tmp_path, threads_client
):
    path = tmp_path / "data.h5"
    write_hdf5(path, *data, dtype=np.float32, chunk_rows=700)
    on_dask = CoresetTree(**SETTINGS).build_from_file(path, progress=True)
    assert on_dask._dask_summary.scheduler == "distributed"
    assert on_dask.build_seconds_ > 0
    _same_tree(local_tree, on_dask)
    local = CoresetTree(**SETTINGS).build_from_file(path, client=False)
    assert not hasattr(local, "_dask_summary")
    _same_tree(local_tree, local)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        CoresetTree(**SETTINGS).build_from_file(tmp_path / "missing.h5")


def test_h5py_dataset_as_dask_array_on_processes(data, local_tree, tmp_path, process_client):
    import h5py

    path = tmp_path / "data.h5"
    write_hdf5(path, *data, dtype=np.float32, chunk_rows=1000)
    with h5py.File(path, "r") as handle:
        X = da.from_array(handle["X"], chunks=(3000, -1))
        y = da.from_array(handle["y"], chunks=3000)
        tree = CoresetTree(**SETTINGS).build(X, y, client=process_client)
    _same_tree(local_tree, tree)


def test_dataframes_columns_and_persisted_arrays(data, local_tree, threads_client):
    import pandas as pd

    dd = pytest.importorskip("dask.dataframe")
    X, y = data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])]).assign(label=y)
    ddf = dd.from_pandas(frame, npartitions=7)  # partition lengths unknown to the arrays
    features = ddf.drop(columns=["label"])
    _same_tree(local_tree, CoresetTree(**SETTINGS).build(features, ddf["label"]))
    _same_tree(local_tree, CoresetTree(**SETTINGS).build(ddf, "label"))
    X_kept, y_kept = (array.persist() for array in _dask_input(data))
    _same_tree(local_tree, CoresetTree(**SETTINGS).build(X_kept, y_kept))
    unknown = da.from_array(X, chunks=(5000, -1))
    unknown = unknown[unknown[:, 0] < np.inf]  # boolean mask: row chunks of unknown size
    assert np.isnan(unknown.chunks[0][0])
    _same_tree(local_tree, CoresetTree(**SETTINGS).build(unknown, y))


def test_partial_build_on_dask_and_locally_and_save_load(data, tmp_path, threads_client):
    X, y = data
    whole = CoresetTree(**SETTINGS).build(X, y)
    on_dask = CoresetTree(**SETTINGS).build(X[:9000], y[:9000])
    on_dask.partial_build(da.from_array(X[9000:15000], chunks=2000), da.from_array(y[9000:15000]))
    on_dask.partial_build(X[15000:], y[15000:])  # a local append to a tree grown on Dask
    _same_tree(whole, on_dask)
    built = CoresetTree(**SETTINGS).build(*_dask_input((X[:12000], y[:12000])))
    built.save(tmp_path / "tree.h5")
    loaded = CoresetTree.load(tmp_path / "tree.h5")
    loaded.partial_build(da.from_array(X[12000:]), da.from_array(y[12000:]))
    _same_tree(whole, loaded)
    assert len(loaded.get_coreset(1)) == len(whole.get_coreset(1))


def test_bad_rows_fail_with_the_local_error_and_leave_the_tree_unchanged(data, threads_client):
    X, y = data
    bad = X.copy()
    bad[10_123, 2] = np.nan  # in the fourth leaf, on a worker
    with pytest.raises(ValueError) as local_error:
        CoresetTree(**SETTINGS).build(bad, y)
    with pytest.raises(ValueError) as dask_error:
        CoresetTree(**SETTINGS).build(*_dask_input((bad, y)))
    assert str(dask_error.value) == str(local_error.value)
    assert "row 10123" in str(dask_error.value)

    tree = CoresetTree(**SETTINGS).build(X[:6000], y[:6000])
    before = [node.weights.tobytes() for node in tree._state.nodes]
    with pytest.raises(ValueError) as local_error:
        CoresetTree(**SETTINGS).build(X[:6000], y[:6000]).partial_build(bad[6000:], y[6000:])
    with pytest.raises(ValueError) as dask_error:
        tree.partial_build(*_dask_input((bad[6000:], y[6000:])))
    assert str(dask_error.value) == str(local_error.value)
    assert "row 4123 of the rows passed to partial_build (row 10123" in str(dask_error.value)
    labels = y[6000:].copy()
    labels[2000] = 7
    with pytest.raises(ValueError) as local_error:
        CoresetTree(**SETTINGS).build(X[:6000], y[:6000]).partial_build(X[6000:], labels)
    with pytest.raises(ValueError) as dask_error:
        tree.partial_build(*_dask_input((X[6000:], labels)))
    assert str(dask_error.value) == str(local_error.value)
    assert "label 7 in row 2000 of the rows passed to partial_build (row 8000 " in str(
        dask_error.value
    )
    assert tree.n_samples_ == 6000
    assert [node.weights.tobytes() for node in tree._state.nodes] == before

    labels = y.astype(float)
    labels[15_000] = 0.5
    for build in (
        lambda: CoresetTree(**SETTINGS).build(X, labels),
        lambda: CoresetTree(**SETTINGS).build(*_dask_input((X, labels))),
    ):
        with pytest.raises(ValueError, match="looks continuous: it holds 0.5 in row 15000"):
            build()
    for build in (
        lambda: CoresetTree(**SETTINGS, n_classes=2).build(X, y),
        lambda: CoresetTree(**SETTINGS, n_classes=2).build(*_dask_input(data)),
    ):
        with pytest.raises(ValueError, match=r"0\.\.1 \(n_classes=2\). Got label 2"):
            build()


def test_only_nodes_and_label_counts_reach_the_client(
    data, local_tree, threads_client, monkeypatch
):
    received = []
    compute = _dask._Runner.compute

    def spy(self, handles, on_result=None):
        results = compute(self, handles, on_result)
        received.extend(results)
        return results

    monkeypatch.setattr(_dask._Runner, "compute", spy)
    X, y = _dask_input(data)
    tree = CoresetTree(**SETTINGS).build(X, y)
    nodes = [r for r in received if isinstance(r, Node)]
    counts = [r for r in received if not isinstance(r, Node)]
    assert len(nodes) == len(tree._state.nodes)
    # one first-pass summary per label block: the distinct labels and their counts, no rows
    assert all(isinstance(c, LabelPass) and len(c.counter.counts) <= 3 for c in counts)
    assert len(counts) == len(y.chunks[0])
    node_bytes = sum(_dask_tasks.node_nbytes(node) for node in tree._state.nodes)
    summary = tree._dask_summary
    assert node_bytes <= summary.bytes_to_client <= node_bytes + 64 * len(counts)
    assert summary.results_to_client == len(received)
    assert summary.tasks >= len(tree._state.nodes)


def test_workers_hold_few_chunks_and_tasks_are_named_for_the_dashboard(tmp_path):
    """Leaves read their own rows: with 2 one-thread workers, at most ~2 chunks' reads run or
    wait at a time (root-task queuing); the dashboard's task stream shows our task names."""
    X, y = _data(n=40_000)
    path = tmp_path / "data.h5"
    write_hdf5(path, X, y, dtype=np.float32, chunk_rows=1000)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        most_in_flight = []

        def watch(rows):
            most_in_flight.append(sum(len(keys) for keys in client.processing().values()))

        with distributed.get_task_stream(client) as stream:
            tree = CoresetTree(coreset_size=300, chunk_size=2000, random_state=0)
            _dask.build_file(tree, path, "X", "y", client=client, on_leaf=watch)
    from dask.utils import key_split

    names = {key_split(task["key"]) for task in stream.data}
    assert {"coreset-leaf", "coreset-merge", "coreset-spine"} <= names  # 20 leaves: a spine
    assert max(most_in_flight) <= 2 * 2 + 2  # ceil(1.1 x threads) per worker, and merges


def test_iter_source_chunks_streams_dask_inputs_back_and_forgets_dropped_ones(data, threads_client):
    X, y = data
    X_dask, y_dask = _dask_input(data)
    tree = CoresetTree(**SETTINGS).build(X_dask, y_dask)
    chunks = list(tree.iter_source_chunks(chunk_size=7000))
    assert [start for start, _, _ in chunks] == [0, 7000, 14000]
    np.testing.assert_array_equal(np.concatenate([c for _, c, _ in chunks]), X)
    np.testing.assert_array_equal(np.concatenate([labels for _, _, labels in chunks]), y)
    del X_dask, y_dask
    gc.collect()
    with pytest.raises(RuntimeError, match="dask collections that no longer exist"):
        next(tree.iter_source_chunks())


def test_in_memory_data_with_a_client_is_refused(data, threads_client):
    with pytest.raises(ValueError, match="'client' argument of CoresetTree.build"):
        CoresetTree(**SETTINGS).build(*data, client=threads_client)


def test_the_engine_builds_without_importing_dask(tmp_path):
    X, y = _data(n=3000)
    path = tmp_path / "data.h5"
    write_hdf5(path, X, y, dtype=np.float32)
    code = (
        "import sys\n"
        "from coreset_engine import CoresetTree\n"
        f"CoresetTree(coreset_size=200, chunk_size=1000).build_from_file({str(path)!r})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"


def test_any_random_access_format_builds_on_workers_with_its_encoders(tmp_path, threads_client):
    """A Parquet file with string labels and a categorical column: a worker makes the first
    pass (classes and category encoder), leaves read their own row groups; the tree, its
    classes and encoding equal the local build's. CSV (no random access) is a clear error."""
    import pandas as pd

    rng = np.random.default_rng(4)
    n = 30_000
    frame = pd.DataFrame({
        "amount": rng.exponential(size=n),
        "channel": rng.choice(["web", "shop", "phone", None], n),
        "score": rng.normal(size=n),
    })
    frame["outcome"] = np.where(frame["amount"] + rng.normal(size=n) > 1, "buy", "skip")
    frame.to_parquet(tmp_path / "sales.parquet", row_group_size=7_000)
    frame.to_csv(tmp_path / "sales.csv", index=False)
    local = CoresetTree(**SETTINGS).build_from_file(tmp_path / "sales.parquet", y="outcome",
                                                    client=False)  # fmt: skip
    on_dask = CoresetTree(**SETTINGS).build_from_file(tmp_path / "sales.parquet", y="outcome",
                                                      client=threads_client)  # fmt: skip
    _same_tree(local, on_dask)
    assert list(on_dask.classes_) == ["buy", "skip"]
    assert list(on_dask.get_feature_names_out()) == list(local.get_feature_names_out())
    streamed = np.concatenate([X.copy() for _, X, _ in on_dask.iter_source_chunks()])
    np.testing.assert_array_equal(streamed, local.transform(frame))
    with pytest.raises(ValueError, match="cannot be read from the middle"):
        CoresetTree(**SETTINGS).build_from_file(tmp_path / "sales.csv", y="outcome",
                                                client=threads_client)  # fmt: skip
