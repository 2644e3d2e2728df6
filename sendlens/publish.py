"""Atomic publishing of the analysts' warehouse: build elsewhere, check, then swap.

Analysts open ``<home>/warehouse/sendlens.duckdb`` read-only. A build writes a new file in
``<home>/work/`` and, only when every check passed, renames it over the published one: the
rename is atomic on one filesystem, so a reader sees either the old or the new warehouse,
never a mix, and a reader holding the old file open keeps reading the old file.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import duckdb

from sendlens.config import Settings
from sendlens.dbt_wait import WAIT_ENV, failed_marker


BUILD_FOLDER = "build-next"


def new_build_path(settings: Settings) -> Path:
    """A fresh build file's path, in an empty folder (the file itself is dbt's to create, or a
    WarehouseCopy's). It is named like the published file so that the DuckDB catalog name dbt
    qualifies relations with stays `sendlens` after the swap. The path is the same for every
    build of a home (callers hold the home lock): dbt's partial parsing holds only while the
    profile, which names the path, stays the same."""
    folder = settings.staging_dir / BUILD_FOLDER
    shutil.rmtree(folder, ignore_errors=True)  # left by a killed run
    folder.mkdir(parents=True)
    return folder / settings.warehouse.name


class WarehouseCopy:
    """Copies the published warehouse to a build's path in a thread, while dbt starts up and
    parses (dbt waits for it in the sendlens.dbt_plugin plugin, given ``env``). The copy lands
    under a temporary name and is renamed when complete; a failure is written next to it."""

    def __init__(self, source: Path, target: Path) -> None:
        self.source, self.target = source, target
        self.error: BaseException | None = None
        self.env = {WAIT_ENV: str(target)}
        self._thread = threading.Thread(target=self._copy, name="warehouse-copy", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        partial = self.target.with_name(self.target.name + ".partial")
        try:
            shutil.copyfile(self.source, partial)
            os.replace(partial, self.target)
        except BaseException as exc:  # noqa: BLE001 - reported by join() and to dbt's wait
            self.error = exc
            # written whole, then renamed: dbt's wait must never read a half-written reason
            marker = failed_marker(self.target)
            written = marker.with_name(marker.name + ".tmp")
            written.write_text(f"{type(exc).__name__}: {exc}")
            os.replace(written, marker)

    def wait(self) -> None:
        """Wait for the copy to end, whatever its outcome."""
        self._thread.join()

    def join(self) -> None:
        """Wait for the copy; raise its error if it failed."""
        self.wait()
        if self.error is not None:
            raise OSError(f"copying {self.source} to {self.target} failed: {self.error}") from self.error


def _fsync(path: Path) -> None:
    """Write a file's (or a folder's entries') dirty pages to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def flush_early(build_path: Path) -> threading.Thread:
    """Start writing the build file's dirty pages to disk while the suites read it, so that
    publish's own fsync has little left to do (a fresh copy of a large warehouse is gigabytes
    of page cache)."""
    def flush() -> None:
        try:
            _fsync(build_path)
        except OSError:  # publish fsyncs again, and reports
            pass

    thread = threading.Thread(target=flush, name="flush-build", daemon=True)
    thread.start()
    return thread


def publish(settings: Settings, build_path: Path) -> Path:
    con = duckdb.connect(str(build_path))
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    wal = Path(str(build_path) + ".wal")
    if wal.exists():
        wal.unlink()
    _fsync(build_path)
    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    os.replace(build_path, settings.warehouse)
    shutil.rmtree(build_path.parent, ignore_errors=True)
    _fsync(settings.warehouse_dir)
    return settings.warehouse


def discard(build_path: Path) -> None:
    shutil.rmtree(build_path.parent, ignore_errors=True)


def sweep_stale_builds(settings: Settings) -> None:
    """Remove build files left by a killed run (only called while holding the home lock)."""
    if settings.staging_dir.exists():
        for p in settings.staging_dir.glob("build-*"):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
