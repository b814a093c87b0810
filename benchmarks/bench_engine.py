"""Loss ratios of coresets on real data: uniform vs square-root leverage vs sensitivity, one-shot
and tree root.

Loss ratio = full-data objective (sklearn LogisticRegression, C=1, L2) at the model fitted on the
coreset with its weights, over the full-data optimum; median and interquartile range over seeds.
Features are standardized (categoricals one-hot).

    python -m benchmarks.bench_engine                      # KDD'99, Skin, a9a, Bank, 5 seeds
    python -m benchmarks.bench_engine --datasets kddcup99 --seeds 7 --out results/engine.json
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from coreset_engine import CoresetTree
from coreset_engine.datasets import load_dataset
from coreset_engine.evaluation import fit_logistic, logistic_objective, loss_ratio

SIZES = {
    "kddcup99": [10_000, 30_000],
    "skin": [1_000, 5_000],
    "a9a": [1_000, 3_000],
    "bank_marketing": [1_000, 3_000],
}
METHODS = ["uniform", "l2s", "sensitivity"]
TREE_CHUNK = 50_000


def standardized(name: str):
    data = load_dataset(name)
    X = data.X
    if data.X_test is not None:  # loss ratios are about fitting: use every labelled row
        X = np.vstack([X, data.X_test])
    y = data.y if data.y_test is None else np.concatenate([data.y, data.y_test])
    std = X.std(axis=0)
    std[std == 0] = 1.0
    return (X - X.mean(axis=0)) / std, y


def ratios(X, y, full_objective, size, method, chunk_size, seeds):
    values, seconds = [], []
    for seed in range(seeds):
        started = time.perf_counter()
        tree = CoresetTree(coreset_size=size, chunk_size=chunk_size, method=method,
                           random_state=seed)  # fmt: skip
        coreset = tree.build(X, y).get_coreset()
        seconds.append(time.perf_counter() - started)
        model = fit_logistic(coreset.X, coreset.y, coreset.weights)
        values.append(loss_ratio(model, full_objective, X, y))
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {"median": median, "q1": q1, "q3": q3, "values": values,
            "build_seconds": float(np.median(seconds))}  # fmt: skip


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=",".join(SIZES))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", default=None, help="Write all numbers to this JSON file.")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    results = {}
    print(f"loss ratio, median [IQR] over {args.seeds} seeds; one-shot = one leaf, "
          f"tree = root of a tree with {TREE_CHUNK:,}-row leaves")  # fmt: skip
    for name in args.datasets.split(","):
        X, y = standardized(name)
        started = time.perf_counter()
        full_objective = logistic_objective(fit_logistic(X, y, n_threads=None), X, y, 1.0)
        print(f"\n{name}: {X.shape[0]:,} x {X.shape[1]}, full fit "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        print(f"{'rows':>8}  {'method':<12} {'one-shot':<26} {'tree root':<26}")
        for size in SIZES[name]:
            for method in METHODS:
                one_shot = ratios(X, y, full_objective, size, method, X.shape[0], args.seeds)
                tree = ratios(X, y, full_objective, size, method, TREE_CHUNK, args.seeds)
                results[f"{name}/{size}/{method}"] = {"one_shot": one_shot, "tree": tree}
                print(f"{size:>8,}  {method:<12} {_fmt(one_shot):<26} {_fmt(tree):<26}", flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1))
    return results


def _fmt(stats) -> str:
    return f"{stats['median']:.4f} [{stats['q1']:.4f}, {stats['q3']:.4f}]"


if __name__ == "__main__":
    main()
