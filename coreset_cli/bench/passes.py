"""Where a build's CPU time goes: CPU-seconds per million rows of every pass of a leaf.

    python -m benchmarks.bench_passes                       # 1M-row leaves, both inputs
    python -m benchmarks.bench_passes --markdown docs/BENCHMARKS.md

Two inputs, the two cases the cost-per-row work is judged on: 54 float32 columns with 7 classes
(``make_synthetic``, the 46M-row file's distribution) and 94 float64 columns, mostly one-hot,
2 classes (``make_weak_signal``, a weak-signal table held in memory). On one leaf of
``--rows`` rows, on one thread (row passes and BLAS), each pass alone, best of ``--repeats``:
the scan (finite check, column max and sums, row hashes), the Gram matrix, the leverage scores
(BLAS trmm with the triangular leverage projection, in the scoring kernel), the pilot fit on a 5,000-row draw,
the pilot factor (GEMM with the pilot's coefficients; with calibrated weights the same pass
sums the leaf's per-class gradient sums), duplicate merging, the draw and the calibration of
the drawn weights (the tilt); then the whole leaf (``leaf_node``) and what it spends outside
the passes, and the merge of two leaves' coresets (``merge_nodes``, 2 x 20,000 rows: a tree of
L leaves makes L - 1 of them, so its cost per leaf's rows adds to the leaf's). A plain copy of
the rows is the memory-bandwidth floor. Then a whole in-memory tree build
(``CoresetTree.build``, every thread) of ``--build-rows`` rows: wall rows/s and CPU-s per
million rows.
CPU seconds are the process's (``time.process_time``); on a loaded machine they rise less
than wall time but still rise, so compare passes within one run.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
import time
from collections.abc import Callable

import numpy as np

PASSES = ("scan", "gram", "leverage scores", "pilot fit", "pilot factor", "duplicates", "draw",
          "calibration")
CORESET_ROWS = 20_000
#: Columns of the leverage sketch in the what-if row (``CoresetTree(sketch_size=...)``).
SKETCH_COLUMNS = 32
#: What-if rows: the leaf with ``CoresetTree(calibrate=False)``, two phases (its default) and one.
PLAIN_TWO_PHASES = "whole leaf, calibrate=False (two phases)"
PLAIN_ONE_PHASE = "whole leaf, calibrate=False, one phase"
#: The merge of two leaves' coresets (CORESET_ROWS each), per leaf's rows: a tree makes one
#: merge fewer than it has leaves.
MERGE = "merge of two coresets (one per leaf)"


def _inputs(rows: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from coreset_engine.synthetic import make_synthetic, make_weak_signal

    return {
        "54 float32, 7 classes": make_synthetic(rows, random_state=0),
        "94 float64 one-hot, 2 classes": make_weak_signal(rows, random_state=0),
    }


def _cpu_seconds(function: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        function()
        best = min(best, time.process_time() - started)
    return best


def measure_leaf(X: np.ndarray, y: np.ndarray, repeats: int = 3) -> dict[str, float]:
    """CPU seconds of each pass over one leaf of (X, y), on the calling thread's settings."""
    from coreset_engine import _build
    from coreset_engine._build import BuildSettings, _node_pilot, leaf_node, merge_nodes
    from coreset_engine._calibration import calibrate_draw
    from coreset_engine._cpu import scan_rows
    from coreset_engine._dedup import merge_duplicates
    from coreset_engine._linalg import gram_with_intercept
    from coreset_engine._sampling import draw
    from coreset_engine.methods import NodeStats, get_method

    n_classes = int(y.max()) + 1
    settings = BuildSettings(CORESET_ROWS, "sensitivity", True, None, 0, n_classes,
                             calibrate=True)  # fmt: skip
    method = get_method("sensitivity")
    leaf_node(settings, X[:20_000], y[:20_000], 0, 0)  # compiles the kernels
    scan = scan_rows(X, y, hashes=True)
    gram = gram_with_intercept(X, scan.col_max, scan.col_sum)
    stats = NodeStats(X.shape[0], gram, np.bincount(y, minlength=n_classes).astype(np.int64))
    scores = method.scores(X, y, None, stats)
    key = (0, 0, 0, 0)
    pilot = _node_pilot(settings, X, y, None, scores, key)
    factor, targets = method.pilot_factor(X, y, pilot, n_classes, class_sums_of=None)
    final = scores * factor
    miss = method.pilot_miss(factor)
    rng = np.random.default_rng(0)
    drawn, probabilities = draw(final, y, n_classes, CORESET_ROWS, np.random.default_rng(1))

    def calibration():  # as the leaf does it: the targets come from the pilot factor's pass
        return calibrate_draw(X, y, None, miss, n_classes, drawn, 1.0 / probabilities,
                              probabilities, targets)  # fmt: skip

    seconds = {
        "scan": _cpu_seconds(lambda: scan_rows(X, y, hashes=True), repeats),
        "gram": _cpu_seconds(lambda: gram_with_intercept(X, scan.col_max, scan.col_sum), repeats),
        "leverage scores": _cpu_seconds(lambda: method.scores(X, y, None, stats), repeats),
        "pilot fit": _cpu_seconds(lambda: _node_pilot(settings, X, y, None, scores, key), repeats),
        "pilot factor": _cpu_seconds(
            lambda: method.pilot_factor(X, y, pilot, n_classes, class_sums_of=None), repeats
        ),
        "duplicates": _cpu_seconds(lambda: merge_duplicates(X, y, None, scan.hashes), repeats),
        "draw": _cpu_seconds(lambda: draw(final, y, n_classes, CORESET_ROWS, rng), repeats),
        "calibration": _cpu_seconds(calibration, repeats),
    }
    seconds["whole leaf"] = _cpu_seconds(lambda: leaf_node(settings, X, y, 0, 0), repeats)
    seconds["outside the passes"] = seconds["whole leaf"] - sum(seconds[p] for p in PASSES)
    # a tree of L leaves makes L - 1 merges, each of two coresets: about one per leaf
    half = X.shape[0] // 2
    left = leaf_node(settings, X[:half], y[:half], 0, 0)
    right = leaf_node(settings, X[half:], y[half:], half, 1)
    seconds[MERGE] = _cpu_seconds(lambda: merge_nodes(settings, left, right, spine=False),
                                  repeats)  # fmt: skip
    target = np.ones_like(X)  # touched once, so the copy below is memory traffic alone
    seconds["copy (floor)"] = _cpu_seconds(lambda: np.copyto(target, X), repeats)
    # what-if: leverage from a Johnson-Lindenstrauss sketch of the projection (an option, not
    # the default: its scores are approximate)
    sketched = dataclasses.replace(settings, sketch_size=SKETCH_COLUMNS)
    leaf_node(sketched, X[:20_000], y[:20_000], 0, 0)
    seconds[f"whole leaf, sketch_size={SKETCH_COLUMNS}"] = _cpu_seconds(
        lambda: leaf_node(sketched, X, y, 0, 0), repeats
    )
    # uncalibrated weights: the pilot's pass over a first-phase sample (_build._first_phase),
    # against the same leaf drawn in one phase
    plain = dataclasses.replace(settings, calibrate=False)
    seconds[PLAIN_TWO_PHASES] = _cpu_seconds(lambda: leaf_node(plain, X, y, 0, 0), repeats)
    saved = _build.FIRST_PHASE_RATIO
    _build.FIRST_PHASE_RATIO = 0
    try:
        seconds[PLAIN_ONE_PHASE] = _cpu_seconds(lambda: leaf_node(plain, X, y, 0, 0), repeats)
    finally:
        _build.FIRST_PHASE_RATIO = saved
    return seconds


def measure_build(X: np.ndarray, y: np.ndarray, repeats: int = 1) -> dict[str, float]:
    """A whole in-memory build with every thread: wall and CPU seconds of the fastest of
    ``repeats`` builds."""
    from coreset_engine import CoresetTree

    CoresetTree(coreset_size=1_000, chunk_size=20_000, random_state=0).build(X[:50_000], y[:50_000])
    best = None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        tree = CoresetTree(coreset_size=CORESET_ROWS, random_state=0).build(X, y)
        run = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
               "rows": X.shape[0], "chunk": tree.chunk_size}  # fmt: skip
        best = run if best is None or run["wall"] < best["wall"] else best
    return best


def run(rows: int, build_rows: int, repeats: int, echo=print) -> dict:
    from threadpoolctl import threadpool_limits

    from coreset_engine._cpu import worker_threads

    results = {}
    for name, (X_all, y_all) in _inputs(max(rows, build_rows)).items():
        X, y = np.ascontiguousarray(X_all[:rows]), y_all[:rows]
        with threadpool_limits(1), worker_threads(1):
            leaf = measure_leaf(X, y, repeats)
        per_million = {k: v * 1e6 / rows for k, v in leaf.items()}
        build = (measure_build(X_all[:build_rows], y_all[:build_rows], repeats)
                 if build_rows else None)  # fmt: skip
        results[name] = {"leaf_rows": rows, "cpu_s_per_million": per_million, "build": build}
        echo(f"\n{name}: CPU-s per million rows, one thread, one {rows:,}-row leaf")
        for key, value in per_million.items():
            echo(f"  {key:<20} {value:6.3f}")
        if build:
            echo(f"  build of {build['rows']:,} rows (every thread): "
                 f"{build['rows'] / build['wall'] / 1e6:.2f}M rows/s wall, "
                 f"{build['cpu'] * 1e6 / build['rows']:.2f} CPU-s per million rows")  # fmt: skip
        del X_all, y_all, X, y
    return results


def markdown(results: dict, command: str) -> str:
    names = list(results)
    keys = list(next(iter(results.values()))["cpu_s_per_million"])
    lines = [
        "## Where a build's time goes (CPU-s per million rows per pass)",
        "",
        (
            f"Written by `{command}` on {time.strftime('%Y-%m-%d')} ({os.cpu_count()} CPUs; "
            f"load average {os.getloadavg()[0]:.1f} at the end: on a loaded machine CPU seconds "
            "rise too, compare the passes of one run). One leaf, one thread for row passes and BLAS, "
            "best of the repeats; the coreset is 20,000 rows. Float64 rows are scored in float32 "
            "(the Gram matrix stays float64). The whole build: the default 1,000,000-row "
            "leaves, fastest of the repeats."
        ),
        "",
        "| pass | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for key in keys:
        cells = [f"{results[n]['cpu_s_per_million'][key]:.3f}" for n in names]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    builds = [results[n]["build"] for n in names]
    if all(builds):
        lines.append(
            "| whole build, every thread: M rows/s (wall) | "
            + " | ".join(f"{b['rows'] / b['wall'] / 1e6:.2f} ({b['rows']:,} rows)" for b in builds)
            + " |"
        )
        lines.append(
            "| whole build: CPU-s per million rows | "
            + " | ".join(f"{b['cpu'] * 1e6 / b['rows']:.3f}" for b in builds)
            + " |"
        )
        cpus = os.cpu_count() or 1
        lines.append(
            f"| ceiling on {cpus} CPUs at that CPU cost (projection): M rows/s | "
            + " | ".join(f"{cpus * b['rows'] / b['cpu'] / 1e6:.2f}" for b in builds)
            + " |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the measured leaf")
    parser.add_argument("--build-rows", type=int, default=2_400_000,
                        help="rows of the whole build (0: none)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", default=None, help="write the 'passes' section here")
    args = parser.parse_args(argv)
    for name in ("rows", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.build_rows < 0:
        parser.error(f"--build-rows must be at least 0, got {args.build_rows}")
    words = sys.argv[1:] if argv is None else list(argv)
    command = " ".join(["python -m benchmarks.bench_passes", *map(shlex.quote, words)])
    results = run(args.rows, args.build_rows, args.repeats)
    if args.markdown:
        from .report import write_section

        print(f"wrote {write_section(args.markdown, 'passes', markdown(results, command))}")
    return results
