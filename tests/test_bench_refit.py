"""``benchmarks/bench_refit.py`` on small data: its refit table and its helpers."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import needs_data

from benchmarks import bench_refit


@needs_data("skin_nonskin/Skin_NonSkin.txt")
def test_refit_rows_on_skin_print_a_table(capsys):
    rows = bench_refit.main(["--datasets", "skin", "--repeats", "1"])
    assert [row["class_weight"] for row in rows] == [None, "balanced"]
    for row in rows:
        assert row["passes"] >= 1 and abs(row["gap"]) < 1e-6 and row["cpu_ratio"] > 0
        assert len(row["gaps"]) == row["passes"] and row["coreset"] == 19_604
    assert "| skin | 196,045 x 3 | 2 | balanced | 19,604 |" in capsys.readouterr().out


@needs_data("skin_nonskin/Skin_NonSkin.txt")
def test_seeds_refit_the_trees_of_other_seeds_into_their_own_section(tmp_path, capsys):
    page = tmp_path / "B.md"
    rows = bench_refit.main(["--datasets", "skin", "--repeats", "1", "--seeds", "3",
                             "--compare-candidate", "--markdown", str(page),
                             "--section", "refit-seeds"])  # fmt: skip
    for row in rows:
        assert len(row["seed_passes"]) == len(row["seed_gaps"]) == 3
        assert len(row["seed_passes_without"]) == 3 and min(row["seed_passes_without"]) >= 1
        assert row["seed_passes"][0] == row["passes"] and max(row["seed_gaps"]) < 1e-6
    from coreset_engine import _full_fit

    assert _full_fit.USE_CORESET_CANDIDATE  # set back
    text = page.read_text()
    assert "<!-- section: refit-seeds -->" in text and "from the trees of several seeds" in text
    assert ("| passes, seeds 0, 1, ... | mean (at most 4) | largest gap, those seeds | without "
            "the coreset candidate: passes | mean (at most 4) |") in text  # fmt: skip
    line = next(x for x in text.splitlines() if x.startswith("| skin |") and "None" in x)
    passes, without = rows[0]["seed_passes"], rows[0]["seed_passes_without"]
    assert line.endswith(
        f" {', '.join(map(str, passes))} | {np.mean(passes):.2f} (3 of 3) | "
        f"{max(rows[0]['seed_gaps']):.1e} | {', '.join(map(str, without))} | "
        f"{np.mean(without):.2f} (3 of 3) |"
    )
    with pytest.raises(SystemExit):
        bench_refit.main(["--seeds", "0"])
    assert "--seeds must be at least 1, got 0" in capsys.readouterr().err


@needs_data("bank_marketing/bank-additional.zip")
def test_compare_exact_rows_refits_without_them_and_sets_the_switch_back(capsys):
    rows = bench_refit.main(["--datasets", "bank_marketing", "--repeats", "1", "--seeds", "2",
                             "--compare-exact-rows"])  # fmt: skip
    from coreset_engine import _full_fit

    assert _full_fit.USE_EXACT_ROWS  # set back
    for row in rows:
        assert row["without"] == "USE_EXACT_ROWS" and len(row["seed_passes_without"]) == 2
    assert "without the exact rare rows: passes | mean (at most 4) |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench_refit.main(["--compare-candidate", "--compare-exact-rows"])
    assert "one at a time" in capsys.readouterr().err


def test_weak_one_hot_problem_is_mostly_zeros_with_a_weak_signal():
    X, y = bench_refit.weak_one_hot(5000)
    assert X.shape == (5000, 90) and np.all(X[:, :80].sum(axis=1) == 10)
    assert 0.05 < y.mean() < 0.3


def test_objective_matches_the_evaluation_module():
    from sklearn.linear_model import LogisticRegression

    from coreset_engine.evaluation import logistic_objective

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 3))
    y = rng.integers(0, 3, 600)
    model = LogisticRegression().fit(X, y)
    assert np.isclose(bench_refit.objective(model, X, y, None), logistic_objective(model, X, y, 1))


def test_grid_mode_times_cold_fits_and_warm_paths_with_the_same_pick(tmp_path, capsys):
    page = tmp_path / "BENCHMARKS.md"
    page.write_text("# Benchmarks\n\nkept\n")
    argv = ["--grid", "--grid-problems", "weak", "--weak-rows", "30000", "--repeats", "1",
            "--markdown", str(page)]  # fmt: skip
    (row,) = bench_refit.main(argv)
    assert row["problem"] == "weak one-hot" and row["coreset"] == 3000
    assert row["score_difference"] < 1e-3  # the same fits, to lbfgs's tolerance
    # the same pick, or one tied with it to that tolerance (on this 3,000-row coreset C = 3e-4
    # and 1e-3 score within 3e-5 in the cold fits)
    assert row["cold_pick"] == row["path_pick"] or row["pick_score_lost"] < 1e-4
    assert row["cold_cpu"] > 0 and row["path_cpu"] > 0
    out = capsys.readouterr().out
    same = "| yes |" if row["cold_pick"] == row["path_pick"] else "| no |"
    assert "| weak one-hot | 3,000 |" in out and same in out
    # the section "refit" of the page: the command that made it and the grid table only
    text = page.read_text()
    assert text.startswith("# Benchmarks\n\nkept\n\n<!-- section: refit -->\n")
    assert f"`python -m benchmarks.bench_refit {' '.join(argv)}`" in text
    assert "| weak one-hot | 3,000 |" in text and "### The search side" in text
    assert "refit / build" not in text and text.endswith("<!-- end of section: refit -->\n")
    bench_refit.main(argv)  # a rerun replaces the section
    assert page.read_text().count("<!-- section: refit -->") == 1


def test_parts_are_checked():
    with pytest.raises(ValueError, match=r"--parts: expected refit and/or grid, got \['fit'\]"):
        bench_refit.main(["--parts", "refit,fit"])


def test_grid_mode_rejects_an_unknown_problem():
    with pytest.raises(ValueError, match="--grid-problems: unknown problem 'nope'"):
        bench_refit.main(["--grid", "--grid-problems", "nope"])


def test_file_mode_writes_the_file_then_builds_and_refits_from_it(tmp_path, capsys):
    path = str(tmp_path / "syn.h5")
    row = bench_refit.main(["--file", path, "--file-rows", "200000", "--repeats", "1"])
    assert row["rows"] == 200_000 and row["features"] == 54 and row["classes"] == 7
    assert 1 <= row["passes"] <= 10 and row["predicted_gaps"][-1] <= 1e-7
    assert "writing" in capsys.readouterr().out
