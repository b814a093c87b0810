"""refit="full": passes, loss gap to scikit-learn's full-data optimum, and cost against a build.

For each data set (the four real sets: the standardized training split of
``train_test_standardized``; ``synthetic-2`` / ``synthetic-7``: ``make_synthetic`` rows, 54
float32 features, 2 or 7 classes, generated in memory), with C = 1:

- a CoresetTree of ``min(20,000, 10% of the rows)`` root rows is built from the rows, and
  :func:`coreset_engine.fit_logistic_full` refits on all of them from the tree (warm start on
  the root coreset included in its time). Build and refit alternate ``--repeats`` times; the
  ratio is the median refit's seconds over the median build's, wall-clock and CPU (all
  threads of the process), both on the engine's thread pool with one BLAS thread per block.
- **gap**: (objective at the refit model - objective at scikit-learn's optimum) / the latter,
  objective ``sum_i cw_i loss_i + ||coef||^2 / 2`` over all rows; scikit-learn's optimum is
  ``LogisticRegression(solver="newton-cholesky", tol=1e-10)`` fitted on all rows in float64
  (7 classes, 2,000,000 rows: about 6 minutes on 2 cores).
  **gap by pass**: the same for the point held after each pass (a negative value: below
  scikit-learn's own optimum, to its tolerance).
  ``--seeds N`` also refits from the trees of random_state 1 .. N-1 (untimed) and lists the
  passes seed by seed and the largest gap: how many passes the coreset's warm start leaves
  depends on the draw, and one seed can hide that.

``--grid`` times the search side instead: GridSearch over 8 C values x class_weight (16
LogisticRegression configurations, lbfgs, 3-fold CV, ROC AUC) on a coreset, with every fit
cold (``warm_start_path=False``) and with the default warm-started C paths, alternating
``--repeats`` times; CPU seconds of the searches, their picks and the largest difference in a
candidate's mean score. Problems (``--grid-problems``): ``weak``, a 400,000-row
(``--weak-rows``) weak-signal set (80 one-hot columns of 10 categorical variables and 10 normal
ones, AUC ~0.64; 20,000-row coreset), a9a and KDD Cup '99 (2,000-row coresets, standardized).

``--file PATH`` builds from an HDF5 file and refits from that tree, both streaming the file
(a 10,000,000-row ``make_synthetic_hdf5`` file, 54 float32 features, 7 classes, written there
if missing); too large for a scikit-learn reference, it shows the solver's predicted gaps.

``--parts refit,grid`` runs both; ``--markdown docs/BENCHMARKS.md`` writes their tables, the
command and the machine's load as the section "refit" (or ``--section``) of that file (``write_section``).

Run from the repository root:
      python -m benchmarks.bench_refit                     (all data sets, about 25 minutes)
      python -m benchmarks.bench_refit --datasets a9a,skin --repeats 1
      python -m benchmarks.bench_refit --grid              (about 3 minutes)
      python -m benchmarks.bench_refit --parts refit,grid --datasets kddcup99,skin,a9a,bank_marketing \\
          --markdown docs/BENCHMARKS.md
      python -m benchmarks.bench_refit --file /tmp/syn10M.h5 --repeats 2
"""

from __future__ import annotations

import argparse
import functools
import os
import shlex
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.utils.class_weight import compute_class_weight
from threadpoolctl import threadpool_limits

from coreset_engine import CoresetTree, fit_logistic_full
from coreset_engine.datasets import load_dataset, train_test_standardized
from coreset_engine.synthetic import make_synthetic

REAL = ("kddcup99", "skin", "a9a", "bank_marketing")
SYNTHETIC = {"synthetic-2": 2, "synthetic-7": 7}
GRID = {
    "C": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 1.0],
    "class_weight": [None, "balanced"],
}


# ------------------------------------------------------------------------------ refit
def load(name: str, synthetic_rows: int):
    if name in SYNTHETIC:
        return make_synthetic(synthetic_rows, n_features=54, n_classes=SYNTHETIC[name])
    X, _, y, _ = train_test_standardized(load_dataset(name))
    return X, y


def objective(model, X, y, class_weight) -> float:
    """sum_i cw_i loss_i + ||coef||^2 / 2 (C = 1), in float64, by row blocks."""
    classes = model.classes_
    factors = np.ones(classes.size)
    if class_weight is not None:
        factors = compute_class_weight(class_weight, classes=classes, y=y)
    total = 0.0
    for start in range(0, len(y), 500_000):
        rows = X[start : start + 500_000].astype(np.float64)
        labels = np.searchsorted(classes, y[start : start + 500_000])
        scores = rows @ model.coef_.T + model.intercept_
        if scores.shape[1] == 1:
            scores = np.hstack([np.zeros_like(scores), scores])
        losses = np.logaddexp.reduce(scores, axis=1) - scores[np.arange(labels.size), labels]
        total += float(factors[labels] @ losses)
    return total + float((model.coef_**2).sum()) / 2


def reference_objective(X, y, class_weight, start=None) -> float:
    """The objective at scikit-learn's own optimum (newton-cholesky, tol 1e-10, float64).
    ``start``: a fitted model it starts from (``warm_start``; its own convergence test still
    decides where it stops): a cold start on KDD Cup '99 takes many minutes on a busy machine."""
    model = LogisticRegression(C=1.0, class_weight=class_weight, solver="newton-cholesky",
                               tol=1e-10, max_iter=300, warm_start=start is not None)  # fmt: skip
    if start is not None:
        model.coef_, model.intercept_ = start.coef_.copy(), start.intercept_.copy()
    with threadpool_limits(2), warnings.catch_warnings():  # not timed
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X.astype(np.float64, copy=False), y)
    return objective(model, X, y, class_weight)


def clock(function):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def refit_row(name, X, y, class_weight, args) -> dict:
    size = min(20_000, len(y) // 10)
    # untimed: the first build and refit of a dtype compile (or load) the kernels
    fit_logistic_full(CoresetTree(coreset_size=size, random_state=0).build(X, y), C=1.0,
                      class_weight=class_weight)  # fmt: skip
    builds, refits = [], []
    for _ in range(args.repeats):
        tree, wall, cpu = clock(lambda: CoresetTree(coreset_size=size, random_state=0).build(X, y))
        builds.append((wall, cpu))
        model, wall, cpu = clock(
            functools.partial(fit_logistic_full, tree, C=1.0, class_weight=class_weight)
        )
        refits.append((wall, cpu))
    best = reference_objective(X, y, class_weight, model if args.warm_reference else None)
    report = model.full_fit_
    build, refit = np.median(builds, axis=0), np.median(refits, axis=0)
    # the same refit from the trees of other seeds (untimed): how many passes the coreset's
    # warm start leaves, seed by seed
    seeds = [(report.passes, (objective(model, X, y, class_weight) - best) / best)]
    switch = _compared(args)
    without = [without_switch(tree, class_weight, switch)] if switch else []
    for seed in range(1, args.seeds):
        other_tree = CoresetTree(coreset_size=size, random_state=seed).build(X, y)
        other = fit_logistic_full(other_tree, C=1.0, class_weight=class_weight)
        seeds.append((other.full_fit_.passes,
                      (objective(other, X, y, class_weight) - best) / best))  # fmt: skip
        if switch:
            without.append(without_switch(other_tree, class_weight, switch))
    return {
        "seed_passes": [p for p, _ in seeds], "seed_gaps": [g for _, g in seeds],
        "seed_passes_without": without, "without": switch,
        "data": name, "rows": len(y), "features": X.shape[1], "classes": np.unique(y).size,
        "class_weight": class_weight, "coreset": size, "passes": report.passes,
        "gap": seeds[0][1],
        "gaps": [(value - best) / best for value in report.objectives],
        "hessian": report.hessian, "wall_ratio": refit[0] / build[0],
        "cpu_ratio": refit[1] / build[1], "build_wall": build[0], "refit_wall": refit[0],
        "warm_start_wall": report.warm_start_seconds,
    }  # fmt: skip


#: --compare-candidate and --compare-exact-rows: the engine's switch each turns off, and what
#: the table calls the refits without it
SWITCHES = {
    "USE_CORESET_CANDIDATE": "without the coreset candidate",
    "USE_EXACT_ROWS": "without the exact rare rows",
}


def _compared(args) -> str | None:
    if args.compare_candidate:
        return "USE_CORESET_CANDIDATE"
    return "USE_EXACT_ROWS" if args.compare_exact_rows else None


def without_switch(tree, class_weight, switch: str) -> int:
    """Passes of the same refit with the engine's switch ``_full_fit.<switch>`` off (set back
    afterwards): the coreset-corrected candidate, or its exact rare rows."""
    from coreset_engine import _full_fit

    saved = getattr(_full_fit, switch)
    setattr(_full_fit, switch, False)
    try:
        return fit_logistic_full(tree, C=1.0, class_weight=class_weight).full_fit_.passes
    finally:
        setattr(_full_fit, switch, saved)


def _summary(passes) -> str:
    return f"{np.mean(passes):.2f} ({sum(p <= 4 for p in passes)} of {len(passes)})"


def refit_table(rows) -> str:
    lines = [
        (
            "| data | rows x features | classes | class_weight | coreset rows | passes | gap | "
            "gap by pass | build s | refit s (warm start s) | refit / build, wall | "
            "refit / build, CPU |"
        ),
        "|---|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    several = any(len(r["seed_passes"]) > 1 for r in rows)
    compared = next((r["without"] for r in rows if r.get("seed_passes_without")), None)
    if several:
        lines[0] += " passes, seeds 0, 1, ... | mean (at most 4) | largest gap, those seeds |"
        lines[1] += "---|---:|---:|"
    if compared:
        lines[0] += f" {SWITCHES[compared]}: passes | mean (at most 4) |"
        lines[1] += "---|---:|"
    for r in rows:
        by_pass = ", ".join(f"{g:.0e}" for g in r["gaps"])
        seeds = ""
        if several:
            seeds = (f" {', '.join(map(str, r['seed_passes']))} | "
                     f"{_summary(r['seed_passes'])} | {max(r['seed_gaps']):.1e} |")  # fmt: skip
        if compared:
            seeds += (f" {', '.join(map(str, r['seed_passes_without']))} | "
                      f"{_summary(r['seed_passes_without'])} |")  # fmt: skip
        lines.append(
            f"| {r['data']} | {r['rows']:,} x {r['features']} | {r['classes']} | "
            f"{r['class_weight']} | {r['coreset']:,} | {r['passes']} | {r['gap']:.1e} | "
            f"{by_pass} | {r['build_wall']:.2f} | {r['refit_wall']:.2f} "
            f"({r['warm_start_wall']:.2f}) | {r['wall_ratio']:.2f} | {r['cpu_ratio']:.2f} |"
            + seeds
        )
    return "\n".join(lines)


def run_file(args) -> dict:
    """Build from an HDF5 file and refit from the tree (both streaming the file), alternating;
    no scikit-learn reference at this size: the gap shown is the solver's own estimate."""
    import os

    path = args.file
    if not os.path.exists(path):
        from coreset_engine.synthetic import make_synthetic_hdf5

        print(f"writing {path} ...", flush=True)
        make_synthetic_hdf5(path, args.file_rows)
    builds, refits = [], []
    for _ in range(args.repeats):
        tree, wall, cpu = clock(
            lambda: CoresetTree(coreset_size=20_000, random_state=0).build_from_file(path)
        )
        builds.append((wall, cpu))
        model, wall, cpu = clock(functools.partial(fit_logistic_full, tree, C=1.0))
        refits.append((wall, cpu))
    report = model.full_fit_
    build, refit = np.median(builds, axis=0), np.median(refits, axis=0)
    row = {
        "file": path, "rows": tree.n_samples_, "features": tree.n_features_in_,
        "classes": tree.n_classes_, "passes": report.passes,
        "predicted_gaps": report.predicted_gaps, "build_wall": build[0], "build_cpu": build[1],
        "refit_wall": refit[0], "refit_cpu": refit[1], "warm_start_wall": report.warm_start_seconds,
    }  # fmt: skip
    gaps = ", ".join("-" if g is None else f"{g:.0e}" for g in report.predicted_gaps)
    print(f"{path}: {row['rows']:,} x {row['features']}, {row['classes']} classes, coreset "
          f"20,000, chunk 1,000,000, {args.repeats} alternations, medians")  # fmt: skip
    print("| passes | predicted gap by pass | build s (CPU s) | refit s (CPU s) | warm start s | "
          "refit / build, wall | refit / build, CPU |")  # fmt: skip
    print("|---:|---|---:|---:|---:|---:|---:|")
    print(f"| {row['passes']} | {gaps} | {build[0]:.1f} ({build[1]:.1f}) | {refit[0]:.1f} "
          f"({refit[1]:.1f}) | {report.warm_start_seconds:.1f} | {refit[0] / build[0]:.2f} | "
          f"{refit[1] / build[1]:.2f} |")  # fmt: skip
    return row


def run_refit(args) -> list[dict]:
    rows = []
    for name in args.datasets.split(","):
        X, y = load(name, args.synthetic_rows)
        weights = [None] if name in SYNTHETIC else [None, "balanced"]
        for class_weight in weights:
            row = refit_row(name, X, y, class_weight, args)
            rows.append(row)
            print(f"{name} class_weight={class_weight}: {row['passes']} passes, gap "
                  f"{row['gap']:.1e}, refit {row['refit_wall']:.2f} s (warm start "
                  f"{row['warm_start_wall']:.2f} s), build {row['build_wall']:.2f} s, "
                  f"ratio wall {row['wall_ratio']:.2f} CPU {row['cpu_ratio']:.2f}; passes by "
                  f"seed {row['seed_passes']}", flush=True)  # fmt: skip
    print(refit_table(rows))
    return rows


# ------------------------------------------------------------------------------- grid
def weak_one_hot(n: int, seed: int = 0):
    """80 one-hot columns (10 variables of 8 levels) and 10 normal ones; weak effects."""
    beta = np.random.default_rng(12345)
    coef = np.r_[beta.normal(scale=0.15, size=80), beta.normal(scale=0.1, size=10)]
    rng = np.random.default_rng(seed)
    levels = rng.integers(0, 8, size=(n, 10))
    X = np.zeros((n, 90))
    X[np.arange(n)[:, None], levels + 8 * np.arange(10)] = 1.0
    X[:, 80:] = rng.normal(size=(n, 10))
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ coef - 1.8)))).astype(np.int64)
    return X, y


def run_grid(args) -> list[dict]:
    from tuners import GridSearch, register_backend
    from tuners._backends import JoblibBackend

    register_backend("sklearn-cold", functools.partial(JoblibBackend, warm_start_path=False))
    problems = {}
    for name in args.grid_problems.split(","):
        if name == "weak":
            X, y = weak_one_hot(args.weak_rows)
            problems["weak one-hot"] = (X, y, min(20_000, len(y) // 10))
        elif name in REAL:
            problems[name] = (*load(name, 0), 2_000)
        else:
            raise ValueError(f"--grid-problems: unknown problem {name!r} (weak, {', '.join(REAL)})")
    rows = []
    for name, (X, y, size) in problems.items():
        tree = CoresetTree(coreset_size=size, random_state=0).build(X, y)
        seconds = {"sklearn-cold": [], "sklearn": []}
        searches = {}
        for _ in range(args.repeats):
            for backend, cpus in seconds.items():
                search = GridSearch(LogisticRegression(), GRID, cv=3, scoring="roc_auc",
                                    random_state=0, refit=False, backend=backend)  # fmt: skip
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    searches[backend], _, cpu = clock(functools.partial(search.fit, tree))
                cpus.append(cpu)
        cold, warm = searches["sklearn-cold"], searches["sklearn"]
        cold_scores = cold.cv_results_["mean_test_score"]
        difference = np.max(np.abs(cold_scores - warm.cv_results_["mean_test_score"]))
        # where the picks differ: what the path's pick scores below the cold pick in the cold
        # fits (two configurations within the fits' tolerance of each other can swap)
        lost = cold.best_score_ - cold_scores[cold.cv_results_["params"].index(warm.best_params_)]
        row = {
            "problem": name, "coreset": size, "cold_cpu": float(np.median(seconds["sklearn-cold"])),
            "path_cpu": float(np.median(seconds["sklearn"])), "cold_pick": cold.best_params_,
            "path_pick": warm.best_params_, "score_difference": float(difference),
            "pick_score_lost": float(lost),
        }  # fmt: skip
        rows.append(row)
        print(f"{name}: cold {row['cold_cpu']:.2f} CPU-s, path {row['path_cpu']:.2f} CPU-s, "
              f"picks {row['cold_pick']} / {row['path_pick']}", flush=True)  # fmt: skip
    print(grid_table(rows))
    return rows


def grid_table(rows) -> str:
    lines = [
        (
            "| problem | coreset rows | cold fits, CPU s | C paths, CPU s | cold / paths | same pick "
            "| pick (C, class_weight) | largest score difference | cold CV score the path's pick "
            "lacks |"
        ),
        "|---|---:|---:|---:|---:|---|---|---:|---:|",
    ]
    for r in rows:
        pick = r["path_pick"]
        lines.append(
            f"| {r['problem']} | {r['coreset']:,} | {r['cold_cpu']:.2f} | {r['path_cpu']:.2f} "
            f"| {r['cold_cpu'] / r['path_cpu']:.2f}x | "
            f"{'yes' if r['cold_pick'] == r['path_pick'] else 'no'} | "
            f"{pick['C']}, {pick['class_weight']} | {r['score_difference']:.1e} | "
            f"{r['pick_score_lost']:.1e} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------- report
def markdown(command, started, loads, results, repeats, warm=False) -> str:
    """The section "refit" of docs/BENCHMARKS.md: the command, the machine and the tables."""
    cpus = len(os.sched_getaffinity(0))
    busy = max(loads)
    several = "refit" in results and any(len(r["seed_passes"]) > 1 for r in results["refit"])
    lines = [
        ('## refit="full" from the trees of several seeds: passes seed by seed' if several
         else '## refit="full": streamed Newton refit vs build, and warm-started C paths'),
        "",
        (
            f"Produced by `{command}` on {started} ({cpus} cores; load average "
            f"{loads[0]:.1f} at the start, {loads[-1]:.1f} at the end)."
        ),
    ]
    if busy >= cpus:
        lines += [
            "",
            (
                f"The machine was shared and busy (load average up to {busy:.1f} on {cpus} cores): "
                "absolute seconds are not representative; the ratios compare runs made side by "
                "side (alternating) in the same conditions."
            ),
        ]
    if "refit" in results:
        lines += [
            "",
            (
                '### refit="full": passes, gap to scikit-learn\'s full-data optimum, cost against '
                "a build"
            ),
            "",
            (
                "Each data set's standardized training split (80%), C = 1. A CoresetTree of "
                "min(20,000, 10% of the rows) root rows built from the rows, then "
                '`fit_logistic_full(tree)` (what `refit="full"` runs for LogisticRegression), '
                "warm start on the coreset included; build and refit alternate "
                f"{repeats} times, medians. **gap**: (objective of the refit - objective at "
                "scikit-learn's optimum, `newton-cholesky`, tol 1e-10, all rows in float64"
                f"{', warm-started at the refit (--warm-reference)' if warm else ''}) / the "
                "latter; **gap by pass**: the same after each pass (negative: below scikit-learn's "
                "own optimum, to its tolerance). Targets (issue 14): gap <= 1e-6 in <= 4 passes, "
                "refit / build <= 2."
                + (" **passes, seeds 0, 1, ...**: the same refit from the trees of other "
                   "random_state values (untimed, the same reference); **mean (at most 4)**: "
                   "their mean and how many took at most 4." if several else "")
                + _compared_text(results["refit"])
            ),
            "",
            refit_table(results["refit"]),
        ]
    if "grid" in results:
        lines += [
            "",
            "### The search side: cold fits vs warm-started C paths",
            "",
            (
                "GridSearch of LogisticRegression (lbfgs) over 8 C values x class_weight (None, "
                "balanced), 3-fold CV, ROC AUC, on the tree's coreset: every fit cold "
                "(`warm_start_path=False`) vs the default C paths (each fold's C values fitted in "
                f"order, each warm-started from the previous), alternating {repeats} times, "
                "median CPU seconds of the whole search."
            ),
            "",
            grid_table(results["grid"]),
        ]
    return "\n".join(lines)


def _compared_text(rows) -> str:
    switch = next((r["without"] for r in rows if r.get("seed_passes_without")), None)
    if switch == "USE_CORESET_CANDIDATE":
        return (" **without the coreset candidate**: the same trees refitted with "
                "`_full_fit.USE_CORESET_CANDIDATE = False` (two classes: no coreset-corrected "
                "candidate; more classes never have one).")  # fmt: skip
    if switch == "USE_EXACT_ROWS":
        return (" **without the exact rare rows**: the same trees refitted with "
                "`_full_fit.USE_EXACT_ROWS = False` (the coreset-corrected candidate's model "
                "on the coreset's rows alone, as before 2026-12-08).")  # fmt: skip
    return ""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=",".join([*REAL, *SYNTHETIC]))
    parser.add_argument("--synthetic-rows", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=1,
                        help="also refit from the trees of random_state 1 .. SEEDS-1 "
                             "(untimed): passes and gap seed by seed")  # fmt: skip
    parser.add_argument("--compare-candidate", action="store_true",
                        help="also refit every seed's tree without the coreset-corrected "
                             "candidate (untimed): passes seed by seed")  # fmt: skip
    parser.add_argument("--compare-exact-rows", action="store_true",
                        help="also refit every seed's tree without the exact rare rows in the "
                             "coreset-corrected candidate's model (untimed)")  # fmt: skip
    parser.add_argument("--warm-reference", action="store_true",
                        help="start scikit-learn's reference fit at the refit's coefficients")  # fmt: skip
    parser.add_argument("--grid", action="store_true", help="time the search side instead")
    parser.add_argument(
        "--parts", default=None, help="refit, grid or refit,grid (default: refit; grid with --grid)"
    )
    parser.add_argument(
        "--markdown",
        default=None,
        help="write the section --section of this Markdown file (docs/BENCHMARKS.md)",
    )
    parser.add_argument("--section", default="refit",
                        help="with --markdown: the section's name (default refit)")  # fmt: skip
    parser.add_argument("--grid-problems", default="weak,a9a,kddcup99",
                        help="with --grid: weak (the one-hot set) and real data sets")  # fmt: skip
    parser.add_argument("--weak-rows", type=int, default=400_000)
    parser.add_argument("--file", default=None,
                        help="build and refit from this HDF5 file instead (written by "
                             "make_synthetic_hdf5 if missing)")  # fmt: skip
    parser.add_argument("--file-rows", type=int, default=10_000_000)
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    if args.compare_candidate and args.compare_exact_rows:
        parser.error("--compare-candidate and --compare-exact-rows: one at a time")
    if args.file:
        return run_file(args)
    parts = (args.parts or ("grid" if args.grid else "refit")).split(",")
    unknown = sorted(set(parts) - {"refit", "grid"})
    if unknown:
        raise ValueError(f"--parts: expected refit and/or grid, got {unknown}")
    command = "python -m benchmarks.bench_refit " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    loads = [os.getloadavg()[0]]
    results = {}
    for part in parts:
        results[part] = run_refit(args) if part == "refit" else run_grid(args)
        loads.append(os.getloadavg()[0])
    if args.markdown:
        from coreset_cli.bench.report import write_section

        write_section(args.markdown, args.section,
                      markdown(command, started, loads, results, args.repeats, args.warm_reference))  # fmt: skip
    return results[parts[0]] if len(parts) == 1 else results


if __name__ == "__main__":
    main()
