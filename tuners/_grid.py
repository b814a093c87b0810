"""Exhaustive and random search."""

from __future__ import annotations

from numbers import Integral
from typing import ClassVar

from sklearn.model_selection import ParameterGrid, ParameterSampler
from sklearn.utils._param_validation import Interval

from ._search import BaseSearch
from ._space import to_scipy


class GridSearch(BaseSearch):
    """Try every combination of a parameter grid on a coreset, with weighted validation.

    Parameters
    ----------
    estimator : estimator object
        A scikit-learn estimator whose ``fit`` accepts ``sample_weight``.
    param_grid : dict or list of dicts
        Parameter names to lists of values, as for scikit-learn's ``ParameterGrid``.
    scoring : str, callable or None, default None
        A scikit-learn scorer name (``"roc_auc"``, ``"neg_log_loss"``, ...) or callable
        ``scorer(estimator, X, y, sample_weight=w)``; None uses ``estimator.score``. Held-out
        rows are always scored with their weights.
    cv : int, "leaves", splitter or iterable, default 5
        How candidates are validated (ignored when ``fit`` gets ``validation_data``):

        - int k (default 5): stratified k-fold over the coreset's rows, copies of one original
          row kept in one fold, every fold scored with the rows' weights. This is the default
          because it needs no extra data and works for a tree, a coreset or weighted arrays:
          the coreset is an importance sample of the data, so the weighted score of held-out
          coreset rows estimates the score on the original rows those folds stand for, and
          the training folds are themselves (smaller) coresets. ``benchmarks/bench_tuners.py``
          shows it picks what full-data cross-validation picks.
        - ``"leaves"``: group folds over tree leaves (blocks of ``chunk_size`` consecutive
          original rows); needs a CoresetTree. Use it when rows near each other in the file
          are alike (time order): held-out rows then come from parts of the file the
          training rows do not.
        - a scikit-learn splitter (its ``split`` gets the coreset's row numbers as ``groups``)
          or an iterable of (train, test) index arrays.
    refit : bool or "full", default True
        True: refit the best parameters on all searched rows (the coreset, with its weights)
        into ``best_estimator_``: fast, and the default. ``"full"``: refit them on all rows of
        the data instead. Given a CoresetTree, these are all rows it was built from, streamed
        from its data file (or the arrays passed to ``build``, while they exist): a
        LogisticRegression with an L2 penalty or none (not liblinear) by streamed Newton
        passes warm-started at the coreset refit (:func:`coreset_engine.fit_logistic_full`:
        its exact optimum in ~3 passes), an estimator with ``partial_fit`` by one
        ``partial_fit`` pass over the chunks, any other by an ordinary ``fit`` on all rows
        read into memory (a ValueError names the estimator when they take more than half the
        memory available). Given arrays, "full" refits on all of them (as True does, except
        after HalvingSearch's subsets); given a Coreset, "full" is an error (it holds only
        the sampled rows).
    n_jobs : int or None, default None
        Fits run in parallel across candidates and folds with joblib (-1: all cores). Each fit
        is limited to one BLAS/OpenMP thread, which is faster for the small fits of a search.
    random_state : int, RandomState or None, default None
        Seeds the fold shuffling (and the sampler of RandomSearch and BayesSearch). The same
        int gives the same ``cv_results_`` scores for any ``n_jobs``. None uses the seed 0, so
        that two runs of a search validate on the same folds and pick the same parameters (as
        scikit-learn's ``cv=5`` does); pass another int, or a RandomState, for other folds.
    normalize_weights : bool, default True
        Fit with the weights scaled to mean 1, and multiply every ``C`` parameter by the
        mean weight during the fit. For models minimising ``C * sum(w * loss) + penalty``
        (LogisticRegression, SVC, LinearSVC) the optimum is the same, and solvers such as saga
        converge in a fraction of the time they need on raw coreset weights (about n / m).
        ``best_params_`` and ``best_estimator_`` report ``C`` in the caller's units.
    error_score : "raise" or float, default nan
        Score of a candidate whose fit or scoring raised. Such candidates are kept in
        ``cv_results_`` with ``status`` "failed" and the reason in ``error``.
    callbacks : list of callables, optional
        ``callback(search, result) -> bool``, called after each candidate; True stops the
        search. See :class:`tuners.StopWithoutImprovement`.
    progress_bar : bool, default False
        Show a tqdm bar over fits.
    backend : str, default "sklearn"
        Who runs the fits: "sklearn" (clones fitted in joblib workers), "dask" (each fit a
        task on the default Dask client, the coreset sent to the workers once; the same
        results as "sklearn"; see :class:`tuners.DaskBackend`) or "torch" (a
        LogisticRegression only: all fits of a round in one batched Newton solve, on a CUDA
        GPU when PyTorch sees one; see :class:`tuners.TorchLogisticBackend`). Others can be
        added with :func:`tuners.register_backend`.
    level : int, default 0
        Tree level searched when ``fit`` gets a CoresetTree (0: the root coreset).

    Attributes
    ----------
    cv_results_ : dict of arrays
        One entry per candidate: ``params``, ``param_<name>``, ``split<k>_test_score``,
        ``mean_test_score``, ``std_test_score``, ``rank_test_score``, ``mean_fit_time`` and
        ``std_fit_time`` (seconds per fit), ``mean_score_time``, ``std_score_time``,
        ``n_train_rows`` (rows per fit), ``status`` ("ok" / "failed") and ``error``.
    best_params_, best_score_, best_index_ :
        The best candidate, its mean validation score and its row in ``cv_results_``.
    best_estimator_ : estimator
        The best candidate refit on all searched rows (if ``refit``), or on all rows of the
        data (``refit="full"``).
    refit_time_, refit_passes_, refit_data_ :
        Seconds of the refit, its reads of the full data (0 for a coreset refit), and what it
        fitted on, in words (for example "all 494,021 source rows (streamed Newton, 3
        passes)").
    n_rows_fitted_ : int
        Rows trained on, summed over all validation fits (the refit not counted).
    stopped_early_ : bool
        Whether a callback stopped the search.
    n_splits_, scorer_, n_features_in_ :
        Number of validation splits, the scorer, number of features.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3)); y = (X[:, 0] > 0).astype(int)
    >>> weights = rng.uniform(1, 3, size=300)
    >>> grid = {"C": [0.01, 1.0], "solver": ["lbfgs", "liblinear"]}
    >>> search = GridSearch(LogisticRegression(), grid, scoring="roc_auc", cv=3, random_state=0)
    >>> search.fit(X, y, sample_weight=weights).best_params_["C"]
    1.0
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseSearch._parameter_constraints,
        "param_grid": [dict, list],
    }

    def __init__(
        self, estimator, param_grid, *, scoring=None, cv=5, refit=True, n_jobs=None,
        random_state=None, normalize_weights=True, error_score=float("nan"), callbacks=None,
        progress_bar=False, backend="sklearn", level=0,
    ):  # fmt: skip
        super().__init__(
            estimator, scoring=scoring, cv=cv, refit=refit, n_jobs=n_jobs,
            random_state=random_state, normalize_weights=normalize_weights,
            error_score=error_score, callbacks=callbacks, progress_bar=progress_bar,
            backend=backend, level=level,
        )  # fmt: skip
        self.param_grid = param_grid

    def _run_search(self, evaluate_candidates) -> None:
        evaluate_candidates(ParameterGrid(self.param_grid))


class RandomSearch(BaseSearch):
    """Try ``n_iter`` random draws from parameter distributions, on a coreset.

    Parameters
    ----------
    estimator : estimator object
        A scikit-learn estimator whose ``fit`` accepts ``sample_weight``.
    param_distributions : dict or list of dicts
        Names to lists (sampled uniformly), scipy.stats distributions, or ranges
        ``(low, high)`` / ``(low, high, "log-uniform")`` (two ints: an integer range).
    n_iter : int, default 10
        Number of candidates drawn (fewer if a grid of lists has fewer combinations).
    **other parameters :
        ``scoring``, ``cv``, ``refit``, ``n_jobs``, ``random_state`` (also seeds the draws),
        ``normalize_weights``, ``error_score``, ``callbacks``, ``progress_bar``, ``backend``,
        ``level``: as for :class:`GridSearch`, which also lists the fitted attributes.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3)); y = (X[:, 0] > 0).astype(int)
    >>> search = RandomSearch(LogisticRegression(), {"C": (1e-3, 1e3, "log-uniform")},
    ...                       n_iter=4, cv=3, random_state=0).fit(X, y)
    >>> len(search.cv_results_["params"])
    4
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseSearch._parameter_constraints,
        "param_distributions": [dict, list],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self, estimator, param_distributions, *, n_iter=10, scoring=None, cv=5, refit=True,
        n_jobs=None, random_state=None, normalize_weights=True, error_score=float("nan"),
        callbacks=None, progress_bar=False, backend="sklearn", level=0,
    ):  # fmt: skip
        super().__init__(
            estimator, scoring=scoring, cv=cv, refit=refit, n_jobs=n_jobs,
            random_state=random_state, normalize_weights=normalize_weights,
            error_score=error_score, callbacks=callbacks, progress_bar=progress_bar,
            backend=backend, level=level,
        )  # fmt: skip
        self.param_distributions = param_distributions
        self.n_iter = n_iter

    def _run_search(self, evaluate_candidates) -> None:
        spaces = self.param_distributions
        spaces = [spaces] if isinstance(spaces, dict) else spaces
        converted = [to_scipy(space, type(self).__name__) for space in spaces]
        evaluate_candidates(ParameterSampler(converted, self.n_iter, random_state=self._seed))
