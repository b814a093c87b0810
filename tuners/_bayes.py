"""Bayesian search: Optuna proposes, the search base fits and scores (ask / tell)."""

from __future__ import annotations

import math
from contextlib import contextmanager
from numbers import Integral
from typing import ClassVar

from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from ._search import BaseSearch
from ._space import to_optuna

SAMPLERS = ("tpe", "random", "gp")


class BayesSearch(BaseSearch):
    """Model-based search with Optuna (TPE by default) on a coreset.

    Each round asks Optuna for ``n_points`` candidates, validates them like
    :class:`GridSearch`, and tells Optuna their mean scores; failed candidates are told as
    failed trials.

    Parameters
    ----------
    estimator : estimator object
        A scikit-learn estimator whose ``fit`` accepts ``sample_weight``.
    search_spaces : dict
        Parameter names to lists (categorical choices), ranges ``(low, high)`` or
        ``(low, high, "log-uniform")`` as in scikit-optimize (two ints: an integer range), or
        Optuna distributions.
    n_iter : int, default 30
        Number of candidates.
    sampler : {"tpe", "random", "gp"} or optuna.samplers.BaseSampler, default "tpe"
        Optuna's TPESampler, RandomSampler or GPSampler, seeded with ``random_state``; or a
        sampler object (used as given: it keeps its own state between fits).
    n_points : int, default 1
        Candidates asked per round. Results do not depend on ``n_jobs`` (parallelism covers
        folds and the candidates of a round), but they do depend on ``n_points``.
    **other parameters :
        ``scoring``, ``cv``, ``refit``, ``n_jobs``, ``random_state``, ``normalize_weights``,
        ``error_score``, ``callbacks``, ``progress_bar``, ``backend``, ``level``: as for
        :class:`GridSearch`, which also lists the fitted attributes.

    Attributes
    ----------
    study_ : optuna.Study
        The study, one trial per candidate.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3)); y = (X[:, 0] > 0).astype(int)
    >>> search = BayesSearch(LogisticRegression(), {"C": (1e-3, 1e3, "log-uniform")},
    ...                      n_iter=5, cv=3, random_state=0).fit(X, y)
    >>> len(search.study_.trials)
    5
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseSearch._parameter_constraints,
        "search_spaces": [dict],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "sampler": [StrOptions(set(SAMPLERS)), HasMethods(["sample_independent"])],
        "n_points": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self, estimator, search_spaces, *, n_iter=30, sampler="tpe", n_points=1, scoring=None,
        cv=5, refit=True, n_jobs=None, random_state=None, normalize_weights=True,
        error_score=float("nan"), callbacks=None, progress_bar=False, backend="sklearn",
        level=0,
    ):  # fmt: skip
        super().__init__(
            estimator, scoring=scoring, cv=cv, refit=refit, n_jobs=n_jobs,
            random_state=random_state, normalize_weights=normalize_weights,
            error_score=error_score, callbacks=callbacks, progress_bar=progress_bar,
            backend=backend, level=level,
        )  # fmt: skip
        self.search_spaces = search_spaces
        self.n_iter = n_iter
        self.sampler = sampler
        self.n_points = n_points

    def _make_sampler(self):
        import optuna

        if not isinstance(self.sampler, str):
            return self.sampler
        kinds = {
            "tpe": optuna.samplers.TPESampler,
            "random": optuna.samplers.RandomSampler,
            "gp": optuna.samplers.GPSampler,
        }
        return kinds[self.sampler](seed=self._seed)

    def _run_search(self, evaluate_candidates) -> None:
        import optuna

        distributions, choices = to_optuna(self.search_spaces, type(self).__name__)
        remaining = self.n_iter
        with _quiet_optuna():
            self.study_ = optuna.create_study(direction="maximize", sampler=self._make_sampler())
            while remaining > 0:
                trials = [
                    self.study_.ask(distributions) for _ in range(min(self.n_points, remaining))
                ]
                candidates = [_decode(trial.params, choices) for trial in trials]
                scores = evaluate_candidates(candidates)
                for trial, score in zip(trials, scores):
                    if math.isnan(score):
                        self.study_.tell(trial, state=optuna.trial.TrialState.FAIL)
                    else:
                        self.study_.tell(trial, score)
                remaining -= len(trials)


def _decode(params: dict, choices: dict) -> dict:
    return {
        name: choices[name][value] if name in choices else value for name, value in params.items()
    }


@contextmanager
def _quiet_optuna():
    """Optuna logs a line per trial at INFO; the search has its own progress bar."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)
