"""Successive halving over tree levels (or, for a coreset or arrays, over nested row subsets)."""

from __future__ import annotations

import math
from numbers import Integral
from typing import ClassVar

import numpy as np
from sklearn.model_selection import ParameterGrid
from sklearn.utils._param_validation import Interval

from ._data import WeightedRows, resolve_rows
from ._results import rank_scores
from ._search import BaseSearch


class HalvingSearch(BaseSearch):
    """Successive halving: all candidates on a small coreset, the best on bigger ones.

    Round 0 validates every candidate of ``param_grid`` on the coreset at ``level`` (the root
    by default); each later round keeps the best ``1 / factor`` of the candidates and moves one
    tree level deeper, where the coreset has more rows and approximates the data better. It
    stops when one candidate is left or at ``max_level``. The best candidate of the last round
    wins and is refit on that round's coreset (a lone survivor is not validated again), or on
    all rows of the tree's source with ``refit="full"``.

    Given a coreset or arrays instead of a tree, the resource is rows: the rounds use nested
    stratified random subsets growing by ``factor`` up to all rows (weights scaled up so every
    subset keeps the total weight), starting from ``min_rows``.

    Parameters
    ----------
    estimator : estimator object
        A scikit-learn estimator whose ``fit`` accepts ``sample_weight``.
    param_grid : dict or list of dicts
        As for :class:`GridSearch`.
    factor : int, default 3
        Keep ``ceil(n / factor)`` candidates after each round.
    max_level : int or None, default None
        Deepest tree level used (None: the tree's ``depth_``).
    min_rows : int or None, default None
        Rows of the first round without a tree (None: as many as lets the last round with
        more than one candidate use all rows, at least ``20 * n_classes``, or 20 for a
        continuous target: subsets are then random, not stratified).
    **other parameters :
        ``scoring``, ``cv``, ``refit``, ``n_jobs``, ``random_state``, ``normalize_weights``,
        ``error_score``, ``callbacks``, ``progress_bar``, ``backend``, ``level`` (the first
        round's tree level): as for :class:`GridSearch`, which also lists the fitted attributes.

    Attributes
    ----------
    cv_results_ : dict of arrays
        As for GridSearch, one entry per candidate and round, with ``iter`` (the round) and
        ``n_resources`` (the tree level, or the rows without a tree). ``rank_test_score`` ranks
        later rounds first.
    n_resources_, n_candidates_ : list of int
        Level (or rows) and number of candidates of each round.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(900, 3)); y = (X[:, 0] > 0).astype(int)
    >>> search = HalvingSearch(LogisticRegression(), {"C": [0.001, 0.01, 0.1, 1, 10]},
    ...                        cv=3, random_state=0).fit(X, y)
    >>> search.n_candidates_, search.n_resources_
    ([5, 2], [300, 900])
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseSearch._parameter_constraints,
        "param_grid": [dict, list],
        "factor": [Interval(Integral, 2, None, closed="left")],
        "max_level": [Interval(Integral, 0, None, closed="left"), None],
        "min_rows": [Interval(Integral, 1, None, closed="left"), None],
    }
    _extra_columns = ("iter", "n_resources")

    def __init__(
        self, estimator, param_grid, *, factor=3, max_level=None, min_rows=None, scoring=None,
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
        self.param_grid = param_grid
        self.factor = factor
        self.max_level = max_level
        self.min_rows = min_rows

    def _run_search(self, evaluate_candidates) -> None:
        candidates = list(ParameterGrid(self.param_grid))
        self.n_resources_, self.n_candidates_ = [], []
        for round_index, (resource, rows) in enumerate(self._rounds(len(candidates))):
            self.n_resources_.append(resource)
            self.n_candidates_.append(len(candidates))
            self._refit_rows = rows
            scores = evaluate_candidates(
                candidates, rows=rows, extra={"iter": round_index, "n_resources": resource}
            )
            keep = math.ceil(len(candidates) / self.factor)
            best_first = np.argsort(np.where(np.isnan(scores), np.inf, -np.asarray(scores)),
                                    kind="stable")  # fmt: skip
            candidates = [candidates[i] for i in best_first[:keep]]
            if len(candidates) == 1:
                break

    def _rounds(self, n_candidates: int):
        """Yield (resource, rows) per round, lazily: a tree level is read only when reached."""
        tree = self._source
        if tree is not None:
            deepest = tree.depth_ if self.max_level is None else min(self.max_level, tree.depth_)
            for level in range(self.level, max(self.level, deepest) + 1):
                rows = (
                    self._rows
                    if level == self.level
                    else resolve_rows(tree, level=level, caller=type(self).__name__)
                )
                yield level, rows
            return
        yield from self._row_rounds(self._rows, n_candidates)

    def _row_rounds(self, rows: WeightedRows, n_candidates: int):
        n_rows = len(rows)
        # rounds until one candidate is left; the last of them should see all rows
        n_rounds = max(1, math.ceil(math.log(max(n_candidates, 1), self.factor) - 1e-9))
        classes = np.unique(rows.y).size if _is_classification(rows.y) else 1
        smallest = self.min_rows or max(
            20 * classes, math.ceil(n_rows / self.factor ** (n_rounds - 1))
        )
        order = _stratified_order(rows.y, self._seed)
        size = min(smallest, n_rows)
        while True:
            subset = np.sort(order[:size])
            scale = rows.weights.sum() / rows.weights[subset].sum()
            yield size, rows.take(subset, weight_scale=scale)
            if size >= n_rows:
                return
            size = min(size * self.factor, n_rows)

    def _rank(self, results: dict) -> np.ndarray:
        rounds = results["iter"]
        ranks = np.empty(rounds.size, dtype=np.int32)
        ahead = 0  # candidates of later rounds rank first
        for round_index in sorted(set(rounds.tolist()), reverse=True):
            mask = rounds == round_index
            ranks[mask] = rank_scores(results["mean_test_score"][mask]) + ahead
            ahead += int(mask.sum())
        return ranks


def _is_classification(labels: np.ndarray) -> bool:
    from sklearn.utils.multiclass import type_of_target

    return type_of_target(labels) in ("binary", "multiclass")


def _stratified_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """A row order whose every prefix holds the classes in about their overall shares (a
    random order for a continuous target)."""
    rng = np.random.default_rng(seed)
    if not _is_classification(labels):
        return rng.permutation(labels.size)
    position = np.empty(labels.size)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        shuffled = rng.permutation(members)
        position[shuffled] = (
            np.arange(members.size) + rng.uniform(size=members.size)
        ) / members.size
    return np.argsort(position, kind="stable")
