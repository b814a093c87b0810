"""The tasks of a Dask build (``_dask``), run on the workers: a leaf from rows a task gets or
reads itself, a merge of two nodes, label counts. Each is a pure step of ``_build`` wrapped
with what a worker needs: one-thread BLAS, the worker's threads for the row passes, freed
memory kept for reuse during the task (``_malloc``), the build's sampling method registered,
and dask told what a node weighs.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ._backend import get_backend
from ._build import BuildSettings, Node, leaf_node, merge_nodes
from ._cpu import blas_single_thread, worker_threads
from ._malloc import reuse_freed_memory
from ._validation import describe_row
from .methods import available_methods, register_method


@dataclass(frozen=True)
class TaskSettings:
    """What every task of one build needs (small and picklable)."""

    build: BuildSettings
    dtype: np.dtype
    backend: str
    n_jobs: int | None
    #: Sent along so that a method registered only on the client also runs on the workers.
    method_class: type


@contextmanager
def _task_context(task: TaskSettings):
    register_sizeof()
    if task.build.method not in available_methods(task.build.task):
        register_method(task.method_class)
    # Dask's workers return freed memory at once (MALLOC_TRIM_THRESHOLD_): kept during a task
    with reuse_freed_memory(), blas_single_thread(), \
            worker_threads(task.n_jobs or _worker_thread_count()):  # fmt: skip
        yield


def _worker_thread_count() -> int:
    """The threads of the Dask worker running this task (its tasks share the row-pass pool);
    1 outside a distributed worker, where the scheduler's own threads run tasks side by
    side."""
    distributed = sys.modules.get("distributed")
    if distributed is not None:
        try:
            return distributed.get_worker().state.nthreads
        except ValueError:
            pass
    return 1


@dataclass(frozen=True)
class RowDescriber:
    """Names a global row in errors as the local build does (picklable, unlike a lambda)."""

    offset: int
    batch: str | None

    def __call__(self, row: int) -> str:
        return describe_row(row - self.offset, self.offset, self.batch)


def leaf_from_blocks(task: TaskSettings, X, y, offset: int, leaf: int, describe, classes,
                     batch=None):  # fmt: skip
    """A leaf from blocks of a dask array (features numeric; labels any, encoded by the tree's
    ``classes``)."""
    with _task_context(task):
        X = np.ascontiguousarray(X, dtype=task.dtype)
        labels = classes.encode(np.asarray(y), "y", offset, batch)
        return leaf_node(task.build, X, labels, offset, leaf, get_backend(task.backend), describe)


def merge(task: TaskSettings, left, right, spine: bool):
    with _task_context(task):
        return merge_nodes(task.build, left, right, spine=spine)


def count_labels(y, first_row: int, settings):
    """The labels' first pass over one block (rows ``first_row``..), merged on the client."""
    label_pass = settings.label_pass("y", first_row)
    label_pass.add(np.asarray(y), first_row)
    return label_pass


def file_first_pass(path: str, format: str | None, x, y: str, settings):
    """Run where the file is (a worker): its source description, the first pass over its
    labels and categorical columns, and its fingerprint. Formats that cannot be read from the
    middle (CSV) are an error here: their rows cannot be shared out among workers."""
    from ._inputs import first_pass
    from ._sources import path_fingerprint
    from .readers import make_source

    source = make_source(path, format, x, y)
    with source.open() as reader:
        if not reader.random_access:
            raise ValueError(
                f"A {source.format} file cannot be read from the middle, so its rows cannot be "
                "shared out among Dask workers. Build it in this process (client=False), or "
                "read it with dask.dataframe (e.g. dd.read_csv) and pass that to build, or "
                "convert it to Parquet."
            )
        first = first_pass(reader, settings)
    return source, first, path_fingerprint(source.path)


@dataclass(frozen=True)
class FileRows:
    """Rows ``start .. stop`` of a data file, read where the task runs (any format that can be
    read from the middle); the file must be the one the build started from (its fingerprint),
    as every worker of a cluster may see its own copy."""

    source: object  # readers.FileSource
    start: int
    stop: int
    fingerprint: str

    def read(self, encoder, classes, name: str) -> tuple[np.ndarray, np.ndarray]:
        from ._sources import path_fingerprint

        if path_fingerprint(self.source.path) != self.fingerprint:
            raise ValueError(
                f"The data file {self.source.path!r} changed during the build, or differs on a "
                "worker from the one the build started with."
            )
        features, labels = self.source.read_rows(self.start, self.stop)
        return encoder.transform(features), classes.encode(labels, name, self.start)


def leaf_from_file(task: TaskSettings, rows: FileRows, leaf: int, encoder, classes, name: str):
    with _task_context(task):
        X, labels = rows.read(encoder, classes, name)
        X = np.ascontiguousarray(X, dtype=task.dtype)
        return leaf_node(task.build, X, labels, rows.start, leaf, get_backend(task.backend))


def node_nbytes(node: Node) -> int:
    """Bytes of a node's arrays: its coreset rows and statistics."""
    arrays = (node.indices, node.X, node.y, node.weights, node.stats.gram, node.stats.class_counts)
    return int(sum(np.asarray(a).nbytes for a in arrays))


def register_sizeof() -> None:
    """Tell dask what a node weighs, for its memory accounting (spilling, the dashboard) and
    ours (bytes sent to the client); done in every process that runs our tasks."""
    global _sizeof_registered
    if not _sizeof_registered:
        from dask.sizeof import sizeof

        sizeof.register(Node)(node_nbytes)
        _sizeof_registered = True


_sizeof_registered = False
