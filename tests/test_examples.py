"""Every script in examples/ runs from a temporary folder with warnings as errors."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
#: What each script must print (a line it ends with) and write.
EXPECTED = {
    "build_tree_from_hdf5.py": ("the same root coreset", ["data.h5", "tree.h5"]),
    "build_tree_from_arrays.py": ("loss ratio", []),
    "tune_logistic_regression.py": ("test AUC of the refit best model", []),
    "tune_boosted_trees.py": ("test AUC of the refit best model", []),
    "plot_coreset_quality.py": ("wrote search.png", ["coreset_quality.png", "search.png"]),
}
NEEDS = {"plot_coreset_quality.py": "matplotlib"}


def test_every_example_is_listed():
    assert sorted(script.name for script in SCRIPTS) == sorted(EXPECTED)
    listed = (EXAMPLES / "README.md").read_text()
    assert all(f"`{name}`" in listed for name in EXPECTED)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda script: script.name)
def test_example_runs_clean(script, tmp_path):
    needed = NEEDS.get(script.name)
    if needed and importlib.util.find_spec(needed) is None:
        pytest.skip(f"{script.name} needs {needed}")
    environment = {**os.environ, "PYTHONWARNINGS": "error", "MPLBACKEND": "Agg"}
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=environment,
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stderr == "", run.stderr[-3000:]
    last_line, files = EXPECTED[script.name]
    assert last_line in run.stdout.strip().splitlines()[-1]
    for name in files:
        assert (tmp_path / name).stat().st_size > 0
    assert {path.name for path in tmp_path.iterdir()} <= {*files, "data.h5", "tree.h5"}
