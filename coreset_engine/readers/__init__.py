"""Data file readers, one small module per format, chosen by suffix or ``format=``.

Built in: ``"hdf5"`` (.h5), ``"parquet"`` (.parquet), ``"csv"`` (.csv, .csv.gz, .tsv),
``"arrow"`` (Arrow IPC / Feather: .arrow, .feather) and ``"zarr"`` (.zarr, needs the ``zarr``
extra). Add a format by subclassing :class:`Reader` (or ``TableReader`` for named columns) and
decorating it with :func:`register_reader`.
"""

from . import _arrow, _csv, _hdf5, _parquet, _zarr  # noqa: F401  (each registers its format)
from ._base import (
    FileSource,
    Reader,
    available_formats,
    format_for_path,
    make_source,
    register_reader,
)
from ._table import TableReader

__all__ = [
    "FileSource",
    "Reader",
    "TableReader",
    "available_formats",
    "format_for_path",
    "make_source",
    "register_reader",
]
