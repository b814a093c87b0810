"""The pure steps a tree is built from: a leaf from a chunk of rows, a parent from two nodes.

Every step depends only on its inputs, the build settings and the node's place in the tree
(first leaf, last leaf, height): random streams are keyed by that place, and each leaf fits its
own pilot model on a sample of its own rows. So leaves can be built in any order, on any
number of threads, processes or machines (``_dask``), and the tree is the same bit for bit.

The shape of the tree is a binary counter over leaves (Bentley-Saxe): complete subtrees of
equal height are merged as soon as both exist, and the root merges what remains ("spine"
nodes, rebuilt after every append). :class:`BinaryCounter` holds that logic once, for any kind
of node handle (a node, or a future of one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from ._backend import CpuBackend
from ._calibration import calibrate_draw
from ._dedup import merge_duplicates
from ._linalg import jl_sketch
from ._pilot import PILOT_ROWS, fit_pilot
from ._sampling import draw, poisson_draw
from .methods import NodeStats, get_method
from .tasks import get_task

#: A node of more than twice FIRST_PHASE_RATIO coresets (and FIRST_PHASE_MIN_ROWS) is sampled
#: in two phases when its method uses a pilot and its weights are not calibrated
#: (:func:`_first_phase`); 0 turns that off.
FIRST_PHASE_RATIO = 12
#: Also sample calibrated nodes in two phases (an experiment: ``bench_engine
#: --first-phase-ratio``). Off, because calibration then matches the first-phase sample's
#: estimates of the node's gradient sums instead of the sums themselves: on the weak-signal
#: set that tripled the one-shot excess loss (docs/BENCHMARKS.md, section two-phase).
FIRST_PHASE_WHEN_CALIBRATED = False
#: The first phase keeps at least this many rows (the pilot is drawn from them).
FIRST_PHASE_MIN_ROWS = 20_000


@dataclass(frozen=True)
class BuildSettings:
    """What every step of one tree's build shares (small and picklable)."""

    coreset_size: int
    method: str
    deduplicate: bool
    sketch_size: int | None
    seed: int
    n_classes: int
    #: ``CoresetTree(task=...)``: what y is, node statistics, duplicate keys, draw groups.
    task: str = "logistic_regression"
    #: ``CoresetTree(calibrate=...)``: tilt each sampled node's weights so its pilot-gradient
    #: sums match those of the rows it summarises (``_calibration``), for methods that allow it.
    calibrate: bool = False


@dataclass(frozen=True)
class Node:
    """One coreset in the tree. ``children`` (positions in the tree's node list) is None for a
    leaf."""

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

    def with_children(self, children: tuple[int, int]) -> Node:
        return Node(
            self.indices, self.X, self.y, self.weights, self.stats, self.first_leaf,
            self.last_leaf, self.height, children, self.spine,
        )  # fmt: skip


def leaf_node(
    settings: BuildSettings, X: np.ndarray, labels: np.ndarray, offset: int, leaf: int,
    backend=None, describe_row: Callable[[int], str] | None = None,
) -> Node:  # fmt: skip
    """The coreset of one chunk: rows ``offset .. offset + len(X)`` of the data, leaf number
    ``leaf``. Raises ValueError naming the row (``describe_row(global row)``) if a row holds
    NaN or infinity."""
    task = get_task(settings.task)
    task.check_leaf_labels(labels, settings.n_classes, offset)
    # NumPy multiplies unaligned arrays (a block deserialized by Dask can start at any byte)
    # without BLAS, rounding differently: an aligned copy keeps the tree the same everywhere.
    X = np.require(X, requirements=("C", "A"))
    backend = backend or CpuBackend()
    # on the GPU for "cuda": uploaded once, read by 3 passes
    rows = backend.rows(X, task.hash_keys(labels))
    scan = rows.scan(hashes=settings.deduplicate)
    if scan.first_bad >= 0:
        where = describe_row(offset + scan.first_bad) if describe_row else (
            f"row {offset + scan.first_bad}"
        )  # fmt: skip
        raise ValueError(f"X must be finite. Got NaN or infinity in {where}.")
    stats = task.leaf_stats(rows, scan, X, labels, settings.n_classes)
    return _reduce(
        settings, X, labels, None, offset, stats, leaf, leaf, 0, False,
        hashes=scan.hashes, device_rows=rows if rows.on_device else None,
    )  # fmt: skip


def merge_nodes(settings: BuildSettings, left: Node, right: Node, *, spine: bool) -> Node:
    """The coreset of the union of two nodes' coresets (children are set by the caller)."""
    return _reduce(
        settings,
        np.concatenate([left.X, right.X]),
        np.concatenate([left.y, right.y]),
        np.concatenate([left.weights, right.weights]),
        np.concatenate([left.indices, right.indices]),
        left.stats + right.stats,
        left.first_leaf,
        right.last_leaf,
        max(left.height, right.height) + 1,
        spine,
    )


def _reduce(
    settings, X, labels, weights, indices, stats, first_leaf, last_leaf, height, spine,
    hashes=None, device_rows=None,
) -> Node:  # fmt: skip
    """Sample ``coreset_size`` of the given weighted rows (all of them if they fit).

    ``weights`` None means unit weights (a leaf); ``indices`` is then the first row number,
    else the rows' numbers. A method that uses a pilot gets the leaf's own pilot at a leaf and,
    at a merge, one fitted on the merged rows. ``hashes`` are the rows' hashes if known;
    ``device_rows`` the same rows already on a device (scored there if the method can)."""
    task = get_task(settings.task)
    method = get_method(settings.method, task=settings.task)
    keep = None
    if settings.deduplicate:
        keep, summed = merge_duplicates(X, task.hash_keys(labels), weights, hashes)
        if keep is not None:
            X, labels, weights = X[keep], labels[keep], summed
            indices = indices + keep if isinstance(indices, int) else indices[keep]
    if X.shape[0] <= settings.coreset_size:
        positions = np.arange(X.shape[0])
        new_weights = np.ones(X.shape[0]) if weights is None else weights.copy()
    else:
        key = (first_leaf, last_leaf, height, int(spine))
        sketch = None
        if settings.sketch_size is not None and settings.sketch_size < X.shape[1] + 1:
            sketch = jl_sketch(settings.seed, X.shape[1] + 1, settings.sketch_size)
        on_device = {}
        if device_rows is not None and method.accepts_backend:
            on_device["backend"] = device_rows if keep is None else device_rows.take(keep)
        scores = method.scores(X, labels, weights, stats, None, sketch, **on_device)
        miss = targets = None
        first = _first_phase(settings, method, task, X.shape[0], scores, labels, key)
        if first is not None:  # from here on, the node is its first-phase sample
            rows, probabilities = first
            X, labels = X[rows], labels[rows]
            weights = (1.0 if weights is None else weights[rows]) / probabilities
            indices = indices + rows if isinstance(indices, int) else indices[rows]
            scores = scores[rows] / probabilities
            if on_device:
                on_device["backend"] = on_device["backend"].take(rows)
        if method.uses_pilot:
            pilot = _node_pilot(settings, X, labels, weights, scores, key)
            if pilot is not None:
                calibrates = settings.calibrate and method.calibrates
                if calibrates and method.sums_in_pilot_pass and not on_device:  # one pass
                    factor, targets = method.pilot_factor(X, labels, pilot, settings.n_classes,
                                                          class_sums_of=weights)  # fmt: skip
                else:
                    factor = method.pilot_factor(X, labels, pilot, settings.n_classes,
                                                 **on_device)  # fmt: skip
                scores = scores * factor
                if calibrates:
                    miss = method.pilot_miss(factor)
        rng = np.random.default_rng(np.random.SeedSequence(settings.seed, spawn_key=(*key, 0)))
        group_labels = task.draw_groups(method, labels)
        positions, probabilities = draw(
            scores, group_labels, settings.n_classes, settings.coreset_size, rng
        )
        new_weights = (1.0 if weights is None else weights[positions]) / probabilities
        if miss is not None:  # control variates: the pilot's gradient, class by class
            new_weights = calibrate_draw(X, labels, weights, miss, settings.n_classes,
                                         positions, new_weights, probabilities,
                                         targets)  # fmt: skip
    row_numbers = indices + positions if isinstance(indices, int) else indices[positions]
    return Node(
        row_numbers, X[positions], labels[positions], new_weights, stats,
        first_leaf, last_leaf, height, None, spine,
    )  # fmt: skip


def first_phase_rows(settings: BuildSettings, rows: int) -> int | None:
    """Rows of a node's first-phase sample, or None for a one-phase draw (see
    :func:`_first_phase`)."""
    if not FIRST_PHASE_RATIO:
        return None
    size = max(int(FIRST_PHASE_RATIO * settings.coreset_size), FIRST_PHASE_MIN_ROWS)
    return size if rows > 2 * size else None


def _first_phase(settings, method, task, n, scores, labels, key):
    """Two-phase sampling for methods with a pilot and ``first_phase``: (rows, inclusion
    probabilities) of a first-phase sample of about :func:`first_phase_rows` rows, drawn
    independently (:func:`poisson_draw`: its size need not be exact, and it skips the grouping
    and permutation of a fixed-size draw) by the pilot-free scores, or None.

    The pilot's factor (a GEMM with its coefficients and a softmax per row) and the
    calibration's gradient sums then run over that sample alone, its rows weighted by
    1 / probability (Horvitz-Thompson, so the node's sums stay unbiased), and the coreset is
    drawn from it by (score / probability) x factor. A row's inclusion probability is the
    product of its two phases'; with the first phase FIRST_PHASE_RATIO times the coreset, at
    least 1.1 / PILOT_FLOOR, that product is about the one-phase draw's min(1, c x score x
    factor) wherever the first phase does not take the row with certainty (the second phase
    then caps no row but by the first phase's sampling noise: factors lie in
    [PILOT_FLOOR, 1 + PILOT_FLOOR]). The weights are exact Horvitz-Thompson weights either way. Only for uncalibrated
    nodes (unless FIRST_PHASE_WHEN_CALIBRATED): calibration targets would become the
    first-phase sample's estimates of the node's sums."""
    if not (method.uses_pilot and method.first_phase):
        return None
    if settings.calibrate and method.calibrates and not FIRST_PHASE_WHEN_CALIBRATED:
        return None  # calibration needs the pilot's gradient sums over all the node's rows
    size = first_phase_rows(settings, n)
    if size is None:
        return None
    rng = np.random.default_rng(np.random.SeedSequence(settings.seed, spawn_key=(*key, 2)))
    return poisson_draw(scores, task.draw_groups(method, labels), settings.n_classes, size, rng)


def _node_pilot(settings, X, labels, weights, scores, key):
    """The pilot a node's rows are scored with, fitted on PILOT_ROWS of them (all if fewer),
    with the node's own random stream. At a leaf the sample is drawn by the method's scores
    without a pilot (square-root leverage times the raw rows a row stands for: a pilot on a
    uniform sample misses the rare influential rows and, on KDD Cup '99, doubles the excess
    loss), each class with its own budget; at a merge by the rows' weights, so the subtree's
    pilot sees all the data below it."""
    if weights is None:
        weights = np.ones(X.shape[0])
    if X.shape[0] > PILOT_ROWS:
        leaf = key[2] == 0
        rng = np.random.default_rng(np.random.SeedSequence(settings.seed, spawn_key=(*key, 1)))
        rows, probabilities = draw(
            scores if leaf else weights, labels if leaf else None, settings.n_classes,
            PILOT_ROWS, rng,
        )  # fmt: skip
        X, labels, weights = X[rows], labels[rows], weights[rows] / probabilities
    return fit_pilot(X, labels, weights)


H = TypeVar("H")


class BinaryCounter(Generic[H]):
    """The binary-counter stack of complete subtrees, over node handles of any type.

    ``merge(left, right, spine)`` makes the parent handle; ``emit(handle, children)`` is told
    of every new node in creation order (children: the positions of its two children in that
    order, or None for a leaf), and returns the position it was given. Handles on the stack
    are (height, position, handle).
    """

    def __init__(self, merge: Callable, emit: Callable, stack=()):
        self.merge = merge
        self.emit = emit
        self.stack: list[tuple[int, int, H]] = list(stack)

    def add_leaf(self, handle: H) -> None:
        self.stack.append((0, self.emit(handle, None), handle))
        while len(self.stack) >= 2 and self.stack[-1][0] == self.stack[-2][0]:
            (height, left_id, left), (_, right_id, right) = self.stack[-2:]
            parent = self.merge(left, right, False)
            del self.stack[-2:]
            self.stack.append((height + 1, self.emit(parent, (left_id, right_id)), parent))

    def finish(self) -> tuple[int, H]:
        """Merge the stack into the root (spine nodes); returns the root's (position,
        handle). The stack itself is kept, so more leaves can follow."""
        _, position, current = self.stack[-1]
        for _, left_id, left in reversed(self.stack[:-1]):
            current = self.merge(left, current, True)
            position = self.emit(current, (left_id, position))
        return position, current
