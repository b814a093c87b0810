"""``coreset-engine build --workers N`` and ``--scheduler ADDRESS``: the same tree on Dask."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from coreset_cli import main
from coreset_engine import CoresetTree
from coreset_engine.datasets import write_hdf5

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def data_file(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24_000, 5)).astype(np.float32)
    y = (X[:, 0] + rng.normal(size=24_000) > 0.5).astype(np.int64)
    write_hdf5(tmp_path / "d.h5", X, y)
    return tmp_path / "d.h5"


def _build(data_file, out, *options):
    args = ["build", str(data_file), "--size", "800", "--chunk-size", "5000", "--out", str(out)]
    return CliRunner().invoke(main, [*args, *options])


def _same_nodes(a: CoresetTree, b: CoresetTree) -> None:
    assert len(a._state.nodes) == len(b._state.nodes)
    for na, nb in zip(a._state.nodes, b._state.nodes):
        assert na.weights.tobytes() == nb.weights.tobytes()
        np.testing.assert_array_equal(na.indices, nb.indices)


def test_build_on_a_running_scheduler_saves_the_local_tree(data_file, tmp_path):
    local = _build(data_file, tmp_path / "local.h5", "--quiet")
    assert local.exit_code == 0, local.output
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp", dashboard_address=None) as cluster:  # fmt: skip
        result = _build(data_file, tmp_path / "dask.h5", "--scheduler", cluster.scheduler_address)
    assert result.exit_code == 0, result.output
    assert f"Dask cluster at {cluster.scheduler_address}: 2 workers" in result.output
    assert "24,000 x 5 features" in result.output
    _same_nodes(CoresetTree.load(tmp_path / "local.h5"), CoresetTree.load(tmp_path / "dask.h5"))


def test_build_with_worker_processes(data_file, tmp_path):
    result = _build(data_file, tmp_path / "t.h5", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert "Dask LocalCluster: 2 worker processes" in result.output
    expected = CoresetTree(coreset_size=800, chunk_size=5000, random_state=0)
    _same_nodes(expected.build_from_file(data_file, client=False),
                CoresetTree.load(tmp_path / "t.h5"))  # fmt: skip


def test_cluster_options_errors_are_one_line(data_file, tmp_path, monkeypatch):
    from coreset_engine import _dask

    monkeypatch.setattr(_dask, "CONNECT_TIMEOUT", "1s")
    both = _build(data_file, tmp_path / "t.h5", "--workers", "2", "--scheduler", "tcp://x:1")
    assert both.exit_code != 0 and "not both" in both.output
    assert "Traceback" not in both.output
    nowhere = _build(data_file, tmp_path / "t.h5", "--scheduler", "tcp://127.0.0.1:9")
    assert nowhere.exit_code != 0 and "Could not reach the Dask scheduler" in nowhere.output
    assert not (tmp_path / "t.h5").exists()
