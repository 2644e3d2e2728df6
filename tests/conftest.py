from __future__ import annotations

import shutil
import sys
from pathlib import Path

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


DEMO_MESSAGES, DEMO_SEED = 3000, 7


@pytest.fixture(scope="session")
def _demo_template(tmp_path_factory) -> Path:
    """One demo home (3,000 messages, seed 7: generated, ingested, built, checked, published,
    exported by the real pipeline) for the tests of what people open (report, workbook,
    data-quality page). Built once per test session, also across pytest-xdist workers (a
    shared folder and a lock), never changed afterwards: each test module gets a copy."""
    import fcntl

    from sendlens.commands.run import demo
    from sendlens.config import load_settings

    root = tmp_path_factory.getbasetemp().parent  # shared by the xdist workers of this session
    template = root / f"demo-home-{DEMO_MESSAGES}-{DEMO_SEED}"
    with open(root / f"{template.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (template / ".complete").exists():
            shutil.rmtree(template, ignore_errors=True)
            demo(load_settings(template, environ={}), messages=DEMO_MESSAGES, seed=DEMO_SEED)
            (template / ".complete").touch()
    return template


@pytest.fixture(scope="module")
def demo_home(_demo_template, tmp_path_factory) -> Path:
    """A copy of the demo home of its own for this test module (it may build or export again)."""
    home = tmp_path_factory.mktemp("demo") / "home"
    shutil.copytree(_demo_template, home, symlinks=True)
    (home / ".complete").unlink()
    return home
