from __future__ import annotations

import sys

import pytest

# pyspark (the optional spark extra, imported by great-expectations when present) takes a
# process whose __main__ has neither __spec__ nor __file__ -- a pytest-xdist worker -- for its
# doctest runner and calls sys.exit(0) on import. Give the worker's __main__ a file name.
_main = sys.modules.get("__main__")
if _main is not None and getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__"):
    _main.__file__ = "<pytest-xdist worker>"

from tests.scenario import Scenario


@pytest.fixture
def scenario(tmp_path) -> Scenario:
    return Scenario(tmp_path / "home")
