"""What a task decides for the tree: what y is, the node statistics, the duplicate keys, the
draw's groups and the label checks. Everything else (merge-and-reduce, the draw, saving,
Dask) is one code path for every task."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

_TASKS: dict[str, Task] = {}


class Task(ABC):
    """One loss a tree's coresets are built for (``CoresetTree(task=name)``)."""

    #: The ``task`` parameter's value.
    name: str = ""
    #: y holds class labels (encoded to codes 0..k-1) rather than continuous targets.
    is_classifier: bool = True
    #: Sampling method of ``CoresetTree(method=...)`` for this task when none is named.
    default_method: str = "sensitivity"

    @abstractmethod
    def label_pass(self, name: str, n_classes, max_classes: int, first_row: int = 0):
        """The first pass over y: an object with ``add(y, row_offset)``, ``merge(other)``,
        ``rows`` and ``result() -> (mapping, class counts)``; the mapping encodes y chunks
        (``LabelClasses`` or ``ContinuousTarget``)."""

    @abstractmethod
    def check_labels(self, class_counts: np.ndarray, name: str = "y", classes=None) -> None:
        """Raise if the first pass's result cannot be fitted (one class only, ...)."""

    @abstractmethod
    def check_leaf_labels(self, labels: np.ndarray, n_classes: int, offset: int) -> None:
        """Raise if a leaf's encoded labels are out of range."""

    @abstractmethod
    def leaf_stats(self, rows, scan, X: np.ndarray, labels: np.ndarray, n_classes: int):
        """The exact :class:`~coreset_engine.methods.NodeStats` of a leaf's raw rows."""

    def hash_keys(self, labels: np.ndarray) -> np.ndarray:
        """What is hashed and compared with each row's x bits to find duplicate rows."""
        return labels

    def draw_groups(self, method, labels: np.ndarray):
        """The labels the draw gives each its own budget (None: one budget for all rows)."""
        return labels if method.class_aware and self.is_classifier else None


def register_task(task: Task) -> Task:
    _TASKS[task.name] = task
    return task


def available_tasks() -> list[str]:
    return sorted(_TASKS)


def get_task(name: str, caller: str = "CoresetTree") -> Task:
    if not isinstance(name, str) or name not in _TASKS:
        raise ValueError(
            f"The 'task' parameter of {caller} must be one of {available_tasks()}. "
            f"Got {name!r} instead."
        )
    return _TASKS[name]
