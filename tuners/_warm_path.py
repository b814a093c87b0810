"""Regularisation paths: a LogisticRegression search's fits of one fold, warm-started along C.

Candidates that differ only in ``C`` are fitted on the same training rows one after another,
from the smallest C up, each starting from the previous solution (``warm_start=True``), as
glmnet and scikit-learn's ``logistic_regression_path`` do: neighbouring optima are close, so
each fit needs a fraction of the iterations of a cold start (measured in
``benchmarks/bench_refit.py --grid``). Every fit still stops by its own solver's rule at its
own ``tol``; what changes is only where it starts, so scores move within the solver's
tolerance (a cold and a warm lbfgs fit at tol 1e-4 differ in the fourth or fifth digit of an
AUC), and picks are the same wherever candidates differ by more than that.

Paths are used for LogisticRegression (not a Pipeline) with a solver that warm-starts
(lbfgs, newton-cg, newton-cholesky, sag, saga; liblinear does not). The fold's training rows
are sliced once per path, and held as a sparse matrix when mostly zeros (see
``SPARSE_DENSITY``). A failed fit restarts its path cold. Paths of different folds and
parameter groups run in parallel (``n_jobs``); results come back in task order.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from joblib import Parallel, delayed
from scipy import sparse
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

WARM_STARTING_SOLVERS = ("lbfgs", "newton-cg", "newton-cholesky", "sag", "saga")
#: A path's training rows are fitted as a CSR matrix when at most this share of their
#: entries is nonzero (one-hot columns): the same fits (same iterations, scores equal to
#: rounding), each solver iteration's products with X about twice as fast.
SPARSE_DENSITY = 0.25


def path_groups(tasks, settings) -> list[list[int]] | None:
    """Task positions grouped into paths (same fold, same parameters but C; sorted by C),
    or None when the estimator does not warm-start."""
    estimator = settings.estimator
    if type(estimator) is not LogisticRegression:
        return None
    base = estimator.get_params()
    groups: dict = {}
    for position, task in enumerate(tasks):
        params = {**base, **task.params}
        if params["solver"] not in WARM_STARTING_SOLVERS:
            groups[("alone", position)] = [position]
            continue
        others = sorted((name, repr(value)) for name, value in task.params.items() if name != "C")
        fold = (task.train.tobytes(), None if task.test is None else task.test.tobytes())
        groups.setdefault((fold, tuple(others)), []).append(position)
    if all(len(group) == 1 for group in groups.values()):
        return None
    return [sorted(group, key=lambda p: _C(base, tasks[p].params)) for group in groups.values()]


def _C(base: dict, params: dict) -> float:
    value = params.get("C", base["C"])
    return float(value) if isinstance(value, (int, float, np.number)) else 0.0


def run_paths(tasks, settings, groups, n_jobs) -> Iterator:
    """Fit and score every path; yield the results in task order."""
    jobs = [[(p, tasks[p]) for p in group] for group in groups]
    if n_jobs in (None, 1) or len(jobs) == 1:  # one path: workers would only add their start
        finished = (_fit_path(job, settings) for job in jobs)
    else:
        parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        finished = parallel(delayed(_fit_path)(job, settings) for job in jobs)
    ready: dict = {}
    next_position = 0
    for results in finished:
        ready.update(results)
        while next_position in ready:
            yield ready.pop(next_position)
            next_position += 1


def _fit_path(job, settings) -> list:
    """Fit one path, (position, task) pairs in order of C, each fit starting from the
    previous solution; returns (position, FitResult) pairs."""
    from ._backends import fit_and_score

    rows, first = settings.rows, job[0][1]
    X = rows.X[first.train]
    if X.size and np.count_nonzero(X) <= SPARSE_DENSITY * X.size:
        X = sparse.csr_matrix(X)
    train = X, rows.y[first.train], rows.weights[first.train]
    held_out = settings.validation if first.test is None else rows.take(first.test)
    estimator, out = None, []
    for position, task in job:
        if estimator is None:
            estimator = clone(settings.estimator).set_params(warm_start=True)
        result = fit_and_score(task, settings, estimator, train, held_out)
        if result.error is not None:
            estimator = None  # a failed fit may leave a broken state: restart cold
        out.append((position, result))
    return out
