"""``refit="full"``: the best configuration fitted on all rows of the tree's source.

Which way depends on the estimator:

- LogisticRegression with an L2 penalty or none (any solver but liblinear, which penalises the
  intercept; any ``class_weight``, "balanced" from the full class counts; ``fit_intercept``
  either way): :func:`coreset_engine.fit_logistic_full`, streamed Newton passes warm-started
  at the coreset refit. The result is the estimator's own optimum to fit_logistic_full's
  default ``tol``, 1e-7 of the objective (relative), whatever its solver.
- An estimator with ``partial_fit`` (SGDClassifier, naive Bayes, MLPClassifier, ...): a fresh
  clone gets one ``partial_fit`` call per chunk of the tree's source, one pass (epoch) over
  all rows, the first call with all classes. One pass is what ``partial_fit`` is for (data too
  large to hold; naive Bayes is then exact); for more epochs, call ``partial_fit`` on
  ``tree.iter_source_chunks()`` yourself.
- Anything else (another solver setting of LogisticRegression, a Pipeline, SVC, ...): an
  ordinary ``fit`` on all rows, read into memory, if they take at most half the memory
  available; else a ValueError naming the estimator and the sizes.

The fitted estimator has the search's parameters (``clone(estimator).set_params(**best)``).
"""

from __future__ import annotations

import os

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from ._backends import one_thread
from ._fitting import fit_weighted
from ._torch_backend import inverse_C, unsupported_reason

#: All rows are read into memory for an ordinary fit only if they take at most this share of
#: the memory available.
MEMORY_SHARE = 0.5


def refit_on_all_rows(search, params: dict, tree, coreset_rows, caller: str):
    """Fit ``params`` on all source rows of ``tree``; returns (estimator, passes, description)."""
    estimator = clone(search.estimator).set_params(**params)
    n_rows = tree.n_samples_
    if _is_streamable_logistic(search.estimator, params):
        return _refit_logistic(search, estimator, tree, coreset_rows, n_rows)
    from coreset_engine._full_fit import tree_class_totals, tree_classes

    values = tree_classes(tree)  # rows come encoded as the coreset's, labels as codes
    if hasattr(estimator, "partial_fit"):
        _, classes, _ = tree_class_totals(tree)
        for _, X, labels in tree.iter_source_chunks():
            if "classes" in _parameters(estimator.partial_fit):
                estimator.partial_fit(X, values[labels], classes=classes)
            else:
                estimator.partial_fit(X, values[labels])
        return estimator, 1, f"all {n_rows:,} source rows (partial_fit, one pass)"
    X, labels = _read_all(tree, estimator, caller)
    estimator.fit(X, values[labels])
    return estimator, 1, f"all {n_rows:,} source rows (fit in memory)"


def _is_streamable_logistic(template, params: dict) -> bool:
    if type(template) is not LogisticRegression:
        return False
    return unsupported_reason(template, params) is None


def _refit_logistic(search, estimator, tree, coreset_rows, n_rows):
    from coreset_engine import fit_logistic_full

    with one_thread():  # the warm start: the coreset refit, as refit=True makes it
        warm = fit_weighted(clone(estimator), coreset_rows.X, coreset_rows.y,
                            coreset_rows.weights, normalize_weights=search.normalize_weights)  # fmt: skip
    merged = estimator.get_params()
    inverse = inverse_C(merged)
    C = np.inf if inverse == 0 else 1.0 / inverse
    warm = _polished(warm, coreset_rows, tree, C, merged)
    full = fit_logistic_full(
        tree, C=C, class_weight=merged["class_weight"], fit_intercept=merged["fit_intercept"],
        warm_start=warm,
    )  # fmt: skip
    for name in ("classes_", "coef_", "intercept_", "n_features_in_", "n_iter_"):
        setattr(estimator, name, getattr(full, name))
    passes = full.full_fit_.passes
    return estimator, passes, f"all {n_rows:,} source rows (streamed Newton, {passes} passes)"


def _polished(warm, coreset_rows, tree, C, params):
    """The coreset refit solved on the coreset's rows to the relative gap the engine's own warm
    start reaches (``coreset_engine._full_fit.solve_tree_objective_on_rows``, from ``warm``),
    with the class weights the full refit uses ("balanced" from the tree's class counts). A
    solver's own stopping rule (lbfgs: tol 1e-4 on the gradient) leaves the full refit more
    passes over the source than the engine's own warm start does
    (``tests/test_tuners_refit_full.py``). ``warm`` itself where the coreset cannot be solved
    (a class missing from it)."""
    from coreset_engine._full_fit import solve_tree_objective_on_rows

    try:
        with one_thread():
            polished = solve_tree_objective_on_rows(
                tree, coreset_rows.X, coreset_rows.y, coreset_rows.weights, C,
                params["class_weight"], params["fit_intercept"], warm_start=warm,
            )  # fmt: skip
    except ValueError:
        return warm
    return warm if polished is None else polished


def _parameters(method) -> tuple:
    import inspect

    return tuple(inspect.signature(method).parameters)


def _read_all(tree, estimator, caller: str):
    n_rows, n_features = tree.n_samples_, tree.n_features_in_
    X = labels = None
    for start, chunk, chunk_labels in tree.iter_source_chunks():
        if X is None:  # sized once the first chunk tells the dtype
            _check_memory(n_rows * (n_features * chunk.itemsize + 8), estimator, n_rows, caller)
            X = np.empty((n_rows, n_features), dtype=chunk.dtype)
            labels = np.empty(n_rows, dtype=np.int64)
        X[start : start + chunk.shape[0]] = chunk
        labels[start : start + chunk.shape[0]] = chunk_labels
    return X, labels


def _check_memory(needed: int, estimator, n_rows: int, caller: str) -> None:
    available = _available_memory()
    if available is not None and needed > MEMORY_SHARE * available:
        raise ValueError(
            f"{caller} cannot refit {type(estimator).__name__} on all {n_rows:,} rows "
            "(refit='full'): it has no partial_fit, so the rows must be read into memory, and "
            f"they take {needed / 2**30:.1f} GiB, more than half of the {available / 2**30:.1f} "
            "GiB available. cv_results_ and best_params_ are set; use refit=True to refit on "
            "the coreset, or an estimator with partial_fit."
        )


def _available_memory() -> int | None:
    """Bytes of memory available (Linux's MemAvailable), None where unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
