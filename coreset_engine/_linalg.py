"""Gram matrices and the leverage-score projection built from their Cholesky factor.

Leverage scores of Z = [X, 1] are label-independent (the +-1 row signs cancel in Z^T Z), so one
Gram matrix per node serves every class. Scores come from one product with the inverted
Cholesky factor, ||z_i L^{-T}||: a triangular matrix, so on the CPU BLAS trmm (half a GEMM's
flops; a sketched projection and the CUDA backend use a GEMM). QR and triangular solves over all
rows are an order of magnitude slower.

The Gram matrix stays float64 for float64 rows. Tried and dropped: float32 products of the rows
centred on their means (bench_passes: 0.293 -> 0.219 CPU-s per million rows at 94 columns).
One-hot blocks and the intercept make the Gram exactly singular, and float32 products left that
null direction with negative eigenvalues of the order of float32's precision (a one-off check
on KDD Cup '99, not kept): the Cholesky factorisation then needed a jitter of 1e-4 instead of
1e-10, which moved leverage scores by several percent. The same happens to float32 rows
themselves where columns are exactly dependent (one-hot blocks beside the intercept): Bank
Marketing in float32 needed a jitter of 1e-4, and its leverage scores moved by up to 61% (a
one-off check; its loss ratios at 1,000 and 2,000 rows did not move measurably). So a
float32 Gram that does not factorise with the smallest jitter is made again from float64
products of the same rows (:func:`factorizes`); other float32 rows keep float32 BLAS.
"""

from __future__ import annotations

import functools

import numpy as np

from ._cpu import iter_blocks, sensitivity_scores

# Above this, squares of float32 entries summed over a chunk could overflow float32 BLAS.
_FLOAT32_SAFE_SQUARE_SUM = 1e36
_PROJECTION_BLOCK_ROWS = 131072  # rows per block of the float64 fallback Gram
_RELATIVE_JITTER = 1e-10


def gram_with_intercept(
    X: np.ndarray, col_max: np.ndarray, col_sum: np.ndarray | None = None, *,
    float64_products: bool = False,
) -> np.ndarray:  # fmt: skip
    """Return [X, 1]^T [X, 1] in float64, shape (d + 1, d + 1).

    Partial Gram matrices of fixed row blocks run in parallel threads (single-threaded BLAS
    each) and are added in float64 in block order. float32 input uses float32 BLAS unless its
    magnitudes could overflow; then the Gram is accumulated in float64 over column-scaled
    blocks, so values such as 1e30 stay finite. Where float32 products leave a Gram that does
    not factorise (:func:`factorizes`), it is made again from float64 products;
    ``float64_products`` asks for those from the start (a caller that found a larger Gram built
    on this one unfactorisable: the least-squares task's [X, 1, y]). ``col_max`` is max |x|
    per column; ``col_sum`` the column sums if known.
    """

    def products(kind: str, col_scale: np.ndarray | None = None) -> np.ndarray:
        if kind == "native":
            return _block_gram(X, X.dtype)
        if kind == "float64":
            return _block_gram(X, np.float64)
        return _scaled_gram(X, np.ones(X.shape[1]) if col_scale is None else col_scale)

    column_sums = X.sum(axis=0, dtype=np.float64) if col_sum is None else col_sum
    return gram_from_products(X.shape[0], X.dtype, col_max, column_sums, products,
                              float64_products=float64_products)  # fmt: skip


def gram_from_products(
    n: int, dtype, col_max: np.ndarray, col_sum: np.ndarray, products, *,
    float64_products: bool = False,
) -> np.ndarray:  # fmt: skip
    """[X, 1]^T [X, 1] in float64 for n rows of ``dtype`` with column maxima |x| ``col_max``
    and sums ``col_sum``, from a backend's X^T X: ``products(kind)`` with kind "native" (in
    the rows' dtype), "float64" (float64 products), "wide" (float64, for float32 rows whose
    squares could overflow float32) or "scaled" (float64 products of the columns divided by
    ``col_scale``, its second argument). Which kind, and the float64 remake of a float32 Gram
    that does not factorise, are decided here for every backend (:func:`gram_with_intercept`
    on the CPU, ``_cuda.CudaRows.gram_with_intercept``)."""
    d = col_max.shape[0]
    gram = np.empty((d + 1, d + 1))
    scale = float(col_max.max()) if d else 0.0
    square_sum_bound = scale * scale * max(n, 1)
    float32_products = False
    if float64_products and square_sum_bound < 1e300:
        gram[:d, :d] = products("float64")
    elif (
        dtype == np.float64
        and square_sum_bound < 1e300
        or dtype == np.float32
        and square_sum_bound < _FLOAT32_SAFE_SQUARE_SUM
    ):
        gram[:d, :d] = products("native")
        float32_products = dtype == np.float32
    elif square_sum_bound < 1e300:
        gram[:d, :d] = products("wide")
    else:
        col_scale = np.where(col_max > 0, col_max, 1.0)
        gram[:d, :d] = products("scaled", col_scale) * np.outer(col_scale, col_scale)
    gram[:d, d] = col_sum
    gram[d, :d] = col_sum
    gram[d, d] = n
    if float32_products and not factorizes(gram):  # rounding broke an exact null direction
        gram[:d, :d] = products("float64")
    return gram


def _block_gram(X: np.ndarray, dtype) -> np.ndarray:
    """X^T X in float64, from products in ``dtype`` of fixed row blocks (in parallel
    threads), added in block order."""
    d = X.shape[1]
    out = np.zeros((d, d))
    cast = X.dtype != dtype
    for part in iter_blocks(
        lambda a, b: _self_product(X[a:b].astype(dtype) if cast else X[a:b]), X.shape[0]
    ):
        out += part
    return out


def factorizes(gram: np.ndarray) -> bool:
    """Whether the Gram matrix, scaled to unit diagonal, takes a Cholesky factorisation with
    the smallest jitter :func:`leverage_projection` tries.

    Float32 products of float32 rows usually do. Where columns are exactly dependent, as one-hot
    blocks are with the intercept, float32 rounding can leave that null direction with a
    negative eigenvalue (Bank Marketing in float32, a one-off check: -1e-6). The jitter then
    had to grow to 1e-4, which damped every direction with a small eigenvalue: leverage scores
    moved by 1% (median) to 61%, and two of 52 dimensions were lost (the test on synthetic
    one-hot rows: root leverage off by up to 31%). :func:`gram_with_intercept` then
    takes float64 products of the same rows instead (exact null directions stay null to
    float64 rounding)."""
    normalized, _ = _unit_diagonal(gram)
    try:
        np.linalg.cholesky(normalized + _RELATIVE_JITTER * np.eye(gram.shape[0]))
    except np.linalg.LinAlgError:
        return False
    return True


def _unit_diagonal(gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(gram scaled to unit diagonal, the square roots of its diagonal; zeros taken as 1)."""
    diag = np.sqrt(np.clip(np.diag(gram), 0.0, None))
    diag[diag == 0] = 1.0
    return gram / np.outer(diag, diag), diag


def augmented_gram(X: np.ndarray, targets: np.ndarray, gram: np.ndarray) -> np.ndarray:
    """[X, 1, y]^T [X, 1, y] in float64, shape (d + 2, d + 2), from ``gram`` = [X, 1]^T [X, 1]
    (:func:`gram_with_intercept`): the cross terms X^T y, sum(y) and y^T y are added in
    float64, block by block in block order (the same sums on any number of threads)."""
    d = X.shape[1]
    out = np.empty((d + 2, d + 2))
    out[: d + 1, : d + 1] = gram
    cross = np.zeros(d + 2)
    for part in iter_blocks(lambda a, b: _target_products(X[a:b], targets[a:b]), X.shape[0]):
        cross += part
    out[d + 1, :] = cross
    out[:, d + 1] = cross
    return out


def _target_products(block: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """[X^T y, sum(y), y^T y] of one block, float64."""
    d = block.shape[1]
    out = np.empty(d + 2)
    out[:d] = targets @ block if block.dtype == np.float64 else targets @ block.astype(np.float64)
    out[d] = targets.sum()
    out[d + 1] = targets @ targets
    return out


def _self_product(block: np.ndarray) -> np.ndarray:
    return (block.T @ block).astype(np.float64)  # one operand, so NumPy calls BLAS syrk


def _scaled_gram(X: np.ndarray, col_scale: np.ndarray) -> np.ndarray:
    d = X.shape[1]
    out = np.zeros((d, d))
    for start in range(0, X.shape[0], _PROJECTION_BLOCK_ROWS):
        block = X[start : start + _PROJECTION_BLOCK_ROWS].astype(np.float64) / col_scale
        out += block.T @ block
    return out


def leverage_projection(gram: np.ndarray, sketch: np.ndarray | None = None) -> np.ndarray:
    """Matrix P, shape (d + 1, k), with ||[x, 1] P|| = sqrt(leverage of [x, 1]).

    The Gram matrix is first scaled to unit diagonal (leverage is invariant to column scaling,
    and this keeps the Cholesky factorisation well conditioned), then a tiny relative jitter makes
    rank-deficient data (constant or duplicated columns) factorisable. ``sketch`` (shape
    (d + 1, k)) is an optional Johnson-Lindenstrauss matrix that shortens the projection.
    """
    normalized, diag = _unit_diagonal(gram)
    jitter = _RELATIVE_JITTER
    identity = np.eye(gram.shape[0])
    while True:
        try:
            chol = np.linalg.cholesky(normalized + jitter * identity)
            break
        except np.linalg.LinAlgError:
            jitter *= 100.0
            if jitter > 1.0:
                raise
    # L^{-1} is lower triangular; the LU solve leaves rounding noise above the
    # diagonal, cleared so the scoring pass sees a triangular projection (BLAS trmm)
    chol_inv = np.tril(np.linalg.solve(chol, identity))
    projection = (chol_inv / diag).T  # (L^{-1} D^{-1})^T
    if sketch is not None:
        projection = projection @ sketch
    return projection


@functools.lru_cache(maxsize=16)
def jl_sketch(seed: int, rows: int, k: int) -> np.ndarray:
    """A (rows, k) Gaussian Johnson-Lindenstrauss matrix scaled by 1 / sqrt(k), fixed by the
    tree's seed (so a saved tree continues with the same one). Read-only."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1 << 41,)))
    sketch = rng.standard_normal((rows, k)) / np.sqrt(k)
    sketch.flags.writeable = False
    return sketch


def projected_row_norms(X: np.ndarray, projection: np.ndarray) -> np.ndarray:
    """||[x_i, 1] P||_2 for every row, in float64 (in the rows' dtype, blocks of rows times P by
    BLAS trmm when P is a triangular leverage projection, else by a GEMM, plus a fused Numba
    kernel)."""
    return sensitivity_scores(X, projection, 0.0, compute_dtype=X.dtype)
