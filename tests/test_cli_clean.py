"""``coreset-engine clean`` (the review list) and ``coreset-engine update`` (label fixes and
removals from CSV files): what they print and write, and errors that leave the tree file as it
was."""

import hashlib

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from helpers import assert_same_tree

from coreset_cli import main
from coreset_engine import CoresetTree
from coreset_engine.datasets import write_hdf5

N_ROWS = 12_000
FLIPPED = np.arange(0, N_ROWS, 200)  # 60 rows with the wrong label


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clean")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_ROWS, 4)).astype(np.float32)
    y = (X[:, 0] - X[:, 1] + 0.3 * rng.normal(size=N_ROWS) > 0).astype(np.int64)
    y[FLIPPED] = 1 - y[FLIPPED]
    write_hdf5(folder / "d.h5", X, y)
    tree = CoresetTree(coreset_size=400, chunk_size=3000, random_state=0)
    tree.build_from_file(folder / "d.h5")
    tree.save(folder / "t.h5")
    return folder


@pytest.fixture
def tree_file(files, tmp_path):
    """A fresh copy of the saved tree (it still reads the data file of ``files``)."""
    path = tmp_path / "t.h5"
    path.write_bytes((files / "t.h5").read_bytes())
    return path


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _invoke(*words):
    return CliRunner().invoke(main, [str(word) for word in words])


def _labels(tree) -> np.ndarray:
    return np.concatenate([y for _, _, y in tree.iter_source_chunks()])


def _csv(path, **columns):
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


def test_clean_prints_the_review_list_best_first(tree_file):
    result = _invoke("clean", tree_file, "-k", 20)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"20 rows most likely mislabelled, of {N_ROWS:,} scored:"
    assert lines[1].split()[:3] == ["label", "predicted", "score"]
    rows = [int(line.split()[0]) for line in lines[3:]]
    expected = CoresetTree.load(tree_file).get_cleaning_samples(20)
    assert rows == expected.indices.tolist()
    assert np.isin(rows, FLIPPED).mean() >= 0.8  # the flipped rows come first


def test_clean_writes_a_csv_by_class_and_update_reads_it_back(files, tree_file, tmp_path):
    out = tmp_path / "review.csv"
    result = _invoke("clean", tree_file, "-k", 30, "--class-size", 10, "--out", out)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"20 rows (of {N_ROWS:,} scored) written to {out}"
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["row", "label", "predicted", "score", "x0", "x1", "x2", "x3"]
    assert frame["label"].value_counts().to_dict() == {0: 10, 1: 10}
    expected = CoresetTree.load(tree_file).get_cleaning_samples(30, class_size=10)
    np.testing.assert_array_equal(frame["row"], expected.indices)
    np.testing.assert_allclose(frame["score"], expected.scores)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["review.csv", "t.h5"]  # no leftovers

    # the reviewer accepts the model's label: the edited CSV goes back in as it is
    frame["label"] = frame["predicted"]
    frame.to_csv(tmp_path / "fixes.csv", index=False)
    result = _invoke("update", tree_file, "--labels", tmp_path / "fixes.csv")
    assert result.exit_code == 0, result.output
    assert "labels updated  20" in result.output
    assert f"saved to        {tree_file}" in result.output
    updated = CoresetTree.load(tree_file)
    np.testing.assert_array_equal(_labels(updated)[frame["row"]], frame["predicted"])
    reference = CoresetTree.load(files / "t.h5")  # the API's edit of the original tree
    reference.update_targets(frame["row"].to_numpy(), frame["predicted"].to_numpy())
    assert_same_tree(updated, reference)


def test_mark_seen_then_ignore_seen_lists_new_rows(tree_file):
    first = _invoke("clean", tree_file, "-k", 5, "--mark-seen")
    assert first.exit_code == 0, first.output
    second = _invoke("clean", tree_file, "-k", 5, "--ignore-seen")
    assert second.exit_code == 0, second.output
    again = _invoke("clean", tree_file, "-k", 5)

    def rows(result):
        return [int(line.split()[0]) for line in result.output.splitlines()[3:]]

    assert len(rows(first)) == len(rows(second)) == 5
    assert not set(rows(first)) & set(rows(second))
    assert rows(again) == rows(first)  # without --ignore-seen the ranking is the same
    tree = CoresetTree.load(tree_file)
    assert set(rows(first)) & set(tree.get_cleaning_samples(10, ignore_seen=True).indices) == set()


def test_update_removes_rows_and_writes_out_elsewhere(files, tree_file, tmp_path):
    before = _digest(tree_file)
    removed = _csv(tmp_path / "rm.csv", row=[5, 17, 11_999])
    result = _invoke("update", tree_file, "--remove", removed, "--out", tmp_path / "new.h5")
    assert result.exit_code == 0, result.output
    assert (
        "rows removed    3" in result.output and f"rows now        {N_ROWS - 3:,}" in result.output
    )
    assert _digest(tree_file) == before  # --out: the tree file is left as it was
    updated = CoresetTree.load(tmp_path / "new.h5")
    assert updated.n_samples_ == N_ROWS - 3
    rows = np.concatenate([r for r, _, _ in updated.iter_source_chunks(with_rows=True)])
    assert not np.isin([5, 17, 11_999], rows).any() and rows.size == N_ROWS - 3
    # an existing --out needs --force; both files at once
    fixes = _csv(tmp_path / "fixes.csv", row=[0], label=[1])
    again = ["update", tree_file, "--labels", fixes, "--remove", removed, "--out",
             tmp_path / "new.h5"]  # fmt: skip
    result = _invoke(*again)
    assert result.exit_code == 1 and "already exists" in result.output
    result = _invoke(*again, "--force")
    assert result.exit_code == 0, result.output
    assert _labels(CoresetTree.load(tmp_path / "new.h5"))[0] == 1


@pytest.mark.parametrize(
    "content, message",
    [
        ("row,label\n3,7\n", "fixes.csv: The 'y' parameter of update_targets must hold class"),
        ("row,label\n12000,1\n", "must hold row numbers in 0..11999"),
        ("row,label\n3,1\n3,0\n", "must name each row at most once. Got row 3 2 times"),
        ("row,label\nthree,1\n", "must hold row numbers (integers). Got 'three' on line 2"),
        ("row,label\n3,one\n", "must hold labels like the tree's classes [0, 1]. Got 'one'"),
        ("index,label\n3,1\n", "must have the columns ['row', 'label']. Got ['index', 'label']"),
        ("", "cannot be read"),
    ],
)
def test_update_errors_name_the_problem_and_change_nothing(tree_file, tmp_path, content, message):
    before = _digest(tree_file)
    (tmp_path / "fixes.csv").write_text(content)
    result = _invoke("update", tree_file, "--labels", tmp_path / "fixes.csv")
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and len(result.output.splitlines()) == 1
    assert message in result.output, result.output
    assert _digest(tree_file) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fixes.csv", "t.h5"]


def test_outputs_that_would_destroy_an_input_are_refused(files, tree_file, tmp_path):
    before, data = _digest(tree_file), _digest(files / "d.h5")
    fixes = _csv(tmp_path / "fixes.csv", row=[0], label=[1])
    fixes_digest = _digest(fixes)
    for words in (
        ["update", tree_file, "--labels", fixes, "--out", fixes],
        ["update", tree_file, "--labels", fixes, "--out", files / "d.h5", "--force"],
        ["clean", tree_file, "--out", tree_file, "--force"],
        ["clean", tree_file, "--out", files / "d.h5", "--force"],
    ):
        result = _invoke(*words)
        assert result.exit_code == 1, (words, result.output)
        assert "writing it would destroy the input" in result.output
    result = _invoke("update", tree_file, "--labels", tmp_path / "none.csv")
    assert result.output == f"Error: The CSV file '{tmp_path / 'none.csv'}' does not exist.\n"
    result = _invoke("update", tree_file)
    assert result.exit_code == 2 and "Give --labels and/or --remove." in result.output
    result = _invoke("clean", tmp_path / "missing.h5")
    assert result.exit_code == 1 and result.output.startswith("Error: ")
    assert (_digest(tree_file), _digest(files / "d.h5"), _digest(fixes)) == (
        before, data, fixes_digest
    )  # fmt: skip


def test_update_killed_while_saving_leaves_the_tree_file_intact(tree_file, tmp_path, monkeypatch):
    import coreset_engine._persist as persist

    before = _digest(tree_file)

    def broken(handle, state):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(persist, "_write_edits", broken)
    fixes = _csv(tmp_path / "fixes.csv", row=[0], label=[1])
    result = _invoke("update", tree_file, "--labels", fixes)
    assert result.exit_code == 1
    assert "the disk is full" in result.output and "The previous file, if any, is unchanged" in (
        result.output
    )
    assert _digest(tree_file) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fixes.csv", "t.h5"]
