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
        The chosen rows, encoded (categorical columns one-hot or ordinal).
    y : ndarray of int64, shape (m,)
        Their label codes 0..k-1: code i stands for ``classes[i]`` (``decoded_y``).
    weights : ndarray of float64, shape (m,)
        Positive weights. The weighted loss on the coreset is an unbiased estimate of the
        loss on all rows, so ``weights.sum()`` is close to ``n_total``.
    n_total : int
        Number of rows of the data the coreset summarises.
    feature_names : tuple of str or None
        Names of X's columns (``CoresetTree.get_feature_names_out``); None if unknown.
    classes : ndarray or None
        The label values the codes stand for (``CoresetTree.classes_``); None: the codes are
        the labels.

    Examples
    --------
    >>> import numpy as np
    >>> from coreset_engine import CoresetTree
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2000, 2)); y = np.where(X[:, 0] > 0, "yes", "no")
    >>> cs = CoresetTree(coreset_size=100, chunk_size=1000, random_state=0).build(X, y).get_coreset()
    >>> cs.classes.tolist(), sorted(set(cs.decoded_y.tolist()))
    (['no', 'yes'], ['no', 'yes'])
    >>> cs.to_pandas().columns.tolist()
    ['x0', 'x1', 'y', 'weight']
    """

    indices: np.ndarray
    X: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    n_total: int
    feature_names: tuple[str, ...] | None = None
    classes: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def decoded_y(self) -> np.ndarray:
        """The labels as the data holds them (``classes[y]``), as a scikit-learn classifier's
        ``predict`` returns them; ``y`` itself when the coreset has no ``classes``."""
        if self.classes is None:
            return self.y
        return np.asarray(self.classes)[self.y]

    def normalized_weights(self) -> np.ndarray:
        """Weights scaled to mean 1.

        Solvers such as saga converge far faster on weights near 1; fit with these and multiply
        the regularization strength ``C`` by ``weights.mean()`` to keep the same optimum.
        """
        return self.weights / self.weights.mean()

    def to_pandas(self, *, decode: bool = True, label: str = "y", weight: str = "weight"):
        """A pandas DataFrame: X's columns under ``feature_names`` (``x0, x1, ...`` if unknown),
        the labels in column ``label`` (decoded unless ``decode=False``: then the codes) and the
        weights in column ``weight``, indexed by the rows' numbers in the data (``indices``)."""
        import pandas as pd

        names = self.feature_names or tuple(f"x{i}" for i in range(self.n_features))
        frame = pd.DataFrame(self.X, columns=list(names),
                             index=pd.Index(self.indices, name="row"))  # fmt: skip
        frame[label] = self.decoded_y if decode else self.y
        frame[weight] = self.weights
        return frame

    def __repr__(self) -> str:
        return (
            f"Coreset(n_rows={len(self)}, n_features={self.X.shape[1]}, "
            f"n_total={self.n_total}, weight_sum={self.weights.sum():.6g})"
        )
