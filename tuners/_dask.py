"""Searches and ensembles on a Dask cluster: ``backend="dask"``.

Fits run as tasks on the default distributed client (``distributed.Client(...)`` made before
``fit``). Each coreset's rows are scattered to every worker once (broadcast), not sent with
every task; a task fits one (candidate, split) pair, or one ensemble member, on one thread.
Results come back in task order, so ``cv_results_``, ``best_params_`` and fitted members are
the same as a local run with the same seeds, however many workers run them and in whatever
order they finish. BayesSearch keeps asking Optuna in rounds of ``n_points`` on the client
(its study never leaves it, no shared storage is needed): its trials depend only on the seeds
and ``n_points``, and ``n_points`` is also how many candidates run at once.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from contextlib import contextmanager
from dataclasses import replace

from ._backends import FitSettings, FitTask, fit_and_score, register_backend

INSTALL_HINT = "pip install 'coreset-engine[dask]'"


def dask_client(caller: str):
    """The default distributed client, or a clear error naming what to do."""
    try:
        from distributed import default_client
    except ImportError as error:
        raise ImportError(f"backend='dask' of {caller} needs Dask: {INSTALL_HINT}.") from error
    try:
        return default_client()
    except ValueError:
        raise ValueError(
            f"The 'backend' parameter of {caller} is 'dask' but no Dask client is running. "
            "Start one first: distributed.Client() (a local cluster) or "
            "distributed.Client('tcp://scheduler:8786')."
        ) from None


class _Scattered:
    """Rows scattered to every worker once per rows object (a search reuses one object for all
    its rounds; halving makes one per round)."""

    def __init__(self, client):
        self.client = client
        self._futures: dict[int, tuple[weakref.ref, object]] = {}

    def __call__(self, rows):
        if rows is None:
            return None
        known = self._futures.get(id(rows))
        if known is not None and known[0]() is rows:
            return known[1]
        future = self.client.scatter(rows, broadcast=True, hash=False)
        self._futures[id(rows)] = (weakref.ref(rows), future)
        return future


class DaskBackend:
    """Runs every fit of a search as a task on the default Dask client (``backend="dask"``).

    ``n_jobs`` is not used: the cluster's worker threads set how many fits run at once. With
    ``warm_start_path`` (the default), as on the ``"sklearn"`` backend, a LogisticRegression
    search's candidates of one fold that differ only in C are one task, a path of fits each
    warm-started from the previous solution (``tuners._warm_path``): the same fits, scores and
    picks as a local search.
    """

    def __init__(self, *, n_jobs=None, warm_start_path=True):
        self.n_jobs = n_jobs
        self.warm_start_path = warm_start_path
        self._scattered = None

    def run(self, tasks: list[FitTask], settings: FitSettings):
        client = dask_client("the search")
        if self._scattered is None or self._scattered.client is not client:
            self._scattered = _Scattered(client)
        rows, validation = self._scattered(settings.rows), self._scattered(settings.validation)
        bare = replace(settings, rows=None, validation=None)
        token = uuid.uuid4().hex
        if self.warm_start_path:
            from ._warm_path import path_groups

            tasks = list(tasks)
            groups = path_groups(tasks, settings)
            if groups is not None:
                futures = [
                    client.submit(
                        _fit_path_task,
                        [(position, tasks[position]) for position in group],
                        bare,
                        rows,
                        validation,
                        pure=False,
                        key=f"tuners-path-{tasks[group[0]].candidate}-"
                        f"{tasks[group[0]].split}-{token}",
                    )
                    for group in groups
                ]
                return _paths_in_order(client, futures)
        futures = [
            client.submit(
                _fit_task,
                task,
                bare,
                rows,
                validation,
                pure=False,
                key=f"tuners-fit-{task.candidate}-{task.split}-{token}",
            )
            for task in tasks
        ]
        return _in_order(client, futures)


def _fit_task(task: FitTask, settings: FitSettings, rows, validation):
    with _one_thread_while_running():
        return fit_and_score(task, replace(settings, rows=rows, validation=validation))


def _fit_path_task(job, settings: FitSettings, rows, validation):
    from ._warm_path import _fit_path

    with _one_thread_while_running():
        return _fit_path(job, replace(settings, rows=rows, validation=validation))


def _paths_in_order(client, futures):
    """The results of path tasks (lists of (position, result)) in task order."""
    paths = _in_order(client, futures)
    ready: dict = {}
    next_position = 0
    try:
        for results in paths:
            ready.update(results)
            while next_position in ready:
                yield ready.pop(next_position)
                next_position += 1
    finally:
        paths.close()  # cancels the paths not yet collected


def _in_order(client, futures):
    """Results in submission order; tasks not yet collected are cancelled when the caller
    stops early (a callback) or fails."""
    try:
        for i, future in enumerate(futures):
            yield future.result()
            futures[i] = None
    finally:
        pending = [future for future in futures if future is not None]
        if pending:
            client.cancel(pending)


register_backend("dask", DaskBackend)


def fit_members(jobs: list, normalize_weights: bool, caller: str) -> list:
    """Ensemble members (estimator, rows) fitted as tasks on the default client, each
    distinct rows object scattered once; fitted members in ``jobs`` order."""
    client = dask_client(caller)
    scattered = _Scattered(client)
    token = uuid.uuid4().hex
    futures = [
        client.submit(
            _fit_member_task,
            estimator,
            scattered(rows),
            normalize_weights,
            pure=False,
            key=f"tuners-member-{i}-{token}",
        )
        for i, (estimator, rows) in enumerate(jobs)
    ]
    return list(_in_order(client, futures))


def _fit_member_task(estimator, rows, normalize_weights):
    from ._ensemble import _fit_member

    with _one_thread_while_running():
        return _fit_member(estimator, rows, normalize_weights)


_limit_lock = threading.Lock()
_limit_users = 0
_limiter = None


@contextmanager
def _one_thread_while_running():
    """BLAS and OpenMP at one thread while any fit task runs in this worker process. A
    threaded worker runs several fits at once and the thread limit is process-wide: it is
    taken by the first and restored by the last, never under a running fit."""
    global _limit_users, _limiter
    with _limit_lock:
        if _limit_users == 0:
            from threadpoolctl import threadpool_limits

            _limiter = threadpool_limits(limits=1)
        _limit_users += 1
    try:
        yield
    finally:
        with _limit_lock:
            _limit_users -= 1
            if _limit_users == 0:
                _limiter.restore_original_limits()
                _limiter = None
