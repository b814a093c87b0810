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
) -> np.ndarray:
    """Write ``n_rows`` rows of a multinomial-logistic problem to ``path`` (datasets X, y).

    Features are Student-t with 3 degrees of freedom (heavy tails) scaled per column, classes
    imbalanced (prior weights falling geometrically, floored at 1%; with the default arguments
    the classes hold 38% down to 2.7% of the rows, as ``coreset-engine make-data`` prints).
    Memory is one block of 1,000,000 rows whatever ``n_rows``; the file is written under a
    temporary name and renamed when complete; X's chunks lie one after another in it (HDF5 1.10
    file format, read by any HDF5 since 2016), so a build maps them instead of copying them. The
    rows are those of :func:`make_synthetic` with the same arguments. Returns the number of rows of each class, shape (n_classes,).
    """
    caller = "make_synthetic_hdf5"
    n_rows = check_int(n_rows, "n_rows", caller)
    n_features = check_int(n_features, "n_features", caller)
    n_classes = check_int(n_classes, "n_classes", caller, minimum=2)
    chunk_rows = check_int(chunk_rows, "chunk_rows", caller)
    model = _model(n_features, n_classes, random_state)
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    fd, temporary = tempfile.mkstemp(prefix=".synthetic-", suffix=".h5.part", dir=folder)
    os.close(fd)
    counts = np.zeros(n_classes, dtype=np.int64)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_rows, unit="rows", unit_scale=True, desc="writing")
    try:
        # HDF5 1.10's file format: a fixed-size dataset's chunk index is one array, not a
        # B-tree whose nodes would land between X's chunks
        with h5py.File(temporary, "w", libver=("v110", "latest")) as handle:
            # every chunk of X allocated at once, one after another: the reader maps such
            # rows from the file instead of copying them (``_hdf5.row_mapper``); allocated as
            # written, they would interleave with the labels' chunks
            layout = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            layout.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
            X_out = handle.create_dataset("X", shape=(n_rows, n_features), dtype=dtype,
                                          chunks=(min(chunk_rows, n_rows), n_features),
                                          dcpl=layout)  # fmt: skip
            y_out = handle.create_dataset("y", shape=(n_rows,), dtype=np.int64,
                                          chunks=(min(chunk_rows * 16, n_rows),))  # fmt: skip
            for start in range(0, n_rows, _BLOCK_ROWS):
                rows = min(_BLOCK_ROWS, n_rows - start)
                X, y = _block(model, random_state, start, rows)
                X_out[start : start + rows] = X.astype(dtype)
                y_out[start : start + rows] = y
                counts += np.bincount(y, minlength=n_classes)
                del X, y  # so that two blocks are never alive at once
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
    return counts


def make_synthetic(
    n_rows: int,
    *,
    n_features: int = 54,
    n_classes: int = 7,
    random_state: int = 0,
    dtype=np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n_rows`` rows :func:`make_synthetic_hdf5` writes, in memory: (X, y int64).

    Examples
    --------
    >>> X, y = make_synthetic(1000, n_features=5, n_classes=3)
    >>> X.shape, X.dtype, sorted(set(y.tolist()))
    ((1000, 5), dtype('float32'), [0, 1, 2])
    """
    caller = "make_synthetic"
    n_rows = check_int(n_rows, "n_rows", caller)
    n_features = check_int(n_features, "n_features", caller)
    n_classes = check_int(n_classes, "n_classes", caller, minimum=2)
    model = _model(n_features, n_classes, random_state)
    X_all = np.empty((n_rows, n_features), dtype=dtype)
    y_all = np.empty(n_rows, dtype=np.int64)
    for start in range(0, n_rows, _BLOCK_ROWS):
        rows = min(_BLOCK_ROWS, n_rows - start)
        X_all[start : start + rows], y_all[start : start + rows] = _block(
            model, random_state, start, rows
        )
    return X_all, y_all


def _model(n_features: int, n_classes: int, random_state: int):
    """Column scales, coefficients and intercepts of the generating model."""
    rng = np.random.default_rng(random_state)
    scales = np.exp(rng.normal(0.0, 1.0, size=n_features))
    coef = (
        rng.normal(0.0, 1.0, size=(n_features, n_classes)) / np.sqrt(n_features) / scales[:, None]
    )
    priors = 0.5 ** np.arange(n_classes)
    priors = np.maximum(priors / priors.sum(), 0.01)
    intercept = np.log(priors / priors.sum())
    return scales, coef, intercept


def _block(model, random_state: int, start: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows start..start+rows, from their own random stream (so any block can be made alone)."""
    scales, coef, intercept = model
    block_rng = np.random.default_rng([random_state, start])
    X = block_rng.standard_t(3.0, size=(rows, coef.shape[0])) * scales
    logits = X @ coef + intercept
    logits -= logits.max(axis=1, keepdims=True)
    cumulative = np.cumsum(np.exp(logits), axis=1)
    draws = block_rng.random(rows) * cumulative[:, -1]
    y = (cumulative < draws[:, None]).sum(axis=1)
    return X, y


#: Levels of the categorical columns of :func:`make_weak_signal` (one-hot encoded, Zipf-like
#: frequencies): 80 one-hot columns, plus 14 numeric ones (7 binary flags, 7 heavy-tailed).
WEAK_SIGNAL_LEVELS = (2, 3, 4, 6, 8, 10, 12, 15, 20)
_WEAK_NUMERIC = 14


def make_weak_signal(
    n_rows: int = 3_000_000,
    *,
    signal: float = 0.2,
    base_rate: float = 0.15,
    random_state: int = 0,
    dtype=np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """A weak-signal binary problem like most large tables (clicks, delays, fraud): (X, y int64).

    94 columns, 80 of them one-hot blocks of 9 categorical features (2 to 20 levels, skewed
    frequencies) and 14 numeric (7 binary flags, 7 Student-t with 4 degrees of freedom); the
    label is drawn from a logistic model whose per-level effects and slopes are normal with
    scale ``signal`` (0.2 gives a full-data test AUC of about 0.65) and whose intercept gives
    positives at ``base_rate``. The generating model depends only on ``signal``, ``base_rate``
    and ``random_state``; rows come in blocks of 1,000,000 from their own random streams, so
    the first rows of a larger set are those of a smaller one. Float64 by default, as such a
    table is held in memory.

    Examples
    --------
    >>> X, y = make_weak_signal(2000)
    >>> X.shape, X.dtype, 0.1 < y.mean() < 0.2
    ((2000, 94), dtype('float64'), True)
    """
    caller = "make_weak_signal"
    n_rows = check_int(n_rows, "n_rows", caller)
    signal = _check_open_unit(signal, "signal", caller, upper=10.0)
    base_rate = _check_open_unit(base_rate, "base_rate", caller, upper=1.0)
    model = _weak_model(signal, base_rate, random_state)
    width = sum(WEAK_SIGNAL_LEVELS) + _WEAK_NUMERIC
    X_all = np.empty((n_rows, width), dtype=dtype)
    y_all = np.empty(n_rows, dtype=np.int64)
    for start in range(0, n_rows, _BLOCK_ROWS):
        rows = min(_BLOCK_ROWS, n_rows - start)
        X, logit = _weak_rows(model, [random_state, 1, start], rows)
        X_all[start : start + rows] = X
        draws = np.random.default_rng([random_state, 2, start]).random(rows)
        y_all[start : start + rows] = draws < 1.0 / (1.0 + np.exp(-(logit + model[3])))
    return X_all, y_all


def _check_open_unit(value, name: str, caller: str, *, upper: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{caller}: {name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not 0.0 < value < upper:
        raise ValueError(f"{caller}: {name} must lie in (0, {upper:g}), got {value!r}")
    return value


def _weak_model(signal: float, base_rate: float, random_state: int):
    """Level frequencies, per-level effects, numeric slopes and the intercept."""
    rng = np.random.default_rng([random_state, 0])
    frequencies, effects = [], []
    for levels in WEAK_SIGNAL_LEVELS:
        p = 1.0 / np.arange(1, levels + 1) ** 1.1
        frequencies.append(p / p.sum())
        effects.append(rng.normal(scale=signal, size=levels))
    slopes = rng.normal(scale=signal * 0.5, size=_WEAK_NUMERIC)
    model = (frequencies, effects, slopes, 0.0)
    # the intercept that gives base_rate positives, by bisection on a fixed 200,000-row sample
    _, logit = _weak_rows(model, [random_state, 3, 0], 200_000)
    low, high = -20.0, 20.0
    for _ in range(60):
        middle = 0.5 * (low + high)
        rate = np.mean(1.0 / (1.0 + np.exp(-(logit + middle))))
        low, high = (middle, high) if rate < base_rate else (low, middle)
    return frequencies, effects, slopes, 0.5 * (low + high)


def _weak_rows(model, seed: list, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Features of ``rows`` rows and their logits without the intercept; every column from its
    own random stream (``seed`` + its number), so fewer rows give a prefix of more."""
    frequencies, effects, slopes, _ = model
    X = np.zeros((rows, sum(WEAK_SIGNAL_LEVELS) + _WEAK_NUMERIC))
    logit = np.zeros(rows)
    column = 0
    for j, (p, effect) in enumerate(zip(frequencies, effects)):
        codes = np.random.default_rng([*seed, j]).choice(len(p), size=rows, p=p)
        X[np.arange(rows), column + codes] = 1.0
        logit += effect[codes]
        column += len(p)
    numeric = np.random.default_rng([*seed, len(frequencies)]).standard_t(
        4.0, size=(rows, _WEAK_NUMERIC)
    )
    half = _WEAK_NUMERIC // 2
    numeric[:, :half] = numeric[:, :half] > 1.0
    X[:, column:] = numeric
    logit += numeric @ slopes
    return X, logit
