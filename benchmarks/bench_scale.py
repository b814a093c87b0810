"""Building a tree from a large HDF5 file vs plainly reading it, side by side in one run.

    python -m benchmarks.bench_scale --rows 10000000            # 10M x 54 float32, 7 classes
    python -m benchmarks.bench_scale --rows 46000000 --path /tmp/big.h5
    git worktree add /tmp/base COMMIT
    python -m benchmarks.bench_scale --rows 10000000 --contiguous --baseline /tmp/base

Each build runs in a fresh subprocess so its peak RSS is its own. "cold" drops the file from the
page cache first (posix_fadvise DONTNEED); "warm" reads it from the page cache, where a plain
read is a memcpy. Times are ratios to the plain chunked read measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import h5py
import numpy as np

CHILD = r"""
import json, resource, sys, time
from coreset_engine import CoresetTree
path, size, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sketch = int(sys.argv[4]) if sys.argv[4] != "none" else None
import h5py
with h5py.File(path, "r") as handle:  # compile the kernels for this dtype outside the timer
    X, y = handle["X"][:10000], handle["y"][:10000]
CoresetTree(coreset_size=500, chunk_size=2000).build(X, y)
X.setflags(write=False)  # and for read-only rows, as mapped from a file
CoresetTree(coreset_size=500, chunk_size=2000).build(X, y)
import gc; gc.collect()
before = resource.getrusage(resource.RUSAGE_SELF)
started = time.perf_counter()
tree = CoresetTree(coreset_size=size, chunk_size=chunk, sketch_size=sketch,
                   random_state=0).build_from_file(path)
seconds = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": seconds, "peak_rss_mb": after.ru_maxrss / 1024,
                  "cpu_seconds": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
                  "system_cpu_seconds": after.ru_stime - before.ru_stime,
                  "page_faults": after.ru_minflt - before.ru_minflt,
                  "root_rows": len(tree.get_coreset()), "depth": tree.depth_}))
"""


FRESH_MEMORY_CHILD = r"""
import json, sys, time
import numpy as np
from coreset_engine._malloc import populated_empty
shape = (1_000_000, 54)  # one leaf's buffer of float32 rows, 216 MB
started = time.perf_counter()
buffer = populated_empty(shape, np.float32) if sys.argv[1] == "populated" else np.empty(shape, np.float32)
buffer.fill(1.0)
first = time.perf_counter() - started
started = time.perf_counter()
buffer.fill(2.0)
print(json.dumps({"first_fill_seconds": first, "refill_seconds": time.perf_counter() - started}))
"""


def fresh_memory() -> dict:
    """A 216 MB buffer's first fill (allocation included) and a refill, each kind in a fresh
    process: ``np.empty`` (pages faulted in on first touch) and ``_malloc.populated_empty``
    (mapped at once), as the file reader's buffers are made."""
    results = {}
    for kind in ("np_empty", "populated"):
        output = subprocess.run([sys.executable, "-c", FRESH_MEMORY_CHILD, kind], check=True,
                                capture_output=True, text=True).stdout  # fmt: skip
        results[kind] = json.loads(output.strip().splitlines()[-1])
    return results


COLD_START_CHILD = r"""
import json, time
started = time.perf_counter()
import numpy as np
from coreset_engine import CoresetTree
imported = time.perf_counter()
rng = np.random.default_rng(0)
X = rng.standard_normal((20000, 54)).astype(np.float32)
y = rng.integers(0, 7, 20000)
CoresetTree(coreset_size=1000, chunk_size=5000, random_state=0).build(X, y)
built = time.perf_counter()
print(json.dumps({"import_seconds": imported - started, "first_build_seconds": built - imported}))
"""


def cold_start() -> dict:
    """Import + first small build in a fresh process: with an empty NUMBA_CACHE_DIR (every
    kernel compiled) and again with the cache it left (what a user sees from the second run)."""
    import tempfile

    results = {}
    with tempfile.TemporaryDirectory() as cache_dir:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
        for label in ("empty_cache", "cached"):
            output = subprocess.run([sys.executable, "-c", COLD_START_CHILD], check=True,
                                    capture_output=True, text=True, env=env).stdout  # fmt: skip
            results[label] = json.loads(output.strip().splitlines()[-1])
    return results


def drop_from_page_cache(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def plain_read_seconds(path: str, chunk: int) -> float:
    started = time.perf_counter()
    with h5py.File(path, "r") as handle:
        X, y = handle["X"], handle["y"]
        buffer = np.empty((chunk, X.shape[1]), dtype=X.dtype)
        for start in range(0, X.shape[0], chunk):
            stop = min(X.shape[0], start + chunk)
            X.read_direct(buffer[: stop - start], source_sel=np.s_[start:stop])
            y[start:stop]
    return time.perf_counter() - started


def contiguous_copy(path: str, chunk: int) -> str:
    """A copy of the file with X and y as contiguous datasets (h5py's default layout, which
    the reader maps into memory instead of copying; ``coreset_engine._hdf5.row_mapper``),
    written next to it once."""
    root, extension = os.path.splitext(path)
    copy = f"{root}_contiguous{extension}"
    if not os.path.exists(copy):
        print(f"writing {copy} ...", flush=True)
        with h5py.File(path, "r") as source, h5py.File(copy + ".part", "w") as target:
            X = target.create_dataset("X", shape=source["X"].shape, dtype=source["X"].dtype)
            for start in range(0, X.shape[0], chunk):
                X[start : start + chunk] = source["X"][start : start + chunk]
            target.create_dataset("y", data=source["y"][:])
        os.replace(copy + ".part", copy)
    return copy


def build_in_child(
    path: str, size: int, chunk: int, sketch: int | None = None, threads: int | None = None,
    tree: str | None = None,
) -> dict:  # fmt: skip
    """One timed build_from_file in a fresh process (its peak RSS and CPU seconds are its own);
    ``threads`` sets CORESET_ENGINE_THREADS; ``tree`` runs the coreset_engine of another
    checkout (a directory holding its ``coreset_engine`` package) instead of this one."""
    env = dict(os.environ)
    env.pop("CORESET_ENGINE_THREADS", None)  # default: every CPU ("cpus" in the results)
    if threads is not None:
        env["CORESET_ENGINE_THREADS"] = str(threads)
    if tree is not None:
        env["PYTHONPATH"] = os.path.abspath(tree)
    output = subprocess.run([sys.executable, "-c", CHILD, path, str(size), str(chunk),
                             str(sketch).lower()], cwd=tree,
                            check=True, capture_output=True, text=True, env=env).stdout  # fmt: skip
    return json.loads(output.strip().splitlines()[-1])


def timed_build(path: str, read_seconds: float, args, n: int) -> dict:
    """A build of ``path`` in a fresh process, against the plain read timed just before."""
    build = build_in_child(path, args.size, args.chunk, args.sketch_size)
    return {"read_seconds": read_seconds, **build, "ratio": build["seconds"] / read_seconds,
            "rows_per_second": n / build["seconds"]}  # fmt: skip


def side_by_side(paths: dict, args, baseline: str, reps: int) -> dict:
    """Warm builds of each file by ``baseline`` (another checkout) and by this checkout,
    alternating, ``reps`` times each: on a machine whose speed drifts, the ratio of the two
    medians is what to read, not either time."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    runs = {label: {"baseline": [], "current": []} for label in paths}
    for label, path in paths.items():
        plain_read_seconds(path, args.chunk)  # make sure it is cached
    for _ in range(reps):
        for label, path in paths.items():
            for side, tree in (("baseline", baseline), ("current", here)):
                runs[label][side].append(build_in_child(path, args.size, args.chunk,
                                                        args.sketch_size, tree=tree))  # fmt: skip
    summary = {}
    for label, sides in runs.items():
        summary[label] = {side: {key: float(np.median([r[key] for r in results]))
                                 for key in ("seconds", "cpu_seconds", "system_cpu_seconds")}
                          for side, results in sides.items()}  # fmt: skip
        summary[label]["speedup"] = (summary[label]["baseline"]["seconds"]
                                     / summary[label]["current"]["seconds"])  # fmt: skip
    try:
        commit = subprocess.run(["git", "-C", baseline, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {"baseline": baseline, "baseline_commit": commit, "reps": reps, "files": summary,
            "runs": runs}  # fmt: skip


def add_file_options(parser: argparse.ArgumentParser) -> None:
    """The file and tree options the scale benchmarks share."""
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--path", default=None, help="Default: /tmp/coreset_synthetic_<rows>.h5")
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=1_000_000)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_file_options(parser)
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--baseline",
        default=None,
        help="A checkout of another commit (git worktree add DIR COMMIT): warm builds by it and "
        "by this checkout, alternating, --reps times each",
    )
    parser.add_argument("--reps", type=int, default=4, help="Builds per side with --baseline")
    parser.add_argument(
        "--fresh-memory",
        action="store_true",
        help="Only time a fresh 216 MB buffer's first fill and a refill (np.empty and "
        "populated_empty, each in a fresh process), print them and stop",
    )
    parser.add_argument(
        "--contiguous",
        action="store_true",
        help="Also build (warm) from a contiguous copy of the file, which is mapped, not copied",
    )
    parser.add_argument(
        "--sketch-size",
        type=int,
        default=None,
        help="CoresetTree(sketch_size=...): JL-sketched leverage (default exact)",
    )
    args = parser.parse_args(argv)
    if args.fresh_memory:
        probe = fresh_memory()
        for kind, r in probe.items():
            print(f"{kind}: first fill of a fresh 216 MB buffer {r['first_fill_seconds']:.3f} s, "
                  f"refill {r['refill_seconds']:.3f} s")  # fmt: skip
        return probe
    path = os.path.abspath(args.path or f"/tmp/coreset_synthetic_{args.rows}.h5")
    if not os.path.exists(path):
        from coreset_engine.synthetic import make_synthetic_hdf5

        print(f"writing {path} ...", flush=True)
        make_synthetic_hdf5(path, args.rows)
    with h5py.File(path, "r") as handle:
        n, d = handle["X"].shape
        dtype = handle["X"].dtype
    gigabytes = os.path.getsize(path) / 1e9
    results = {
        "rows": n,
        "features": d,
        "dtype": str(dtype),
        "file_gb": gigabytes,
        "coreset_size": args.size,
        "chunk": args.chunk,
        "sketch_size": args.sketch_size,
        "cpus": len(os.sched_getaffinity(0)),
    }
    for cache in ("cold", "warm"):
        if cache == "cold":
            drop_from_page_cache(path)
        else:
            plain_read_seconds(path, args.chunk)  # make sure it is cached
        read = plain_read_seconds(path, args.chunk)
        if cache == "cold":
            drop_from_page_cache(path)
        results[cache] = timed_build(path, read, args, n)
    if results["cpus"] > 1:  # how the warm build scales: the same build on one thread
        one = build_in_child(path, args.size, args.chunk, args.sketch_size, threads=1)
        results["warm_one_thread"] = {**one, "rows_per_second": n / one["seconds"],
                                      "speedup": one["seconds"] / results["warm"]["seconds"]}  # fmt: skip
    files = {"chunked": path}
    if args.contiguous:  # the same rows, laid out so that the reader maps them
        files["contiguous"] = copy = contiguous_copy(path, args.chunk)
        plain_read_seconds(copy, args.chunk)  # make sure it is cached
        results["warm_contiguous"] = timed_build(copy, plain_read_seconds(copy, args.chunk),
                                                 args, n)  # fmt: skip
    if args.baseline:
        results["side_by_side"] = side_by_side(files, args, args.baseline, args.reps)
    results["cold_start"] = cold_start()
    print(f"{n:,} x {d} {dtype}, {gigabytes:.2f} GB, coreset_size {args.size:,}, "
          f"chunk {args.chunk:,}")  # fmt: skip
    print(f"{'cache':<6} {'plain read s':>12} {'build s':>9} {'build/read':>10} "
          f"{'rows/s':>12} {'peak RSS MB':>12}")  # fmt: skip
    for cache in ("cold", "warm", "warm_contiguous"):
        if cache not in results:
            continue
        r = results[cache]
        print(f"{cache:<6} {r['read_seconds']:>12.2f} {r['seconds']:>9.2f} {r['ratio']:>10.2f} "
              f"{r['rows_per_second']:>12,.0f} {r['peak_rss_mb']:>12,.0f}")  # fmt: skip
    for cache in ("cold", "warm", "warm_contiguous"):
        if cache not in results:
            continue
        r = results[cache]
        print(f"{cache}: {r['cpu_seconds']:.2f} CPU-seconds, "
              f"{r['cpu_seconds'] / n * 1e6:.3f} per million rows, of which "
              f"{r['system_cpu_seconds']:.2f} in the kernel (reads, page faults: "
              f"{r['page_faults']:,} minor faults)")  # fmt: skip
    if "warm_one_thread" in results:
        r = results["warm_one_thread"]
        print(f"warm, one thread: {r['seconds']:.2f} s ({r['rows_per_second']:,.0f} rows/s); "
              f"{results['cpus']} threads are {r['speedup']:.2f}x faster")  # fmt: skip
    if "side_by_side" in results:
        ab = results["side_by_side"]
        for label, r in ab["files"].items():
            print(f"side by side, {label} file, median of {ab['reps']} warm builds each: "
                  f"baseline {r['baseline']['seconds']:.2f} s ({r['baseline']['cpu_seconds']:.2f} "
                  f"CPU-s, {r['baseline']['system_cpu_seconds']:.2f} in the kernel), this "
                  f"checkout {r['current']['seconds']:.2f} s ({r['current']['cpu_seconds']:.2f}, "
                  f"{r['current']['system_cpu_seconds']:.2f}): {r['speedup']:.2f}x")  # fmt: skip
    for label, r in results["cold_start"].items():
        print(f"cold start, {label.replace('_', ' ')} (NUMBA_CACHE_DIR): import "
              f"{r['import_seconds']:.2f} s, first build (20,000 rows) "
              f"{r['first_build_seconds']:.2f} s")  # fmt: skip
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(results, handle, indent=1)
    return results


if __name__ == "__main__":
    main()
