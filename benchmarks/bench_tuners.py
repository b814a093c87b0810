"""Hyperparameter search on coresets against scikit-learn's GridSearchCV on all training rows.

For each data set (held-out test split from ``train_test_standardized``):

1. grid: GridSearchCV over the logistic-regression grid on all training rows, timed, against a
   coreset tree build plus tuners.GridSearch on its root coreset (<= 5% of the rows), timed.
   A configuration's test AUC is that of the configuration refit on all training rows, so the
   two picks are compared as choices; the coreset model's own test AUC is shown too.
2. bayes: BayesSearch (TPE, 30 trials) on the same coreset and folds, best CV score vs the grid's.
3. halving: HalvingSearch down the tree vs GridSearch on the level where halving ends: rows
   trained on in total and the test AUC of each pick.
4. torch: TorchClassifier with default parameters vs one tuned by RandomSearch, both trained on
   the root coreset with its weights, test AUC.

Everything runs with one BLAS/OpenMP thread (both sides alike; on a shared 2-core machine this
also keeps timings stable). Numba kernels are compiled by a small build before any timing.

Run from the repository root:
      python -m benchmarks.bench_tuners            (kddcup99 and a9a, about 10 minutes)
      python -m benchmarks.bench_tuners --datasets a9a --cv 5
"""

from __future__ import annotations

import argparse
import time
import warnings

from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from threadpoolctl import threadpool_limits

from coreset_engine import CoresetTree
from coreset_engine.datasets import load_dataset, train_test_standardized
from tuners import BayesSearch, GridSearch, HalvingSearch, RandomSearch, TorchClassifier

GRID = {
    "C": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 1.0],
    "class_weight": [None, "balanced"],
}  # 16 configurations
BAYES_SPACE = {"C": (1e-4, 1.0, "log-uniform"), "class_weight": [None, "balanced"]}
TORCH_SPACE = {
    "hidden_layer_sizes": [(32,), (64,), (128,), (64, 32), (128, 64)],
    "lr": (3e-4, 3e-2, "log-uniform"),
    "weight_decay": (1e-6, 1e-2, "log-uniform"),
    "dropout": [0.0, 0.1, 0.3],
    "batch_size": [32, 64, 128],
    "lr_scheduler": [None, "cosine", "plateau"],
}
AUC_TOLERANCE = 0.002
# Root coreset rows: at most 5% of the training rows (KDD: 0.5% is plenty, AUC saturates)
CORESET_ROWS = {"kddcup99": 2000, "a9a": 1600}


def logistic(**params) -> LogisticRegression:
    return LogisticRegression(max_iter=1000, **params)


def timed(function):
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def test_auc(model, X_test, y_test) -> float:
    return float(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]))


def config_auc(params, data, cache) -> float:
    """Test AUC of a configuration refit on all training rows (cached by parameters)."""
    key = repr(sorted(params.items()))
    if key not in cache:
        X_train, X_test, y_train, y_test = data
        cache[key] = test_auc(logistic(**params).fit(X_train, y_train), X_test, y_test)
    return cache[key]


def run_dataset(name: str, args) -> list[tuple[str, str, str]]:
    data = train_test_standardized(load_dataset(name))
    X_train, X_test, y_train, y_test = data
    n_rows = len(y_train)
    size = min(args.coreset_rows or CORESET_ROWS.get(name, n_rows), int(0.05 * n_rows))
    chunk = max(size, n_rows // args.leaves + 1)
    print(f"\n== {name}: {n_rows} training rows, {X_train.shape[1]} features, "
          f"{len(y_test)} test rows; coreset {size} rows ({size / n_rows:.1%}) ==", flush=True)  # fmt: skip
    CoresetTree(coreset_size=50, chunk_size=500, random_state=0).build(
        X_train[:2000], y_train[:2000]
    )
    rows, cache = [], {}
    folds = StratifiedKFold(args.cv, shuffle=True, random_state=0)

    full, full_seconds = timed(
        lambda: GridSearchCV(logistic(), GRID, scoring="roc_auc", cv=folds).fit(X_train, y_train)
    )
    cache[repr(sorted(full.best_params_.items()))] = test_auc(full, X_test, y_test)
    print(f"GridSearchCV on all rows: {full_seconds:.1f} s, pick {full.best_params_}", flush=True)

    def build_and_search():
        tree = CoresetTree(coreset_size=size, chunk_size=chunk, random_state=0).build(
            X_train, y_train
        )
        search = GridSearch(logistic(), GRID, scoring="roc_auc", cv=args.cv, random_state=0)
        return tree, search.fit(tree)

    (tree, grid), coreset_seconds = timed(build_and_search)
    full_auc = config_auc(full.best_params_, data, cache)
    pick_auc = config_auc(grid.best_params_, data, cache)
    speedup = full_seconds / coreset_seconds
    rows += [
        ("grid: full-data pick", "", f"{full.best_params_}: test AUC {full_auc:.5f}"),
        ("grid: coreset pick", "", (f"{grid.best_params_}: test AUC {pick_auc:.5f} "
         f"(the coreset-trained model: {grid.score(X_test, y_test):.5f})")),
        ("grid: |AUC gap| <= 0.002", _verdict(abs(full_auc - pick_auc) <= AUC_TOLERANCE),
         f"{abs(full_auc - pick_auc):.5f}"),
        ("grid: speedup >= 50x", _verdict(speedup >= 50),
         f"{full_seconds:.1f} s / {coreset_seconds:.2f} s = {speedup:.0f}x"),
    ]  # fmt: skip
    print(f"coreset build + GridSearch: {coreset_seconds:.2f} s", flush=True)

    bayes = BayesSearch(logistic(), BAYES_SPACE, n_iter=30, scoring="roc_auc", cv=args.cv,
                        random_state=0).fit(tree)  # fmt: skip
    rows.append(("bayes (30 trials) >= grid CV", _verdict(bayes.best_score_ >= grid.best_score_),
                 f"{bayes.best_score_:.5f} vs {grid.best_score_:.5f}"))  # fmt: skip

    halving = HalvingSearch(logistic(), GRID, scoring="roc_auc", cv=args.cv, random_state=0)
    halving.fit(tree)
    level = halving.n_resources_[-1]
    at_level = GridSearch(logistic(), GRID, scoring="roc_auc", cv=args.cv, random_state=0,
                          level=level).fit(tree)  # fmt: skip
    halving_auc = config_auc(halving.best_params_, data, cache)
    level_auc = config_auc(at_level.best_params_, data, cache)
    same = halving.best_params_ == at_level.best_params_
    rows += [
        (f"halving: rows fitted (levels {halving.n_resources_})",
         _verdict(halving.n_rows_fitted_ < at_level.n_rows_fitted_),
         f"{halving.n_rows_fitted_} vs {at_level.n_rows_fitted_} (GridSearch on level {level})"),
        ("halving: same or as good a pick",
         _verdict(same or level_auc - halving_auc <= AUC_TOLERANCE),
         (f"{'same config' if same else 'different config'}: test AUC {halving_auc:.5f} "
          f"vs {level_auc:.5f}")),
    ]  # fmt: skip
    print("bayes and halving done", flush=True)

    if not args.skip_torch:
        rows.append(_torch_row(tree, X_test, y_test, args))
    return rows


def _torch_row(tree, X_test, y_test, args) -> tuple[str, str, str]:
    base = TorchClassifier(n_threads=1, random_state=0)
    untuned, untuned_seconds = timed(lambda: _fit_on_coreset(base, tree))
    search = RandomSearch(base, TORCH_SPACE, n_iter=args.torch_iter, scoring="roc_auc", cv=3,
                          random_state=0)  # fmt: skip
    _, tuned_seconds = timed(lambda: search.fit(tree))
    untuned_auc = test_auc(untuned, X_test, y_test)
    tuned_auc = search.score(X_test, y_test)
    print(f"torch: untuned {untuned_seconds:.1f} s, RandomSearch {tuned_seconds:.1f} s, "
          f"pick {search.best_params_}", flush=True)  # fmt: skip
    return ("torch: tuned > untuned", _verdict(tuned_auc > untuned_auc),
            f"test AUC {tuned_auc:.5f} vs {untuned_auc:.5f}")  # fmt: skip


def _fit_on_coreset(model, tree):
    coreset = tree.get_coreset()
    return model.fit(coreset.X, coreset.y, sample_weight=coreset.normalized_weights())


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["kddcup99", "a9a"])
    parser.add_argument("--cv", type=int, default=3, help="folds, both sides (default 3)")
    parser.add_argument("--coreset-rows", type=int, help="root coreset rows (capped at 5%%)")
    parser.add_argument("--leaves", type=int, default=8, help="tree leaves (chunks)")
    parser.add_argument("--torch-iter", type=int, default=8, help="RandomSearch candidates")
    parser.add_argument("--skip-torch", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # ConvergenceWarning of unregularised candidates
    results = {}
    started = time.perf_counter()
    with threadpool_limits(1):
        for name in args.datasets:
            results[name] = run_dataset(name, args)
    print(f"\nResults (cv={args.cv}, one thread, {time.perf_counter() - started:.0f} s in all)")
    width = max(len(label) for rows in results.values() for label, _, _ in rows)
    for name, rows in results.items():
        print(f"\n{name}")
        for label, verdict, detail in rows:
            print(f"  {label:<{width}}  {verdict:<4}  {detail}")


if __name__ == "__main__":
    main()
