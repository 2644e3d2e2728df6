"""The library behind the CLI: ingest, build, compute-stats, export, run, demo.

Data moves one way: files -> lake (ingest) -> dbt on DuckDB (build) -> checks -> published
warehouse -> exports. Each function takes ``Settings`` and returns a small result; the CLI
only parses arguments and prints.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

import duckdb

from ingest.contracts import KINDS
from ingest.lake import Lake
from ingest.land import IngestError, IngestOutcome, ingest_file
from sendlens.config import Settings, iso, utc_now
from sendlens.dbt_runner import DbtFailed, run_dbt
from sendlens.lock import home_lock
from sendlens.publish import discard, new_build_path, publish, sweep_stale_builds

Progress = Callable[[str], None]


class SendlensError(Exception):
    """A user-facing failure: one clear message, non-zero exit."""


class ChecksFailed(SendlensError):
    """The data-quality gate failed; nothing was published."""


def _quiet(_: str) -> None:
    pass


def connect(settings: Settings, database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    settings.temp_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(database)
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"set memory_limit = '{settings.memory_limit}'")
    con.execute(f"set temp_directory = '{settings.temp_dir}'")
    con.execute(f"set threads = {settings.threads}")
    return con


def init_home(settings: Settings) -> Lake:
    for d in (settings.home, settings.lake, settings.warehouse_dir, settings.staging_dir,
              settings.exports, settings.logs):
        d.mkdir(parents=True, exist_ok=True)
    for kind in KINDS:
        (settings.inbox / kind).mkdir(parents=True, exist_ok=True)
    lake = Lake(settings.lake)
    con = connect(settings)
    try:
        lake.ensure(con)
    finally:
        con.close()
    return lake


# ---- ingest ------------------------------------------------------------------------------
def ingest(settings: Settings, kind: str, files: list[Path], source: str | None = None,
           lock: bool = True) -> list[IngestOutcome]:
    """Land files of one kind (or an ESP export with ``source``). Stops at the first file that
    cannot be landed at all; files before it stay landed (each file is its own batch)."""
    if kind not in KINDS and source is None:
        raise SendlensError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    for f in files:
        if not Path(f).is_file():
            raise SendlensError(f"{f}: no such file")
    ctx = home_lock(settings.lock_file, wait_seconds=600) if lock else _nullcontext()
    with ctx:
        lake = init_home(settings)
        con = connect(settings)
        try:
            outcomes: list[IngestOutcome] = []
            for f in files:
                try:
                    if source:
                        from ingest.esp import ingest_export  # optional ESP mappings
                        outcomes.extend(ingest_export(con, lake, source, Path(f)))
                    else:
                        outcomes.append(ingest_file(con, lake, kind, Path(f)))
                except IngestError as exc:
                    raise SendlensError(str(exc)) from None
            return outcomes
        finally:
            con.close()


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# ---- build -------------------------------------------------------------------------------
@dataclass
class BuildResult:
    as_of: datetime
    warehouse: Path
    seconds: float
    checks: list[dict] = field(default_factory=list)


DBT_BUILD_EXCLUDE = ["--exclude-resource-type", "unit_test"]


def build(settings: Settings, as_of: datetime | None = None, progress: Progress = _quiet,
          lock: bool = True, run_checks: bool = True, full_refresh: bool = False) -> BuildResult:
    as_of = as_of or utc_now()
    started = time.monotonic()
    ctx = home_lock(settings.lock_file, wait_seconds=600) if lock else _nullcontext()
    with ctx:
        init_home(settings)
        sweep_stale_builds(settings)
        target = new_build_path(settings)
        try:
            progress(f"building models as of {iso(as_of)} into {target.name}")
            try:
                run_dbt(settings, target, ["build", *DBT_BUILD_EXCLUDE], settings.dbt_vars(as_of),
                        progress=progress)
            except DbtFailed as exc:
                raise ChecksFailed(f"build failed; the published warehouse is unchanged.\n{exc}") from None
            checks = _quality_gate(settings, target, as_of, progress) if run_checks else []
            publish(settings, target)
        except BaseException:
            discard(target)
            raise
    progress(f"published {settings.warehouse}")
    return BuildResult(as_of, settings.warehouse, time.monotonic() - started, checks)


def _quality_gate(settings: Settings, db: Path, as_of: datetime, progress: Progress) -> list[dict]:
    try:
        from expectations.runner import validate_warehouse
    except ImportError:  # suites not installed: dbt tests alone gate
        return []
    progress("running data-quality suites")
    docs = settings.staging_dir / "data-docs"
    if docs.exists():
        shutil.rmtree(docs)
    report = validate_warehouse(db, as_of=as_of, docs_dir=docs)
    checks = [{"name": r.name, "status": r.status, "details": r.details} for r in report.results]
    (settings.staging_dir / "checks.json").write_text(json.dumps(checks, indent=2))
    if not report.passed:
        raise ChecksFailed("data-quality checks failed; the published warehouse is unchanged.\n"
                           + report.summary())
    return checks


# ---- compute-stats -----------------------------------------------------------------------
def compute_stats(settings: Settings, at: datetime | None = None, delivery_id: str | None = None,
                  progress: Progress = _quiet) -> Path:
    """Refresh the dashboard snapshot (all deliveries, or one) at ``at`` without a rebuild."""
    if not settings.warehouse.exists():
        raise SendlensError(f"no warehouse at {settings.warehouse}; run `sendlens build` first")
    at = at or utc_now()
    with home_lock(settings.lock_file, wait_seconds=600):
        con = duckdb.connect(str(settings.warehouse), read_only=True)
        try:
            as_of = con.execute("select max(as_of) from marts.rpt_delivery_kpis").fetchone()[0]
            if delivery_id is not None:
                found = con.execute(
                    "select count(*) from intermediate.int_messages where delivery_id = ?", [delivery_id]
                ).fetchone()[0] + con.execute(
                    "select count(*) from staging.stg_deliveries where delivery_id = ?", [delivery_id]
                ).fetchone()[0]
                if not found:
                    raise SendlensError(f"unknown delivery {delivery_id!r}")
        finally:
            con.close()
        target = new_build_path(settings, copy_current=True)
        try:
            run_dbt(settings, target,
                    ["build", "--select", "dash_delivery_kpis+", *DBT_BUILD_EXCLUDE],
                    settings.dbt_vars(as_of or at, stats_at=at, stats_delivery_id=delivery_id),
                    progress=progress)
            publish(settings, target)
        except DbtFailed as exc:
            discard(target)
            raise ChecksFailed(f"compute-stats failed; the published warehouse is unchanged.\n{exc}") from None
        except BaseException:
            discard(target)
            raise
    return settings.warehouse
