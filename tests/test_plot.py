"""coreset_engine.plot: loss ratio / AUC against coreset size, and search results, as PNG files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from sklearn.linear_model import LogisticRegression

from coreset_engine.plot import plot_loss_ratio, plot_search
from tuners import GridSearch, HalvingSearch

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path) -> bool:
    return path.read_bytes()[:8] == PNG_MAGIC and 5_000 < path.stat().st_size < 300_000


def _labels(axis) -> list[str]:
    return [text.get_text() for text in axis.get_legend().get_texts()]


def test_loss_ratio_from_a_table_of_runs(tmp_path):
    rng = np.random.default_rng(0)
    rows = [
        {"size": size, "method": method, "seed": seed,
         "loss_ratio": 1 + scale / size * rng.uniform(0.5, 1.5), "auc": 0.95 - scale / size}
        for size in (200, 1_000, 5_000) for method, scale in (("uniform", 50), ("sensitivity", 5))
        for seed in range(5)
    ]  # fmt: skip
    figure = plot_loss_ratio(rows, path=tmp_path / "quality.png", title="synthetic")
    assert _is_png(tmp_path / "quality.png")
    ratio_axis, auc_axis = figure.axes
    assert _labels(ratio_axis) == ["uniform", "sensitivity"]
    assert ratio_axis.get_yscale() == "log" and ratio_axis.get_xscale() == "log"
    medians = ratio_axis.lines[0].get_ydata()  # uniform: ratio - 1 falls with the size
    assert list(medians) == sorted(medians, reverse=True)
    assert _labels(auc_axis) == ["uniform", "sensitivity"]
    # a DataFrame without AUCs: one panel
    pandas = pytest.importorskip("pandas")
    table = pandas.DataFrame(rows).drop(columns="auc")
    assert len(plot_loss_ratio(table).axes) == 1
    with pytest.raises(ValueError, match="without \\['loss_ratio'\\]"):
        plot_loss_ratio([{"size": 10, "method": "uniform"}])


def test_loss_ratio_from_a_benchmark_record(tmp_path):
    def stats(value):
        return {"median": value, "q1": value * 0.99, "q3": value * 1.01, "values": [value] * 3}

    record = {
        "name": "toy", "rows": 50_000, "features": 3, "classes": 2,
        "full": {"test_auc": 0.9},
        "results": [
            {"size": size, "method": method, "one_shot": {"loss_ratio": stats(1 + k / size)},
             "tree": {"loss_ratio": stats(1 + 2 * k / size)}, "auc": {"coreset": stats(0.89)}}
            for size in (100, 1_000) for method, k in (("uniform", 30), ("l2s", 3))
        ],
    }  # fmt: skip
    figure = plot_loss_ratio(record, path=tmp_path / "bench.png")
    assert _is_png(tmp_path / "bench.png")
    assert _labels(figure.axes[0]) == [
        "uniform, one-shot", "uniform, tree root", "l2s, one-shot", "l2s, tree root"
    ]  # fmt: skip
    assert "all training rows" in _labels(figure.axes[1])
    assert figure._suptitle.get_text().startswith("toy: 50,000 rows x 3 features, 2 classes, 3")


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, (X[:, 0] + rng.normal(size=n) > 0).astype(int)


def test_search_plots(tmp_path):
    X, y = _data()
    grid = {"C": [0.001, 0.01, 0.1, 1.0, 10.0]}
    search = GridSearch(LogisticRegression(), grid, scoring="roc_auc", cv=3).fit(X, y)
    figure = plot_search(search, path=tmp_path / "search.png")
    assert _is_png(tmp_path / "search.png")
    axis = figure.axes[0]
    assert axis.get_xlabel() == "C" and axis.get_xscale() == "log"
    assert "best" in _labels(axis) and axis.get_title() == "GridSearch: 5 candidates"

    two = {"C": [0.01, 1.0], "fit_intercept": [True, False]}
    search = GridSearch(LogisticRegression(), two, cv=3).fit(X, y)
    assert plot_search(search).axes[0].get_xlabel() == "candidate rank"
    categories = plot_search(search, "fit_intercept").axes[0]
    assert [t.get_text() for t in categories.get_xticklabels()] == ["True", "False"]
    with pytest.raises(ValueError, match="'param' argument of plot_search"):
        plot_search(search, "gamma")

    halving = HalvingSearch(LogisticRegression(), grid, cv=3, factor=2).fit(X, y)
    labels = _labels(plot_search(halving, path=tmp_path / "halving.png").axes[0])
    assert {"round 0", "round 1", "round 2", "best"} <= set(labels)
    assert _is_png(tmp_path / "halving.png")


def test_without_matplotlib_the_error_names_the_extra():
    code = (
        "import sys\n"
        "class NoMatplotlib:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'matplotlib':\n"
        "            raise ImportError('No module named matplotlib')\n"
        "sys.meta_path.insert(0, NoMatplotlib())\n"
        "from coreset_engine.plot import plot_loss_ratio\n"
        "try:\n"
        "    plot_loss_ratio([{'size': 10, 'method': 'uniform', 'loss_ratio': 1.1}])\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install coreset-engine[plots]" in run.stdout
