"""Output paths that never destroy a user's data.

Every command and method that writes a file checks its target here before any work starts:
the target must not be (or be a hard link of) one of the inputs, an existing file is replaced
only when asked, and its folder must exist. Files are written under a temporary name and
renamed, and get the permissions the user's umask gives a new file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


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


def replace_durably(temporary: str, path: str) -> None:
    """Rename a fully written ``temporary`` over ``path``, its data on disk first: a process
    killed at any moment leaves either the old file or the new one, never a mix."""
    fd = os.open(temporary, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    try:
        folder = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:  # a folder that cannot be opened for reading: the rename is done anyway
        return
    try:
        os.fsync(folder)
    except OSError:
        pass
    finally:
        os.close(folder)


@contextmanager
def written_atomically(path: str, *, prefix: str, suffix: str, what: str) -> Iterator[str]:
    """A temporary file beside ``path`` for the caller to write; on success it replaces
    ``path`` durably (:func:`replace_durably`), on any error it is removed and ``path`` is
    untouched (a full disk raised as :func:`disk_full_error`'s clear error naming ``what``)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield temporary
        replace_durably(temporary, path)
    except BaseException as error:
        if os.path.exists(temporary):
            os.remove(temporary)
        full = disk_full_error(error, path, what)
        if full is not None:
            raise full from None
        raise


def disk_full_error(error: BaseException, path, what: str = "The file") -> OSError | None:
    """A clear OSError for a write that failed because the disk (or quota) is full, else
    None. HDF5 reports it as an OSError with errno 28 and a long technical message."""
    import errno

    code = getattr(error, "errno", None)
    if code not in (errno.ENOSPC, errno.EDQUOT) and "No space left" not in str(error):
        return None
    return OSError(
        errno.ENOSPC,
        f"{what} {os.fspath(path)!r} could not be written: the disk is full (no space left on "
        "device). The previous file, if any, is unchanged and the partial file was removed; "
        "free some space and try again",
    )
