"""Output paths that never destroy a user's data.

Every command and method that writes a file checks its target here before any work starts:
the target must not be (or be a hard link of) one of the inputs, an existing file is replaced
only when asked, and its folder must exist. Files are written under a temporary name and
renamed, and get the permissions the user's umask gives a new file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable


class OutputPathError(ValueError):
    """A file would be written where it must not be."""


def same_file(a, b) -> bool:
    """Whether two paths name the same file (also through hard or symbolic links)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def check_output_path(
    path, *, inputs: Iterable = (), overwrite: bool = True, what: str = "The output path"
) -> str:
    """Return ``path`` as a string after checking that writing it is safe.

    Raises :class:`OutputPathError` (a ValueError) if ``path`` is one of ``inputs`` (or a hard
    or symbolic link to one), if it exists and ``overwrite`` is False or if it is a folder;
    FileNotFoundError if its folder does not exist.
    """
    path = os.fspath(path)
    for source in inputs:
        if source is not None and same_file(path, source):
            raise OutputPathError(
                f"{what} {path!r} is the input file {os.fspath(source)!r} (or a link to it): "
                "writing it would destroy the input. Choose another path."
            )
    if os.path.isdir(path):
        raise OutputPathError(f"{what} {path!r} is a folder; give a file name.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"The folder {folder!r} of {what[0].lower() + what[1:]} {path!r} does not exist."
        )
    if not overwrite and os.path.lexists(path):
        raise OutputPathError(
            f"{what} {path!r} already exists. Pass --force (overwrite=True) to replace it."
        )
    return path


def user_file_mode() -> int:
    """The permissions a new file gets under the process's umask (0o666 & ~umask)."""
    try:  # Linux: read it without changing it (os.umask sets it, for all threads)
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask
