"""``coreset-engine demo``: what a coreset buys, on real data, in one table.

KDD Cup '99 (bundled in ``data/``) is split 80/20 (stratified), standardized with the training
statistics and written to ``data/kddcup99.h5`` on first run. A coreset tree is built by streaming
that file; then the same logistic-regression grid search (a weighted holdout of 20% of the
search's rows scored by ROC AUC, then a refit) runs on the full training data, on the tree's root
coreset and on a uniform sample of the same size. Each chosen model is scored on the test split.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import h5py
import numpy as np

DEMO_GRID = {"C": [0.001, 0.01, 0.1, 1.0, 10.0]}
DEMO_FILE = "kddcup99.h5"


def default_data_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "data"


def prepare_kddcup99_file(path: Path, data_home=None) -> None:
    """Write the standardized KDD Cup '99 train/test split to ``path`` (X, y, X_test, y_test)."""
    from .datasets import load_kddcup99, train_test_standardized

    X_train, X_test, y_train, y_test = train_test_standardized(
        load_kddcup99(data_home), test_size=0.2, random_state=0
    )
    temporary = path.with_suffix(".h5.part")
    with h5py.File(temporary, "w") as handle:
        handle.create_dataset("X", data=X_train.astype(np.float32), chunks=(8192, X_train.shape[1]))
        handle["y"] = y_train
        handle["X_test"] = X_test.astype(np.float32)
        handle["y_test"] = y_test
    os.replace(temporary, path)


def run_demo(size: int = 10_000, chunk_size: int = 100_000, seed: int = 0, data_dir=None,
             echo=print) -> list[dict]:  # fmt: skip
    """Run the comparison and return one dict per row of the table."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import ShuffleSplit

    from tuners import GridSearch

    from . import CoresetTree

    warnings.filterwarnings("ignore", module="sklearn")
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    path = data_dir / DEMO_FILE
    if not path.exists():
        echo(f"converting KDD Cup '99 to {path} (first run only) ...")
        prepare_kddcup99_file(path, data_home=data_dir if data_dir.exists() else None)
    with h5py.File(path, "r") as handle:
        X_train, y_train = handle["X"][()], handle["y"][()]
        X_test, y_test = handle["X_test"][()], handle["y_test"][()]

    started = time.perf_counter()
    tree = CoresetTree(coreset_size=size, chunk_size=chunk_size, random_state=seed)
    tree.build_from_file(path, x="X", y="y")
    coreset = tree.get_coreset()
    coreset_seconds = time.perf_counter() - started

    started = time.perf_counter()
    rows = np.sort(np.random.default_rng(seed).choice(y_train.size, size, replace=False))
    uniform_weights = np.full(size, y_train.size / size)
    uniform_seconds = time.perf_counter() - started

    arms = [
        ("full data", X_train, y_train, None, 0.0),
        ("coreset (sensitivity)", coreset.X, coreset.y, coreset.weights, coreset_seconds),
        ("uniform sample", X_train[rows], y_train[rows], uniform_weights, uniform_seconds),
    ]
    table = []
    for name, X, y, weights, build_seconds in arms:
        search = GridSearch(
            LogisticRegression(max_iter=200, tol=1e-4), DEMO_GRID, scoring="roc_auc",
            cv=ShuffleSplit(n_splits=1, test_size=0.2, random_state=seed), n_jobs=2,
            random_state=seed,
        )  # fmt: skip
        started = time.perf_counter()
        search.fit(X, y, sample_weight=weights)
        search_seconds = time.perf_counter() - started
        auc = roc_auc_score(y_test, search.best_estimator_.predict_proba(X_test)[:, 1])
        table.append({"data": name, "rows": int(y.size), "build_s": build_seconds,
                      "search_s": search_seconds, "C": search.best_params_["C"],
                      "test_auc": auc})  # fmt: skip
    return table


def format_table(table: list[dict]) -> str:
    header = f"{'data':<22} {'rows':>9} {'build s':>8} {'search s':>9} {'best C':>7} {'test AUC':>9}"
    lines = [header]
    for row in table:
        lines.append(f"{row['data']:<22} {row['rows']:>9,} {row['build_s']:>8.2f} "
                     f"{row['search_s']:>9.2f} {row['C']:>7g} {row['test_auc']:>9.5f}")  # fmt: skip
    full = table[0]["build_s"] + table[0]["search_s"]
    core = table[1]["build_s"] + table[1]["search_s"]
    lines.append(f"coreset build + search is {full / core:.1f}x faster than the full-data search")
    return "\n".join(lines)
