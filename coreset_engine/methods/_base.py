"""The interface every sampling method implements, and the registry that names them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass
class NodeStats:
    """Exact statistics of all raw rows a node summarises (additive over children).

    Attributes
    ----------
    n_rows : int
        Raw rows summarised.
    gram : ndarray (d + 1, d + 1), float64
        [X, 1]^T [X, 1] over those raw rows.
    class_counts : ndarray (n_classes,), int64
        Raw rows of each class.
    """

    n_rows: int
    gram: np.ndarray
    class_counts: np.ndarray

    def __add__(self, other: NodeStats) -> NodeStats:
        return NodeStats(
            self.n_rows + other.n_rows,
            self.gram + other.gram,
            self.class_counts + other.class_counts,
        )


class SamplingMethod(ABC):
    """Turns weighted rows into sampling scores.

    A method only scores rows; allocation across classes, inclusion probabilities and the draw
    itself are shared (``_sampling.py``), so a new method is a short module with one function.
    Scores must be positive and finite. Inclusion probabilities are proportional to the scores
    within each class (or over all rows if ``class_aware`` is False).
    """

    #: Name under which the method is registered.
    name: str = ""
    #: The tasks (``CoresetTree(task=...)``) the method scores rows for. Methods of different
    #: tasks may share a name ("sensitivity"): the tree's task picks which one runs.
    tasks: tuple[str, ...] = ("logistic_regression",)
    #: Sample each class with its own budget and a floor (protects rare classes).
    class_aware: bool = True
    #: The tree fits a pilot model for every node it samples (``coreset_engine._pilot``): at a
    #: leaf on a sample drawn by the method's scores without a pilot, at a merge on the merged
    #: rows. It then needs ``pilot_factor(X, y, pilot, n_classes, backend)``, the per-row factor
    #: the pilot multiplies those scores by (``scores(..., pilot)`` is their product).
    uses_pilot: bool = False
    #: ``scores`` takes a ``backend`` argument; the tree then passes the rows' device copy when
    #: it has one (``CoresetTree(backend="cuda")``). Methods without it always get host arrays.
    accepts_backend: bool = False
    #: With ``CoresetTree(calibrate=True)``, a node's sampled weights are tilted so that the
    #: pilot's per-class log-loss gradient sums match those of all rows the node summarises
    #: (``coreset_engine._calibration``). Needs ``uses_pilot`` and ``pilot_miss(factor)``:
    #: each row's miss probability 1 - p_pilot(y_i | x_i) from its ``pilot_factor``.
    calibrates: bool = False
    #: With calibration on the CPU, ``pilot_factor(X, y, pilot, n_classes,
    #: class_sums_of=weights)`` returns (factor, the node's per-class gradient sums), summed in
    #: the same pass as the factor (:meth:`SensitivityMethod.pilot_factor`); without it the
    #: tree sums them in a pass of its own.
    sums_in_pilot_pass: bool = False
    #: A node much larger than its coreset is sampled in two phases (``_build._first_phase``):
    #: a first-phase sample by the scores without a pilot, then the pilot's factor on that
    #: sample alone. Only for methods whose ``pilot_factor`` values lie within a ratio of
    #: ``_build.FIRST_PHASE_RATIO`` of each other (then the two phases draw each row with the
    #: one-phase probability).
    first_phase: bool = False

    @abstractmethod
    def scores(
        self, X: np.ndarray, y: np.ndarray, weights: np.ndarray | None, stats: NodeStats,
        pilot=None, sketch: np.ndarray | None = None, backend=None,
    ) -> np.ndarray:
        """Return a positive score per row of ``X`` (rows carry ``weights``;
        None means unit weights). For methods that set ``uses_pilot``, ``pilot`` is a fitted
        :class:`coreset_engine._pilot.Pilot` (at a leaf, the leaf's own; at a merge, one fitted
        on the merged rows) or None (the rows hold one class). ``sketch`` is a
        Johnson-Lindenstrauss matrix for the leverage projection, or None (exact).
        ``backend`` (only for methods that set ``accepts_backend``) is None (compute on the
        CPU) or the same rows resident on a device, with a ``sensitivity_scores`` method of the
        signature of :func:`coreset_engine._cpu.sensitivity_scores` that computes there."""


_REGISTRY: dict[str, dict[str, type[SamplingMethod]]] = {}


def register_method(cls: type[SamplingMethod]) -> type[SamplingMethod]:
    """Class decorator: make ``cls`` available as ``CoresetTree(method=cls.name)`` for the
    tasks it lists in ``tasks``."""
    if not cls.name:
        raise ValueError(f"The sampling method class {cls.__name__} must set a non-empty 'name'.")
    for task in cls.tasks:
        _REGISTRY.setdefault(cls.name, {})[task] = cls
    return cls


def available_methods(task: str | None = None) -> list[str]:
    """Names of the registered methods (of ``task`` only, if given)."""
    return sorted(name for name, by_task in _REGISTRY.items() if task is None or task in by_task)


def method_classes() -> list[type[SamplingMethod]]:
    """Every registered method class once (a class may serve several tasks)."""
    seen = {}
    for by_task in _REGISTRY.values():
        for cls in by_task.values():
            seen[id(cls)] = cls
    return list(seen.values())


def get_method(
    name: str, caller: str = "CoresetTree", task: str = "logistic_regression"
) -> SamplingMethod:
    if not isinstance(name, str) or task not in _REGISTRY.get(name, {}):
        raise ValueError(
            f"The 'method' parameter of {caller} must be one of {available_methods(task)} for "
            f"task={task!r}. Got {name!r} instead."
        )
    return _REGISTRY[name][task]()
