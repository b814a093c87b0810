"""Where the command line keeps files it derives (the demo's HDF5 file, compiled kernels)."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming the cache folder; it wins over ``XDG_CACHE_HOME``.
CACHE_ENV_VAR = "CORESET_ENGINE_CACHE"


def cache_home() -> Path:
    """The user's cache folder for coreset-engine (it may not exist yet).

    ``$CORESET_ENGINE_CACHE`` if set, else ``$XDG_CACHE_HOME/coreset-engine``, else
    ``~/.cache/coreset-engine``. Never inside the package or a source checkout.
    """
    named = os.environ.get(CACHE_ENV_VAR)
    if named:
        return Path(named).expanduser()
    base = os.environ.get("XDG_CACHE_HOME")
    if base and os.path.isabs(base):  # the XDG spec ignores relative paths
        return Path(base) / "coreset-engine"
    return Path.home() / ".cache" / "coreset-engine"
