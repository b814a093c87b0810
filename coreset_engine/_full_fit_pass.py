"""One streamed pass of the full-data logistic refit (``_full_fit``).

A pass reads every row once and returns sums over all rows: the weighted loss and its
gradient at a few candidate points (their decision values come from one GEMM with the rows),
and at the first of them the exact Hessian (a weighted Gram matrix, as the build accumulates
its Gram) or a priority sample of rows to estimate the Hessian at any point afterwards.

Rows are processed in the engine's fixed 65,536-row blocks (a chunk of at most one such block
in up to 8 smaller ones: :func:`pass_blocks`) by its thread pool with single-threaded BLAS, in
sub-blocks small enough to stay in cache (:func:`sub_block_rows`); partial sums are added in
block order, and the blocks depend on a chunk's rows alone, so results do not depend on the
number of threads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._cpu import iter_in_pool, row_blocks
from ._full_fit_kernels import binary_rows, centred_rows_float32, multinomial_rows, priority_keys

#: Rows per sub-block: the skinny products with X and the Gram of a sub-block run from cache.
_SUB_BLOCK_ROWS = 2048
#: ... for 64 features or more; with fewer, more rows (a power of 2 times as many, at most
#: _MAX_SUB_BLOCK_ROWS), as the ~10 NumPy calls per sub-block hold the GIL: on Skin's 3
#: columns they were most of a pass.
_SUB_BLOCK_VALUES = 64 * _SUB_BLOCK_ROWS
_MAX_SUB_BLOCK_ROWS = 16 * _SUB_BLOCK_ROWS
#: A chunk of at most one engine block (a coreset in memory: the warm start's passes, the
#: corrected candidate's solve) is cut into this many blocks of whole sub-blocks, so that more
#: than one thread works on it; by its row count alone, so the sums do not depend on the
#: number of threads.
_SMALL_CHUNK_BLOCKS = 8


@dataclass(frozen=True)
class Layout:
    """What every pass shares: classes, coefficient shape, class weights."""

    n_classes: int
    n_features: int
    fit_intercept: bool
    class_factors: np.ndarray  # (n_classes,) multiplier of each class's row weights

    @property
    def n_out(self) -> int:
        return 1 if self.n_classes == 2 else self.n_classes

    @property
    def width(self) -> int:
        return self.n_features + int(self.fit_intercept)


@dataclass(frozen=True)
class PassPlan:
    """The candidate points a pass evaluates: losses and gradients at every one, the Hessian
    (or the rows to estimate it from) at the first."""

    points: np.ndarray  # (J, n_out, width)
    exact_hessian: bool
    sample_rows: int  # rows of the priority sample for the Hessian (0: none)
    sample_key: int  # seeds the sample's uniforms (different every pass)
    column_squares: bool = False  # also sum w_i x_ij^2 (fixed: the refit asks once)


@dataclass
class PassSums:
    """Raw (unnormalised) sums over all rows of one pass."""

    losses: np.ndarray  # (J,) sum_i w_i loss_i at each point
    gradients: np.ndarray  # (J, n_out, width)
    hessian: np.ndarray | None  # (n_out * width,) ** 2 at points[0], if exact
    total_weight: float
    n_rows: int
    sample: HessianSample | None
    column_squares: np.ndarray | None = None  # (width,) sum_i w_i x_ij^2 (sum_i w_i: intercept)


@dataclass(frozen=True)
class HessianSample:
    """Rows drawn with probability ~ their share of the Hessian's trace (priority sampling,
    Duffield, Lund and Thorup 2007): ``sum over rows of f_i`` is estimated without bias by
    ``sum over the sample of f_i * factor_i`` for any per-row f."""

    X: np.ndarray
    codes: np.ndarray
    weights: np.ndarray  # row weight (sample weight x class factor) times the sampling factor


def run_pass(chunks, layout: Layout, plan: PassPlan) -> PassSums:
    """Stream ``chunks`` (an iterable of (X, class codes, sample weights or None)) once."""
    n_points = plan.points.shape[0]
    losses = np.zeros(n_points)
    gradients = np.zeros((layout.width, n_points * layout.n_out))
    hessian = None
    if plan.exact_hessian:
        side = layout.n_out * layout.width
        hessian = np.zeros((side, side))
    total_weight, n_rows = 0.0, 0
    squares = np.zeros(layout.width) if plan.column_squares else None
    sampler = _PrioritySampler(plan.sample_rows) if plan.sample_rows else None
    d = layout.n_features
    stacked = plan.points.reshape(-1, layout.width)  # (J * n_out, width), point-major
    matrix = np.ascontiguousarray(stacked[:, :d].T)
    bias = stacked[:, d].copy() if layout.fit_intercept else np.zeros(stacked.shape[0])
    matrix = np.ascontiguousarray(matrix.T)  # (J * n_out, d): values come out (J * n_out, r)
    for X, codes, sample_weight in chunks:
        weights = layout.class_factors[codes]
        if sample_weight is not None:
            weights = weights * sample_weight
        q = keys = None
        if sampler is not None:
            q, keys = np.empty(X.shape[0]), np.empty(X.shape[0])

        def block(start: int, stop: int, X=X, codes=codes, weights=weights, q=q, keys=keys,
                  first=n_rows):  # fmt: skip
            return _block_sums(X, codes, weights, start, stop, matrix, bias, plan, layout,
                               (q, keys, first))  # fmt: skip

        for part_losses, part_gradients, part_hessian, part_squares in iter_in_pool(
            block, pass_blocks(X.shape[0])
        ):
            losses += part_losses
            gradients += part_gradients
            if hessian is not None:
                hessian += part_hessian
            if squares is not None:
                squares[: layout.n_features] += part_squares
        total_weight += float(weights.sum())
        if sampler is not None:
            sampler.offer(X, codes, weights, q, keys)
        n_rows += X.shape[0]
    # (width, J * n_out) -> (J, n_out, width)
    gradients = gradients.T.reshape(n_points, layout.n_out, layout.width)
    sample = sampler.finish() if sampler is not None else None
    if squares is not None and layout.fit_intercept:
        squares[-1] = total_weight
    return PassSums(losses, gradients, hessian, total_weight, n_rows, sample, squares)


def pass_blocks(n: int) -> list[tuple[int, int]]:
    """A chunk's blocks: the engine's (:func:`row_blocks`), or for a chunk of at most one of
    them, up to _SMALL_CHUNK_BLOCKS blocks of whole sub-blocks (the last may be shorter)."""
    engine = row_blocks(n)
    if len(engine) > 1:
        return engine
    sub_blocks = -(-n // _SUB_BLOCK_ROWS)
    per_block = max(1, -(-sub_blocks // _SMALL_CHUNK_BLOCKS))
    return row_blocks(n, per_block * _SUB_BLOCK_ROWS)


def sub_block_rows(n_features: int) -> int:
    """Rows per sub-block for rows of ``n_features`` values (or per-row arrays that wide):
    _SUB_BLOCK_ROWS times the largest power of 2 that keeps them within _SUB_BLOCK_VALUES
    values, at most _MAX_SUB_BLOCK_ROWS."""
    rows = _SUB_BLOCK_ROWS
    while rows < _MAX_SUB_BLOCK_ROWS and 2 * rows * max(n_features, 1) <= _SUB_BLOCK_VALUES:
        rows *= 2
    return rows


def _block_sums(X, codes, weights, start, stop, matrix, bias, plan, layout, sample):
    n_out, d = layout.n_out, layout.n_features
    n_points = plan.points.shape[0]
    losses = np.zeros(n_points)
    gradients = np.zeros((layout.width, n_points * n_out))
    hessian = None
    if plan.exact_hessian:
        side = n_out * layout.width
        hessian = np.zeros((side, side))
    squares = np.zeros(d) if plan.column_squares else None
    # (the widest per-row arrays: the features, the decision values of every candidate and
    # class, and a multinomial Hessian's rows of K x width)
    step = sub_block_rows(max(d, n_points * n_out, (n_out if n_out > 1 else 0) * layout.width))
    for a in range(start, stop, step):
        b = min(stop, a + step)
        rows = X[a:b]
        rows64 = rows if rows.dtype == np.float64 else rows.astype(np.float64)
        values = matrix @ rows64.T  # (J * n_out, r)
        values += bias[:, None]
        w = weights[a:b]
        residuals = np.empty_like(values)
        spread = np.empty(b - a)
        sums = gradients[d] if layout.fit_intercept else np.zeros(values.shape[0])
        if n_out == 1:
            curvature = np.empty(b - a)
            binary_rows(values, codes[a:b], w, losses, residuals, sums, curvature, spread)
        else:
            first = np.empty((n_out, b - a))
            multinomial_rows(values, codes[a:b], w, n_out, losses, residuals, sums, first, spread)
        gradients[:d] += (residuals @ rows64).T
        if squares is not None:
            squares += w @ np.square(rows64)
        q, keys, first_row = sample
        if q is not None:  # importance summed over candidates: the sample serves each of them
            priority_keys(rows, w, spread, float(layout.fit_intercept), first_row + a,
                          np.uint64(plan.sample_key), q[a:b], keys[a:b])  # fmt: skip
        if hessian is not None:
            if n_out == 1:
                hessian += binary_hessian(rows, curvature, layout.fit_intercept)
            else:
                hessian += multinomial_hessian(rows, w, first.T, layout.fit_intercept)
    return losses, gradients, hessian, squares


#: Centred, scaled values go to a float32 Gram while none exceeds this: a product stays below
#: 1e30 and a sum of them far below float32's 3.4e38.
_FLOAT32_GRAM_LIMIT = 1e15


def binary_hessian(rows, curvature, fit_intercept: bool):
    """sum_i curvature_i [x_i, 1] [x_i, 1]^T, (width, width) float64.

    The Gram of the rows centred on their curvature-weighted mean m runs in float32 BLAS (half
    the time of float64), and the float64 sum of curvatures times m m^T is added back (the same
    matrix: sum c x x^T = sum c (x - m)(x - m)^T + (sum c) m m^T). Centring keeps float32's
    rounding relative to the spread of each column, not its offset: uncentred, columns such as
    1e4 + N(0, 1) lost the curvature to cancellation and Newton stalled. The intercept's row
    and column and m are float64 sums. Values past _FLOAT32_GRAM_LIMIT, nan, or rows that are
    not native float32/float64: float64. The Hessian sets the steps and the stopping test
    (the Newton decrement), not the optimum (losses and gradients are float64); where columns
    are collinear to ~1e-4 without a penalty, float32 rounding can make a refit stop a little
    past ``tol`` (a check: 1.2e-7 for tol 1e-7)."""
    d = rows.shape[1]
    total = float(curvature.sum())
    column = rows.T.astype(np.float64, copy=False) @ curvature
    mean = column / total if total > 0 else np.zeros(d)
    root = np.sqrt(curvature)
    out = np.zeros((d + int(fit_intercept),) * 2)
    narrowable = rows.dtype in (np.float32, np.float64) and rows.dtype.isnative
    narrow = np.empty(rows.shape, dtype=np.float32) if narrowable else None
    if narrowable and centred_rows_float32(rows, mean, root, narrow) <= _FLOAT32_GRAM_LIMIT:
        out[:d, :d] = narrow.T @ narrow
        out[:d, :d] += total * np.outer(mean, mean)
    else:
        scaled = rows.astype(np.float64) * root[:, None]
        out[:d, :d] = scaled.T @ scaled
    if fit_intercept:
        out[:d, d] = column
        out[d, :d] = column
        out[d, d] = total
    return out


def multinomial_hessian(rows, w, probabilities, fit_intercept: bool):
    """sum_i w_i (diag p_i - p_i p_i^T) kron [x_i, 1] [x_i, 1]^T, laid out class-major
    ((K * width) square, coefficients of class k at k * width ...), float64; the products
    run in the rows' dtype (float32 BLAS for float32 rows: it only sets a step's direction)."""
    n, K = probabilities.shape
    dtype = rows.dtype
    ones = np.ones((n, int(fit_intercept)), dtype=dtype)
    rows1 = np.hstack([rows, ones]) if fit_intercept else rows
    width = rows1.shape[1]
    out = np.zeros((K * width, K * width))
    for k in range(K):
        scaled = rows1 * np.sqrt(w * probabilities[:, k]).astype(dtype)[:, None]
        out[k * width : (k + 1) * width, k * width : (k + 1) * width] = scaled.T @ scaled
    root = (np.sqrt(w)[:, None] * probabilities).astype(dtype)
    outer = (root[:, :, None] * rows1[:, None, :]).reshape(n, K * width)
    out -= outer.T @ outer
    return out


def sample_hessian(sample: HessianSample, theta: np.ndarray, layout: Layout) -> np.ndarray:
    """The Hessian of the sum of row losses at ``theta``, estimated from ``sample``."""
    d = layout.n_features
    rows = sample.X
    values = rows.astype(np.float64) @ theta[:, :d].T
    if layout.fit_intercept:
        values += theta[:, d]
    n_out = layout.n_out

    def part(start: int, stop: int):
        w = sample.weights[start:stop]
        if n_out == 1:  # p (1 - p) = e / (1 + e)^2, e = exp(-|eta|): never rounds to 0
            small = np.exp(-np.abs(values[start:stop, 0]))
            share = small / np.square(1.0 + small)
            return binary_hessian(rows[start:stop], w * share, layout.fit_intercept)
        eta = values[start:stop] - values[start:stop].max(axis=1, keepdims=True)
        exp = np.exp(eta)
        probabilities = exp / exp.sum(axis=1, keepdims=True)
        return multinomial_hessian(rows[start:stop], w, probabilities, layout.fit_intercept)

    n = rows.shape[0]
    side = n_out * layout.width
    hessian = np.zeros((side, side))
    step = 4096
    for part_hessian in iter_in_pool(part, [(a, min(n, a + step)) for a in range(0, n, step)]):
        hessian += part_hessian
    return hessian


class _PrioritySampler:
    """Keeps the ``size + 1`` rows with the largest keys q_i / u_i seen so far."""

    def __init__(self, size: int):
        self.size = size
        self.keys = np.zeros(0)
        self.q = np.zeros(0)
        self.X = None
        self.codes = np.zeros(0, dtype=np.int64)
        self.weights = np.zeros(0)

    def offer(self, X, codes, weights, q, keys) -> None:
        """Consider a chunk's rows, with their importance ``q`` and keys ``q / u``."""
        full = self.keys.size > self.size
        threshold = self.keys.min() if full else 0.0
        chosen = np.flatnonzero(keys > threshold)
        if chosen.size > self.size + 1:
            top = np.argpartition(keys[chosen], chosen.size - self.size - 1)
            chosen = chosen[top[chosen.size - self.size - 1 :]]
        if not chosen.size:
            return
        rows = X[chosen]
        all_keys = np.concatenate([self.keys, keys[chosen]])
        self.q = np.concatenate([self.q, q[chosen]])
        self.codes = np.concatenate([self.codes, codes[chosen]])
        self.weights = np.concatenate([self.weights, weights[chosen]])
        self.X = rows.copy() if self.X is None else np.concatenate([self.X, rows])
        self.keys = all_keys
        if all_keys.size > self.size + 1:
            keep = np.argpartition(all_keys, all_keys.size - self.size - 1)
            keep = np.sort(keep[all_keys.size - self.size - 1 :])
            self.keys, self.q = self.keys[keep], self.q[keep]
            self.codes, self.weights, self.X = self.codes[keep], self.weights[keep], self.X[keep]

    def finish(self) -> HessianSample | None:
        if self.X is None:
            return None
        factor = np.ones(self.keys.size)
        keep = np.arange(self.keys.size)
        if self.keys.size > self.size:
            smallest = int(np.argmin(self.keys))
            tau = self.keys[smallest]
            keep = np.delete(keep, smallest)
            factor = np.maximum(1.0, tau / self.q[keep])
        return HessianSample(self.X[keep], self.codes[keep], self.weights[keep] * factor)
