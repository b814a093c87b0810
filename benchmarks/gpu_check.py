"""One prepared check of the CUDA backend on a GPU machine (H100/H200), run once.

    python -m benchmarks.gpu_check                       # 46,000,000 x 54 float32 file in /tmp
    python -m benchmarks.gpu_check --rows 10000000 --path /data/big.h5
    NUMBA_ENABLE_CUDASIM=1 python -m benchmarks.gpu_check --rows 20000 --simulate   # smoke test

Stages (the JSON summary is rewritten after each, so a run cut short still leaves one):

1. environment: versions, GPU, GEMM library. Exits 2 with a message when no GPU is usable;
2. data: writes the synthetic file (``coreset_engine.synthetic``; blocks generated in parallel
   processes, the same rows as ``make_synthetic_hdf5``) unless it exists;
3. check: on the first ``--check-rows`` rows, the CUDA passes against the CPU passes (first bad
   row, column max and sums, row hashes bit for bit, Gram matrix, scores, inclusion
   probabilities), and a tree built on each backend;
4. build: plain chunked read of the whole file (page cache, after a warming read) vs
   ``CoresetTree(backend="cuda").build_from_file``: done when build <= 1.3 x read;
5. compute: scan + Gram + scores over all rows already resident in GPU memory
   (synchronised): done when <= 0.1 s. Also times the Gram matrix through torch and cupy.

Writes ``--out`` (default ``$OUT/gpu_check.json`` when $OUT is set). Exit status 0 when every
check passes, 1 when one fails. ``--simulate`` runs everything under Numba's CUDA simulator at
tiny sizes (the GPU stages on the first ``--sim-rows`` rows), to catch bugs before a GPU run;
its timings mean nothing.
"""

from __future__ import annotations

import os
import sys

import numpy as np

if not hasattr(np, "row_stack"):  # removed in NumPy 2.5; numba-cuda 0.30 still calls it
    np.row_stack = np.vstack
if "--simulate" in sys.argv:  # before Numba is imported
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import argparse
import json
import math
import platform
import time
import traceback

import h5py

READ_RATIO_LIMIT = 1.3
COMPUTE_LIMIT_SECONDS = 0.1
#: Pass limits for CUDA vs CPU (float32 data: GEMMs round differently on the two sides).
#: The CUDA tree's mean excess loss (ratio - 1, over TREE_SEEDS seeds) may exceed the CPU tree's
#: by this factor plus this slack: seed noise at a few seeds, not a systematic loss.
TREE_SEEDS = 3
TREE_EXCESS_FACTOR = 1.5
TREE_EXCESS_SLACK = 0.002
LIMITS = {
    "col_sum_rel": 1e-10,
    "gram_rel": 1e-5,
    "scores_rel": 1e-4,  # same projection: the kernels and GEMMs alone
    "scores_end_to_end_rel": 1e-3,  # each backend from its own Gram matrix
    "inclusion_rel": 1e-3,
}


class Report:
    def __init__(self, path: str | None, simulate: bool = False):
        self.path = path
        self.simulate = simulate
        self.data: dict = {"checks": {}, "stages": {}}

    def check(self, name: str, passed: bool, **details) -> None:
        self.data["checks"][name] = {"passed": bool(passed), **details}
        print(f"  [{'ok' if passed else 'FAIL'}] {name} {details}", flush=True)

    def timing(self, name: str, met: bool, **details) -> None:
        """A timing criterion: not judged under the simulator (recorded as met or not)."""
        if self.simulate:
            self.check(name, True, limit_met=bool(met), note="simulated: not judged", **details)
        else:
            self.check(name, met, **details)

    def save(self) -> None:
        self.data["passed"] = all(c["passed"] for c in self.data["checks"].values())
        if self.path:
            folder = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(folder, exist_ok=True)
            with open(self.path, "w") as handle:
                json.dump(self.data, handle, indent=1, default=_jsonable)


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _version(module: str, distribution: str | None = None):
    from importlib import metadata

    try:
        return metadata.version(distribution or module)
    except metadata.PackageNotFoundError:
        return None


# ------------------------------------------------------------------------------ stage 1
def environment(simulate: bool) -> dict:
    from coreset_engine import _cuda

    info = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": _version("numba"),
        "numba_cuda": _version("numba-cuda"),
        "torch": _version("torch"),
        "cupy": _version("cupy-cuda12x") or _version("cupy-cuda13x") or _version("cupy"),
        "h5py": h5py.__version__,
        "scikit_learn": _version("scikit-learn"),
        "cpus": len(os.sched_getaffinity(0)),
        "simulated": _cuda.simulated(),
    }
    if simulate and not _cuda.simulated():
        raise SystemExit("--simulate needs NUMBA_ENABLE_CUDASIM=1 set before Numba is imported.")
    if not simulate and _cuda.simulated():
        raise SystemExit("NUMBA_ENABLE_CUDASIM is set: pass --simulate for a smoke test, or "
                         "unset it for the real check.")  # fmt: skip
    reason = _cuda.unavailable_reason()
    if reason is not None:
        print(f"gpu_check: the CUDA backend cannot run here: {reason}.", file=sys.stderr)
        print("Run it on a machine with an NVIDIA GPU, numba-cuda and torch or cupy "
              "(pip install coreset-engine[cuda]); for a smoke test on the CPU: "
              "NUMBA_ENABLE_CUDASIM=1 python -m benchmarks.gpu_check --rows 20000 --simulate",
              file=sys.stderr)  # fmt: skip
        raise SystemExit(2)
    lib = _cuda.library()
    info["gemm_library"] = lib.name
    if not simulate:
        from numba import cuda

        device = cuda.get_current_device()
        info["gpu"] = device.name.decode() if isinstance(device.name, bytes) else str(device.name)
        info["compute_capability"] = list(device.compute_capability)
        if lib.name == "torch":
            info["torch_cuda"] = lib.torch.version.cuda
            info["gpu_memory_gb"] = lib.torch.cuda.get_device_properties(0).total_memory / 1e9
    return info


# ------------------------------------------------------------------------------ stage 2
def _make_block(task):
    start, rows, n_features, n_classes, seed = task
    from coreset_engine.synthetic import _block, _model

    X, y = _block(_model(n_features, n_classes, seed), seed, start, rows)
    return start, X.astype(np.float32), y.astype(np.int64)


def write_data(path: str, rows: int, features: int, workers: int) -> dict:
    """The rows of ``make_synthetic_hdf5(path, rows, n_features=features)`` (7 classes, seed 0,
    float32), with the 1M-row blocks generated in ``workers`` processes."""
    from coreset_engine import synthetic

    started = time.perf_counter()
    block_rows = synthetic._BLOCK_ROWS
    if workers <= 1 or rows <= block_rows:
        synthetic.make_synthetic_hdf5(path, rows, n_features=features)
    else:
        import multiprocessing
        import tempfile

        folder = os.path.dirname(os.path.abspath(path))
        fd, temporary = tempfile.mkstemp(prefix=".gpu-check-", suffix=".h5.part", dir=folder)
        os.close(fd)
        tasks = [(start, min(block_rows, rows - start), features, 7, 0)
                 for start in range(0, rows, block_rows)]  # fmt: skip
        try:
            with h5py.File(temporary, "w") as handle:
                chunk_rows = 65_536  # make_synthetic_hdf5's storage chunks
                X_out = handle.create_dataset("X", shape=(rows, features), dtype=np.float32,
                                              chunks=(min(chunk_rows, rows), features))  # fmt: skip
                y_out = handle.create_dataset("y", shape=(rows,), dtype=np.int64,
                                              chunks=(min(chunk_rows * 16, rows),))  # fmt: skip
                context = multiprocessing.get_context("spawn")  # no fork after CUDA starts
                with context.Pool(workers) as pool:
                    for start, X, y in pool.imap(_make_block, tasks):
                        X_out[start : start + X.shape[0]] = X
                        y_out[start : start + X.shape[0]] = y
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.remove(temporary)
            raise
    return {"seconds": time.perf_counter() - started, "workers": workers}


# ------------------------------------------------------------------------------ stage 3
def _max_rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))) if b.size else 0.0


def check_against_cpu(report: Report, path: str, rows: int, size: int, simulate: bool) -> dict:
    from coreset_engine import CoresetTree, _cuda
    from coreset_engine._cpu import blas_single_thread, scan_rows, sensitivity_scores
    from coreset_engine._linalg import gram_with_intercept, leverage_projection
    from coreset_engine._pilot import fit_pilot
    from coreset_engine._sampling import row_inclusion_probabilities
    from coreset_engine.methods._sensitivity import PILOT_FLOOR

    with h5py.File(path, "r") as handle:
        X = handle["X"][:rows]
        labels = handle["y"][:rows].astype(np.int64)
    n, d = X.shape
    n_classes = int(labels.max()) + 1
    out: dict = {"rows": n, "features": d, "classes": n_classes}
    pilot_rows = min(n, 5000)
    pilot = fit_pilot(X[:pilot_rows], labels[:pilot_rows], np.ones(pilot_rows))
    weights = np.random.default_rng(0).random(n) + 0.5

    started = time.perf_counter()
    with blas_single_thread():
        cpu_scan = scan_rows(X, labels, hashes=True)
        cpu_gram = gram_with_intercept(X, cpu_scan.col_max, cpu_scan.col_sum)
        projection = leverage_projection(cpu_gram)
        cpu_scores = sensitivity_scores(X, projection, 1 / n, weights, labels, pilot, PILOT_FLOOR,
                                        n_classes)  # fmt: skip
        cpu_plain = sensitivity_scores(X, projection, 1 / n)
        cpu_unit = sensitivity_scores(X, projection, 1 / n, None, labels, pilot, PILOT_FLOOR,
                                      n_classes)  # fmt: skip
    out["cpu_seconds"] = time.perf_counter() - started

    started = time.perf_counter()
    device = _cuda.CudaRows.upload(X, labels)
    gpu_scan = device.scan(hashes=True)  # compiles the kernels on first use
    gpu_gram = device.gram_with_intercept(gpu_scan.col_max, gpu_scan.col_sum)
    gpu_scores = device.sensitivity_scores(X, projection, 1 / n, weights, labels, pilot,
                                           PILOT_FLOOR, n_classes)  # fmt: skip
    gpu_plain = device.sensitivity_scores(X, projection, 1 / n)
    gpu_own = device.sensitivity_scores(X, leverage_projection(gpu_gram), 1 / n, None, labels,
                                        pilot, PILOT_FLOOR, n_classes)  # fmt: skip
    out["gpu_first_call_seconds"] = time.perf_counter() - started  # includes compiling

    report.check("first_bad_equal", gpu_scan.first_bad == cpu_scan.first_bad == -1,
                 gpu=gpu_scan.first_bad, cpu=cpu_scan.first_bad)  # fmt: skip
    report.check("col_max_equal", np.array_equal(gpu_scan.col_max, cpu_scan.col_max))
    # float64 sums in another order: error relative to the sum's scale, n * max |x|
    rel = float(np.max(np.abs(gpu_scan.col_sum - cpu_scan.col_sum)
                       / (n * np.maximum(cpu_scan.col_max, 1e-300))))  # fmt: skip
    report.check("col_sum_rel", rel < LIMITS["col_sum_rel"], value=rel)
    mismatched = int(np.count_nonzero(gpu_scan.hashes != cpu_scan.hashes))
    report.check("hashes_bit_equal", mismatched == 0, mismatched_rows=mismatched)
    scale = np.sqrt(np.outer(np.diag(cpu_gram), np.diag(cpu_gram)))
    rel = float(np.max(np.abs(gpu_gram - cpu_gram) / scale))
    report.check("gram_rel", rel < LIMITS["gram_rel"], value=rel)
    for name, gpu, cpu in (("scores_pilot_weighted_rel", gpu_scores, cpu_scores),
                           ("scores_l2s_rel", gpu_plain, cpu_plain)):  # fmt: skip
        rel = _max_rel(gpu, cpu)
        report.check(name, rel < LIMITS["scores_rel"], value=rel,
                     within_1e_5=rel < 1e-5)  # fmt: skip
    rel = _max_rel(gpu_own, cpu_unit)
    report.check("scores_end_to_end_rel", rel < LIMITS["scores_end_to_end_rel"], value=rel)
    pi_gpu, budgets_gpu = row_inclusion_probabilities(gpu_own, labels, n_classes, size)
    pi_cpu, budgets_cpu = row_inclusion_probabilities(cpu_unit, labels, n_classes, size)
    rel = _max_rel(pi_gpu, pi_cpu)
    report.check("inclusion_probabilities_rel", rel < LIMITS["inclusion_rel"], value=rel,
                 budgets_equal=bool(np.array_equal(budgets_gpu, budgets_cpu)),
                 total_variation=float(0.5 * np.abs(pi_gpu / size - pi_cpu / size).sum()))  # fmt: skip

    bad = X.copy()
    first = (7 * n) // 10
    bad[first, d - 1] = np.nan
    bad[min(n - 1, first + 3), 0] = np.inf
    gpu_bad = _cuda.CudaRows.upload(bad, labels).scan(hashes=True).first_bad
    cpu_bad = scan_rows(bad, labels, hashes=True).first_bad
    report.check("bad_row_found", gpu_bad == cpu_bad == first, gpu=gpu_bad, cpu=cpu_bad)
    del bad, device

    # whole trees (leaves on the GPU: chunks at or above its threshold)
    chunk = max(_cuda.MIN_ROWS, math.ceil(n / 3))
    params = {"coreset_size": size, "chunk_size": chunk, "random_state": 0}
    timings = {}
    trees = {}
    for backend in ("cuda", "cpu"):
        started = time.perf_counter()
        trees[backend] = CoresetTree(backend=backend, **params).build(X, labels)
        timings[backend] = time.perf_counter() - started
    again = CoresetTree(backend="cuda", **params).build(X, labels)
    same = all(
        np.array_equal(again.get_coreset(level).indices, trees["cuda"].get_coreset(level).indices)
        and again.get_coreset(level).weights.tobytes()
        == trees["cuda"].get_coreset(level).weights.tobytes()
        for level in range(again.depth_ + 1)
    )
    report.check("cuda_tree_deterministic", same)
    # The two backends' scores differ by float32 GEMM rounding; the leaf pilots are fitted on
    # samples drawn by those scores, so the trees differ row for row (systematic sampling moves
    # with any change of the probabilities). What must hold is the quality: the full-data loss
    # at the root coreset's optimum over the full optimum, CUDA vs CPU, over SEEDS seeds.
    from coreset_engine.evaluation import fit_logistic, logistic_objective, loss_ratio

    full_objective = logistic_objective(fit_logistic(X, labels, n_threads=None), X, labels, 1.0)
    ratios: dict = {"cuda": [], "cpu": []}
    for seed in range(TREE_SEEDS):
        for backend in ("cuda", "cpu"):
            tree = trees[backend] if seed == 0 else CoresetTree(
                backend=backend, **{**params, "random_state": seed}
            ).build(X, labels)  # fmt: skip
            root = tree.get_coreset()
            ratios[backend].append(
                loss_ratio(fit_logistic(root.X, root.y, root.weights), full_objective, X, labels)
            )
    gpu_root, cpu_root = trees["cuda"].get_coreset(), trees["cpu"].get_coreset()
    excess = {name: float(np.mean(values)) - 1.0 for name, values in ratios.items()}
    report.check(
        "tree_quality_like_cpu",
        trees["cuda"].backend_ == "cuda" and trees["cuda"].depth_ == trees["cpu"].depth_
        and len(gpu_root) == len(cpu_root)
        and excess["cuda"] <= TREE_EXCESS_FACTOR * excess["cpu"] + TREE_EXCESS_SLACK,
        chunk_size=chunk, depth=trees["cuda"].depth_, root_rows=len(gpu_root),
        mean_loss_ratio={name: 1.0 + value for name, value in excess.items()},
        loss_ratios=ratios, seconds=timings,
        root_overlap=np.intersect1d(gpu_root.indices, cpu_root.indices).size / len(cpu_root),
    )  # fmt: skip
    return out


# ------------------------------------------------------------------------------ stage 4
def plain_read_seconds(path: str, chunk: int) -> float:
    started = time.perf_counter()
    with h5py.File(path, "r") as handle:
        X, y = handle["X"], handle["y"]
        buffer = np.empty((min(chunk, X.shape[0]), X.shape[1]), dtype=X.dtype)
        for start in range(0, X.shape[0], chunk):
            stop = min(X.shape[0], start + chunk)
            X.read_direct(buffer[: stop - start], source_sel=np.s_[start:stop])
            y[start:stop]
    return time.perf_counter() - started


def time_build(report: Report, path: str, chunk: int, size: int, cpu_build: bool) -> dict:
    from coreset_engine import CoresetTree, _cuda

    plain_read_seconds(path, chunk)  # the file on the page cache
    reads = [plain_read_seconds(path, chunk) for _ in range(2)]
    read = min(reads)
    out: dict = {"read_seconds": reads}
    # one H2D copy of a chunk, for the record
    with h5py.File(path, "r") as handle:
        sample = handle["X"][: min(chunk, handle["X"].shape[0])]
        labels = handle["y"][: sample.shape[0]].astype(np.int64)
    lib = _cuda.library()
    _cuda.CudaRows.upload(sample[:1000], labels[:1000])
    lib.synchronize()
    started = time.perf_counter()
    _cuda.CudaRows.upload(sample, labels)
    lib.synchronize()
    out["upload_seconds_one_chunk"] = time.perf_counter() - started
    out["upload_gb_per_second"] = sample.nbytes / 1e9 / out["upload_seconds_one_chunk"]
    del sample, labels

    tree = CoresetTree(backend="cuda", coreset_size=size, chunk_size=chunk, random_state=0)
    started = time.perf_counter()
    tree.build_from_file(path)
    build = time.perf_counter() - started
    root = tree.get_coreset()
    out.update(build_seconds=build, depth=tree.depth_, leaves=tree.n_leaves_,
               root_rows=len(root), weight_ratio=float(root.weights.sum() / tree.n_samples_))  # fmt: skip
    report.timing("build_within_1.3x_read", build <= READ_RATIO_LIMIT * read,
                 build_seconds=build, read_seconds=read, ratio=build / read,
                 backend=tree.backend_)  # fmt: skip
    if cpu_build:
        started = time.perf_counter()
        CoresetTree(coreset_size=size, chunk_size=chunk, random_state=0).build_from_file(path)
        out["cpu_build_seconds"] = time.perf_counter() - started
        out["cpu_ratio"] = out["cpu_build_seconds"] / read
    return out


# ------------------------------------------------------------------------------ stage 5
def _resident(lib, path: str, rows: int, chunk: int):
    """The first ``rows`` rows of the file in GPU memory (X, int64 labels)."""
    with h5py.File(path, "r") as handle:
        X_data, y_data = handle["X"], handle["y"]
        n, d = min(rows, X_data.shape[0]), X_data.shape[1]
        X_dev = lib.empty((n, d), np.dtype(X_data.dtype))
        labels_dev = lib.empty(n, np.int64)
        buffer = np.empty((min(chunk, n), d), dtype=X_data.dtype)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            X_data.read_direct(buffer[: stop - start], source_sel=np.s_[start:stop])
            labels = y_data[start:stop].astype(np.int64)
            if lib.name == "torch":
                X_dev[start:stop].copy_(lib.torch.from_numpy(buffer[: stop - start]))
                labels_dev[start:stop].copy_(lib.torch.from_numpy(labels))
            else:
                X_dev[start:stop] = lib.xp.asarray(buffer[: stop - start])
                labels_dev[start:stop] = lib.xp.asarray(labels)
    lib.synchronize()
    return X_dev, labels_dev


def time_compute(report: Report, path: str, rows: int, chunk: int, simulate: bool) -> dict:
    from coreset_engine import _cuda
    from coreset_engine._linalg import leverage_projection
    from coreset_engine._pilot import fit_pilot
    from coreset_engine.methods._sensitivity import PILOT_FLOOR

    lib = _cuda.library()
    started = time.perf_counter()
    X_dev, labels_dev = _resident(lib, path, rows, chunk)
    out: dict = {"load_seconds": time.perf_counter() - started}
    resident = _cuda.CudaRows.from_device(X_dev, labels_dev, lib)
    n = resident.n
    with h5py.File(path, "r") as handle:
        X_head = handle["X"][: min(n, 5000)]
        y_head = handle["y"][: X_head.shape[0]].astype(np.int64)
    n_classes = int(y_head.max()) + 1
    pilot = fit_pilot(X_head, y_head, np.ones(X_head.shape[0]))
    out.update(rows=n, classes=n_classes)

    def passes(sync_between: bool) -> dict:
        lib.synchronize()
        t0 = time.perf_counter()
        first_bad, col_max, col_sum, _ = resident.scan_device(hashes=True)
        if sync_between:
            lib.synchronize()
        t1 = time.perf_counter()
        gram = resident.gram_with_intercept(col_max, col_sum)  # returns on the host: synced
        projection = leverage_projection(gram)
        t2 = time.perf_counter()
        resident.scores_device(projection, 1 / n, None, pilot, PILOT_FLOOR, n_classes)
        lib.synchronize()
        t3 = time.perf_counter()
        assert first_bad == -1
        return {"scan_hash": t1 - t0, "gram_projection": t2 - t1, "scores": t3 - t2,
                "total": t3 - t0}  # fmt: skip

    repeats = 1 if simulate else 3
    if not simulate:
        passes(True)  # warm-up (kernels compiled in stage 3; allocator caches)
    staged = [passes(True) for _ in range(repeats)]
    plain = [passes(False) for _ in range(repeats)]
    best = min(plain, key=lambda r: r["total"])
    out.update(staged_runs=staged, runs=plain, best=best)
    # the same, returning hashes and scores to the host (what a leaf pays on top)
    lib.synchronize()
    started = time.perf_counter()
    scan = resident.scan(hashes=True)
    scores = resident.sensitivity_scores(None, leverage_projection(
        resident.gram_with_intercept(scan.col_max, scan.col_sum)), 1 / n, None, None, pilot,
        PILOT_FLOOR, n_classes)  # fmt: skip
    out["with_copies_to_host_seconds"] = time.perf_counter() - started
    del scan, scores
    report.timing("compute_within_0.1s", best["total"] <= COMPUTE_LIMIT_SECONDS,
                 seconds=best["total"], rows=n, simulated=simulate)  # fmt: skip

    # the Gram matrix through each available GEMM library (the engine takes torch first)
    gram_seconds = {}
    for name in ("torch", "cupy"):
        try:
            other = _cuda.library(name)
        except RuntimeError as error:
            gram_seconds[name] = f"unavailable: {error}"
            continue
        if other.name == lib.name:
            X_other = X_dev
        elif other.name == "cupy":
            X_other = other.xp.asarray(X_dev)  # a view through __cuda_array_interface__
        else:
            X_other = other.torch.as_tensor(X_dev, device="cuda")
        other.gram(X_other)
        other.synchronize()
        times = []
        for _ in range(3):
            started = time.perf_counter()
            other.gram(X_other)
            other.synchronize()
            times.append(time.perf_counter() - started)
        gram_seconds[name] = min(times)
    out["gram_seconds_by_library"] = gram_seconds
    resident = X_dev = labels_dev = X_other = None  # free the GPU memory
    if lib.name == "torch" and lib.gpu:
        lib.torch.cuda.empty_cache()
    return out


# ------------------------------------------------------------------------------ markdown
def markdown(data: dict, grid: dict | None = None, command: str = "",
             pipeline: dict | None = None) -> str:  # fmt: skip
    """The "gpu" section of docs/BENCHMARKS.md from a gpu_check JSON (and gpu_grid's)."""
    env, stages, checks = data["environment"], data["stages"], data["checks"]
    failed = [name for name, check in checks.items() if not check["passed"]]
    lines = [
        "## GPU: the CUDA backend on an NVIDIA GPU (`python -m benchmarks.gpu_check`)",
        "",
        f"Produced by `{command or 'python -m benchmarks.gpu_check'}` on "
        f"{env.get('gpu', '?')} (compute capability "
        f"{'.'.join(map(str, env.get('compute_capability', [])))}, {env['cpus']} CPU cores), "
        f"numba-cuda {env['numba_cuda']}, torch {env['torch']}, NumPy {env['numpy']}; "
        f"{len(checks) - len(failed)} of {len(checks)} checks passed"
        + (f" (failed: {', '.join(failed)})" if failed else "") + ".",
        "",
        "| check | result | details |",
        "|---|---|---|",
    ]
    for name, check in checks.items():
        details = ", ".join(
            f"{key} {_short(value)}" for key, value in check.items()
            if key not in ("passed", "loss_ratios") and not (key == "seconds" and isinstance(value, dict))
        )  # fmt: skip
        lines.append(f"| {name} | {'ok' if check['passed'] else 'FAIL'} | {details} |")
    build = stages.get("build", {})
    compute = stages.get("compute", {})
    if build.get("build_seconds"):
        read = min(build["read_seconds"])
        lines += [
            "",
            (f"Build of {data['args']['rows']:,} x {data['args']['features']} float32 rows "
            f"({build['leaves']} leaves of {data['args']['chunk']:,}) with `backend=\"cuda\"`: "
            f"{build['build_seconds']:.1f} s against {read:.2f} s for a plain chunked read "
            f"from the page cache ({build['build_seconds'] / read:.1f}x). The passes on the GPU "
            f"take {compute.get('best', {}).get('total', float('nan')):.3f} s for all "
            f"{compute.get('rows', 0):,} rows once resident (scan "
            f"{compute.get('best', {}).get('scan_hash', float('nan')):.4f} s, Gram and "
            f"projection {compute.get('best', {}).get('gram_projection', float('nan')):.4f} s, "
            f"scores {compute.get('best', {}).get('scores', float('nan')):.4f} s); a chunk "
            f"uploads at {build.get('upload_gb_per_second', float('nan')):.1f} GB/s. So the "
            f"build's time is the CPU's per-leaf work: pilot fits, the draws and the merges "
            f"(this build ran {'two leaves at once' if data.get('concurrent_leaves') else 'one leaf at a time'}) "
            f"({build['build_seconds'] / build['leaves']:.2f} s per leaf)."),
        ]
    if pipeline:
        rows = pipeline.get("rows")
        lines += [
            "",
            (f"`python -m benchmarks.gpu_pipeline` on {rows or 'the'} rows of the same kind: "
             f"`backend=\"cuda\"` one leaf at a time "
             f"{pipeline['cuda_one_leaf_at_a_time_seconds']:.2f} s, two leaves at once (the "
             f"default) {pipeline['cuda_two_leaves_at_once_seconds']:.2f} s "
             f"({pipeline['cuda_one_leaf_at_a_time_seconds'] / pipeline['cuda_two_leaves_at_once_seconds']:.1f}x; "
             f"same tree: {'yes' if pipeline['cuda_same_tree'] else '**no**'}); the CPU build "
             f"on the machine's {env['cpus']} cores {pipeline['cpu_seconds']:.2f} s; a plain "
             f"read {pipeline['plain_read_seconds']:.2f} s."
             + (f" {pipeline['note']}" if pipeline.get("note") else "")),
        ]
    if grid:
        check = grid.get("check", {})
        cv = grid.get("cv_search", {})
        lines += [
            "",
            (f"`python -m benchmarks.gpu_grid` on {grid.get('device_name', '?')}: a batched "
            f"grid of {grid['n_C']} C values on a {grid['rows']:,}-row coreset "
            f"(`fit_logistic_batch`, {grid['precision']}) in "
            f"{grid['grid_fit_median_seconds']:.4f} s (median; criterion < 0.1 s: "
            f"{grid['verdict']}); the {grid['n_C']}-value x {grid.get('cv', 5)}-fold search "
            f"(`GridSearch(backend=\"torch\")`) in {cv.get('seconds', float('nan')):.3f} s; "
            f"its pick against scikit-learn's on {check.get('C_values')} of the values: "
            f"{check.get('outcome')} (scikit-learn {check.get('sklearn_seconds', 0):.2f} s on "
            f"the CPU, torch {check.get('torch_seconds', 0):.2f} s)."),
        ]
    return "\n".join(lines) + "\n"


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    return str(value)


# ---------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=46_000_000)
    parser.add_argument("--features", type=int, default=54)
    parser.add_argument("--path", default=None, help="default: /tmp/coreset_gpu_check_<rows>.h5")
    parser.add_argument("--check-rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=20_000, help="coreset_size")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes generating the data file")  # fmt: skip
    parser.add_argument("--cpu-build", action="store_true", help="also time the CPU build")
    parser.add_argument("--simulate", action="store_true",
                        help="smoke test under NUMBA_ENABLE_CUDASIM=1 (tiny GPU stages)")  # fmt: skip
    parser.add_argument("--sim-rows", type=int, default=2000,
                        help="with --simulate: rows of the GPU stages")  # fmt: skip
    parser.add_argument("--out", default=None, help="default: $OUT/gpu_check.json if $OUT is set")
    parser.add_argument("--markdown", default=None,
                        help="write the 'gpu' section of this Markdown file (docs/BENCHMARKS.md)")
    parser.add_argument("--grid-json", default=None,
                        help="with --markdown: gpu_grid's --out JSON, summarised too")
    parser.add_argument("--pipeline-json", default=None,
                        help="with --markdown: gpu_pipeline's --out JSON, summarised too")
    parser.add_argument("--from-json", default=None,
                        help="render --markdown from this earlier --out JSON; runs nothing")
    args = parser.parse_args(argv)
    if args.from_json:
        if not args.markdown:
            parser.error("--from-json needs --markdown")
        with open(args.from_json) as handle:
            write_markdown(args, json.load(handle))
        return 0
    out_path = args.out or (os.path.join(os.environ["OUT"], "gpu_check.json")
                            if os.environ.get("OUT") else None)  # fmt: skip
    report = Report(out_path, args.simulate)
    report.data["args"] = vars(args)
    started = time.perf_counter()

    print("== environment", flush=True)
    report.data["environment"] = environment(args.simulate)
    from coreset_engine import _cuda

    report.data["concurrent_leaves"] = _cuda.CudaBackend().concurrent_leaves
    print(json.dumps(report.data["environment"]), flush=True)
    report.save()

    path = args.path or f"/tmp/coreset_gpu_check_{args.rows}x{args.features}.h5"
    print(f"== data {path}", flush=True)
    existing = None
    if os.path.exists(path):
        with h5py.File(path, "r") as handle:
            existing = handle["X"].shape if "X" in handle else None
    if existing == (args.rows, args.features):
        report.data["stages"]["data"] = {"reused": True}
    else:
        report.data["stages"]["data"] = write_data(path, args.rows, args.features, args.workers)
    report.data["stages"]["data"].update(path=path, file_gb=os.path.getsize(path) / 1e9)
    print(report.data["stages"]["data"], flush=True)
    report.save()

    check_rows, size, chunk, gpu_path = args.check_rows, args.size, args.chunk, path
    if args.simulate:  # the simulator runs a CUDA thread as a Python thread: tiny GPU stages
        from coreset_engine import _cuda
        from coreset_engine.datasets import write_hdf5

        _cuda.MIN_ROWS = 0
        check_rows = min(check_rows, args.sim_rows // 2)
        size = max(10, args.sim_rows // 10)
        chunk = args.sim_rows // 2
        gpu_path = path + ".sim.h5"
        with h5py.File(path, "r") as handle:
            write_hdf5(gpu_path, handle["X"][: args.sim_rows], handle["y"][: args.sim_rows])
    stages = (
        ("check", lambda: check_against_cpu(report, gpu_path, check_rows, size, args.simulate)),
        ("build", lambda: time_build(report, gpu_path, chunk, size, args.cpu_build or args.simulate)),
        ("compute", lambda: time_compute(report, gpu_path, args.rows, chunk, args.simulate)),
    )  # fmt: skip
    for name, stage in stages:
        print(f"== {name}", flush=True)
        stage_started = time.perf_counter()
        try:
            result = stage()
        except Exception as error:  # record it and go on: the other stages still tell something
            traceback.print_exc()
            report.check(f"{name}_ran", False, error=repr(error))
            result = {}
        result["stage_seconds"] = time.perf_counter() - stage_started
        report.data["stages"][name] = result
        print(json.dumps(result, default=_jsonable), flush=True)
        report.save()

    report.data["seconds"] = time.perf_counter() - started
    report.save()
    print("== summary", flush=True)
    print(json.dumps(report.data, indent=1, default=_jsonable), flush=True)
    if args.markdown:
        write_markdown(args, report.data)
    failed = [name for name, check in report.data["checks"].items() if not check["passed"]]
    print("gpu_check: " + ("all checks passed" if not failed else f"FAILED: {failed}"),
          flush=True)  # fmt: skip
    return 0 if not failed else 1


def write_markdown(args, data: dict) -> None:
    from coreset_cli.bench.report import write_section

    grid = pipeline = None
    if args.grid_json:
        with open(args.grid_json) as handle:
            grid = json.load(handle)
    if args.pipeline_json:
        with open(args.pipeline_json) as handle:
            pipeline = json.load(handle)
    rows = data["args"]["rows"]
    command = "python -m benchmarks.gpu_check" + (f" --rows {rows}" if rows != 46_000_000 else "")
    write_section(args.markdown, "gpu", markdown(data, grid, command, pipeline))


if __name__ == "__main__":
    sys.exit(main())
