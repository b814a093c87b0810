"""Building a tree from HDF5, Parquet and CSV files of the same rows vs plainly reading each
file, side by side in one run; and the categorical encoder's cost per million rows.

    python -m benchmarks.bench_formats                         # 10M x 54 float32, 7 classes
    python -m benchmarks.bench_formats --rows 1000000 --markdown docs/BENCHMARKS.md

The synthetic set (``coreset_engine.synthetic``) is written as HDF5, Parquet (snappy, 1M-row
row groups) and CSV into a temporary folder (removed afterwards unless ``--keep``; free disk is
checked first). Per format: a plain read of every column by the same reader the build uses
(HDF5: chunked ``read_direct``; Parquet and CSV: pyarrow record batches), the first pass alone
(label column only), and ``build_from_file`` in a fresh subprocess (its peak RSS is its own),
each "cold" (the file dropped from the page cache with ``posix_fadvise(DONTNEED)``) and "warm",
with the build's CPU seconds (steadier than wall time on a shared machine).
CSV holds the float32 values as text and is read back as float64 (its tree is float64).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.bench_scale import drop_from_page_cache, plain_read_seconds
from coreset_cli.bench.report import write_section

FORMATS = ("hdf5", "parquet", "csv")
#: Bytes per row and feature on disk, for the free-space check (HDF5, Parquet, CSV text).
_BYTES_PER_VALUE = 4 + 4 + 13

CHILD = r"""
import json, resource, sys, time
import numpy as np
from coreset_engine import CoresetTree
path, size, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)  # compile the kernels for both dtypes outside the timer
for dtype in (np.float32, np.float64):
    X = rng.normal(size=(10000, 54)).astype(dtype)
    CoresetTree(coreset_size=500, chunk_size=2000).build(X, rng.integers(0, 7, 10000))
import gc; gc.collect()
before = resource.getrusage(resource.RUSAGE_SELF)
started = time.perf_counter()
tree = CoresetTree(coreset_size=size, chunk_size=chunk, random_state=0).build_from_file(path)
seconds = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": seconds, "peak_rss_mb": after.ru_maxrss / 1024,
                  "cpu_seconds": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
                  "dtype": str(tree.get_coreset().X.dtype), "depth": tree.depth_}))
"""


def write_files(folder: str, rows: int, features: int) -> dict[str, str]:
    """The synthetic rows as HDF5, then copied block by block to Parquet and CSV."""
    import h5py
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow import csv

    from coreset_engine.synthetic import make_synthetic_hdf5

    paths = {name: os.path.join(folder, f"synthetic.{suffix}")
             for name, suffix in (("hdf5", "h5"), ("parquet", "parquet"), ("csv", "csv"))}  # fmt: skip
    print(f"writing {paths['hdf5']} ...", flush=True)
    make_synthetic_hdf5(paths["hdf5"], rows, n_features=features)
    names = [f"f{i}" for i in range(features)]
    schema = pa.schema([*[(name, pa.float32()) for name in names], ("y", pa.int64())])
    print("writing Parquet and CSV copies ...", flush=True)
    with h5py.File(paths["hdf5"], "r") as handle, \
            pq.ParquetWriter(paths["parquet"], schema, compression="snappy") as parquet, \
            csv.CSVWriter(paths["csv"], schema) as text:  # fmt: skip
        for start in range(0, rows, 1_000_000):
            X = handle["X"][start : start + 1_000_000]
            y = handle["y"][start : start + 1_000_000]
            table = pa.table([*X.T, y], schema=schema)
            parquet.write_table(table, row_group_size=1_000_000)
            text.write_table(table)
    return paths


def table_read_seconds(path: str, file_format: str) -> float:
    """Every column of the file as Arrow record batches, by the reader the build uses."""
    from coreset_engine.readers import make_source

    started = time.perf_counter()
    with make_source(path, file_format, None, "y").open() as reader:
        names = [*reader.feature_names, "y"]
        for _ in reader._batches(names, 1 << 16):
            pass
    return time.perf_counter() - started


def read_seconds(path: str, file_format: str, chunk: int) -> float:
    if file_format == "hdf5":
        return plain_read_seconds(path, chunk)
    return table_read_seconds(path, file_format)


def first_pass_seconds(path: str) -> float:
    from coreset_engine._inputs import EncodingSettings, first_pass
    from coreset_engine.readers import make_source

    started = time.perf_counter()
    with make_source(path, None, None, "y").open() as reader:
        first_pass(reader, EncodingSettings(None, 100, "from_dtype", "onehot", 32))
    return time.perf_counter() - started


def build_in_child(path: str, size: int, chunk: int) -> dict:
    output = subprocess.run([sys.executable, "-c", CHILD, path, str(size), str(chunk)],
                            check=True, capture_output=True, text=True).stdout  # fmt: skip
    return json.loads(output.strip().splitlines()[-1])


def encoder_cost(rows: int = 1_000_000) -> dict:
    """Seconds per million rows to encode 2 numeric and 3 string columns (5, 50 and 1,000
    distinct values, 32 kept): the pyarrow path the build uses vs the scikit-learn transformer
    (``tree.encoder_``) it is tested equal to."""
    import pandas as pd

    from coreset_engine import CoresetTree

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "a": rng.normal(size=rows), "b": rng.normal(size=rows),
        "small": rng.choice([f"s{i}" for i in range(5)], rows),
        "medium": rng.choice([f"m{i}" for i in range(50)], rows),
        "large": rng.choice([f"l{i}" for i in range(1000)], rows),
    })  # fmt: skip
    labels = rng.integers(0, 2, rows)
    tree = CoresetTree(coreset_size=1000, chunk_size=rows, random_state=0)
    tree.build(frame.iloc[:50_000], labels[:50_000])
    started = time.perf_counter()
    fast = tree.transform(frame)
    fast_seconds = time.perf_counter() - started
    transformer = tree.encoder_
    started = time.perf_counter()
    slow = transformer.transform(frame)
    sklearn_seconds = time.perf_counter() - started
    assert np.array_equal(fast, np.asarray(slow, dtype=fast.dtype))
    scale = 1e6 / rows
    return {"rows": rows, "output_columns": int(fast.shape[1]),
            "pyarrow_seconds_per_million": fast_seconds * scale,
            "sklearn_seconds_per_million": sklearn_seconds * scale}  # fmt: skip


def markdown(results: dict, command: str) -> str:
    lines = [
        f"## Formats: build vs plain read (`{command}`)",
        "",
        (
            f"{results['rows']:,} x {results['features']} float32 (CSV: text, read as float64), "
            f"7 classes, coreset {results['coreset_size']:,}, {results['chunk']:,}-row leaves, "
            f"{results['cpus']} CPUs{'; ' + results['note'] if results.get('note') else ''}."
        ),
        "",
        (
            "| format | file GB | cache | plain read s | first pass s | build s | build / read | "
            "build CPU s | rows/s | peak RSS MB |"
        ),
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in FORMATS:
        r = results[name]
        for cache in ("cold", "warm"):
            c = r[cache]
            first = f"{r['first_pass_seconds']:.2f}" if cache == "warm" else ""
            lines.append(
                f"| {name} | {r['file_gb']:.2f} | {cache} | {c['read_seconds']:.2f} | {first} | "
                f"{c['seconds']:.2f} | {c['ratio']:.2f} | {c['cpu_seconds']:.2f} | "
                f"{c['rows_per_second']:,.0f} | {c['peak_rss_mb']:,.0f} |"
            )
    cost = results["encoder"]
    lines += [
        "",
        (
            f"Categorical encoding, {cost['output_columns']} output columns from 2 numeric and 3 "
            "string columns (5, 50, 1,000 distinct values): "
            f"{cost['pyarrow_seconds_per_million']:.2f} s per million rows with pyarrow (what "
            f"builds use), {cost['sklearn_seconds_per_million']:.2f} s with the equal "
            "scikit-learn transformer (`tree.encoder_`)."
        ),
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--features", type=int, default=54)
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=1_000_000)
    parser.add_argument("--dir", default=None, help="Folder for the files (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="Keep the files")
    parser.add_argument("--out", default=None, help="Write the results as JSON")
    parser.add_argument("--markdown", default=None,
                        help="Write the section 'formats' of this Markdown file (docs/BENCHMARKS.md)")  # fmt: skip
    parser.add_argument("--note", default="", help="A remark for the Markdown (e.g. 'busy')")
    parser.add_argument("--render", default=None,
                        help="Only print (and --markdown) the section of a JSON written by --out")  # fmt: skip
    args = parser.parse_args(argv)
    if args.render:
        with open(args.render) as handle:
            results = json.load(handle)
        text = markdown(results, results.get("command", "python -m benchmarks.bench_formats"))
        print(text)
        if args.markdown:
            write_section(args.markdown, "formats", text)
        return results
    folder = tempfile.mkdtemp(prefix="bench_formats_", dir=args.dir)
    needed = args.rows * args.features * _BYTES_PER_VALUE
    free = shutil.disk_usage(folder).free
    if free < 1.2 * needed:
        shutil.rmtree(folder)
        raise SystemExit(f"{folder}: {free / 1e9:.1f} GB free, the files need about "
                         f"{needed / 1e9:.1f} GB.")  # fmt: skip
    results = {"rows": args.rows, "features": args.features, "coreset_size": args.size,
               "chunk": args.chunk, "cpus": len(os.sched_getaffinity(0)), "note": args.note}  # fmt: skip
    try:
        paths = write_files(folder, args.rows, args.features)
        for name in FORMATS:
            path = paths[name]
            entry = {"file_gb": os.path.getsize(path) / 1e9}
            for cache in ("cold", "warm"):
                if cache == "cold":
                    drop_from_page_cache(path)
                else:
                    read_seconds(path, name, args.chunk)  # make sure it is cached
                read = read_seconds(path, name, args.chunk)
                if cache == "cold":
                    drop_from_page_cache(path)
                build = build_in_child(path, args.size, args.chunk)
                entry[cache] = {"read_seconds": read, **build, "ratio": build["seconds"] / read,
                                "rows_per_second": args.rows / build["seconds"]}  # fmt: skip
                print(f"{name:<8} {cache}: read {read:.2f} s, build {build['seconds']:.2f} s "
                      f"({build['seconds'] / read:.2f}x)", flush=True)  # fmt: skip
            entry["first_pass_seconds"] = first_pass_seconds(path)
            results[name] = entry
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    results["encoder"] = encoder_cost()
    command = "python -m benchmarks.bench_formats" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:]) if not a.startswith("/")
    )
    results["command"] = command
    text = markdown(results, command)
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(results, handle, indent=1)
    if args.markdown:
        write_section(args.markdown, "formats", text)
    return results


if __name__ == "__main__":
    main()
