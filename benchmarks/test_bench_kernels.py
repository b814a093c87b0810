"""pytest-benchmark suite for the Numba kernels, the linear algebra and the tree build.

    python -m pytest benchmarks/test_bench_kernels.py                        # 100,000 rows
    CORESET_BENCH_LARGE=1 python -m pytest benchmarks/test_bench_kernels.py  # + 2,000,000 rows
    python -m pytest benchmarks/test_bench_kernels.py --benchmark-save=base  # keep for compare

Data are the synthetic rows of ``coreset_engine.synthetic`` (54 heavy-tailed float32 features,
7 imbalanced classes). Every benchmark runs its function once untimed first (``warmup_rounds``),
so Numba compilation or cache loading is never measured. Not collected by a plain
``python -m pytest`` (testpaths is ``tests``).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")

from coreset_engine import CoresetTree
from coreset_engine._cpu import scan_rows, sensitivity_scores
from coreset_engine._dedup import merge_duplicates
from coreset_engine._kernels import inclusion_probabilities, systematic_select
from coreset_engine._linalg import (
    gram_with_intercept,
    leverage_projection,
    projected_row_norms,
)
from coreset_engine.synthetic import make_synthetic

LARGE = os.environ.get("CORESET_BENCH_LARGE", "") not in ("", "0")
ROWS = [100_000] + ([2_000_000] if LARGE else [])
ROUNDS = 5


def _run(benchmark, function, *args):
    """Time ``function(*args)``: one untimed warm-up call, then ``ROUNDS`` timed calls."""
    return benchmark.pedantic(function, args=args, rounds=ROUNDS, iterations=1,
                              warmup_rounds=1)  # fmt: skip


@pytest.fixture(scope="module", params=ROWS, ids=lambda rows: f"{rows}rows")
def data(request):
    X, y = make_synthetic(request.param)
    return X, y


@pytest.fixture(scope="module")
def projection(data):
    X, _ = data
    scan = scan_rows(X)
    return leverage_projection(gram_with_intercept(X, scan.col_max, scan.col_sum))


@pytest.mark.benchmark(group="kernels")
def test_scan_rows_with_hashes(benchmark, data):
    X, y = data
    scan = _run(benchmark, lambda: scan_rows(X, y, hashes=True))
    assert scan.first_bad == -1 and scan.hashes.shape == (X.shape[0],)


@pytest.mark.benchmark(group="kernels")
def test_gram_with_intercept(benchmark, data):
    X = data[0]
    scan = scan_rows(X)
    gram = _run(benchmark, gram_with_intercept, X, scan.col_max, scan.col_sum)
    assert gram.shape == (X.shape[1] + 1, X.shape[1] + 1) and gram[-1, -1] == X.shape[0]


@pytest.mark.benchmark(group="kernels")
def test_leverage_row_norms(benchmark, data, projection):
    norms = _run(benchmark, projected_row_norms, data[0], projection)
    # squared norms are leverage scores: they sum to the rank, d + 1
    assert abs((norms**2).sum() - (data[0].shape[1] + 1)) < 1e-3 * data[0].shape[1]


@pytest.mark.benchmark(group="kernels")
def test_inclusion_probabilities(benchmark, data, projection):
    scores = projected_row_norms(data[0], projection) + 1.0 / data[0].shape[0]
    pi = _run(benchmark, inclusion_probabilities, scores, 20_000)
    assert abs(pi.sum() - 20_000) < 1e-6 * 20_000 and pi.max() <= 1.0


@pytest.mark.benchmark(group="kernels")
def test_systematic_select(benchmark, data, projection):
    scores = projected_row_norms(data[0], projection) + 1.0 / data[0].shape[0]
    pi = inclusion_probabilities(scores, 20_000)
    order = np.random.default_rng(0).permutation(pi.size)
    chosen = _run(benchmark, systematic_select, pi, order, 0.5)
    assert chosen.size == 20_000 and np.unique(chosen).size == 20_000


@pytest.mark.benchmark(group="kernels")
def test_sensitivity_scores_with_pilot(benchmark, data, projection):
    from coreset_engine._pilot import fit_pilot

    X, y = data
    pilot = fit_pilot(X[:5000], y[:5000], np.ones(5000))
    n_classes = int(y.max()) + 1
    scores = _run(benchmark, sensitivity_scores, X, projection, 1.0 / X.shape[0], None, y,
                  pilot, 0.1, n_classes)  # fmt: skip
    assert scores.shape == (X.shape[0],) and (scores > 0).all()


@pytest.mark.benchmark(group="kernels")
def test_merge_duplicates_half_repeated(benchmark, data):
    X, y = data
    half = X.shape[0] // 2
    X_repeated = np.concatenate([X[:half], X[:half]])
    y_repeated = np.concatenate([y[:half], y[:half]])
    keep, summed = _run(benchmark, merge_duplicates, X_repeated, y_repeated, None)
    assert keep.size == half and summed.sum() == 2 * half


@pytest.mark.benchmark(group="build")
@pytest.mark.parametrize("method", ["uniform", "l2s", "sensitivity"])
def test_tree_build(benchmark, data, method):
    X, y = data
    chunk = max(X.shape[0] // 4, 25_000)  # four leaves: leaves, merges and the pilot refits

    def build():
        tree = CoresetTree(coreset_size=5_000, chunk_size=chunk, method=method, random_state=0)
        return tree.build(X, y)

    tree = _run(benchmark, build)
    assert len(tree.get_coreset()) == 5_000 and tree.n_samples_ == X.shape[0]
