"""The search base class: fitting, weighted validation, ranking, refit and ``cv_results_``.

A concrete search only implements ``_run_search(evaluate_candidates)``, as in scikit-learn's
``BaseSearchCV``: it proposes parameter dicts and reads back their mean validation scores.
"""

from __future__ import annotations

import time
from abc import ABCMeta, abstractmethod
from contextlib import closing
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.metrics import check_scoring
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._backends import FitSettings, FitTask, get_backend, one_thread
from ._data import (
    WeightedRows,
    check_accepts_weights,
    int_seed,
    is_coreset,
    is_coreset_tree,
    resolve_rows,
)
from ._fitting import fit_weighted
from ._full_refit import refit_on_all_rows
from ._results import build_cv_results, candidate_record
from ._scoring import search_scorer
from ._splits import DEFAULT_SEED, make_splits


class _SearchStopped(Exception):
    """Raised by ``evaluate_candidates`` when a callback asks to stop."""


def _estimator_has(name: str):
    def check(self) -> bool:
        owner = self.best_estimator_ if hasattr(self, "best_estimator_") else self.estimator
        return hasattr(owner, name)

    return check


class BaseSearch(MetaEstimatorMixin, BaseEstimator, metaclass=ABCMeta):
    """Base class of the searches; see :class:`tuners.GridSearch` for the parameters."""

    _parameter_constraints: ClassVar[dict] = {
        "estimator": [HasMethods(["fit"])],
        "scoring": [str, callable, None],
        "cv": ["cv_object", StrOptions({"leaves"})],
        "refit": ["boolean", StrOptions({"full"})],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "normalize_weights": ["boolean"],
        "error_score": [StrOptions({"raise"}), Real],
        "callbacks": [list, tuple, None],
        "progress_bar": ["boolean"],
        "backend": [str],
        "level": [Interval(Integral, 0, None, closed="left")],
    }
    _extra_columns: tuple[str, ...] = ()

    @abstractmethod
    def __init__(
        self, estimator, *, scoring=None, cv=5, refit=True, n_jobs=None, random_state=None,
        normalize_weights=True, error_score=np.nan, callbacks=None, progress_bar=False,
        backend="sklearn", level=0,
    ):  # fmt: skip
        self.estimator = estimator
        self.scoring = scoring
        self.cv = cv
        self.refit = refit
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.normalize_weights = normalize_weights
        self.error_score = error_score
        self.callbacks = callbacks
        self.progress_bar = progress_bar
        self.backend = backend
        self.level = level

    @abstractmethod
    def _run_search(self, evaluate_candidates) -> None:
        """Call ``evaluate_candidates(list_of_param_dicts)`` (it returns their mean scores,
        NaN for failed ones) until done. Optional keywords: ``rows`` (WeightedRows to search
        on instead of the fit input) and ``extra`` (dict of extra cv_results_ columns)."""

    def fit(self, X, y=None, *, sample_weight=None, validation_data=None):
        """Search the candidates and refit the best one.

        Parameters
        ----------
        X : CoresetTree, Coreset or array-like of shape (n_samples, n_features)
            A coreset tree (its coreset at ``level`` is searched), a coreset (its rows and
            weights), or a feature matrix.
        y : array-like of shape (n_samples,), optional
            Labels; only with an array ``X``.
        sample_weight : array-like of shape (n_samples,), optional
            Positive row weights; only with an array ``X`` (default: all 1).
        validation_data : tuple (X_val, y_val) or (X_val, y_val, w_val), optional
            Real rows to score on. Each candidate is then trained once on all of ``X`` and
            scored on these rows; ``cv`` is not used.

        Returns
        -------
        self
        """
        self._validate_params()
        try:
            return self._fit(X, y, sample_weight, validation_data)
        finally:  # the search keeps no reference to the data
            for name in ("_rows", "_refit_rows", "_source"):
                self.__dict__.pop(name, None)

    def _fit(self, X, y, sample_weight, validation_data):
        caller = type(self).__name__
        check_accepts_weights(self.estimator, caller)
        if self.refit == "full" and is_coreset(X):
            raise ValueError(
                f"{caller} with refit='full' refits on all rows of the data: pass the "
                "CoresetTree (it knows where its rows came from) or the arrays, not a Coreset "
                "(it holds only the sampled rows)."
            )
        backend = get_backend(self.backend, n_jobs=self.n_jobs, caller=caller)
        self._seed = int_seed(DEFAULT_SEED if self.random_state is None else self.random_state)
        self._source = X if is_coreset_tree(X) else None
        self._rows = resolve_rows(X, y, sample_weight, level=self.level, caller=caller)
        self._refit_rows = self._rows
        validation = _validation_rows(validation_data, caller)
        self.scorer_ = search_scorer(check_scoring(self.estimator, self.scoring), self.scoring)
        self.n_features_in_ = self._rows.X.shape[1]
        records: list[dict] = []
        for callback in self.callbacks or ():
            if hasattr(callback, "reset"):
                callback.reset()
        bar = _progress_bar(self.progress_bar, caller)

        def evaluate_candidates(candidate_params, *, rows=None, extra=None) -> list[float]:
            rows = self._rows if rows is None else rows
            if validation is None:
                splits = make_splits(self.cv, rows, random_state=self._seed, caller=caller)
            else:
                splits = [(np.arange(len(rows)), None)]
            self.n_splits_ = len(splits)
            candidates = [dict(params) for params in candidate_params]
            first = len(records)
            tasks = [
                FitTask(first + i, k, params, train, test)
                for i, params in enumerate(candidates)
                for k, (train, test) in enumerate(splits)
            ]
            settings = FitSettings(
                self.estimator, rows, self.scorer_, validation,
                self.normalize_weights, self.error_score,
            )  # fmt: skip
            if bar is not None:
                bar.total = (bar.total or 0) + len(tasks)
                bar.refresh()
            finished = []
            with closing(backend.run(tasks, settings)) as results:
                for result in results:
                    finished.append(result)
                    if bar is not None:
                        bar.update()
                    if len(finished) < len(splits):
                        continue
                    index = result.candidate
                    record = candidate_record(
                        index, candidates[index - first], finished, extra or {}
                    )
                    records.append(record)
                    finished = []
                    if any(callback(self, record) for callback in self.callbacks or ()):
                        raise _SearchStopped
            return [record["mean_test_score"] for record in records[first:]]

        self.stopped_early_ = False
        try:
            self._run_search(evaluate_candidates)
        except _SearchStopped:
            self.stopped_early_ = True
        finally:
            if bar is not None:
                bar.close()
        self._finish(records, caller)
        return self

    def _finish(self, records: list[dict], caller: str) -> None:
        self.cv_results_ = build_cv_results(records, self._extra_columns)
        self.n_rows_fitted_ = int(sum(record["n_rows_fitted"] for record in records))
        ok = [record for record in records if record["status"] == "ok"]
        if not ok:
            first_error = records[0]["error"] if records else "no candidate was evaluated"
            raise ValueError(
                f"All {len(records)} candidates of {caller} failed. First error: {first_error}"
            )
        self.cv_results_["rank_test_score"] = self._rank(self.cv_results_)
        self.best_index_ = int(np.argmin(self.cv_results_["rank_test_score"]))
        self.best_params_ = self.cv_results_["params"][self.best_index_]
        self.best_score_ = float(self.cv_results_["mean_test_score"][self.best_index_])
        if self.refit:
            started = time.perf_counter()
            if self.refit == "full" and self._source is not None:
                self.best_estimator_, self.refit_passes_, self.refit_data_ = refit_on_all_rows(
                    self, self.best_params_, self._source, self._refit_rows, caller
                )
            else:  # the searched rows, or all arrays given to fit for refit="full"
                rows = self._rows if self.refit == "full" else self._refit_rows
                with one_thread():  # a coreset fit is small: one thread is fastest
                    self.best_estimator_ = fit_weighted(
                        clone(self.estimator).set_params(**self.best_params_),
                        rows.X, rows.y, rows.weights, normalize_weights=self.normalize_weights,
                    )  # fmt: skip
                self.refit_passes_ = 0
                self.refit_data_ = (
                    f"all {len(rows):,} rows given to fit" if self.refit == "full"
                    else f"{len(rows):,} searched rows, weighted"
                )  # fmt: skip
            self.refit_time_ = time.perf_counter() - started

    def _rank(self, results: dict) -> np.ndarray:
        """``rank_test_score`` (1 is best, failed candidates last); subclasses may re-rank."""
        return results["rank_test_score"]

    # ------------------------------------------------------------- delegation to the best
    @property
    def classes_(self):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.classes_

    def score(self, X, y, sample_weight=None) -> float:
        """Score of the refit best estimator with the search's scorer (weighted if given)."""
        check_is_fitted(self, "best_estimator_")
        return float(self.scorer_(self.best_estimator_, X, y, sample_weight=sample_weight))

    @available_if(_estimator_has("predict"))
    def predict(self, X):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.decision_function(X)


def _validation_rows(validation_data, caller: str) -> WeightedRows | None:
    if validation_data is None:
        return None
    if not isinstance(validation_data, tuple) or len(validation_data) not in (2, 3):
        raise ValueError(
            f"The 'validation_data' argument of {caller}.fit must be a tuple (X_val, y_val) or "
            f"(X_val, y_val, w_val). Got {type(validation_data).__name__} instead."
        )
    return resolve_rows(*validation_data, caller=caller)


def _progress_bar(enabled: bool, caller: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=0, desc=caller, unit="fit")
