"""``coreset-engine tune``: search hyperparameters on a saved coreset tree, print a ranked table."""

from __future__ import annotations

import ast
import math
import time
import warnings
from collections.abc import Callable

import click
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._bayes import BayesSearch
from ._grid import GridSearch, RandomSearch
from ._halving import HalvingSearch
from ._torch_classifier import TorchClassifier


def _logistic():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000)


def _linear_svm():
    from sklearn.svm import LinearSVC

    return LinearSVC()


def _sgd():
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(loss="log_loss")


MODELS: dict[str, Callable] = {
    "logistic": _logistic,
    "linear_svm": _linear_svm,
    "sgd": _sgd,
    "mlp": lambda: TorchClassifier(),
}
SEARCHES = {
    "grid": GridSearch,
    "random": RandomSearch,
    "bayes": BayesSearch,
    "halving": HalvingSearch,
}


def parse_grid(text: str) -> dict:
    """``"C=0.1,1,10 penalty=l1,l2 alpha=1e-4..1:log"`` to a search space.

    Values are Python literals (else strings); ``low..high`` is a uniform range and
    ``low..high:log`` a log-uniform one (for random and Bayesian search).

    Examples
    --------
    >>> parse_grid("C=0.1,10 penalty=l1,l2 fit_intercept=True layers=(8,),(8,8)")
    {'C': [0.1, 10], 'penalty': ['l1', 'l2'], 'fit_intercept': [True], 'layers': [(8,), (8, 8)]}
    >>> parse_grid("C=1e-3..1e3:log")
    {'C': (0.001, 1000.0, 'log-uniform')}
    """
    space = {}
    for item in text.split():
        name, sep, values = item.partition("=")
        if not sep or not name or not values:
            raise click.BadParameter(
                f"expected name=value[,value...], got {item!r}", param_hint="--grid"
            )
        if ".." in values and not values.startswith("("):
            bounds, _, prior = values.partition(":")
            low, high = (_literal(v) for v in bounds.split("..", 1))
            space[name] = (low, high, "log-uniform" if prior == "log" else "uniform")
        else:
            space[name] = [_literal(v) for v in _split_top_level(values)]
    return space


def _split_top_level(values: str) -> list[str]:
    """Split on commas outside parentheses: ``(8,),(8,8)`` is two values."""
    parts, depth, current = [], 0, ""
    for char in values:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current] if current else parts


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def format_table(results: dict, top: int) -> str:
    """The ``top`` candidates by rank, one line each."""
    order = np.argsort(results["rank_test_score"], kind="stable")[:top]
    header = f"{'rank':>4}  {'cv score':>9}  {'std':>7}  {'fit s':>7}  {'rows':>7}  params"
    lines = [header, "-" * len(header)]
    for i in order:
        status = "" if results["status"][i] == "ok" else f"  FAILED: {results['error'][i]}"
        score = results["mean_test_score"][i]
        shown = "nan" if math.isnan(score) else f"{score:.5f}"
        lines.append(
            f"{results['rank_test_score'][i]:>4}  {shown:>9}  {results['std_test_score'][i]:>7.4f}  "
            f"{results['mean_fit_time'][i]:>7.3f}  {results['n_train_rows'][i]:>7}  "
            f"{results['params'][i]}{status}"
        )
    return "\n".join(lines)


def _read_test(path: str, x_name: str, y_name: str) -> tuple[np.ndarray, np.ndarray]:
    import h5py

    with h5py.File(path, "r") as file:
        for name in (x_name, y_name):
            if name not in file:
                raise click.BadParameter(f"{path} has no dataset {name!r}", param_hint="--test")
        return np.asarray(file[x_name][:]), np.asarray(file[y_name][:])


@click.command("tune")
@click.argument("tree_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--model", type=click.Choice(sorted(MODELS)), default="logistic", show_default=True)
@click.option("--search", "search_name", type=click.Choice(sorted(SEARCHES)), default="grid",
              show_default=True)  # fmt: skip
@click.option("--grid", "grid_text", required=True,
              help='Search space, e.g. "C=0.1,1,10 penalty=l1,l2" or "C=1e-3..1e3:log".')  # fmt: skip
@click.option("--scoring", default="roc_auc", show_default=True, help="scikit-learn scorer name.")
@click.option("--cv", default="5", show_default=True, help="Number of folds, or 'leaves'.")
@click.option(
    "--level", default=0, show_default=True, help="Tree level searched (first round for halving)."
)
@click.option("--n-iter", default=30, show_default=True, help="Candidates for random and bayes.")
@click.option("--n-jobs", default=1, show_default=True)
@click.option("--random-state", default=0, show_default=True)
@click.option("--top", default=20, show_default=True, help="Rows of the table.")
@click.option("--test", "test_path", type=click.Path(exists=True, dir_okay=False),
              help="HDF5 file of real rows to score the refit best model on.")  # fmt: skip
@click.option("--x", "x_name", default="X", show_default=True, help="Features dataset in --test.")
@click.option("--y", "y_name", default="y", show_default=True, help="Labels dataset in --test.")
@click.option("--progress/--no-progress", default=False, help="Show a progress bar.")
@click.option("--backend", type=click.Choice(["sklearn", "torch"]), default="sklearn",
              show_default=True,
              help="torch: all logistic-regression candidates in one batched solve (GPU if any).")  # fmt: skip
def tune_command(
    tree_path, model, search_name, grid_text, scoring, cv, level, n_iter, n_jobs, random_state,
    top, test_path, x_name, y_name, progress, backend,
):  # fmt: skip
    """Search hyperparameters of MODEL on the coreset tree saved at TREE_PATH."""
    from coreset_engine import CoresetTree

    tree = CoresetTree.load(tree_path)
    space = parse_grid(grid_text)
    options = {
        "scoring": scoring, "cv": cv if cv == "leaves" else int(cv), "level": level,
        "n_jobs": n_jobs, "random_state": random_state, "progress_bar": progress,
        "backend": backend,
    }  # fmt: skip
    if backend == "torch" and model != "logistic":
        raise click.BadParameter(
            f"backend 'torch' fits logistic regression only; got --model {model}.",
            param_hint="--backend",
        )
    if search_name in ("random", "bayes"):
        options["n_iter"] = n_iter
    search = SEARCHES[search_name](MODELS[model](), space, **options)
    started = time.perf_counter()
    with warnings.catch_warnings():  # failures are in the table; these would drown it
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(tree)
    seconds = time.perf_counter() - started
    click.echo(
        f"{search_name} search of {model} on {tree_path} (level {level}, "
        f"{tree.n_samples_} rows summarised): {len(search.cv_results_['params'])} candidates, "
        f"{search.n_rows_fitted_} rows fitted in {seconds:.2f} s"
    )
    click.echo(format_table(search.cv_results_, top))
    click.echo(f"best: {search.best_params_}  cv {scoring} = {search.best_score_:.5f}")
    if test_path is not None:
        X_test, y_test = _read_test(test_path, x_name, y_name)
        click.echo(f"test {scoring} of the refit best model: {search.score(X_test, y_test):.5f}")
