"""The steps every command shares: the home's folders and lake, a bounded DuckDB connection,
the published warehouse, and a build target (staged copy or in place)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import duckdb

from sendlens.ingest.contracts import KINDS
from sendlens.ingest.lake import Lake
from sendlens.batches import ensure_retired_schema
from sendlens.config import Settings
from sendlens.errors import SendlensError
from sendlens.publish import (InPlaceBuild, NotEnoughRoom, StagedBuild, WarehouseBusy,
                              describe_unfinished, start_build, unfinished_in_place_build)

Progress = Callable[[str], None]


def quiet(_: str) -> None:
    pass

def connect(settings: Settings, database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection bounded by the settings (given as configuration, not SQL text)."""
    settings.temp_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(database, config={
        "memory_limit": settings.memory_limit, "temp_directory": str(settings.temp_dir),
        "threads": int(settings.threads)})
    con.execute("set enable_progress_bar = false")
    con.execute("set TimeZone = 'UTC'")
    return con

def init_home(settings: Settings) -> Lake:
    """Create the home's folders and the lake's empty batches. Only the holder of the home
    lock calls it: the lake's ``_tmp`` is swept here, and only the lock holder may know that
    what is in it was left by a run that died."""
    for d in (settings.home, settings.lake, settings.warehouse_dir, settings.staging_dir,
              settings.exports, settings.logs):
        d.mkdir(parents=True, exist_ok=True)
    for kind in KINDS:
        (settings.inbox / kind).mkdir(parents=True, exist_ok=True)
    lake = Lake(settings.lake)
    con = connect(settings)
    try:
        lake.ensure(con)
        ensure_retired_schema(settings, con)
    finally:
        con.close()
    return lake

def start(settings: Settings, incremental: bool, what: str) -> StagedBuild | InPlaceBuild:
    try:
        return start_build(settings, incremental, what)
    except (NotEnoughRoom, WarehouseBusy) as exc:
        raise SendlensError(str(exc)) from None

def published(settings: Settings) -> Path:
    """The published warehouse, when there is one and it is complete."""
    if not settings.warehouse.exists():
        raise SendlensError(f"no warehouse at {settings.warehouse}; run `sendlens build` first")
    unfinished = unfinished_in_place_build(settings.warehouse)
    if unfinished is not None:
        raise SendlensError(f"the warehouse {settings.warehouse} may be incomplete: "
                            f"{describe_unfinished(unfinished)}. Run `sendlens build` (a full one) "
                            "once it is over")
    return settings.warehouse
