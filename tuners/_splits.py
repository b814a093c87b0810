"""Validation splits over weighted coreset rows.

Three honest ways to score a candidate trained on a coreset (see :class:`tuners.GridSearch`):

- ``cv=k`` (default 5): stratified k-fold over the coreset's rows. Copies of one original row
  stay in one fold, and held-out rows are scored with their weights, so a fold's score is the
  coreset's (Horvitz-Thompson) estimate of the score on the rows that fold stands for.
- ``cv="leaves"``: folds over tree leaves (blocks of ``chunk_size`` consecutive original rows:
  the leaves of a tree built in one pass), so training and held-out rows come from disjoint
  parts of the file.
- ``validation_data=(X_val, y_val)`` in ``fit``: train on the whole coreset, score on real rows.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
)
from sklearn.utils.multiclass import type_of_target

from ._data import WeightedRows

DEFAULT_FOLDS = 5
#: Seed of a search whose ``random_state`` is None: its folds (and draws) are the same on every
#: run, as scikit-learn's ``cv=5`` folds are, so two runs pick the same parameters.
DEFAULT_SEED = 0
LEAF_FOLDS = 5


def make_splits(cv, rows: WeightedRows, *, random_state, caller: str) -> list[tuple]:
    """The (train rows, held-out rows) pairs for ``cv``; see the module docstring."""
    if isinstance(cv, str):
        return _leaf_splits(rows, caller)
    if cv is None:
        cv = DEFAULT_FOLDS
    if isinstance(cv, Integral):
        return _row_folds(int(cv), rows, random_state)
    if hasattr(cv, "split"):
        return list(cv.split(rows.X, rows.y, groups=rows.row_ids))
    return [(np.asarray(train), np.asarray(test)) for train, test in cv]  # (train, test) pairs


def _row_folds(n_splits: int, rows: WeightedRows, random_state) -> list[tuple]:
    classification = type_of_target(rows.y) in ("binary", "multiclass")
    has_copies = rows.row_ids is not None and np.unique(rows.row_ids).size < len(rows)
    if not has_copies:
        kind = StratifiedKFold if classification else KFold
        splitter = kind(n_splits, shuffle=True, random_state=random_state)
        return list(splitter.split(rows.X, rows.y))
    if classification:
        splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=random_state)
    else:  # GroupKFold places groups by size, not at random; still disjoint
        splitter = GroupKFold(n_splits)
    return list(splitter.split(rows.X, rows.y, groups=rows.row_ids))


def _leaf_splits(rows: WeightedRows, caller: str) -> list[tuple]:
    if rows.row_ids is None or rows.leaf_size is None:
        raise ValueError(
            f"The 'cv' parameter of {caller} can be 'leaves' only when fit gets a CoresetTree "
            "(rows must carry their tree leaf). Got arrays or a Coreset instead."
        )
    leaves = rows.row_ids // rows.leaf_size
    n_leaves = np.unique(leaves).size
    if n_leaves < 2:
        raise ValueError(
            f"The 'cv' parameter of {caller} can be 'leaves' only for a tree with at least 2 "
            f"leaves among the searched rows. Got {n_leaves} leaf instead."
        )
    splitter = GroupKFold(min(LEAF_FOLDS, n_leaves))
    return list(splitter.split(rows.X, rows.y, groups=leaves))
