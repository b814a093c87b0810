"""Linear-regression coresets against uniform sampling (``task="linear_regression"``).

    python -m benchmarks.bench_regression                          # a few minutes on 2 cores
    python -m benchmarks.bench_regression --rows 10000000          # the issue's 10M rows: 23 min
    python -m benchmarks.bench_regression --markdown docs/BENCHMARKS.md --out results/regression.json

For each data set, coreset size and method (uniform, leverage, sensitivity) and 5 seeds, a coreset
is built one-shot (one leaf holding every row) and as the root of a merge-and-reduce tree
(8 leaves, depth 3), ordinary least squares is fitted on it with its weights, and the full-data
squared loss at that fit is divided by the full-data optimum (1 is perfect). The full data's
loss at any coefficients is a quadratic form in the Gram matrix of [X, 1, y], summed once.

Data sets: ``california_housing`` (20,640 real rows x 8, ``../shared/data``) and ``synthetic``:
heavy-tailed features (Student-t with 3 degrees of freedom, and log-normal columns on scales
from 0.01 to 100) and heteroscedastic, heavy-tailed noise whose scale grows with two of the
features; 1,000,000 rows by default (``--rows``; the issue asks for 10M, which runs here in
about ten times as long and needs 0.5 GB of memory).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

from coreset_engine import CoresetTree
from coreset_engine.evaluation import least_squares_objective, solve_least_squares

METHODS = ("uniform", "leverage", "sensitivity")
#: Coreset sizes as shares of the rows.
SYNTHETIC_SHARES = (0.001, 0.003, 0.01)
CALIFORNIA_SIZES = (100, 200, 500, 1000, 2000)
#: Leaves of the tree whose root is judged.
TREE_LEAVES = 8
CALIFORNIA_FILE = "california_housing/california_housing.parquet"


def load_california_housing(data_home=None) -> tuple[np.ndarray, np.ndarray]:
    """(X float64 (20640, 8), y = median house value in 100k USD) from the parquet copy of
    the StatLib set (``../shared/data/README.md`` has its provenance)."""
    import pandas as pd

    from coreset_engine.datasets import find_data_home

    path = find_data_home(data_home, CALIFORNIA_FILE) / CALIFORNIA_FILE
    frame = pd.read_parquet(path)
    y = frame.pop("MedHouseVal").to_numpy(np.float64)
    return np.ascontiguousarray(frame.to_numpy(np.float64)), y


def synthetic_regression(
    n_rows: int, n_features: int = 10, seed: int = 0, block: int = 1_000_000
) -> tuple[np.ndarray, np.ndarray]:
    """Heavy-tailed features (float32) and a float64 target with heteroscedastic noise, made
    ``block`` rows at a time, each block from its own seed: the first k rows are the same for
    any ``n_rows`` >= k."""
    X = np.empty((n_rows, n_features), dtype=np.float32)
    y = np.empty(n_rows)
    coef = np.random.default_rng(seed).normal(size=n_features)
    scales = np.logspace(-2, 2, n_features)
    for number, start in enumerate(range(0, n_rows, block)):
        rng = np.random.default_rng([seed, number])
        rows = min(block, n_rows - start)
        # a whole block is drawn (and the last one cut), so a row does not depend on n_rows
        part = rng.standard_t(df=3, size=(block, n_features))
        part[:, ::3] = rng.lognormal(sigma=1.0, size=(block, part[:, ::3].shape[1]))
        part *= scales
        noise = rng.standard_t(df=4, size=block) * (0.5 + np.abs(part[:, 1]) / scales[1]
                                                    + np.abs(part[:, 2]) / scales[2])  # fmt: skip
        X[start : start + rows] = part[:rows]
        y[start : start + rows] = ((part / scales) @ coef + 2.0 + noise)[:rows]
    return X, y


def augmented_gram(X: np.ndarray, y: np.ndarray, block: int = 500_000) -> np.ndarray:
    """[X, 1, y]^T [X, 1, y] in float64, block by block."""
    d = X.shape[1]
    gram = np.zeros((d + 2, d + 2))
    for start in range(0, X.shape[0], block):
        Z = np.hstack([X[start : start + block].astype(np.float64),
                       np.ones((min(block, X.shape[0] - start), 1)),
                       y[start : start + block, None]])  # fmt: skip
        gram += Z.T @ Z
    return gram


def loss_ratio(coreset, full_gram: np.ndarray, full_loss: float) -> float:
    """Full-data squared loss at the coreset's weighted least-squares fit over the optimum."""
    X = coreset.X.astype(np.float64)
    Z = np.hstack([X, np.ones((X.shape[0], 1))])
    w = coreset.weights
    coef = solve_least_squares((Z * w[:, None]).T @ Z, Z.T @ (w * coreset.y))
    return least_squares_objective(coef, gram=full_gram) / full_loss


def run_dataset(name, X, y, sizes, *, seeds: int, methods=METHODS, echo=print) -> dict:
    """Loss ratios of every (method, size, build, seed), and the seconds per build."""
    gram = augmented_gram(X, y)
    d = X.shape[1]
    optimum = solve_least_squares(gram[: d + 1, : d + 1], gram[: d + 1, d + 1])
    full_loss = least_squares_objective(optimum, gram=gram)
    n = X.shape[0]
    record = {"rows": n, "features": d, "sizes": list(sizes), "cells": []}
    for size in sizes:
        chunk = max(math.ceil(n / TREE_LEAVES), 2 * size)
        for build, chunk_size in (("one-shot", n), ("tree root", chunk)):
            for method in methods:
                ratios, seconds = [], []
                for seed in range(seeds):
                    started = time.perf_counter()
                    tree = CoresetTree(task="linear_regression", coreset_size=size,
                                       chunk_size=chunk_size, method=method,
                                       random_state=seed).build(X, y)  # fmt: skip
                    seconds.append(time.perf_counter() - started)
                    ratios.append(loss_ratio(tree.get_coreset(), gram, full_loss))
                cell = {"size": size, "build": build, "method": method, "ratios": ratios,
                        "seconds": seconds, "leaves": tree.n_leaves_, "depth": tree.depth_}  # fmt: skip
                record["cells"].append(cell)
                q1, median, q3 = np.percentile(ratios, [25, 50, 75])
                echo(f"{name:>18} {size:>7,} {build:>9} {method:>11}: median {median:.5f} "
                     f"(IQR {q1:.5f}-{q3:.5f}), {np.median(seconds):.2f} s per build")  # fmt: skip
    return record


def _median(cell) -> float:
    return float(np.median(cell["ratios"]))


def render_markdown(results: dict) -> str:
    """The tables (median loss ratio and interquartile range per method) and the verdicts."""
    meta = results["meta"]
    lines = [
        "## Linear regression: loss ratio against uniform sampling",
        "",
        (
            f"Written by `{meta['command']}` ({meta['date']}, {meta['minutes']:.1f} min on a "
            "shared 2-core machine). Full-data squared loss at the coreset's weighted OLS fit over "
            f"the full-data optimum (1 is perfect), median and interquartile range of "
            f"{meta['seeds']} seeds; one-shot = one leaf holding every row, tree root = root of "
            f"a merge-and-reduce tree of {TREE_LEAVES} leaves (depth 3). Methods: `uniform`, "
            "`leverage` (leverage of [X, 1, y] mixed half and half with uniform) and "
            "`sensitivity` (the default: uniform 0.1, leverage of [X, 1, y] 0.2, and 0.7 of "
            "|residual| x sqrt(leverage) of the node's exact least-squares fit)."
        ),
        "",
    ]
    verdicts = []
    for name, record in results["datasets"].items():
        lines += [f"### {name} ({record['rows']:,} rows x {record['features']} features)", "",
                  "| rows (share) | build | " + " | ".join(meta["methods"]) + " |",
                  "|---|---|" + "---|" * len(meta["methods"])]  # fmt: skip
        cells = {(c["size"], c["build"], c["method"]): c for c in record["cells"]}
        for size in record["sizes"]:
            for build in ("one-shot", "tree root"):
                row = []
                for method in meta["methods"]:
                    q1, median, q3 = np.percentile(cells[size, build, method]["ratios"],
                                                   [25, 50, 75])  # fmt: skip
                    row.append(f"{median:.4f} ({q1:.4f}-{q3:.4f})")
                lines.append(f"| {size:,} ({size / record['rows']:.2%}) | {build} | "
                             + " | ".join(row) + " |")  # fmt: skip
        lines.append("")
        if name == "california_housing":
            note = (
                "Uniform sampling is far off here because a few districts hold extreme feature "
                "values (AveOccup up to 1,243 against a median of 2.8, AveRooms up to 142): a "
                "uniform sample that draws one weighs it n / m times and bends the fit to it, "
                "one that draws none extrapolates to them. Leverage sees those rows."
            )
            lines += [note, ""]
        for method in (m for m in meta["methods"] if m != "uniform"):
            worse = [(size, build) for size in record["sizes"] for build in ("one-shot", "tree root")
                     if _median(cells[size, build, method])
                     >= _median(cells[size, build, "uniform"])]  # fmt: skip
            verdicts.append(
                f"- {name}, {method}: below uniform's median at every size and build"
                if not worse else
                f"- {name}, {method}: NOT below uniform at "
                + ", ".join(f"{size:,} ({build})" for size, build in worse)
            )  # fmt: skip
        if name == "synthetic":
            one_percent = [s for s in record["sizes"] if abs(s / record["rows"] - 0.01) < 1e-9]
            for size in one_percent:
                for build in ("one-shot", "tree root"):
                    value = _median(cells[size, build, "sensitivity"])
                    verdicts.append(
                        f"- synthetic, sensitivity at 1% of the rows ({build}): {value:.4f} "
                        f"({'PASS' if value <= 1.01 else 'FAIL'}: target <= 1.01)"
                    )
    lines += ["### Verdicts", "", *verdicts, ""]
    if results["meta"]["rows"] < 10_000_000:
        lines.append(
            f"The synthetic set has {results['meta']['rows']:,} rows here (the issue names "
            "10M: `--rows 10000000` runs it, about ten times as long)."
        )
    return "\n".join(lines)


def run(datasets=("california_housing", "synthetic"), *, rows: int = 1_000_000, seeds: int = 5,
        methods=METHODS, data_home=None, command: str = "", echo=print) -> dict:  # fmt: skip
    started = time.perf_counter()
    results = {"meta": {"command": command, "date": date.today().isoformat(), "seeds": seeds,
                        "methods": list(methods), "rows": rows}, "datasets": {}}  # fmt: skip
    for name in datasets:
        if name == "california_housing":
            X, y = load_california_housing(data_home)
            sizes = CALIFORNIA_SIZES
        elif name == "synthetic":
            X, y = synthetic_regression(rows)
            sizes = tuple(max(10, round(share * rows)) for share in SYNTHETIC_SHARES)
        else:
            raise ValueError(
                f"The 'datasets' parameter must hold names from ['california_housing', "
                f"'synthetic']. Got {name!r} instead."
            )
        results["datasets"][name] = run_dataset(name, X, y, sizes, seeds=seeds,
                                                methods=methods, echo=echo)  # fmt: skip
    results["meta"]["minutes"] = (time.perf_counter() - started) / 60
    return results


def main(argv=None) -> None:
    from .report import write_section

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="california_housing,synthetic")
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="Rows of the synthetic set (default 1,000,000; the issue: 10M).")  # fmt: skip
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--data-dir", default=None, help="Folder of the real data files.")
    parser.add_argument("--markdown", default=None,
                        help="Write the section 'regression' of this Markdown file "
                             "(docs/BENCHMARKS.md).")  # fmt: skip
    parser.add_argument("--out", default=None, help="Write the results as JSON here.")
    args = parser.parse_args(argv)
    if args.rows < 1000:
        parser.error(f"--rows must be >= 1000. Got {args.rows} instead.")
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1. Got {args.seeds} instead.")
    words = ["python -m benchmarks.bench_regression", *(argv if argv is not None else sys.argv[1:])]
    results = run(tuple(args.datasets.split(",")), rows=args.rows, seeds=args.seeds,
                  data_home=args.data_dir, command=" ".join(words))  # fmt: skip
    text = render_markdown(results)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1))
    if args.markdown:
        write_section(args.markdown, "regression", text)


if __name__ == "__main__":
    main()
