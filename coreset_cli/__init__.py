"""The ``coreset-engine`` command line: build, tune, demo, bench and make-data.

The command line sits above both libraries: it imports :mod:`coreset_engine` and
:mod:`tuners`, and neither of them imports it. ``python -m coreset_cli`` runs it too.
Importing it before Numba sets ``NUMBA_CACHE_DIR`` (unless set) to ``numba/`` in the user's
cache folder (:func:`cache_home`): compiled kernels then never land in site-packages or a
source checkout.
"""

import os
import sys

from ._cache import cache_home

if "numba" not in sys.modules and "NUMBA_CACHE_DIR" not in os.environ:
    # Numba writes compiled kernels next to their modules unless told otherwise; a command
    # must write nothing into site-packages or a source tree.
    try:
        os.environ["NUMBA_CACHE_DIR"] = str(cache_home() / "numba")
    except RuntimeError:  # no home folder: leave Numba's default
        pass

import click

from ._bench_commands import bench_command, make_data_command
from ._build import build_command
from ._demo import demo_command
from ._tune import tune_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="coreset-engine")
def main() -> None:
    """Coreset trees for fast model tuning on large tabular data."""


for _command in (build_command, tune_command, demo_command, bench_command, make_data_command):
    main.add_command(_command)

__all__ = ["cache_home", "main"]
