"""``coreset-engine build``: a coreset tree from a data file, saved, with a one-screen summary."""

from __future__ import annotations

import time

import click
import numpy as np

from coreset_engine import CoresetTree, available_methods
from coreset_engine._dask import cluster_client
from coreset_engine._paths import check_output_path
from coreset_engine.tasks import available_tasks

from ._errors import reported_errors


@click.command("build")
@click.argument("data_path", type=click.Path(dir_okay=False))
@click.option("--x", "x_name", default=None,
              help="Feature array (HDF5/Zarr; default X) or comma-separated feature columns "
                   "(Parquet/CSV/Arrow; default every column but --y).")  # fmt: skip
@click.option("--y", "y_name", default="y", show_default=True, help="Label dataset or column.")
@click.option("--format", "file_format", default=None,
              help="hdf5, parquet, csv, arrow or zarr (default: from the suffix).")  # fmt: skip
@click.option("--task", type=click.Choice(available_tasks()), default="logistic_regression",
              show_default=True,
              help="logistic_regression: --y holds class labels; linear_regression: a "
                   "continuous target.")  # fmt: skip
@click.option("--size", default=20_000, show_default=True, help="Rows in the root coreset.")
@click.option("--chunk-size", default=1_000_000, show_default=True, help="Rows per leaf.")
@click.option("--method", type=click.Choice(available_methods()), default="sensitivity",
              show_default=True, help="Sampling method (of the --task).")  # fmt: skip
@click.option("--n-classes", type=int, default=None, help="Default: inferred from the labels.")
@click.option("--calibrate/--no-calibrate", default=True, show_default=True,
              help="Tilt each node's weights so the pilot model's per-class gradient matches "
                   "that of the rows the node summarises (method 'sensitivity'); "
                   "--no-calibrate keeps the plain inverse-probability weights.")  # fmt: skip
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
@click.option("--checkpoint", type=click.Path(file_okay=False), default=None,
              help="Folder where the build records its state after every leaf; the same "
                   "command run again after a crash continues where it stopped. Removed "
                   "once the tree is saved.")  # fmt: skip
def build_command(data_path, x_name, y_name, file_format, task, size, chunk_size, method,
                  n_classes, calibrate, seed, out_path, force, quiet, workers, scheduler,
                  checkpoint):  # fmt: skip
    """Build a coreset tree from a data file (HDF5, Parquet, CSV, Arrow, Zarr) and save it,
    in this process or on a Dask cluster (--workers, --scheduler)."""
    tree = CoresetTree(task=task, coreset_size=size, chunk_size=chunk_size, n_classes=n_classes,
                       method=method, calibrate=calibrate, random_state=seed)  # fmt: skip
    with reported_errors():
        # before any work: never overwrite the input, an existing file only with --force
        check_output_path(out_path, inputs=[data_path], overwrite=force, what="--out")
        if x_name is not None and "," in x_name:
            x_name = [name.strip() for name in x_name.split(",")]
        with cluster_client(workers, scheduler, echo=None if quiet else _echo_err) as client:
            started = time.perf_counter()
            tree.build_from_file(data_path, x=x_name, y=y_name, format=file_format,
                                 progress=not quiet,
                                 client=False if client is None else client,
                                 checkpoint=checkpoint)  # fmt: skip
            seconds = time.perf_counter() - started
        tree.save(out_path)
        if checkpoint is not None:
            from coreset_engine._checkpoint import discard

            discard(checkpoint)
    click.echo(summary(tree, seconds, out_path))


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


def summary(tree, seconds: float, out_path: str | None = None) -> str:
    """A one-screen description of a built tree."""
    root = tree.get_coreset(0)
    classifier = tree.n_classes_ > 0
    if classifier:
        target = f"classes         {tree.n_classes_}: " + ", ".join(
            f"{c}: {n:,}" for c, n in zip(tree.classes_, tree.class_counts_)
        )
    else:  # the weighted root estimates the target's mean and spread over all rows
        mean = np.average(root.y, weights=root.weights)
        spread = np.sqrt(np.average((root.y - mean) ** 2, weights=root.weights))
        target = f"target          continuous: mean {mean:.6g}, std {spread:.6g} (root estimate)"
    lines = [
        f"rows            {tree.n_samples_:,} x {tree.n_features_in_} features",
        f"task            {tree.task}",
        target,
        f"method          {tree.method}, seed {tree.random_state}",
        f"leaves          {tree.n_leaves_} of up to {tree.chunk_size:,} rows, depth {tree.depth_}",
        f"build           {seconds:.2f} s ({tree.n_samples_ / max(seconds, 1e-9):,.0f} rows/s)",
        "level  rows        weight sum     " + ("rows per class" if classifier else ""),
    ]
    for level in range(tree.depth_ + 1):
        cs = root if level == 0 else tree.get_coreset(level)
        line = f"{level:>5}  {len(cs):<10,}  {cs.weights.sum():<13,.0f}  "
        if classifier:
            per_class = np.bincount(cs.y, minlength=tree.n_classes_)
            line += " / ".join(f"{n:,}" for n in per_class)
        lines.append(line.rstrip())
    if out_path:
        lines.append(f"saved to        {out_path}")
    return "\n".join(lines)
