"""The ``coreset-engine`` command line."""

from __future__ import annotations

import time

import click
import numpy as np

from . import available_methods


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="coreset-engine")
def main() -> None:
    """Coreset trees for fast model tuning on large tabular data."""


@main.command()
@click.argument("data_path", type=click.Path(dir_okay=False))
@click.option("--x", "x_name", default="X", show_default=True, help="Feature dataset (2-D).")
@click.option("--y", "y_name", default="y", show_default=True, help="Label dataset (1-D).")
@click.option("--size", default=20_000, show_default=True, help="Rows in the root coreset.")
@click.option("--chunk-size", default=1_000_000, show_default=True, help="Rows per leaf.")
@click.option("--method", type=click.Choice(available_methods()), default="sensitivity",
              show_default=True)  # fmt: skip
@click.option("--n-classes", type=int, default=None, help="Default: inferred from the labels.")
@click.option("--seed", default=0, show_default=True, help="Random seed.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Where to save the tree (HDF5).")  # fmt: skip
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Build on a local Dask cluster of this many single-threaded worker "
                   "processes (needs coreset-engine[dask]).")  # fmt: skip
@click.option("--scheduler", default=None,
              help="Build on the Dask cluster at this scheduler address (tcp://host:8786); "
                   "its workers must see DATA_PATH at the same path.")  # fmt: skip
def build(data_path, x_name, y_name, size, chunk_size, method, n_classes, seed, out_path, force,
          quiet, workers, scheduler):  # fmt: skip
    """Build a coreset tree from an HDF5 file and save it."""
    from . import CoresetTree
    from ._dask import cluster_client
    from ._paths import check_output_path

    tree = CoresetTree(coreset_size=size, chunk_size=chunk_size, n_classes=n_classes,
                       method=method, random_state=seed)  # fmt: skip
    try:
        # before any work: never overwrite the input, an existing file only with --force
        check_output_path(out_path, inputs=[data_path], overwrite=force, what="--out")
        with cluster_client(workers, scheduler, echo=None if quiet else _echo_err) as client:
            started = time.perf_counter()
            tree.build_from_file(data_path, x=x_name, y=y_name, progress=not quiet,
                                 client=False if client is None else client)  # fmt: skip
            seconds = time.perf_counter() - started
        tree.save(out_path)
    except (ValueError, KeyError, TypeError, FileNotFoundError, ImportError) as error:
        raise click.ClickException(str(error).strip("'\"")) from None
    click.echo(summary(tree, seconds, out_path))


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


def summary(tree, seconds: float, out_path: str | None = None) -> str:
    """A one-screen description of a built tree."""
    counts = tree.class_counts_
    root = tree.get_coreset(0)
    lines = [
        f"rows            {tree.n_samples_:,} x {tree.n_features_in_} features",
        f"classes         {tree.n_classes_}: "
        + ", ".join(f"{c}: {n:,}" for c, n in enumerate(counts)),
        f"method          {tree.method}, seed {tree.random_state}",
        f"leaves          {tree.n_leaves_} of up to {tree.chunk_size:,} rows, depth {tree.depth_}",
        f"build           {seconds:.2f} s ({tree.n_samples_ / max(seconds, 1e-9):,.0f} rows/s)",
        "level  rows        weight sum     rows per class",
    ]
    for level in range(tree.depth_ + 1):
        cs = root if level == 0 else tree.get_coreset(level)
        per_class = np.bincount(cs.y, minlength=tree.n_classes_)
        lines.append(
            f"{level:>5}  {len(cs):<10,}  {cs.weights.sum():<13,.0f}  "
            + " / ".join(f"{n:,}" for n in per_class)
        )
    if out_path:
        lines.append(f"saved to        {out_path}")
    return "\n".join(lines)


def _register_optional_commands() -> None:
    from tuners._cli import tune_command

    from ._bench_cli import bench_command, make_data_command

    main.add_command(tune_command, "tune")
    main.add_command(bench_command, "bench")
    main.add_command(make_data_command, "make-data")


_register_optional_commands()


@main.command()
@click.option("--size", default=10_000, show_default=True, help="Rows in the coreset.")
@click.option("--chunk-size", default=100_000, show_default=True, help="Rows per leaf.")
@click.option("--seed", default=0, show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Folder with kddcup99_10pct/ (default: the repository's data/).")  # fmt: skip
def demo(size, chunk_size, seed, data_dir):
    """Full data vs coreset vs uniform sample on KDD Cup '99: time, chosen C, test AUC."""
    from .demo import format_table, run_demo

    started = time.perf_counter()
    table = run_demo(size=size, chunk_size=chunk_size, seed=seed, data_dir=data_dir,
                     echo=click.echo)  # fmt: skip
    click.echo(format_table(table))
    click.echo(f"demo finished in {time.perf_counter() - started:.0f} s")
