"""Callbacks that watch a search and can stop it.

A callback is any callable ``callback(search, result) -> bool | None``, called after every
candidate finishes, in candidate order. ``result`` is a dict with ``candidate`` (its index in
``cv_results_``), ``params``, ``mean_test_score``, ``status`` (``"ok"`` or ``"failed"``),
``error``, ``mean_fit_time`` and ``n_train_rows``. Returning True stops the search: candidates
already finished stay in ``cv_results_`` and the best of them is refit. A callback with a
``reset()`` method has it called at the start of every ``fit``, so one object can be reused.
"""

from __future__ import annotations

import math
import time


class StopWhenScoreReaches:
    """Stop once a candidate's mean validation score is at least ``threshold``.

    Examples
    --------
    >>> stop = StopWhenScoreReaches(0.9)
    >>> stop(None, {"mean_test_score": 0.95})
    True
    """

    def __init__(self, threshold: float):
        self.threshold = threshold

    def __call__(self, search, result: dict) -> bool:
        return bool(result["mean_test_score"] >= self.threshold)


class StopWithoutImprovement:
    """Stop after ``patience`` candidates in a row that beat the best score by less than
    ``min_delta`` (failed candidates count as no improvement).

    Examples
    --------
    >>> stop = StopWithoutImprovement(patience=2)
    >>> [stop(None, {"mean_test_score": s}) for s in (0.8, 0.7, 0.9, 0.85, 0.88)]
    [False, False, False, False, True]
    """

    def __init__(self, patience: int, *, min_delta: float = 0.0):
        self.patience = patience
        self.min_delta = min_delta
        self.reset()

    def reset(self) -> None:
        self._best = -math.inf
        self._waited = 0

    def __call__(self, search, result: dict) -> bool:
        score = result["mean_test_score"]
        if not math.isnan(score) and score > self._best + self.min_delta:
            self._best, self._waited = score, 0
            return False
        self._waited += 1
        return self._waited >= self.patience


class TimeLimit:
    """Stop once ``seconds`` have passed since the search started.

    Examples
    --------
    >>> limit = TimeLimit(0.0)
    >>> limit(None, {"mean_test_score": 0.5})
    True
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.reset()

    def reset(self) -> None:
        self._started = time.perf_counter()

    def __call__(self, search, result: dict) -> bool:
        return time.perf_counter() - self._started >= self.seconds
