"""The README's code runs as written, with warnings as errors and no failed candidate.

Its Python blocks run in order in one fresh interpreter; its ``coreset-engine build`` and
``tune`` commands run through click's test runner. Both in a temporary folder that holds the
files the README names (``big.h5``, ``test.h5``) and the arrays it appends (``X_more``,
``y_more``), made from a synthetic two-class problem. ``coreset-engine demo`` has its own test.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
#: Warnings that must not appear: a deprecated parameter (FutureWarning) floods every fit.
WARNINGS_AS_ERRORS = "error::FutureWarning,error::DeprecationWarning"

# The data the README's code reads: a two-class logistic problem, enough rows for a tree of
# depth >= 2 at the README's chunk size.
_DATA = """
import numpy as np
from coreset_engine.datasets import write_hdf5

def logistic_rows(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8)).astype(np.float32)
    logits = X @ np.linspace(-1.5, 1.5, 8) - 0.5
    return X, (rng.uniform(size=n) < 1 / (1 + np.exp(-logits))).astype(np.int64)
"""
_FILES = (
    _DATA
    + """
write_hdf5("big.h5", *logistic_rows(400_000, 0))
write_hdf5("test.h5", *logistic_rows(20_000, 1))

import pandas as pd  # the table the README's "Your data" command reads
rng = np.random.default_rng(0)
amount = rng.exponential(size=20_000)
pd.DataFrame({
    "amount": amount,
    "channel": rng.choice(["web", "shop", "phone"], 20_000),
    "outcome": np.where(amount + rng.normal(size=20_000) > 1, "buy", "skip"),
}).to_parquet("sales.parquet")
"""
)
_ARRAYS = (
    _DATA
    + """
X_more, y_more = logistic_rows(5_000, 2)
"""
)
# A failed candidate is recorded, not raised: make every search of the README refuse one.
_NO_FAILED_CANDIDATES = """
import tuners._search
_finish = tuners._search.BaseSearch._finish
def _finish_without_failures(self, records, caller):
    failed = [record["error"] for record in records if record["status"] != "ok"]
    assert not failed, f"{len(failed)} failed candidates of {caller}, e.g. {failed[0]}"
    return _finish(self, records, caller)
tuners._search.BaseSearch._finish = _finish_without_failures
"""


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def commands(text: str) -> list[list[str]]:
    """The ``coreset-engine build`` and ``tune`` commands in the README's text, as words."""
    spans = re.findall(r"`(coreset-engine (?:build|tune) [^`]+)`", text.replace("\n", " "))
    return [shlex.split(span)[1:] for span in spans]


def _environment(home: Path) -> dict:
    return {**os.environ, "PYTHONWARNINGS": WARNINGS_AS_ERRORS, "HOME": str(home),
            "XDG_CACHE_HOME": str(home / "cache")}  # fmt: skip


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readme")
    subprocess.run([sys.executable, "-c", _FILES], cwd=folder, check=True)
    return folder


def test_the_readme_names_its_code():
    text = README.read_text()
    assert len(python_blocks(text)) >= 2
    assert [words[0] for words in commands(text)] == [
        "build", "tune", "build", "tune", "tune", "build"
    ]


def test_readme_python_blocks_run_clean(data_folder, tmp_path):
    for name in ("big.h5", "test.h5"):
        (tmp_path / name).symlink_to(data_folder / name)
    script = "\n".join([_ARRAYS, _NO_FAILED_CANDIDATES, *python_blocks(README.read_text())])
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=_environment(tmp_path),
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Warning" not in run.stderr, run.stderr[-3000:]


def test_readme_commands_run_clean(data_folder, tmp_path, monkeypatch):
    # in this interpreter (an import of the command line costs seconds); the commands fit
    # in-process (n_jobs=1), where these filters apply
    from click.testing import CliRunner

    from coreset_cli import main

    for name in ("big.h5", "test.h5", "sales.parquet"):
        (tmp_path / name).symlink_to(data_folder / name)
    monkeypatch.chdir(tmp_path)
    for words in commands(README.read_text()):
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)
            warnings.simplefilter("error", DeprecationWarning)
            run = CliRunner().invoke(main, words)
        assert run.exit_code == 0, (words, run.output[-2000:])
        assert "FAILED" not in run.stdout, (words, run.stdout)
        assert "Warning" not in run.stderr, (words, run.stderr[-2000:])
