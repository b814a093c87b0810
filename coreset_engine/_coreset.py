"""The weighted subset returned by every sampler and by :class:`CoresetTree`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Coreset:
    """A weighted subset of the rows of a data set.

    Attributes
    ----------
    indices : ndarray of int64, shape (m,)
        Row numbers of the chosen rows in the original data (0-based, in file order).
    X : ndarray of shape (m, d)
        The chosen rows.
    y : ndarray of int64, shape (m,)
        Their labels.
    weights : ndarray of float64, shape (m,)
        Positive weights. The weighted loss on the coreset is an unbiased estimate of the
        loss on all rows, so ``weights.sum()`` is close to ``n_total``.
    n_total : int
        Number of rows of the data the coreset summarises.
    """

    indices: np.ndarray
    X: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    n_total: int

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    def normalized_weights(self) -> np.ndarray:
        """Weights scaled to mean 1.

        Solvers such as saga converge far faster on weights near 1; fit with these and multiply
        the regularization strength ``C`` by ``weights.mean()`` to keep the same optimum.
        """
        return self.weights / self.weights.mean()

    def __repr__(self) -> str:
        return (
            f"Coreset(n_rows={len(self)}, n_features={self.X.shape[1]}, "
            f"n_total={self.n_total}, weight_sum={self.weights.sum():.6g})"
        )
