"""``coreset-engine tune``: search hyperparameters on a saved coreset tree, print a ranked table."""

from __future__ import annotations

import ast
import importlib
import math
import os
import sys
import time
import warnings
from collections.abc import Callable

import click
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from tuners import BayesSearch, GridSearch, HalvingSearch, RandomSearch, TorchClassifier

from ._errors import reported_errors


def _logistic():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000)


def _linear_svm():
    from sklearn.svm import LinearSVC

    return LinearSVC()


def _sgd():
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(loss="log_loss")


def _ridge():
    from sklearn.linear_model import Ridge

    return Ridge()


def _linear():
    from sklearn.linear_model import LinearRegression

    return LinearRegression()


#: Short names of ``--model``; any importable estimator class works too.
MODELS: dict[str, Callable] = {
    "logistic": _logistic,
    "linear_svm": _linear_svm,
    "sgd": _sgd,
    "mlp": lambda: TorchClassifier(),
    "ridge": _ridge,
    "linear": _linear,
}
#: Short names of tree models: (classifier, regressor) classes, picked by the tree's task.
#: LightGBM and XGBoost need ``pip install coreset-engine[boosting]``.
TREE_MODELS: dict[str, tuple[str, str]] = {
    "hgb": ("sklearn.ensemble.HistGradientBoostingClassifier",
            "sklearn.ensemble.HistGradientBoostingRegressor"),
    "random_forest": ("sklearn.ensemble.RandomForestClassifier",
                      "sklearn.ensemble.RandomForestRegressor"),
    "lightgbm": ("lightgbm.LGBMClassifier", "lightgbm.LGBMRegressor"),
    "xgboost": ("xgboost.XGBClassifier", "xgboost.XGBRegressor"),
}  # fmt: skip
SEARCHES = {
    "grid": GridSearch,
    "random": RandomSearch,
    "bayes": BayesSearch,
    "halving": HalvingSearch,
}


def make_model(name: str, task: str = "logistic_regression"):
    """The estimator ``--model name`` stands for: a short name of :data:`MODELS`, a tree model
    of :data:`TREE_MODELS` (the classifier or the regressor, by ``task``), or the dotted path
    of an estimator class (``sklearn.ensemble.HistGradientBoostingClassifier``), made with its
    default parameters.

    Examples
    --------
    >>> make_model("sklearn.ensemble.HistGradientBoostingClassifier")
    HistGradientBoostingClassifier()
    >>> make_model("hgb", task="linear_regression")
    HistGradientBoostingRegressor()
    """
    if name in MODELS:
        return MODELS[name]()
    if name in TREE_MODELS:
        name = TREE_MODELS[name][task != "logistic_regression"]
    module_name, _, class_name = name.replace(":", ".").rpartition(".")
    expected = (f"a short name ({', '.join(sorted([*MODELS, *TREE_MODELS]))}) or an importable "
                "estimator class "
                "such as sklearn.ensemble.HistGradientBoostingClassifier")  # fmt: skip
    if not module_name:
        raise ValueError(f"--model must be {expected}. Got {name!r} instead.")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        hint = " (pip install 'coreset-engine[boosting]')" if module_name in (
            "lightgbm", "xgboost") else ""  # fmt: skip
        raise ImportError(
            f"--model {name!r}: cannot import {module_name!r} ({error}){hint}."
        ) from None
    model_class = getattr(module, class_name, None)
    if not isinstance(model_class, type) or not hasattr(model_class, "fit"):
        raise ValueError(f"--model must be {expected}. {module_name!r} has no estimator class "
                         f"{class_name!r}.")  # fmt: skip
    return model_class()


def _check_model_fits_task(estimator, name: str, task: str) -> None:
    from sklearn.base import is_classifier, is_regressor

    if task == "linear_regression" and is_classifier(estimator):
        raise ValueError(f"--model {name} is a classifier; the tree is task='linear_regression' "
                         "(continuous targets): use a regressor (ridge, linear, hgb, ...).")  # fmt: skip
    if task == "logistic_regression" and is_regressor(estimator):
        raise ValueError(f"--model {name} is a regressor; the tree holds class labels: use a "
                         "classifier (logistic, hgb, ...).")  # fmt: skip


def parse_grid(text: str) -> dict:
    """``"C=0.1,1,10 l1_ratio=0,1 alpha=1e-4..1:log"`` to a search space.

    Values are Python literals (else strings); ``low..high`` is a uniform range and
    ``low..high:log`` a log-uniform one (for random and Bayesian search).

    Examples
    --------
    >>> parse_grid("C=0.1,10 solver=liblinear,saga fit_intercept=True layers=(8,),(8,8)")
    {'C': [0.1, 10], 'solver': ['liblinear', 'saga'], 'fit_intercept': [True], 'layers': [(8,), (8, 8)]}
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


def format_params(params: dict) -> str:
    """Parameters as ``--grid`` would take them, numbers plain (no ``np.float64(...)``).

    Examples
    --------
    >>> format_params({"C": np.float64(0.012345678), "solver": "saga", "layers": (8, 8)})
    'C=0.0123457 solver=saga layers=(8,8)'
    """
    return " ".join(f"{name}={_plain(value)}" for name, value in params.items())


def _plain(value) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, tuple):
        inner = ",".join(_plain(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ",".join(_plain(v) for v in value) + "]"
    return str(value)


def format_table(results: dict, top: int) -> str:
    """The ``top`` candidates by rank, one line each; a halving search's rows show their round
    and the tree level it searched."""
    order = np.argsort(results["rank_test_score"], kind="stable")[:top]
    rounds = "iter" in results
    header = f"{'rank':>4}  " + ("round  level  " if rounds else "")
    header += f"{'cv score':>9}  {'std':>7}  {'fit s':>7}  {'rows':>7}  params"
    lines = [header, "-" * len(header)]
    for i in order:
        status = "" if results["status"][i] == "ok" else f"  FAILED: {results['error'][i]}"
        score = results["mean_test_score"][i]
        shown = "nan" if math.isnan(score) else f"{score:.5f}"
        line = f"{results['rank_test_score'][i]:>4}  "
        if rounds:
            line += f"{results['iter'][i]:>5}  {results['n_resources'][i]:>5}  "
        line += (
            f"{shown:>9}  {results['std_test_score'][i]:>7.4f}  "
            f"{results['mean_fit_time'][i]:>7.3f}  {results['n_train_rows'][i]:>7}  "
            f"{format_params(results['params'][i])}{status}"
        )
        lines.append(line)
    return "\n".join(lines)


def _read_test(path: str, x_name: str, y_name: str) -> tuple[np.ndarray, np.ndarray]:
    import h5py

    if not os.path.isfile(path):
        raise FileNotFoundError(f"The --test file {path!r} does not exist.")
    with h5py.File(path, "r") as file:
        for name in (x_name, y_name):
            if name not in file:
                raise KeyError(f"The --test file {path!r} has no dataset {name!r}.")
        return np.asarray(file[x_name][:]), np.asarray(file[y_name][:])


def _progress_shown() -> bool:
    """The default of ``--progress``: on when the bar (drawn on stderr) reaches a terminal."""
    return sys.stderr.isatty()


@click.command("tune")
@click.argument("tree_path", type=click.Path(dir_okay=False))
@click.option("--model", default=None,
              help=f"One of {', '.join(sorted([*MODELS, *TREE_MODELS]))} (tree models: the "
                   "classifier or regressor by the tree's task), or an importable estimator "
                   "class, e.g. sklearn.ensemble.HistGradientBoostingClassifier. Default: "
                   "logistic (ridge for a linear_regression tree).")  # fmt: skip
@click.option("--search", "search_name", type=click.Choice(sorted(SEARCHES)), default="grid",
              show_default=True)  # fmt: skip
@click.option("--grid", "grid_text", required=True,
              help='Search space, e.g. "C=0.1,1,10 l1_ratio=0,1" or "C=1e-3..1e3:log".')  # fmt: skip
@click.option("--scoring", default=None,
              help="scikit-learn scorer name. Default: roc_auc (r2 for a linear_regression "
                   "tree).")  # fmt: skip
@click.option("--cv", default="5", show_default=True, help="Number of folds, or 'leaves'.")
@click.option(
    "--level", default=0, show_default=True, help="Tree level searched (first round for halving)."
)
@click.option("--n-iter", default=30, show_default=True, help="Candidates for random and bayes.")
@click.option("--n-jobs", default=1, show_default=True)
@click.option("--random-state", default=0, show_default=True)
@click.option("--top", default=20, show_default=True, help="Rows of the table.")
@click.option("--test", "test_path", type=click.Path(dir_okay=False),
              help="HDF5 file of real rows to score the refit best model on.")  # fmt: skip
@click.option("--x", "x_name", default="X", show_default=True, help="Features dataset in --test.")
@click.option("--y", "y_name", default="y", show_default=True, help="Labels dataset in --test.")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar over fits (default: when on a terminal).")  # fmt: skip
@click.option("--backend", type=click.Choice(["sklearn", "torch"]), default="sklearn",
              show_default=True,
              help="torch: all logistic-regression candidates in one batched solve (GPU if any).")  # fmt: skip
def tune_command(
    tree_path, model, search_name, grid_text, scoring, cv, level, n_iter, n_jobs, random_state,
    top, test_path, x_name, y_name, progress, backend,
):  # fmt: skip
    """Search hyperparameters of MODEL on the coreset tree saved at TREE_PATH."""
    from coreset_engine import CoresetTree

    space = parse_grid(grid_text)
    if cv != "leaves" and not cv.isdigit():
        raise click.BadParameter(f"expected a number of folds or 'leaves', got {cv!r}",
                                 param_hint="--cv")  # fmt: skip
    if backend == "torch" and model not in (None, "logistic"):
        raise click.BadParameter(
            f"backend 'torch' fits logistic regression only; got --model {model}.",
            param_hint="--backend",
        )
    with reported_errors():
        tree = CoresetTree.load(tree_path)
        regression = tree.task == "linear_regression"
        if model is None:
            model = "ridge" if regression else "logistic"
        if scoring is None:
            scoring = "r2" if regression else "roc_auc"
        estimator = make_model(model, tree.task)
        _check_model_fits_task(estimator, model, tree.task)
        test = None if test_path is None else _read_test(test_path, x_name, y_name)
        options = {
            "scoring": scoring, "cv": cv if cv == "leaves" else int(cv), "level": level,
            "n_jobs": n_jobs, "random_state": random_state, "backend": backend,
            "progress_bar": _progress_shown() if progress is None else progress,
        }  # fmt: skip
        if search_name in ("random", "bayes"):
            options["n_iter"] = n_iter
        search = SEARCHES[search_name](estimator, space, **options)
        started = time.perf_counter()
        with warnings.catch_warnings():  # failures are in the table; these would drown it
            warnings.simplefilter("ignore", ConvergenceWarning)
            search.fit(tree)
        seconds = time.perf_counter() - started
        click.echo(
            f"{search_name} search of {model} on {tree_path} (level {level}, "
            f"{tree.n_samples_} rows summarised): {len(search.cv_results_['params'])} "
            f"candidates, {search.n_rows_fitted_} rows fitted in {seconds:.2f} s"
        )
        click.echo(format_table(search.cv_results_, top))
        click.echo(f"best: {format_params(search.best_params_)}  "
                   f"cv {scoring} = {search.best_score_:.5f}")  # fmt: skip
        if test is not None:
            score = search.score(*test)
            click.echo(f"test {scoring} of the refit best model: {score:.5f}")
