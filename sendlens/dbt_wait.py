"""Waiting for the build's warehouse file: what the dbt-duckdb plugin (sendlens/dbt_plugin.py,
in profiles.yml) does before dbt's first connection.

An incremental build (and compute-stats) starts from a copy of the published warehouse.
sendlens copies it in a thread while dbt starts up and parses its project (both take
seconds); dbt-duckdb initializes its plugins just before it opens the database, so the
plugin's wait is all that orders the two. Without ``SENDLENS_WAIT_FOR_COPY`` it does nothing.
This module imports nothing of dbt: every sendlens command imports it (through publish).

The copier renames the finished copy to the build's path (so the path exists only once it is
complete) or, when the copy fails, writes the error next to it (``failed_marker``).
"""

from __future__ import annotations

import time
from pathlib import Path

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
