"""The command line (coreset_cli): build, demo, and how the packages depend on each other."""

import gzip
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from coreset_cli import main
from coreset_engine import CoresetTree
from coreset_engine.datasets import find_data_file, write_hdf5

KDD = find_data_file("kddcup99")


def test_build_writes_a_tree_and_prints_a_summary(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30_000, 6)).astype(np.float32)
    y = (X[:, 0] + rng.normal(size=30_000) > 1).astype(np.int64)
    write_hdf5(tmp_path / "d.h5", X, y)
    result = CliRunner().invoke(main, ["build", str(tmp_path / "d.h5"), "--size", "1000",
                                       "--chunk-size", "10000", "--out", str(tmp_path / "t.h5")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "30,000 x 6 features" in result.output and "depth 2" in result.output
    tree = CoresetTree.load(tmp_path / "t.h5")
    assert len(tree.get_coreset()) == 1000 and tree.n_samples_ == 30_000
    assert tree.calibrate is True
    result = CliRunner().invoke(main, ["build", str(tmp_path / "d.h5"), "--size", "1000",
                                       "--chunk-size", "10000", "--no-calibrate",
                                       "--out", str(tmp_path / "plain.h5")])  # fmt: skip
    assert result.exit_code == 0, result.output
    plain = CoresetTree.load(tmp_path / "plain.h5")
    assert plain.calibrate is False
    np.testing.assert_array_equal(plain.get_coreset(2).indices, tree.get_coreset(2).indices)
    assert not np.array_equal(plain.get_coreset(2).weights, tree.get_coreset(2).weights)


def test_build_from_parquet_with_feature_columns_and_format(tmp_path):
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=5000), "b": rng.normal(size=5000),
                          "kind": rng.choice(["u", "v"], 5000)})  # fmt: skip
    frame["label"] = np.where(frame["a"] > 0, "pos", "neg")
    frame.to_parquet(tmp_path / "d.data")
    result = CliRunner().invoke(main, ["build", str(tmp_path / "d.data"), "--format", "parquet",
                                       "--x", "a,kind", "--y", "label", "--size", "300",
                                       "--chunk-size", "1000", "--out", str(tmp_path / "t.h5"),
                                       "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    tree = CoresetTree.load(tmp_path / "t.h5")
    assert tree.feature_names_in_.tolist() == ["a", "kind"]
    assert tree.classes_.tolist() == ["neg", "pos"]


def test_build_reports_bad_input_without_a_traceback(tmp_path):
    result = CliRunner().invoke(main, ["build", str(tmp_path / "none.h5"), "--out", "t.h5"])
    assert result.exit_code != 0
    assert "does not exist" in result.output and "Traceback" not in result.output
    rng = np.random.default_rng(0)
    write_hdf5(tmp_path / "d.h5", rng.normal(size=(100, 2)), np.arange(100) % 2)
    result = CliRunner().invoke(main, ["build", str(tmp_path / "d.h5"), "--x", "nope",
                                       "--out", str(tmp_path / "t.h5")])  # fmt: skip
    assert result.exit_code != 0 and "'nope' was not found" in result.output
    assert not (tmp_path / "t.h5").exists()


@pytest.mark.skipif(not KDD.exists(), reason="bundled KDD file missing")
def test_demo_runs_end_to_end_on_a_slice_of_kdd(tmp_path):
    folder = tmp_path / "kddcup99_10pct"
    folder.mkdir()
    with gzip.open(KDD, "rt") as source, gzip.open(folder / KDD.name, "wt") as target:
        for number, line in enumerate(source):
            if number % 25 == 0:  # every 25th row: 19,761 rows, both classes
                target.write(line)
    demo = ["demo", "--size", "1000", "--chunk-size", "5000", "--data-dir", str(tmp_path),
            "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    result = CliRunner().invoke(main, demo)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("converting") and any(line.startswith("full data") for line in lines)
    assert lines[1].startswith("engine kernels compiled or loaded") and "not counted" in lines[1]
    coreset_line = next(line for line in lines if line.startswith("coreset"))
    assert float(coreset_line.split()[-1]) > 0.95  # test AUC
    [converted] = (tmp_path / "cache").iterdir()  # written once, atomically, in the cache
    assert converted.name.startswith("kddcup99-") and converted.suffix == ".h5"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "kddcup99_10pct"]
    again = CliRunner().invoke(main, demo)
    assert again.exit_code == 0 and "converting" not in again.output


def _small_h5(path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3_000, 4)).astype(np.float32)
    write_hdf5(path, X, (X[:, 0] > 0).astype(np.int64))
    return path.read_bytes()


def _build(*args):
    return CliRunner().invoke(main, ["build", *map(str, args), "--size", "200",
                                     "--chunk-size", "1000", "--quiet"])  # fmt: skip


def test_build_refuses_to_write_its_output_over_the_input(tmp_path):
    data = tmp_path / "data.h5"
    original = _small_h5(data)
    result = _build(data, "--out", data)
    assert result.exit_code != 0 and "would destroy the input" in result.output
    assert "Traceback" not in result.output and "saved" not in result.output
    assert data.read_bytes() == original
    link = tmp_path / "link.h5"
    link.hardlink_to(data)  # the same file under another name
    result = _build(data, "--out", link, "--force")
    assert result.exit_code != 0 and "would destroy the input" in result.output
    assert data.read_bytes() == original


def test_build_needs_force_to_replace_an_existing_output(tmp_path):
    data = tmp_path / "data.h5"
    _small_h5(data)
    out = tmp_path / "tree.h5"
    out.write_bytes(b"precious")
    result = _build(data, "--out", out)
    assert (
        result.exit_code != 0 and "already exists" in result.output and "--force" in result.output
    )
    assert out.read_bytes() == b"precious"
    result = _build(data, "--out", out, "--force")
    assert result.exit_code == 0, result.output
    assert CoresetTree.load(out).n_samples_ == 3_000


def test_build_checks_the_output_folder_before_building(tmp_path, monkeypatch):
    data = tmp_path / "data.h5"
    _small_h5(data)
    built = []
    monkeypatch.setattr(CoresetTree, "build_from_file", lambda *a, **k: built.append(1))
    result = _build(data, "--out", tmp_path / "missing" / "tree.h5")
    assert result.exit_code != 0 and "does not exist" in result.output
    assert not built  # refused before any work


def test_saved_trees_get_the_users_umask_permissions(tmp_path):
    import os
    import stat

    data = tmp_path / "data.h5"
    _small_h5(data)
    old = os.umask(0o022)
    try:
        assert _build(data, "--out", tmp_path / "t.h5").exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "t.h5").stat().st_mode) == 0o644


REPOSITORY = Path(__file__).resolve().parent.parent


def _imported_names(package: str) -> set[str]:
    """Top-level names of every module that ``package``'s source files import."""
    import ast

    names = set()
    for path in (REPOSITORY / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_the_command_line_sits_above_both_libraries():
    import subprocess
    import sys

    assert not {"tuners", "coreset_cli", "benchmarks"} & _imported_names("coreset_engine")
    assert not {"coreset_cli", "benchmarks"} & _imported_names("tuners")
    assert "benchmarks" not in _imported_names("coreset_cli")
    code = (
        "import sys, coreset_engine, coreset_engine.datasets, coreset_engine.plot\n"
        "assert 'tuners' not in sys.modules\n"
        "import tuners\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('coreset_cli', 'benchmarks')))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


def test_entry_points_and_benchmark_wrappers_run(tmp_path):
    import subprocess
    import sys

    def run(*args, cwd=tmp_path):
        return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                              cwd=cwd, check=True).stdout  # fmt: skip

    commands = run("-m", "coreset_cli", "--help")
    assert all(name in commands for name in ("build", "tune", "demo", "bench", "make-data"))
    assert "--cache-dir" in CliRunner().invoke(main, ["demo", "--help"]).output
    # a source checkout keeps `python -m benchmarks.<name>`; the code is coreset_cli.bench's
    code = (
        "import runpy, sys\n"
        "for name in ('bench_engine', 'bench_report'):\n"
        "    sys.argv = [name, '--help']\n"
        "    try:\n"
        "        runpy.run_module(f'benchmarks.{name}', run_name='__main__')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "import benchmarks.bench_engine as wrapper, coreset_cli.bench.engine as engine\n"
        "print(wrapper is engine)\n"
    )
    output = run("-c", code, cwd=REPOSITORY)
    assert "--quick" in output and "--docs-dir" in output and output.split()[-1] == "True"
