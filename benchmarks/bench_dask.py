"""Building on Dask vs locally, side by side in one run, and what a cluster would take.

    python -m benchmarks.bench_dask                          # 10M x 54 float32, 7 classes
    python -m benchmarks.bench_dask --rss-rows 46000000      # also the client's RSS at 46M rows
    python -m benchmarks.bench_dask --out results/dask.json --markdown results/dask.md \\
        --scaling docs/SCALING.md

On one HDF5 file (written with ``coreset-engine make-data`` if missing): a plain chunked read,
the local build (one process, every thread) and ``build_from_file(client=...)`` on LocalClusters
of 1 and 2 single-threaded worker processes, each from a cold page cache (the file dropped with
posix_fadvise) and a warm one. Every build runs in a fresh child process, which starts its
cluster, warms the workers up (imports, a small build) and then times the build alone: wall
seconds, CPU seconds of the client and every worker, rows/s, peak RSS of the client (with the
LocalCluster's scheduler, which lives in the same process) and of each worker. The Dask task
stream gives the compute seconds of each kind of task, hence the seconds a worker spent outside
them (scheduling, transfers, waiting) and the per-leaf and per-merge costs the projection in
``--scaling`` is built from. Every build prints a hash of its tree: they must all be equal.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

import h5py

from benchmarks.bench_scale import add_file_options, drop_from_page_cache, plain_read_seconds
from coreset_cli.bench.report import write_section

TREE_HASH = r"""
def tree_hash(tree):
    import hashlib
    digest = hashlib.sha256()
    for node in tree._state.nodes:
        digest.update(node.indices.tobytes() + node.weights.tobytes())
    return digest.hexdigest()[:16]
"""

LOCAL_CHILD = (
    TREE_HASH
    + r"""
import json, resource, sys, time
import h5py
from coreset_engine import CoresetTree
path, size, chunk, cold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "cold"
with h5py.File(path, "r") as handle:  # compile and load the kernels outside the timer
    CoresetTree(coreset_size=500, chunk_size=2000).build(handle["X"][:10000], handle["y"][:10000])
if cold:
    from benchmarks.bench_scale import drop_from_page_cache
    drop_from_page_cache(path)
before = resource.getrusage(resource.RUSAGE_SELF)
started = time.perf_counter()
tree = CoresetTree(coreset_size=size, chunk_size=chunk, random_state=0).build_from_file(path)
seconds = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": seconds, "peak_rss_mb": after.ru_maxrss / 1024,
                  "cpu_seconds": after.ru_utime + after.ru_stime - before.ru_utime
                  - before.ru_stime, "tree": tree_hash(tree), "leaves": tree.n_leaves_}))
"""
)

DASK_CHILD = (
    TREE_HASH
    + r"""
import json, os, resource, sys, time
import dask.array as da
import h5py
import numpy as np
import psutil
from distributed import get_task_stream
from dask.utils import key_split
from coreset_engine import CoresetTree
from coreset_engine._dask import cluster_client
from coreset_engine._dask_tasks import node_nbytes

path, size, chunk, cold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "cold"
workers = int(sys.argv[5])


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds(pids):
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


cluster_started = time.perf_counter()
with cluster_client(workers) as client:  # the command line's --workers cluster
    startup = time.perf_counter() - cluster_started
    with h5py.File(path, "r") as handle:  # warm the workers: imports, kernels
        X, y = handle["X"][:20000], handle["y"][:20000]
    CoresetTree(coreset_size=500, chunk_size=2000).build(
        da.from_array(X, chunks=(2000, -1)), da.from_array(y, chunks=2000))
    del X, y
    if cold:
        from benchmarks.bench_scale import drop_from_page_cache
        drop_from_page_cache(path)
    worker_pids = list(client.run(os.getpid).values())
    own = [os.getpid()]  # the client, the scheduler and the nannies: one process
    client_rss_before = psutil.Process().memory_info().rss / 2**20
    worker_rss_before = max(client.run(lambda: psutil.Process().memory_info().rss / 2**20).values())
    before = {"client": cpu_seconds(own), "workers": cpu_seconds(worker_pids)}
    with get_task_stream(client) as stream:
        started = time.perf_counter()
        tree = CoresetTree(coreset_size=size, chunk_size=chunk,
                           random_state=0).build_from_file(path, client=client)
        seconds = time.perf_counter() - started
    after = {"client": cpu_seconds(own), "workers": cpu_seconds(worker_pids)}
    worker_rss = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    noop_started = time.perf_counter()  # the scheduler's own cost per task: empty tasks
    client.gather(client.map(abs, range(2000), pure=False))
    noop_seconds = (time.perf_counter() - noop_started) / 2000
    compute = {}
    for task in stream.data:
        kind = key_split(task["key"])
        spent = sum(part["stop"] - part["start"] for part in task["startstops"]
                    if part["action"] == "compute")
        count, total = compute.get(kind, (0, 0.0))
        compute[kind] = (count + 1, total + spent)
    summary = tree._dask_summary
    print(json.dumps({
        "workers": workers, "seconds": seconds, "cluster_start_seconds": startup,
        "cpu_seconds": {k: after[k] - before[k] for k in after},
        "client_rss_mb_before": client_rss_before, "client_peak_rss_mb": peak_rss_mb(),
        "worker_rss_mb_before": worker_rss_before,
        "worker_peak_rss_mb": sorted(worker_rss.values()),
        "tasks": summary.tasks, "bytes_to_client": summary.bytes_to_client,
        "empty_task_seconds": noop_seconds,
        "tree_bytes": sum(node_nbytes(node) for node in tree._state.nodes),
        "nodes": len(tree._state.nodes), "leaves": tree.n_leaves_,
        "task_compute": {k: {"count": c, "seconds": s} for k, (c, s) in compute.items()},
        "tree": tree_hash(tree),
    }))
"""
)

# Independent processes, no Dask: each reads its own leaves' rows into memory, then (all at the
# same moment) builds them one after another on one thread. What 2 processes reach against 1
# is this machine's own ceiling for the 2-worker speedup (shared memory bandwidth and caches).
CEILING_CHILD = r"""
import json, sys, time
import h5py
import numpy as np
from coreset_engine._build import BuildSettings, leaf_node
from coreset_engine._cpu import blas_single_thread, worker_threads
path, size, chunk, first, leaves, start_at = sys.argv[1:7]
size, chunk, first, leaves, start_at = int(size), int(chunk), int(first), int(leaves), float(start_at)
with h5py.File(path, "r") as handle:
    rows = [(first + k * chunk, handle["X"][first + k * chunk:first + (k + 1) * chunk],
             handle["y"][first + k * chunk:first + (k + 1) * chunk]) for k in range(leaves)]
settings = BuildSettings(size, "sensitivity", True, None, 0, 7)
with blas_single_thread(), worker_threads(1):
    leaf_node(settings, rows[0][1][:20000], rows[0][2][:20000].astype(np.int64), 0, 0)
    time.sleep(max(0.0, start_at - time.time()))
    started, cpu = time.perf_counter(), time.process_time()
    for k, (offset, X, y) in enumerate(rows):
        leaf_node(settings, X, y.astype(np.int64), offset, k)
print(json.dumps({"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu}))
"""


def ceiling(path: str, size: int, chunk: int, leaves: int, lead_seconds: float = 15) -> dict:
    """Leaves per second of 1 and of 2 independent processes (``CEILING_CHILD``); the second
    pair starts together, each process on its own rows, ``lead_seconds`` after they were
    launched (time to read their rows and compile)."""

    def start(first: int, start_at: float) -> subprocess.Popen:
        code = [sys.executable, "-c", CEILING_CHILD, path, size, chunk, first, leaves, start_at]
        return subprocess.Popen(list(map(str, code)), stdout=subprocess.PIPE, text=True)

    def finish(process) -> dict:
        output, _ = process.communicate()
        if process.returncode:
            raise RuntimeError(f"a ceiling process failed ({process.returncode})")
        return json.loads(output.strip().splitlines()[-1])

    one = finish(start(0, time.time() + lead_seconds))
    start_at = time.time() + lead_seconds * 4 / 3  # both read their rows and compile by then
    pair = [start(0, start_at), start(leaves * chunk, start_at)]
    two = [finish(process) for process in pair]
    rate_one = leaves / one["seconds"]
    rate_two = 2 * leaves / max(run["seconds"] for run in two)
    return {"leaves": leaves, "one": one, "two": two, "ratio": rate_two / rate_one}


def _child(code: str, *args) -> dict:
    """Run ``code`` in a fresh interpreter; its last line of JSON, with the machine's load
    average (1 minute) when it started and when it ended."""
    load = os.getloadavg()[0]
    env = dict(os.environ)
    env.pop("CORESET_ENGINE_THREADS", None)
    output = subprocess.run([sys.executable, "-c", code, *map(str, args)], check=True,
                            capture_output=True, text=True, env=env).stdout  # fmt: skip
    return {**json.loads(output.strip().splitlines()[-1]), "load": [load, os.getloadavg()[0]]}


def ensure_file(path: str, rows: int) -> None:
    if os.path.exists(path):
        return
    print(f"writing {path} (coreset-engine make-data --rows {rows}) ...", flush=True)
    subprocess.run(["coreset-engine", "make-data", "--rows", str(rows), "--out", path,
                    "--quiet"], check=True)  # fmt: skip


def dask_figures(result: dict, rows: int) -> dict:
    """Derived numbers of one Dask build: rows/s, CPU, overhead, per-task costs."""
    compute = result["task_compute"]
    leaf = compute.get("coreset-leaf", {"count": 0, "seconds": 0.0})
    merges = [compute[k] for k in ("coreset-merge", "coreset-spine") if k in compute]
    merge_count = sum(m["count"] for m in merges)
    merge_seconds = sum(m["seconds"] for m in merges)
    busy = sum(part["seconds"] for part in compute.values())
    workers = result["workers"]
    cpu = result["cpu_seconds"]
    return {
        "rows_per_second": rows / result["seconds"],
        "cpu_seconds_total": sum(cpu.values()),
        "tasks_per_million_rows": result["tasks"] / (rows / 1e6),
        "leaf_seconds_mean": leaf["seconds"] / max(leaf["count"], 1),
        "merge_seconds_mean": merge_seconds / max(merge_count, 1),
        "label_seconds": compute.get("coreset-labels", {"seconds": 0.0})["seconds"],
        # worker time not spent running a task: scheduling, transfers, idle at the ends
        "outside_tasks_seconds": result["seconds"] - busy / workers,
        "outside_leaf_work_seconds": result["seconds"] - leaf["seconds"] / workers,
        "bytes_per_node": result["tree_bytes"] / max(result["nodes"], 1),
    }


def run(args) -> dict:
    path = args.path or f"/tmp/coreset_synthetic_{args.rows}.h5"
    ensure_file(path, args.rows)
    with h5py.File(path, "r") as handle:
        n, d = handle["X"].shape
        dtype = str(handle["X"].dtype)
    results = {
        "command": "python -m benchmarks.bench_dask " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "rows": n, "features": d, "dtype": dtype, "file_gb": os.path.getsize(path) / 1e9,
        "coreset_size": args.size, "chunk": args.chunk,
        "cpus": len(os.sched_getaffinity(0)), "load_average": os.getloadavg(),
        "runs": {},
    }  # fmt: skip
    for cache in args.caches:
        runs = {}
        if cache == "cold":
            drop_from_page_cache(path)
        else:
            plain_read_seconds(path, args.chunk)
        runs["read"] = {"seconds": plain_read_seconds(path, args.chunk)}
        print(f"[{cache}] plain read {runs['read']['seconds']:.2f} s", flush=True)
        local = _child(LOCAL_CHILD, path, args.size, args.chunk, cache)
        local["rows_per_second"] = n / local["seconds"]
        runs["local"] = local
        print(f"[{cache}] local build {local['seconds']:.2f} s", flush=True)
        for workers in args.workers:
            result = _child(DASK_CHILD, path, args.size, args.chunk, cache, workers)
            result.update(dask_figures(result, n))
            runs[f"dask_{workers}"] = result
            print(f"[{cache}] Dask, {workers} worker processes: {result['seconds']:.2f} s",
                  flush=True)  # fmt: skip
        results["runs"][cache] = runs
    if args.ceiling_leaves:
        results["ceiling"] = ceiling(path, args.size, args.chunk, args.ceiling_leaves)
        print(f"2 independent processes vs 1: {results['ceiling']['ratio']:.2f}x", flush=True)
    hashes = {run["tree"] for runs in results["runs"].values() for key, run in runs.items()
              if key != "read"}  # fmt: skip
    results["same_tree_everywhere"] = len(hashes) == 1
    if args.rss_rows:
        big = args.rss_path or f"/tmp/coreset_synthetic_{args.rss_rows}.h5"
        ensure_file(big, args.rss_rows)
        workers = max(args.workers)
        result = _child(DASK_CHILD, big, args.size, args.chunk, "warm", workers)
        result.update(dask_figures(result, args.rss_rows))
        results["rss_big"] = {"rows": args.rss_rows, **result}
        print(f"[{args.rss_rows:,} rows] Dask, {workers} workers: {result['seconds']:.2f} s, "
              f"client peak RSS {result['client_peak_rss_mb']:.0f} MB", flush=True)  # fmt: skip
    return results


# ------------------------------------------------------------------------------- reports
def markdown(results: dict) -> str:
    n = results["rows"]
    lines = [
        f"## Dask: local build vs worker processes ({n / 1e6:.0f}M rows, {results['cpus']} cores)",
        "",
        (
            f"Produced by `{results['command'].strip()}` on {results['date']} "
            f"({results['cpus']} cores, load average {results['load_average'][0]:.1f} at the "
            f"start); {n:,} x {results['features']} {results['dtype']} "
            f"({results['file_gb']:.2f} GB), coreset {results['coreset_size']:,}, "
            f"{results['chunk']:,}-row leaves. Each build in a fresh process; Dask: the "
            "LocalCluster of single-threaded worker processes that `--workers` starts, timed "
            "after it started and warmed up. CPU s: the client's process (which also runs the "
            "LocalCluster's scheduler and nannies) and the workers'. Outside tasks: seconds a "
            "worker was not running a task (scheduling, transfers, the ends of the build)."
        ),
        "",
        (
            "| cache | run | wall s | CPU s | rows/s | vs 1 worker | tasks / M rows | "
            "outside tasks s | client peak RSS MB | worker peak RSS MB |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for cache, runs in results["runs"].items():
        one = runs.get("dask_1", {}).get("seconds")
        for key, run in runs.items():
            if key == "read":
                lines.append(f"| {cache} | plain read | {run['seconds']:.2f} | | | | | | | |")
            elif key == "local":
                lines.append(
                    f"| {cache} | local build | {run['seconds']:.2f} | {run['cpu_seconds']:.1f} "
                    f"| {run['rows_per_second'] / 1e6:.2f}M | | | | {run['peak_rss_mb']:.0f} | |"
                )
            else:
                speedup = f"{one / run['seconds']:.2f}x" if one else ""
                rss = " / ".join(f"{r:.0f}" for r in run["worker_peak_rss_mb"])
                lines.append(
                    f"| {cache} | Dask, {run['workers']} worker{'s' * (run['workers'] > 1)} | "
                    f"{run['seconds']:.2f} | {run['cpu_seconds_total']:.1f} | "
                    f"{run['rows_per_second'] / 1e6:.2f}M | {speedup} | "
                    f"{run['tasks_per_million_rows']:.1f} | {run['outside_tasks_seconds']:.2f} | "
                    f"{run['client_peak_rss_mb']:.0f} | {rss} |"
                )
    lines.append("")
    loads = [results["load_average"][0]] + [
        value for runs in results["runs"].values() for run in runs.values()
        for value in run.get("load", ())
    ]  # fmt: skip
    if max(loads) >= results["cpus"]:
        lines.append(
            f"The machine was busy (load average up to {max(loads):.1f} on {results['cpus']} "
            "cores during the run, other jobs running): wall times and speedups are not "
            "representative; CPU seconds are steadier. Rerun on a quiet machine to judge the "
            "2-worker speedup."
        )
    if results.get("note"):
        lines += [results["note"], ""]
    lines.append(
        "Every build made the same tree (hash of all nodes): "
        + ("yes." if results["same_tree_everywhere"] else "**no**.")
    )
    warm = results["runs"].get("warm") or next(iter(results["runs"].values()))
    reference = warm.get("dask_1") or next(r for k, r in warm.items() if k.startswith("dask"))
    lines.append(
        f"Per task (one thread, {warm and 'warm'}): a {results['chunk']:,}-row leaf "
        f"{reference['leaf_seconds_mean']:.2f} s (read + build), a merge "
        f"{reference['merge_seconds_mean']:.3f} s; a node is "
        f"{reference['bytes_per_node'] / 1e6:.2f} MB; {reference['bytes_to_client'] / 1e6:.0f} "
        f"MB reached the client in all ({reference['nodes']} nodes). Outside the leaf work "
        f"(wall time minus leaf task time per worker): {reference['outside_leaf_work_seconds']:.2f} s "
        f"of {reference['seconds']:.2f} s; an empty task costs the scheduler "
        f"{reference['empty_task_seconds'] * 1e3:.1f} ms."
    )
    if "ceiling" in results:
        ceil = results["ceiling"]
        lines.append(
            f"The machine's own ceiling: 2 independent processes, each building "
            f"{ceil['leaves']} leaves of its own rows in memory on one thread (no Dask, no "
            f"reads), built {ceil['ratio']:.2f}x the leaves per second of 1 "
            f"({ceil['one']['seconds']:.2f} s for {ceil['leaves']} leaves alone, "
            f"{max(run['seconds'] for run in ceil['two']):.2f} s side by side): what the "
            "2-worker speedup is measured against."
        )
    if "rss_big" in results:
        big, small = results["rss_big"], results["runs"][next(iter(results["runs"]))]
        small = small[f"dask_{big['workers']}"]
        lines.append(
            f"Client memory, {big['workers']} workers: {n / 1e6:.0f}M rows: peak RSS "
            f"{small['client_peak_rss_mb']:.0f} MB, of which the tree "
            f"{small['tree_bytes'] / 2**20:.0f} MB; {big['rows'] / 1e6:.0f}M rows: "
            f"{big['client_peak_rss_mb']:.0f} MB, tree {big['tree_bytes'] / 2**20:.0f} MB "
            f"(RSS before the build {small['client_rss_mb_before']:.0f} / "
            f"{big['client_rss_mb_before']:.0f} MB). Rows never reach the client: it grows by "
            "the nodes it keeps, as a local build does."
        )
    return "\n".join(lines) + "\n"


def projection(results: dict, rows: float = 1e9, workers=(8, 64, 512)) -> list[dict]:
    """Time, bytes to the client and scheduler tasks for ``rows`` rows, from the per-leaf and
    per-merge costs, node size and per-task overhead measured in the warm 1-worker run."""
    warm = results["runs"].get("warm") or next(iter(results["runs"].values()))
    measured = warm.get("dask_1") or next(r for k, r in warm.items() if k.startswith("dask"))
    chunk = results["chunk"]
    n_measured = results["rows"]
    leaf, merge = measured["leaf_seconds_mean"], measured["merge_seconds_mean"]
    label_per_row = measured["label_seconds"] / n_measured
    per_task = measured["empty_task_seconds"]
    table = []
    for chunk_rows in (chunk, 10 * chunk):
        leaves = math.ceil(rows / chunk_rows)
        leaf_seconds = leaf * chunk_rows / chunk  # a leaf's cost is linear in its rows
        tasks = 2 * leaves + math.ceil(rows / 4e6) + 1
        for w in workers:
            seconds = (
                label_per_row * rows / w
                + math.ceil(leaves / w) * leaf_seconds
                + (leaves - 1) * merge / w
                + math.ceil(math.log2(leaves)) * merge
                + tasks * per_task
            )
            table.append({
                "rows": rows, "chunk": chunk_rows, "workers": w, "leaves": leaves,
                "seconds": seconds, "tasks": tasks,
                "bytes_to_client": (2 * leaves) * measured["bytes_per_node"],
            })  # fmt: skip
    return table


def scaling_markdown(results: dict) -> str:
    warm = results["runs"].get("warm") or next(iter(results["runs"].values()))
    measured = warm.get("dask_1") or next(r for k, r in warm.items() if k.startswith("dask"))
    per_task = measured["empty_task_seconds"]
    label_per_million = measured["label_seconds"] / results["rows"] * 1e6
    lines = [
        "# Sizing a Dask cluster for a build",
        "",
        (
            f"Written by `{results['command'].strip()}` ({results['date']}) from the warm "
            f"one-worker build of {results['rows']:,} x {results['features']} "
            f"{results['dtype']} rows, coreset {results['coreset_size']:,} (numbers in "
            "docs/BENCHMARKS.md, section Dask). Measured on a shared 2-core machine: scale "
            "the per-leaf cost by your cores' speed."
        ),
        "",
        "## The model",
        "",
        (
            "A build of n rows with leaves of c rows on W single-threaded workers runs "
            "L = ceil(n / c) leaf tasks, L - 1 merges (plus a few spine merges) and n / 4M "
            "label-counting tasks:"
        ),
        "",
        (
            "    T(n, W) = t_label n / W + ceil(L / W) t_leaf + (L - 1) t_merge / W "
            "+ ceil(log2 L) t_merge + tasks s_task"
        ),
        "    bytes to the client = (2 L - 1 + spine) b_node        tasks = 2 L + n / 4M + 1",
        "",
        (
            f"- t_leaf = {measured['leaf_seconds_mean']:.2f} s: one {results['chunk']:,}-row leaf "
            "(read and build, one thread; linear in c)"
        ),
        f"- t_merge = {measured['merge_seconds_mean']:.3f} s: one merge of two nodes",
        (f"- t_label = {label_per_million:.3f} s per million rows: the first pass over the labels"),
        (
            f"- s_task = {per_task * 1e3:.2f} ms: the scheduler's cost per task (2,000 empty "
            "tasks on the same cluster; one scheduler process: these add up serially)"
        ),
        (
            f"- b_node = {measured['bytes_per_node'] / 1e6:.2f} MB: one node (coreset rows, "
            "weights, row numbers, Gram matrix)"
        ),
        "",
        (
            "The last merges form a chain of log2 L steps that no number of workers shortens; "
            "the client receives every node, because the tree keeps every level. Reading is "
            "part of t_leaf here (a warm page cache): on a cluster, n x row bytes must also come "
            "off its storage, T >= n x row bytes / aggregate read bandwidth "
            f"({results['features'] * 4 + 8} bytes a row here)."
        ),
        "",
        "## One billion rows",
        "",
        ("| leaf rows | workers | leaves | time (model) | bytes to the client | scheduler tasks |"),
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in projection(results):
        lines.append(
            f"| {row['chunk']:,} | {row['workers']} | {row['leaves']:,} | "
            f"{_duration(row['seconds'])} | {row['bytes_to_client'] / 1e9:.1f} GB | "
            f"{row['tasks']:,} |"
        )
    lines += [
        "",
        (
            "Larger leaves cut the client's share (fewer nodes) and the scheduler's (fewer tasks) "
            "at the cost of worker memory (a leaf task holds its chunk: 10M rows of 54 float32 "
            "features are 2.2 GB) and of parallelism when leaves are few."
        ),
        "",
        "## Worker settings",
        "",
        (
            "- One thread per worker process (`--nthreads 1`, as `--workers` starts them): "
            "processes side-step the GIL and BLAS contention; a task uses its worker's threads "
            "for its row passes, so threaded workers also work."
        ),
        (
            "- Memory: a leaf task holds one chunk (c x row bytes) and its temporaries, a merge "
            "two nodes; Dask's root-task queuing sends a worker thread at most one leaf beyond "
            f"the one it runs. Measured: worker peak RSS {max(measured['worker_peak_rss_mb']):.0f} "
            f"MB{_idle(measured)} with chunks of "
            f"{results['chunk'] * results['features'] * 4 / 2**20:.0f} MB."
        ),
        (
            "- Dask's nanny starts workers with `MALLOC_TRIM_THRESHOLD_=65536`, which also pins "
            "glibc's mmap threshold: every temporary array of a leaf is then mapped afresh "
            "(tens of thousands of page faults, 20-50% more CPU a leaf). `--workers` clears it; "
            "on your own cluster set `distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_` "
            "to null in the Dask configuration, or start workers with the variable unset."
        ),
        (
            "- Every worker opens the data file at the path the client gave: the same path must "
            "reach the same file on every machine (each leaf task checks the file's fingerprint)."
        ),
    ]
    return "\n".join(lines) + "\n"


def _idle(run: dict) -> str:
    before = run.get("worker_rss_mb_before")
    return "" if before is None else f" (idle after imports: {before:.0f} MB)"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_file_options(parser)
    parser.add_argument("--workers", default="1,2", help="Worker processes per cluster.")
    parser.add_argument("--caches", default="cold,warm")
    parser.add_argument("--rss-rows", type=int, default=None,
                        help="Also build a file of this many rows (client RSS).")  # fmt: skip
    parser.add_argument("--rss-path", default=None)
    parser.add_argument("--ceiling-leaves", type=int, default=4,
                        help="Leaves each of 1 and 2 independent processes builds (no Dask): "
                        "the machine's ceiling for the 2-worker speedup; 0 skips it.")  # fmt: skip
    parser.add_argument("--out", default=None, help="JSON results.")
    parser.add_argument("--markdown", default=None,
                        help="Write the section 'dask' of this Markdown file (docs/BENCHMARKS.md).")  # fmt: skip
    parser.add_argument("--note", default="", help="A remark printed above the tree check.")
    parser.add_argument("--section", default="dask",
                        help="Name of the --markdown section (another machine's run keeps its own).")  # fmt: skip
    parser.add_argument("--scaling", default=None, help="docs/SCALING.md.")
    parser.add_argument("--from-json", default=None,
                        help="Write the reports from this --out JSON instead of running.")  # fmt: skip
    args = parser.parse_args(argv)
    args.workers = [int(w) for w in args.workers.split(",")]
    args.caches = args.caches.split(",")
    if args.from_json:
        with open(args.from_json) as handle:
            results = json.load(handle)
        args.out = None
    else:
        results = run(args)
    if args.note:
        results["note"] = args.note
    report = markdown(results)
    print(report)
    if args.markdown:
        write_section(args.markdown, args.section, report)
    for path, text in ((args.out, json.dumps(results, indent=1)),
                       (args.scaling, scaling_markdown(results) if args.scaling else None)):  # fmt: skip
        if path and text is not None:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with open(path, "w") as handle:
                handle.write(text)
    return results


if __name__ == "__main__":
    main()
