"""Edits of a built tree: removed rows, new labels, new features, followed without a rebuild.

The tree keeps an *edit overlay* (:class:`EditOverlay`): the rows removed and the label and
feature values that replace the data's. It is saved with the tree and applied wherever rows are
read again (``iter_source_chunks``, label review, any later recomputation), so a refit or a
second review sees the edited data.

An edit recomputes exactly the nodes on the leaf-to-root paths of the changed rows (leaves are
contiguous row ranges; a node covers leaves ``first_leaf..last_leaf``), with the same random
streams as the build:

- a leaf whose rows can be read again (its data file, unchanged since the build, or its arrays,
  still alive) is rebuilt from them with the overlay applied: the same leaf a build of the
  edited rows makes, exact statistics included;
- a leaf whose rows cannot (arrays gone, file deleted) keeps its sample with the edits applied:
  its statistics are corrected by subtracting each changed row's old contribution and adding
  the new one (old values from the sample: a changed row that is in no sample is an error
  before anything changes), edited rows enter with weight 1 (they are known exactly) and the
  other rows of each class are scaled so that the class's weights sum to its live rows;
- a merge is made again from its (updated) children.

Everything is computed into a new state first: an invalid index or label, or a row that cannot
be reached, raises before the tree changes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ._build import Node, leaf_node, merge_nodes
from ._cpu import blas_single_thread, worker_threads
from ._sources import FileSegment
from ._validation import check_two_classes
from .methods import NodeStats

_EMPTY_ROWS = np.zeros(0, dtype=np.int64)


def _empty_rows() -> np.ndarray:
    return _EMPTY_ROWS.copy()


@dataclass(frozen=True)
class EditOverlay:
    """What the tree changed of its data: removed rows, label and feature overrides (row
    numbers sorted, each with its value), plus the rows already shown for review.

    ``leaf_starts`` holds the first row of every leaf known at the last edit and the end of the
    last one: removing rows changes a leaf's row count but never its row range."""

    leaf_starts: np.ndarray
    removed: np.ndarray = field(default_factory=_empty_rows)
    label_rows: np.ndarray = field(default_factory=_empty_rows)
    label_codes: np.ndarray = field(default_factory=_empty_rows)
    feature_rows: np.ndarray = field(default_factory=_empty_rows)
    feature_values: np.ndarray | None = None
    seen: np.ndarray = field(default_factory=_empty_rows)

    @property
    def has_data_edits(self) -> bool:
        return bool(self.removed.size or self.label_rows.size or self.feature_rows.size)

    def touches(self, start: int, stop: int) -> bool:
        """Whether any row in ``start..stop`` is removed or overridden."""
        return any(
            _count_between(rows, start, stop)
            for rows in (self.removed, self.label_rows, self.feature_rows)
        )

    def apply(self, first_row: int, X: np.ndarray, labels: np.ndarray):
        """(row numbers, X, labels) of rows ``first_row..`` with the overlay applied: removed
        rows left out, overridden values replaced. The inputs are never written to."""
        stop = first_row + X.shape[0]
        rows = np.arange(first_row, stop, dtype=np.int64)
        if not self.touches(first_row, stop):
            return rows, X, labels
        new_rows, positions = _inside(self.label_rows, first_row, stop)
        if new_rows.size:
            labels = labels.copy()
            labels[new_rows - first_row] = self.label_codes[positions]
        new_rows, positions = _inside(self.feature_rows, first_row, stop)
        if new_rows.size:
            X = X.copy()
            X[new_rows - first_row] = self.feature_values[positions]
        gone, _ = _inside(self.removed, first_row, stop)
        if gone.size:
            keep = np.ones(X.shape[0], dtype=bool)
            keep[gone - first_row] = False
            rows, X, labels = rows[keep], X[keep], labels[keep]
        return rows, X, labels

    def with_seen(self, rows: np.ndarray) -> EditOverlay:
        return dataclasses.replace(self, seen=np.union1d(self.seen, rows).astype(np.int64))


def _count_between(rows: np.ndarray, start: int, stop: int) -> int:
    return int(np.searchsorted(rows, stop) - np.searchsorted(rows, start))


def _inside(rows: np.ndarray, start: int, stop: int):
    """(the sorted ``rows`` in ``start..stop``, their positions in ``rows``)."""
    a, b = np.searchsorted(rows, start), np.searchsorted(rows, stop)
    return rows[a:b], np.arange(a, b)


def _merge_sorted(rows: np.ndarray, values, new_rows: np.ndarray, new_values):
    """Sorted row numbers with their values, ``new_rows`` replacing earlier entries."""
    kept = ~np.isin(rows, new_rows)
    all_rows = np.concatenate([rows[kept], new_rows])
    order = np.argsort(all_rows, kind="stable")
    merged_values = np.concatenate([values[kept], new_values])[order]
    return all_rows[order], merged_values


# ------------------------------------------------------------------------------ row layout
def leaf_nodes(state) -> list[Node]:
    """The tree's leaves, in row order."""
    leaves = [node for node in state.nodes if node.children is None]
    return sorted(leaves, key=lambda node: node.first_leaf)


def leaf_bounds(state) -> np.ndarray:
    """First row of every leaf, then the end of the last (n_leaves + 1 entries).

    Row counts of leaves never edited are their statistics' (every raw row); earlier leaves'
    bounds come from the overlay, which records them before any row is removed."""
    overlay = state.edits
    known = [0] if overlay is None else overlay.leaf_starts.tolist()
    sizes = [node.stats.n_rows for node in leaf_nodes(state)[len(known) - 1 :]]
    bounds = np.array(known + sizes, dtype=np.int64)
    bounds[len(known) - 1 :] = np.cumsum(bounds[len(known) - 1 :])
    if bounds.size != state.n_leaves + 1 or bounds[-1] != state.n_rows:
        raise RuntimeError("The tree's leaves do not cover its rows: the tree is damaged.")
    return bounds


def live_rows_count(state) -> int:
    return int(state.nodes[state.root].stats.n_rows)


def check_rows(indices, state, caller: str, name: str = "indices") -> np.ndarray:
    """``indices`` as sorted-by-input int64 row numbers of live rows, each at most once."""
    rows = np.asarray(indices)
    if rows.ndim == 0:
        rows = rows.reshape(1)
    if rows.ndim != 1 or (rows.size and rows.dtype.kind not in "iu"):
        raise ValueError(
            f"The '{name}' parameter of {caller} must be a 1-D array of row numbers (ints). "
            f"Got {_describe(indices)} instead."
        )
    rows = rows.astype(np.int64, copy=False)
    if rows.size == 0:
        return rows
    bad = (rows < 0) | (rows >= state.n_rows)
    if bad.any():
        raise ValueError(
            f"The '{name}' parameter of {caller} must hold row numbers in 0..{state.n_rows - 1} "
            f"(the tree's rows). Got {int(rows[bad][0])} instead."
        )
    unique, counts = np.unique(rows, return_counts=True)
    if (counts > 1).any():
        raise ValueError(
            f"The '{name}' parameter of {caller} must name each row at most once. Got row "
            f"{int(unique[counts > 1][0])} {int(counts.max())} times."
        )
    if state.edits is not None and state.edits.removed.size:
        gone = np.isin(rows, state.edits.removed)
        if gone.any():
            raise ValueError(
                f"The '{name}' parameter of {caller} names row {int(rows[gone][0])}, which was "
                "removed from the tree (remove_samples / filter_out_samples)."
            )
    return rows


def _describe(value) -> str:
    array = np.asarray(value)
    return f"an array of dtype {array.dtype} and shape {array.shape}"


# ------------------------------------------------------------------------- reading leaves
def _segment_of(state, row: int):
    for segment in state.segments:
        if segment.offset <= row < segment.offset + segment.n_rows:
            return segment
    raise RuntimeError(f"No segment of the tree holds row {row}: the tree is damaged.")


def segment_available(segment) -> bool:
    """Whether a segment's rows can be read again. A data file that still exists but changed
    since the build is an error, never a silent fallback."""
    if isinstance(segment, FileSegment):
        import os

        if not os.path.exists(segment.path):
            return False
        segment.check_unchanged()
        return True
    try:
        segment.check_available()
    except RuntimeError:
        return False
    return True


def read_leaves(state, leaves, bounds) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """(X, label codes) of each leaf in ``leaves`` as the data holds them (no overlay): read
    from the middle of a file where its format allows, else streamed."""
    by_segment: dict[int, list[int]] = {}
    for leaf in leaves:
        segment = _segment_of(state, int(bounds[leaf]))
        by_segment.setdefault(id(segment), []).append(leaf)
    segments = {id(segment): segment for segment in state.segments}
    out = {}
    for key, wanted in by_segment.items():
        segment = segments[key]
        if isinstance(segment, FileSegment) and _random_access(segment):
            for leaf in wanted:
                out[leaf] = _read_file_rows(state, segment, int(bounds[leaf]),
                                            int(bounds[leaf + 1]))  # fmt: skip
        elif hasattr(segment, "labels") and hasattr(segment, "_X"):  # in-memory arrays
            from ._tables import slice_rows

            data = segment._X()
            for leaf in wanted:
                a, b = int(bounds[leaf]) - segment.offset, int(bounds[leaf + 1]) - segment.offset
                X = state.encoder.transform(slice_rows(data, a, b))
                out[leaf] = np.asarray(X, dtype=state.dtype), segment.labels[a:b]
        else:  # a CSV file or dask collections: stream the segment once
            out.update(_stream_leaves(state, segment, wanted, bounds))
    return out


def _random_access(segment) -> bool:
    from .readers._base import _READERS

    reader = _READERS.get(segment.source.format)
    return reader is not None and reader.random_access


def _read_file_rows(state, segment, start: int, stop: int):
    features, labels = segment.source.read_rows(start - segment.offset, stop - segment.offset)
    X, codes = state.encode_rows(features, labels, start)
    return np.asarray(X, dtype=state.dtype), codes


def _stream_leaves(state, segment, wanted: list[int], bounds):
    ranges = {leaf: (int(bounds[leaf]), int(bounds[leaf + 1])) for leaf in wanted}
    parts: dict[int, list] = {leaf: [] for leaf in wanted}
    chunk = max(1, max(b - a for a, b in ranges.values()))
    for first, X, labels in segment.iter_chunks(chunk, state.encoder, state.classes):
        last = first + X.shape[0]
        for leaf, (a, b) in ranges.items():
            lo, hi = max(a, first), min(b, last)
            if lo < hi:
                parts[leaf].append((np.array(X[lo - first : hi - first], dtype=state.dtype),
                                    np.array(labels[lo - first : hi - first])))  # fmt: skip
        if last >= max(b for _, b in ranges.values()):
            break
    return {
        leaf: (np.concatenate([p[0] for p in pieces]), np.concatenate([p[1] for p in pieces]))
        for leaf, pieces in parts.items()
    }


# ----------------------------------------------------------------------------- the edit
@dataclass
class EditRequest:
    """Checked row numbers and encoded values of one edit."""

    removed: np.ndarray = field(default_factory=_empty_rows)
    label_rows: np.ndarray = field(default_factory=_empty_rows)
    label_codes: np.ndarray = field(default_factory=_empty_rows)
    feature_rows: np.ndarray = field(default_factory=_empty_rows)
    feature_values: np.ndarray | None = None

    @property
    def rows(self) -> np.ndarray:
        return np.unique(np.concatenate([self.removed, self.label_rows, self.feature_rows]))


def edited_state(tree, state, request: EditRequest):
    """A new state: ``state`` with ``request`` applied and the touched paths recomputed.
    Returns (state, positions of the recomputed nodes). ``state`` is not modified."""
    changed = request.rows
    if changed.size == 0:
        return state, []
    bounds = leaf_bounds(state)
    overlay = _updated_overlay(state, request, bounds)
    leaf_of_row = np.searchsorted(bounds, changed, side="right") - 1
    touched = sorted(set(leaf_of_row.tolist()))
    leaves = {node.first_leaf: position for position, node in enumerate(state.nodes)
              if node.children is None}  # fmt: skip
    # which leaves can be read again (a changed data file raises here, before any work)
    readable = [leaf for leaf in touched
                if segment_available(_segment_of(state, int(bounds[leaf])))]  # fmt: skip
    for leaf in set(touched) - set(readable):
        _check_in_sample(state.nodes[leaves[leaf]], changed[leaf_of_row == leaf])
    settings = tree._settings(state)
    tree._resolve_backend()
    rebuilt = {}
    nodes = list(state.nodes)
    recomputed = []
    with blas_single_thread(), worker_threads(tree.n_jobs):
        sources = read_leaves(state, readable, bounds) if readable else {}
        for leaf in touched:
            position = leaves[leaf]
            old = state.nodes[position]
            if leaf in sources:
                X, labels = sources.pop(leaf)
                node = rebuild_leaf(settings, overlay, leaf, int(bounds[leaf]), X, labels,
                                    tree._backend)  # fmt: skip
            else:
                node = resample_leaf(old, request, overlay, state.n_classes)
            rebuilt[position] = node
        for position, node in enumerate(state.nodes):
            if position in rebuilt:
                nodes[position] = rebuilt[position]
                recomputed.append(position)
            elif node.children is not None and any(c in rebuilt for c in node.children):
                left, right = node.children
                rebuilt[position] = recompute_merge(settings, nodes[left], nodes[right], node)
                nodes[position] = rebuilt[position]
                recomputed.append(position)
    root = nodes[state.root]
    check_two_classes(root.stats.class_counts, "The tree's labels after the edit",
                      state.classes.classes)  # fmt: skip
    new_state = dataclasses.replace(state, nodes=nodes, edits=overlay)
    return new_state, recomputed


def _updated_overlay(state, request: EditRequest, bounds) -> EditOverlay:
    old = state.edits
    if old is None:
        old = EditOverlay(leaf_starts=bounds)
    labels = (old.label_rows, old.label_codes)
    if request.label_rows.size:
        labels = _merge_sorted(*labels, request.label_rows, request.label_codes)
    width = state.n_features
    old_values = old.feature_values
    if old_values is None:
        old_values = np.zeros((0, width), dtype=state.dtype)
    features = (old.feature_rows, old_values)
    if request.feature_rows.size:
        features = _merge_sorted(*features, request.feature_rows,
                                 request.feature_values.astype(state.dtype))  # fmt: skip
    removed = np.union1d(old.removed, request.removed).astype(np.int64)
    # a removed row's overrides go with it
    keep_labels = ~np.isin(labels[0], removed)
    keep_features = ~np.isin(features[0], removed)
    return EditOverlay(
        leaf_starts=bounds,
        removed=removed,
        label_rows=labels[0][keep_labels],
        label_codes=labels[1][keep_labels].astype(np.int64),
        feature_rows=features[0][keep_features],
        feature_values=features[1][keep_features],
        seen=old.seen,
    )


def _check_in_sample(node: Node, rows: np.ndarray) -> None:
    missing = ~np.isin(rows, node.indices)
    if missing.any():
        raise RuntimeError(
            f"Row {int(rows[missing][0])} cannot be edited: it is in none of the tree's "
            "samples, and the rows of its leaf cannot be read again (the arrays passed to "
            "build / partial_build no longer exist, or the data file is gone), so its old "
            "values, which the statistics must lose, are unknown. Nothing was changed."
        )


def rebuild_leaf(settings, overlay: EditOverlay, leaf: int, start: int, X, labels, backend):
    """A leaf made again from its rows with the overlay applied: what a build of the edited
    rows makes (the same random stream). Removed rows are left out; the node's ``indices``
    still name rows of the whole data."""
    rows, X, labels = overlay.apply(start, X, labels)
    contiguous = rows.size == 0 or (rows[0] == start and rows[-1] - rows[0] + 1 == rows.size)
    if contiguous:
        return leaf_node(settings, np.ascontiguousarray(X), labels, start, leaf, backend)
    node = leaf_node(settings, np.ascontiguousarray(X), labels, 0, leaf, backend,
                     describe_row=lambda position: f"row {int(rows[position])}")  # fmt: skip
    return dataclasses.replace(node, indices=rows[node.indices])


def resample_leaf(old: Node, request: EditRequest, overlay: EditOverlay, n_classes: int) -> Node:
    """A leaf whose rows cannot be read again: its sample with the edits applied, statistics
    corrected row by row, weights calibrated to the live rows of each class. Rows whose label
    or features were ever edited (``overlay``) are known exactly: weight 1."""
    indices, X, y, weights = old.indices, old.X.copy(), old.y.copy(), old.weights.copy()
    gram = old.stats.gram.copy()
    counts = old.stats.class_counts.copy()
    n_rows = old.stats.n_rows

    def outer(x):
        z = np.append(x.astype(np.float64), 1.0)
        return np.outer(z, z)

    edited = np.isin(indices, overlay.label_rows) | np.isin(indices, overlay.feature_rows)
    position = {int(row): i for i, row in enumerate(indices)}
    for row, code in zip(request.label_rows.tolist(), request.label_codes.tolist()):
        i = position.get(row)
        if i is not None:
            counts[y[i]] -= 1
            counts[code] += 1
            y[i] = code
    for k, row in enumerate(request.feature_rows.tolist()):
        i = position.get(row)
        if i is not None:
            gram += outer(request.feature_values[k]) - outer(X[i])
            X[i] = request.feature_values[k]
    keep = np.ones(indices.size, dtype=bool)
    for row in request.removed.tolist():
        i = position.get(row)
        if i is not None:
            gram -= outer(X[i])
            counts[y[i]] -= 1
            n_rows -= 1
            keep[i] = False
    indices, X, y, weights, edited = indices[keep], X[keep], y[keep], weights[keep], edited[keep]
    weights[edited] = 1.0
    for code in range(n_classes):
        others = (y == code) & ~edited
        target = counts[code] - int(((y == code) & edited).sum())
        total = weights[others].sum()
        if total > 0 and target > 0:
            weights[others] *= target / total
    stats = NodeStats(n_rows, gram, counts)
    return Node(indices, X, y, weights, stats, old.first_leaf, old.last_leaf, old.height,
                None, old.spine)  # fmt: skip


def recompute_merge(settings, left: Node, right: Node, old: Node) -> Node:
    """A merge made again from its children (the same random stream as the build's)."""
    return merge_nodes(settings, left, right, spine=old.spine).with_children(old.children)


# --------------------------------------------------------------------- streaming, edited
def iter_edited_chunks(state, chunk_size: int, *, skip_unavailable: bool = False):
    """(row numbers, X, label codes) of every live row, in row order, with the overlay
    applied. ``skip_unavailable``: leave out segments whose rows cannot be read again (arrays
    gone, file deleted) instead of raising; a changed data file always raises."""
    from ._sources import iter_segments

    segments = state.segments
    if skip_unavailable:
        segments = [segment for segment in segments if segment_available(segment)]
        if not segments:
            return
    overlay = state.edits
    for start, X, labels in iter_segments(segments, chunk_size, state.encoder, state.classes):
        X = X.astype(state.dtype, copy=False)
        if overlay is None:
            yield np.arange(start, start + X.shape[0], dtype=np.int64), X, labels
        else:
            yield overlay.apply(start, X, labels)


# ----------------------------------------------------------------------------- persistence
_ARRAYS = ("leaf_starts", "removed", "label_rows", "label_codes", "feature_rows", "seen")


def overlay_to_hdf5(group, overlay: EditOverlay, n_features: int, dtype) -> None:
    for name in _ARRAYS:
        group[name] = np.asarray(getattr(overlay, name), dtype=np.int64)
    values = overlay.feature_values
    if values is None:
        values = np.zeros((0, n_features), dtype=dtype)
    group["feature_values"] = values


def overlay_from_hdf5(group) -> EditOverlay:
    arrays = {name: group[name][()].astype(np.int64) for name in _ARRAYS}
    values = group["feature_values"][()]
    return EditOverlay(feature_values=values if values.shape[0] else None, **arrays)


# ------------------------------------------------------------------- the public operations
def labels_request(state, indices, y, caller: str) -> EditRequest:
    rows = check_rows(indices, state, caller)
    if isinstance(y, (str, bytes)) or np.ndim(y) == 0:  # one label for every row
        y = [y] * rows.size
    if isinstance(y, (list, tuple)):
        y = np.asarray(y)
    if len(y) != rows.size:
        raise ValueError(
            f"The 'y' parameter of {caller} must hold one label per row of 'indices' "
            f"({rows.size}). Got {len(y)} labels instead."
        )
    if rows.size == 0:
        return EditRequest()
    codes = np.asarray(state.classes.encode(y, f"The 'y' parameter of {caller}"), dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    return EditRequest(label_rows=rows[order], label_codes=codes[order])


def features_request(state, indices, X, caller: str) -> EditRequest:
    rows = check_rows(indices, state, caller)
    if rows.size == 0:
        return EditRequest()
    from ._tables import is_table

    if hasattr(state.encoder, "select") and not is_table(X):
        raise TypeError(
            f"The 'X' parameter of {caller} must be a table with the columns "
            f"{state.encoder.names}: the tree was built from a table. Got {type(X).__name__}."
        )
    values = np.array(state.encoder.transform(X), dtype=state.dtype)
    if values.ndim != 2 or values.shape[0] != rows.size:
        raise ValueError(
            f"The 'X' parameter of {caller} must hold one row per row of 'indices' "
            f"({rows.size}). Got {values.shape[0]} rows instead."
        )
    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        raise ValueError(
            f"The 'X' parameter of {caller} must be finite. Got NaN or infinity in the new "
            f"values of row {int(rows[~finite][0])}."
        )
    order = np.argsort(rows, kind="stable")
    return EditRequest(feature_rows=rows[order], feature_values=values[order])


def removal_request(state, indices, caller: str) -> EditRequest:
    return EditRequest(removed=np.sort(check_rows(indices, state, caller)))


def rows_matching(state, predicate, chunk_size: int, caller: str) -> np.ndarray:
    """The live rows for which ``predicate(rows, X, y)`` is True (y: the labels as the data
    holds them), streaming every row once."""
    found = []
    for rows, X, labels in iter_edited_chunks(state, chunk_size):
        mask = np.asarray(predicate(rows, X, state.classes.decode(labels)))
        if mask.dtype != bool or mask.shape != rows.shape:
            raise ValueError(
                f"The predicate of {caller} must return a boolean array with one value per row "
                f"({rows.size} rows). Got dtype {mask.dtype} and shape {mask.shape} instead."
            )
        found.append(rows[mask])
    return np.concatenate(found) if found else _empty_rows()
