"""Sensitivity sampling for logistic regression from square-root leverage scores.

Munteanu, Schwiegelshohn, Sohler, Woodruff (NeurIPS 2018) and Munteanu, Omlor, Woodruff (ICML
2021) bound the sensitivity of row i of the logistic loss by mu * (||u_i|| + 1/n), u_i the row of
an orthonormal basis of Z = diag(+-1)[X, 1]. A weighted row (weight w, standing for w raw rows) is
scored as w times that bound, with leverage taken against the exact Gram matrix of all raw rows
the node summarises, so scores of a merged node are as tight as those of a one-shot pass.
"""

from __future__ import annotations

import numpy as np

from .._linalg import leverage_projection, projected_row_norms
from ._base import NodeStats, SamplingMethod, register_method


@register_method
class SensitivityMethod(SamplingMethod):
    """Square-root-leverage sensitivity bound plus a uniform term, class-aware."""

    name = "sensitivity"
    class_aware = True

    def scores(self, X, y, weights, stats: NodeStats) -> np.ndarray:
        projection = leverage_projection(stats.gram)
        root_leverage = projected_row_norms(X, projection)
        return weights * (root_leverage + 1.0 / stats.n_rows)
