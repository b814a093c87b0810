"""Plots and ``BENCHMARKS.md`` from the JSON that :mod:`coreset_cli.bench.engine` writes.

    python -m benchmarks.bench_report results/engine.json --docs-dir docs
    python -m benchmarks.bench_report results/engine.json --scale results/scale.json

One PNG per data set (loss ratio - 1 and test AUC against coreset size, median and
interquartile range over seeds) and one markdown file with a table per data set, the command and
date that produced the numbers, and notes generated from the numbers wherever sensitivity
sampling does not beat uniform sampling. The 46M-row build section is filled from the JSON
``benchmarks/bench_scale.py --out`` writes, if there is one.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

SCALE_COMMANDS = (
    "coreset-engine make-data --rows 46000000 --out /tmp/coreset_synthetic_46000000.h5",
    "python -m benchmarks.bench_scale --rows 46000000 --out results/scale.json",
)
LITERATURE = {
    "kddcup99": "For reference, Munteanu, Omlor and Woodruff (ICML 2021) report on KDD Cup '99 "
    "(median of 21 runs) uniform 6.23 / 2.22 and l2s 1.083 / 1.022 at 10,000 / 30,000 rows, "
    "sampling with replacement.",
}


def write_report(results: dict, docs_dir, *, scale_json=None) -> list[Path]:
    """Write ``bench_<dataset>.png`` per data set and ``BENCHMARKS.md`` to ``docs_dir``.
    Returns the paths written."""
    docs_dir = Path(docs_dir)
    docs_dir.mkdir(parents=True, exist_ok=True)
    written = [plot_dataset(record, docs_dir / f"bench_{name}.png")
               for name, record in results["datasets"].items()]  # fmt: skip
    paths = [scale_json] if isinstance(scale_json, (str, Path)) else list(scale_json or [])
    scales = [json.loads(Path(p).read_text()) for p in paths if Path(p).is_file()]
    markdown = docs_dir / "BENCHMARKS.md"
    text = render_markdown(results, scales or None, ", ".join(map(str, paths)))
    kept = markdown.read_text() if markdown.is_file() else ""
    markdown.write_text(with_sections(text, kept))
    return [*written, markdown]


# ------------------------------------------------------- sections other benchmarks own
#: A section of BENCHMARKS.md that another benchmark writes (formats, Dask, refit, ...):
#: kept as it is when this report rewrites the file, replaced by :func:`write_section`.
_SECTION = re.compile(r"<!-- section: ([\w-]+) -->\n.*?<!-- end of section: \1 -->\n", re.DOTALL)


def with_sections(text: str, old: str) -> str:
    """``text`` followed by every section of ``old`` (whole, in their order)."""
    return (
        text.rstrip("\n")
        + "\n"
        + "".join("\n" + match.group(0) for match in _SECTION.finditer(old))
    )


def write_section(path, name: str, text: str) -> Path:
    """Put ``text`` into the Markdown file ``path`` as its section ``name`` (between two HTML
    comments), replacing an earlier version of that section or appending it; the rest of the
    file is kept. Each benchmark owns its section, so reruns never pile up copies."""
    path = Path(path)
    block = f"<!-- section: {name} -->\n{text.strip()}\n<!-- end of section: {name} -->\n"
    old = path.read_text() if path.is_file() else ""
    pattern = re.compile(
        rf"<!-- section: {re.escape(name)} -->\n.*?<!-- end of section: {re.escape(name)} -->\n",
        re.DOTALL,
    )
    if pattern.search(old):
        new = pattern.sub(lambda _: block, old, count=1)
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)
    return path


# ----------------------------------------------------------------------------- plots
def plot_dataset(record: dict, path: Path) -> Path:
    """Two panels: loss ratio - 1 (log) and test AUC, against coreset size (log)."""
    from coreset_engine.plot import plot_loss_ratio

    plot_loss_ratio(record, path=path)
    return path


# -------------------------------------------------------------------------- markdown
def render_markdown(results: dict, scale: dict | None, scale_json=None) -> str:
    meta = results["meta"]
    lines = [
        "# Benchmarks",
        "",
        (
            f"Produced by `{meta['command']}` on {meta['date']} ({meta['seeds']} seeds; "
            f"{meta['cpu']}, {meta['cpu_count']} cores{_used(meta)}; Python {meta['python']}, NumPy "
            f"{meta['numpy']}, scikit-learn {meta['scikit_learn']}; "
            f"{_duration(meta.get('total_seconds'))}). The same command wrote "
            "every number here to `engine.json` and `engine.csv` in its `--out-dir`."
        ),
        "",
    ]
    if meta.get("quick"):
        lines += ["**Smoke run (`--quick`): row subsets, few seeds; not for quoting.**", ""]
    lines += [
        "What the columns mean:",
        "",
        (
            "- **loss ratio**: full-data L2 logistic-regression objective (C = 1) at the model "
            "fitted on the coreset with its weights, over the full-data optimum; 1 is perfect. "
            "The coreset summarises all labelled rows and the objective is over all of them. "
            "Median [interquartile range] over seeds. **one-shot**: one leaf holding every row; "
            f"**tree root**: root of a merge-and-reduce tree of {meta['tree_leaves']} leaves "
            "(leaf = rows / leaves, at least twice the coreset size)."
        ),
        (
            "- **AUC gap**: test AUC of the model fitted on all training rows minus that of the "
            "model fitted on the tree-root coreset of the training rows (80/20 stratified split; "
            "a9a: its own test file; several classes: macro one-vs-rest). Positive = the coreset "
            "model is worse. Median [IQR]."
        ),
        "- **sampling s**: seconds to build the coreset (one-shot / tree), median.",
        (
            "- **fit speedup**: seconds of the full-data fit over seconds of the fit on the "
            f"tree-root coreset; both with {_threads(meta['fit_threads'])}, both converged "
            "to tol 1e-8. Sampling time is not included; it is the column before."
        ),
        (
            "- Loss ratios and AUCs are deterministic given the seeds; seconds are not. They "
            f"come from one run on a shared {meta['cpu_count']}-core machine, so other load "
            "can inflate a cell: compare it with its neighbours and with the per-seed `values` "
            "in `engine.json`."
        ),
        "",
    ]
    for name, record in results["datasets"].items():
        lines += _dataset_section(name, record)
    if isinstance(scale, dict) or scale is None:
        scale = [scale]
    lines += _scale_sections(scale, scale_json)
    return "\n".join(lines) + "\n"


def _scale_sections(scale: list, scale_json) -> list[str]:
    """One section per scale JSON; several runs of the same size are numbered "run 2 of 3"."""
    runs, seen, lines = {}, {}, []
    for one in scale:
        if one is not None:
            runs[one["rows"]] = runs.get(one["rows"], 0) + 1
    for one in scale:
        section = _scale_section(one, scale_json)
        if one is not None and runs[one["rows"]] > 1:
            seen[one["rows"]] = seen.get(one["rows"], 0) + 1
            section[0] += f", run {seen[one['rows']]} of {runs[one['rows']]}"
        lines += section
    return lines


def _threads(count: int) -> str:
    return "one BLAS thread" if count == 1 else f"{count} BLAS threads"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "duration not recorded"
    return f"{seconds:.0f} s in all" if seconds < 120 else f"{seconds / 60:.0f} min in all"


def _dataset_section(name: str, record: dict) -> list[str]:
    full = record["full"]
    lines = [
        f"## {name}",
        "",
        (
            f"{record['rows']:,} rows x {record['features']} features, {record['classes']} classes "
            f"({', '.join(f'{c:,}' for c in record['class_counts'])}); "
            f"{record['train_rows']:,} train / {record['test_rows']:,} test. Full-data fit "
            f"{full['fit_seconds']:.1f} s; full-data test AUC {full['test_auc']:.4f}."
        ),
        "",
        f"![{name}: loss ratio and test AUC against coreset size](bench_{name}.png)",
        "",
        (
            "| rows | method | loss ratio, one-shot | loss ratio, tree root | AUC gap "
            "| sampling s | fit s | fit speedup |"
        ),
        "|---:|---|---|---|---|---:|---:|---:|",
    ]
    for r in record["results"]:
        one, tree = r["one_shot"], r["tree"]
        fit_seconds = tree["fit_seconds"]["median"]
        lines.append(
            f"| {r['size']:,} | {r['method']} | {_ratio(one['loss_ratio'])} "
            f"| {_ratio(tree['loss_ratio'])} | {_gap(r['auc']['gap'])} "
            f"| {one['sampling_seconds']['median']:.2f} / {tree['sampling_seconds']['median']:.2f} "
            f"| {fit_seconds:.2f} | {full['fit_seconds'] / max(fit_seconds, 1e-9):,.0f}x |"
        )
    notes = honest_notes(record)
    if name in LITERATURE:
        notes.append(LITERATURE[name])
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    return lines + [""]


def _ratio(stats: dict) -> str:
    return f"{stats['median']:.4f} [{stats['q1']:.4f}, {stats['q3']:.4f}]"


def _gap(stats: dict) -> str:
    if not all(math.isfinite(stats[k]) for k in ("median", "q1", "q3")):
        return "n/a"
    return f"{_signed(stats['median'])} [{_signed(stats['q1'])}, {_signed(stats['q3'])}]"


def _signed(value: float) -> str:
    """Five decimals (KDD's AUC gaps are ~1e-5) with a sign; no "-0.00000"."""
    text = f"{value:+.5f}"
    return "0.00000" if float(text) == 0 else text


def honest_notes(record: dict) -> list[str]:
    """Sentences for every size where sensitivity (or l2s) does not clearly beat uniform."""
    by_key = {(r["size"], r["method"]): r for r in record["results"]}
    notes = []
    for size in sorted({r["size"] for r in record["results"]}):
        uniform = by_key.get((size, "uniform"))
        for method in ("sensitivity", "l2s"):
            other = by_key.get((size, method))
            if other is None or uniform is None:
                continue
            notes += _compare(size, method, other, uniform)
    return notes


def _compare(size: int, method: str, other: dict, uniform: dict) -> list[str]:
    notes = []
    for path, label in (("one_shot", "one-shot"), ("tree", "tree root")):
        s, u = other[path]["loss_ratio"], uniform[path]["loss_ratio"]
        if s["median"] >= u["median"]:
            notes.append(f"{size:,} rows, {label}: {method} does **not** beat uniform "
                         f"(loss ratio {s['median']:.4f} vs {u['median']:.4f}).")  # fmt: skip
        elif s["q3"] >= u["q1"]:
            notes.append(f"{size:,} rows, {label}: {method}'s median loss ratio is lower than "
                         f"uniform's ({s['median']:.4f} vs {u['median']:.4f}) but the "
                         "interquartile ranges overlap.")  # fmt: skip
    s, u = other["auc"]["gap"], uniform["auc"]["gap"]
    if all(math.isfinite(v) for v in (s["median"], u["median"])) and s["median"] > u["median"]:
        overlap = " (within the interquartile ranges)" if s["q1"] <= u["q3"] else ""
        notes.append(f"{size:,} rows: the AUC gap is larger with {method} than with uniform "
                     f"({_signed(s['median'])} vs {_signed(u['median'])}){overlap}.")  # fmt: skip
    return notes


def _used(meta: dict) -> str:
    used = meta.get("cpus_used")
    return f", run on {used} of them" if used and used != meta["cpu_count"] else ""


def _scale_section(scale: dict | None, scale_json) -> list[str]:
    if scale is None:
        lines = ["## Building from a 46M-row file", ""]
        where = f"`{scale_json}`" if scale_json else "a scale JSON"
        return lines + [
            f"Not measured in this run ({where} was not found). It is produced by:",
            "",
            "```",
            *SCALE_COMMANDS,
            "```",
            "",
            (
                "and then this report is rewritten with `python -m benchmarks.bench_report "
                "results/engine.json --scale results/scale.json`."
            ),
            "",
        ]
    sketch = scale.get("sketch_size")
    setting = (f"coreset_size {scale['coreset_size']:,}, chunk {scale['chunk']:,}, "
               f"{'sketch_size ' + str(sketch) if sketch else 'exact leverage'}, "
               f"{scale['cpus']} CPUs ") if "coreset_size" in scale else ""  # fmt: skip
    lines = [
        f"## Building from a {scale['rows']:,}-row file"
        + (f" (sketch_size {sketch})" if sketch else ""),
        "",
        (
            f"{scale['rows']:,} x {scale['features']} {scale['dtype']}, {scale['file_gb']:.2f} GB; "
            f"{setting}(`python -m benchmarks.bench_scale --rows {scale['rows']}"
            f"{' --sketch-size ' + str(sketch) if sketch else ''}"
            f"{' --contiguous' if 'warm_contiguous' in scale else ''}"
            f"{' --baseline ' + scale['side_by_side']['baseline'] if 'side_by_side' in scale else ''}"
            "`). Each build runs in a fresh process; "
            "**cold** drops the file from the page cache first, **warm** reads it from the page "
            "cache. build/read is the build's seconds over a plain chunked read of the same file "
            "in the same run."
        ),
        "",
        (
            "| cache | plain read s | build s | build / read | rows/s | peak RSS MB | root rows "
            "| depth |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cache in ("cold", "warm", "warm_contiguous"):
        if cache not in scale:
            continue
        r = scale[cache]
        label = "warm, contiguous copy (`--contiguous`)" if cache == "warm_contiguous" else cache
        lines.append(
            f"| {label} | {r['read_seconds']:.1f} | {r['seconds']:.1f} | {r['ratio']:.2f} "
            f"| {r['rows_per_second']:,.0f} | {r['peak_rss_mb']:,.0f} | {r['root_rows']:,} "
            f"| {r['depth']} |"
        )
    if all("cpu_seconds" in scale.get(cache, {}) for cache in ("cold", "warm")):
        per_million = [scale[c]["cpu_seconds"] / scale["rows"] * 1e6 for c in ("cold", "warm")]
        lines += ["", (f"CPU time of the build (all threads): {per_million[0]:.2f} s per million "
                       f"rows cold, {per_million[1]:.2f} s warm.")]  # fmt: skip
    kernel = [(label, scale[cache]) for cache, label in
              (("cold", "cold"), ("warm", "warm"), ("warm_contiguous", "warm from the contiguous copy"))
              if "system_cpu_seconds" in scale.get(cache, {})]  # fmt: skip
    if kernel:
        lines += ["", "Of that, in the kernel (reads, page faults): " + "; ".join(
            f"{label} {r['system_cpu_seconds']:.2f} s ({r['page_faults']:,} minor page faults)"
            for label, r in kernel) + "."]  # fmt: skip
    if "warm_contiguous" in scale:
        lines += ["", ("The contiguous copy holds the same rows as contiguous datasets (h5py's "
                       "default layout): the reader maps its chunks into memory instead of "
                       "copying them into buffers (`coreset_engine._hdf5.row_mapper`). A file is "
                       "read through HDF5 instead where a leaf's rows span a gap between its "
                       "storage chunks (chunks written between another dataset's).")]  # fmt: skip
    if "side_by_side" in scale:
        ab = scale["side_by_side"]
        at = f" (commit {ab['baseline_commit']})" if ab.get("baseline_commit") else ""
        lines += ["", (f"Side by side with the checkout `{ab['baseline']}`{at} (`--baseline`): warm "
                       f"builds alternating between it and this code, {ab['reps']} each, "
                       "medians (on this machine, whose speed drifts from run to run, the "
                       "ratio is the number to read):"), "",
                  ("| file | baseline s | CPU s | kernel s | this code s | CPU s | kernel s "
                   "| faster |"), "|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for label, r in ab["files"].items():
            b, c = r["baseline"], r["current"]
            lines.append(f"| {label} | {b['seconds']:.2f} | {b['cpu_seconds']:.2f} "
                         f"| {b['system_cpu_seconds']:.2f} | {c['seconds']:.2f} "
                         f"| {c['cpu_seconds']:.2f} | {c['system_cpu_seconds']:.2f} "
                         f"| {r['speedup']:.2f}x |")  # fmt: skip
    if "warm_one_thread" in scale:
        r = scale["warm_one_thread"]
        lines += ["", (f"The warm build on one thread (`CORESET_ENGINE_THREADS=1`): "
                       f"{r['seconds']:.1f} s, {r['rows_per_second']:,.0f} rows/s; with "
                       f"{scale['cpus']} threads it is {r['speedup']:.2f}x faster.")]  # fmt: skip
    for label, r in scale.get("cold_start", {}).items():
        lines += ["", (f"Cold start, {label.replace('_', ' ')} (`NUMBA_CACHE_DIR`): import "
                       f"{r['import_seconds']:.2f} s, first build of 20,000 rows "
                       f"{r['first_build_seconds']:.2f} s.")]  # fmt: skip
    return lines + [""]


# ------------------------------------------------------------------- before / after
def compare_markdown(before: dict, after: dict, labels=("before", "after")) -> str:
    """Loss ratios of two ``engine.json`` runs side by side (median [IQR], one-shot and tree
    root) for every (data set, size, method) both hold, with the commands that made them."""
    lines = [
        (
            f"Loss ratio median [IQR]; **{labels[0]}**: `{before['meta']['command']}` "
            f"({before['meta']['date']}, {before['meta']['seeds']} seeds); **{labels[1]}**: "
            f"`{after['meta']['command']}` ({after['meta']['date']}, {after['meta']['seeds']} seeds)."
        ),
        "",
        (
            f"| data set | rows | method | one-shot {labels[0]} | one-shot {labels[1]} "
            f"| tree root {labels[0]} | tree root {labels[1]} |"
        ),
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for name, record in after["datasets"].items():
        old = before["datasets"].get(name)
        if old is None:
            continue
        earlier = {(r["size"], r["method"]): r for r in old["results"]}
        for r in record["results"]:
            o = earlier.get((r["size"], r["method"]))
            if o is None:
                continue
            cells = [_ratio_cell(x[k]["loss_ratio"]) for k in ("one_shot", "tree") for x in (o, r)]
            lines.append(f"| {name} | {r['size']:,} | {r['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _ratio_cell(stats: dict) -> str:
    return f"{stats['median']:.4f} [{stats['q1']:.4f}, {stats['q3']:.4f}]"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0].replace("\n", " "), allow_abbrev=False
    )
    parser.add_argument("json", nargs="?", default="results/engine.json")
    parser.add_argument("--docs-dir", default="docs")
    parser.add_argument("--scale", nargs="*", default=["results/scale.json"],
                        help="bench_scale.py --out JSON files (those that exist).")  # fmt: skip
    parser.add_argument("--compare", metavar="BEFORE_JSON", default=None,
                        help="print the loss ratios of BEFORE_JSON and json side by side "
                        "(and write them as a section of --section-file) instead of the report")  # fmt: skip
    parser.add_argument("--section", default="compare", help="section name for --compare")
    parser.add_argument("--section-file", default=None, help="Markdown file for --compare")
    parser.add_argument("--title", default=None, help="heading of the --compare section")
    args = parser.parse_args(argv)
    results = json.loads(Path(args.json).read_text())
    if args.compare:
        table = compare_markdown(json.loads(Path(args.compare).read_text()), results)
        print(table)
        if args.section_file:
            heading = f"## {args.title}\n\n" if args.title else ""
            print(f"wrote {write_section(args.section_file, args.section, heading + table)}")
        return
    for path in write_report(results, args.docs_dir, scale_json=args.scale):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
