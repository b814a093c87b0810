"""Resumable builds (``build_from_file(..., checkpoint=folder)``) and saves that never lose the
previous file: a build SIGKILLed at random moments and resumed ends bit-identical to an
uninterrupted one; a checkpoint of another build is an error; a save killed mid-write or
stopped by a full disk leaves the previous tree file intact."""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from helpers import assert_same_tree

from coreset_engine import CoresetTree
from coreset_engine.datasets import write_hdf5

PARAMS = {"coreset_size": 100, "chunk_size": 400, "random_state": 3}
N_ROWS = 24_000  # 60 leaves
_CHILD = """
import sys
from coreset_engine import CoresetTree
tree = CoresetTree(**{params})
tree.build_from_file(sys.argv[1], checkpoint=sys.argv[2])
tree.save(sys.argv[3])
"""


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "d.h5"
    rng = np.random.default_rng(0)
    X = rng.standard_t(df=4, size=(N_ROWS, 5)).astype(np.float32)
    y = np.digitize(X @ np.linspace(1.0, -0.5, 5) + rng.logistic(size=N_ROWS), [-1.0, 1.0])
    write_hdf5(path, X, y)
    return path


@pytest.fixture(scope="module")
def reference(data_file):
    return CoresetTree(**PARAMS).build_from_file(data_file)


def _leaves_done(folder) -> int:
    try:
        with open(os.path.join(folder, "manifest.json"), "rb") as handle:
            return json.loads(handle.read())["leaves_done"]
    except (FileNotFoundError, ValueError):  # not written yet (a rename is atomic: no half)
        return -1


def assert_same_arrays(a: CoresetTree, b: CoresetTree) -> None:
    """Every node's sample, weights and statistics, the stack and the root: equal bit for bit."""
    sa, sb = a._state, b._state
    assert (sa.root, sa.stack, sa.n_rows, sa.n_leaves, sa.seed, len(sa.nodes)) == (
        sb.root, sb.stack, sb.n_rows, sb.n_leaves, sb.seed, len(sb.nodes)
    )  # fmt: skip
    for x, z in zip(sa.nodes, sb.nodes):
        for name in ("indices", "X", "y", "weights"):
            assert getattr(x, name).tobytes() == getattr(z, name).tobytes(), name
        assert x.stats.gram.tobytes() == z.stats.gram.tobytes()
        np.testing.assert_array_equal(x.stats.class_counts, z.stats.class_counts)
        assert (x.stats.n_rows, x.first_leaf, x.last_leaf, x.height, x.children, x.spine) == (
            z.stats.n_rows, z.first_leaf, z.last_leaf, z.height, z.children, z.spine
        )  # fmt: skip
    assert_same_tree(a, b)


def test_a_build_killed_three_times_resumes_to_the_same_tree(data_file, reference, tmp_path):
    seed = int(np.random.SeedSequence().entropy % 2**32)
    rng = np.random.default_rng(seed)
    checkpoint, out = tmp_path / "tree.ckpt", tmp_path / "tree.h5"
    command = [sys.executable, "-c", _CHILD.format(params=PARAMS),
               str(data_file), str(checkpoint), str(out)]  # fmt: skip
    done = []
    for _ in range(3):
        target = max(done[-1] if done else 0, 0) + int(rng.integers(2, 11))
        child = subprocess.Popen(command, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while _leaves_done(checkpoint) < target and child.poll() is None:
            assert time.monotonic() < deadline, f"seed {seed}: the build did not progress"
            time.sleep(0.01)
        time.sleep(float(rng.uniform(0, 0.05)))  # anywhere in the next leaf's writes
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL, (seed, child.stderr.read()[-2000:])
        assert not out.exists()
        done.append(_leaves_done(checkpoint))
        assert done[-1] >= target, (seed, done)
        if len(done) == 1:
            first_step = (checkpoint / "leaf-00000000.npz").stat().st_mtime_ns
    assert done[-1] < N_ROWS // PARAMS["chunk_size"], (seed, done)  # killed before the end
    resumed = subprocess.run(command, capture_output=True, text=True, check=False)
    assert resumed.returncode == 0, (seed, resumed.stderr[-2000:])
    assert_same_arrays(CoresetTree.load(out), reference)
    # resumed, not started again: the first leaf's step file was written once
    assert (checkpoint / "leaf-00000000.npz").stat().st_mtime_ns == first_step
    assert not list(checkpoint.glob(".*"))  # the killed writers' temporary files are gone
    # in this process too, from the finished checkpoint: nothing left to build
    again = CoresetTree(**PARAMS).build_from_file(data_file, checkpoint=checkpoint)
    assert_same_arrays(again, reference)


def test_resume_in_process_after_an_error_at_a_leaf(data_file, reference, tmp_path, monkeypatch):
    from coreset_engine import _checkpoint

    commit = _checkpoint.BuildCheckpoint.commit
    calls = []

    def full_disk_at_leaf_30(self, state, stack):
        calls.append(state.n_leaves)
        if state.n_leaves == 30:
            raise OSError(errno.ENOSPC, "No space left on device")
        return commit(self, state, stack)

    monkeypatch.setattr(_checkpoint.BuildCheckpoint, "commit", full_disk_at_leaf_30)
    tree = CoresetTree(**PARAMS)
    with pytest.raises(OSError, match="No space left"):
        tree.build_from_file(data_file, checkpoint=tmp_path / "c")
    assert getattr(tree, "_state", None) is None  # nothing half-built is kept
    monkeypatch.setattr(_checkpoint.BuildCheckpoint, "commit", commit)
    assert _leaves_done(tmp_path / "c") == 29
    tree.build_from_file(data_file, checkpoint=tmp_path / "c")
    assert_same_arrays(tree, reference)


def test_a_full_disk_while_writing_the_checkpoint_is_a_clear_error(
    data_file, tmp_path, monkeypatch
):
    from coreset_engine import _checkpoint

    write_step = _checkpoint._write_step
    steps = []

    def fills_the_disk(handle, nodes):
        steps.append(len(nodes))
        write_step(handle, nodes)
        if len(steps) == 5:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_checkpoint, "_write_step", fills_the_disk)
    with pytest.raises(OSError, match="could not be written: the disk is full"):
        CoresetTree(**PARAMS).build_from_file(data_file, checkpoint=tmp_path / "c")
    assert _leaves_done(tmp_path / "c") == 4
    names = sorted(os.listdir(tmp_path / "c"))  # the partial file was removed
    assert names == ["leaf-00000000.npz", "leaf-00000001.npz", "leaf-00000002.npz",
                     "leaf-00000003.npz", "lock", "manifest.json"]  # fmt: skip


def test_a_checkpoint_of_another_build_is_an_error(data_file, tmp_path):
    checkpoint = tmp_path / "c"
    small = dict(PARAMS, chunk_size=8000)
    CoresetTree(**small).build_from_file(data_file, checkpoint=checkpoint)
    manifest = (checkpoint / "manifest.json").read_bytes()
    with pytest.raises(ValueError, match="belongs to another build: chunk_size is 8000 there, "
                                         "400 here"):  # fmt: skip
        CoresetTree(**PARAMS).build_from_file(data_file, checkpoint=checkpoint)
    with pytest.raises(ValueError, match="random_state is 3 there, 4 here"):
        CoresetTree(**dict(small, random_state=4)).build_from_file(data_file, checkpoint=checkpoint)
    other = tmp_path / "other.h5"
    other.write_bytes(data_file.read_bytes())
    with pytest.raises(ValueError, match="belongs to another build: it reads"):
        CoresetTree(**small).build_from_file(other, checkpoint=checkpoint)
    assert (checkpoint / "manifest.json").read_bytes() == manifest  # refused: untouched
    # the same file, changed since
    with h5py.File(other, "r+") as handle:
        handle["y"][0] = 1 - handle["y"][0] if handle["y"][0] < 2 else 0
    CoresetTree(**small).build_from_file(other, checkpoint=tmp_path / "c2")
    with h5py.File(other, "r+") as handle:
        handle["y"][1] = 2 - handle["y"][1]
    with pytest.raises(ValueError, match="the data file changed since it was written"):
        CoresetTree(**small).build_from_file(other, checkpoint=tmp_path / "c2")
    # asked for: started afresh
    tree = CoresetTree(**PARAMS).build_from_file(data_file, checkpoint=checkpoint,
                                                 overwrite_checkpoint=True)  # fmt: skip
    assert tree._state.n_leaves == 60 and len(os.listdir(checkpoint)) == 62  # + manifest, lock
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file; a checkpoint is a folder"):
        CoresetTree(**PARAMS).build_from_file(data_file, checkpoint=tmp_path / "file")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="holds files that are not a build's checkpoint"):
        CoresetTree(**PARAMS).build_from_file(data_file, checkpoint=tmp_path / "mine")
    with pytest.raises(ValueError, match="is the data file itself"):
        CoresetTree(**PARAMS).build_from_file(data_file, checkpoint=data_file)


# ---------------------------------------------------------------------------------- save
_KILLED_SAVE = """
import os, signal, sys
from coreset_engine import CoresetTree, _paths, _persist
tree = CoresetTree.load(sys.argv[1])
tree.remove_samples([0, 1, 2])  # a different tree: version 3, edits group
where = sys.argv[3]
if where == "mid-write":  # after some of the arrays are written, before the file is closed
    concat = _persist._concat
    calls = []
    def killing_concat(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return concat(*args, **kwargs)
    _persist._concat = killing_concat
else:  # written and closed, not yet renamed over the old file
    def killing_replace(temporary, path):
        os.kill(os.getpid(), signal.SIGKILL)
    _paths.replace_durably = killing_replace
tree.save(sys.argv[2])
"""


@pytest.mark.parametrize("where", ["mid-write", "before-rename"])
def test_a_save_killed_mid_write_leaves_the_previous_file_intact(reference, tmp_path, where):
    path = tmp_path / "tree.h5"
    reference.save(path)
    original = path.read_bytes()
    run = subprocess.run([sys.executable, "-c", _KILLED_SAVE, str(path), str(path), where],
                         capture_output=True, check=False)  # fmt: skip
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    assert path.read_bytes() == original
    assert_same_arrays(CoresetTree.load(path), reference)
    # only the killed writer's temporary file is left beside it, never in its place
    assert [p.name for p in tmp_path.iterdir() if p.name != "tree.h5"] == [
        p.name for p in tmp_path.glob(".tree-*.h5.part")
    ]


def test_a_full_disk_during_save_is_a_clear_error_and_keeps_the_old_file(
    reference, tmp_path, monkeypatch
):
    from coreset_engine import _persist

    path = tmp_path / "tree.h5"
    reference.save(path)
    original = path.read_bytes()
    concat = _persist._concat
    calls = []

    def full_disk(*args, **kwargs):  # as h5py reports it, after some data went out
        calls.append(1)
        if len(calls) == 3:
            raise OSError(
                "[Errno 28] Unable to synchronously write data (file write failed: time = Sat "
                "Nov 28, errno = 28, error message = 'No space left on device')"
            )
        return concat(*args, **kwargs)

    monkeypatch.setattr(_persist, "_concat", full_disk)
    with pytest.raises(OSError) as raised:
        reference.save(path)
    assert raised.value.errno == errno.ENOSPC
    assert str(raised.value).startswith(
        f"[Errno 28] The tree file '{path}' could not be written: the disk is full"
    )
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["tree.h5"]  # the partial file removed


def test_cli_build_resumes_from_its_checkpoint_and_removes_it(
    data_file, reference, tmp_path, monkeypatch
):
    from click.testing import CliRunner

    from coreset_cli import main
    from coreset_engine import _checkpoint

    command = ["build", str(data_file), "--size", "100", "--chunk-size", "400", "--seed", "3",
               "--out", str(tmp_path / "t.h5"), "--quiet",
               "--checkpoint", str(tmp_path / "ckpt")]  # fmt: skip
    commit = _checkpoint.BuildCheckpoint.commit

    def stops_at_leaf_7(self, state, stack):
        if state.n_leaves == 7:
            raise OSError(errno.EIO, "Input/output error")
        return commit(self, state, stack)

    monkeypatch.setattr(_checkpoint.BuildCheckpoint, "commit", stops_at_leaf_7)
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 1 and result.output.startswith("Error: ")
    assert not (tmp_path / "t.h5").exists() and _leaves_done(tmp_path / "ckpt") == 6
    monkeypatch.setattr(_checkpoint.BuildCheckpoint, "commit", commit)
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output
    assert_same_arrays(CoresetTree.load(tmp_path / "t.h5"), reference)
    assert [p.name for p in tmp_path.iterdir()] == ["t.h5"]  # the checkpoint was removed
    result = CliRunner().invoke(main, [*command[:-2], "--checkpoint", str(data_file)])
    assert result.exit_code == 2 and "is a file" in result.output  # click: a folder is asked


def test_two_builds_cannot_share_a_checkpoint_folder(data_file, reference, tmp_path):
    """A build holds its checkpoint folder's lock from start to end: a second build on the same
    folder (here in this process, as another process would) is a clear error and writes
    nothing there; once the first ends, the folder resumes as usual."""
    from coreset_engine import _checkpoint
    from coreset_engine.readers import make_source

    folder = tmp_path / "c"
    holder = CoresetTree(**PARAMS)
    holder._resolve_backend()  # as build_from_file does before opening its checkpoint
    first = _checkpoint.BuildCheckpoint.open(folder, holder,
                                             make_source(data_file, None, None, "y"))  # fmt: skip
    before = sorted(os.listdir(folder))
    second = CoresetTree(**PARAMS)
    with pytest.raises(ValueError, match=r"is in use by another build"):
        second.build_from_file(data_file, checkpoint=folder)
    assert sorted(os.listdir(folder)) == before
    with pytest.raises(ValueError, match=r"is in use by another build"):
        _checkpoint.discard(folder)
    first.close()
    second.build_from_file(data_file, checkpoint=folder)
    assert_same_arrays(second, reference)
    _checkpoint.discard(folder)
    assert not folder.exists()
