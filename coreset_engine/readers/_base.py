"""What every reader offers, the registry that picks one by format or suffix, and the small
picklable description of a data file (:class:`FileSource`) a worker process opens again."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

_READERS: dict[str, type] = {}
_SUFFIXES: dict[str, str] = {}


def register_reader(name: str, suffixes: tuple[str, ...] = ()) -> Callable[[type], type]:
    """Class decorator: make a :class:`Reader` subclass the reader of format ``name``, chosen
    for paths ending in one of ``suffixes`` (lower case, e.g. ``".csv.gz"``)."""

    def register(reader: type) -> type:
        reader.format = name
        _READERS[name] = reader
        for suffix in suffixes:
            _SUFFIXES[suffix] = name
        return reader

    return register


def available_formats() -> list[str]:
    return sorted(_READERS)


def format_for_path(path: str) -> str | None:
    """The format registered for the longest matching suffix of ``path``, else None."""
    lower = os.fspath(path).lower().rstrip("/")
    matches = [suffix for suffix in _SUFFIXES if lower.endswith(suffix)]
    return _SUFFIXES[max(matches, key=len)] if matches else None


@dataclass(frozen=True)
class FileSource:
    """A data file and the columns of it that a tree reads: small and picklable, so a worker
    can open the file again and read its own row range (:meth:`read_rows`).

    ``x``: for array formats (HDF5, Zarr) the name of the 2-D feature array; for table formats
    (Parquet, CSV, Arrow) a tuple of column names, or None for every column but ``y``.
    ``options``: reader options as sorted (name, value) pairs (e.g. CSV's delimiter)."""

    path: str
    format: str
    x: str | tuple[str, ...] | None
    y: str
    options: tuple = field(default=())

    def open(self) -> Reader:
        reader = _READERS.get(self.format)
        if reader is None:
            raise ValueError(
                f"The 'format' parameter must be one of {available_formats()}. "
                f"Got {self.format!r} instead."
            )
        return reader(self)

    def read_rows(self, start: int, stop: int):
        """Rows ``start..stop`` as (raw features, raw labels): a pyarrow Table of the feature
        columns for table formats, a 2-D NumPy array for array formats. Encode them with the
        tree's encoders (``_tree.TreeState.encode_rows``)."""
        with self.open() as reader:
            return reader.read_rows(start, stop)

    def to_json(self) -> dict:
        return {"path": self.path, "format": self.format,
                "x": list(self.x) if isinstance(self.x, tuple) else self.x,
                "y": self.y, "options": [list(item) for item in self.options]}  # fmt: skip

    @classmethod
    def from_json(cls, item: dict) -> FileSource:
        x = item.get("x")
        return cls(item["path"], item.get("format", "hdf5"),
                   tuple(x) if isinstance(x, list) else x, item["y"],
                   tuple(tuple(pair) for pair in item.get("options", ())))  # fmt: skip


def make_source(path, format: str | None, x, y: str, options: dict | None = None) -> FileSource:
    """A :class:`FileSource` for ``path``: the format from ``format`` or the path's suffix
    (HDF5 when neither says)."""
    path = os.path.abspath(os.fspath(path))
    if not os.path.exists(path):
        raise FileNotFoundError(f"The data file {path!r} does not exist.")
    if format is None:
        format = format_for_path(path) or _sniff_format(path)
    elif format not in _READERS:
        raise ValueError(
            f"The 'format' parameter of build_from_file must be one of {available_formats()}. "
            f"Got {format!r} instead."
        )
    reader = _READERS[format]
    if reader.kind == "array":
        if x is None:
            x = "X"
        elif not isinstance(x, str):
            raise ValueError(
                f"The 'x' parameter of build_from_file names the 2-D feature array of a "
                f"{format} file (a string). Got {x!r} instead."
            )
    elif x is not None:
        x = (x,) if isinstance(x, str) else tuple(x)
    return FileSource(path, format, x, y, tuple(sorted((options or {}).items())))


#: File signatures, for paths whose suffix names no format.
_MAGIC = ((b"\x89HDF\r\n\x1a\n", "hdf5"), (b"PAR1", "parquet"), (b"ARROW1", "arrow"))


def _sniff_format(path: str) -> str:
    """The format a file's first bytes show (HDF5 when they show none: its reader then says
    the file is not readable HDF5)."""
    if os.path.isdir(path):
        return "zarr"
    with open(path, "rb") as handle:
        head = handle.read(8)
    return next((name for magic, name in _MAGIC if head.startswith(magic)), "hdf5")


class Reader(ABC):
    """An open data file. Subclasses are registered with :func:`register_reader`.

    ``kind`` is "array" (a 2-D feature array and a 1-D label array: HDF5, Zarr) or "table"
    (named columns: Parquet, CSV, Arrow). ``random_access`` says whether :meth:`read_rows`
    works (every format but CSV)."""

    format: str = ""
    kind: str = "table"
    random_access: bool = True

    def __init__(self, source: FileSource):
        self.source = source

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release the file (default: nothing to release)."""

    @property
    def where(self) -> str:
        return repr(self.source.path)

    @property
    @abstractmethod
    def n_rows(self) -> int | None:
        """Rows in the file, or None when only a full read can tell (CSV)."""

    @abstractmethod
    def iter_labels(self, columns: tuple[str, ...] = ()) -> Iterator[tuple[int, object, dict]]:
        """The first pass: (first row, raw labels, {column: raw values}) for the label and the
        given feature ``columns`` only, in row order, in chunks of any size."""

    @abstractmethod
    def iter_chunks(self, chunk_size: int, encoder) -> Iterator[tuple[int, np.ndarray, object]]:
        """(first row, X chunk, raw labels) with exactly ``chunk_size`` rows per chunk (the last
        may be shorter), X encoded by ``encoder`` in its dtype. Reading (and encoding) runs in a
        background thread, ahead of the caller; memory stays at a few chunks. An X chunk may be
        a view of a reused buffer: valid until the next chunk is taken."""

    def read_rows(self, start: int, stop: int):
        """Rows ``start..stop`` as (raw features, raw labels)."""
        raise NotImplementedError(
            f"{self.format} files cannot be read from the middle: read them in order."
        )
