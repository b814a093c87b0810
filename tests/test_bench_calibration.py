"""``python -m benchmarks.bench_calibration``: calibrated vs plain weights across configurations."""

import numpy as np
import pytest

from coreset_cli.bench import calibration


def test_small_run_writes_its_section_and_calibration_wins_at_the_pilots_C(tmp_path, capsys):
    docs = tmp_path / "B.md"
    docs.write_text("# Benchmarks\n")
    rows = calibration.main(["--datasets", "weak_signal", "--weak-rows", "60000", "--size",
                             "3000", "--seeds", "2", "--section-file", str(docs)])  # fmt: skip
    assert len(rows) == len(calibration.C_VALUES) * len(calibration.CLASS_WEIGHTS)
    at_pilot = next(r for r in rows if r["C"] == 1.0 and r["class_weight"] is None)
    assert at_pilot["calibrated"] < 0.2 * at_pilot["plain"], at_pilot
    text = docs.read_text()
    assert text.startswith("# Benchmarks\n") and "<!-- section: calibration-configs -->" in text
    assert text.count("| weak_signal | 60,000 |") == len(rows)
    assert "smaller by" in text and "x smaller" in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [(["--size", "0"], "--size"),
                                         (["--seeds", "-1"], "--seeds")])  # fmt: skip
def test_bad_options_name_the_option(argv, words, capsys):
    with pytest.raises(SystemExit):
        calibration.main([*argv, "--section-file", ""])
    assert words in capsys.readouterr().err


def test_the_balanced_objective_weights_each_rows_log_loss_by_its_class():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] + rng.normal(size=300) > 1.0).astype(np.int64)
    model = LogisticRegression().fit(X, y)
    p = model.predict_proba(X)[np.arange(y.size), y]
    per_class = y.size / (2 * np.bincount(y))
    want = float(per_class[y] @ -np.log(p) + np.square(model.coef_).sum() / (2 * 0.1))
    assert np.isclose(calibration._objective(model, X, y, 0.1, "balanced"), want)
    assert np.isclose(calibration._objective(model, X, y, 0.1, None),
                      float(-np.log(p).sum() + np.square(model.coef_).sum() / 0.2))  # fmt: skip
