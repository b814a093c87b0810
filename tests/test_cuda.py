"""The CUDA backend: validation on any machine, kernels under Numba's CUDA simulator, and checks
on a real GPU (skipped without one).

The simulator (NUMBA_ENABLE_CUDASIM=1) must be set before Numba is imported, so those checks run
in a subprocess: this file run as a script prints their results as JSON. The simulator runs each
CUDA thread as a Python thread, so the arrays are small.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

if not hasattr(np, "row_stack"):  # NumPy >= 2.5 with numba-cuda <= 0.30, before numba.cuda loads
    np.row_stack = np.vstack

from coreset_engine import CoresetTree


def _data(n=3000, d=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = (rng.standard_t(df=4, size=(n, d)) * np.arange(1, d + 1)).astype(dtype)
    y = (X @ np.linspace(0.8, -0.5, d) + rng.normal(size=n) > 0).astype(np.int64)
    return X, y


def _real_gpu() -> bool:
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        return False
    from coreset_engine import _cuda

    return _cuda.unavailable_reason() is None


REAL_GPU = _real_gpu()
needs_gpu = pytest.mark.skipif(
    not REAL_GPU, reason="needs a CUDA GPU with numba-cuda and torch/cupy"
)


# ------------------------------------------------------------------------- any machine
@pytest.mark.parametrize("value", ["gpu", "CUDA", None, 1])
def test_bad_backend_value_names_the_parameter(value):
    X, y = _data(300)
    with pytest.raises(ValueError, match="'backend' parameter of CoresetTree must be one of "
                                         r"\['cpu', 'cuda', 'auto'\]"):  # fmt: skip
        CoresetTree(coreset_size=50, chunk_size=100, backend=value).build(X, y)


@pytest.mark.skipif(REAL_GPU, reason="a usable GPU is present")
def test_cuda_without_gpu_is_a_clear_error(tmp_path):
    X, y = _data(300)
    tree = CoresetTree(coreset_size=50, chunk_size=100, backend="cuda")
    message = r"'backend' parameter of CoresetTree is 'cuda' but .*coreset-engine\[cuda\]"
    with pytest.raises(RuntimeError, match=message):
        tree.build(X, y)
    from coreset_engine.datasets import write_hdf5

    write_hdf5(tmp_path / "data.h5", X, y)
    with pytest.raises(RuntimeError, match=message):
        tree.build_from_file(tmp_path / "data.h5")
    built = CoresetTree(coreset_size=50, chunk_size=100, random_state=0).build(X, y)
    with pytest.raises(RuntimeError, match=message):
        built.set_params(backend="cuda").partial_build(X, y)
    assert built.n_samples_ == 300  # unchanged


@pytest.mark.skipif(REAL_GPU, reason="a usable GPU is present")
def test_auto_without_gpu_builds_the_cpu_tree():
    X, y = _data(6000)
    params = {"coreset_size": 500, "chunk_size": 2000, "random_state": 3}
    auto = CoresetTree(backend="auto", **params).build(X, y)
    cpu = CoresetTree(**params).build(X, y)
    assert auto.backend_ == "cpu" and cpu.backend_ == "cpu"
    for level in range(cpu.depth_ + 1):
        a, b = auto.get_coreset(level), cpu.get_coreset(level)
        np.testing.assert_array_equal(a.indices, b.indices)
        assert a.weights.tobytes() == b.weights.tobytes()


def test_backend_is_saved_and_loaded(tmp_path):
    X, y = _data(2000)
    tree = CoresetTree(coreset_size=200, chunk_size=1000, random_state=0, backend="auto")
    tree.build(X, y).save(tmp_path / "tree.h5")
    loaded = CoresetTree.load(tmp_path / "tree.h5")
    assert loaded.backend == "auto"
    assert loaded.get_params() == tree.get_params()


def test_package_imports_without_touching_numba_cuda():
    code = "import sys, coreset_engine; print('numba.cuda' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------ the CUDA simulator
def _simulator_checks() -> dict:
    """Run in a subprocess with NUMBA_ENABLE_CUDASIM=1: every CUDA kernel against its CPU twin."""
    from coreset_engine import _cuda, _cuda_kernels
    from coreset_engine._cpu import scan_rows, sensitivity_scores
    from coreset_engine._linalg import gram_with_intercept, leverage_projection
    from coreset_engine._pilot import fit_pilot
    from coreset_engine._sampling import row_inclusion_probabilities

    assert _cuda.simulated()
    results: dict = {"auto_selects_gpu": _cuda.auto_selects_gpu(), "cases": []}
    rng = np.random.default_rng(0)
    cases = [  # (name, library, dtype, rows, features, classes); 54 float32 = 27 uint64 words
        ("f32-wide-torch", "torch", np.float32, 300, 54, 7),
        ("f32-odd-numpy", "numpy", np.float32, 600, 7, 3),  # odd width: uint32 words
        ("f64-torch", "torch", np.float64, 600, 5, 2),
    ]
    for name, lib_name, dtype, n, d, n_classes in cases:
        lib = _cuda.library(lib_name)
        labels = rng.integers(0, n_classes, n)
        X = rng.standard_t(3, size=(n, d)) * np.exp(rng.normal(size=d)) + labels[:, None] * 0.3
        X = X.astype(dtype)
        X[n // 2 : n // 2 + 20] = X[:20]  # duplicates hash equal
        labels[n // 2 : n // 2 + 20] = labels[:20]
        weights = rng.random(n) + 0.5
        case: dict = {"name": name, "library": lib.name}
        rows = _cuda.CudaRows.upload(X, labels, lib)
        got, want = rows.scan(hashes=True), scan_rows(X, labels, hashes=True)
        case["first_bad"] = [got.first_bad, want.first_bad]
        case["col_max_equal"] = bool(np.array_equal(got.col_max, want.col_max))
        case["col_sum_rel"] = float(
            np.max(np.abs(got.col_sum - want.col_sum) / np.abs(want.col_sum).max())
        )
        case["hashes_equal"] = bool(np.array_equal(got.hashes, want.hashes))
        case["hashes_dtype"] = str(got.hashes.dtype)
        if lib_name == "numpy":
            case["no_hashes"] = rows.scan(hashes=False).hashes is None
        gram = rows.gram_with_intercept(got.col_max, got.col_sum)
        gram_cpu = gram_with_intercept(X, want.col_max, want.col_sum)
        scale = np.sqrt(np.outer(np.diag(gram_cpu), np.diag(gram_cpu)))
        case["gram_rel"] = float(np.max(np.abs(gram - gram_cpu) / scale))
        projection = leverage_projection(gram_cpu)
        pilot = fit_pilot(X, labels, np.ones(n))
        scores = {"pilot_weighted": (weights, pilot), "plain": (None, None)}
        for key, (w, p) in scores.items():
            a = rows.sensitivity_scores(X, projection, 1 / n, w, labels, p, 0.1, n_classes)
            b = sensitivity_scores(
                X, projection, 1 / n, w, labels, p, 0.1, n_classes, compute_dtype=X.dtype
            )
            case[f"scores_{key}_rel"] = float(np.max(np.abs(a / b - 1)))
        # end to end: each backend with its own Gram matrix, then inclusion probabilities
        a = rows.sensitivity_scores(X, leverage_projection(gram), 1 / n, None, labels, pilot, 0.1,
                                    n_classes)  # fmt: skip
        b = sensitivity_scores(X, projection, 1 / n, None, labels, pilot, 0.1, n_classes,
                               compute_dtype=X.dtype)  # fmt: skip
        case["scores_end_to_end_rel"] = float(np.max(np.abs(a / b - 1)))
        pi_a, budgets_a = row_inclusion_probabilities(a, labels, n_classes, n // 5)
        pi_b, budgets_b = row_inclusion_probabilities(b, labels, n_classes, n // 5)
        case["budgets_equal"] = bool(np.array_equal(budgets_a, budgets_b))
        case["inclusion_rel"] = float(np.max(np.abs(pi_a - pi_b) / pi_b))
        # a gathered subset (rows kept after merging duplicates)
        keep = np.sort(rng.choice(n, n // 3, replace=False))
        sub = rows.take(keep)
        a = sub.sensitivity_scores(X[keep], projection, 1 / n, weights[keep], labels[keep], pilot,
                                   0.1, n_classes)  # fmt: skip
        b = sensitivity_scores(X[keep], projection, 1 / n, weights[keep], labels[keep], pilot, 0.1,
                               n_classes, compute_dtype=X.dtype)  # fmt: skip
        case["take_scores_rel"] = float(np.max(np.abs(a / b - 1)))
        # bad values: the first bad row, whichever column and block
        bad = X.copy()
        bad[n - 3, d - 1] = np.inf
        bad[n // 3, 0] = np.nan
        case["bad_row"] = [_cuda.CudaRows.upload(bad, labels, lib).scan(hashes=True).first_bad,
                           scan_rows(bad, labels, hashes=True).first_bad]  # fmt: skip
        results["cases"].append(case)

    # the untiled kernels (rows too wide for a shared tile), forced by shrinking the host's
    # idea of the tile sizes (the simulator reads them at run time)
    lib = _cuda.library("torch")
    n, d = 300, 6
    labels = rng.integers(0, 3, n)
    X = rng.normal(size=(n, d)).astype(np.float32)
    rows = _cuda.CudaRows.upload(X, labels, lib)
    pilot = fit_pilot(X, labels, np.ones(n))
    projection = leverage_projection(gram_with_intercept(X, np.abs(X).max(axis=0)))
    saved = _cuda_kernels.HASH_TILE_WORDS, _cuda_kernels.SCORE_TILE_F32
    _cuda_kernels.HASH_TILE_WORDS = _cuda_kernels.SCORE_TILE_F32 = 0
    try:
        hashes = rows.scan(hashes=True).hashes
        scores = rows.sensitivity_scores(X, projection, 1 / n, None, labels, pilot, 0.1, 3)
    finally:
        _cuda_kernels.HASH_TILE_WORDS, _cuda_kernels.SCORE_TILE_F32 = saved
    results["global_hashes_equal"] = bool(
        np.array_equal(hashes, scan_rows(X, labels, hashes=True).hashes)
    )
    cpu = sensitivity_scores(
        X, projection, 1 / n, None, labels, pilot, 0.1, 3, compute_dtype=X.dtype
    )
    results["global_scores_rel"] = float(np.max(np.abs(scores / cpu - 1)))

    # float32 rows whose one-hot block float32 products break: both take float64 products
    onehot = np.eye(4)[rng.choice(4, size=20_000, p=[0.6, 0.3, 0.09, 0.01])]
    z = rng.normal(size=20_000)
    X = np.column_stack([z * 3 + 40, z * 3 + 40.05, onehot]).astype(np.float32)
    col_max = np.abs(X).max(axis=0).astype(np.float64)
    col_sum = X.sum(axis=0, dtype=np.float64)
    rows = _cuda.CudaRows.upload(X, np.zeros(len(X), dtype=np.int64), _cuda.library("numpy"))
    gram_cpu = gram_with_intercept(X, col_max, col_sum)
    results["one_hot_f32_gram_rel"] = float(
        np.max(np.abs(rows.gram_with_intercept(col_max, col_sum) - gram_cpu) / gram_cpu.max())
    )
    results["one_hot_f32_gram_exact"] = bool(
        np.array_equal(gram_cpu, gram_with_intercept(X.astype(np.float64), col_max, col_sum))
    )

    # a whole tree: leaves on the "GPU" (the threshold lowered), merges on the CPU
    from coreset_engine import CoresetTree

    _cuda.MIN_ROWS = 0
    X, y = _data(n=1600, d=3, seed=1, dtype=np.float32)
    X[800:900] = X[:100]  # duplicates across the two leaves and within the second
    y[800:900] = y[:100]
    params = {"coreset_size": 200, "chunk_size": 800, "method": "l2s", "random_state": 0}
    gpu = CoresetTree(backend="cuda", **params).build(X, y)
    cpu = CoresetTree(backend="cpu", **params).build(X, y)
    results["tree"] = {
        "backend_": gpu.backend_,
        "depth": [gpu.depth_, cpu.depth_],
        "sizes": [[len(t.get_coreset(level)) for level in range(t.depth_ + 1)] for t in (gpu, cpu)],
        "weight_sums": [float(t.get_coreset().weights.sum()) for t in (gpu, cpu)],
        "same_indices": all(
            np.array_equal(gpu.get_coreset(level).indices, cpu.get_coreset(level).indices)
            for level in range(cpu.depth_ + 1)
        ),
        "weights_rel": max(
            float(
                np.max(np.abs(gpu.get_coreset(level).weights / cpu.get_coreset(level).weights - 1))
            )
            for level in range(cpu.depth_ + 1)
        ),
    }
    return results


@pytest.fixture(scope="module")
def simulated():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", CORESET_ENGINE_THREADS="1")
    env.pop("CORESET_ENGINE_GEMM", None)
    out = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True,
                         timeout=900, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_simulator_is_never_auto(simulated):
    assert simulated["auto_selects_gpu"] is False


def test_simulated_scan_matches_cpu(simulated):
    for case in simulated["cases"]:
        assert case["first_bad"] == [-1, -1], case["name"]
        assert case["col_max_equal"], case["name"]
        assert case["col_sum_rel"] < 1e-12, case["name"]
        assert case["bad_row"][0] == case["bad_row"][1] >= 0, case["name"]
        assert case.get("no_hashes", True), case["name"]


def test_simulated_hashes_are_bit_equal(simulated):
    for case in simulated["cases"]:
        assert case["hashes_equal"] and case["hashes_dtype"] == "uint64", case["name"]
    assert simulated["global_hashes_equal"]


def test_simulated_gram_and_scores_match_cpu(simulated):
    for case in simulated["cases"]:
        tolerance = 1e-5 if case["name"].startswith("f32") else 1e-12
        assert case["gram_rel"] < tolerance, case
        for key in ("pilot_weighted", "plain"):
            assert case[f"scores_{key}_rel"] < tolerance, (case["name"], key)
        assert case["take_scores_rel"] < tolerance, case["name"]
        assert case["scores_end_to_end_rel"] < 10 * tolerance, case["name"]
    assert simulated["global_scores_rel"] < 1e-5
    # where float32 products break a one-hot null direction, both backends take float64 ones
    assert simulated["one_hot_f32_gram_exact"]
    assert simulated["one_hot_f32_gram_rel"] < 1e-12


def test_simulated_sampling_probabilities_match_cpu(simulated):
    for case in simulated["cases"]:
        tolerance = 1e-4 if case["name"].startswith("f32") else 1e-10
        assert case["budgets_equal"], case["name"]
        assert case["inclusion_rel"] < tolerance, case["name"]


def test_simulated_tree_matches_cpu_tree(simulated):
    tree = simulated["tree"]
    assert tree["backend_"] == "cuda"
    assert tree["depth"][0] == tree["depth"][1]
    assert tree["sizes"][0] == tree["sizes"][1]
    assert abs(tree["weight_sums"][0] / tree["weight_sums"][1] - 1) < 1e-4
    # float rounding may move a row across a sampling threshold, rarely: on this data it does not
    assert tree["same_indices"] and tree["weights_rel"] < 1e-4


# ------------------------------------------------------------------------- a real GPU
@needs_gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_passes_match_cpu(dtype):
    from coreset_engine import _cuda
    from coreset_engine._cpu import scan_rows, sensitivity_scores
    from coreset_engine._linalg import gram_with_intercept, leverage_projection
    from coreset_engine._pilot import fit_pilot
    from coreset_engine._sampling import row_inclusion_probabilities

    rng = np.random.default_rng(0)
    n, d, n_classes = 300_000, 54, 7
    labels = rng.integers(0, n_classes, n)
    X = rng.standard_t(3, size=(n, d)) * np.exp(rng.normal(size=d)) + labels[:, None] * 0.3
    X = X.astype(dtype)
    X[1000:2000] = X[:1000]
    labels[1000:2000] = labels[:1000]
    rows = _cuda.CudaRows.upload(X, labels)
    got, want = rows.scan(hashes=True), scan_rows(X, labels, hashes=True)
    assert got.first_bad == want.first_bad == -1
    np.testing.assert_array_equal(got.col_max, want.col_max)
    np.testing.assert_allclose(got.col_sum, want.col_sum, rtol=1e-10)
    np.testing.assert_array_equal(got.hashes, want.hashes)
    gram = rows.gram_with_intercept(got.col_max, got.col_sum)
    gram_cpu = gram_with_intercept(X, want.col_max, want.col_sum)
    scale = np.sqrt(np.outer(np.diag(gram_cpu), np.diag(gram_cpu)))
    assert np.max(np.abs(gram - gram_cpu) / scale) < (1e-5 if dtype == np.float32 else 1e-12)
    pilot = fit_pilot(X[:5000], labels[:5000], np.ones(5000))
    weights = rng.random(n) + 0.5
    projection = leverage_projection(gram_cpu)
    a = rows.sensitivity_scores(X, projection, 1 / n, weights, labels, pilot, 0.1, n_classes)
    b = sensitivity_scores(X, projection, 1 / n, weights, labels, pilot, 0.1, n_classes,
                           compute_dtype=X.dtype)  # fmt: skip
    np.testing.assert_allclose(a, b, rtol=1e-5 if dtype == np.float32 else 1e-11)
    a = rows.sensitivity_scores(X, leverage_projection(gram), 1 / n, None, labels, pilot, 0.1,
                                n_classes)  # fmt: skip
    b = sensitivity_scores(X, projection, 1 / n, None, labels, pilot, 0.1, n_classes,
                           compute_dtype=X.dtype)  # fmt: skip
    pi_a, _ = row_inclusion_probabilities(a, labels, n_classes, 20_000)
    pi_b, _ = row_inclusion_probabilities(b, labels, n_classes, 20_000)
    assert np.max(np.abs(pi_a - pi_b) / pi_b) < (1e-4 if dtype == np.float32 else 1e-9)


@needs_gpu
def test_gpu_tree_against_cpu_tree():
    X, y = _data(n=700_000, d=10, seed=2, dtype=np.float32)
    params = {"coreset_size": 5000, "chunk_size": 300_000, "random_state": 0}
    gpu = CoresetTree(backend="cuda", **params).build(X, y)
    cpu = CoresetTree(backend="cpu", **params).build(X, y)
    assert CoresetTree(backend="auto", **params).build(X[:1000], y[:1000]).backend_ == "cuda"
    assert gpu.backend_ == "cuda" and gpu.depth_ == cpu.depth_
    for level in range(cpu.depth_ + 1):
        a, b = gpu.get_coreset(level), cpu.get_coreset(level)
        assert len(a) == len(b)
        assert abs(a.weights.sum() / b.weights.sum() - 1) < 0.02
        # the same distribution: nearly all the same rows (rounding moves a few across thresholds)
        assert np.intersect1d(a.indices, b.indices).size > 0.95 * len(b)


if __name__ == "__main__":
    print(json.dumps(_simulator_checks()))
