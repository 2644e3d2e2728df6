"""`sendlens batches`: the landed batches with their counts, and retiring a bad one.

A batch that should never have landed (a poison file that passed an older ingest, the wrong
export) is retired, never deleted by hand: its folder moves out of the lake to
``<home>/retired/<kind>/batch_id=<id>/`` (kept whole: its rows, its rejected rows and its
audit record), and a retirement record lands in ``<lake>/_retired/batch_id=<id>/retired.parquet``
(read by the model ``audit.retired_batches``). The published build then lacks one of its
batches, so the next build is a full one (see sendlens/incremental.py).

Retiring moves the folder first (one rename), then writes the record: a crash in between
leaves the folder under ``retired/`` without its record, and retiring it again writes the
record.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from sendlens.ingest.lake import EMPTY_BATCH, Lake
from sendlens.config import Settings, utc_now
from sendlens.core.sql import literal
from sendlens.errors import SendlensError
from sendlens.incremental import lake_batches
from sendlens.lock import home_lock

_BATCH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
RETIRED_COLUMNS = ("batch_id varchar, kind varchar, file varchar, sha256 varchar, rows_read bigint, "
                   "rows_landed bigint, rows_rejected bigint, ingested_at timestamp, "
                   "retired_at timestamp, reason varchar, moved_to varchar")
BATCH_FIELDS = ("batch_id", "kind", "file", "rows_read", "rows_landed", "rows_rejected",
                "ingested_at", "source")


@dataclass(frozen=True)
class Retired:
    batch_id: str
    kind: str
    moved_to: Path
    rows_landed: int


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set enable_progress_bar = false")
    return con


def ensure_retired_schema(settings: Settings, con: duckdb.DuckDBPyConnection) -> None:
    """An empty retirement record, so that ``audit.retired_batches`` always reads (call with
    the home lock held, like every write to the lake)."""
    target = Lake(settings.lake).retired_dir() / EMPTY_BATCH
    if target.exists():
        return
    _write_record(settings, con, target, None)


def _write_record(settings: Settings, con: duckdb.DuckDBPyConnection, target: Path,
                  values: list | None) -> None:
    staging = Lake(settings.lake).scratch_dir(f"retired-{uuid.uuid4().hex}")
    staging.mkdir(parents=True)
    try:
        con.execute(f"create or replace temp table _retired ({RETIRED_COLUMNS})")
        if values is not None:
            con.execute("insert into _retired values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
        con.execute(f"copy _retired to {literal(staging / 'retired.parquet')} (format parquet)")
        con.execute("drop table _retired")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def list_batches(settings: Settings) -> list[dict]:
    """Every landed batch (oldest first) with its counts, and every retired one."""
    if not settings.lake.is_dir():
        return []
    con = _connect()
    try:
        landed = con.execute(
            f"select {', '.join(BATCH_FIELDS)}, 'landed' as status, null as retired_at, null as reason "
            f"from read_parquet({Lake(settings.lake).batch_glob_sql()}, "
            "union_by_name = true) order by batch_id").fetchall()
        names = [*BATCH_FIELDS, "status", "retired_at", "reason"]
        rows = [dict(zip(names, r)) for r in landed]
        retired_glob = Lake(settings.lake).retired_records_glob_sql()
        if Lake(settings.lake).retired_dir().is_dir():
            rows += [dict(zip(names, r)) for r in con.execute(
                "select batch_id, kind, file, rows_read, rows_landed, rows_rejected, ingested_at, "
                f"null as source, 'retired' as status, retired_at, reason from read_parquet({retired_glob}) "
                "order by batch_id").fetchall()]
    except duckdb.IOException:  # an empty lake: no batch yet
        return []
    finally:
        con.close()
    return rows


def retire(settings: Settings, batch_id: str, reason: str) -> Retired:
    """Take a batch out of the lake, keep it under ``<home>/retired/`` and record why."""
    if not _BATCH_ID.fullmatch(batch_id):
        raise SendlensError(f"not a batch id: {batch_id!r} (`sendlens batches` lists them)")
    if not reason.strip():
        raise SendlensError("retiring a batch needs a reason (--reason TEXT)")
    with home_lock(settings.lock_file, wait_seconds=600):
        folder = lake_batches(settings.lake).get(batch_id)
        retired_root = settings.home / "retired"
        moved = [p for p in retired_root.glob(f"*/{Lake.batch_folder(glob_safe(batch_id))}") if p.is_dir()] \
            if retired_root.is_dir() else []
        record_dir = Lake(settings.lake).retired_record_dir(batch_id)
        if folder is None and not (moved and not record_dir.exists()):
            if record_dir.exists():
                raise SendlensError(f"batch {batch_id} is already retired")
            raise SendlensError(f"no landed batch {batch_id!r} in {settings.lake} "
                                "(`sendlens batches` lists them)")
        con = _connect()
        try:
            source = folder if folder is not None else moved[0]
            info = con.execute(
                "select kind, file, sha256, rows_read, rows_landed, rows_rejected, ingested_at "
                f"from read_parquet({literal(source / 'batch.parquet')})").fetchone()
            group = source.parent.name  # the kind, or "esp" for a provider export
            target = retired_root / group / Lake.batch_folder(batch_id)
            if folder is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.rename(folder, target)
            retired_at: datetime = utc_now()
            _write_record(settings, con, record_dir,
                          [batch_id, *info, retired_at, reason, str(target)])
        finally:
            con.close()
    return Retired(batch_id, info[0], target, int(info[4]))


def glob_safe(text: str) -> str:
    """``text`` for pathlib's glob: its wildcard characters match only themselves."""
    return "".join(f"[{c}]" if c in "[]*?" else c for c in text)
