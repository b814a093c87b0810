"""Coreset quality and cost on real and synthetic data: uniform vs square-root leverage (l2s) vs
sensitivity, one-shot and tree root, over a sweep of coreset sizes and seeds.

For every data set, size, method and seed:

- loss ratio: full-data objective (L2 logistic regression, C=1; multinomial for the synthetic
  7-class set) at the model fitted on the coreset with its weights, over the full-data optimum.
  The coreset summarises *all* labelled rows and the objective is over all of them. One-shot =
  one leaf holding every row; tree root = root of a tree of ``TREE_LEAVES`` leaves.
- test-AUC gap: test AUC of the model fitted on all training rows minus that of the model
  fitted on the tree-root coreset of the training rows (``train_test_standardized``: 80/20
  stratified, a9a its own test file; macro one-vs-rest AUC for several classes). Positive means
  the coreset model is worse.
- sampling seconds (tree build, one-shot and tree) and fit seconds on the coreset; the fit-time
  speedup is the full-data fit's seconds over the coreset fit's. Fits use one BLAS thread on
  both sides; the full-data fit is timed once per data set (cold start) and reused.

Statistics are the median and interquartile range over seeds. Features are standardized
(categoricals one-hot). Binary fits use Newton-Cholesky (``coreset_engine.evaluation``),
multinomial fits L-BFGS (Newton-Cholesky's multinomial Hessian is 10x slower at 54 x 7).

    python -m benchmarks.bench_engine                        # all data sets, 5 seeds (~20 min)
    python -m benchmarks.bench_engine --datasets kddcup99 --seeds 7
    python -m benchmarks.bench_engine --quick                # smoke run, seconds

Writes ``<out-dir>/engine.json`` and ``<out-dir>/engine.csv``, then the plots and
``BENCHMARKS.md`` through :mod:`coreset_cli.bench.report`. ``coreset-engine bench`` is the same,
and works from an installed wheel: this module is installed with the command line
(``benchmarks/bench_engine.py`` of a source checkout is this module).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import json
import os
import platform
import shlex
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from coreset_engine import CoresetTree
from coreset_engine.evaluation import logistic_objective

REAL_DATASETS = ("kddcup99", "skin", "a9a", "bank_marketing")
DATASETS = (*REAL_DATASETS, "synthetic", "weak_signal")
#: Default sweep of coreset sizes per data set.
SIZES = {
    "kddcup99": [3_000, 10_000, 30_000],
    "skin": [250, 1_000, 5_000],
    "a9a": [1_000, 2_000, 5_000],
    "bank_marketing": [1_000, 2_000, 5_000],
    "synthetic": [2_000, 5_000, 20_000],
    "weak_signal": [2_000, 5_000, 20_000],
}
METHODS = ("uniform", "l2s", "sensitivity")
#: Leaves of the tree whose root is measured: chunk = ceil(rows / TREE_LEAVES), >= 2 x size.
TREE_LEAVES = 8
#: Rows of the synthetic set (the 46M-row scale file's distribution: 54 heavy-tailed features,
#: 7 imbalanced classes), written with ``make_synthetic_hdf5`` and read back.
SYNTHETIC_ROWS = 1_000_000
#: Rows of the weak-signal set (``coreset_engine.synthetic.make_weak_signal``: 94 columns, 80 of
#: them one-hot, 15% positives, full-data test AUC ~0.65), the case of a 3M-row real table.
WEAK_ROWS = 3_000_000
#: CoresetTree(calibrate=...) of every build (``--no-calibrate`` turns it off for a run).
CALIBRATE = True
#: CoresetTree(sketch_size=...) of every build (``--sketch-size``; None: exact leverage).
SKETCH_SIZE = None
FIT_THREADS = 1
#: ``--quick``: a smoke run of seconds (tests use it).
QUICK = {"datasets": ("skin", "synthetic"), "seeds": 2, "sizes": [200, 1_000],
         "max_rows": 20_000, "synthetic_rows": 20_000}  # fmt: skip
DEFAULT_SEEDS = 5


@dataclass
class Problem:
    """One data set, standardized twice: all rows (loss ratios) and a train/test split (AUC)."""

    name: str
    X: np.ndarray
    y: np.ndarray
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_classes(self) -> int:
        return int(self.y.max()) + 1


# ------------------------------------------------------------------------------ data
def load_problem(name: str, *, max_rows: int | None = None, synthetic_rows: int = SYNTHETIC_ROWS,
                 data_home=None, work_dir: str | os.PathLike = "results",
                 weak_rows: int = WEAK_ROWS) -> Problem:  # fmt: skip
    """Load a real data set by name (``coreset_engine.datasets``) or the synthetic one.

    ``max_rows`` keeps a random subset of that many rows (and as many test rows, for a9a);
    used by ``--quick``.
    """
    if name == "synthetic":
        return _synthetic_problem(synthetic_rows, work_dir)
    if name == "weak_signal":
        return _weak_signal_problem(weak_rows)
    from coreset_engine.datasets import Dataset, load_dataset, train_test_standardized

    data = load_dataset(name, data_home)
    if max_rows is not None and data.n_samples > max_rows:
        rng = np.random.default_rng(0)
        keep = np.sort(rng.choice(data.n_samples, max_rows, replace=False))
        test = None
        if data.X_test is not None:
            test = np.sort(rng.choice(data.X_test.shape[0], min(max_rows, data.X_test.shape[0]),
                                      replace=False))  # fmt: skip
        data = Dataset(data.name, data.X[keep], data.y[keep], data.feature_names,
                       X_test=None if test is None else data.X_test[test],
                       y_test=None if test is None else data.y_test[test])  # fmt: skip
    X = data.X if data.X_test is None else np.vstack([data.X, data.X_test])
    y = data.y if data.y_test is None else np.concatenate([data.y, data.y_test])
    X_train, X_test, y_train, y_test = train_test_standardized(data, test_size=0.2, random_state=0)
    return Problem(name, _standardize(X), y, X_train, y_train, X_test, y_test)


def _synthetic_problem(rows: int, work_dir) -> Problem:
    import h5py

    from coreset_engine.synthetic import make_synthetic_hdf5

    path = Path(work_dir) / f"synthetic_{rows}.h5"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        make_synthetic_hdf5(path, rows, random_state=0)
    with h5py.File(path, "r") as handle:
        X = handle["X"][()].astype(np.float64)
        y = handle["y"][()].astype(np.int64)
    return _split_problem("synthetic", X, y)


def _weak_signal_problem(rows: int) -> Problem:
    from coreset_engine.synthetic import make_weak_signal

    X, y = make_weak_signal(rows, random_state=0)
    return _split_problem("weak_signal", X, y)


def _split_problem(name: str, X: np.ndarray, y: np.ndarray) -> Problem:
    """A stratified 80/20 split scaled by the training rows, as ``train_test_standardized``
    does for the real sets (whose ``Dataset`` is binary), and all rows standardized."""
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0,
                                                        stratify=y)  # fmt: skip
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    std[std == 0] = 1.0
    X_train = np.ascontiguousarray((X_train - mean) / std)
    X_test = np.ascontiguousarray((X_test - mean) / std)
    return Problem(name, _standardize(X), y, X_train, y_train, X_test, y_test)


def _standardize(X: np.ndarray) -> np.ndarray:
    std = X.std(axis=0)
    std[std == 0] = 1.0
    return np.ascontiguousarray((X - X.mean(axis=0)) / std)


# ------------------------------------------------------------------------ measuring
def fit_model(X, y, weights=None, *, warm_start_from: LogisticRegression | None = None,
              C: float = 1.0, class_weight=None):  # fmt: skip
    """L2 logistic regression, ``C`` per (weighted) row (default 1), converged tightly; one
    BLAS thread.

    Weights are rescaled to mean 1 and C multiplied by their mean (the same optimum). Two
    classes: Newton-Cholesky; more: L-BFGS. ``warm_start_from`` starts from another fit's
    coefficients (the same optimum, reached in fewer iterations). ``class_weight`` as in
    scikit-learn.
    """
    weights = np.ones(X.shape[0]) if weights is None else weights
    mean_weight = float(np.mean(weights))
    binary = np.unique(y).size <= 2
    model = LogisticRegression(C=C * mean_weight,
                               solver="newton-cholesky" if binary else "lbfgs",
                               max_iter=200 if binary else 2000, tol=1e-8,
                               class_weight=class_weight,
                               warm_start=warm_start_from is not None)  # fmt: skip
    if warm_start_from is not None:
        model.coef_ = warm_start_from.coef_.copy()
        model.intercept_ = warm_start_from.intercept_.copy()
    with threadpool_limits(FIT_THREADS), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # near-separable data: conditioning warnings
        model.fit(X, y, sample_weight=weights / mean_weight)
    model.C = C
    return model


def held_out_auc(model: LogisticRegression, X: np.ndarray, y: np.ndarray) -> float:
    """ROC AUC; macro one-vs-rest when there are more than two classes. NaN if the model has
    not seen every class."""
    classes = np.unique(y)
    if not np.array_equal(np.intersect1d(model.classes_, classes), classes):
        return float("nan")
    if model.classes_.size == 2:
        return float(roc_auc_score(y, model.decision_function(X)))
    return float(roc_auc_score(y, model.predict_proba(X), multi_class="ovr",
                               labels=model.classes_))  # fmt: skip


def tree_chunk(rows: int, size: int) -> int:
    return max(2 * size, -(-rows // TREE_LEAVES))


def summary(values: Sequence[float]) -> dict:
    """Median, quartiles and the values themselves."""
    q1, median, q3 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return {"median": float(median), "q1": float(q1), "q3": float(q3),
            "values": [float(v) for v in values]}  # fmt: skip


def _build(X, y, size, method, chunk, seed):
    started = time.perf_counter()
    coreset = CoresetTree(coreset_size=size, chunk_size=chunk, method=method,
                          calibrate=CALIBRATE, sketch_size=SKETCH_SIZE,
                          random_state=seed).build(X, y).get_coreset()  # fmt: skip
    return coreset, time.perf_counter() - started


def _timed_fit(coreset):
    started = time.perf_counter()
    model = fit_model(coreset.X, coreset.y, coreset.weights)
    return model, time.perf_counter() - started


def measure(problem: Problem, full: dict, size: int, method: str, seeds: int) -> dict:
    """All seeds of one (size, method): loss ratios one-shot and tree root, AUC, seconds."""
    n = problem.X.shape[0]
    paths = {"one_shot": n, "tree": tree_chunk(n, size)}
    out = {"size": size, "method": method}
    for path, chunk in paths.items():
        ratios, build_seconds, fit_seconds = [], [], []
        for seed in range(seeds):
            coreset, seconds = _build(problem.X, problem.y, size, method, chunk, seed)
            model, fitted = _timed_fit(coreset)
            ratios.append(logistic_objective(model, problem.X, problem.y, 1.0) / full["objective"])
            build_seconds.append(seconds)
            fit_seconds.append(fitted)
        out[path] = {"loss_ratio": summary(ratios), "chunk": chunk,
                     "sampling_seconds": summary(build_seconds),
                     "fit_seconds": summary(fit_seconds)}  # fmt: skip
    chunk = tree_chunk(problem.X_train.shape[0], size)
    aucs = []
    for seed in range(seeds):
        coreset, _ = _build(problem.X_train, problem.y_train, size, method, chunk, seed)
        aucs.append(held_out_auc(fit_model(coreset.X, coreset.y, coreset.weights),
                             problem.X_test, problem.y_test))  # fmt: skip
    out["auc"] = {"coreset": summary(aucs), "gap": summary([full["test_auc"] - a for a in aucs]),
                  "chunk": chunk}  # fmt: skip
    return out


def run_problem(problem: Problem, sizes: Sequence[int], methods: Sequence[str], seeds: int,
                echo: Callable[[str], None] = print) -> dict:  # fmt: skip
    """Every size and method on one data set."""
    n, d = problem.X.shape
    started = time.perf_counter()
    full_model = fit_model(problem.X, problem.y)
    full_seconds = time.perf_counter() - started
    started = time.perf_counter()
    train_model = fit_model(problem.X_train, problem.y_train, warm_start_from=full_model)
    train_seconds = time.perf_counter() - started
    full = {
        "objective": logistic_objective(full_model, problem.X, problem.y, 1.0),
        "fit_seconds": full_seconds,
        "test_auc": held_out_auc(train_model, problem.X_test, problem.y_test),
        "train_fit_seconds_warm_started": train_seconds,
    }
    record = {
        "name": problem.name, "rows": n, "features": d, "classes": problem.n_classes,
        "class_counts": np.bincount(problem.y).tolist(),
        "train_rows": int(problem.X_train.shape[0]), "test_rows": int(problem.X_test.shape[0]),
        "full": full, "results": [],
    }  # fmt: skip
    echo(f"\n{problem.name}: {n:,} x {d}, {problem.n_classes} classes; full fit "
         f"{full_seconds:.1f} s, full-data test AUC {full['test_auc']:.4f}")  # fmt: skip
    echo(f"{'rows':>8}  {'method':<12} {'loss ratio one-shot':<26} {'loss ratio tree root':<26} "
         f"{'AUC gap':>8} {'sample s':>8} {'fit x':>7}")  # fmt: skip
    for size in sizes:
        if size >= problem.X_train.shape[0]:
            echo(f"{size:>8,}  skipped: not smaller than the {problem.X_train.shape[0]:,} "
                 "training rows")  # fmt: skip
            continue
        for method in methods:
            result = measure(problem, full, size, method, seeds)
            record["results"].append(result)
            speedup = full_seconds / max(result["tree"]["fit_seconds"]["median"], 1e-9)
            echo(f"{size:>8,}  {method:<12} {_format(result['one_shot']['loss_ratio']):<26} "
                 f"{_format(result['tree']['loss_ratio']):<26} "
                 f"{result['auc']['gap']['median']:>+8.4f} "
                 f"{result['one_shot']['sampling_seconds']['median']:>8.2f} "
                 f"{speedup:>6.0f}x")  # fmt: skip
    return record


def _format(stats: dict) -> str:
    return f"{stats['median']:.4f} [{stats['q1']:.4f}, {stats['q3']:.4f}]"


def _warm_up(methods: Sequence[str]) -> None:
    """Compile (or load) the Numba kernels and touch the solvers before anything is timed."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4_000, 5))
    y = (X[:, 0] + rng.normal(size=4_000) > 0).astype(np.int64)
    for method in methods:
        CoresetTree(coreset_size=200, chunk_size=1_000, method=method, random_state=0).build(X, y)
    fit_model(X, y)
    fit_model(X, y + (X[:, 1] > 1))


# ---------------------------------------------------------------------------- running
def run(datasets: Sequence[str] | None = None, *, seeds: int | None = None,
        sizes: Sequence[int] | None = None, methods: Sequence[str] = METHODS,
        out_dir: str | os.PathLike = "results", quick: bool = False,
        synthetic_rows: int | None = None, data_home=None, command: str | None = None,
        echo: Callable[[str], None] = print, weak_rows: int | None = None) -> dict:  # fmt: skip
    """Run the benchmark and write ``engine.json`` and ``engine.csv`` to ``out_dir``.

    Defaults: every data set, ``DEFAULT_SEEDS`` seeds, the per-data-set ``SIZES``; with
    ``quick`` the smaller ``QUICK`` settings (row subsets, two seeds, two sizes). Returns the
    dict written to ``engine.json``.
    """
    datasets = list(datasets or (QUICK["datasets"] if quick else DATASETS))
    unknown = sorted(set(datasets) - set(DATASETS))
    if unknown:
        raise ValueError(f"datasets: expected names among {list(DATASETS)}, got {unknown}")
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"methods: expected names among {list(METHODS)}, got {unknown}")
    seeds = seeds or (QUICK["seeds"] if quick else DEFAULT_SEEDS)
    synthetic_rows = synthetic_rows or (QUICK["synthetic_rows"] if quick else SYNTHETIC_ROWS)
    weak_rows = weak_rows or (QUICK["synthetic_rows"] if quick else WEAK_ROWS)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    _warm_up(methods)
    results = {"meta": _meta(command, seeds, methods, quick), "datasets": {}}
    echo(f"loss ratio median [IQR] over {seeds} seeds; AUC gap = full-data model's test AUC "
         "minus the tree-root coreset model's (median); sample s = one-shot sampling; "
         "fit x = full fit s / tree-root coreset fit s")  # fmt: skip
    for name in datasets:
        problem = load_problem(name, max_rows=QUICK["max_rows"] if quick else None,
                               synthetic_rows=synthetic_rows, data_home=data_home,
                               work_dir=out_dir, weak_rows=weak_rows)  # fmt: skip
        chosen = list(sizes) if sizes else (QUICK["sizes"] if quick else SIZES[name])
        results["datasets"][name] = run_problem(problem, chosen, methods, seeds, echo)
        del problem
    results["meta"]["total_seconds"] = time.perf_counter() - started
    (out_dir / "engine.json").write_text(json.dumps(results, indent=1))
    write_csv(results, out_dir / "engine.csv")
    echo(f"\nwrote {out_dir / 'engine.json'} and {out_dir / 'engine.csv'} "
         f"({results['meta']['total_seconds']:.0f} s)")  # fmt: skip
    return results


def _meta(command, seeds, methods, quick) -> dict:
    import sklearn

    return {
        "command": command or "python -m benchmarks.bench_engine",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "seeds": seeds, "methods": list(methods), "quick": quick, "tree_leaves": TREE_LEAVES,
        "fit_threads": FIT_THREADS, "python": platform.python_version(),
        "numpy": np.__version__, "scikit_learn": sklearn.__version__,
        "cpu": _cpu_name(), "cpu_count": os.cpu_count(),
        "cpus_used": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }  # fmt: skip


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


CSV_COLUMNS = (
    "dataset", "rows", "features", "classes", "size", "method", "seeds",
    "ratio_one_shot_median", "ratio_one_shot_q1", "ratio_one_shot_q3",
    "ratio_tree_median", "ratio_tree_q1", "ratio_tree_q3",
    "auc_full", "auc_coreset_median", "auc_gap_median", "auc_gap_q1", "auc_gap_q3",
    "sampling_seconds_one_shot", "sampling_seconds_tree",
    "fit_seconds_full", "fit_seconds_one_shot", "fit_seconds_tree", "fit_speedup_tree",
)  # fmt: skip


def write_csv(results: dict, path) -> None:
    """One row per (data set, size, method), medians and quartiles."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for name, record in results["datasets"].items():
            full = record["full"]
            for r in record["results"]:
                one, tree, auc = r["one_shot"], r["tree"], r["auc"]
                writer.writerow([
                    name, record["rows"], record["features"], record["classes"], r["size"],
                    r["method"], len(one["loss_ratio"]["values"]),
                    *(one["loss_ratio"][k] for k in ("median", "q1", "q3")),
                    *(tree["loss_ratio"][k] for k in ("median", "q1", "q3")),
                    full["test_auc"], auc["coreset"]["median"],
                    *(auc["gap"][k] for k in ("median", "q1", "q3")),
                    one["sampling_seconds"]["median"], tree["sampling_seconds"]["median"],
                    full["fit_seconds"], one["fit_seconds"]["median"],
                    tree["fit_seconds"]["median"],
                    full["fit_seconds"] / max(tree["fit_seconds"]["median"], 1e-9),
                ])  # fmt: skip


def parse_list(text: str | None, cast=str) -> list | None:
    """``"a,b"`` -> ``["a", "b"]`` (None and "" -> None)."""
    if not text:
        return None
    return [cast(item.strip()) for item in text.split(",") if item.strip()]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0].replace("\n", " "), allow_abbrev=False
    )
    parser.add_argument("--datasets", default=None, help=f"Comma-separated, from {DATASETS}.")
    parser.add_argument("--seeds", type=int, default=None, help=f"Default {DEFAULT_SEEDS}.")
    parser.add_argument("--sizes", default=None, help="Comma-separated, for every data set.")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--out-dir", default="results")
    parser.add_argument("--out", default=None, help="Also write the JSON to this file.")
    parser.add_argument(
        "--docs-dir",
        default=None,
        help="Plots and BENCHMARKS.md (default docs/; with --quick the out-dir).",
    )
    parser.add_argument("--synthetic-rows", type=int, default=None)
    parser.add_argument("--weak-rows", type=int, default=None,
                        help=f"Rows of the weak-signal set (default {WEAK_ROWS:,}).")  # fmt: skip
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pilot-floor", type=float, default=None,
                        help="Experiment: the sensitivity method's PILOT_FLOOR for this run "
                        "(default 0.1).")  # fmt: skip
    parser.add_argument("--pilot-rows", type=int, default=None,
                        help="Experiment: rows a node's pilot is fitted on (default 5,000).")  # fmt: skip
    parser.add_argument("--sketch-size", type=int, default=None,
                        help="Experiment: build with CoresetTree(sketch_size=K), leverage "
                        "from a K-column Johnson-Lindenstrauss sketch (default: exact).")  # fmt: skip
    parser.add_argument("--first-phase-ratio", type=float, default=None,
                        help="Experiment: a node larger than twice this many coresets is "
                        "sampled in two phases, the first this many coresets large, with "
                        "calibrated weights too (by default only uncalibrated nodes are, "
                        "with 12); 0 draws every node in one phase.")  # fmt: skip
    parser.add_argument("--no-calibrate", action="store_true",
                        help="Experiment: build with CoresetTree(calibrate=False), the "
                        "sampled inverse-probability weights.")  # fmt: skip
    args = parser.parse_args(argv)
    if args.pilot_floor is not None and not 0 <= args.pilot_floor <= 1:
        parser.error(f"--pilot-floor must be in [0, 1]. Got {args.pilot_floor} instead.")
    if args.pilot_rows is not None and args.pilot_rows < 100:
        parser.error(f"--pilot-rows must be >= 100. Got {args.pilot_rows} instead.")
    if args.sketch_size is not None and args.sketch_size < 1:
        parser.error(f"--sketch-size must be >= 1. Got {args.sketch_size} instead.")
    if args.first_phase_ratio is not None and not (
        args.first_phase_ratio == 0 or args.first_phase_ratio >= 11
    ):  # below (1 + floor) / floor = 11 the second phase would cap rows
        parser.error("--first-phase-ratio must be 0 or >= 11. "
                     f"Got {args.first_phase_ratio} instead.")  # fmt: skip
    with _experiment(args.pilot_floor, args.pilot_rows, not args.no_calibrate, args.sketch_size,
                     args.first_phase_ratio):  # fmt: skip
        return _main(args, argv)


@contextlib.contextmanager
def _experiment(pilot_floor, pilot_rows, calibrate=True, sketch_size=None,
                first_phase_ratio=None):  # fmt: skip
    """The sampling constants an experiment run changes, put back afterwards."""
    from coreset_engine import _build
    from coreset_engine.methods import _sensitivity

    global CALIBRATE, SKETCH_SIZE
    saved = (_sensitivity.PILOT_FLOOR, _build.PILOT_ROWS, CALIBRATE, SKETCH_SIZE,
             _build.FIRST_PHASE_RATIO, _build.FIRST_PHASE_WHEN_CALIBRATED)  # fmt: skip
    CALIBRATE, SKETCH_SIZE = calibrate, sketch_size
    if pilot_floor is not None:
        _sensitivity.PILOT_FLOOR = pilot_floor
    if pilot_rows is not None:
        _build.PILOT_ROWS = pilot_rows
    if first_phase_ratio is not None:
        _build.FIRST_PHASE_RATIO = first_phase_ratio
        _build.FIRST_PHASE_WHEN_CALIBRATED = True
    try:
        yield
    finally:
        (_sensitivity.PILOT_FLOOR, _build.PILOT_ROWS, CALIBRATE, SKETCH_SIZE,
         _build.FIRST_PHASE_RATIO, _build.FIRST_PHASE_WHEN_CALIBRATED) = saved  # fmt: skip


def _main(args, argv) -> dict:
    warnings.filterwarnings("ignore")
    words = sys.argv[1:] if argv is None else list(argv)
    command = " ".join(["python -m benchmarks.bench_engine", *map(shlex.quote, words)]).strip()
    results = run(parse_list(args.datasets), seeds=args.seeds, sizes=parse_list(args.sizes, int),
                  methods=parse_list(args.methods), out_dir=args.out_dir, quick=args.quick,
                  synthetic_rows=args.synthetic_rows, data_home=args.data_dir,
                  command=command, weak_rows=args.weak_rows)  # fmt: skip
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1))
    from .report import write_report

    docs_dir = args.docs_dir or (args.out_dir if args.quick else "docs")
    for path in write_report(results, docs_dir, scale_json=Path(args.out_dir) / "scale.json"):
        print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
