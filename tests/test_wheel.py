"""The wheel: what it holds, and that ``coreset-engine demo`` (and what ``bench`` runs) work installed.

The wheel is built from a copy of the checkout and installed with ``pip install --target`` into
a temporary folder that leads ``PYTHONPATH``, so the packages run from there, not from the
checkout (checked); dependencies come from this interpreter. The commands run from a temporary
folder with ``HOME`` and ``XDG_CACHE_HOME`` pointed at another, and must write nothing into
the installed packages.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
KDD_IN_WHEEL = "coreset_engine/data/kddcup99_10pct/kddcup.data_10_percent.gz"
NOT_SOURCES = (".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
               ".ruff_cache", ".benchmarks", "results", "*.h5", "*.part")  # fmt: skip


def _can_build_without_isolation() -> bool:
    """setuptools here is new enough to build wheels itself (no download of a build env)."""
    if importlib.util.find_spec("setuptools") is None:
        return False
    import setuptools

    major, minor = (int(part) for part in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1)


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the wheel, the folder it is installed in)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPOSITORY, source, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    isolation = ["--no-build-isolation"] if _can_build_without_isolation() else []
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", *isolation, "-w", str(root / "dist"),
                    str(source)], check=True, capture_output=True)  # fmt: skip
    [wheel] = (root / "dist").glob("coreset_engine-*.whl")
    site = root / "site"
    subprocess.run([*pip, "install", "--no-deps", "--no-compile", "--target", str(site),
                    str(wheel)], check=True, capture_output=True)  # fmt: skip
    return wheel, site


def test_the_wheel_holds_the_packages_and_the_data_not_benchmarks(installed):
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"coreset_engine", "tuners", "coreset_cli"}
    assert KDD_IN_WHEEL in names and "coreset_cli/bench/engine.py" in names
    [entry_points] = [name for name in names if name.endswith("entry_points.txt")]
    assert "coreset-engine = coreset_cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installed_demo_and_bench_run_outside_the_checkout(installed, tmp_path):
    _, site = installed
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    environment = {
        key: value for key, value in os.environ.items()
        if key not in ("CORESET_ENGINE_CACHE", "CORESET_ENGINE_DATA", "NUMBA_CACHE_DIR")
    }  # fmt: skip
    environment.update(PYTHONPATH=str(site), HOME=str(home), XDG_CACHE_HOME=str(home / "cache"),
                       PYTHONDONTWRITEBYTECODE="1")  # fmt: skip
    before = _files(site)

    def run(*args):
        done = subprocess.run(args, cwd=work, env=environment, capture_output=True, text=True,
                              check=False)  # fmt: skip
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
        return done.stdout

    # the packages, the bundled data and what `bench` runs all come from the wheel
    where = run(sys.executable, "-c", (
        "import importlib.util, coreset_cli, coreset_engine, tuners\n"
        "import coreset_cli.bench.engine as engine, coreset_cli.bench.report as report\n"
        "from coreset_engine.datasets import find_data_file\n"
        "assert importlib.util.find_spec('benchmarks') is None\n"
        "for item in (coreset_cli, coreset_engine, tuners, engine, report): print(item.__file__)\n"
        "print(find_data_file('kddcup99'))"
    ))  # fmt: skip
    assert len(where.split()) == 6
    for line in where.split():
        assert Path(line).is_relative_to(site), where
    command = site / "bin" / "coreset-engine"
    assert "--cache-dir" in run(str(command), "demo", "--help")
    assert "--quick" in run(sys.executable, "-m", "coreset_cli", "bench", "--help")

    # a tiny real demo: every 25th row of the installed KDD file (the full file takes minutes)
    kdd = work / "kdd" / "kddcup99_10pct" / "kddcup.data_10_percent.gz"
    kdd.parent.mkdir(parents=True)
    with gzip.open(site / KDD_IN_WHEEL, "rt") as rows, gzip.open(kdd, "wt") as kept:
        kept.writelines(line for number, line in enumerate(rows) if number % 25 == 0)
    output = run(str(command), "demo", "--size", "500", "--chunk-size", "5000",
                 "--data-dir", str(work / "kdd"))  # fmt: skip
    assert "coreset build + search is" in output
    cache = home / "cache" / "coreset-engine"
    assert len(list(cache.glob("kddcup99-*.h5"))) == 1
    assert list((cache / "numba").rglob("*.nbi")), "compiled kernels belong in the user cache"

    assert _files(site) == before, "the commands wrote into the installed packages"
