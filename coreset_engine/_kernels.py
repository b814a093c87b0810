"""Numba kernels for the per-row passes. Each has a plain NumPy twin in ``tests/naive.py``.

Kernels are serial and release the GIL; ``_cpu.py`` runs them over blocks of rows in threads."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def _mix(h):
    """splitmix64 finaliser."""
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return h


_SCAN_GROUP_ROWS = 64


@njit(nogil=True, cache=True)
def _first_bad_row(X, start, stop):
    for i in range(start, stop):
        for j in range(X.shape[1]):
            if not (abs(np.float64(X[i, j])) < np.inf):  # false for NaN and for +-inf
                return i
    return -1


@njit(nogil=True, cache=True)
def scan_rows_block(X, words, labels, start, stop, col_max, col_sum, hashes, do_hash):
    """One read of rows start..stop: return the first row holding NaN/inf (or -1, then
    ``col_max`` holds max |x| and ``col_sum`` the sums per column, float64, and with ``do_hash``
    ``hashes[i]`` the 64-bit hash of row i's words and label).

    Columns are updated element-wise (vectorizable); x - x, which is NaN exactly for NaN and
    +-inf, is accumulated per group of rows and checked once per group. The hash runs four
    FNV-1a lanes over interleaved words (independent multiply chains), mixed by splitmix64."""
    d = X.shape[1]
    k = words.shape[1]
    prime = np.uint64(0x100000001B3)
    check = np.zeros(d)
    for group in range(start, stop, _SCAN_GROUP_ROWS):
        end = min(stop, group + _SCAN_GROUP_ROWS)
        for i in range(group, end):
            for j in range(d):
                a = np.float64(X[i, j])
                check[j] += a - a
                col_sum[j] += a
                col_max[j] = max(col_max[j], abs(a))
        for j in range(d):
            if check[j] != 0.0 or check[j] != check[j]:
                return _first_bad_row(X, group, end)
        if do_hash:
            for i in range(group, end):
                h0 = np.uint64(0xCBF29CE484222325) ^ np.uint64(labels[i])
                h1 = np.uint64(0x84222325CBF29CE4)
                h2 = np.uint64(0x9E3779B97F4A7C15)
                h3 = np.uint64(0xC2B2AE3D27D4EB4F)
                j = 0
                while j + 4 <= k:
                    h0 = (h0 ^ np.uint64(words[i, j])) * prime
                    h1 = (h1 ^ np.uint64(words[i, j + 1])) * prime
                    h2 = (h2 ^ np.uint64(words[i, j + 2])) * prime
                    h3 = (h3 ^ np.uint64(words[i, j + 3])) * prime
                    j += 4
                while j < k:
                    h0 = (h0 ^ np.uint64(words[i, j])) * prime
                    j += 1
                h = _mix(h0) ^ _mix(h1 ^ np.uint64(0x5555555555555555))
                h = _mix(h ^ _mix(h2 ^ np.uint64(0x3333333333333333)) + _mix(h3))
                hashes[i] = h
    return -1


@njit(nogil=True, cache=True, inline="always")
def exp_nonpositive(x):
    """exp(x) for x <= 0 (clamped at -50, where exp is below 2e-22), relative error < 1e-11.

    (Taylor polynomial of exp(x / 128)) ** 128: plain arithmetic, so loops over rows vectorize
    (Numba has no vector exp without Intel SVML)."""
    t = max(x, -50.0) * 0.0078125
    p = 1.0 + t * (1.0 + t * (0.5 + t * (1.0 / 6.0 + t * (1.0 / 24.0 + t * (1.0 / 120.0 + t * (
        1.0 / 720.0 + t * (1.0 / 5040.0 + t * (1.0 / 40320.0 + t * (1.0 / 362880.0
        + t * (1.0 / 3628800.0))))))))))  # fmt: skip
    for _ in range(7):
        p = p * p
    return p


@njit(nogil=True, cache=True, fastmath=True)
def _root_leverage_rows(U, k, bias, squares, weights, unit, inv_n, offset, out):
    """out[offset + i] = (sqrt(squares[i] + ||U[i, :k] + bias[:k]||^2) + inv_n) * weight."""
    for i in range(U.shape[0]):
        s = squares[i]
        for j in range(k):
            t = np.float64(U[i, j]) + bias[j]
            s += t * t
        score = np.sqrt(s) + inv_n
        if not unit:
            score *= weights[offset + i]
        out[offset + i] = score


@njit(nogil=True, cache=True, fastmath=True)
def fused_scores_block(U, k, bias, labels, weights, column_of_label, offset, inv_n, floor,
                       unit, use_pilot, binary, out):  # fmt: skip
    """Scores of rows offset..offset+len(U), from U = X_block @ [P | W] (biases added here):

    (||U[i, :k] + bias[:k]|| + inv_n) * weight * (floor + 1 - p(label | U[i, k:] + bias[k:])),
    the last factor only with ``use_pilot`` (binary: one logit, for the class in column 1).
    A label whose ``column_of_label`` is -1 (the pilot never saw it) has miss probability 1.
    """
    n = U.shape[0]
    _root_leverage_rows(U, k, bias, np.zeros(n), weights, unit, inv_n, offset, out)
    if not use_pilot:
        return
    n_logits = U.shape[1] - k
    column = np.empty(n, dtype=np.int64)
    n_labels = column_of_label.shape[0]
    for i in range(n):
        label = labels[offset + i]
        column[i] = column_of_label[label] if 0 <= label < n_labels else -1
    if binary:
        for i in range(n):
            z = np.float64(U[i, k]) + bias[k]
            if column[i] != 1:
                z = -z
            e = exp_nonpositive(-abs(z))  # miss = 1 / (1 + exp(z)), computed without overflow
            miss = e / (1.0 + e) if z > 0 else 1.0 / (1.0 + e)
            if column[i] < 0:
                miss = 1.0
            out[offset + i] *= floor + miss
        return
    # logits copied to a (class, row) array once, so the loops below run over contiguous rows
    # and vectorize (read in place, every access strides over a whole row of U)
    logits = np.empty((n_logits, n))
    for i in range(n):
        for j in range(n_logits):
            logits[j, i] = np.float64(U[i, k + j]) + bias[k + j]
    top = logits[0].copy()
    total = np.zeros(n)
    mine = np.zeros(n)
    for j in range(1, n_logits):
        for i in range(n):
            top[i] = max(top[i], logits[j, i])
    for j in range(n_logits):
        for i in range(n):
            e = exp_nonpositive(logits[j, i] - top[i])
            total[i] += e
            mine[i] += e if column[i] == j else 0.0
    for i in range(n):
        miss = (total[i] - mine[i]) / total[i] if column[i] >= 0 else 1.0
        out[offset + i] *= floor + miss


@njit(nogil=True, cache=True)
def group_by_class(order, labels, scores, n_classes):
    """Stable counting sort of the rows in ``order`` by label. Returns (rows grouped by class,
    each class in its ``order``; start of each class, plus the end; score total per class)."""
    n = order.shape[0]
    starts = np.zeros(n_classes + 1, dtype=np.int64)
    totals = np.zeros(n_classes)
    for i in range(n):
        starts[labels[i] + 1] += 1
        totals[labels[i]] += scores[i]
    for c in range(n_classes):
        starts[c + 1] += starts[c]
    filled = starts[:-1].copy()
    grouped = np.empty(n, dtype=np.int64)
    for t in range(n):
        i = order[t]
        c = labels[i]
        grouped[filled[c]] = i
        filled[c] += 1
    return grouped, starts, totals


@njit(nogil=True, cache=True)
def inclusion_probabilities(scores, m):
    """Inclusion probabilities pi_i = min(1, c * q_i) with sum(pi) = m.

    ``scores`` must be positive. Rows whose scaled score reaches 1 are capped and the rest of the
    budget is spread over the others, repeated until no new row is capped.
    """
    n = scores.shape[0]
    pi = np.empty(n)
    if m >= n:
        pi[:] = 1.0
        return pi
    capped = np.zeros(n, dtype=np.bool_)
    n_capped = 0
    c = 0.0
    while True:
        rest = 0.0
        for i in range(n):
            if not capped[i]:
                rest += scores[i]
        c = (m - n_capped) / rest
        newly = 0
        for i in range(n):
            if not capped[i] and c * scores[i] >= 1.0:
                capped[i] = True
                newly += 1
        n_capped += newly
        if newly == 0:
            break
    for i in range(n):
        pi[i] = 1.0 if capped[i] else c * scores[i]
    return pi


@njit(nogil=True, cache=True)
def class_inclusion_probabilities_rows(scores, codes, budgets):
    """:func:`inclusion_probabilities` for every class at once, rows in their own order:
    pi_i = min(1, c_k q_i) within class k = codes[i], summing to budgets[k] (0 for a class
    whose budget is 0). Each round of capping is one pass over the rows."""
    n = scores.shape[0]
    k = budgets.shape[0]
    counts = np.zeros(k, dtype=np.int64)
    for i in range(n):
        counts[codes[i]] += 1
    capped = np.zeros(n, dtype=np.bool_)
    n_capped = np.zeros(k)
    for i in range(n):  # a budget of the whole class takes every row at once
        if budgets[codes[i]] >= counts[codes[i]]:
            capped[i] = True
            n_capped[codes[i]] += 1.0
    c = np.zeros(k)
    rest = np.zeros(k)
    while True:
        rest[:] = 0.0
        for i in range(n):
            if not capped[i]:
                rest[codes[i]] += scores[i]
        for j in range(k):
            left = budgets[j] - n_capped[j]
            c[j] = left / rest[j] if rest[j] > 0.0 and budgets[j] > 0 else 0.0
        newly = 0
        for i in range(n):
            if not capped[i] and c[codes[i]] * scores[i] >= 1.0:
                capped[i] = True
                n_capped[codes[i]] += 1.0
                newly += 1
        if newly == 0:
            break
    pi = np.empty(n)
    for i in range(n):
        pi[i] = 1.0 if capped[i] else c[codes[i]] * scores[i]
    return pi


@njit(nogil=True, cache=True)
def random_order(raw, out):
    """A uniformly random permutation of 0..n-1 into ``out`` (n = its length, below 2**32):
    Fisher-Yates, swapping position i with j = floor(raw[i] x (i + 1) / 2**64) for i from
    n - 1 down to 1, ``raw`` uniform 64-bit words (Lemire's multiply-high: each j is off the
    uniform by less than (i + 1) / 2**64). With its words, a million rows take about a
    quarter of the time of NumPy's ``permutation`` here, which draws a bounded integer per
    row (scratch timings: 4 ms against 15-19 ms). Systematic sampling's inclusion
    probabilities are exact for any order; a random one only keeps patterns in the data's
    order from lining up with its grid."""
    n = out.shape[0]
    low = np.uint64(0xFFFFFFFF)
    half = np.uint64(32)
    for i in range(n):
        out[i] = i
    for i in range(n - 1, 0, -1):
        a = raw[i]
        b = np.uint64(i + 1)
        # high 64 bits of a x b for b < 2**32, without overflow: (a_hi b + (a_lo b >> 32)) >> 32
        j = ((a >> half) * b + (((a & low) * b) >> half)) >> half
        t = out[i]
        out[i] = out[j]
        out[j] = t
    return out


@njit(nogil=True, cache=True)
def systematic_select(pi, order, start):
    """Systematic sampling: exactly round(sum(pi)) rows, row i with probability pi[i].

    Rows are visited in ``order`` (a random permutation, so that no pattern in the data's order
    can line up with the sampling grid); ``start`` is uniform in [0, 1). Rows with pi == 1 are
    always taken. Returns the selected row numbers, unsorted.
    """
    n = pi.shape[0]
    total = 0.0
    for i in range(n):
        total += pi[i]
    n_pick = int(np.floor(total + 0.5))
    out = np.empty(n_pick, dtype=np.int64)
    count = 0
    cumulative = 0.0
    target = start
    for t in range(n):
        i = order[t]
        p = pi[i]
        if p >= 1.0:
            if count < n_pick:
                out[count] = i
                count += 1
                target += 1.0
            cumulative += 1.0
            continue
        cumulative += p
        if cumulative > target and count < n_pick:
            out[count] = i
            count += 1
            target += 1.0
    # Rounding can leave the last grid point just past the final cumulative sum; take the
    # remaining rows from the end of the order (they carry the leftover probability mass).
    t = n - 1
    while count < n_pick and t >= 0:
        i = order[t]
        taken = False
        for k in range(count):
            if out[k] == i:
                taken = True
                break
        if not taken:
            out[count] = i
            count += 1
        t -= 1
    return out


@njit(nogil=True, cache=True)
def partition_by_hash(hashes, n_bits):
    """Stable counting sort of rows by the top ``n_bits`` bits of their hash. Returns (row order,
    start of each of the 2**n_bits partitions in it, plus the end; the hashes in that order)."""
    n = hashes.shape[0]
    n_parts = 1 << n_bits
    shift = np.uint64(64 - n_bits)
    starts = np.zeros(n_parts + 1, dtype=np.int64)
    for i in range(n):
        part = np.int64(hashes[i] >> shift) if n_bits > 0 else 0
        starts[part + 1] += 1
    for p in range(n_parts):
        starts[p + 1] += starts[p]
    filled = starts[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    sorted_hashes = np.empty(n, dtype=np.uint64)
    for i in range(n):
        part = np.int64(hashes[i] >> shift) if n_bits > 0 else 0
        order[filled[part]] = i
        sorted_hashes[filled[part]] = hashes[i]
        filled[part] += 1
    return order, starts, sorted_hashes


@njit(nogil=True, cache=True)
def group_partitions(words, labels, sorted_hashes, order, starts, first_part, last_part,
                     representative):  # fmt: skip
    """For partitions first_part..last_part-1: representative[i] = first row with the same bits
    and label as row i. Open addressing per partition (small tables stay in cache), over the
    hashes in partition order (read in sequence); equal hashes are confirmed word by word."""
    k = words.shape[1]
    largest = 0
    for p in range(first_part, last_part):
        largest = max(largest, starts[p + 1] - starts[p])
    size = 1
    while size < 2 * largest:
        size *= 2
    table = np.full(size, -1, dtype=np.int64)  # position (in ``order``) of a group's first row
    for p in range(first_part, last_part):
        count = starts[p + 1] - starts[p]
        if count == 0:
            continue
        local = 1
        while local < 2 * count:
            local *= 2
        mask = np.uint64(local - 1)
        for t in range(starts[p], starts[p + 1]):
            i = order[t]
            h = sorted_hashes[t]
            slot = (h ^ (h >> np.uint64(29))) & mask
            while True:
                u = table[slot]
                if u < 0:
                    table[slot] = t
                    representative[i] = i
                    break
                j = order[u]
                if sorted_hashes[u] == h and labels[j] == labels[i]:
                    same = True
                    for c in range(k):
                        if words[i, c] != words[j, c]:
                            same = False
                            break
                    if same:
                        representative[i] = j
                        break
                slot = (slot + np.uint64(1)) & mask
        table[:local] = -1


@njit(nogil=True, cache=True)
def leverage_residual_block(U, bias, target_row, targets, offset, leverage, residual):
    """Least-squares scores of rows offset..offset+len(U), from U = X_block @ P[:d] of the
    projection P of the augmented matrix [X, 1, y] (``bias`` = P[d], ``target_row`` = P[d + 1]):
    with t = U[i] + bias + y_i * target_row, ``leverage[i]`` = sum of t_j^2 over all columns
    but the last (the leverage of [x_i, 1]) and ``residual[i]`` = the last t (the row's
    residual of the least-squares fit of y on [X, 1], over the residuals' norm)."""
    n, k = U.shape
    for i in range(n):
        y = targets[offset + i]
        s = 0.0
        for j in range(k - 1):
            t = np.float64(U[i, j]) + bias[j] + y * target_row[j]
            s += t * t
        leverage[offset + i] = s
        residual[offset + i] = np.float64(U[i, k - 1]) + bias[k - 1] + y * target_row[k - 1]


@njit(nogil=True, cache=True)
def softmax_residual_rows(S, labels, row_weight, out):
    """The softmax loss's per-row part for the multinomial pilot fit: out[i] = row_weight_i
    (softmax(S_i) - e_{labels_i}) (the logits' gradient, rows of ``out`` in S's dtype); returns
    sum_i row_weight_i (logsumexp(S_i) - S_i[labels_i]), accumulated in float64. One pass over
    the logits instead of NumPy's eight (max, exp, sum, log, two gathers, two scalings)."""
    n, k = S.shape
    loss = 0.0
    for i in range(n):
        top = S[i, 0]
        for j in range(1, k):
            top = max(top, S[i, j])
        total = 0.0
        for j in range(k):
            e = np.exp(S[i, j] - top)
            out[i, j] = e
            total += e
        w = row_weight[i]
        c = labels[i]
        loss += w * (np.log(total) - (S[i, c] - top))
        share = w / total
        for j in range(k):
            out[i, j] *= share
        out[i, c] -= w
    return loss


@njit(nogil=True, cache=True)
def class_weighted_sums_block(X, labels, values, start, stop, out):
    """out[c, :d] += sum of values_i x_i and out[c, d] += sum of values_i over rows
    start..stop of class c = labels_i (float64 accumulation, rows in order)."""
    for i in range(start, stop):
        _add_weighted_row(X, i, labels[i], values[i], out)


@njit(nogil=True, cache=True, inline="always")
def _add_weighted_row(X, i, c, v, out):
    """out[c, :d] += v x_i and out[c, d] += v, in float64."""
    d = X.shape[1]
    for j in range(d):
        out[c, j] += v * np.float64(X[i, j])
    out[c, d] += v


@njit(nogil=True, cache=True)
def miss_weighted_sums_block(X, labels, factor, floor, weights, unit, start, stop, out):
    """:func:`class_weighted_sums_block` with values_i = max(factor_i - floor, 0) x weight_i
    (unit weights: no product) made as each row is read: the pilot pass's per-class sums,
    from its factors without a NumPy pass per block; the same values to the bit as
    ``_calibration.class_gradient_sums`` makes from ``pilot_miss``."""
    for i in range(start, stop):
        v = max(factor[i] - floor, 0.0)
        if not unit:
            v = v * weights[i]
        _add_weighted_row(X, i, labels[i], v, out)


@njit(nogil=True, cache=True, fastmath=True)
def triangular_scores_block(trmm, X, start, stop, upper, last, bias, weights, unit, inv_n,
                            buffer, out):  # fmt: skip
    """Scores of rows start..stop without a pilot, (||[x_i, 1] P|| + inv_n) * weight, for a
    leverage projection P (shape (d + 1, d + 1)) whose first d rows and columns ``upper`` are
    upper triangular (as :func:`coreset_engine._linalg.leverage_projection` makes them):
    x P[:d, :d] by BLAS ``trmm`` (half a GEMM's flops) in place in ``buffer`` (rows x d, the
    compute dtype, the rows cast there first), column d as x . ``last`` (= P[:d, d]) in float64,
    and the bias row ``bias`` (= P[d]) added in float64. ``upper`` is C-ordered in the buffer's
    dtype: read column-major, BLAS sees its lower-triangular transpose and computes
    (x_block P[:d, :d])^T in the column-major view of ``buffer``."""
    m = stop - start
    d = X.shape[1]
    tail = np.empty(m)
    for i in range(m):
        t = 0.0
        for j in range(d):
            buffer[i, j] = X[start + i, j]
            t += np.float64(buffer[i, j]) * last[j]
        tail[i] = t + bias[d]
    ints = np.empty(4, dtype=np.int32)
    ints[0] = d  # rows of B (column-major)
    ints[1] = m  # its columns
    ints[2] = d  # lda
    ints[3] = d  # ldb
    alpha = np.ones(1, dtype=buffer.dtype)
    chars = np.empty(4, dtype=np.uint8)  # side "L", uplo "L", transa "N", diag "N": B := A B
    chars[0] = chars[1] = 76
    chars[2] = chars[3] = 78
    trmm(chars[0:].ctypes, chars[1:].ctypes, chars[2:].ctypes, chars[3:].ctypes,
         ints[0:].ctypes, ints[1:].ctypes, alpha.ctypes, upper.ctypes, ints[2:].ctypes,
         buffer.ctypes, ints[3:].ctypes)  # fmt: skip
    for i in range(m):
        tail[i] *= tail[i]
    _root_leverage_rows(buffer, d, bias, tail, weights, unit, inv_n, start, out)
