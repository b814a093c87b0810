"""Shared sampling mechanics: class budgets, inclusion probabilities and the fixed-size draw.

Sampling is without replacement: inclusion probabilities pi_i = min(1, c q_i) summing to the
budget, drawn by systematic sampling over a random order (exact size, exact pi_i), weights
w_i / pi_i (Horvitz-Thompson), so weighted sums stay unbiased. Rows with pi_i = 1 keep their weight.
"""

from __future__ import annotations

import numpy as np

from ._kernels import (
    class_inclusion_probabilities_rows,
    group_by_class,
    inclusion_probabilities,
    random_order,
    systematic_select,
)

#: Rows a class may have for :func:`permutation`'s kernel (its multiply-high takes i + 1 < 2**32).
_KERNEL_ORDER_ROWS = 2**32 - 1


def class_budgets(
    class_score_totals: np.ndarray, class_sizes: np.ndarray, size: int
) -> np.ndarray:
    """Split ``size`` rows among classes: proportional to each class's total score, never
    below min(rows of the class, ceil(size / (2 * classes present))), never above its rows."""
    class_sizes = np.asarray(class_sizes, dtype=np.int64)
    if class_sizes.sum() <= size:
        return class_sizes.copy()
    present = class_sizes > 0
    n_present = int(present.sum())
    floor = np.minimum(class_sizes, int(np.ceil(size / (2 * max(n_present, 1)))))
    totals = np.where(present, np.maximum(class_score_totals, 0.0), 0.0)
    if not np.all(np.isfinite(totals)):
        raise ValueError(
            "The 'class_score_totals' parameter of class_budgets must be finite for every "
            f"class with rows. Got {np.asarray(class_score_totals)!r} instead."
        )
    if totals.sum() <= 0:
        totals = class_sizes.astype(np.float64)

    def allotted(scale: float) -> np.ndarray:
        return np.clip(scale * totals, floor, class_sizes)

    # at this scale every class with a positive total is allotted all its rows or all of size
    # (a class whose total is 0 keeps its floor at any scale)
    with np.errstate(over="ignore"):  # a subnormal total: bisect from the largest float
        high = min(size / totals[totals > 0].min(), np.finfo(np.float64).max)
    low = 0.0
    for _ in range(200):  # bisection on the proportionality constant
        mid = 0.5 * (low + high)
        if not low < mid < high:  # the interval is down to adjacent floats: no more change
            break
        if allotted(mid).sum() < size:
            low = mid
        else:
            high = mid
    shares = allotted(high)
    budgets = np.floor(shares).astype(np.int64)
    remainder = size - int(budgets.sum())
    if remainder > 0:  # largest remainders first, only where rows are left
        order = np.argsort(-(shares - budgets), kind="stable")
        _hand_out(budgets, order, remainder, lambda c: budgets[c] < class_sizes[c], 1)
    elif remainder < 0:
        order = np.argsort(shares - budgets, kind="stable")
        _hand_out(budgets, order, -remainder, lambda c: budgets[c] > floor[c], -1)
    return budgets


def _hand_out(budgets: np.ndarray, order: np.ndarray, count: int, room, step: int) -> int:
    """Move ``count`` rows one at a time into (``step`` 1) or out of (-1) the classes in
    ``order`` that have ``room``, pass after pass (one pass unless classes whose totals are 0
    must take what the others cannot); returns how many could not be moved."""
    while count > 0:
        moved = False
        for c in order:
            if count == 0:
                break
            if room(c):
                budgets[c] += step
                count -= 1
                moved = True
        if not moved:
            break
    return count


def class_inclusion_probabilities(
    scores: np.ndarray, labels: np.ndarray | None, n_classes: int, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Inclusion probabilities of a draw of ``size`` rows (``size`` < rows).

    Returns (rows grouped by class, in row order within a class; start of each class in it, plus
    the end; each class's budget; the probabilities in the grouped order, 0 for a class without
    budget). With ``labels`` None all rows form one group with the whole budget.
    """
    n = scores.shape[0]
    order = np.arange(n, dtype=np.int64)
    if labels is None:
        starts = np.array([0, n])
        budgets = np.array([size])
    else:
        order, starts, totals = group_by_class(order, labels, scores, n_classes)
        budgets = class_budgets(totals, np.diff(starts), size)
    pi = np.zeros(n)
    for c, budget in enumerate(budgets):
        if budget > 0:
            rows = order[starts[c] : starts[c + 1]]
            pi[starts[c] : starts[c + 1]] = inclusion_probabilities(
                np.ascontiguousarray(scores[rows], dtype=np.float64), int(budget)
            )
    return order, starts, budgets, pi


def row_inclusion_probabilities(
    scores: np.ndarray, labels: np.ndarray | None, n_classes: int, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """(inclusion probability of every row, in row order; each class's budget) of the draw
    :func:`draw` makes: for checking one scoring backend's sampling distribution against
    another's."""
    order, _, budgets, grouped = class_inclusion_probabilities(scores, labels, n_classes, size)
    pi = np.empty(scores.shape[0])
    pi[order] = grouped
    return pi, budgets


def draw(
    scores: np.ndarray,
    labels: np.ndarray | None,
    n_classes: int,
    size: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``size`` rows. Returns (sorted row positions, their inclusion probabilities).

    With ``labels`` given, each class gets its own budget (:func:`class_budgets`); otherwise all
    rows share one. Rows are grouped by class with one counting sort; each class is visited in
    a random order by systematic sampling.
    """
    n = scores.shape[0]
    if size >= n:
        return np.arange(n, dtype=np.int64), np.ones(n)
    order, starts, budgets, grouped_pi = class_inclusion_probabilities(
        scores, labels, n_classes, size
    )
    picked, probabilities = [], []
    for c, budget in enumerate(budgets):
        if budget <= 0:
            continue
        rows = order[starts[c] : starts[c + 1]]
        pi = grouped_pi[starts[c] : starts[c + 1]]
        chosen = systematic_select(pi, permutation(rng, rows.size), rng.random())
        picked.append(rows[chosen])
        probabilities.append(pi[chosen])
    positions = np.concatenate(picked)
    pis = np.concatenate(probabilities)
    if positions.size * 8 < n:  # few rows: sort them
        order = np.argsort(positions, kind="stable")
        return positions[order], pis[order]
    # many rows (a merge keeps half its rows): mark them in row order instead of sorting
    chosen = np.zeros(n, dtype=np.bool_)
    chosen[positions] = True
    by_row = np.empty(n)
    by_row[positions] = pis
    positions = np.flatnonzero(chosen)
    return positions, by_row[positions]


def permutation(rng: np.random.Generator, n: int) -> np.ndarray:
    """A uniformly random order of 0..n-1 (int64) from ``rng``: :func:`random_order` on n
    64-bit words (NumPy's ``rng.permutation`` for n of 2**32 rows or more)."""
    if n > _KERNEL_ORDER_ROWS:
        return rng.permutation(n)
    raw = rng.integers(0, np.iinfo(np.uint64).max, size=n, dtype=np.uint64, endpoint=True)
    return random_order(raw, np.empty(n, dtype=np.int64))


def poisson_draw(
    scores: np.ndarray,
    labels: np.ndarray | None,
    n_classes: int,
    size: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw rows independently (Poisson sampling), about ``size`` of them. Returns (sorted row
    positions, their inclusion probabilities).

    The inclusion probabilities are :func:`draw`'s (each class's budget from
    :func:`class_budgets`, min(1, c q_i) within it) and still exact, but the number of rows
    drawn varies around ``size`` (standard deviation below sqrt(size)). One pass over the rows
    per round of capping and one uniform per row: no grouping by class, no permutation. For
    a first-phase sample (``_build._first_phase``), whose size need not be exact."""
    n = scores.shape[0]
    if size >= n:
        return np.arange(n, dtype=np.int64), np.ones(n)
    if labels is None:
        codes = np.zeros(n, dtype=np.int64)
        budgets = np.array([size], dtype=np.int64)
    else:
        codes = np.ascontiguousarray(labels, dtype=np.int64)
        totals = np.bincount(codes, weights=scores, minlength=n_classes)
        budgets = class_budgets(totals, np.bincount(codes, minlength=n_classes), size)
    pi = class_inclusion_probabilities_rows(
        np.ascontiguousarray(scores, dtype=np.float64), codes, budgets
    )
    positions = np.flatnonzero(rng.random(n) < pi)
    return positions, pi[positions]
