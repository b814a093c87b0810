"""coreset_engine: sensitivity-sampled coreset trees for large tabular data, streamed from HDF5,
Parquet, CSV, Arrow or Zarr files."""

from ._coreset import Coreset
from ._full_fit import FullFitReport, fit_logistic_full
from ._tree import CoresetTree
from .methods import SamplingMethod, available_methods, register_method

__version__ = "0.1.0"


def sample_coreset(
    X, y, size: int, *, method: str = "sensitivity", random_state=None, backend: str = "cpu",
    task: str = "logistic_regression",
) -> Coreset:  # fmt: skip
    """One-shot coreset of in-memory data: a single-leaf tree's root. ``task``, ``method`` and
    ``backend`` as in :class:`CoresetTree`."""
    n_rows = len(X)
    tree = CoresetTree(
        task=task, coreset_size=size, chunk_size=max(int(n_rows), 1), method=method,
        random_state=random_state, backend=backend,
    )  # fmt: skip
    return tree.build(X, y).get_coreset()


__all__ = [
    "Coreset",
    "CoresetTree",
    "FullFitReport",
    "SamplingMethod",
    "__version__",
    "available_methods",
    "fit_logistic_full",
    "register_method",
    "sample_coreset",
]
