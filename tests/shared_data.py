"""The shared real data sets (``../shared/data`` beside the repository) for the tests that
need them; absent on CI, where those tests skip."""

import pathlib

import pytest

SHARED = pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "data"

needs_data = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"shared data folder {SHARED} is absent"
)
