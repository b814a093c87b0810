"""The cleaning benchmark (``python -m benchmarks.bench_cleaning``) on a small synthetic set:
the noise it injects, its measurements and its section of the report."""

import numpy as np
import pytest

from coreset_cli.bench import cleaning


def test_flips_change_five_percent_of_the_labels_and_boundary_flips_are_uncertain_rows():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=20_000)
    confidence = rng.uniform(0.34, 1.0, size=y.size)
    probabilities = np.column_stack([confidence, (1 - confidence) * 0.7, (1 - confidence) * 0.3])
    for kind in cleaning.NOISE_KINDS:
        noisy, rows = cleaning.flip_labels(y, kind, probabilities, np.random.default_rng(1))
        assert rows.size == 1000 and np.unique(rows).size == 1000
        assert (noisy[rows] != y[rows]).all()
        assert (np.flatnonzero(noisy != y) == rows).all()
    # boundary: the flipped rows are the uncertain ones, flipped to the most likely other class
    assert confidence[rows].mean() < confidence.mean() - 0.05
    order = np.argsort(probabilities[rows], axis=1)
    first, second = order[:, -1], order[:, -2]
    assert (noisy[rows] == np.where(y[rows] == first, second, first)).all()
    assert cleaning.precision_at(np.array([3, 1, 2, 9]), np.array([1, 9]), 2) == 0.5


def test_a_small_run_measures_every_side_and_writes_its_section(tmp_path):
    pytest.importorskip("cleanlab")
    lines = []
    results = cleaning.run(["synthetic"], ["random"], rows=6_000, size=500, seed=0,
                           work_dir=tmp_path, echo=lines.append)  # fmt: skip
    [record] = results["records"]
    assert record["rows"] == 4_800 and record["flipped"] == 240 and record["k"] == [48, 240]
    assert record["ours"][0] > 3 * record["random"][0]  # far better than picking at random
    assert 0 <= record["cleanlab"][0] <= 1 and record["cleanlab_seconds"] > 0
    assert record["fixed"] == round(record["ours"][1] * 240)
    assert 0.5 < record["auc_updated_coreset"] <= 1
    assert lines and lines[-1].startswith("synthetic       random    P@1% ours")
    text = cleaning.render_markdown(results, "python -m benchmarks.bench_cleaning --rows 6000")
    assert "`python -m benchmarks.bench_cleaning --rows 6000`" in text
    assert "| synthetic | random | 4,800 |" in text and "Targets of issue 11" in text
    report = tmp_path / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n")
    cleaning.write_section(report, "cleaning", text)
    assert report.read_text().startswith("# Benchmarks\n\n<!-- section: cleaning -->\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["BENCHMARKS.md", "synthetic_6000.h5"]


def test_from_json_renders_one_table_of_several_runs(tmp_path):
    import json

    record = {"dataset": "a9a", "noise": "random", "rows": 1000, "features": 3, "classes": 2,
              "flipped": 50, "k": [10, 50], "auc_clean": 0.9, "auc_noisy": 0.89,
              "build_seconds": 1.0, "ours_seconds": 0.5, "ours": [0.9, 0.5],
              "random": [0.1, 0.04], "auc_noisy_coreset": 0.88, "fixed": 25,
              "update_seconds": 0.1, "auc_updated_coreset": 0.899, "auc_gap": 0.01,
              "gap_closed": 0.9}  # fmt: skip
    meta = {"rows": 1000, "size": 500, "seed": 0, "cleanlab": False, "cpus": 2,
            "load_start": 0.5, "load_end": 0.5, "seconds": 60.0}  # fmt: skip
    paths = []
    for noise in ("random", "boundary"):
        path = tmp_path / f"{noise}.json"
        run = {"meta": {**meta, "command": f"python -m benchmarks.bench_cleaning --noise {noise}"},
               "records": [{**record, "noise": noise}]}  # fmt: skip
        path.write_text(json.dumps(run))
        paths.append(str(path))
    report = tmp_path / "B.md"
    cleaning.main(["--from-json", ",".join(paths), "--markdown", str(report)])
    text = report.read_text()
    assert "`python -m benchmarks.bench_cleaning --noise random`" in text
    assert "`python -m benchmarks.bench_cleaning --noise boundary`" in text
    assert f"`python -m benchmarks.bench_cleaning --from-json {','.join(paths)}" in text
    assert "| a9a | random | 1,000 |" in text and "| a9a | boundary | 1,000 |" in text
    assert "closes 90% of the 0.0100 AUC gap (target >= 80% met)" in text
    assert "in 2.0 minutes" in text and "(a busy shared machine" not in text
