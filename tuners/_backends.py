"""How a search runs its fits: one backend per name, chosen by a search's ``backend`` parameter.

A backend turns a list of :class:`FitTask` into :class:`FitResult` objects, yielded in task
order so a search can report progress and stop early. The default, ``"sklearn"``, fits clones
of a scikit-learn estimator in joblib workers; ``"torch"`` (``_torch_backend``) solves all
fits of a LogisticRegression search at once, on a GPU when there is one. More can be added
with :func:`register_backend` without touching the searches.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed
from sklearn import config_context
from sklearn.base import clone
from threadpoolctl import ThreadpoolController

from ._data import WeightedRows
from ._fitting import fit_weighted


@dataclass(frozen=True)
class FitTask:
    """Fit ``params`` on the ``train`` rows and score on the ``test`` rows (None: on the
    validation rows given to ``fit``)."""

    candidate: int
    split: int
    params: dict
    train: np.ndarray
    test: np.ndarray | None


@dataclass(frozen=True)
class FitResult:
    candidate: int
    split: int
    score: float
    fit_seconds: float
    score_seconds: float
    n_train_rows: int
    error: str | None = None


@dataclass(frozen=True)
class FitSettings:
    """What every fit of one search shares."""

    estimator: object
    rows: WeightedRows
    scorer: Callable
    validation: WeightedRows | None
    normalize_weights: bool
    error_score: object


_BACKENDS: dict[str, Callable] = {}


def register_backend(name: str, factory: Callable) -> None:
    """Make ``backend=name`` available to every search.

    ``factory(n_jobs=...)`` must return an object with a method
    ``run(tasks, settings) -> Iterator[FitResult]`` that yields one result per task, in order.
    """
    _BACKENDS[name] = factory


def get_backend(name: str, *, n_jobs, caller: str):
    if name not in _BACKENDS:
        raise ValueError(
            f"The 'backend' parameter of {caller} must be one of {sorted(_BACKENDS)}. "
            f"Got {name!r} instead."
        )
    return _BACKENDS[name](n_jobs=n_jobs)


class JoblibBackend:
    """Fits each task on a clone of the estimator, in ``n_jobs`` joblib workers.

    Every fit runs with one BLAS/OpenMP thread: small fits run several times slower with more
    threads, so parallelism goes across fits instead. With ``warm_start_path`` (the default)
    a LogisticRegression search fits the candidates of one fold that differ only in C as a
    path, each warm-started from the previous solution (``tuners._warm_path``);
    ``register_backend("sklearn-cold", functools.partial(JoblibBackend,
    warm_start_path=False))`` makes every fit start cold.
    """

    def __init__(self, *, n_jobs=None, warm_start_path=True):
        self.n_jobs = n_jobs
        self.warm_start_path = warm_start_path

    def run(self, tasks: list[FitTask], settings: FitSettings) -> Iterator[FitResult]:
        tasks = list(tasks)
        if self.warm_start_path:
            from ._warm_path import path_groups, run_paths

            groups = path_groups(tasks, settings)
            if groups is not None:
                return run_paths(tasks, settings, groups, self.n_jobs)
        if self.n_jobs in (None, 1) or len(tasks) == 1:  # one fit: no workers to start
            return (fit_and_score(task, settings) for task in tasks)
        parallel = Parallel(n_jobs=self.n_jobs, return_as="generator")
        return parallel(delayed(fit_and_score)(task, settings) for task in tasks)


register_backend("sklearn", JoblibBackend)

_controller: list = []  # (modules loaded when made, ThreadpoolController), made lazily


def one_thread():
    """A context limiting BLAS and OpenMP to one thread (the controller is cached: making one
    scans the loaded libraries, ~30 ms; it is remade once new modules were imported)."""
    if not _controller or _controller[0][0] != len(sys.modules):
        _controller[:] = [(len(sys.modules), ThreadpoolController())]
    return _controller[0][1].limit(limits=1)


#: scikit-learn modules whose estimators fit the X and y they are given, untransformed.
_DIRECT_MODULES = ("sklearn.linear_model", "sklearn.tree", "sklearn.ensemble", "sklearn.svm",
                   "sklearn.neighbors", "sklearn.naive_bayes", "sklearn.discriminant_analysis")  # fmt: skip


def _fits_its_input(estimator) -> bool:
    """Whether scikit-learn may skip its NaN/inf scan in this estimator's fit: a search's rows
    and targets were checked finite once, when it took them (``resolve_rows``), so an estimator
    that fits them as given need not scan them again (on a 20,000-row coreset that scan was
    13-20% of a 48-fit logistic-regression grid, a scratch A/B). Not for Pipelines and other
    meta-estimators, whose steps may make non-finite values from finite ones (a log of 0)."""
    module = type(estimator).__module__
    direct = any(module == name or module.startswith(name + ".") for name in _DIRECT_MODULES)
    wrapper = any(hasattr(estimator, name) for name in ("steps", "estimator", "estimators"))
    return direct and not wrapper


def fit_and_score(
    task: FitTask, settings: FitSettings, estimator=None, train=None, held_out=None
) -> FitResult:
    """Fit one candidate on one split and score it with weights; a failure becomes a result.
    ``estimator``: fit this one (set to the task's parameters) instead of a fresh clone;
    ``train`` (X, y, weights) and ``held_out`` (WeightedRows): the task's rows, if at hand."""
    rows = settings.rows
    if estimator is None:
        estimator = clone(settings.estimator)
    estimator.set_params(**task.params)
    if held_out is None:
        held_out = settings.validation if task.test is None else rows.take(task.test)
    if train is None:
        train = rows.X[task.train], rows.y[task.train], rows.weights[task.train]
    started = time.perf_counter()
    stage = "fit"
    try:
        with one_thread(), config_context(assume_finite=_fits_its_input(estimator)):
            fit_weighted(estimator, *train, normalize_weights=settings.normalize_weights)
            fit_seconds = time.perf_counter() - started
            stage = "score"
            score = settings.scorer(
                estimator, held_out.X, held_out.y, sample_weight=held_out.weights
            )
    except Exception as exc:
        if isinstance(settings.error_score, str):  # "raise"
            raise
        return FitResult(
            task.candidate, task.split, float(settings.error_score),
            time.perf_counter() - started, 0.0, int(task.train.size),
            f"{stage} failed: {type(exc).__name__}: {exc}",
        )  # fmt: skip
    score_seconds = time.perf_counter() - started - fit_seconds
    return FitResult(
        task.candidate, task.split, float(score), fit_seconds, score_seconds, int(task.train.size)
    )
