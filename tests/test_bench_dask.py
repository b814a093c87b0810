"""``benchmarks/bench_dask``: the machine's ceiling for the 2-worker speedup."""

import h5py
import numpy as np

from benchmarks import bench_dask
from coreset_engine.synthetic import make_synthetic


def test_ceiling_times_one_and_two_independent_processes(tmp_path):
    X, y = make_synthetic(24_000, random_state=0)
    path = str(tmp_path / "rows.h5")
    with h5py.File(path, "w") as handle:
        handle["X"], handle["y"] = X, y.astype(np.int64)
    result = bench_dask.ceiling(path, 500, 6_000, 2, lead_seconds=3)
    assert result["leaves"] == 2 and len(result["two"]) == 2
    assert all(
        run["seconds"] > 0 and run["cpu_seconds"] > 0 for run in [result["one"], *result["two"]]
    )
    assert 0 < result["ratio"] < 4
