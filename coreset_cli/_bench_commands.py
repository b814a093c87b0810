"""``coreset-engine bench`` and ``coreset-engine make-data``.

``bench`` runs :mod:`coreset_cli.bench.engine` (coreset quality and cost on the real data sets
and a synthetic one) and writes its report with :mod:`coreset_cli.bench.report`; both are
installed with the package (``python -m benchmarks.bench_engine`` runs the same code from a
source checkout). ``make-data`` streams a large synthetic HDF5 file
(:func:`coreset_engine.synthetic.make_synthetic_hdf5`) for the scale benchmark.
"""

from __future__ import annotations

import os
import shlex
import shutil
import time
import warnings

import click
import numpy as np

from ._errors import reported_errors


def _command_line(ctx: click.Context, name: str) -> str:
    """The options the user gave, as a command that reproduces the run."""
    words = ["coreset-engine", name]
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name)
        if source is not click.core.ParameterSource.COMMANDLINE:
            continue
        value = ctx.params[param.name]
        option = max(param.opts, key=len)
        if getattr(param, "is_flag", False):
            if value:
                words.append(option)
        else:
            words += [option, str(value)]
    return " ".join(shlex.quote(word) for word in words)


@click.command("bench")
@click.option("--datasets", default=None,
              help="Comma-separated from kddcup99, skin, a9a, bank_marketing, synthetic. "
                   "Default: all (with --quick: skin,synthetic).")  # fmt: skip
@click.option("--seeds", type=click.IntRange(min=1), default=None,
              help="Seeds per size and method. Default: 5 (with --quick: 2).")  # fmt: skip
@click.option("--sizes", default=None,
              help="Comma-separated coreset sizes for every data set. Default: a sweep of "
                   "three sizes chosen per data set.")  # fmt: skip
@click.option("--methods", default="uniform,l2s,sensitivity", show_default=True)
@click.option("--out-dir", type=click.Path(file_okay=False), default="results",
              show_default=True,
              help="engine.json, engine.csv (and the synthetic file).")  # fmt: skip
@click.option("--docs-dir", type=click.Path(file_okay=False), default=None,
              help="PNG plots and BENCHMARKS.md. Default: docs (with --quick: the out-dir, "
                   "so a smoke run never overwrites the committed report).")  # fmt: skip
@click.option("--synthetic-rows", type=click.IntRange(min=1000), default=None,
              help="Rows of the synthetic data set. "
                   "Default: 1,000,000 (with --quick: 20,000).")  # fmt: skip
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Folder with the real data files "
                   "(default: the loaders' search path).")  # fmt: skip
@click.option("--quick", is_flag=True,
              help="Smoke run in seconds: 20,000-row subsets, 2 seeds, "
                   "sizes 200 and 1,000.")  # fmt: skip
@click.pass_context
def bench_command(ctx, datasets, seeds, sizes, methods, out_dir, docs_dir, synthetic_rows,
                  data_dir, quick):  # fmt: skip
    """Coreset quality and cost: uniform vs l2s vs sensitivity on the real data sets and a
    synthetic one (loss ratio, test-AUC gap, sampling seconds, fit speedup); writes CSV, JSON,
    plots and BENCHMARKS.md."""
    from .bench import engine as bench_engine
    from .bench import report as bench_report

    try:
        size_list = bench_engine.parse_list(sizes, int)
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {sizes!r}",
                                 param_hint="--sizes") from None  # fmt: skip
    if size_list and min(size_list) < 10:
        raise click.BadParameter(f"expected sizes >= 10, got {sizes!r}", param_hint="--sizes")
    warnings.filterwarnings("ignore", module="sklearn")
    with reported_errors():
        results = bench_engine.run(
            bench_engine.parse_list(datasets), seeds=seeds, sizes=size_list,
            methods=bench_engine.parse_list(methods) or bench_engine.METHODS, out_dir=out_dir,
            quick=quick, synthetic_rows=synthetic_rows, data_home=data_dir,
            command=_command_line(ctx, "bench"), echo=click.echo,
        )  # fmt: skip
    docs_dir = docs_dir or (out_dir if quick else "docs")
    scale_json = os.path.join(out_dir, "scale.json")
    for path in bench_report.write_report(results, docs_dir, scale_json=scale_json):
        click.echo(f"wrote {path}")


@click.command("make-data")
@click.option("--rows", type=click.IntRange(min=1), default=46_000_000, show_default=True)
@click.option("--features", type=click.IntRange(min=1), default=54, show_default=True)
@click.option("--classes", type=click.IntRange(min=2), default=7, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="HDF5 file to write (datasets X float32, y int64).")  # fmt: skip
@click.option("--quiet", is_flag=True, help="No progress bar.")
def make_data_command(rows, features, classes, seed, out_path, quiet):
    """Stream a synthetic classification problem to HDF5 in bounded memory: heavy-tailed
    (Student-t) features, imbalanced classes, written 1,000,000 rows at a time."""
    from coreset_engine.synthetic import make_synthetic_hdf5

    folder = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(folder):
        raise click.ClickException(f"the folder {folder!r} of --out does not exist")
    needed = rows * (features * 4 + 8)
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise click.ClickException(f"{out_path} needs {needed / 1e9:.1f} GB; "
                                   f"{folder} has {free / 1e9:.1f} GB free")  # fmt: skip
    started = time.perf_counter()
    counts = make_synthetic_hdf5(out_path, rows, n_features=features, n_classes=classes,
                                 random_state=seed, progress=not quiet)  # fmt: skip
    seconds = time.perf_counter() - started
    shares = counts / max(rows, 1)
    click.echo(f"wrote {out_path}: {rows:,} x {features} float32, "
               f"{os.path.getsize(out_path) / 1e9:.2f} GB in {seconds:.1f} s "
               f"({rows / max(seconds, 1e-9):,.0f} rows/s)")  # fmt: skip
    per_class = (f"{c}: {n:,} ({s:.1%})" for c, (n, s) in enumerate(zip(counts, shares)))
    click.echo("classes  " + ", ".join(per_class))
    click.echo(f"largest / smallest class: {counts.max() / max(counts.min(), 1):.1f}"
               if np.all(counts > 0) else "some classes are empty")  # fmt: skip
