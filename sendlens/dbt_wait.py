"""A dbt-duckdb plugin (profiles.yml) that holds dbt's first connection until the build's
warehouse file is in place.

An incremental build (and compute-stats) starts from a copy of the published warehouse.
sendlens copies it in a thread while dbt starts up and parses its project (both take
seconds); dbt-duckdb initializes its plugins just before it opens the database, so this
plugin's wait is all that orders the two. Without ``SENDLENS_WAIT_FOR_COPY`` it does nothing.

The copier renames the finished copy to the build's path (so the path exists only once it is
complete) or, when the copy fails, writes the error next to it (``failed_marker``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

WAIT_ENV = "SENDLENS_WAIT_FOR_COPY"
WAIT_SECONDS = 6 * 3600  # a very large warehouse on a slow disk; a stuck copier fails here


class CopyFailed(RuntimeError):
    """The warehouse copy the build waits for failed (or never came)."""


def failed_marker(target: Path) -> Path:
    return target.with_name(target.name + ".copy-failed")


def wait_for_copy(target: Path, timeout: float = WAIT_SECONDS, poll: float = 0.05) -> None:
    """Return once ``target`` exists; raise CopyFailed with the copier's error if it failed."""
    deadline = time.monotonic() + timeout
    failed = failed_marker(target)
    while not target.exists():
        if failed.exists():
            raise CopyFailed(f"copying the published warehouse to {target} failed: "
                             f"{failed.read_text().strip()}")
        if time.monotonic() > deadline:
            raise CopyFailed(f"no copy of the published warehouse at {target} after {timeout:.0f} s")
        time.sleep(poll)


try:  # the plugin class exists only where dbt-duckdb is installed (in dbt's own process)
    from dbt.adapters.duckdb.plugins import BasePlugin
except ImportError:  # pragma: no cover - sendlens always installs dbt-duckdb
    BasePlugin = object  # type: ignore[assignment,misc]


class Plugin(BasePlugin):  # type: ignore[valid-type,misc]
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        target = os.environ.get(WAIT_ENV)
        if target:
            wait_for_copy(Path(target))
