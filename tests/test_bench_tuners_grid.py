"""``benchmarks/bench_tuners.py``: the grids it checks and its grid comparison on small data."""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from sklearn.model_selection import ParameterGrid

from benchmarks import bench_tuners


def test_primary_grid_is_the_issues_grid_with_16_configurations():
    grid = bench_tuners.GRID
    assert set(grid) == {"C", "penalty", "solver"}
    assert set(grid["penalty"]) == {"l1", "l2"} and set(grid["solver"]) == {"liblinear", "saga"}
    assert len(ParameterGrid(grid)) >= 16 and len(ParameterGrid(bench_tuners.LBFGS_GRID)) >= 16


def test_compare_grid_runs_both_sides_or_reports_the_full_side_as_not_run():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 4))
    y = (X[:, 0] + rng.normal(size=3000) > 0).astype(np.int64)
    data = (X[:2400], X[2400:], y[:2400], y[2400:])
    grid = {"C": [0.01, 1.0], "penalty": ["l1", "l2"], "solver": ["liblinear"]}
    args = argparse.Namespace(cv=3)
    with warnings.catch_warnings():
        bench_tuners._silence_expected_warnings()
        rows, tree, search, passed = bench_tuners.compare_grid(
            "grid", grid, data, 120, 600, args, {}
        )
        skipped, _, _, not_judged = bench_tuners.compare_grid(
            "grid", grid, data, 120, 600, args, {}, skip_full="too slow"
        )
    verdicts = {label: verdict for label, verdict, _ in rows}
    assert verdicts["grid: |AUC gap| <= 0.002"] in ("PASS", "FAIL")
    assert verdicts["grid: speedup >= 50x"] in ("PASS", "FAIL")
    assert search.best_params_ in list(ParameterGrid(grid))
    assert len(tree.get_coreset().y) <= 120
    assert [verdict for _, verdict, _ in skipped[1:]] == ["n/a", "n/a"]
    assert "too slow" in skipped[1][2]
    assert passed == (
        verdicts["grid: |AUC gap| <= 0.002"] == verdicts["grid: speedup >= 50x"] == "PASS"
    )
    assert not_judged is None


def test_criterion_row_uses_the_issue_grid_unless_its_full_side_was_not_run():
    on_grid = bench_tuners._criterion_row(False, True, 500, 32000)
    assert on_grid[1] == "FAIL" and "judged on GRID" in on_grid[2]
    fallback = bench_tuners._criterion_row(None, True, 2000, 395000)
    assert fallback[1] == "PASS" and "judged on LBFGS_GRID" in fallback[2]
    assert bench_tuners._criterion_row(None, False, 2000, 395000)[1] == "FAIL"


def test_markdown_report_names_the_command_and_keeps_every_row():
    results = {
        "a9a": [("grid: coreset pick", "", "{'C': 0.1} | x"), ("criterion", "PASS", "judged")],
        "kddcup99": [("torch: tuned > untuned", "FAIL", "0.9 vs 0.91")],
    }
    text = bench_tuners.markdown_report(results, ["--datasets", "a9a"], 3, 600.0)
    assert "`python -m benchmarks.bench_tuners --datasets a9a`" in text
    assert "| criterion | PASS | judged |" in text and "| torch: tuned > untuned | FAIL |" in text
    assert r"{'C': 0.1} \| x" in text  # a bare pipe inside a cell would split the row
    gap = bench_tuners.markdown_report({"a9a": [("grid: |AUC gap| <= 0.002", "PASS", "0.001")]},
                                       [], 3, 60.0)  # fmt: skip
    assert r"| grid: \|AUC gap\| <= 0.002 | PASS | 0.001 |" in gap
    assert text.count("| check | verdict | result |") == 2


def test_compare_grid_judges_the_model_gap_and_times_refit_full():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4000, 5))
    y = (X[:, 0] - X[:, 1] + rng.normal(size=4000) > 0).astype(np.int64)
    data = (X[:3000], X[3000:], y[:3000], y[3000:])
    grid = {"C": [0.01, 1.0], "class_weight": [None, "balanced"]}
    with warnings.catch_warnings():
        bench_tuners._silence_expected_warnings()
        rows, _, _, _ = bench_tuners.compare_grid(
            "lbfgs", grid, data, 300, 1000, argparse.Namespace(cv=3), {}, tolerance=0.0005,
            model_gap=1.0, refit_full=True,
        )  # fmt: skip
    labels = [label for label, _, _ in rows]
    assert "lbfgs: |AUC gap| <= 0.0005" in labels
    gap_row = next(row for row in rows if "coreset-trained model" in row[0])
    assert gap_row[0].endswith("<= 1.0") and gap_row[1] == "PASS"
    refit = next(row for row in rows if "refit='full'" in row[0])
    assert "passes over all 3,000 source rows" in refit[2], refit[2]
    full_auc = float(refit[2].split("scikit-learn on all rows: ")[1].split(";")[0])
    refit_auc = float(refit[2].split("test AUC ")[1].split(" ")[0])
    assert abs(full_auc - refit_auc) < 1e-4  # the streamed refit is scikit-learn's optimum


def test_markdown_report_as_a_section_is_one_level_down():
    text = bench_tuners.markdown_report({"weak_signal": [("x", "PASS", "y")]}, [], 3, 1.0, level=2)
    assert text.startswith("## Tuning on coresets vs scikit-learn on all rows (weak_signal)")
    assert "\n### weak_signal\n" in text
