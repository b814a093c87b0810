"""The tree-model benchmark (coreset_cli.bench.models) runs end to end on a small input, and
benchmarks/bench_models.py is the same module."""

from __future__ import annotations

import numpy as np
import pytest

from coreset_cli.bench import models


def test_models_benchmark_on_a_small_synthetic_set():
    results = models.run(("synthetic",), rows=2000, n_iter=2, cv=2, family_names=["hgb"],
                         methods=("uniform", "model_loss"))  # fmt: skip
    record = results["datasets"]["synthetic"]["hgb"]
    assert record["configs"] == 2 and record["rows"] == 2000
    for method in ("uniform", "model_loss"):
        cell = record["coresets"][method]
        assert cell["size"] == 100 and 0.5 < cell["test_auc"] <= 1
        assert np.isclose(cell["regret"], record["full"]["test_auc"] - cell["test_auc"])
        assert cell["pick"] in [{k: v[0] for k, v in grid.items()}
                                for grid in models.candidates(models.families()["hgb"][1], 2)]  # fmt: skip
    text = models.render_markdown(results)
    assert "| synthetic (2,000 rows) | hgb |" in text and "| model_loss |" in text


def test_benchmark_wrappers_are_the_package_modules():
    import benchmarks.bench_models

    assert benchmarks.bench_models is models


def test_projected_full_side_fits_each_configuration_once_and_takes_the_best():
    results = models.run(("synthetic",), rows=2000, n_iter=3, cv=3, family_names=["hgb"],
                         methods=("uniform",), full_side="project")  # fmt: skip
    record = results["datasets"]["synthetic"]["hgb"]
    full = record["full"]
    assert full["projected"] and len(full["refit_seconds"]) == 3
    assert full["seconds"] == pytest.approx(2 * sum(full["refit_seconds"]))  # cv - 1 = 2
    X, y, X_test, y_test = models.load("synthetic", 2000)
    factory, space = models.families()["hgb"]
    aucs = [models._test_auc(factory, {k: v[0] for k, v in one.items()}, X, y, X_test, y_test)
            for one in models.candidates(space, 3)]  # fmt: skip
    assert full["test_auc"] == max(aucs)
    assert record["coresets"]["uniform"]["regret"] >= 0  # against the best of all
    # where the best configuration ranked in the coreset search (1: it was picked)
    cell = record["coresets"]["uniform"]
    assert 1 <= cell["best_config_rank"] <= 3
    assert (cell["best_config_rank"] == 1) == (cell["pick"] == full["pick"])
    text = models.render_markdown(results)
    assert "full side was not searched" in text and "best configuration: test AUC" in text
    assert f"- synthetic, hgb (of 3): uniform {cell['best_config_rank']}" in text
    with pytest.raises(ValueError, match="'full_side' parameter must be one of"):
        models.run(("synthetic",), rows=2000, full_side="guess")


def test_several_seeds_draw_several_coresets_against_one_full_side(capsys):
    results = models.run(("synthetic",), rows=2000, n_iter=3, cv=2, family_names=["hgb"],
                         methods=("sensitivity",), seeds=3)  # fmt: skip
    assert results["meta"]["seeds"] == 3
    record = results["datasets"]["synthetic"]["hgb"]
    cell = record["coresets"]["sensitivity"]
    assert [run["seed"] for run in cell["runs"]] == [0, 1, 2]
    assert len({run["cv_auc"] for run in cell["runs"]}) > 1  # three different coresets
    assert {k: v for k, v in cell.items() if k != "runs"} == cell["runs"][0]
    for run in cell["runs"]:
        assert np.isclose(run["regret"], record["full"]["test_auc"] - run["test_auc"])
    regrets = [run["regret"] for run in cell["runs"]]
    summary = models.summarize(results)["sensitivity"]
    assert summary["cells"] == 3 and summary["worst"] == max(regrets)
    assert summary["median"] == pytest.approx(np.median(regrets))
    text = models.render_markdown(results)
    assert "median regret [worst of 3 seeds]" in text and "drawn 3 times" in text
    assert f"{np.median(regrets):+.4f} [{max(regrets):+.4f}]" in text
    assert "runs (cells x seeds) with regret <= 0.002" in text
    assert "(seed 2)" in capsys.readouterr().out
    with pytest.raises(ValueError, match="'seeds' parameter must be an int >= 1. Got 0"):
        models.run(("synthetic",), rows=2000, seeds=0)


def test_full_search_on_other_folds_measures_its_own_regret(capsys):
    results = models.run(("synthetic",), rows=2000, n_iter=3, cv=2, family_names=["hgb"],
                         methods=("uniform",), full_cv_seeds=2)  # fmt: skip
    full = results["datasets"]["synthetic"]["hgb"]["full"]
    assert [r["fold_seed"] for r in full["other_folds"]] == [1, 2]
    for other in full["other_folds"]:
        assert other["regret"] == pytest.approx(full["test_auc"] - other["test_auc"])
    assert "folds shuffled with seed 2" in capsys.readouterr().out
    text = models.render_markdown(results)
    assert "full search, other CV folds: median regret [worst of 2]" in text
    assert "| full search, other CV folds |" in text and "`--full-cv-seeds`" in text
    with pytest.raises(ValueError, match="'full_cv_seeds' parameter must be an int >= 0"):
        models.run(("synthetic",), rows=2000, full_cv_seeds=-1)
    with pytest.raises(ValueError, match="needs full_side='search'"):
        models.run(("synthetic",), rows=2000, full_cv_seeds=1, full_side="project")


def test_fully_grown_forests_run_only_when_named():
    grown = models.families()["random_forest_grown"]
    assert grown[0]().get_params()["max_depth"] is None  # capacity fixed: fully grown trees
    assert "max_depth" not in grown[1] and "min_weight_fraction_leaf" not in grown[1]
    results = models.run(("synthetic",), rows=2000, n_iter=2, cv=2, methods=("uniform",),
                         family_names=["random_forest_grown"])  # fmt: skip
    assert list(results["datasets"]["synthetic"]) == ["random_forest_grown"]
    default = models.run(("synthetic",), rows=1000, n_iter=1, cv=2, methods=("uniform",))
    assert "random_forest_grown" not in default["meta"]["families"]
    assert "random_forest" in default["meta"]["families"]


def test_the_picks_cv_standard_error_is_recorded_and_reported():
    results = models.run(("synthetic",), rows=2000, n_iter=3, cv=3, family_names=["hgb"],
                         methods=("uniform",), seeds=2)  # fmt: skip
    record = results["datasets"]["synthetic"]["hgb"]
    runs = record["coresets"]["uniform"]["runs"]
    assert record["full"]["cv_se"] > 0 and all(run["cv_se"] > 0 for run in runs)
    assert runs[0]["cv_se"] != runs[1]["cv_se"]  # two draws, two coresets
    text = models.render_markdown(results)
    median = np.median([run["cv_se"] for run in runs])
    line = f"- synthetic, hgb: full search {record['full']['cv_se']:.4f}; uniform {median:.4f}"
    assert line in text
    folds = np.array([0.70, 0.74, 0.75, 0.81])
    cv_results = {"std_test_score": np.array([0.3, np.std(folds)])}  # as searches record it
    expected = np.std(folds, ddof=1) / np.sqrt(4)
    assert models._cv_standard_error(cv_results, 1, 4) == pytest.approx(expected)
