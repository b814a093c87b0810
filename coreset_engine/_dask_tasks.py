"""The tasks of a Dask build (``_dask``), run on the workers: a leaf from rows a task gets or
reads itself, a merge of two nodes, label counts. Each is a pure step of ``_build`` wrapped
with what a worker needs: one-thread BLAS, the worker's threads for the row passes, the build's
sampling method registered, and dask told what a node weighs.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ._backend import get_backend
from ._build import BuildSettings, Node, leaf_node, merge_nodes
from ._cpu import blas_single_thread, worker_threads
from ._validation import check_feature_dtype, describe_row, labels_to_int
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
    if task.build.method not in available_methods():
        register_method(task.method_class)
    with blas_single_thread(), worker_threads(task.n_jobs or _worker_thread_count()):
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


def leaf_from_blocks(task: TaskSettings, X, y, offset: int, leaf: int, describe):
    with _task_context(task):
        X = np.ascontiguousarray(X, dtype=task.dtype)
        labels = labels_to_int(np.asarray(y), "y", offset)
        return leaf_node(task.build, X, labels, offset, leaf, get_backend(task.backend), describe)


def merge(task: TaskSettings, left, right, spine: bool):
    with _task_context(task):
        return merge_nodes(task.build, left, right, spine=spine)


def count_labels(y, first_row: int, name: str = "y") -> np.ndarray:
    return np.bincount(labels_to_int(np.asarray(y), name, first_row))


@dataclass(frozen=True)
class FileRows:
    """Rows ``start .. stop`` of the (X, y) datasets of an HDF5 file, read where the task runs;
    the file must be the one the build started from (its fingerprint), as every worker of a
    cluster may see its own copy."""

    path: str
    x: str
    y: str
    start: int
    stop: int
    fingerprint: str

    def read(self, dtype) -> tuple[np.ndarray, np.ndarray]:
        from ._hdf5 import open_dataset_pair
        from ._sources import file_fingerprint

        with open_dataset_pair(self.path, self.x, self.y, self.stop - self.start) as pair:
            if file_fingerprint(self.path) != self.fingerprint:
                raise ValueError(
                    f"The data file {self.path!r} changed during the build, or differs on a "
                    "worker from the one the build started with."
                )
            X_data, y_data = pair
            X = np.empty((self.stop - self.start, X_data.shape[1]), dtype=dtype)
            X_data.read_direct(X, source_sel=np.s_[self.start : self.stop])
            labels = y_data[self.start : self.stop]
        return X, labels


def leaf_from_file(task: TaskSettings, rows: FileRows, leaf: int):
    with _task_context(task):
        X, raw = rows.read(task.dtype)
        labels = labels_to_int(raw, "y", rows.start)
        return leaf_node(task.build, X, labels, rows.start, leaf, get_backend(task.backend))


def file_summary(path: str, x: str, y: str):
    from ._hdf5 import open_dataset_pair
    from ._sources import file_fingerprint

    with open_dataset_pair(path, x, y, 1) as (X_data, _):
        shape, dtype = X_data.shape, check_feature_dtype(X_data.dtype, "X")
    return shape, dtype, file_fingerprint(path)


def count_file_labels(path: str, x: str, y: str, start: int, stop: int) -> np.ndarray:
    from ._hdf5 import open_dataset_pair

    with open_dataset_pair(path, x, y, 1) as (_, y_data):
        return count_labels(y_data[start:stop], start, f"The y dataset {y!r}")


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
