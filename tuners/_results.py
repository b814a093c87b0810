"""Collecting per-fit results into per-candidate records and ``cv_results_``."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from ._backends import FitResult


def candidate_record(index: int, params: dict, fits: list[FitResult], extra: dict) -> dict:
    """One candidate's summary: scores per split, times, rows, status and first error."""
    scores = np.array([fit.score for fit in fits])
    errors = [fit.error for fit in fits if fit.error is not None]
    fit_seconds = np.array([fit.fit_seconds for fit in fits])
    score_seconds = np.array([fit.score_seconds for fit in fits])
    return {
        "candidate": index,
        "params": params,
        "split_scores": scores,
        "mean_test_score": float(np.mean(scores)),
        "std_test_score": float(np.std(scores)),
        "mean_fit_time": float(fit_seconds.mean()),
        "std_fit_time": float(fit_seconds.std()),
        "mean_score_time": float(score_seconds.mean()),
        "std_score_time": float(score_seconds.std()),
        "n_train_rows": round(np.mean([fit.n_train_rows for fit in fits])),
        "n_rows_fitted": int(sum(fit.n_train_rows for fit in fits)),
        "status": "failed" if errors else "ok",
        "error": errors[0] if errors else "",
        **extra,
    }


def rank_scores(scores: np.ndarray) -> np.ndarray:
    """Rank 1 for the highest score, ties share the lowest rank; NaN (failed) ranks last."""
    scores = np.where(np.isnan(scores), -np.inf, np.asarray(scores, dtype=float))
    return rankdata(-scores, method="min").astype(np.int32)


def build_cv_results(records: list[dict], extra_columns: tuple[str, ...] = ()) -> dict:
    """The ``cv_results_`` dict: one entry per candidate in every column (see GridSearch)."""
    results: dict = {"params": [record["params"] for record in records]}
    names = sorted({name for record in records for name in record["params"]})
    for name in names:
        column = np.ma.MaskedArray(np.empty(len(records), dtype=object), mask=True)
        for i, record in enumerate(records):
            if name in record["params"]:
                column[i] = record["params"][name]
        results[f"param_{name}"] = column
    n_splits = max((record["split_scores"].size for record in records), default=0)
    for split in range(n_splits):
        results[f"split{split}_test_score"] = np.array(
            [_at(record["split_scores"], split) for record in records]
        )
    for key in ("mean_test_score", "std_test_score", "mean_fit_time", "std_fit_time",
                "mean_score_time", "std_score_time"):  # fmt: skip
        results[key] = np.array([record[key] for record in records], dtype=float)
    results["rank_test_score"] = rank_scores(results["mean_test_score"])
    results["n_train_rows"] = np.array([r["n_train_rows"] for r in records], dtype=np.int64)
    results["status"] = np.array([r["status"] for r in records], dtype=object)
    results["error"] = np.array([r["error"] for r in records], dtype=object)
    for key in extra_columns:
        results[key] = np.array([record[key] for record in records])
    return results


def _at(values: np.ndarray, position: int) -> float:
    return float(values[position]) if position < values.size else np.nan
