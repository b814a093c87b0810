"""Tests of the ``coreset-engine tune`` command (tuners._cli)."""

from __future__ import annotations

import click
import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from coreset_engine import CoresetTree
from tuners._cli import parse_grid, tune_command


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tune")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12_000, 4))
    y = (X[:, 0] + rng.normal(size=12_000) > 0).astype(np.int64)
    CoresetTree(coreset_size=300, chunk_size=3000, random_state=0).build(
        X[:10_000], y[:10_000]
    ).save(folder / "tree.h5")
    with h5py.File(folder / "test.h5", "w") as handle:
        handle["features"] = X[10_000:]
        handle["labels"] = y[10_000:]
    return folder


def test_grid_table_and_test_score(files):
    result = CliRunner().invoke(
        tune_command,
        [str(files / "tree.h5"), "--model", "logistic", "--grid",
         "C=0.01,1 l1_ratio=0,1 solver=lbfgs,liblinear", "--test", str(files / "test.h5"),
         "--x", "features", "--y", "labels", "--cv", "3"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "8 candidates" in lines[0]
    assert lines[1].split()[:3] == ["rank", "cv", "score"]
    ranks = [int(line.split()[0]) for line in lines[3:11]]
    assert ranks == sorted(ranks) and ranks[0] == 1
    assert sum("FAILED" in line for line in lines) == 2  # l1 with lbfgs
    test_line = lines[-1]
    assert test_line.startswith("test roc_auc of the refit best model:")
    assert 0.7 < float(test_line.split()[-1]) <= 1.0


def test_bayes_with_a_range(files):
    result = CliRunner().invoke(
        tune_command,
        [str(files / "tree.h5"), "--search", "bayes", "--grid", "C=1e-3..1e3:log",
         "--n-iter", "4", "--cv", "2", "--top", "2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "4 candidates" in result.output and result.output.count("{'C':") == 3


def test_torch_backend_picks_like_sklearn(files):
    pytest.importorskip("torch")
    picks = []
    for backend in ("sklearn", "torch"):
        result = CliRunner().invoke(
            tune_command,
            [str(files / "tree.h5"), "--grid", "C=0.001,0.01,0.1,1,10", "--cv", "3",
             "--backend", backend],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        picks.append([line for line in result.output.splitlines() if line.startswith("best:")])
    assert picks[0] == picks[1] or abs(
        float(picks[0][0].split()[-1]) - float(picks[1][0].split()[-1])
    ) < 1e-6
    result = CliRunner().invoke(
        tune_command, [str(files / "tree.h5"), "--model", "mlp", "--grid", "alpha=0.1",
                       "--backend", "torch"],
    )  # fmt: skip
    assert result.exit_code == 2 and "logistic regression only" in result.output


def test_bad_grid_is_a_usage_error(files):
    result = CliRunner().invoke(tune_command, [str(files / "tree.h5"), "--grid", "C"])
    assert result.exit_code == 2 and "name=value" in result.output


def test_parse_grid():
    assert parse_grid("C=0.1,10 solver=saga layers=(8,),(8,8)") == {
        "C": [0.1, 10], "solver": ["saga"], "layers": [(8,), (8, 8)]
    }  # fmt: skip
    assert parse_grid("max_iter=10..100") == {"max_iter": (10, 100, "uniform")}
    with pytest.raises(click.BadParameter):
        parse_grid("=1")
