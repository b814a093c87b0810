"""Tuning tree models (gradient-boosted trees, random forests) on coresets vs on all rows.

    python -m benchmarks.bench_models                                  # about 20 min, 2 cores
    python -m benchmarks.bench_models --markdown docs/TUNING.md --out results/models.json
    python -m benchmarks.bench_models --rows 200000 --datasets kddcup99,synthetic

For each data set and model family, the same random configurations (``--n-iter``, drawn once
with scikit-learn's ParameterSampler) are searched twice with 3-fold CV and ROC AUC:

- on all training rows, with scikit-learn's ``GridSearchCV`` over that list (the full side);
- on a coreset of ``--share`` of the training rows (root of a 4-leaf tree), with
  ``tuners.GridSearch`` over the same list, once per coreset method (uniform, sensitivity,
  model_loss): weighted folds, weights passed as each library takes them (tuners' fit adapters:
  raw weights and a weighted early-stopping split for boosted trees).

Each pick is refitted on all training rows and scored on the test rows: the regret of a
coreset's pick is the full side's pick's test AUC minus its own (<= 0 means as good). With
``--seeds N`` each coreset search runs on N trees (random_state 0 .. N - 1) against the one full
side; the tables then give the median and the worst regret of the N. Times:
the full search against the coreset build plus its search (the refits are not counted).

The training rows are a stratified subset of ``--rows`` rows of each set (a9a and Bank
Marketing have fewer and are used whole), so the full side runs in minutes on a shared
2-core machine; the issue's 1M and 10M-row runs take ``--rows 1000000`` and hours of the full
side. Row-counted parameters (``min_samples_leaf``, LightGBM's ``min_child_samples``) do not
carry from a coreset to all rows (a coreset leaf of k rows stands for k n / m rows), so the
spaces tune weight- and hessian-denominated ones instead (``min_weight_fraction_leaf``,
``min_child_weight``, ``l2_regularization``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np

DATASETS = ("kddcup99", "a9a", "bank_marketing", "synthetic")
CORESET_METHODS = ("uniform", "sensitivity", "model_loss")
FULL_SIDES = ("search", "project")
#: Families run only when named (``--families``): variants of a default family's space.
OPT_IN_FAMILIES = ("random_forest_grown",)
TEST_ROWS = 20_000


def _loguniform(low, high):
    from scipy.stats import loguniform

    return loguniform(low, high)


def families() -> dict:
    """Model family -> (estimator factory, search space); LightGBM only when installed."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    out = {
        "hgb": (
            lambda: HistGradientBoostingClassifier(max_iter=100, random_state=0),
            {"learning_rate": _loguniform(0.02, 0.5), "max_leaf_nodes": [7, 15, 31, 63],
             "max_depth": [None, 4, 8], "l2_regularization": _loguniform(1e-3, 10.0),
             "max_features": [0.3, 0.6, 1.0]},
        ),
        "random_forest": (
            lambda: RandomForestClassifier(n_estimators=30, n_jobs=1, random_state=0),
            {"max_depth": [None, 6, 12, 20], "max_features": ["sqrt", 0.3, 0.6],
             "min_weight_fraction_leaf": [0.0, 1e-4, 1e-3, 1e-2],
             "criterion": ["gini", "entropy"]},
        ),
        # fully grown forests (Breiman's default): capacity fixed, the search tunes what does
        # not scale with the rows (features per split, split criterion, class weights)
        "random_forest_grown": (
            lambda: RandomForestClassifier(n_estimators=30, n_jobs=1, random_state=0),
            {"max_features": ["sqrt", 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0],
             "criterion": ["gini", "entropy"],
             "class_weight": [None, "balanced", "balanced_subsample"]},
        ),
    }  # fmt: skip
    try:
        import lightgbm
    except ImportError:
        return out
    out["lightgbm"] = (
        lambda: lightgbm.LGBMClassifier(n_estimators=100, min_child_samples=2, n_jobs=1,
                                        verbose=-1, random_state=0),
        {"learning_rate": _loguniform(0.02, 0.5), "num_leaves": [7, 15, 31, 63],
         "min_child_weight": _loguniform(1e-3, 10.0), "reg_lambda": _loguniform(1e-3, 10.0),
         "colsample_bytree": [0.3, 0.6, 1.0]},
    )  # fmt: skip
    return out


def synthetic_classification(n_rows: int, n_features: int = 20, seed: int = 0):
    """A binary problem trees are for: heavy-tailed features, interactions, thresholds and a
    sine (about 25% positives), with label noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_t(df=4, size=(n_rows, n_features))
    logit = (2 * np.sin(1.5 * X[:, 0]) + X[:, 1] * X[:, 2] + 1.5 * (X[:, 3] > 0.5)
             - np.abs(X[:, 4]) + 0.5 * X[:, 5] - 1.2)  # fmt: skip
    y = (rng.random(n_rows) < 1 / (1 + np.exp(-2 * logit))).astype(np.int64)
    return X, y


def load(name: str, rows: int, seed: int = 0, data_home=None):
    """(X_train, y_train, X_test, y_test): at most ``rows`` stratified training rows and
    ``TEST_ROWS`` test rows (a9a: its own test file)."""
    from sklearn.model_selection import train_test_split

    if name == "synthetic":
        X, y = synthetic_classification(rows + TEST_ROWS, seed=seed)
        return X[:rows], y[:rows], X[rows:], y[rows:]
    from coreset_engine.datasets import load_dataset

    data = load_dataset(name, data_home)
    if data.X_test is not None:
        X, y, X_test, y_test = data.X, data.y, data.X_test, data.y_test
    else:
        test = min(TEST_ROWS, int(0.3 * data.n_samples))
        X, X_test, y, y_test = train_test_split(data.X, data.y, test_size=test, stratify=data.y,
                                                random_state=seed)  # fmt: skip
    if len(y) > rows:
        X, _, y, _ = train_test_split(X, y, train_size=rows, stratify=y, random_state=seed)
    if len(y_test) > TEST_ROWS:
        X_test, _, y_test, _ = train_test_split(X_test, y_test, train_size=TEST_ROWS,
                                                stratify=y_test, random_state=seed)  # fmt: skip
    return (np.ascontiguousarray(X, dtype=np.float32), y,
            np.ascontiguousarray(X_test, dtype=np.float32), y_test)  # fmt: skip


def candidates(space: dict, n_iter: int, seed: int = 0) -> list[dict]:
    """The search's configurations, as a list of one-value grids both sides take."""
    from sklearn.model_selection import ParameterSampler

    return [{key: [value] for key, value in params.items()}
            for params in ParameterSampler(space, n_iter, random_state=seed)]  # fmt: skip


def _test_auc(factory, params, X, y, X_test, y_test) -> float:
    from sklearn.metrics import roc_auc_score

    model = factory().set_params(**params).fit(X, y)
    return float(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]))


def _projected_full_side(grid, cv, test_auc) -> dict:
    """The full side without its search (``--full-side project``): every configuration fitted
    once on all training rows and scored on the test rows by ``test_auc(params)`` (which
    caches it for the coreset picks), timed. The search's time is projected from those fits:
    cv fits per configuration on (cv - 1) / cv of the rows each, fit time taken as
    proportional to rows (as it is for histogram and tree building). A timed fit includes
    predicting the test rows (at most TEST_ROWS), where a search's fits predict their held-out
    folds, a third of the rows each, so the projection errs low. The "pick" is the
    configuration with the best test AUC: a coreset's regret against it bounds its regret
    against any search's pick from above."""
    configurations = [{key: values[0] for key, values in one.items()} for one in grid]
    seconds, aucs = [], []
    for params in configurations:
        started = time.perf_counter()
        aucs.append(test_auc(params))
        seconds.append(time.perf_counter() - started)
    best = int(np.argmax(aucs))
    return {"pick": configurations[best], "seconds": float(sum(seconds) * (cv - 1)),
            "projected": True, "refit_seconds": seconds, "test_auc": aucs[best],
            "cv_auc": None}  # fmt: skip


def run_one(name, data, family, factory, space, *, share, n_iter, cv, methods, echo,
            full_side="search", seeds=1, full_cv_seeds=0) -> dict:  # fmt: skip
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from coreset_engine import CoresetTree
    from tuners import GridSearch

    X, y, X_test, y_test = data
    grid = candidates(space, n_iter)
    refit_cache = {}

    def test_auc(params):
        key = repr(sorted(params.items()))
        if key not in refit_cache:
            refit_cache[key] = _test_auc(factory, params, X, y, X_test, y_test)
        return refit_cache[key]

    if full_side == "project":
        full_record = _projected_full_side(grid, cv, test_auc)
        full_seconds = full_record["seconds"]
    else:
        started = time.perf_counter()
        full = GridSearchCV(factory(), grid, scoring="roc_auc", cv=cv, refit=False).fit(X, y)
        full_seconds = time.perf_counter() - started
        full_record = {"pick": full.best_params_, "seconds": full_seconds,
                       "test_auc": test_auc(full.best_params_),
                       "cv_auc": float(full.best_score_),
                       "cv_se": _cv_standard_error(full.cv_results_, full.best_index_, cv)}  # fmt: skip
        # the same full search on other (shuffled) CV folds: how far its own pick moves
        # with the folds, the yardstick for a coreset search's regret
        others = []
        for fold_seed in range(1, full_cv_seeds + 1):
            folds = StratifiedKFold(cv, shuffle=True, random_state=fold_seed)
            other = GridSearchCV(factory(), grid, scoring="roc_auc", cv=folds, refit=False)
            pick = other.fit(X, y).best_params_
            others.append({"fold_seed": fold_seed, "pick": pick, "test_auc": test_auc(pick),
                           "regret": full_record["test_auc"] - test_auc(pick)})  # fmt: skip
            echo(f"{name:>15} {family:>13} full search, folds shuffled with seed {fold_seed}: "
                 f"regret {others[-1]['regret']:+.5f}")  # fmt: skip
        if others:
            full_record["other_folds"] = others
    record = {"rows": len(y), "test_rows": len(y_test), "features": X.shape[1],
              "configs": len(grid), "full": full_record, "coresets": {}}  # fmt: skip
    size = max(100, round(share * len(y)))
    for method in methods:
        runs = []
        for seed in range(seeds):  # the coreset's draw; the CV fold seed stays 0
            started = time.perf_counter()
            tree = CoresetTree(coreset_size=size, chunk_size=-(-len(y) // 4), method=method,
                               random_state=seed).build(X, y)  # fmt: skip
            build_seconds = time.perf_counter() - started
            search = GridSearch(factory(), grid, scoring="roc_auc", cv=cv, refit=False,
                                random_state=0).fit(tree)  # fmt: skip
            seconds = time.perf_counter() - started
            pick = search.best_params_
            auc = test_auc(pick)
            runs.append({
                "seed": seed, "size": size, "pick": pick, "build_seconds": build_seconds,
                "seconds": seconds, "test_auc": auc, "regret": record["full"]["test_auc"] - auc,
                "speedup": full_seconds / seconds, "cv_auc": float(search.best_score_),
                "cv_se": _cv_standard_error(search.cv_results_, search.best_index_, cv),
            })  # fmt: skip
            if full_side == "project":  # where the best configuration ranked on the coreset
                scores = np.asarray(search.cv_results_["mean_test_score"])
                best = search.cv_results_["params"].index(full_record["pick"])
                runs[-1]["best_config_rank"] = 1 + int(np.sum(scores > scores[best]))
            echo(f"{name:>15} {family:>13} {method:>11}: coreset {size:,} rows (seed {seed}), "
                 f"regret {record['full']['test_auc'] - auc:+.5f} (test AUC {auc:.5f} vs "
                 f"{record['full']['test_auc']:.5f}), {full_seconds:.1f} s / {seconds:.1f} s = "
                 f"{full_seconds / seconds:.0f}x")  # fmt: skip
        # seed 0's run at the top level (as a one-seed run records it), every seed's below
        record["coresets"][method] = {**runs[0], "runs": runs} if seeds > 1 else runs[0]
    return record


def _cv_standard_error(cv_results: dict, index: int, cv: int) -> float:
    """Standard error of a configuration's mean CV score: the sample standard deviation of its
    fold scores (``std_test_score`` is the population one, ddof 0) over sqrt(folds), i.e.
    std_test_score / sqrt(folds - 1). The scale of the folds' noise in each mean;
    configurations compared on the same folds share part of it, so their ranking is less noisy
    than this."""
    return float(cv_results["std_test_score"][index]) / float(np.sqrt(cv - 1))


def _regrets(cell: dict) -> list[float]:
    """The regret of every seed's run of one (data set, family, method) cell."""
    return [run["regret"] for run in cell.get("runs", [cell])]


def run(datasets=DATASETS, *, rows=10_000, share=0.02, n_iter=20, cv=3, methods=CORESET_METHODS,
        family_names=None, data_home=None, command="", echo=print, on_dataset=None,
        full_side="search", seeds=1, full_cv_seeds=0) -> dict:  # fmt: skip
    """Every (data set, family) of the module docstring, one BLAS/OpenMP thread per fit on
    both sides (several threads of OpenMP on a busy machine are many times slower).
    ``on_dataset(results)`` is called after each data set (partial reports). ``full_side``
    "project": each configuration fitted once on all rows and the search's time projected
    from those fits (:func:`_projected_full_side`), for sets whose full search takes hours.
    ``seeds``: coreset searches per method, on trees drawn with random_state 0 .. seeds - 1
    against the one full side (each such run is recorded under ``runs``). ``full_cv_seeds``:
    the full search run again that many times on shuffled CV folds (seeds 1 ..), its picks'
    regrets against the first full pick recorded under ``full["other_folds"]`` (the regret a
    full-data search itself shows from the choice of folds)."""
    from threadpoolctl import threadpool_limits

    if full_side not in FULL_SIDES:
        raise ValueError(f"The 'full_side' parameter must be one of {FULL_SIDES}. "
                         f"Got {full_side!r} instead.")  # fmt: skip
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"The 'seeds' parameter must be an int >= 1. Got {seeds!r} instead.")
    if isinstance(full_cv_seeds, bool) or not isinstance(full_cv_seeds, int) or full_cv_seeds < 0:
        raise ValueError("The 'full_cv_seeds' parameter must be an int >= 0. "
                         f"Got {full_cv_seeds!r} instead.")  # fmt: skip
    if full_cv_seeds and full_side != "search":
        raise ValueError("The 'full_cv_seeds' parameter needs full_side='search'. "
                         f"Got full_side={full_side!r}.")  # fmt: skip
    with threadpool_limits(1):
        return _run(datasets, rows, share, n_iter, cv, methods, family_names, data_home,
                    command, echo, on_dataset, full_side, seeds, full_cv_seeds)  # fmt: skip


def _run(datasets, rows, share, n_iter, cv, methods, family_names, data_home, command, echo,
         on_dataset, full_side, seeds, full_cv_seeds) -> dict:  # fmt: skip
    started = time.perf_counter()
    available = families()
    chosen = family_names or [name for name in available if name not in OPT_IN_FAMILIES]
    missing = [f for f in chosen if f not in available]
    if missing:
        raise ValueError(f"The 'families' parameter must name families from "
                         f"{sorted(available)} (lightgbm needs pip install "
                         f"'coreset-engine[boosting]'). Got {missing} instead.")  # fmt: skip
    results = {"meta": {"command": command, "date": date.today().isoformat(), "rows": rows,
                        "share": share, "n_iter": n_iter, "cv": cv, "methods": list(methods),
                        "families": chosen, "full_side": full_side, "seeds": seeds,
                        "full_cv_seeds": full_cv_seeds},
               "datasets": {}}  # fmt: skip
    for name in datasets:
        data = load(name, rows, data_home=data_home)
        results["datasets"][name] = {}
        for family in chosen:
            factory, space = available[family]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                results["datasets"][name][family] = run_one(
                    name, data, family, factory, space, share=share, n_iter=n_iter, cv=cv,
                    methods=methods, echo=echo, full_side=full_side, seeds=seeds,
                    full_cv_seeds=full_cv_seeds,
                )  # fmt: skip
        results["meta"]["minutes"] = (time.perf_counter() - started) / 60
        results["meta"]["cpus"] = os.cpu_count()
        results["meta"]["load_average"] = max(results["meta"].get("load_average", 0.0),
                                              os.getloadavg()[0])  # fmt: skip
        if on_dataset is not None:
            on_dataset(results)
    return results


def _machine(meta: dict) -> str:
    """Where it ran, as the results recorded it (older results lack it)."""
    if "load_average" not in meta:
        return " on a shared 2-core machine"
    return (f" on {meta['cpus']} CPUs, highest 1-minute load average seen after a data set "
            f"{meta['load_average']:.1f}")  # fmt: skip


def summarize(results: dict) -> dict:
    """Per coreset method: worst, median and mean regret over every (data set, family) and
    seed, how many of those runs are within 0.002, and the median time ratio."""
    out = {}
    for method in results["meta"]["methods"]:
        cells = [family[method] for data in results["datasets"].values()
                 for family in (f["coresets"] for f in data.values())]  # fmt: skip
        regrets = np.array([r for c in cells for r in _regrets(c)])
        speedups = [run["speedup"] for c in cells for run in c.get("runs", [c])]
        out[method] = {"worst": float(regrets.max()), "median": float(np.median(regrets)),
                       "mean": float(regrets.mean()),
                       "within_0.002": int(np.sum(regrets <= 0.002)), "cells": len(regrets),
                       "speedup": float(np.median(speedups))}  # fmt: skip
    return out


_SEARCHED_NOTE = (
    "Regret = test AUC of the full-data search's pick minus that of the coreset search's pick"
    " (negative: the coreset's pick was better). Time: full search / (coreset build + coreset"
    " search). Training rows: a stratified subset of at most {rows:,} per set (`--rows`), so"
    " that the full side runs here; the issue's 1M/10M-row sets need `--rows` and hours."
)
_PROJECTED_NOTE = (
    "Training rows: a stratified subset of at most {rows:,} per set (`--rows`)."
    " **The full side was not searched here** (`--full-side project`): each configuration was"
    " fitted once on all training rows (timed, and scored on the test rows), and the full"
    " search's time is projected from those fits: cv fits per configuration on (cv - 1) / cv"
    " of the rows each, fit time proportional to rows; a timed fit includes predicting the"
    " 20,000 test rows where a search's fits predict a third of the rows each, so the"
    " projection errs low. Regret is against the configuration with the best"
    " test AUC of all (the best any search could pick), so it bounds the regret against"
    " the full search's pick from above (0: the coreset search picked the best). Time:"
    " projected full search / (coreset build + coreset search), both sides one thread; the"
    " full side's seconds in the table are projected."
)


_OTHER_FOLDS_NOTE = (
    " The full search was also run on {k} other splits of its CV folds (`--full-cv-seeds`:"
    " StratifiedKFold shuffled with seeds 1 to {k}, the same configurations and rows); its"
    " column is the regret of those picks, measured as the coresets' is: how far the choice of"
    " folds alone moves a full-data search's pick."
)


def render_markdown(results: dict) -> str:
    meta = results["meta"]
    projected = meta.get("full_side") == "project"
    full_label = "best configuration" if projected else "full pick"
    seeds = meta.get("seeds", 1)
    other_folds = meta.get("full_cv_seeds", 0)
    regret_label = f"median regret [worst of {seeds} seeds]" if seeds > 1 else "regret"
    lines = [
        "## Tree models: tuning on coresets vs on all rows",
        "",
        (f"Written by `{meta['command']}` ({meta['date']}, {meta['minutes']:.1f} min{_machine(meta)}: "
         "one thread per fit on both sides, each side timed in turn, so load from other jobs "
         f"makes times noisy, ratios less). {meta['n_iter']} random configurations per family (the same list on "
         f"both sides), {meta['cv']}-fold CV by ROC AUC; coreset = root of a 4-leaf tree "
         f"holding {meta['share']:.0%} of the training rows"
         + (f", drawn {seeds} times (tree random_state 0 to {seeds - 1}; the full side, the "
            "configurations and the CV fold seed are the same for every draw)" if seeds > 1 else "")
         + "; each pick refitted on all training rows and scored on the test rows. "
         + (_PROJECTED_NOTE if projected else _SEARCHED_NOTE).format(rows=meta["rows"])
         + (_OTHER_FOLDS_NOTE.format(k=other_folds) if other_folds else "")),
        "",
        f"| data set | family | {full_label}: test AUC | "
        + (f"full search, other CV folds: median regret [worst of {other_folds}] | "
           if other_folds else "")
        + " | ".join(f"{m}: {regret_label} (time ratio)" for m in meta["methods"]) + " |",
        "|---|---|---|" + "---|" * (len(meta["methods"]) + bool(other_folds)),
    ]  # fmt: skip
    for name, data in results["datasets"].items():
        for family, record in data.items():
            cells = [_regret_cell(record["coresets"][m]) for m in meta["methods"]]
            if other_folds:
                regrets = [r["regret"] for r in record["full"]["other_folds"]]
                cells.insert(0, f"{np.median(regrets):+.4f} [{max(regrets):+.4f}]")
            lines.append(f"| {name} ({record['rows']:,} rows) | {family} | "
                         f"{record['full']['test_auc']:.4f} ({record['full']['seconds']:.0f} s) | "
                         + " | ".join(cells) + " |")  # fmt: skip
    summary = summarize(results)
    header = (
        "| coreset | worst regret | median regret | mean regret | "
        + ("runs (cells x seeds)" if seeds > 1 else "cells")
        + " with regret <= 0.002 | median time ratio |"
    )
    lines += ["", header, "|---|---|---|---|---|---|"]
    for method, s in summary.items():
        lines.append(f"| {method} | {s['worst']:+.4f} | {s['median']:+.4f} | {s['mean']:+.4f} "
                     f"| {s['within_0.002']} of {s['cells']} | {s['speedup']:.0f}x |")  # fmt: skip
    if other_folds:
        regrets = np.array([r["regret"] for data in results["datasets"].values()
                            for record in data.values() for r in record["full"]["other_folds"]])
        lines.append(f"| full search, other CV folds | {regrets.max():+.4f} | "
                     f"{np.median(regrets):+.4f} | {regrets.mean():+.4f} | "
                     f"{int(np.sum(regrets <= 0.002))} of {regrets.size} | 1x |")  # fmt: skip
    best = min(summary, key=lambda m: (summary[m]["worst"], summary[m]["mean"]))
    lines += ["", f"Smallest worst-case regret in this run: `{best}`.", ""]
    noise = _noise_lines(results)
    if noise:
        intro = ("Standard error of the picked configuration's mean CV score (fold scores' "
                 "sample standard deviation / sqrt(folds)): "
                 + ("" if projected else "the full search's, then ")
                 + "each method's (median of the draws):")
        lines += [intro, "", *noise, ""]
    ranks = _rank_lines(results)
    if ranks:
        intro = ("Where the best configuration (best test AUC refit on all rows) ranked in each "
                 "coreset search's CV ranking (1: picked; one number per seed):")
        lines += [intro, "", *ranks, ""]
    return "\n".join(lines)


def _per_run_lines(results: dict, key: str, cell_text, head_text) -> list[str]:
    """'- data set, family...: method (its runs' ``key`` values) ...', one line per (data set,
    family) whose runs all recorded ``key``: ``cell_text(values)`` words a method's values,
    ``head_text(name, family, record)`` begins the line."""
    lines = []
    for name, data in results["datasets"].items():
        for family, record in data.items():
            cells = []
            for method in results["meta"]["methods"]:
                cell = record["coresets"][method]
                values = [run.get(key) for run in cell.get("runs", [cell])]
                if None not in values:
                    cells.append(f"{method} {cell_text(values)}")
            if cells:
                lines.append(head_text(name, family, record) + "; ".join(cells))
    return lines


def _noise_lines(results: dict) -> list[str]:
    """'- data set, family: full search X; method Y ...' for runs that recorded cv_se (the
    median of a method's draws)."""

    def head(name, family, record):
        full = record["full"].get("cv_se")
        return f"- {name}, {family}: " + (f"full search {full:.4f}; " if full is not None else "")

    return _per_run_lines(results, "cv_se", lambda errors: f"{np.median(errors):.4f}", head)


def _rank_lines(results: dict) -> list[str]:
    """'- data set, family: method ranks ...' for runs that recorded best_config_rank."""
    return _per_run_lines(
        results, "best_config_rank", lambda ranks: ", ".join(map(str, ranks)),
        lambda name, family, record: f"- {name}, {family} (of {record['configs']}): ",
    )  # fmt: skip


def _regret_cell(cell: dict) -> str:
    """'regret (time ratio)', or with several seeds 'median [worst] (median time ratio)'."""
    if "runs" not in cell:
        return f"{cell['regret']:+.4f} ({cell['speedup']:.0f}x)"
    regrets = _regrets(cell)
    speedup = np.median([run["speedup"] for run in cell["runs"]])
    return f"{np.median(regrets):+.4f} [{max(regrets):+.4f}] ({speedup:.0f}x)"


def main(argv=None) -> None:
    from .report import write_section

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--families", default=None,
                        help="hgb,random_forest,lightgbm,random_forest_grown (default: all installed "
                        "but random_forest_grown, fully grown forests tuning only features "
                        "per split, criterion and class weights).")  # fmt: skip
    parser.add_argument("--methods", default=",".join(CORESET_METHODS))
    parser.add_argument("--rows", type=int, default=10_000,
                        help="Training rows per set (stratified subset; default 10,000).")  # fmt: skip
    parser.add_argument("--share", type=float, default=0.02, help="Coreset rows / training rows.")
    parser.add_argument("--n-iter", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=1,
                        help="Coreset searches per method, on trees drawn with random_state "
                        "0 .. seeds - 1 (the full side runs once; default 1).")  # fmt: skip
    parser.add_argument("--cv", type=int, default=3)
    parser.add_argument("--full-cv-seeds", type=int, default=0,
                        help="Also run the full search on this many other (shuffled) splits of "
                        "its CV folds and report its own picks' regret (default 0).")  # fmt: skip
    parser.add_argument("--full-side", choices=FULL_SIDES, default="search",
                        help="search: GridSearchCV on all rows (default); project: fit each "
                        "configuration once on all rows and project the search's time from "
                        "those fits (for sets whose full search takes hours).")  # fmt: skip
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--markdown", default=None,
                        help="Write the section 'models' of this Markdown file (docs/TUNING.md).")  # fmt: skip
    parser.add_argument("--section", default="models",
                        help="Name of the --markdown section (a run at another scale keeps its own).")  # fmt: skip
    parser.add_argument("--out", default=None, help="Write the results as JSON here.")
    parser.add_argument("--from-json", default=None,
                        help="Write the --markdown section from this --out JSON instead of running.")  # fmt: skip
    args = parser.parse_args(argv)
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
        if args.markdown:
            write_section(args.markdown, args.section, render_markdown(results))
        print(render_markdown(results))
        return
    for option, value, low in (("--rows", args.rows, 1000), ("--n-iter", args.n_iter, 1),
                               ("--cv", args.cv, 2), ("--seeds", args.seeds, 1),
                               ("--full-cv-seeds", args.full_cv_seeds, 0)):  # fmt: skip
        if value < low:
            parser.error(f"{option} must be >= {low}. Got {value} instead.")
    if not 0 < args.share < 1:
        parser.error(f"--share must be in (0, 1). Got {args.share} instead.")
    words = ["python -m benchmarks.bench_models", *(argv if argv is not None else sys.argv[1:])]

    def report(results):  # after every data set: a partial run still leaves its tables
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(results, indent=1, default=str))
        if args.markdown:
            write_section(args.markdown, args.section, render_markdown(results))

    results = run(
        tuple(args.datasets.split(",")), rows=args.rows, share=args.share, n_iter=args.n_iter,
        cv=args.cv, methods=tuple(args.methods.split(",")),
        family_names=args.families.split(",") if args.families else None,
        data_home=args.data_dir, command=" ".join(words), on_dataset=report,
        full_side=args.full_side, seeds=args.seeds, full_cv_seeds=args.full_cv_seeds,
    )  # fmt: skip
    print(render_markdown(results))


if __name__ == "__main__":
    main()
