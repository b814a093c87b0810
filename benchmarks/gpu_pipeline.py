"""A CUDA build one leaf at a time vs two leaves at once, and the CPU build, on one HDF5 file.

    python -m benchmarks.gpu_pipeline /tmp/coreset_gpu_check_46000000x54.h5 --out $OUT/gpu_pipeline.json

The file is any ``X``/``y`` HDF5 file (``python -m benchmarks.gpu_check`` writes one). Each build
reads the file from the page cache (a warm-up build on its first rows comes first); prints the
seconds of each build, a plain chunked read's, and whether the two CUDA builds made the same
tree (they must: a leaf is a function of its rows alone).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

if not hasattr(np, "row_stack"):  # removed in NumPy 2.5; numba-cuda 0.30 still calls it
    np.row_stack = np.vstack


def main(argv=None) -> dict:
    from benchmarks.bench_scale import plain_read_seconds
    from coreset_engine import CoresetTree, _cuda

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path")
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=1_000_000)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    params = {"coreset_size": args.size, "chunk_size": args.chunk, "random_state": 0}
    out: dict = {"path": args.path, "args": vars(args)}
    CoresetTree(**{**params, "chunk_size": 100_000}, backend="cuda").build(
        *_first_rows(args.path, 200_000)
    )  # warm-up: CUDA context, kernels compiled
    out["plain_read_seconds"] = min(plain_read_seconds(args.path, args.chunk) for _ in range(2))
    trees = {}
    answer = _cuda.CudaBackend.__dict__["concurrent_leaves"]  # the property
    for name, backend, concurrent in (("cuda_one_leaf_at_a_time", "cuda", False),
                                       ("cuda_two_leaves_at_once", "cuda", True),
                                       ("cpu", "cpu", True)):  # fmt: skip
        # one leaf at a time: the backend's own answer overridden for that build only
        _cuda.CudaBackend.concurrent_leaves = answer if concurrent else False
        started = time.perf_counter()
        trees[name] = CoresetTree(backend=backend, **params).build_from_file(args.path)
        out[name + "_seconds"] = time.perf_counter() - started
        print(f"{name}: {out[name + '_seconds']:.2f} s", flush=True)
    _cuda.CudaBackend.concurrent_leaves = answer
    a, b = trees["cuda_one_leaf_at_a_time"], trees["cuda_two_leaves_at_once"]
    out["cuda_same_tree"] = bool(all(
        np.array_equal(p.indices, q.indices) and p.weights.tobytes() == q.weights.tobytes()
        for p, q in zip(a._state.nodes, b._state.nodes)
    ))  # fmt: skip
    print(f"plain read: {out['plain_read_seconds']:.2f} s; same CUDA tree: {out['cuda_same_tree']}")
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(out, handle, indent=1)
    return out


def _first_rows(path: str, rows: int):
    import h5py

    with h5py.File(path, "r") as handle:
        return handle["X"][:rows], handle["y"][:rows]


if __name__ == "__main__":
    main()
