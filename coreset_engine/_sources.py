"""Where a tree's rows came from, so that they can be streamed again.

A tree remembers its rows as a list of *segments* in row order: a data file it was built from
(``build_from_file``: the file's format, path and columns, and a fingerprint of it), or arrays
passed to ``build`` / ``partial_build`` (kept by reference, never copied, and not saved with the
tree). :meth:`CoresetTree.iter_source_chunks` streams them back (full-data refits, label
review). A file that changed since the build is an error, never silently different rows.
"""

from __future__ import annotations

import hashlib
import os
import weakref
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .readers import FileSource

#: Bytes hashed at each end of a file for its fingerprint.
_FINGERPRINT_BYTES = 1 << 20


def file_fingerprint(path: str) -> str:
    """Size, modification time and a hash of the first and last MiB of a file."""
    stat = os.stat(path)
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        digest.update(handle.read(_FINGERPRINT_BYTES))
        if stat.st_size > _FINGERPRINT_BYTES:
            handle.seek(max(_FINGERPRINT_BYTES, stat.st_size - _FINGERPRINT_BYTES))
            digest.update(handle.read(_FINGERPRINT_BYTES))
    return f"{stat.st_size}:{stat.st_mtime_ns}:{digest.hexdigest()}"


def path_fingerprint(path: str) -> str:
    """:func:`file_fingerprint` of a file; for a folder (a Zarr store) the size and modification
    time of every file in it."""
    if not os.path.isdir(path):
        return file_fingerprint(path)
    digest = hashlib.blake2b(digest_size=16)
    for folder, _, names in sorted(os.walk(path)):
        for name in sorted(names):
            stat = os.stat(os.path.join(folder, name))
            relative = os.path.relpath(os.path.join(folder, name), path)
            digest.update(f"{relative}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return f"dir:{digest.hexdigest()}"


@dataclass
class FileSegment:
    """Rows ``offset .. offset + n_rows`` of the tree are the rows of a data file (any
    registered format: ``source`` says which file, format and columns)."""

    offset: int
    n_rows: int
    source: FileSource
    fingerprint: str

    @property
    def path(self) -> str:
        return self.source.path

    def check_unchanged(self) -> None:
        if not os.path.exists(self.path):
            raise FileNotFoundError(
                f"The tree's data file {self.path!r} (rows {self.offset}..."
                f"{self.offset + self.n_rows - 1}) no longer exists."
            )
        if path_fingerprint(self.path) != self.fingerprint:
            raise ValueError(
                f"The tree's data file {self.path!r} changed since the tree was built from it "
                "(size, modification time or contents differ). Rebuild the tree from it."
            )

    def iter_chunks(self, chunk_size: int, encoder, classes):
        from ._inputs import file_chunks

        self.check_unchanged()
        with self.source.open() as reader:
            name = f"{self.source.y!r} in {self.path!r}"
            yield from file_chunks(reader, encoder, classes, chunk_size, name, self.offset)


class ArraySegment:
    """Rows ``offset .. offset + n_rows`` are arrays given to ``build`` or ``partial_build``.

    The tree holds only a weak reference to the caller's feature array (and the integer labels
    it made), so it never keeps a large array alive: the rows can be streamed again while the
    caller still holds them."""

    def __init__(self, offset: int, n_rows: int, X, labels: np.ndarray | None):
        self.offset = offset
        self.n_rows = n_rows
        try:
            self._X = weakref.ref(X)
            self.labels = labels
        except TypeError:  # lists and other objects without weak references: not kept
            self._X = None
            self.labels = None

    def check_available(self) -> None:
        if self._X is None or self._X() is None:
            raise RuntimeError(
                f"Rows {self.offset}..{self.offset + self.n_rows - 1} of the tree were passed "
                "as in-memory arrays that no longer exist (the tree keeps no copy of them; "
                "arrays are not saved with a tree), so they cannot be streamed again. Build "
                "from a file, or keep the arrays."
            )

    def iter_chunks(self, chunk_size: int, encoder, classes=None):
        from ._tables import slice_rows

        self.check_available()
        X = self._X()
        for start in range(0, self.n_rows, chunk_size):
            stop = min(self.n_rows, start + chunk_size)
            part = slice_rows(X, start, stop)
            yield self.offset + start, encoder.transform(part), self.labels[start:stop]


def iter_segments(
    segments, chunk_size: int, encoder, classes
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(first row, X chunk, label codes) over all segments, in row order, encoded by the
    tree's ``encoder`` and label ``classes``; every segment is checked (files against their
    fingerprint, arrays still alive) before any row is read."""
    if not segments:
        raise RuntimeError("The tree does not know where its rows came from.")
    for segment in segments:
        if isinstance(segment, FileSegment):
            segment.check_unchanged()
        else:
            segment.check_available()
    for segment in segments:
        yield from segment.iter_chunks(chunk_size, encoder, classes)


def segments_to_json(segments) -> list[dict]:
    """What ``save`` keeps of the segments: files in full, arrays by their row range only."""
    out = []
    for segment in segments:
        if isinstance(segment, FileSegment):
            out.append({"kind": "file", "offset": segment.offset, "n_rows": segment.n_rows,
                        "fingerprint": segment.fingerprint,
                        "source": segment.source.to_json()})  # fmt: skip
        else:
            out.append({"kind": "arrays", "offset": segment.offset, "n_rows": segment.n_rows})
    return out


def segments_from_json(items: list[dict]) -> list:
    segments = []
    for item in items:
        item = dict(item)
        kind = item.pop("kind")
        if kind == "hdf5":  # written before other formats were read: path, x, y at the top
            source = FileSource(item["path"], "hdf5", item["x"], item["y"])
            segments.append(FileSegment(item["offset"], item["n_rows"], source,
                                        item["fingerprint"]))  # fmt: skip
        elif kind == "file":
            segments.append(FileSegment(item["offset"], item["n_rows"],
                                        FileSource.from_json(item["source"]),
                                        item["fingerprint"]))  # fmt: skip
        else:
            segments.append(ArraySegment(item["offset"], item["n_rows"], [], None))
    return segments
