"""Sensitivity sampling for logistic regression.

``l2s``: square-root leverage (Munteanu, Schwiegelshohn, Sohler, Woodruff, NeurIPS 2018;
Munteanu, Omlor, Woodruff, ICML 2021) bounds the sensitivity of row i by mu * (||u_i|| + 1/n),
u_i the row of an orthonormal basis of Z = diag(+-1)[X, 1]. A weighted row (weight w, standing
for w raw rows) scores w times that bound, with leverage taken against the exact Gram matrix of
all raw rows the node summarises, so a merged node's scores are as tight as a one-shot pass's.

``sensitivity`` (default): the same bound made loss-aware by a pilot model, as in OSMAC (Wang,
Zhu, Ma, JASA 2018): times (floor + 1 - p_pilot(y_i | x_i)). Rows the pilot already classifies
confidently contribute little loss or gradient near the optimum; on KDD Cup '99 this cut the
loss ratio at 10,000 rows from 1.08 to 1.004 (``benchmarks/bench_engine.py``).
"""

from __future__ import annotations

import numpy as np

from .._cpu import sensitivity_scores
from .._linalg import leverage_projection
from ._base import NodeStats, SamplingMethod, register_method

#: Share of a row's leverage score it keeps however confident the pilot is. Keeps the coreset
#: valid for parameters far from the pilot's (other C values, other penalties).
PILOT_FLOOR = 0.1


def _scores(
    X, y, weights, stats: NodeStats, pilot, n_classes: int, sketch=None, backend=None
) -> np.ndarray:
    """w_i * (sqrt(leverage_i) + 1/n) against the node's exact Gram matrix, times
    (PILOT_FLOOR + miss probability) when a pilot is given; one fused pass over the rows (on
    the device holding the rows when ``backend`` is given, else on the CPU)."""
    score = sensitivity_scores if backend is None else backend.sensitivity_scores
    return score(
        X, leverage_projection(stats.gram, sketch), 1.0 / stats.n_rows, weights, y, pilot,
        PILOT_FLOOR, n_classes,
    )  # fmt: skip


@register_method
class RootLeverageMethod(SamplingMethod):
    """Square-root-leverage sensitivity bound plus a uniform term, class-aware."""

    name = "l2s"
    accepts_backend = True

    def scores(
        self, X, y, weights, stats: NodeStats, pilot=None, sketch=None, backend=None
    ) -> np.ndarray:
        return _scores(X, y, weights, stats, None, stats.class_counts.size, sketch, backend)


@register_method
class SensitivityMethod(SamplingMethod):
    """Square-root-leverage bound times a pilot model's miss probability (plus a floor)."""

    name = "sensitivity"
    uses_pilot = True
    calibrates = True
    sums_in_pilot_pass = True
    first_phase = True  # factors in [PILOT_FLOOR, 1 + PILOT_FLOOR]: a ratio of 11
    accepts_backend = True

    def scores(
        self, X, y, weights, stats: NodeStats, pilot=None, sketch=None, backend=None
    ) -> np.ndarray:
        base = _scores(X, y, weights, stats, None, stats.class_counts.size, sketch, backend)
        if pilot is None:
            return base
        return base * self.pilot_factor(X, y, pilot, stats.class_counts.size, backend)

    def pilot_miss(self, factor: np.ndarray) -> np.ndarray:
        """1 - p_pilot(y_i | x_i) from :meth:`pilot_factor`'s values (for calibration)."""
        return np.maximum(factor - PILOT_FLOOR, 0.0)

    def pilot_factor(self, X, y, pilot, n_classes: int, backend=None,
                     class_sums_of=False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """PILOT_FLOOR + 1 - p_pilot(y_i | x_i) for every row: one small GEMM with the pilot's
        coefficients and the fused kernel, with an empty leverage projection.
        ``class_sums_of`` (CPU only): row weights (None: unit) to return with the factors the
        calibration's per-class gradient sums of those rows, summed in the same pass."""
        empty = np.zeros((X.shape[1] + 1, 0))
        if class_sums_of is not False:
            if backend is not None:
                raise ValueError("The 'class_sums_of' parameter of pilot_factor needs the CPU "
                                 f"pass: backend must be None. Got {backend!r} instead.")
            return sensitivity_scores(X, empty, 1.0, None, y, pilot, PILOT_FLOOR, n_classes,
                                      class_sums_of=class_sums_of)  # fmt: skip
        score = sensitivity_scores if backend is None else backend.sensitivity_scores
        return score(X, empty, 1.0, None, y, pilot, PILOT_FLOOR, n_classes)
