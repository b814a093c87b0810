"""The linear-regression benchmark (coreset_cli.bench.regression) runs end to end on
california_housing, its synthetic rows are reproducible, and benchmarks/ wraps the module."""

from __future__ import annotations

import numpy as np
from helpers import needs_data

from coreset_cli.bench import regression


@needs_data("california_housing/california_housing.parquet")
def test_regression_benchmark_on_california_housing():
    results = regression.run(("california_housing",), seeds=1, methods=("uniform", "sensitivity"))
    record = results["datasets"]["california_housing"]
    assert record["rows"] == 20_640 and record["features"] == 8
    cells = {(c["size"], c["build"], c["method"]): c["ratios"][0] for c in record["cells"]}
    assert len(cells) == 2 * 2 * len(regression.CALIFORNIA_SIZES)
    assert all(ratio >= 1 - 1e-9 for ratio in cells.values())  # nothing beats the optimum
    for size in regression.CALIFORNIA_SIZES:
        for build in ("one-shot", "tree root"):
            assert cells[size, build, "sensitivity"] < cells[size, build, "uniform"]
    text = regression.render_markdown(results)
    assert "| 2,000 (9.69%) | tree root |" in text and "sensitivity: below uniform" in text


def test_synthetic_regression_rows_do_not_depend_on_the_row_count():
    X, y = regression.synthetic_regression(3000, block=1000)
    X2, y2 = regression.synthetic_regression(2500, block=1000)
    np.testing.assert_array_equal(X[:2500], X2)
    np.testing.assert_array_equal(y[:2500], y2)
    assert np.isfinite(y).all() and X.dtype == np.float32


def test_benchmark_wrapper_is_the_package_module():
    import benchmarks.bench_regression

    assert benchmarks.bench_regression is regression
