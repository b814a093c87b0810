"""Plots a user wants: coreset quality against coreset size, and a search's results.

Both functions return a matplotlib ``Figure`` (drawn without pyplot, so nothing global changes)
and save it when given ``path``. matplotlib is the optional ``plots`` extra
(``pip install coreset-engine[plots]``), imported only when a plot is drawn.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping

import numpy as np

__all__ = ["plot_loss_ratio", "plot_search"]

COLORS = {"uniform": "#7f7f7f", "l2s": "#1f77b4", "sensitivity": "#d62728"}
_PATHS = (("one_shot", "-", "one-shot"), ("tree", "--", "tree root"))


def plot_loss_ratio(results, *, path: str | os.PathLike | None = None, title: str | None = None):
    """Loss ratio (and test AUC, when known) against coreset size, one line per method.

    Parameters
    ----------
    results : dict, iterable of mappings, or pandas.DataFrame
        Either one data set's record of ``python -m benchmarks.bench_engine`` (an entry of
        ``engine.json``'s ``"datasets"``: one-shot and tree-root lines, the full-data AUC as a
        reference line), or a table with one row per run and the columns ``size``,
        ``method``, ``loss_ratio`` (full-data loss at the coreset's fit over the full-data
        optimum, :func:`coreset_engine.evaluation.loss_ratio`) and optionally ``auc``. Rows
        of one (method, size) are summarised by their median and interquartile range.
    path : str or path-like, optional
        Save the figure there (the format follows the suffix, e.g. ``.png``).
    title : str, optional
        Figure title (default: the record's data set and shape, or none for a table).

    Returns
    -------
    matplotlib.figure.Figure
        Left panel: loss ratio - 1 (log scale, 0 is perfect); right panel, if AUCs are known:
        test AUC of the coreset's fit.

    Examples
    --------
    >>> rows = [{"size": m, "method": method, "loss_ratio": 1 + s / m, "auc": 0.9}
    ...         for m in (100, 1000) for method, s in (("uniform", 5), ("sensitivity", 1))]
    >>> figure = plot_loss_ratio(rows)  # doctest: +SKIP
    """
    figure_class = _figure_class()
    record = results if isinstance(results, Mapping) and "results" in results else None
    if record is None:
        record = _record_from_table(results)
    has_auc = any(r.get("auc") for r in record["results"])
    figure = figure_class(figsize=(10 if has_auc else 5.5, 4), dpi=90)
    axes = figure.subplots(1, 2 if has_auc else 1, squeeze=False)[0]
    ratio_axis = axes[0]
    for method in _methods(record):
        rows = sorted((r for r in record["results"] if r["method"] == method),
                      key=lambda r: r["size"])  # fmt: skip
        sizes = [r["size"] for r in rows]
        paths = [path for path in _PATHS if path[0] in rows[0]]
        for key, style, label in paths:
            stats = [_excess(r[key]["loss_ratio"]) for r in rows]
            _errorbar(ratio_axis, sizes, stats, style, method,
                      method if len(paths) == 1 else f"{method}, {label}")  # fmt: skip
        if has_auc:
            stats = [r["auc"]["coreset"] for r in rows]
            _errorbar(axes[1], sizes, stats, "-", method,
                      f"{method} (tree root)" if "tree" in rows[0] else method)  # fmt: skip
    ratio_axis.set(xscale="log", yscale="log", xlabel="coreset rows",
                   ylabel="loss ratio - 1  (median, IQR)",
                   title="full-data loss at the coreset's fit / optimum")  # fmt: skip
    if has_auc:
        full_auc = record.get("full", {}).get("test_auc")
        if full_auc is not None:
            axes[1].axhline(full_auc, color="black", lw=1, label="all training rows")
        axes[1].set(xscale="log", xlabel="coreset rows", ylabel="test AUC  (median, IQR)",
                    title="held-out AUC of the coreset's fit")  # fmt: skip
    sizes = sorted({r["size"] for r in record["results"]})
    for axis in axes:
        axis.set_xticks(sizes, [f"{size:,}" for size in sizes])
        axis.xaxis.set_minor_locator(_null_locator())
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    if title is None and "name" in record:
        title = (f"{record['name']}: {record['rows']:,} rows x {record['features']} features, "
                 f"{record['classes']} classes, {_seeds(record)} seeds")  # fmt: skip
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path)
    return figure


def plot_search(search, param: str | None = None, *, ax=None,
                path: str | os.PathLike | None = None):  # fmt: skip
    """Mean validation score (with its standard deviation over folds) of every candidate.

    Parameters
    ----------
    search : fitted search
        Anything with scikit-learn's ``cv_results_`` (``params``, ``param_<name>``,
        ``mean_test_score``, ``std_test_score``): a :mod:`tuners` search or a scikit-learn
        ``GridSearchCV``. A halving search's rounds (``iter``) get one colour each.
    param : str, optional
        Plot the score against this parameter (a log axis for positive numbers spanning two
        decades or more; categories side by side otherwise). Default: the only parameter
        searched, or, with several, the candidates by rank.
    ax : matplotlib Axes, optional
        Draw there (default: a new figure).
    path : str or path-like, optional
        Save the figure there.

    Returns
    -------
    matplotlib.figure.Figure
        Failed candidates (NaN scores) are left out and counted in the title; the best
        candidate is starred.
    """
    results = search.cv_results_
    names = sorted({name for params in results["params"] for name in params})
    if param is None and len(names) == 1:
        param = names[0]
    if param is not None and f"param_{param}" not in results:
        raise ValueError(f"The 'param' argument of plot_search must be one of {names}. "
                         f"Got {param!r} instead.")  # fmt: skip
    if ax is None:
        figure = _figure_class()(figsize=(6, 4), dpi=90)
        ax = figure.subplots()
    else:
        figure = ax.figure
    scores = np.asarray(results["mean_test_score"], dtype=float)
    spread = np.asarray(results["std_test_score"], dtype=float)
    ok = ~np.isnan(scores)
    rounds = np.asarray(results.get("iter", np.zeros(scores.size, dtype=int)))
    if param is None:
        ranks = np.asarray(results["rank_test_score"])
        x = ranks.astype(float)
        ax.set_xlabel("candidate rank")
    else:
        x, labels = _positions([results["params"][i].get(param) for i in range(scores.size)])
        if labels is not None:
            ax.set_xticks(range(len(labels)), labels)
        elif _log_scale(x[ok]):
            ax.set_xscale("log")
        ax.set_xlabel(param)
    for round_index in sorted(set(rounds[ok].tolist())):
        chosen = ok & (rounds == round_index)
        label = f"round {round_index}" if "iter" in results else None
        ax.errorbar(x[chosen], scores[chosen], yerr=spread[chosen], fmt="o", ms=4, capsize=3,
                    label=label)  # fmt: skip
    best = getattr(search, "best_index_", None)
    if best is not None and ok[best]:
        ax.plot([x[best]], [scores[best]], "*", ms=14, color="black", label="best")
    ax.set_ylabel("mean validation score (± std over folds)")
    failed = int((~ok).sum())
    title = f"{type(search).__name__}: {scores.size} candidates"
    ax.set_title(title + (f", {failed} failed" if failed else ""))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path)
    return figure


# ------------------------------------------------------------------------------ helpers
def _figure_class():
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "coreset_engine.plot needs matplotlib, which is not installed: "
            "pip install coreset-engine[plots]"
        ) from error
    return Figure


def _null_locator():
    from matplotlib.ticker import NullLocator

    return NullLocator()


def _record_from_table(table) -> dict:
    """A bench-style record (median and quartiles per method and size) from one row per run."""
    if hasattr(table, "to_dict"):  # a pandas DataFrame
        table = table.to_dict("records")
    if not isinstance(table, Iterable):
        raise TypeError("The 'results' argument of plot_loss_ratio must be a benchmark record "
                        f"or a table of runs. Got {type(table).__name__} instead.")  # fmt: skip
    groups: dict[tuple, list[Mapping]] = {}
    for row in table:
        missing = {"size", "method", "loss_ratio"} - set(row)
        if missing:
            raise ValueError("The rows given to plot_loss_ratio need the columns size, method "
                             f"and loss_ratio. Got a row without {sorted(missing)}.")  # fmt: skip
        groups.setdefault((row["method"], int(row["size"])), []).append(row)
    if not groups:
        raise ValueError("The table given to plot_loss_ratio has no rows.")
    results = []
    for (method, size), rows in groups.items():
        entry = {"method": method, "size": size,
                 "one_shot": {"loss_ratio": _stats([r["loss_ratio"] for r in rows])}}  # fmt: skip
        aucs = [r["auc"] for r in rows if r.get("auc") is not None]
        if aucs:
            entry["auc"] = {"coreset": _stats(aucs)}
        results.append(entry)
    return {"results": results}


def _stats(values) -> dict:
    values = np.asarray(values, dtype=float)
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {"median": float(median), "q1": float(q1), "q3": float(q3), "values": values.tolist()}


def _excess(stats: dict) -> dict:
    """Ratio - 1, floored at 1e-6 so that a ratio a hair under 1 (solver tolerance) plots."""
    return {k: max(stats[k] - 1.0, 1e-6) for k in ("median", "q1", "q3")}


def _errorbar(axis, sizes, stats, style, method, label) -> None:
    medians = [s["median"] for s in stats]
    below = [s["median"] - s["q1"] for s in stats]
    above = [s["q3"] - s["median"] for s in stats]
    axis.errorbar(sizes, medians, yerr=[below, above], fmt="o" + style, ms=4, capsize=3,
                  color=COLORS.get(method), label=label)  # fmt: skip


def _methods(record: dict) -> list[str]:
    """Methods in the order the results first name them."""
    return list(dict.fromkeys(r["method"] for r in record["results"]))


def _seeds(record: dict) -> int:
    return len(record["results"][0]["one_shot"]["loss_ratio"]["values"])


def _positions(values: list) -> tuple[np.ndarray, list[str] | None]:
    """x positions of parameter values: the numbers themselves, or category indices."""
    plain = [v.item() if isinstance(v, np.generic) else v for v in values]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in plain):
        return np.asarray(plain, dtype=float), None
    labels = list(dict.fromkeys(str(v) for v in plain))
    return np.asarray([labels.index(str(v)) for v in plain], dtype=float), labels


def _log_scale(values: np.ndarray) -> bool:
    return values.size > 1 and values.min() > 0 and math.log10(values.max() / values.min()) >= 2
