"""The command line: build, demo."""

import gzip
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from coreset_engine import CoresetTree
from coreset_engine.cli import main
from coreset_engine.datasets import write_hdf5

KDD = Path(__file__).resolve().parent.parent / "data" / "kddcup99_10pct" / "kddcup.data_10_percent.gz"


def test_build_writes_a_tree_and_prints_a_summary(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30_000, 6)).astype(np.float32)
    y = (X[:, 0] + rng.normal(size=30_000) > 1).astype(np.int64)
    write_hdf5(tmp_path / "d.h5", X, y)
    result = CliRunner().invoke(main, ["build", str(tmp_path / "d.h5"), "--size", "1000",
                                       "--chunk-size", "10000", "--out", str(tmp_path / "t.h5")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "30,000 x 6 features" in result.output and "depth 2" in result.output
    tree = CoresetTree.load(tmp_path / "t.h5")
    assert len(tree.get_coreset()) == 1000 and tree.n_samples_ == 30_000


def test_build_reports_bad_input_without_a_traceback(tmp_path):
    result = CliRunner().invoke(main, ["build", str(tmp_path / "none.h5"), "--out", "t.h5"])
    assert result.exit_code != 0
    assert "does not exist" in result.output and "Traceback" not in result.output
    rng = np.random.default_rng(0)
    write_hdf5(tmp_path / "d.h5", rng.normal(size=(100, 2)), np.arange(100) % 2)
    result = CliRunner().invoke(main, ["build", str(tmp_path / "d.h5"), "--x", "nope",
                                       "--out", str(tmp_path / "t.h5")])  # fmt: skip
    assert result.exit_code != 0 and "'nope' was not found" in result.output
    assert not (tmp_path / "t.h5").exists()


@pytest.mark.skipif(not KDD.exists(), reason="bundled KDD file missing")
def test_demo_runs_end_to_end_on_a_slice_of_kdd(tmp_path):
    folder = tmp_path / "kddcup99_10pct"
    folder.mkdir()
    with gzip.open(KDD, "rt") as source, gzip.open(folder / KDD.name, "wt") as target:
        for number, line in enumerate(source):
            if number % 25 == 0:  # every 25th row: 19,761 rows, both classes
                target.write(line)
    result = CliRunner().invoke(main, ["demo", "--size", "1000", "--chunk-size", "5000",
                                       "--data-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("full data") for line in lines)
    coreset_line = next(line for line in lines if line.startswith("coreset"))
    assert float(coreset_line.split()[-1]) > 0.95  # test AUC
    assert (tmp_path / "kddcup99.h5").exists()
