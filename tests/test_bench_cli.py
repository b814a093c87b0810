"""``coreset-engine bench --quick`` and ``coreset-engine make-data``, via their click commands."""

import csv
import json
import math

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from coreset_cli._bench_commands import bench_command, make_data_command
from coreset_cli.bench import report as bench_report
from coreset_engine.datasets import find_data_home

try:
    find_data_home(relpath="skin_nonskin/Skin_NonSkin.txt")
    HAVE_SKIN = True
except FileNotFoundError:
    HAVE_SKIN = False


@pytest.mark.skipif(not HAVE_SKIN, reason="Skin data file not found")
def test_quick_bench_on_skin_writes_sane_csv_json_plot_and_markdown(tmp_path):
    result = CliRunner().invoke(bench_command, ["--quick", "--datasets", "skin", "--seeds", "2",
                                                "--out-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "engine.json").read_text())["datasets"]["skin"]
    assert record["classes"] == 2 and record["features"] == 3
    assert {(r["size"], r["method"]) for r in record["results"]} == {
        (size, method) for size in (200, 1000) for method in ("uniform", "l2s", "sensitivity")
    }
    for r in record["results"]:
        for path in ("one_shot", "tree"):
            ratios = r[path]["loss_ratio"]["values"]
            assert len(ratios) == 2 and all(0.99 <= v < 2.0 for v in ratios), (r, path)
            assert r[path]["sampling_seconds"]["median"] > 0
        assert all(0.5 < a <= 1.0 for a in r["auc"]["coreset"]["values"])
        assert abs(r["auc"]["gap"]["median"]) < 0.1
    rows = list(csv.DictReader((tmp_path / "engine.csv").open()))
    assert len(rows) == 6
    for row in rows:
        values = [float(row[k]) for k in row if k not in ("dataset", "method")]
        assert all(math.isfinite(v) for v in values), row
        assert float(row["ratio_one_shot_median"]) >= 0.99 and float(row["fit_speedup_tree"]) > 0
    png = tmp_path / "bench_skin.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size < 200_000
    markdown = (tmp_path / "BENCHMARKS.md").read_text()
    assert "`coreset-engine bench --datasets skin --seeds 2 --out-dir" in markdown
    assert "--quick" in markdown and "| 1,000 | sensitivity |" in markdown
    assert "bench_skin.png" in markdown and "bench_scale --rows 46000000" in markdown

    # the 46M-row section is filled from bench_scale.py's JSON once there is one
    run = {"read_seconds": 20.0, "seconds": 50.0, "peak_rss_mb": 900.0, "root_rows": 20_000,
           "depth": 6, "ratio": 2.5, "rows_per_second": 920_000.0, "cpu_seconds": 23.0}  # fmt: skip
    scale = {"rows": 46_000_000, "features": 54, "dtype": "float32", "file_gb": 9.9, "cpus": 2,
             "cold": run, "warm": run,
             "warm_one_thread": {**run, "seconds": 80.0, "rows_per_second": 575_000.0,
                                 "speedup": 1.6}}  # fmt: skip
    (tmp_path / "scale.json").write_text(json.dumps(scale))
    bench_report.main([str(tmp_path / "engine.json"), "--docs-dir", str(tmp_path),
                       "--scale", str(tmp_path / "scale.json")])  # fmt: skip
    markdown = (tmp_path / "BENCHMARKS.md").read_text()
    assert "46,000,000 x 54 float32" in markdown
    assert "| cold | 20.0 | 50.0 | 2.50 | 920,000 | 900 | 20,000 | 6 |" in markdown
    assert "0.50 s per million rows cold, 0.50 s warm" in markdown
    assert "80.0 s, 575,000 rows/s; with 2 threads it is 1.60x faster" in markdown


def test_bench_rejects_unknown_names_without_a_traceback(tmp_path):
    result = CliRunner().invoke(bench_command, ["--quick", "--datasets", "nope",
                                                "--out-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code != 0 and "nope" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(bench_command, ["--sizes", "10,x", "--out-dir", str(tmp_path)])
    assert result.exit_code != 0 and "--sizes" in result.output


def test_make_data_writes_heavy_tailed_imbalanced_classes(tmp_path):
    out = tmp_path / "synthetic.h5"
    result = CliRunner().invoke(make_data_command, ["--rows", "50000", "--seed", "3",
                                                    "--out", str(out), "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "50,000 x 54" in result.output
    with h5py.File(out, "r") as handle:
        X, y = handle["X"][()], handle["y"][()]
    assert X.shape == (50_000, 54) and X.dtype == np.float32 and np.isfinite(X).all()
    assert y.shape == (50_000,) and y.dtype == np.int64
    counts = np.bincount(y, minlength=7)
    assert counts.size == 7 and counts.min() > 0
    assert counts.max() / counts.min() > 5  # imbalanced
    standardized = (X - X.mean(axis=0)) / X.std(axis=0)
    kurtosis = (standardized**4).mean(axis=0)
    assert np.median(kurtosis) > 4  # heavier tails than a Gaussian (3)
    assert not list(tmp_path.glob(".synthetic-*"))  # no temporary file left behind


def test_make_data_options_and_errors(tmp_path):
    out = tmp_path / "small.h5"
    options = ["--rows", "3000", "--features", "5", "--classes", "3", "--out", str(out)]
    result = CliRunner().invoke(make_data_command, options)
    assert result.exit_code == 0, result.output
    with h5py.File(out, "r") as handle:
        assert handle["X"].shape == (3000, 5) and set(np.unique(handle["y"])) == {0, 1, 2}
    result = CliRunner().invoke(make_data_command, ["--rows", "0", "--out", str(out)])
    assert result.exit_code != 0 and "--rows" in result.output
    result = CliRunner().invoke(make_data_command, ["--out", str(tmp_path / "no" / "x.h5")])
    assert result.exit_code != 0 and "does not exist" in result.output


def test_report_says_when_a_run_was_pinned_to_fewer_cpus():
    assert bench_report._used({"cpu_count": 2, "cpus_used": 1}) == ", run on 1 of them"
    assert bench_report._used({"cpu_count": 2, "cpus_used": 2}) == ""
    assert bench_report._used({"cpu_count": 2}) == ""  # JSON from before the field existed


def test_repeated_scale_runs_are_numbered():
    run = {"read_seconds": 2.0, "seconds": 5.0, "peak_rss_mb": 800.0, "root_rows": 20_000,
           "depth": 5, "ratio": 2.5, "rows_per_second": 2e6}  # fmt: skip
    one = {"rows": 10_000_000, "features": 54, "dtype": "float32", "file_gb": 2.2, "cold": run}
    lines = bench_report._scale_sections([one, one, {**one, "rows": 46_000_000}], None)
    assert "## Building from a 10,000,000-row file, run 1 of 2" in lines
    assert "## Building from a 10,000,000-row file, run 2 of 2" in lines
    assert "## Building from a 46,000,000-row file" in lines


def test_pilot_experiment_options_apply_during_the_run_only(monkeypatch):
    from coreset_cli.bench import engine
    from coreset_engine import _build
    from coreset_engine.methods import _sensitivity

    defaults = (_sensitivity.PILOT_FLOOR, _build.PILOT_ROWS)
    seen = {}
    monkeypatch.setattr(
        engine, "_main",
        lambda args, argv: seen.update(floor=_sensitivity.PILOT_FLOOR, rows=_build.PILOT_ROWS),
    )  # fmt: skip
    engine.main(["--pilot-floor", "0.03", "--pilot-rows", "20000"])
    assert seen == {"floor": 0.03, "rows": 20000}
    assert (_sensitivity.PILOT_FLOOR, _build.PILOT_ROWS) == defaults
    for bad in (["--pilot-floor", "2"], ["--pilot-rows", "5"]):
        with pytest.raises(SystemExit):
            engine.main(bad)


def test_sketch_and_calibrate_experiment_options_apply_during_the_run_only(monkeypatch):
    from coreset_cli.bench import engine

    seen = {}
    monkeypatch.setattr(engine, "_main", lambda args, argv: seen.update(
        sketch=engine.SKETCH_SIZE, calibrate=engine.CALIBRATE))  # fmt: skip
    engine.main(["--sketch-size", "32", "--no-calibrate"])
    assert seen == {"sketch": 32, "calibrate": False}
    assert (engine.SKETCH_SIZE, engine.CALIBRATE) == (None, True)
    built = {}
    monkeypatch.setattr(engine, "SKETCH_SIZE", 8)
    real = engine.CoresetTree
    monkeypatch.setattr(engine, "CoresetTree",
                        lambda **kw: built.update(kw) or real(**kw))  # fmt: skip
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 12))
    engine._build(X, (X[:, 0] > 0).astype(np.int64), 200, "sensitivity", 1000, 0)
    assert built["sketch_size"] == 8
    with pytest.raises(SystemExit):
        engine.main(["--sketch-size", "0"])


def test_scale_section_shows_the_kernel_seconds_and_the_contiguous_copy():
    run = {"read_seconds": 0.3, "seconds": 3.0, "peak_rss_mb": 800.0, "root_rows": 20_000,
           "depth": 4, "ratio": 10.0, "rows_per_second": 3.3e6, "cpu_seconds": 5.5,
           "system_cpu_seconds": 0.9, "page_faults": 200_000}  # fmt: skip
    mapped = {**run, "seconds": 2.5, "rows_per_second": 4e6, "system_cpu_seconds": 0.2,
              "page_faults": 40_000}  # fmt: skip
    scale = {"rows": 10_000_000, "features": 54, "dtype": "float32", "file_gb": 2.2,
             "coreset_size": 20_000, "chunk": 1_000_000, "cpus": 2, "warm": run,
             "warm_contiguous": mapped}  # fmt: skip
    text = "\n".join(bench_report._scale_sections([scale], None))
    assert "bench_scale --rows 10000000 --contiguous`" in text
    assert "| warm, contiguous copy (`--contiguous`) | 0.3 | 2.5 | 10.00 | 4,000,000 |" in text
    assert ("warm 0.90 s (200,000 minor page faults); warm from the contiguous copy 0.20 s "
            "(40,000 minor page faults)") in text
    ab = {"baseline": "/tmp/base", "reps": 3, "runs": {},
          "files": {"chunked": {"baseline": {"seconds": 4.0, "cpu_seconds": 7.0,
                                             "system_cpu_seconds": 1.3},
                                "current": {"seconds": 3.6, "cpu_seconds": 6.4,
                                            "system_cpu_seconds": 0.8}, "speedup": 4.0 / 3.6}}}
    text = "\n".join(bench_report._scale_sections([{**scale, "side_by_side": ab}], None))
    assert "--contiguous --baseline /tmp/base`" in text
    assert "| chunked | 4.00 | 7.00 | 1.30 | 3.60 | 6.40 | 0.80 | 1.11x |" in text
