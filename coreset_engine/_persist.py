"""Saving and loading trees as HDF5 files.

Layout: root attributes hold the format tag, version and constructor parameters; node rows are
stored concatenated (``rows/*``) with per-node offsets and metadata (``nodes/*``). Files are
written to a temporary name in the same folder and renamed, so a failed save never leaves a
half-written tree and never destroys a previous file of the same name.

Version 3 is version 2 plus the tree's edits (``edits``: removed rows, label and feature
overrides, ``_edits``); a tree without edits is still written as version 2. The rows already
shown for review may be in an ``edits`` group of a version-2 file (older readers ignore it).

Version 2 adds the feature encoder (``encoder``: columns and kept categories), the label values
(``classes``) and data files of any format in ``segments``; version-1 files (plain matrices,
integer labels 0..n_classes-1, HDF5 sources) still load.
"""

from __future__ import annotations

import json
import os

import h5py
import numpy as np

from ._encoding import encoder_from_json
from ._hdf5 import open_readable
from ._paths import check_output_path, user_file_mode, written_atomically
from ._sources import segments_from_json, segments_to_json
from ._targets import label_mapping_from_json
from .methods import NodeStats

FORMAT_TAG = "coreset_engine.CoresetTree"
FORMAT_VERSION = 2
EDITED_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)


def save_tree(tree, state, path, *, inputs=()) -> None:
    """Write ``state`` to ``path`` atomically; ``inputs`` are files ``path`` must not be."""
    from ._tree import Node  # noqa: F401  (documentation: the type we store)

    path = check_output_path(path, inputs=inputs, what="The tree file")
    nodes = state.nodes
    sizes = np.array([node.indices.size for node in nodes], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    with written_atomically(path, prefix=".tree-", suffix=".h5.part",
                            what="The tree file") as temporary:  # fmt: skip
        os.chmod(temporary, user_file_mode())  # mkstemp makes 0600; a saved tree is a user file
        with h5py.File(temporary, "w") as handle:
            handle.attrs["format"] = FORMAT_TAG
            handle.attrs["version"] = FORMAT_VERSION
            handle.attrs["params"] = json.dumps(tree_params(tree))
            for key in ("seed", "n_features", "n_classes", "root", "n_rows", "n_leaves"):
                handle.attrs[key] = int(getattr(state, key))
            handle.attrs["dtype"] = state.dtype.str
            handle.attrs["segments"] = json.dumps(segments_to_json(state.segments))
            handle.attrs["encoder"] = json.dumps(state.encoder.to_json())
            handle.attrs["classes"] = json.dumps(state.classes.to_json())
            rows = handle.create_group("rows")
            rows["indices"] = _concat([n.indices for n in nodes], np.int64)
            rows["X"] = _concat([n.X for n in nodes], state.dtype, (0, state.n_features))
            # label codes (classification) or float64 targets (regression)
            rows["y"] = _concat([n.y for n in nodes], np.int64 if state.n_classes else np.float64)
            rows["weights"] = _concat([n.weights for n in nodes], np.float64)
            meta = handle.create_group("nodes")
            meta["offsets"] = offsets
            meta["first_leaf"] = np.array([n.first_leaf for n in nodes], dtype=np.int64)
            meta["last_leaf"] = np.array([n.last_leaf for n in nodes], dtype=np.int64)
            meta["height"] = np.array([n.height for n in nodes], dtype=np.int64)
            meta["children"] = np.array(
                [n.children if n.children else (-1, -1) for n in nodes], dtype=np.int64
            ).reshape(-1, 2)
            meta["spine"] = np.array([n.spine for n in nodes], dtype=np.bool_)
            meta["n_rows"] = np.array([n.stats.n_rows for n in nodes], dtype=np.int64)
            meta["gram"] = np.stack([n.stats.gram for n in nodes])
            meta["class_counts"] = np.stack([n.stats.class_counts for n in nodes])
            meta["stack"] = np.array(state.stack, dtype=np.int64)
            _write_edits(handle, state)


def _write_edits(handle, state) -> None:
    edits = getattr(state, "edits", None)
    if edits is None:
        return
    from ._edits import overlay_to_hdf5

    overlay_to_hdf5(handle.create_group("edits"), edits, state.n_features, state.dtype)
    if edits.has_data_edits:  # older readers must refuse it rather than ignore the edits
        handle.attrs["version"] = EDITED_VERSION


def tree_params(tree) -> dict:
    """The tree's constructor parameters as saved (JSON-ready)."""
    return {
        "task": tree.task,
        "coreset_size": tree.coreset_size,
        "chunk_size": tree.chunk_size,
        "n_classes": tree.n_classes,
        "method": tree.method,
        "deduplicate": bool(tree.deduplicate),
        "sketch_size": tree.sketch_size,
        "calibrate": bool(tree.calibrate),
        "random_state": tree.random_state,
        "backend": tree.backend,
        "n_jobs": tree.n_jobs,
        "max_classes": tree.max_classes,
        "categorical_features": _json_columns(tree.categorical_features),
        "categorical_encoding": tree.categorical_encoding,
        "max_categories": tree.max_categories,
    }


def _json_columns(columns):
    return columns if columns is None or isinstance(columns, str) else list(columns)


def _concat(parts, dtype, empty_shape=(0,)):
    if not parts:
        return np.empty(empty_shape, dtype=dtype)
    return np.concatenate(parts).astype(dtype, copy=False)


def load_tree(cls, path):
    from ._tree import Node, TreeState

    path = os.fspath(path)
    handle = open_readable(path, "The tree file", "is not a saved CoresetTree: not readable HDF5")
    with handle:
        if handle.attrs.get("format") != FORMAT_TAG:
            raise ValueError(
                f"The file {path!r} is not a saved CoresetTree (no {FORMAT_TAG!r} format tag). "
                "Save trees with CoresetTree.save."
            )
        version = int(handle.attrs.get("version", -1))
        if version not in READABLE_VERSIONS:
            raise ValueError(
                f"The tree file {path!r} has format version {version}; this coreset_engine "
                f"reads versions {list(READABLE_VERSIONS)}."
            )
        try:
            params = json.loads(handle.attrs["params"])
            # trees saved before calibration existed: their nodes were not calibrated, and
            # nodes appended by partial_build must be made as theirs were
            params.setdefault("calibrate", False)
            tree = cls(**params)
            state = TreeState(
                seed=int(handle.attrs["seed"]),
                n_features=int(handle.attrs["n_features"]),
                dtype=np.dtype(handle.attrs["dtype"]),
                n_classes=int(handle.attrs["n_classes"]),
                root=int(handle.attrs["root"]),
                n_rows=int(handle.attrs["n_rows"]),
                n_leaves=int(handle.attrs["n_leaves"]),
                segments=segments_from_json(json.loads(handle.attrs.get("segments", "[]"))),
                encoder=_optional_json(handle, "encoder", encoder_from_json),
                classes=_optional_json(handle, "classes", label_mapping_from_json),
            )
            # (files of earlier versions also hold a "pilot" group: each node now fits its own)
            rows = {key: handle["rows"][key][()] for key in ("indices", "X", "y", "weights")}
            meta = {key: handle["nodes"][key][()] for key in handle["nodes"]}
            if "edits" in handle:
                from ._edits import overlay_from_hdf5

                state.edits = overlay_from_hdf5(handle["edits"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"The tree file {path!r} is damaged: {error!r}.") from None
    offsets = meta["offsets"]
    for i in range(offsets.size - 1):
        part = slice(offsets[i], offsets[i + 1])
        children = tuple(int(c) for c in meta["children"][i])
        state.nodes.append(
            Node(
                indices=rows["indices"][part],
                X=rows["X"][part],
                y=rows["y"][part],
                weights=rows["weights"][part],
                stats=NodeStats(
                    int(meta["n_rows"][i]), meta["gram"][i], meta["class_counts"][i]
                ),
                first_leaf=int(meta["first_leaf"][i]),
                last_leaf=int(meta["last_leaf"][i]),
                height=int(meta["height"][i]),
                children=None if children[0] < 0 else children,
                spine=bool(meta["spine"][i]),
            )
        )
    state.stack = [int(i) for i in meta["stack"]]
    if not (0 <= state.root < len(state.nodes)) or offsets[-1] != rows["indices"].size:
        raise ValueError(f"The tree file {path!r} is damaged: node table and rows disagree.")
    tree._validate_params()
    tree._state = state
    return tree


def _optional_json(handle, key: str, parse):
    """An attribute added in version 2 (None in version-1 files: the state's defaults)."""
    if key not in handle.attrs:
        return None
    return parse(json.loads(handle.attrs[key]))
