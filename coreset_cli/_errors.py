"""The library's errors, shown as click's one-line ``Error: ...`` instead of a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

#: What the libraries raise for bad input: parameters, files, data, missing packages.
LIBRARY_ERRORS = (ValueError, TypeError, KeyError, OSError, ImportError)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Run a command's body; a library error becomes ``Error: <message>`` and exit status 1."""
    try:
        yield
    except LIBRARY_ERRORS as error:
        raise click.ClickException(one_line(error)) from None


def one_line(error: BaseException) -> str:
    """The error's message on one line (a KeyError's quotes dropped), or its type's name."""
    message = " ".join(str(error).split()).strip("'\"")
    return message or type(error).__name__
