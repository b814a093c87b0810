"""Large synthetic classification data, streamed to HDF5 with bounded memory."""

from __future__ import annotations

import os
import tempfile

import h5py
import numpy as np

from ._validation import check_int

_BLOCK_ROWS = 1_000_000


def make_synthetic_hdf5(
    path,
    n_rows: int = 46_000_000,
    *,
    n_features: int = 54,
    n_classes: int = 7,
    random_state: int = 0,
    dtype=np.float32,
    chunk_rows: int = 65_536,
    progress: bool = False,
) -> None:
    """Write ``n_rows`` rows of a multinomial-logistic problem to ``path`` (datasets X, y).

    Features are Student-t with 3 degrees of freedom (heavy tails) scaled per column, classes
    imbalanced (prior weights falling geometrically, the smallest class ~1% of rows). Memory is
    one block of 1,000,000 rows whatever ``n_rows``; the file is written under a temporary name
    and renamed when complete.
    """
    caller = "make_synthetic_hdf5"
    n_rows = check_int(n_rows, "n_rows", caller)
    n_features = check_int(n_features, "n_features", caller)
    n_classes = check_int(n_classes, "n_classes", caller, minimum=2)
    chunk_rows = check_int(chunk_rows, "chunk_rows", caller)
    rng = np.random.default_rng(random_state)
    scales = np.exp(rng.normal(0.0, 1.0, size=n_features))
    coef = rng.normal(0.0, 1.0, size=(n_features, n_classes)) / np.sqrt(n_features) / scales[:, None]
    priors = 0.5 ** np.arange(n_classes)
    priors = np.maximum(priors / priors.sum(), 0.01)
    intercept = np.log(priors / priors.sum())
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    fd, temporary = tempfile.mkstemp(prefix=".synthetic-", suffix=".h5.part", dir=folder)
    os.close(fd)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_rows, unit="rows", unit_scale=True, desc="writing")
    try:
        with h5py.File(temporary, "w") as handle:
            X_out = handle.create_dataset("X", shape=(n_rows, n_features), dtype=dtype,
                                          chunks=(min(chunk_rows, n_rows), n_features))  # fmt: skip
            y_out = handle.create_dataset("y", shape=(n_rows,), dtype=np.int64,
                                          chunks=(min(chunk_rows * 16, n_rows),))  # fmt: skip
            for start in range(0, n_rows, _BLOCK_ROWS):
                rows = min(_BLOCK_ROWS, n_rows - start)
                block_rng = np.random.default_rng([random_state, start])
                X = block_rng.standard_t(3.0, size=(rows, n_features)) * scales
                logits = X @ coef + intercept
                logits -= logits.max(axis=1, keepdims=True)
                cumulative = np.cumsum(np.exp(logits), axis=1)
                draws = block_rng.random(rows) * cumulative[:, -1]
                y = (cumulative < draws[:, None]).sum(axis=1)
                X_out[start : start + rows] = X.astype(dtype)
                y_out[start : start + rows] = y
                if bar is not None:
                    bar.update(rows)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    finally:
        if bar is not None:
            bar.close()
