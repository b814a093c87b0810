"""Resumable builds: ``build_from_file(..., checkpoint=folder)``.

After every leaf the build appends that step's new nodes (the leaf and the merges it set off) to
the checkpoint folder as one file, ``leaf-<n>.npz``, then replaces a small ``manifest.json``
(leaves done, rows done, the binary-counter stack, node count, the build's parameters, the
data file's fingerprint, encoder and classes). Both are written under a temporary name, flushed
to disk and renamed, so a build killed at any moment leaves a checkpoint that names only
complete step files; a step file written after the last manifest is ignored and written again.
Each step writes only its own nodes: the whole checkpoint costs one copy of the tree's nodes,
not one per leaf.

Started again with the same arguments, the build reads the manifest and its step files back
and continues at the next leaf. Every node depends only on its rows and its place in the tree,
so the finished tree is the same, bit for bit, as an uninterrupted build's. A checkpoint of a
different build (other parameters, another or a changed file) is an error unless
``overwrite_checkpoint=True``, which starts it afresh.
"""

from __future__ import annotations

import json
import os
import re

import numpy as np

from ._build import Node
from ._encoding import encoder_from_json
from ._labels import LabelClasses
from ._paths import same_file, written_atomically
from ._persist import tree_params
from ._sources import FileSegment, path_fingerprint
from .methods import NodeStats

FORMAT_TAG = "coreset_engine.build_checkpoint"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_STEP = re.compile(r"^leaf-\d{8}\.npz$")
_TEMPORARY = re.compile(r"^\..*\.part$")
#: Held (flock, exclusive) by the build using the folder; the kernel drops it when that process
#: ends, killed or not, so a resumed build takes it again.
LOCK = "lock"


def _step_name(leaf: int) -> str:
    return f"leaf-{leaf:08d}.npz"


class BuildCheckpoint:
    """The checkpoint folder of one build (see the module's docstring)."""

    def __init__(self, folder: str, identity: dict, manifest: dict | None, lock=None):
        self.folder = folder
        self._lock = lock
        self.identity = identity
        self.manifest = manifest
        self.n_nodes = 0 if manifest is None else int(manifest["n_nodes"])

    # ------------------------------------------------------------------------- opening
    @classmethod
    def open(cls, path, tree, source, *, overwrite: bool = False) -> BuildCheckpoint:
        """Open (or create) the checkpoint folder ``path`` for building ``tree`` from
        ``source``; raises if it holds another build's checkpoint and ``overwrite`` is
        False."""
        folder = os.path.abspath(os.fspath(path))
        if same_file(folder, source.path):
            raise ValueError(
                f"The checkpoint {folder!r} is the data file itself. Choose another path."
            )
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise ValueError(
                f"The checkpoint {folder!r} is a file; a checkpoint is a folder. Choose "
                "another path."
            )
        if not os.path.isdir(os.path.dirname(folder)):
            raise FileNotFoundError(
                f"The folder {os.path.dirname(folder)!r} of the checkpoint {folder!r} does not "
                "exist."
            )
        os.makedirs(folder, exist_ok=True)
        foreign = [
            name
            for name in os.listdir(folder)
            if name not in (MANIFEST, LOCK) and not _STEP.match(name)
            and not _TEMPORARY.match(name)
        ]  # fmt: skip
        if foreign:
            raise ValueError(
                f"The checkpoint folder {folder!r} holds files that are not a build's "
                f"checkpoint (e.g. {min(foreign)!r}). Choose an empty or new folder."
            )
        lock = _take_lock(folder)
        try:
            return cls._open_locked(folder, tree, source, overwrite, lock)
        except BaseException:
            lock.close()
            raise

    @classmethod
    def _open_locked(cls, folder, tree, source, overwrite, lock) -> BuildCheckpoint:
        identity = build_identity(tree, source)
        manifest = _read_manifest(folder)
        if manifest is not None:
            differences = _differences(manifest["identity"], identity, tree.random_state)
            if differences and not overwrite:
                raise ValueError(
                    f"The checkpoint {folder!r} belongs to another build: {differences}. Pass "
                    "overwrite_checkpoint=True to start it afresh, or choose another folder."
                )
            if differences:
                _clear(folder)
                manifest = None
        for name in os.listdir(folder):  # left by a writer that was killed
            if _TEMPORARY.match(name):
                os.remove(os.path.join(folder, name))
        return cls(folder, identity, manifest, lock)

    def close(self) -> None:
        """Let other builds use the folder (the files stay)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    @property
    def can_resume(self) -> bool:
        return self.manifest is not None

    # -------------------------------------------------------------------------- resuming
    def resume(self, tree, reader):
        """(state with the committed nodes, chunks of the rows still to build, rows done)."""
        from ._tree import TreeState

        manifest = self.manifest
        encoder = encoder_from_json(manifest["encoder"])
        classes = LabelClasses.from_json(manifest["classes"])
        state = TreeState(int(manifest["seed"]), int(manifest["n_features"]),
                          np.dtype(manifest["dtype"]), int(manifest["n_classes"]))  # fmt: skip
        state.encoder, state.classes = encoder, classes
        total = int(manifest["n_rows_total"])
        state.segments = [FileSegment(0, total, reader.source, self.identity["fingerprint"])]
        for leaf in range(int(manifest["leaves_done"])):
            state.nodes.extend(_read_step(os.path.join(self.folder, _step_name(leaf))))
        if len(state.nodes) != self.n_nodes:
            raise ValueError(
                f"The checkpoint {self.folder!r} is damaged: its manifest names {self.n_nodes} "
                f"nodes, its step files hold {len(state.nodes)}. Pass overwrite_checkpoint=True "
                "to start afresh."
            )
        state.stack = [int(i) for i in manifest["stack"]]
        state.n_rows = int(manifest["rows_done"])
        state.n_leaves = int(manifest["leaves_done"])
        chunks = remaining_chunks(reader, encoder, classes, tree.chunk_size, state.n_rows, total)
        return state, chunks, total

    # --------------------------------------------------------------------------- writing
    def start(self, state, n_rows_total: int) -> None:
        """Record a new build (before its first leaf)."""
        self.n_nodes = 0
        self.manifest = {
            "format": FORMAT_TAG,
            "version": FORMAT_VERSION,
            "identity": self.identity,
            "seed": int(state.seed),
            "n_features": int(state.n_features),
            "dtype": state.dtype.str,
            "n_classes": int(state.n_classes),
            "encoder": state.encoder.to_json(),
            "classes": state.classes.to_json(),
            "n_rows_total": int(n_rows_total),
        }
        self._write_manifest(state, [])

    def commit(self, state, stack: list[int]) -> None:
        """Record the leaf just added: its step's new nodes, then the manifest."""
        new_nodes = state.nodes[self.n_nodes :]
        self._write(os.path.join(self.folder, _step_name(state.n_leaves - 1)),
                    lambda handle: _write_step(handle, new_nodes))  # fmt: skip
        self.n_nodes = len(state.nodes)
        self._write_manifest(state, stack)

    def _write_manifest(self, state, stack: list[int]) -> None:
        self.manifest.update(leaves_done=int(state.n_leaves), rows_done=int(state.n_rows),
                             n_nodes=self.n_nodes, stack=[int(i) for i in stack])  # fmt: skip
        text = json.dumps(self.manifest).encode()
        self._write(os.path.join(self.folder, MANIFEST), lambda handle: handle.write(text))

    def _write(self, path: str, write) -> None:
        with (
            written_atomically(path, prefix=".", suffix=".part",
                               what="The checkpoint file") as temporary,
            open(temporary, "wb") as handle,
        ):  # fmt: skip
            write(handle)


def build_identity(tree, source) -> dict:
    """What must match for a checkpoint to be resumed: the data file (path, columns,
    fingerprint) and every parameter the tree depends on."""
    params = tree_params(tree)
    del params["n_jobs"]  # threads never change the tree
    params["backend"] = tree.backend_  # "auto" as resolved on this machine
    return {
        "source": source.to_json(),
        "fingerprint": path_fingerprint(source.path),
        "params": params,
    }


def _differences(stored: dict, current: dict, random_state) -> str:
    """What differs, in words ('' if nothing)."""
    found = []
    if stored["source"] != current["source"]:
        found.append(f"it reads {stored['source']['path']!r} "
                     f"({stored['source']}), this build {current['source']}")  # fmt: skip
    elif stored["fingerprint"] != current["fingerprint"]:
        found.append("the data file changed since it was written (size, modification time or "
                     "contents)")  # fmt: skip
    for key, value in current["params"].items():
        if key == "random_state" and value is None:
            continue  # no seed asked for: continue with the checkpoint's
        if stored["params"].get(key) != value:
            found.append(f"{key} is {stored['params'].get(key)!r} there, {value!r} here")
    return "; ".join(found)


def _read_manifest(folder: str) -> dict | None:
    path = os.path.join(folder, MANIFEST)
    if not os.path.exists(path):
        return None
    try:
        with open(path, "rb") as handle:
            manifest = json.loads(handle.read())
        if manifest.get("format") != FORMAT_TAG or manifest.get("version") != FORMAT_VERSION:
            raise ValueError("not a checkpoint manifest of this version")
        manifest["identity"]["params"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"The checkpoint manifest {path!r} cannot be read ({error}). Pass "
            "overwrite_checkpoint=True to start afresh."
        ) from None
    return manifest


def discard(path) -> None:
    """Remove a finished build's checkpoint folder: its own files, then the folder if that
    left it empty (nothing else is ever removed). A folder another build holds is an error."""
    folder = os.fspath(path)
    if not os.path.isdir(folder):
        return
    with _take_lock(folder):
        _clear(folder)
        os.remove(os.path.join(folder, LOCK))
    if not os.listdir(folder):
        os.rmdir(folder)


def _take_lock(folder: str):
    """The open lock file of ``folder``, locked for this build; ValueError if another build
    (in this or another process) holds it."""
    handle = open(os.path.join(folder, LOCK), "a+b")  # noqa: SIM115 (held by the checkpoint)
    try:
        import fcntl
    except ImportError:  # not on POSIX: no lock
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise ValueError(
            f"The checkpoint folder {folder!r} is in use by another build (it holds the "
            f"folder's lock). Wait for that build to end, or choose another folder."
        ) from None
    return handle


def _clear(folder: str) -> None:
    """Remove a checkpoint's own files (never anything else)."""
    for name in os.listdir(folder):
        if name == MANIFEST or _STEP.match(name) or _TEMPORARY.match(name):
            os.remove(os.path.join(folder, name))


# ------------------------------------------------------------------------ the step files
_FIELDS = ("indices", "X", "y", "weights", "gram", "class_counts")


def _write_step(handle, nodes: list[Node]) -> None:
    arrays = {}
    for j, node in enumerate(nodes):
        stats = node.stats
        arrays.update({
            f"{j}.indices": node.indices, f"{j}.X": node.X, f"{j}.y": node.y,
            f"{j}.weights": node.weights, f"{j}.gram": stats.gram,
            f"{j}.class_counts": stats.class_counts,
            f"{j}.meta": np.array([stats.n_rows, node.first_leaf, node.last_leaf, node.height,
                                   *(node.children or (-1, -1)), int(node.spine)],
                                  dtype=np.int64),
        })  # fmt: skip
    np.savez(handle, count=np.array(len(nodes)), **arrays)


def _read_step(path: str) -> list[Node]:
    try:
        with np.load(path, allow_pickle=False) as data:
            nodes = []
            for j in range(int(data["count"])):
                parts = {name: data[f"{j}.{name}"] for name in _FIELDS}
                n_rows, first, last, height, left, right, spine = data[f"{j}.meta"].tolist()
                nodes.append(Node(
                    parts["indices"], parts["X"], parts["y"], parts["weights"],
                    NodeStats(int(n_rows), parts["gram"], parts["class_counts"]),
                    int(first), int(last), int(height),
                    None if left < 0 else (int(left), int(right)), bool(spine),
                ))  # fmt: skip
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(
            f"The checkpoint step file {path!r} cannot be read ({error}). Pass "
            "overwrite_checkpoint=True to start afresh."
        ) from None
    return nodes


def remaining_chunks(reader, encoder, classes, chunk_size: int, rows_done: int, total: int):
    """(first row, X, label codes) of the leaves after ``rows_done``: read from the middle of
    the file where its format allows, else streamed from its start (rows before skipped)."""
    from ._inputs import file_chunks

    if reader.random_access:
        for start in range(rows_done, total, chunk_size):
            stop = min(total, start + chunk_size)
            features, labels = reader.read_rows(start, stop)
            yield start, encoder.transform(features), classes.encode(labels, "y", start)
        return
    for start, X, labels in file_chunks(reader, encoder, classes, chunk_size, "y"):
        if start >= rows_done:
            yield start, X, labels
