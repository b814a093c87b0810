"""Label review: rank a tree's rows by how likely their label is wrong (``get_cleaning_samples``).

A row's score is its miss probability 1 - p(its label | x) under a model that did not train on
it (confident learning's self-confidence, Northcutt et al. 2021: in-sample probabilities
flatter memorised rows). The model is a pilot logistic regression fitted on the root coreset,
whose weighted rows stand for all the data: the coreset's own rows are cross-fitted (each
scored by the pilot fitted on the other folds), every other row by the pilot fitted on the whole
coreset. A fitted classifier of the user's can replace the pilot (``model=``).

Multiplying by the row's leverage (against the root's exact Gram matrix) puts influential
suspects first; on the cleaning benchmark (``benchmarks/bench_cleaning.py``) every power of it
lowered precision at 1% (flipped labels are not more frequent among high-leverage rows), so
the default score is the miss probability alone and ``leverage_power`` stays a scorer option.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ._edits import EditOverlay, iter_edited_chunks, leaf_bounds, leaf_nodes, segment_available
from ._linalg import leverage_projection, projected_row_norms
from ._pilot import fit_pilot
from ._validation import check_int

#: Folds of the cross-fitting that scores the coreset's own rows.
CLEANING_FOLDS = 5
#: Spawn key of the folds' random stream (apart from every node's).
_FOLD_STREAM = (1 << 42,)


@dataclass(frozen=True)
class CleaningSamples:
    """Rows to review, best first.

    Attributes
    ----------
    indices : ndarray of int64
        Row numbers in the data.
    scores : ndarray of float64
        How likely each row's label is wrong (higher: look first).
    y : ndarray
        Each row's current label (as in ``classes_``).
    predicted : ndarray
        The label the model finds most likely.
    X : ndarray
        The rows' features, encoded as the tree's X.
    feature_names : tuple of str
    n_scored : int
        Rows that were scored (all live rows when the tree's source could be read).
    """

    indices: np.ndarray
    scores: np.ndarray
    y: np.ndarray
    predicted: np.ndarray
    X: np.ndarray
    feature_names: tuple[str, ...]
    n_scored: int

    def __len__(self) -> int:
        return int(self.indices.size)

    def to_pandas(self, *, features: bool = True):
        """A DataFrame indexed by row number: ``label``, ``predicted``, ``score`` and (unless
        ``features=False``) the feature columns."""
        import pandas as pd

        frame = pd.DataFrame(
            {"label": self.y, "predicted": self.predicted, "score": self.scores},
            index=pd.Index(self.indices, name="row"),
        )
        if features:
            columns = pd.DataFrame(self.X, columns=list(self.feature_names), index=frame.index)
            frame = pd.concat([frame, columns], axis=1)
        return frame

    def __repr__(self) -> str:
        return f"CleaningSamples(n_rows={len(self)}, n_scored={self.n_scored})"


# ------------------------------------------------------------------------------- scoring
class CleaningScorer:
    """Scores rows: (miss probability) x (leverage x n / (d + 1)) ** ``leverage_power``.

    ``model`` None: pilots fitted on the coreset at ``level`` (root: 0), cross-fitted for its
    own rows; else the user's fitted classifier."""

    def __init__(self, tree, state, model=None, *, leverage_power: float = 0.0,
                 level: int = 0):  # fmt: skip
        self.n_classes = state.n_classes
        self.classes = state.classes
        self.model = model
        self.leverage_power = float(leverage_power)
        root = state.nodes[state.root]
        if self.leverage_power:
            self.projection = leverage_projection(root.stats.gram)
            self.leverage_scale = root.stats.n_rows / root.stats.gram.shape[0]
        if model is not None:
            self._model_columns = model_columns(model, state.classes)
            self.held_out_rows = np.zeros(0, dtype=np.int64)
            return
        coreset = tree.get_coreset(level)
        order = np.argsort(coreset.indices, kind="stable")
        rows, X, y, w = (coreset.indices[order], coreset.X[order], coreset.y[order],
                         coreset.weights[order])  # fmt: skip
        self.pilot = fit_pilot(X, y, w)
        rng = np.random.default_rng(np.random.SeedSequence(state.seed, spawn_key=_FOLD_STREAM))
        fold = rng.permutation(rows.size) % CLEANING_FOLDS
        probabilities = np.empty((rows.size, self.n_classes))
        for k in range(CLEANING_FOLDS):
            held_out = fold == k
            pilot = fit_pilot(X[~held_out], y[~held_out], w[~held_out]) or self.pilot
            probabilities[held_out] = pilot_probabilities(pilot, X[held_out], self.n_classes)
        self.held_out_rows = rows
        self.held_out_probabilities = probabilities

    def probabilities(self, rows: np.ndarray, X: np.ndarray) -> np.ndarray:
        """p(class | x) of every row (n, n_classes), out of sample where the pilot trained
        on the row."""
        if self.model is not None:
            out = np.zeros((X.shape[0], self.n_classes))
            out[:, self._model_columns] = self.model.predict_proba(X)
            return out
        out = pilot_probabilities(self.pilot, X, self.n_classes)
        position = np.searchsorted(self.held_out_rows, rows)
        position = np.minimum(position, max(self.held_out_rows.size - 1, 0))
        held = self.held_out_rows.size > 0
        if held:
            found = self.held_out_rows[position] == rows
            out[found] = self.held_out_probabilities[position[found]]
        return out

    def score(self, rows: np.ndarray, X: np.ndarray, labels: np.ndarray):
        """(scores, codes of the most likely classes)."""
        probabilities = self.probabilities(rows, X)
        miss = 1.0 - probabilities[np.arange(rows.size), labels]
        scores = np.clip(miss, 0.0, 1.0)
        if self.leverage_power:
            leverage = projected_row_norms(X, self.projection) ** 2 * self.leverage_scale
            scores = scores * leverage**self.leverage_power
        return scores, probabilities.argmax(axis=1)


def pilot_probabilities(pilot, X: np.ndarray, n_classes: int) -> np.ndarray:
    """p(code | x) under a :class:`~coreset_engine._pilot.Pilot`, shape (n, n_classes); 0 for
    classes the pilot never saw. A missing pilot (one class) predicts nothing: 1 / n_classes."""
    out = np.zeros((X.shape[0], n_classes))
    if pilot is None:
        out[:] = 1.0 / n_classes
        return out
    logits = (X @ pilot.coef.T.astype(X.dtype, copy=False)).astype(np.float64) + pilot.intercept
    classes = pilot.classes.astype(np.int64)
    if pilot.coef.shape[0] == 1:
        positive = 0.5 * (1.0 + np.tanh(0.5 * logits[:, 0]))  # sigmoid without overflow
        out[:, classes[1]] = positive
        out[:, classes[0]] = 1.0 - positive
        return out
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    out[:, classes] = probabilities
    return out


def model_columns(model, classes) -> np.ndarray:
    """The tree's code of each column of ``model.predict_proba``: its ``classes_`` are the
    tree's labels (fitted on ``decoded_y``) or its codes (fitted on ``y``)."""
    if not hasattr(model, "predict_proba") or not hasattr(model, "classes_"):
        raise TypeError(
            "The 'model' parameter of get_cleaning_samples must be a fitted classifier with "
            f"predict_proba and classes_. Got {type(model).__name__} instead."
        )
    values = np.asarray(model.classes_)
    labels = classes.classes
    try:
        codes = np.array([int(np.flatnonzero(labels == value)[0]) for value in values])
    except (IndexError, TypeError, ValueError):
        codes = None
    if codes is None or np.unique(codes).size != codes.size:
        if values.dtype.kind in "iu" and values.size and 0 <= values.min() and (
            values.max() < classes.n_classes
        ):  # fmt: skip
            return values.astype(np.int64)
        raise ValueError(
            "The 'model' parameter of get_cleaning_samples must be fitted on the tree's labels "
            f"{labels.tolist()[:10]} (or their codes). Its classes_ are {values.tolist()[:10]}."
        )
    return codes


# ---------------------------------------------------------------------------- selection
class _Best:
    """The best rows seen so far under per-class caps: exact, with ties by row number."""

    def __init__(self, k: int, caps: np.ndarray):
        self.k, self.caps = k, caps
        self.parts: list[tuple] = []

    def add(self, rows, X, labels, scores, predicted, skip: np.ndarray) -> None:
        keep = ~np.isin(rows, skip) if skip.size else np.ones(rows.size, dtype=bool)
        keep &= self.caps[labels] > 0
        for code in np.unique(labels[keep]):
            mine = np.flatnonzero(keep & (labels == code))
            limit = int(min(self.k, self.caps[code]))
            chosen = mine[_top(scores[mine], limit)]
            self.parts.append((rows[chosen], np.array(X[chosen]), labels[chosen],
                               scores[chosen], predicted[chosen]))  # fmt: skip
        if sum(part[0].size for part in self.parts) > 4 * self.k + 1024:
            self.parts = [self._select()]

    def _select(self) -> tuple:
        if not self.parts:
            return (np.zeros(0, np.int64), None, np.zeros(0, np.int64), np.zeros(0), None)
        rows, X, labels, scores, predicted = (np.concatenate(a) for a in zip(*self.parts))
        order = np.lexsort((rows, -scores))
        taken = np.zeros(self.caps.size, dtype=np.int64)
        chosen = []
        for position in order:
            code = labels[position]
            if taken[code] < self.caps[code]:
                taken[code] += 1
                chosen.append(position)
                if len(chosen) == self.k:
                    break
        chosen = np.array(chosen, dtype=np.int64)
        return rows[chosen], X[chosen], labels[chosen], scores[chosen], predicted[chosen]

    def result(self) -> tuple:
        return self._select()


def _top(scores: np.ndarray, limit: int) -> np.ndarray:
    """Positions of the ``limit`` highest scores, ties to the earlier position."""
    if scores.size <= limit:
        return np.arange(scores.size)
    threshold = np.partition(scores, scores.size - limit)[scores.size - limit]
    above = np.flatnonzero(scores > threshold)
    ties = np.flatnonzero(scores == threshold)[: limit - above.size]
    return np.sort(np.concatenate([above, ties]))


def _class_caps(class_size, classes, k: int) -> np.ndarray:
    n = classes.n_classes
    if class_size is None:
        return np.full(n, k, dtype=np.int64)
    if isinstance(class_size, dict):
        caps = np.zeros(n, dtype=np.int64)
        for label, size in class_size.items():
            check_int(size, "class_size", "get_cleaning_samples", minimum=0)
            caps[classes.encode(np.asarray([label]), "The keys of 'class_size'")[0]] = size
        return caps
    check_int(class_size, "class_size", "get_cleaning_samples")
    return np.full(n, int(class_size), dtype=np.int64)


def _sampled_rows(state, segments):
    """(rows, X, labels) the tree holds for rows of ``segments``: its leaves' samples (every
    node's sample is drawn from them), sorted by row."""
    ranges = [(s.offset, s.offset + s.n_rows) for s in segments]
    parts = []
    for node in leaf_nodes(state):
        inside = np.zeros(node.indices.size, dtype=bool)
        for a, b in ranges:
            inside |= (node.indices >= a) & (node.indices < b)
        if inside.any():
            parts.append((node.indices[inside], node.X[inside], node.y[inside]))
    if not parts:
        return None
    rows, X, labels = (np.concatenate(a) for a in zip(*parts))
    order = np.argsort(rows, kind="stable")
    return rows[order], X[order], labels[order]


def cleaning_samples(tree, state, k, *, class_size=None, ignore_indices=None,
                     ignore_seen=False, model=None, scan_source=True, scorer=None):  # fmt: skip
    """(the review list, the state with its rows marked as seen): see
    ``CoresetTree.get_cleaning_samples``."""
    caller = "get_cleaning_samples"
    k = check_int(k, "k", caller)
    caps = _class_caps(class_size, state.classes, k)
    skip = np.zeros(0, dtype=np.int64)
    if ignore_indices is not None:
        skip = np.asarray(ignore_indices)
        if skip.ndim != 1 or (skip.size and skip.dtype.kind not in "iu"):
            raise ValueError(
                f"The 'ignore_indices' parameter of {caller} must be a 1-D array of row "
                f"numbers (ints). Got an array of dtype {skip.dtype} and shape {skip.shape}."
            )
        skip = np.unique(skip.astype(np.int64))
    if ignore_seen and state.edits is not None:
        skip = np.union1d(skip, state.edits.seen)
    scorer = scorer or CleaningScorer(tree, state, model)
    best = _Best(k, caps)
    n_scored = 0

    def add(rows, X, labels):
        nonlocal n_scored
        scores, predicted = scorer.score(rows, X, labels)
        best.add(rows, X, labels, scores, predicted, skip)
        n_scored += rows.size

    unavailable = list(state.segments)
    if scan_source:
        unavailable = [s for s in state.segments if not segment_available(s)]
        for rows, X, labels in iter_edited_chunks(state, tree.chunk_size, skip_unavailable=True):
            if rows.size:
                add(rows, X, labels)
    if unavailable:
        sampled = _sampled_rows(state, unavailable)
        if sampled is not None:
            add(*sampled)
    rows, X, labels, scores, predicted = best.result()
    if X is None:
        X = np.zeros((0, state.n_features), dtype=state.dtype)
        predicted = np.zeros(0, dtype=np.int64)
    result = CleaningSamples(
        indices=rows, scores=scores, y=state.classes.decode(labels),
        predicted=state.classes.decode(predicted), X=X,
        feature_names=tuple(tree.get_feature_names_out()), n_scored=int(n_scored),
    )  # fmt: skip
    overlay = state.edits or EditOverlay(leaf_starts=leaf_bounds(state))
    return result, dataclasses.replace(state, edits=overlay.with_seen(rows))
