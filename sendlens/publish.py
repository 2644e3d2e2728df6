"""Atomic publishing of the analysts' warehouse: build elsewhere, check, then swap.

Analysts open ``<home>/warehouse/sendlens.duckdb`` read-only. A build writes a new file in
``<home>/work/`` and, only when every check passed, renames it over the published one: the
rename is atomic on one filesystem, so a reader sees either the old or the new warehouse,
never a mix, and a reader holding the old file open keeps reading the old file. An
incremental build starts from a copy of the published file (``StagedBuild``).

A warehouse too large to copy on its disk can be built in place instead (``build_in_place``
in sendlens.toml, ``InPlaceBuild``): the incremental build writes into the published file
itself, which needs the file to itself and gives up the swap. A marker file beside the
warehouse says an in-place build is under way; it stays when the build fails or is killed,
and then the warehouse counts as incomplete: exports refuse it and the next build is a full
one, which replaces it and removes the marker.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from sendlens.config import Settings
from sendlens.core.files import fsync_path, write_whole
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
            partial.unlink(missing_ok=True)  # a full disk is the usual cause: room for the marker
            # written whole: dbt's wait must never read a half-written reason
            write_whole(failed_marker(self.target), f"{type(exc).__name__}: {exc}")

    def wait(self) -> None:
        """Wait for the copy to end, whatever its outcome."""
        self._thread.join()

    def join(self) -> None:
        """Wait for the copy; raise its error if it failed."""
        self.wait()
        if self.error is not None:
            raise OSError(f"copying {self.source} to {self.target} failed: {self.error}") from self.error


def flush_early(build_path: Path) -> threading.Thread:
    """Start writing the build file's dirty pages to disk while the suites read it, so that
    publish's own fsync has little left to do (a fresh copy of a large warehouse is gigabytes
    of page cache)."""
    def flush() -> None:
        try:
            fsync_path(build_path)
        except OSError:  # publish fsyncs again, and reports
            pass

    thread = threading.Thread(target=flush, name="flush-build", daemon=True)
    thread.start()
    return thread


def _checkpoint(path: Path) -> None:
    """Fold the write-ahead log into the file, then write the file to disk."""
    con = duckdb.connect(str(path))
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    wal = Path(str(path) + ".wal")
    if wal.exists():
        wal.unlink()
    fsync_path(path)


def publish(settings: Settings, build_path: Path) -> Path:
    _checkpoint(build_path)
    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    os.replace(build_path, settings.warehouse)
    shutil.rmtree(build_path.parent, ignore_errors=True)
    # a whole new warehouse: whatever an earlier in-place build left is gone with the old file
    in_place_marker(settings.warehouse).unlink(missing_ok=True)
    fsync_path(settings.warehouse_dir)
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


# ---- where a build writes ----------------------------------------------------------------
class NotEnoughRoom(OSError):
    """The disk cannot hold the copy an incremental build starts from."""


class WarehouseBusy(OSError):
    """Another process holds the warehouse open, and an in-place build needs it to itself."""


COPY_MARGIN_BYTES = 256 * 2**20  # besides the copy itself (dbt's logs, the WAL), at least


def check_room_for_copy(settings: Settings) -> None:
    """Fail before copying, not half-way through, when the copy cannot fit."""
    size = settings.warehouse.stat().st_size
    settings.staging_dir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(settings.staging_dir).free
    needed = size + max(size // 20, COPY_MARGIN_BYTES)
    if free < needed:
        raise NotEnoughRoom(
            f"not enough free disk for an incremental build: it starts from a copy of the "
            f"{size / 2**30:.1f} GiB warehouse and {settings.staging_dir} has {free / 2**30:.1f} GiB "
            f"free (needs {needed / 2**30:.1f} GiB). Free some space, or set build_in_place = true "
            f"in {settings.home / 'sendlens.toml'} to build into the published warehouse itself "
            "(no copy: readers must close it while it builds, and a failed build leaves it "
            "incomplete until the next, full, build)")


def in_place_marker(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".in-place-build")


def unfinished_in_place_build(warehouse: Path) -> dict | None:
    """What the marker of an in-place build that has not finished says, or None."""
    marker = in_place_marker(warehouse)
    try:
        text = marker.read_text()
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:  # unreadable (edited by hand?): still unfinished
        return {"build": "in-place build", "started_at": "?", "status": "running"}


def describe_unfinished(info: dict) -> str:
    what = f"the {info.get('build', 'in-place build')} started at {info.get('started_at', '?')}"
    if info.get("status") == "failed":
        return f"{what} failed ({info.get('error', 'no reason recorded')})"
    return f"{what} has not finished (it is running, or it was killed)"


class StagedBuild:
    """A build written in ``<home>/work/build-next/`` and swapped in when it passed: a new file
    (full builds) or a copy of the published one made while dbt starts (incremental ones)."""

    in_place = False
    left_on_failure = "the published warehouse is unchanged"

    def __init__(self, settings: Settings, copy_published: bool) -> None:
        self.settings = settings
        self.path = new_build_path(settings)
        self.copy = WarehouseCopy(settings.warehouse, self.path) if copy_published else None
        self.env: dict[str, str] = self.copy.env if self.copy is not None else {}

    def ready(self) -> None:
        """dbt is done: the copy it waited for must have landed."""
        if self.copy is not None:
            self.copy.join()

    def publish(self) -> Path:
        return publish(self.settings, self.path)

    def abandon(self, error: BaseException) -> None:
        if self.copy is not None:  # let the copier finish before its folder goes
            self.copy.wait()
        discard(self.path)


class InPlaceBuild:
    """A build written into the published warehouse (``build_in_place``): no copy, no swap.
    The marker beside the warehouse is written before anything changes, marked failed when
    the build fails, and removed only once the build passed its checks and was checkpointed."""

    in_place = True
    left_on_failure = ("the warehouse, built in place, is incomplete: exports refuse it and the "
                       "next build is a full one")

    def __init__(self, settings: Settings, what: str) -> None:
        self.path = settings.warehouse
        self.env: dict[str, str] = {}
        try:  # the build needs the file to itself: say so now, before anything changes
            duckdb.connect(str(self.path)).close()
        except duckdb.Error as exc:
            raise WarehouseBusy(
                f"cannot build {self.path} in place: it is open in another process "
                f"({str(exc).splitlines()[0]}). Close the other sessions (an in-place build "
                "needs the warehouse to itself) and build again") from None
        self.marker = in_place_marker(self.path)
        self.info = {"build": what, "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "pid": os.getpid(), "status": "running"}
        write_whole(self.marker, json.dumps(self.info))

    def ready(self) -> None:
        pass

    def publish(self) -> Path:
        _checkpoint(self.path)
        self.marker.unlink()
        fsync_path(self.path.parent)
        return self.path

    def abandon(self, error: BaseException) -> None:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        try:
            write_whole(self.marker, json.dumps({**self.info, "status": "failed", "error": reason}))
        except OSError:  # the running marker stays: the warehouse still counts as incomplete
            pass


def start_build(settings: Settings, incremental: bool, what: str) -> StagedBuild | InPlaceBuild:
    """Where a build writes: in place when configured and incremental, else in a new file (a
    copy of the published one for an incremental build, checked to fit on the disk first)."""
    if incremental and settings.build_in_place:
        return InPlaceBuild(settings, what)
    if incremental:
        check_room_for_copy(settings)
    return StagedBuild(settings, copy_published=incremental)
