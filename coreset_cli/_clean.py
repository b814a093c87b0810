"""``coreset-engine clean`` (the rows to review for wrong labels) and ``coreset-engine update``
(labels fixed and rows removed, from CSV files, written back into the tree file)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import click
import numpy as np

from coreset_engine import CoresetTree
from coreset_engine._paths import check_output_path, disk_full_error, replace_durably, same_file

from ._errors import one_line, reported_errors

#: Feature columns shown in the printed table (a CSV gets them all).
_SHOWN_FEATURES = 4


@click.command("clean")
@click.argument("tree_path", type=click.Path(dir_okay=False))
@click.option("-k", "k", type=click.IntRange(min=1), default=100, show_default=True,
              help="Rows to list.")  # fmt: skip
@click.option("--class-size", type=click.IntRange(min=1), default=None,
              help="At most this many rows of any one class.")  # fmt: skip
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="Write the list as CSV (row, label, predicted, score, features).")  # fmt: skip
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--ignore-seen", is_flag=True,
              help="Leave out rows listed by earlier runs with --mark-seen.")  # fmt: skip
@click.option("--mark-seen", is_flag=True,
              help="Remember the listed rows in the tree file (for --ignore-seen).")  # fmt: skip
def clean_command(tree_path, k, class_size, out_path, force, ignore_seen, mark_seen):
    """List the rows of a saved tree whose labels are most likely wrong, best first.

    Scores every row of the data the tree was built from (its file, streamed once) by the
    miss probability of a model that did not train on it (see CoresetTree.get_cleaning_samples).
    """
    with reported_errors():
        tree = CoresetTree.load(tree_path)
        inputs = [tree_path, *_data_files(tree)]
        if out_path is not None:
            check_output_path(out_path, inputs=inputs, overwrite=force, what="--out")
        review = tree.get_cleaning_samples(k, class_size=class_size, ignore_seen=ignore_seen)
        frame = review.to_pandas()
        if out_path is not None:
            _write_csv(frame, out_path)
        if mark_seen:
            tree.save(tree_path)
    if out_path is not None:
        click.echo(f"{len(frame)} rows (of {review.n_scored:,} scored) written to {out_path}")
        return
    shown = frame.iloc[:, : 3 + _SHOWN_FEATURES]
    click.echo(f"{len(frame)} rows most likely mislabelled, of {review.n_scored:,} scored:")
    click.echo(shown.to_string(float_format=lambda value: f"{value:.4g}"))


@click.command("update")
@click.argument("tree_path", type=click.Path(dir_okay=False))
@click.option("--labels", "labels_path", type=click.Path(dir_okay=False), default=None,
              help="CSV with columns row,label: the new label of each row.")  # fmt: skip
@click.option("--remove", "remove_path", type=click.Path(dir_okay=False), default=None,
              help="CSV with a column row: rows to remove.")  # fmt: skip
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="Write the updated tree here (default: back into TREE_PATH).")  # fmt: skip
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
def update_command(tree_path, labels_path, remove_path, out_path, force):
    """Fix labels and remove rows of a saved tree; only the paths of changed rows are
    recomputed. The tree file is replaced atomically (a temporary file, then a rename): an
    error leaves it as it was. The data file is never written."""
    if labels_path is None and remove_path is None:
        raise click.UsageError("Give --labels and/or --remove.")
    with reported_errors():
        tree = CoresetTree.load(tree_path)
        csv_files = [path for path in (labels_path, remove_path) if path is not None]
        if out_path is None or same_file(out_path, tree_path):
            target = tree_path
            check_output_path(target, inputs=[*_data_files(tree), *csv_files],
                              what="The updated tree file")  # fmt: skip
        else:
            target = check_output_path(out_path, inputs=[*_data_files(tree), *csv_files],
                                       overwrite=force, what="--out")  # fmt: skip
        recomputed = set()
        lines = []
        if labels_path is not None:
            rows, labels = read_label_fixes(labels_path, tree.classes_)
            with _naming_file(labels_path):
                tree.update_targets(rows, labels)
            recomputed.update(tree.last_recomputed_nodes_)
            lines.append(f"labels updated  {rows.size:,}")
        if remove_path is not None:
            rows = read_rows(remove_path)
            with _naming_file(remove_path):
                tree.remove_samples(rows)
            recomputed.update(tree.last_recomputed_nodes_)
            lines.append(f"rows removed    {rows.size:,}")
        tree.save(target)
    lines += [f"nodes redone    {len(recomputed)}",
              f"rows now        {tree.n_samples_:,}", f"saved to        {target}"]  # fmt: skip
    click.echo("\n".join(lines))


@contextmanager
def _naming_file(path: str) -> Iterator[None]:
    """A bad row or label of a CSV file: its error names the file."""
    try:
        yield
    except ValueError as error:
        raise ValueError(f"{path}: {one_line(error)}") from None


def _data_files(tree) -> list[str]:
    return [segment.path for segment in tree._state.segments if hasattr(segment, "path")]


def _write_csv(frame, path: str) -> None:
    """Write ``frame`` to ``path`` atomically (a temporary file, then a rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(folder, f".{os.path.basename(path)}.part")
    try:
        frame.to_csv(temporary)
        replace_durably(temporary, path)
    except BaseException as error:
        full = disk_full_error(error, path, "The CSV file")
        if full is not None:
            raise full from None
        raise
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _read_csv(path: str, columns: tuple[str, ...]):
    import pandas as pd

    if not os.path.isfile(path):
        raise FileNotFoundError(f"The CSV file {path!r} does not exist.")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise ValueError(f"The CSV file {path!r} cannot be read: {error}") from None
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise ValueError(
            f"The CSV file {path!r} must have the columns {list(columns)}. Got "
            f"{list(frame.columns)}."
        )
    return frame


def read_rows(path: str) -> np.ndarray:
    """The ``row`` column of a CSV file, as row numbers."""
    frame = _read_csv(path, ("row",))
    rows = []
    for line, value in enumerate(frame["row"], start=2):
        try:
            rows.append(int(value))
        except ValueError:
            raise ValueError(
                f"The 'row' column of {path!r} must hold row numbers (integers). Got "
                f"{value!r} on line {line}."
            ) from None
    return np.array(rows, dtype=np.int64)


def read_label_fixes(path: str, classes: np.ndarray):
    """(rows, labels) of a CSV file with columns row,label; labels are read as the tree's
    classes are typed (numbers, bools or strings)."""
    frame = _read_csv(path, ("row", "label"))
    rows = read_rows(path)
    return rows, parse_labels(frame["label"].tolist(), classes, path)


def parse_labels(texts: list[str], classes: np.ndarray, where: str) -> np.ndarray:
    """Label texts as values like ``classes`` (a label that is not one of them stays as
    text, so that the tree's own check names it)."""
    kind = classes.dtype.kind
    if kind in "iu":
        convert = int
    elif kind == "f":
        convert = float
    elif kind == "b":

        def convert(text):
            lowered = text.strip().lower()
            if lowered in ("true", "1"):
                return True
            if lowered in ("false", "0"):
                return False
            raise ValueError(text)
    elif classes.size and isinstance(classes[0], bytes):
        return np.array([text.encode() for text in texts], dtype=object)
    else:
        return np.array(texts, dtype=object)
    labels = []
    for line, text in enumerate(texts, start=2):
        try:
            labels.append(convert(text.strip()))
        except ValueError:
            raise ValueError(
                f"The 'label' column of {where!r} must hold labels like the tree's classes "
                f"{classes.tolist()[:10]}. Got {text!r} on line {line}."
            ) from None
    return np.array(labels)
