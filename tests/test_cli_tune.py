"""Tests of the ``coreset-engine tune`` command (coreset_cli._tune)."""

from __future__ import annotations

import click
import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from coreset_cli._tune import parse_grid, tune_command
from coreset_engine import CoresetTree


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
    assert "4 candidates" in result.output and result.output.count(" C=") == 3
    assert "np.float64" not in result.output  # parameters print as plain numbers
    best = next(line for line in result.output.splitlines() if line.startswith("best:"))
    assert float(best.split()[1].removeprefix("C=")) > 0


def test_torch_backend_picks_like_sklearn(files):
    pytest.importorskip("torch")
    picks, scores = [], []
    for backend in ("sklearn", "torch"):
        result = CliRunner().invoke(
            tune_command,
            [str(files / "tree.h5"), "--grid", "C=0.001,0.01,0.1,1,10", "--cv", "3",
             "--backend", backend, "--top", "5"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        best = next(line for line in result.output.splitlines() if line.startswith("best:"))
        picks.append(best.split()[1])
        table = result.output.splitlines()[3:8]
        scores.append({line.split()[-1]: float(line.split()[1]) for line in table})
    assert picks[0] == picks[1]
    # the same CV scores, up to pairs of rows whose order flips between scikit-learn's lbfgs
    # (stopped at its default tol 1e-4) and the torch backend's Newton solve: on a 200-row
    # weighted fold, one flipped pair moves the AUC by about 1e-4
    assert scores[0].keys() == scores[1].keys() and len(scores[0]) == 5
    for params, score in scores[0].items():
        assert abs(score - scores[1][params]) < 1e-3, (params, score, scores[1][params])
    result = CliRunner().invoke(
        tune_command, [str(files / "tree.h5"), "--model", "mlp", "--grid", "alpha=0.1",
                       "--backend", "torch"],
    )  # fmt: skip
    assert result.exit_code == 2 and "logistic regression only" in result.output


def test_halving_table_shows_each_rows_round_and_level(files):
    result = CliRunner().invoke(
        tune_command,
        [str(files / "tree.h5"), "--search", "halving", "--grid", "C=0.001,0.01,0.1,1,10",
         "--cv", "2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split()[:3] == ["rank", "round", "level"]
    rows = [line.split() for line in lines[3:] if line[:4].strip().isdigit()]
    rounds = [int(row[1]) for row in rows]
    assert rounds == sorted(rounds, reverse=True) and rounds[-1] == 0 and rounds[0] >= 1
    assert [int(row[2]) for row in rows if row[1] == "0"] == [0] * rounds.count(0)


def test_any_importable_estimator_is_a_model(files):
    result = CliRunner().invoke(
        tune_command,
        [str(files / "tree.h5"), "--model", "sklearn.ensemble.HistGradientBoostingClassifier",
         "--grid", "max_iter=10,30 learning_rate=0.1", "--cv", "2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 candidates" in result.output and "FAILED" not in result.output
    assert "learning_rate=0.1 max_iter=30" in result.output


def test_progress_bar_by_default_on_a_terminal(files, monkeypatch):
    import coreset_cli._tune

    args = [str(files / "tree.h5"), "--grid", "C=0.1,1", "--cv", "2"]
    assert "fit/s" not in CliRunner().invoke(tune_command, args).stderr  # not a terminal
    monkeypatch.setattr(coreset_cli._tune, "_progress_shown", lambda: True)
    shown = CliRunner().invoke(tune_command, args)
    assert shown.exit_code == 0 and "4/4" in shown.stderr  # 2 candidates x 2 folds
    hidden = CliRunner().invoke(tune_command, [*args, "--no-progress"])
    assert hidden.exit_code == 0 and "4/4" not in hidden.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--grid", "nonsense=1"], "Invalid parameter 'nonsense'"),
        (["--grid", "C=-1,-2"], "All 2 candidates of GridSearch failed"),
        (["--grid", "C=0.1", "--model", "sklearn.nope.Model"], "cannot import 'sklearn.nope'"),
        (["--grid", "C=0.1", "--model", "sklearn.ensemble.Nope"], "no estimator class 'Nope'"),
        (["--grid", "C=0.1", "--model", "logistics"], "an importable estimator class"),
        (["--grid", "n_neighbors=3", "--model", "sklearn.neighbors.KNeighborsClassifier"],
         "must accept sample_weight"),
        (["--grid", "C=0.1", "--test", "missing.h5"], "'missing.h5' does not exist"),
        (["--grid", "C=0.1", "--cv", "leaves", "--level", "9"], "level"),
    ],
)  # fmt: skip
def test_errors_are_one_line_without_a_traceback(files, args, message):
    result = CliRunner().invoke(tune_command, [str(files / "tree.h5"), *args])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_a_missing_or_wrong_tree_file_is_one_line(files, tmp_path):
    for path, message in ((tmp_path / "none.h5", "does not exist"),
                          (files / "test.h5", "is not a saved CoresetTree")):  # fmt: skip
        result = CliRunner().invoke(tune_command, [str(path), "--grid", "C=1"])
        assert result.exit_code == 1 and result.output.startswith("Error: ")
        assert message in result.output and len(result.output.strip().splitlines()) == 1


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


@pytest.fixture(scope="module")
def regression_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tune_regression")
    rng = np.random.default_rng(1)
    X = rng.standard_t(4, size=(12_000, 4)).astype(np.float32)
    y = X.astype(np.float64) @ [2.0, -1.0, 0.5, 0.0] + rng.normal(size=12_000) + 3
    with h5py.File(folder / "train.h5", "w") as handle:  # float targets: no write_hdf5
        handle["X"] = X[:10_000]
        handle["y"] = y[:10_000]
    with h5py.File(folder / "test.h5", "w") as handle:
        handle["X"] = X[10_000:]
        handle["y"] = y[10_000:]
    return folder


def test_build_and_tune_a_linear_regression_tree(regression_files):
    from coreset_cli import main

    folder = regression_files
    runner = CliRunner()
    built = runner.invoke(main, ["build", str(folder / "train.h5"), "--task", "linear_regression",
                                 "--size", "500", "--chunk-size", "4000",
                                 "--out", str(folder / "tree.h5")])  # fmt: skip
    assert built.exit_code == 0, built.output
    assert "task            linear_regression" in built.output
    assert "target          continuous" in built.output and "classes" not in built.output
    tree = CoresetTree.load(folder / "tree.h5")
    assert tree.task == "linear_regression" and tree.get_coreset().y.dtype == np.float64
    # defaults: ridge, scored by r2 on plain KFold
    tuned = runner.invoke(tune_command, [str(folder / "tree.h5"), "--grid", "alpha=0.1,10",
                                         "--cv", "3", "--test", str(folder / "test.h5")])  # fmt: skip
    assert tuned.exit_code == 0, tuned.output
    assert "grid search of ridge" in tuned.output
    assert 0.8 < float(tuned.output.splitlines()[-1].split()[-1]) <= 1.0  # test r2
    # a tree model's regressor by the tree's task, another regression scorer
    hgb = runner.invoke(tune_command, [str(folder / "tree.h5"), "--model", "hgb", "--grid",
                                       "max_iter=20,40", "--scoring",
                                       "neg_root_mean_squared_error", "--cv", "2"])  # fmt: skip
    assert hgb.exit_code == 0, hgb.output
    assert "cv neg_root_mean_squared_error" in hgb.output
    wrong = runner.invoke(tune_command, [str(folder / "tree.h5"), "--model", "logistic",
                                         "--grid", "C=1"])  # fmt: skip
    assert wrong.exit_code != 0
    assert "is a classifier" in wrong.output and "linear_regression" in wrong.output


def test_tree_model_short_names_pick_the_classifier_for_a_labels_tree(files):
    result = CliRunner().invoke(
        tune_command,
        [str(files / "tree.h5"), "--model", "random_forest", "--grid", "n_estimators=10,20",
         "--cv", "2", "--test", str(files / "test.h5"), "--x", "features", "--y", "labels"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert 0.7 < float(result.output.splitlines()[-1].split()[-1]) <= 1.0
