"""The coreset tree: merge-and-reduce over row chunks.

Leaves are coresets of chunks; a parent is a coreset of its two children's union. Complete
subtrees are kept on a binary-counter stack (Bentley-Saxe), so streaming keeps O(log n) open
nodes and appending rows later (``partial_build``) continues the same tree. The root is made by
merging the stack; those "spine" nodes are rebuilt after every append.

Every node also carries the exact Gram matrix and class counts of all raw rows below it (both
are additive), so scores at a merge are computed against the full data the node stands for,
not against its weighted sample.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator

from ._backend import CpuBackend, check_backend, get_backend
from ._coreset import Coreset
from ._cpu import blas_single_thread, run_in_background, scan_rows
from ._dedup import merge_duplicates
from ._linalg import jl_sketch
from ._pilot import PILOT_ROWS, Pilot, fit_pilot
from ._sampling import draw
from ._sources import ArraySegment, FileSegment, file_fingerprint, iter_segments
from ._validation import (
    as_feature_matrix,
    as_labels,
    check_int,
    check_label_range,
    check_two_classes,
    describe_row,
)
from .methods import NodeStats, get_method

TASKS = ("logistic_regression",)


@dataclass(frozen=True)
class Node:
    """One coreset in the tree. ``children`` is None for a leaf."""

    indices: np.ndarray
    X: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    stats: NodeStats
    first_leaf: int
    last_leaf: int
    height: int
    children: tuple[int, int] | None = None
    spine: bool = False


@dataclass
class TreeState:
    """Everything a built tree holds; replaced as a whole so a failed build changes nothing."""

    seed: int
    n_features: int
    dtype: np.dtype
    n_classes: int
    nodes: list[Node] = field(default_factory=list)
    stack: list[int] = field(default_factory=list)
    root: int = -1
    n_rows: int = 0
    n_leaves: int = 0
    pilot: Pilot | None = None
    #: A pilot refit still running in the background (see CoresetTree._refresh_pilot).
    pending_pilot: Future | None = None
    #: Where the rows came from, in row order (``_sources``): files and in-memory arrays.
    segments: list = field(default_factory=list)

    def current_pilot(self) -> Pilot | None:
        """The pilot, after waiting for a refit in flight (which re-raises its error)."""
        if self.pending_pilot is not None:
            pilot = self.pending_pilot.result()
            self.pending_pilot = None
            if pilot is not None:
                self.pilot = pilot
        return self.pilot

    def copy_without_spine(self) -> TreeState:
        self.current_pilot()
        kept = [node for node in self.nodes if not node.spine]
        return TreeState(
            self.seed, self.n_features, self.dtype, self.n_classes,
            kept, list(self.stack), -1, self.n_rows, self.n_leaves, self.pilot,
            segments=list(self.segments),
        )  # fmt: skip


class CoresetTree(BaseEstimator):
    """A merge-and-reduce tree of sensitivity-sampled coresets.

    Parameters
    ----------
    task : {"logistic_regression"}
        The loss the coresets are built for.
    coreset_size : int
        Rows in every node; the root (level 0) has this many rows.
    chunk_size : int
        Rows per leaf. Memory while building is bounded by two chunks plus the tree.
    n_classes : int or None
        Number of classes (labels 0..n_classes-1). None infers it from the labels
        (``build_from_file`` scans the label dataset once; it is small).
    method : str
        Sampling method, one of :func:`coreset_engine.available_methods`: ``"sensitivity"``
        (default: square-root leverage made loss-aware by a pilot fit), ``"l2s"`` (square-root
        leverage alone) or ``"uniform"``.
    deduplicate : bool
        Merge identical (x, y) rows into one row carrying their summed weight before sampling,
        in every leaf and merge. Lossless (the weighted loss is unchanged), and on data with
        repeated rows it frees the sample for informative rows. Costs a hashing pass.
    sketch_size : int or None
        None (default) computes leverage scores exactly (one GEMM with the inverted Cholesky
        factor, d + 1 columns). An int k projects that factor onto k Gaussian directions
        (Johnson-Lindenstrauss) first: the scoring GEMM shrinks from d + 1 to k columns, at the
        cost of noisier scores (a score's relative spread is about 1 / sqrt(2 k)). Worth it when
        d is large; used only when k < d + 1.
    random_state : int or None
        Seed. The same seed and data give the same tree, bit for bit, on the same backend (for
        ``"cuda"``: on the same GPU model and library versions, as cuBLAS promises).
    backend : {"cpu", "cuda", "auto"}
        Where the per-leaf row passes run (finite check and row hashes, Gram matrix, scores).
        ``"cuda"`` runs them on an NVIDIA GPU (needs ``pip install coreset-engine[cuda]``:
        numba-cuda and torch or cupy); leaves below 262,144 rows, merges, duplicate merging and
        the draw stay on the CPU. Scores match the CPU's up to float rounding, so the sampling
        distribution is the same, but trees are not bit-identical across backends. ``"auto"``
        is ``"cuda"`` when a usable GPU is found, else ``"cpu"``.

    Attributes
    ----------
    depth_ : int
        Deepest level: ``get_coreset(level)`` accepts 0..depth_.
    n_samples_ : int
        Rows summarised.
    n_features_in_ : int
    n_classes_ : int
    n_leaves_ : int
    class_counts_ : ndarray
        Rows of each class in the data.
    backend_ : str
        The backend the last build used (``"cpu"`` or ``"cuda"``; resolves ``"auto"``).

    Examples
    --------
    >>> import numpy as np
    >>> from coreset_engine import CoresetTree
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(20_000, 5)); y = (X[:, 0] + rng.normal(size=20_000) > 0).astype(int)
    >>> tree = CoresetTree(coreset_size=1000, chunk_size=5000, random_state=0).build(X, y)
    >>> cs = tree.get_coreset()
    >>> len(cs), tree.depth_
    (1000, 2)
    >>> bool(abs(cs.weights.sum() / 20_000 - 1) < 0.1)
    True
    """

    def __init__(
        self,
        *,
        task: str = "logistic_regression",
        coreset_size: int = 20_000,
        chunk_size: int = 1_000_000,
        n_classes: int | None = None,
        method: str = "sensitivity",
        deduplicate: bool = True,
        sketch_size: int | None = None,
        random_state: int | None = None,
        backend: str = "cpu",
    ):
        self.task = task
        self.coreset_size = coreset_size
        self.chunk_size = chunk_size
        self.n_classes = n_classes
        self.method = method
        self.deduplicate = deduplicate
        self.sketch_size = sketch_size
        self.random_state = random_state
        self.backend = backend

    # ----------------------------------------------------------------- parameters and state
    def _validate_params(self) -> None:
        caller = type(self).__name__
        if self.task not in TASKS:
            raise ValueError(
                f"The 'task' parameter of {caller} must be one of {list(TASKS)}. "
                f"Got {self.task!r} instead."
            )
        check_int(self.coreset_size, "coreset_size", caller)
        check_int(self.chunk_size, "chunk_size", caller)
        if self.n_classes is not None:
            check_int(self.n_classes, "n_classes", caller, minimum=2)
        if self.sketch_size is not None:
            check_int(self.sketch_size, "sketch_size", caller)
        if self.random_state is not None:
            check_int(self.random_state, "random_state", caller, minimum=0)
        if not isinstance(self.deduplicate, (bool, np.bool_)):
            raise ValueError(
                f"The 'deduplicate' parameter of {caller} must be a bool. "
                f"Got {self.deduplicate!r} instead."
            )
        self._method = get_method(self.method, caller)
        check_backend(self.backend, caller)

    def _resolve_backend(self) -> None:
        """Pick the backend for a build (raises if "cuda" cannot run here)."""
        self._backend = get_backend(self.backend, type(self).__name__)
        self.backend_ = self._backend.name

    def _new_state(self, n_features: int, dtype: np.dtype, n_classes: int) -> TreeState:
        seed = self.random_state
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 1)
        return TreeState(int(seed), n_features, np.dtype(dtype), n_classes)

    def _check_built(self) -> TreeState:
        state = getattr(self, "_state", None)
        if state is None or state.root < 0:
            raise RuntimeError(
                f"This {type(self).__name__} has no data yet. Call build, build_from_file "
                "or load first."
            )
        return state

    def _resolve_n_classes(self, class_counts: np.ndarray) -> int:
        n_classes = self.n_classes if self.n_classes is not None else max(2, class_counts.size)
        check_label_range(class_counts.size - 1, n_classes)
        return n_classes

    # --------------------------------------------------------------------- building
    def build(self, X, y) -> CoresetTree:
        """Build the tree from in-memory arrays (NumPy or pandas). Returns self."""
        self._validate_params()
        self._resolve_backend()
        original_X, X = X, as_feature_matrix(X)
        labels = as_labels(y, X.shape[0])
        counts = np.bincount(labels)
        n_classes = self._resolve_n_classes(counts)
        check_two_classes(counts)
        state = self._new_state(X.shape[1], X.dtype, n_classes)
        state.segments = [ArraySegment(0, X.shape[0], original_X, labels)]
        self._consume_arrays(state, X, labels)
        self._state = state
        return self

    def partial_build(self, X, y) -> CoresetTree:
        """Append rows to the tree (builds it if empty). Returns self.

        The new rows become new leaves after the existing ones; row numbers continue from
        ``n_samples_``. On error the tree is left exactly as it was.
        """
        if getattr(self, "_state", None) is None:
            return self.build(X, y)
        self._validate_params()
        self._resolve_backend()
        old = self._state
        original_X, X = X, as_feature_matrix(X)
        if X.shape[1] != old.n_features:
            raise ValueError(
                f"X must have {old.n_features} features, as the rows already in the tree. "
                f"Got {X.shape[1]} instead."
            )
        batch = "partial_build"
        labels = as_labels(y, X.shape[0], row_offset=old.n_rows, batch=batch)
        check_label_range(int(labels.max()), old.n_classes, labels=labels,
                          row_offset=old.n_rows, batch=batch)  # fmt: skip
        state = old.copy_without_spine()
        state.segments.append(ArraySegment(old.n_rows, X.shape[0], original_X, labels))
        self._consume_arrays(state, X.astype(old.dtype, copy=False), labels, batch)
        self._state = state
        return self

    def build_from_file(
        self, path, x: str = "X", y: str = "y", *, progress: bool = False
    ) -> CoresetTree:
        """Build the tree by streaming row chunks of an HDF5 file. Returns self.

        ``x`` and ``y`` name the feature (2-D) and label (1-D) datasets. The file is never
        loaded whole: memory is two chunk buffers plus the tree. ``progress`` shows a bar with
        rows and rows/s.
        """
        from ._hdf5 import iterate_chunks, open_dataset_pair, scan_labels
        from ._validation import check_feature_dtype, labels_to_int

        self._validate_params()
        self._resolve_backend()
        self.build_seconds_ = None
        started = time.perf_counter()
        with open_dataset_pair(path, x, y, self.chunk_size) as (X_data, y_data):
            counts = scan_labels(y_data, f"The y dataset {y!r}")
            n_classes = self._resolve_n_classes(counts)
            check_two_classes(counts, f"The y dataset {y!r}")
            dtype = check_feature_dtype(X_data.dtype, "X")
            state = self._new_state(X_data.shape[1], dtype, n_classes)
            state.segments = [FileSegment(0, X_data.shape[0], os.path.abspath(os.fspath(path)),
                                          x, y, file_fingerprint(os.fspath(path)))]  # fmt: skip
            bar = _progress_bar(X_data.shape[0], progress, os.path.basename(os.fspath(path)))
            chunks = iterate_chunks(X_data, y_data, self.chunk_size, dtype)
            try:
                with blas_single_thread():
                    for start, X_chunk, y_chunk in chunks:
                        self._add_leaf(state, X_chunk, labels_to_int(y_chunk, "y", start), start)
                        if bar is not None:
                            bar.update(X_chunk.shape[0])
                    self._finalize(state)
            finally:
                if bar is not None:
                    bar.close()
        self._state = state
        self.build_seconds_ = time.perf_counter() - started
        return self

    def _consume_arrays(
        self, state: TreeState, X: np.ndarray, labels: np.ndarray, batch: str | None = None
    ) -> None:
        first_bad = scan_rows(X).first_bad  # before any leaf: a bad row changes nothing
        if first_bad >= 0:
            raise ValueError(
                "X must be finite. Got NaN or infinity in "
                f"{describe_row(first_bad, state.n_rows, batch)}."
            )
        with blas_single_thread():
            for start in range(0, X.shape[0], self.chunk_size):
                stop = start + self.chunk_size
                self._add_leaf(state, X[start:stop], labels[start:stop], state.n_rows)
            self._finalize(state)

    def _add_leaf(self, state: TreeState, X: np.ndarray, labels: np.ndarray, offset: int) -> None:
        if offset != state.n_rows:
            raise AssertionError("leaves must arrive in row order")
        if labels.size and labels.max() >= state.n_classes:
            check_label_range(int(labels.max()), state.n_classes)
        backend = getattr(self, "_backend", None) or CpuBackend()
        rows = backend.rows(X, labels)  # on the GPU for "cuda": uploaded once, read by 3 passes
        scan = rows.scan(hashes=self.deduplicate)
        if scan.first_bad >= 0:
            raise ValueError(
                f"X must be finite. Got NaN or infinity in row {offset + scan.first_bad}."
            )
        stats = NodeStats(
            X.shape[0],
            rows.gram_with_intercept(scan.col_max, scan.col_sum),
            np.bincount(labels, minlength=state.n_classes).astype(np.int64),
        )
        leaf = state.n_leaves
        node = self._reduce(state, X, labels, None, offset, stats, leaf, leaf, 0, None, False,
                            hashes=scan.hashes,
                            device_rows=rows if rows.on_device else None)  # fmt: skip
        del rows
        state.nodes.append(node)
        state.stack.append(len(state.nodes) - 1)
        state.n_rows += X.shape[0]
        state.n_leaves += 1
        # binary counter: merge equal-height complete subtrees
        while len(state.stack) >= 2:
            right, left = state.nodes[state.stack[-1]], state.nodes[state.stack[-2]]
            if left.height != right.height:
                break
            parent = self._merge(state, state.stack[-2], state.stack[-1], spine=False)
            del state.stack[-2:]
            state.nodes.append(parent)
            state.stack.append(len(state.nodes) - 1)
        if self._method.uses_pilot and _refresh_pilot_after(state.n_leaves):
            self._refresh_pilot(state)

    def _refresh_pilot(self, state: TreeState) -> None:
        """Refit the pilot on the coreset of all rows so far (after leaves 2, 4, 8, ...: a
        logarithmic number of small fits, and every pilot sees the data in proportion).

        The fit runs in a background thread while the next leaf is read, scanned and its Gram
        matrix formed; the next scoring pass waits for it, so results do not depend on timing."""
        state.current_pilot()
        nodes = [state.nodes[i] for i in state.stack]
        X = np.concatenate([n.X for n in nodes])
        labels = np.concatenate([n.y for n in nodes])
        weights = np.concatenate([n.weights for n in nodes])
        if X.shape[0] > PILOT_ROWS:
            rng = np.random.default_rng(
                np.random.SeedSequence(state.seed, spawn_key=(state.n_leaves, 1 << 40))
            )
            positions, probabilities = draw(weights, None, state.n_classes, PILOT_ROWS, rng)
            X, labels = X[positions], labels[positions]
            weights = weights[positions] / probabilities
        state.pending_pilot = run_in_background(fit_pilot, X, labels, weights)

    def _finalize(self, state: TreeState) -> None:
        current = state.stack[-1]
        for left in reversed(state.stack[:-1]):
            state.nodes.append(self._merge(state, left, current, spine=True))
            current = len(state.nodes) - 1
        state.root = current
        state.current_pilot()  # a built tree never holds a fit in flight

    def _merge(self, state: TreeState, left_id: int, right_id: int, *, spine: bool) -> Node:
        left, right = state.nodes[left_id], state.nodes[right_id]
        return self._reduce(
            state,
            np.concatenate([left.X, right.X]),
            np.concatenate([left.y, right.y]),
            np.concatenate([left.weights, right.weights]),
            np.concatenate([left.indices, right.indices]),
            left.stats + right.stats,
            left.first_leaf,
            right.last_leaf,
            max(left.height, right.height) + 1,
            (left_id, right_id),
            spine,
        )

    def _reduce(
        self, state, X, labels, weights, indices, stats, first_leaf, last_leaf, height,
        children, spine, hashes=None, device_rows=None,
    ) -> Node:  # fmt: skip
        """Sample ``coreset_size`` of the given weighted rows (all of them if they fit).
        ``weights`` None means unit weights (a leaf); ``hashes`` are the rows' hashes if known;
        ``device_rows`` the same rows already on a device (scored there if the method can)."""
        keep = None
        if self.deduplicate:
            keep, summed = merge_duplicates(X, labels, weights, hashes)
            if keep is not None:
                X, labels, weights = X[keep], labels[keep], summed
                indices = indices + keep if isinstance(indices, int) else indices[keep]
        if X.shape[0] <= self.coreset_size:
            positions = np.arange(X.shape[0])
            new_weights = np.ones(X.shape[0]) if weights is None else weights.copy()
        else:
            sketch = None
            if self.sketch_size is not None and self.sketch_size < X.shape[1] + 1:
                sketch = jl_sketch(state.seed, X.shape[1] + 1, self.sketch_size)
            key = (first_leaf, last_leaf, height, int(spine))
            group_labels = labels if self._method.class_aware else None
            pilot = state.current_pilot() if self._method.uses_pilot else None
            on_device = {}
            if device_rows is not None and self._method.accepts_backend:
                on_device["backend"] = device_rows if keep is None else device_rows.take(keep)
            if self._method.uses_pilot and pilot is None:
                # No pilot yet (the first sampled node): fit one on a leverage sample of
                # PILOT_ROWS rows drawn with its own random stream, so the draw below is
                # independent of the pilot.
                scores = self._method.scores(X, labels, weights, stats, None, sketch, **on_device)
                rng = np.random.default_rng(np.random.SeedSequence(state.seed, spawn_key=(*key, 1)))
                rows, pis = draw(scores, group_labels, state.n_classes, PILOT_ROWS, rng)
                sample_weights = (1.0 if weights is None else weights[rows]) / pis
                state.pilot = pilot = fit_pilot(X[rows], labels[rows], sample_weights)
            scores = self._method.scores(X, labels, weights, stats, pilot, sketch, **on_device)
            rng = np.random.default_rng(np.random.SeedSequence(state.seed, spawn_key=(*key, 0)))
            positions, probabilities = draw(
                scores, group_labels, state.n_classes, self.coreset_size, rng
            )
            new_weights = (1.0 if weights is None else weights[positions]) / probabilities
        if isinstance(indices, int):
            row_numbers = indices + positions
        else:
            row_numbers = indices[positions]
        return Node(
            row_numbers, X[positions], labels[positions], new_weights, stats,
            first_leaf, last_leaf, height, children, spine,
        )  # fmt: skip

    # ---------------------------------------------------------------------- queries
    def _level_nodes(self, state: TreeState, level: int) -> list[int]:
        frontier = [state.root]
        for _ in range(level):
            frontier = [
                child
                for node_id in frontier
                for child in (state.nodes[node_id].children or (node_id,))
            ]
        return frontier

    def get_coreset(self, level: int = 0) -> Coreset:
        """The coreset at ``level``: 0 is the root (``coreset_size`` rows); level k is the union
        of the nodes k steps below it (a leaf above that depth stands for itself), so deeper
        levels hold more rows and approximate the data more closely. Weights sum to about
        ``n_samples_`` at every level."""
        state = self._check_built()
        depth = self.depth_
        if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not (
            0 <= level <= depth
        ):
            raise ValueError(
                f"The 'level' parameter of get_coreset must be an int in 0..{depth} "
                f"(the tree's depth). Got {level!r} instead."
            )
        nodes = [state.nodes[i] for i in self._level_nodes(state, int(level))]
        return Coreset(
            indices=np.concatenate([n.indices for n in nodes]),
            X=np.concatenate([n.X for n in nodes]),
            y=np.concatenate([n.y for n in nodes]),
            weights=np.concatenate([n.weights for n in nodes]),
            n_total=state.n_rows,
        )

    def iter_source_chunks(self, chunk_size: int | None = None):
        """Stream every row the tree summarises, in row order, from where it came: the data
        file it was built from (checked against the fingerprint taken at build time: a file
        that changed is an error) or the arrays passed to ``build`` / ``partial_build`` (the
        tree holds them by weak reference only: they must still exist).

        Yields (first row number, X chunk in the tree's dtype, integer labels) with
        ``chunk_size`` rows per chunk (default: the tree's ``chunk_size``). A chunk read from a
        file is valid until the next one is yielded.
        """
        state = self._check_built()
        chunk_size = check_int(
            self.chunk_size if chunk_size is None else chunk_size, "chunk_size",
            "iter_source_chunks",
        )  # fmt: skip
        for start, X, labels in iter_segments(state.segments, chunk_size):
            yield start, X.astype(state.dtype, copy=False), labels

    @property
    def depth_(self) -> int:
        state = self._check_built()
        depth, frontier = 0, [state.root]
        while True:
            children = [c for i in frontier for c in (state.nodes[i].children or ())]
            if not children:
                return depth
            frontier, depth = children, depth + 1

    @property
    def n_samples_(self) -> int:
        return self._check_built().n_rows

    @property
    def n_features_in_(self) -> int:
        return self._check_built().n_features

    @property
    def n_classes_(self) -> int:
        return self._check_built().n_classes

    @property
    def n_leaves_(self) -> int:
        return self._check_built().n_leaves

    @property
    def class_counts_(self) -> np.ndarray:
        state = self._check_built()
        return state.nodes[state.root].stats.class_counts.copy()

    def __repr__(self) -> str:
        params = (
            f"task={self.task!r}, coreset_size={self.coreset_size}, chunk_size={self.chunk_size}, "
            f"method={self.method!r}, random_state={self.random_state}"
        )
        state = getattr(self, "_state", None)
        if state is None or state.root < 0:
            return f"CoresetTree({params})"
        return (
            f"CoresetTree({params}; {state.n_rows} rows, {state.n_leaves} leaves, "
            f"depth {self.depth_})"
        )

    # ------------------------------------------------------------------ persistence
    def save(self, path) -> None:
        """Write the tree to an HDF5 file (atomically: a temporary file, then a rename)."""
        from ._persist import save_tree

        state = self._check_built()
        save_tree(self, state, path, inputs=[s.path for s in state.segments if hasattr(s, "path")])

    @classmethod
    def load(cls, path) -> CoresetTree:
        """Read a tree written by :meth:`save`."""
        from ._persist import load_tree

        return load_tree(cls, path)


def _refresh_pilot_after(n_leaves: int) -> bool:
    return n_leaves >= 2 and not (n_leaves & (n_leaves - 1))


def _progress_bar(total: int, enabled: bool, label: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="rows", unit_scale=True, desc=f"building from {label}")
