"""The coreset-corrected candidate of the full-data logistic refit (``_full_fit``), two classes.

After a pass, the refit knows at the point it holds, theta_k, the exact gradient g and Hessian H
of the full objective f (normalised by the total row weight). Newton's step minimises the
quadratic model of f there. The root coreset, held in memory, gives a model with the higher
orders too:

    s(t) = c(t) + (g - grad c(theta_k)) . (t - theta_k)
           + (t - theta_k) . (H - hess c(theta_k)) . (t - theta_k) / 2,

c the same objective (penalty included) over the coreset's weighted rows. s matches f's value
up to a constant, gradient and Hessian at theta_k, and takes the rest of its shape from the
coreset (the gradient correction is that of variance-reduced subsampled Newton, Derezinski et
al. 2022). Its minimiser, found in memory by Newton's method with backtracking, is one more
candidate of the next pass, which evaluates it on all rows like the others: a poor one is not
taken. From the coreset's own optimum on a9a it came within 1e-6 of the full optimum in at most
4 passes for 22 of 24 trees, Newton's steps for 8 and the refit's damped ones for 20
(``python -m benchmarks.bench_newton_tail``; docs/BENCHMARKS.md, section newton-tail).

Rows the coreset represents by few of its own. A column that sits at one value on all but a
few rows (a rare category of a one-hot block) has few or none of those rows in the coreset,
so along its coefficient c is the penalty's quadratic plus a guess, and the correction only
fixes its first two orders at theta_k. Such a coefficient, pushed far out by a handful of rows
that all have one label, is where Newton's steps crawl (the loss along it is exponential, and
each step moves its rows' margins by about one): on a9a's trees of 3,256 coreset rows, a single
coefficient of 7 or 14 rows took the last four to six passes. So the refit's first pass
collects every row that is off its column's usual value in the rarest columns (``RareColumns``:
chosen and their values taken from the coreset, as many as it expects to hold at most
EXACT_ROWS_PER_CORESET_ROW times the coreset's rows), and the surrogate holds them exactly, in
place of the coreset's rows off those values (:meth:`CoresetSurrogate.with_exact_rows`).
With them the corrected step came within 1e-6 by pass 2 or 3 on every one of the 24 trees (the
same benchmark), and the refit stops after 2-3 passes on all four real sets
(``bench_refit --seeds 24``; docs/BENCHMARKS.md, section refit-seeds-reading).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._cpu import map_blocks
from ._full_fit_kernels import majority_values, rows_off_base
from ._full_fit_pass import Layout, PassPlan, run_pass
from ._pilot import armijo_backtrack

#: Newton iterations on the surrogate at most, and the smallest relative decrement g . step
#: (twice the predicted decrease) that ends them: the refit asks for 1e-3 of its own predicted
#: gap, as the candidate need not be much closer to the surrogate's minimiser than that.
MAX_ITERATIONS = 10
MIN_TOLERANCE = 1e-15
#: The rare columns' rows held exactly: as many as the coreset expects, at most this many per
#: coreset row (so the surrogate's rows at most about double); where more turn up in the pass
#: (a column the coreset misjudged), OVERFLOW times that, the surrogate keeps the coreset's.
EXACT_ROWS_PER_CORESET_ROW = 1.0
OVERFLOW = 2


@dataclass(frozen=True)
class RareColumns:
    """Columns at one value (``base``) on all but a few rows, and how many rows off it the
    pass may collect (``limit``)."""

    columns: np.ndarray  # (r,) int64, ascending
    base: np.ndarray  # (r,) float64
    expected: float  # rows off base the coreset's weights estimate
    limit: int


def rare_columns(X, weights, budget: float) -> RareColumns | None:
    """The columns of the coreset rows ``X`` (weights ``weights``) to hold exactly. A column's
    base is its value on more than half the rows (where none is, the column is not rare: much
    of its weight is off any value); the rows off base it expects over all rows are the
    weights of its coreset rows off base; the rarest columns are taken while the expected rows
    add up to at most ``budget``. None if no column fits."""
    rows = X.shape[0]
    if rows == 0 or budget < 1:
        return None
    base = np.zeros(X.shape[1])
    majority_values(X, base)  # (np.partition for the median: ~100x slower on tied values)
    expected = np.asarray(weights, dtype=np.float64) @ (X != base)
    order = np.argsort(expected, kind="stable")
    taken = np.sort(order[np.cumsum(expected[order]) <= budget])
    if taken.size == 0:
        return None
    return RareColumns(taken, base[taken], float(expected[taken].sum()),
                       int(OVERFLOW * budget))  # fmt: skip


def off_base(X, rare: RareColumns) -> np.ndarray:
    """Which rows of ``X`` are off base in any rare column (a Numba loop, in blocks in the
    engine's threads)."""
    out = np.empty(X.shape[0], dtype=np.bool_)

    def block(start: int, stop: int) -> None:
        rows_off_base(X[start:stop], rare.columns, rare.base, out[start:stop])

    map_blocks(block, X.shape[0])
    return out


class ExactRows:
    """The rows off base in the rare columns, collected from one pass's chunks
    (:meth:`watch`); none once more than ``rare.limit`` turned up."""

    def __init__(self, rare: RareColumns):
        self.rare = rare
        self.parts: list | None = []
        self.count = 0
        self.empty = None  # no rows of the first chunk read (its width and dtype)

    def watch(self, chunks):
        """Yields ``chunks`` (X, class codes, sample weights or None) unchanged."""
        for X, codes, weights in chunks:
            if self.empty is None:
                self.empty = X[:0]
            if self.parts is not None:
                found = np.flatnonzero(off_base(X, self.rare))
                self.count += found.size
                if self.count > self.rare.limit:
                    self.parts = None  # the coreset misjudged a column: keep its rows
                elif found.size:
                    self.parts.append((X[found], codes[found],
                                       None if weights is None else weights[found]))  # fmt: skip
            yield X, codes, weights

    def rows(self):
        """(X, codes, weights) collected, perhaps none; None if too many, or no chunk was
        read."""
        if self.parts is None or self.empty is None:
            return None
        weights = [np.ones(c.size) if w is None else np.asarray(w, np.float64)
                   for _, c, w in self.parts]  # fmt: skip
        return (np.concatenate([self.empty, *(x for x, _, _ in self.parts)]),
                np.concatenate([np.zeros(0, np.int64), *(c for _, c, _ in self.parts)]),
                np.concatenate([np.zeros(0), *weights]))  # fmt: skip


class CoresetSurrogate:
    """A two-class refit's coreset rows (as a chunk of the refit's passes), and the minimiser
    of the corrected model at a point."""

    def __init__(self, X, codes, weights, layout: Layout):
        self.chunk = (X, np.asarray(codes), np.asarray(weights, dtype=np.float64))
        self.layout = layout
        self.exact_rows = 0  # rows of all rows held exactly (:meth:`with_exact_rows`)

    def rare_columns(self) -> RareColumns | None:
        """The columns whose rows off base the refit's first pass collects."""
        X, _, weights = self.chunk
        return rare_columns(X, weights, EXACT_ROWS_PER_CORESET_ROW * X.shape[0])

    def with_exact_rows(self, collected: ExactRows) -> CoresetSurrogate:
        """This surrogate with the rows ``collected`` from all rows in place of its own rows
        off base in the same columns (itself if the pass found too many; where it found none,
        its own such rows are no longer among all rows: none)."""
        found = collected.rows()
        if found is None:
            return self
        X, codes, weights = self.chunk
        keep = ~off_base(X, collected.rare)
        extra_X, extra_codes, extra_weights = found
        rows = np.concatenate([X[keep], extra_X.astype(X.dtype, copy=False)])
        surrogate = CoresetSurrogate(rows, np.concatenate([codes[keep], extra_codes]),
                                     np.concatenate([weights[keep], extra_weights]),
                                     self.layout)  # fmt: skip
        surrogate.exact_rows = extra_X.shape[0]
        return surrogate

    def _terms(self, theta, scale, hessian: bool):
        """The coreset's data term at ``theta`` over ``scale`` (the full rows' total weight):
        value, gradient and, if asked, Hessian; the sums of a pass over the coreset's rows
        (:func:`run_pass`, class factors applied there)."""
        sums = run_pass([self.chunk], self.layout, PassPlan(theta[None, None], hessian, 0, 0))
        local_hessian = sums.hessian / scale if hessian else None
        return float(sums.losses[0]) / scale, sums.gradients[0, 0] / scale, local_hessian

    def minimiser(self, theta, gradient, curvature, lam, penalized, live, scale, tolerance):
        """The surrogate's minimiser over the ``live`` coefficients from ``theta`` (1, width):
        ``gradient`` the full objective's at theta (penalty included), ``curvature`` its data
        term's Hessian there, ``lam`` the penalty's factor on ``penalized`` coefficients,
        ``scale`` the full rows' total weight. Newton's method with backtracking, until the
        decrement is below ``tolerance`` (relative; floored at MIN_TOLERANCE) or
        MAX_ITERATIONS; its first step is the full objective's Newton step (the surrogate's
        gradient and Hessian there are the full ones). None where it makes no step (the
        surrogate not positive definite, or no decrease)."""
        start = theta[0].copy()
        _, local_gradient, local_hessian = self._terms(start, scale, True)
        penalty = lam * penalized[0]
        shift_gradient = gradient[0] - (local_gradient + penalty * start)
        shift_hessian = curvature - local_hessian
        tolerance = max(float(tolerance), MIN_TOLERANCE)

        def value(t):
            d = t - start
            data, _, _ = self._terms(t, scale, False)
            return (data + 0.5 * float(penalty @ (t * t)) + float(shift_gradient @ d)
                    + 0.5 * float(d @ shift_hessian @ d))  # fmt: skip

        current, t = value(start), start
        g, H = gradient[0], curvature + np.diag(penalty)
        for iteration in range(MAX_ITERATIONS):
            if iteration:
                _, g, H = self._terms(t, scale, True)
                g = g + penalty * t + shift_gradient + shift_hessian @ (t - start)
                H = H + np.diag(penalty) + shift_hessian
            sub = H[np.ix_(live, live)]
            try:
                factor = np.linalg.cholesky(0.5 * (sub + sub.T))
            except np.linalg.LinAlgError:
                break
            step = np.zeros_like(t)
            step[live] = -np.linalg.solve(factor.T, np.linalg.solve(factor, g[live]))
            decrement = -float(g @ step)
            if not decrement > tolerance * max(abs(current), 1e-300):
                break
            found = armijo_backtrack(value, t, step, current, decrement, 1e-10)
            if found is None:
                break
            length, current = found
            t = t + length * step
        if np.array_equal(t, start) or not np.all(np.isfinite(t)):
            return None
        return t[None]
