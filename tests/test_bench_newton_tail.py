"""``benchmarks/bench_newton_tail.py``: its NumPy steps and its table."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import needs_data

from benchmarks import bench_newton_tail as tail


def _rows(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    signs = np.where(X @ [1.0, -2.0, 0.5, 0.0] + rng.logistic(size=n) > 0, 1.0, -1.0)
    return tail.Rows(X, signs, rng.uniform(0.5, 2.0, n), np.array([1.0, 1.0, 1.0, 1.0, 0.0]))


def test_derivatives_match_finite_differences():
    rows = _rows(500)
    theta = np.array([0.3, -0.2, 0.1, 0.05, 0.4])
    h = 1e-6
    numeric = np.array([(rows.value(theta + h * e) - rows.value(theta - h * e)) / (2 * h)
                        for e in np.eye(5)])  # fmt: skip
    np.testing.assert_allclose(rows.gradient(theta), numeric, rtol=1e-6, atol=1e-6)
    numeric = np.array([(rows.gradient(theta + h * e) - rows.gradient(theta - h * e)) / (2 * h)
                        for e in np.eye(5)])  # fmt: skip
    np.testing.assert_allclose(rows.hessian(theta), numeric, rtol=1e-5, atol=1e-5)


def test_corrected_step_with_all_rows_is_the_optimum_and_a_subset_gets_close():
    full = _rows()
    optimum = tail.minimise(full.value, full.gradient, full.hessian, np.zeros(5))
    assert np.linalg.norm(full.gradient(optimum)) < 1e-8
    np.testing.assert_allclose(tail.corrected_step(full, full, np.zeros(5)), optimum, atol=1e-9)
    part = tail.Rows(full.Z[:300, :4], full.signs[:300], full.weights[:300] * 10, full.penalty)
    start = tail.minimise(part.value, part.gradient, part.hessian, np.zeros(5))
    best = full.value(optimum)
    stepped = tail.corrected_step(full, part, start)
    assert full.value(stepped) - best < 0.2 * (full.value(start) - best)


def test_rare_rows_replace_the_coreset_rows_off_base_in_the_rarest_columns():
    """The NumPy reference of the engine's exact rare rows: column 1 is at 0 on all but 2 of
    6 rows (expected 2 x 3 = 6 off base over all rows), column 2 on all but 1 (3); budget 4
    takes column 2 only: its coreset row off base (the last) gives way to all rows' (two)."""
    local_X = np.array([[0.5, 0, 0], [0.1, 0, 0], [0.2, 1, 0], [0.3, 1, 0], [0.4, 0, 0],
                        [0.6, 0, 2]])  # fmt: skip
    local_codes, local_w = np.array([0, 1, 0, 1, 0, 1]), np.full(6, 3.0)
    X = np.array([[0.9, 0, 2], [0.8, 1, 0], [0.7, 0, 2], [0.6, 0, 0]])
    codes = np.array([1, 0, 0, 1])
    got_X, got_codes, got_w = tail.with_rare_rows(local_X, local_codes, local_w, X, codes, 4)
    np.testing.assert_array_equal(got_X, np.vstack([local_X[:5], X[[0, 2]]]))
    np.testing.assert_array_equal(got_codes, [0, 1, 0, 1, 0, 1, 0])
    np.testing.assert_array_equal(got_w, [3.0] * 5 + [1.0, 1.0])
    same = tail.with_rare_rows(local_X, local_codes, local_w, X, codes, 1)  # nothing fits
    assert same[0] is local_X


def test_passes_to_counts_the_start_as_pass_one():
    assert tail.passes_to([1e-3, 1e-5, 5e-7, 1e-9]) == 3
    assert tail.passes_to([1e-7]) == 1 and tail.passes_to([1e-3, 1e-4]) is None


@needs_data("skin_nonskin/Skin_NonSkin.txt")
def test_skin_table(tmp_path, capsys):
    page = tmp_path / "B.md"
    cases = tail.main(["--datasets", "skin", "--seeds", "2", "--steps", "3", "--samples", "5000",
                       "--markdown", str(page)])  # fmt: skip
    assert [case["class_weight"] for case in cases] == [None, "balanced"]
    for case in cases:
        assert list(case["results"]) == ["newton", "coreset-corrected",
                                          "coreset-corrected, rare rows exact", "engine",
                                          "engine passes", "sample-corrected 5,000"]  # fmt: skip
        assert all(len(passes) == 2 for passes in case["results"].values())
        assert all(p is not None and p <= 4 for p in case["results"]["newton"])
    text = page.read_text()
    assert "<!-- section: newton-tail -->" in text and "| skin | None | newton |" in text
    with pytest.raises(SystemExit):
        tail.main(["--steps", "0"])
    assert "must be at least 1" in capsys.readouterr().err
