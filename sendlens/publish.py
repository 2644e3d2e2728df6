"""Atomic publishing of the analysts' warehouse: build elsewhere, check, then swap.

Analysts open ``<home>/warehouse/sendlens.duckdb`` read-only. A build writes a new file in
``<home>/work/`` and, only when every check passed, renames it over the published one: the
rename is atomic on one filesystem, so a reader sees either the old or the new warehouse,
never a mix, and a reader holding the old file open keeps reading the old file.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import duckdb

from sendlens.config import Settings


def new_build_path(settings: Settings, copy_current: bool = False) -> Path:
    """A fresh build file. It is named like the published file (in its own folder) so that the
    DuckDB catalog name dbt qualifies relations with stays `sendlens` after the swap."""
    folder = settings.staging_dir / f"build-{uuid.uuid4().hex[:12]}"
    folder.mkdir(parents=True, exist_ok=False)
    path = folder / settings.warehouse.name
    if copy_current and settings.warehouse.exists():
        shutil.copyfile(settings.warehouse, path)
    return path


def publish(settings: Settings, build_path: Path) -> Path:
    con = duckdb.connect(str(build_path))
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    wal = Path(str(build_path) + ".wal")
    if wal.exists():
        wal.unlink()
    fd = os.open(build_path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    os.replace(build_path, settings.warehouse)
    shutil.rmtree(build_path.parent, ignore_errors=True)
    dfd = os.open(settings.warehouse_dir, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
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
