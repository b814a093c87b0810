"""``coreset-engine demo``: what a coreset buys, on real data, in one table.

KDD Cup '99 (bundled with the package, :func:`coreset_engine.datasets.find_data_file`) is split
80/20 (stratified), standardized with the training statistics and written once to an HDF5 file
in the user's cache folder (:func:`coreset_cli.cache_home`). A coreset tree is built by
streaming that file; then the same logistic-regression grid search (a weighted holdout of 20% of
the search's rows scored by ROC AUC, then a refit) runs on the full training data, on the
tree's root coreset and on a uniform sample of the same size. Each chosen model is scored on
the test split.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import warnings
from pathlib import Path

import click
import h5py
import numpy as np

from ._cache import CACHE_ENV_VAR, cache_home
from ._errors import reported_errors

DEMO_GRID = {"C": [0.001, 0.01, 0.1, 1.0, 10.0]}


@click.command("demo")
@click.option("--size", default=10_000, show_default=True, help="Rows in the coreset.")
@click.option("--chunk-size", default=100_000, show_default=True, help="Rows per leaf.")
@click.option("--seed", default=0, show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Folder holding kddcup99_10pct/ (default: the copy bundled with the "
                   "package).")  # fmt: skip
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help=f"Where the converted HDF5 file is kept (default: ${CACHE_ENV_VAR}, else "
                   "$XDG_CACHE_HOME/coreset-engine, else ~/.cache/coreset-engine).")  # fmt: skip
def demo_command(size, chunk_size, seed, data_dir, cache_dir):
    """Full data vs coreset vs uniform sample on KDD Cup '99: time, chosen C, test AUC."""
    started = time.perf_counter()
    with reported_errors():
        table = run_demo(size=size, chunk_size=chunk_size, seed=seed, data_dir=data_dir,
                         cache_dir=cache_dir, echo=click.echo)  # fmt: skip
    click.echo(format_table(table))
    click.echo(f"demo finished in {time.perf_counter() - started:.0f} s")


def demo_file(data_dir=None, cache_dir=None) -> tuple[Path, Path]:
    """(the KDD Cup '99 source file, the HDF5 file derived from it in the cache folder).

    The derived file's name carries a digest of the source, so another source (``--data-dir``)
    never reuses a conversion of a different file.
    """
    from coreset_engine.datasets import find_data_file

    source = find_data_file("kddcup99", data_dir)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    folder = Path(cache_dir) if cache_dir is not None else cache_home()
    return source, folder / f"kddcup99-{digest}.h5"


def prepare_kddcup99_file(path: Path, source: Path) -> None:
    """Write the standardized KDD Cup '99 train/test split of ``source`` to ``path`` (datasets
    X, y, X_test, y_test), atomically: under a temporary name in the same folder, then renamed."""
    from coreset_engine.datasets import load_kddcup99, train_test_standardized

    X_train, X_test, y_train, y_test = train_test_standardized(
        load_kddcup99(source.parents[1]), test_size=0.2, random_state=0
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".h5.part",
                                         dir=path.parent)  # fmt: skip
    os.close(handle)
    try:
        with h5py.File(temporary, "w") as file:
            file.create_dataset("X", data=X_train.astype(np.float32),
                                chunks=(8192, X_train.shape[1]))  # fmt: skip
            file["y"] = y_train
            file["X_test"] = X_test.astype(np.float32)
            file["y_test"] = y_test
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def run_demo(size: int = 10_000, chunk_size: int = 100_000, seed: int = 0, data_dir=None,
             cache_dir=None, echo=print) -> list[dict]:  # fmt: skip
    """Run the comparison and return one dict per row of the table."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import ShuffleSplit

    from coreset_engine import CoresetTree
    from tuners import GridSearch

    source, path = demo_file(data_dir, cache_dir)
    if not path.exists():
        echo(f"converting {source} to {path} (first run only) ...")
        prepare_kddcup99_file(path, source)
    with h5py.File(path, "r") as handle:
        X_train, y_train = handle["X"][()], handle["y"][()]
        X_test, y_test = handle["X_test"][()], handle["y_test"][()]

    # The engine's Numba kernels compile on a first run (seconds) and load from their cache
    # after: a small build of the same rows does that outside the timed build, and says so.
    started = time.perf_counter()
    CoresetTree(coreset_size=500, chunk_size=1000, random_state=seed).build(X_train[:2000],
                                                                            y_train[:2000])  # fmt: skip
    echo(f"engine kernels compiled or loaded from their cache in "
         f"{time.perf_counter() - started:.2f} s (not counted below)")  # fmt: skip

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
        with warnings.catch_warnings():  # lbfgs stops at max_iter on the full data: fine here
            warnings.simplefilter("ignore", category=ConvergenceWarning)
            search.fit(X, y, sample_weight=weights)
        search_seconds = time.perf_counter() - started
        auc = roc_auc_score(y_test, search.best_estimator_.predict_proba(X_test)[:, 1])
        table.append({"data": name, "rows": int(y.size), "build_s": build_seconds,
                      "search_s": search_seconds, "C": search.best_params_["C"],
                      "test_auc": auc})  # fmt: skip
    return table


def format_table(table: list[dict]) -> str:
    header = (
        f"{'data':<22} {'rows':>9} {'build s':>8} {'search s':>9} {'best C':>7} {'test AUC':>9}"
    )
    lines = [header]
    for row in table:
        lines.append(f"{row['data']:<22} {row['rows']:>9,} {row['build_s']:>8.2f} "
                     f"{row['search_s']:>9.2f} {row['C']:>7g} {row['test_auc']:>9.5f}")  # fmt: skip
    full = table[0]["build_s"] + table[0]["search_s"]
    core = table[1]["build_s"] + table[1]["search_s"]
    lines.append(f"coreset build + search is {full / core:.1f}x faster than the full-data search")
    return "\n".join(lines)
