"""Calibrated vs plain coreset weights across the configurations a search tries: the full-data
objective at the coreset's optimum over the full optimum, minus 1 (excess loss), for several C
values and both class weightings, ``CoresetTree(calibrate=True)`` against ``calibrate=False``
on the same draws.

Calibration tilts each node's weights so the gradient at the node's pilot model (C = 1 per row,
no class weights) is exact; this checks that the gain holds for parameters away from that pilot.

``python -m benchmarks.bench_calibration [--datasets a9a,weak_signal] [--size 5000]``
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from datetime import datetime, timezone

import numpy as np

from coreset_engine import CoresetTree
from coreset_engine.evaluation import logistic_objective

from .engine import fit_model, load_problem, tree_chunk
from .report import write_section

DATASETS = ("a9a", "bank_marketing", "weak_signal")
#: C per raw row (the objective is C x sum of weighted log-losses + ||coef||^2 / 2).
C_VALUES = (1e-5, 1e-3, 1.0)
CLASS_WEIGHTS = (None, "balanced")


def _objective(model, X, y, C, class_weight) -> float:
    """The objective the search's fit minimises (up to the factor C): class-weighted log-loss
    sum plus ||coef||^2 / (2 C)."""
    per_class = None
    if class_weight == "balanced":
        per_class = (y.size / (2 * np.bincount(y, minlength=2)))[y]
    return logistic_objective(model, X, y, C, sample_weight=per_class)


def run(datasets, size: int, seeds: int, weak_rows: int, echo=print) -> list[dict]:
    rows = []
    for name in datasets:
        problem = load_problem(name, weak_rows=weak_rows)
        X, y = problem.X, problem.y
        if np.unique(y).size != 2:
            raise ValueError(f"--datasets must name binary data sets. Got {name!r} instead.")
        chunk = tree_chunk(y.size, size)
        coresets = {
            calibrate: [CoresetTree(coreset_size=size, chunk_size=chunk, calibrate=calibrate,
                                    random_state=seed).build(X, y).get_coreset()
                        for seed in range(seeds)]
            for calibrate in (False, True)
        }  # fmt: skip
        for C in C_VALUES:
            for class_weight in CLASS_WEIGHTS:
                best = _objective(fit_model(X, y, C=C, class_weight=class_weight), X, y, C,
                                  class_weight)  # fmt: skip
                excess = {
                    calibrate: [_objective(fit_model(cs.X, cs.y, cs.weights, C=C,
                                                     class_weight=class_weight),
                                           X, y, C, class_weight) / best - 1 for cs in found]
                    for calibrate, found in coresets.items()
                }  # fmt: skip
                row = {"dataset": name, "rows": int(y.size), "C": C,
                       "class_weight": class_weight,
                       "plain": float(np.median(excess[False])),
                       "calibrated": float(np.median(excess[True]))}  # fmt: skip
                rows.append(row)
                echo(f"{name:<15} C={C:<8g} class_weight={class_weight!s:<9} excess loss: plain "
                     f"{row['plain']:.2e}, calibrated {row['calibrated']:.2e} "
                     f"({row['plain'] / max(row['calibrated'], 1e-300):.1f}x smaller)")  # fmt: skip
    return rows


def markdown(rows: list[dict], command: str, size: int, seeds: int) -> str:
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## Calibrated weights across C and class weights (`{command}`, {date})",
        "",
        (
            f"Tree root of {size:,} rows (the bench_engine tree: 8 leaves), median over {seeds} "
            "seeds of the excess loss (full-data objective at the coreset's optimum over the "
            "full optimum, minus 1) for C per raw row and class weighting; the same draws with "
            "`calibrate=False` (plain) and `calibrate=True`. Each node is calibrated at its "
            "pilot (C = 1 per row, no class weights)."
        ),
        "",
        "| data set | rows | C per row | class_weight | plain | calibrated | smaller by |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['rows']:,} | {r['C']:g} | {r['class_weight']} | "
            f"{r['plain']:.2e} | {r['calibrated']:.2e} | "
            f"{r['plain'] / max(r['calibrated'], 1e-300):.1f}x |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "),
                                     allow_abbrev=False)  # fmt: skip
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--size", type=int, default=5_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--weak-rows", type=int, default=300_000,
                        help="Rows of the weak-signal set (default 300,000).")  # fmt: skip
    parser.add_argument("--section-file", default="docs/BENCHMARKS.md",
                        help="Markdown file whose section 'calibration-configs' gets the table "
                        "('' for none).")  # fmt: skip
    args = parser.parse_args(argv)
    for flag, value in (("--size", args.size), ("--seeds", args.seeds),
                        ("--weak-rows", args.weak_rows)):  # fmt: skip
        if value < 1:
            parser.error(f"{flag} must be a positive integer. Got {value} instead.")
    words = sys.argv[1:] if argv is None else list(argv)
    command = " ".join(["python -m benchmarks.bench_calibration", *map(shlex.quote, words)])
    started = time.perf_counter()
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    rows = run(datasets, args.size, args.seeds, args.weak_rows)
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.section_file:
        path = write_section(args.section_file, "calibration-configs",
                             markdown(rows, command.strip(), args.size, args.seeds))  # fmt: skip
        print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    main()
