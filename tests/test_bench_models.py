"""The tree-model benchmark (coreset_cli.bench.models) runs end to end on a small input, and
benchmarks/bench_models.py is the same module."""

from __future__ import annotations

import numpy as np

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
