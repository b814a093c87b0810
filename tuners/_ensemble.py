"""Voting and bagging ensembles whose members are fit on weighted coresets."""

from __future__ import annotations

from dataclasses import replace
from numbers import Integral
from typing import ClassVar

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils import Bunch
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._backends import one_thread
from ._data import (
    WeightedRows,
    check_accepts_weights,
    int_seed,
    is_coreset,
    is_coreset_tree,
    resolve_rows,
)
from ._fitting import fit_weighted


def _fit_member(estimator, rows: WeightedRows, normalize_weights: bool):
    with one_thread():
        return fit_weighted(
            estimator, rows.X, rows.y, rows.weights, normalize_weights=normalize_weights
        )


class _CoresetEnsemble(ClassifierMixin, BaseEstimator):
    """Fitting members in parallel and combining their votes; subclasses pick the members."""

    def _fit_members(self, jobs: list[tuple]) -> None:
        for estimator, _ in jobs:
            check_accepts_weights(estimator, type(self).__name__)
        self.classes_ = np.unique(np.concatenate([rows.y for _, rows in jobs]))
        self.n_features_in_ = jobs[0][1].X.shape[1]
        if self.backend == "dask":
            from ._dask import fit_members

            self.estimators_ = fit_members(jobs, self.normalize_weights, type(self).__name__)
            return
        self.estimators_ = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_member)(estimator, rows, self.normalize_weights)
            for estimator, rows in jobs
        )

    def _vote_weights(self) -> np.ndarray:
        weights = getattr(self, "weights", None)
        return np.ones(len(self.estimators_)) if weights is None else np.asarray(weights, float)

    def _aligned(self, member, values: np.ndarray) -> np.ndarray:
        """Member columns placed under the ensemble's classes (a member may miss a class)."""
        out = np.zeros((values.shape[0], self.classes_.size))
        out[:, np.searchsorted(self.classes_, member.classes_)] = values
        return out

    def _soft(self) -> bool:
        return self.voting == "soft"

    @available_if(_soft)
    def predict_proba(self, X) -> np.ndarray:
        """Weighted mean of the members' class probabilities."""
        check_is_fitted(self)
        total = sum(
            weight * self._aligned(member, member.predict_proba(X))
            for member, weight in zip(self.estimators_, self._vote_weights())
        )
        return total / self._vote_weights().sum()

    def predict(self, X) -> np.ndarray:
        """Soft voting: the most probable class; hard voting: the weighted majority."""
        check_is_fitted(self)
        if self.voting == "soft":
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        votes = 0.0
        for member, weight in zip(self.estimators_, self._vote_weights()):
            predicted = np.searchsorted(self.classes_, member.predict(X))
            votes = votes + weight * np.eye(self.classes_.size)[predicted]
        return self.classes_[np.argmax(votes, axis=1)]


class VotingEnsemble(_CoresetEnsemble):
    """Different estimators fit on the same coreset, combined by (weighted) voting.

    Parameters
    ----------
    estimators : list of (str, estimator)
        Named members; each ``fit`` must accept ``sample_weight``.
    voting : {"soft", "hard"}, default "soft"
        "soft" averages predicted probabilities; "hard" counts predicted labels.
    weights : array-like of shape (n_estimators,), optional
        Vote weight of each member (default: equal).
    normalize_weights : bool, default True
        Row weights scaled to mean 1 with ``C`` rescaled, as in :class:`GridSearch`.
    n_jobs : int or None, default None
        Members are fit in parallel, one thread each.
    level : int, default 0
        Tree level used when ``fit`` gets a CoresetTree.
    backend : {"sklearn", "dask"}, default "sklearn"
        "sklearn": members fit in ``n_jobs`` joblib workers; "dask": as tasks on the default
        Dask client (each coreset sent to the workers once; ``n_jobs`` not used).

    Attributes
    ----------
    estimators_ : list of fitted estimators
    named_estimators_ : Bunch
    classes_ : ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.naive_bayes import GaussianNB
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = (X[:, 0] > 0).astype(int)
    >>> ensemble = VotingEnsemble([("lr", LogisticRegression()), ("nb", GaussianNB())])
    >>> bool(ensemble.fit(X, y, sample_weight=np.full(200, 50.0)).score(X, y) > 0.9)
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        "estimators": [list],
        "voting": [StrOptions({"soft", "hard"})],
        "weights": ["array-like", None],
        "normalize_weights": ["boolean"],
        "n_jobs": [Integral, None],
        "level": [Interval(Integral, 0, None, closed="left")],
        "backend": [StrOptions({"sklearn", "dask"})],
    }

    def __init__(
        self, estimators, *, voting="soft", weights=None, normalize_weights=True, n_jobs=None,
        level=0, backend="sklearn",
    ):  # fmt: skip
        self.estimators = estimators
        self.voting = voting
        self.weights = weights
        self.normalize_weights = normalize_weights
        self.n_jobs = n_jobs
        self.level = level
        self.backend = backend

    def fit(self, X, y=None, *, sample_weight=None):
        """Fit every member on the rows of a CoresetTree, a Coreset, or weighted arrays.

        Returns
        -------
        self
        """
        self._validate_params()
        caller = type(self).__name__
        if not self.estimators or (
            self.weights is not None and len(self.weights) != len(self.estimators)
        ):
            raise ValueError(
                f"The 'estimators' parameter of {caller} must be a non-empty list of "
                f"(name, estimator) pairs, with one vote weight each if 'weights' is given. "
                f"Got {len(self.estimators)} estimators instead."
            )
        rows = resolve_rows(X, y, sample_weight, level=self.level, caller=caller)
        self._fit_members([(clone(estimator), rows) for _, estimator in self.estimators])
        self.named_estimators_ = Bunch(
            **{name: fitted for (name, _), fitted in zip(self.estimators, self.estimators_)}
        )
        return self


class BaggingEnsemble(_CoresetEnsemble):
    """One estimator fit on independently drawn coresets, combined by voting.

    The members' coresets come from, in order of precedence:

    - a list of coresets or trees given to ``fit`` (e.g. trees built with different seeds):
      one member each;
    - ``source="leaves"`` with a CoresetTree: the rows of the tree's coreset at ``level``
      split into ``n_estimators`` groups of consecutive tree leaves (coresets drawn
      independently, node by node, from disjoint parts of the data);
    - ``source="resample"`` (default): ``n_estimators`` independent weighted resamples of the
      coreset, each ``max_rows`` rows drawn with replacement with probability proportional to
      weight (an importance sample of the coreset: a coreset of the same data).

    Every member's weights are scaled to the full total, so ``C`` means the same for all.

    Parameters
    ----------
    estimator : estimator object
        Its ``fit`` must accept ``sample_weight``; a ``random_state`` parameter is set to a
        different seed for each member.
    n_estimators : int, default 10
    source : {"resample", "leaves"}, default "resample"
    max_rows : int or None, default None
        Rows drawn per resample (None: as many as the coreset has).
    voting : {"soft", "hard"}, default "soft"
    normalize_weights, n_jobs, level, backend :
        As for :class:`VotingEnsemble`.
    random_state : int, RandomState or None, default None
        Seeds the resamples and the members' ``random_state``.

    Attributes
    ----------
    estimators_ : list of fitted estimators
    classes_ : ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = (X[:, 0] > 0).astype(int)
    >>> bagging = BaggingEnsemble(LogisticRegression(), n_estimators=5, random_state=0)
    >>> len(bagging.fit(X, y).estimators_)
    5
    """

    _parameter_constraints: ClassVar[dict] = {
        "estimator": [HasMethods(["fit"])],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "source": [StrOptions({"resample", "leaves"})],
        "max_rows": [Interval(Integral, 1, None, closed="left"), None],
        "voting": [StrOptions({"soft", "hard"})],
        "normalize_weights": ["boolean"],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "level": [Interval(Integral, 0, None, closed="left")],
        "backend": [StrOptions({"sklearn", "dask"})],
    }

    def __init__(
        self, estimator, *, n_estimators=10, source="resample", max_rows=None, voting="soft",
        normalize_weights=True, n_jobs=None, random_state=None, level=0, backend="sklearn",
    ):  # fmt: skip
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.source = source
        self.max_rows = max_rows
        self.voting = voting
        self.normalize_weights = normalize_weights
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.level = level
        self.backend = backend

    def fit(self, X, y=None, *, sample_weight=None):
        """Fit the members; ``X`` is a list of coresets or trees, a CoresetTree, a Coreset, or
        an array (with ``y`` and optional ``sample_weight``).

        Returns
        -------
        self
        """
        self._validate_params()
        caller = type(self).__name__
        self._seed = int_seed(self.random_state)
        if (
            isinstance(X, (list, tuple))
            and X
            and all(is_coreset(c) or is_coreset_tree(c) for c in X)
        ):
            member_rows = [resolve_rows(c, level=self.level, caller=caller) for c in X]
        else:
            rows = resolve_rows(X, y, sample_weight, level=self.level, caller=caller)
            if self.source == "leaves":
                member_rows = _leaf_groups(rows, self.n_estimators, caller)
            else:
                member_rows = self._resamples(rows)
        seeds = np.random.SeedSequence(self._seed).generate_state(len(member_rows))
        jobs = [(self._member(int(seed)), rows) for seed, rows in zip(seeds, member_rows)]
        self._fit_members(jobs)
        return self

    def _member(self, seed: int):
        member = clone(self.estimator)
        if "random_state" in member.get_params():
            member.set_params(random_state=seed % 2**31)
        return member

    def _resamples(self, rows: WeightedRows) -> list[WeightedRows]:
        rng = np.random.default_rng(np.random.SeedSequence(self._seed).spawn(1)[0])
        size = self.max_rows or len(rows)
        total = rows.weights.sum()
        chosen = []
        for _ in range(self.n_estimators):
            drawn = rng.choice(len(rows), size=size, p=rows.weights / total)
            unique, counts = np.unique(drawn, return_counts=True)
            # each draw stands for total / size of weight
            chosen.append(replace(rows.take(unique), weights=counts * (total / size)))
        return chosen


def _leaf_groups(rows: WeightedRows, n_groups: int, caller: str) -> list[WeightedRows]:
    if rows.row_ids is None or rows.leaf_size is None:
        raise ValueError(
            f"The 'source' parameter of {caller} can be 'leaves' only when fit gets a "
            "CoresetTree. Got arrays or a Coreset instead."
        )
    leaves = rows.row_ids // rows.leaf_size
    distinct = np.unique(leaves)
    if distinct.size < n_groups:
        raise ValueError(
            f"The 'n_estimators' parameter of {caller} must be at most the number of tree "
            f"leaves in the coreset ({distinct.size}) with source='leaves'. Got {n_groups} instead."
        )
    total = rows.weights.sum()
    groups = []
    for block in np.array_split(distinct, n_groups):
        members = np.flatnonzero(np.isin(leaves, block))
        groups.append(rows.take(members, weight_scale=total / rows.weights[members].sum()))
    return groups
