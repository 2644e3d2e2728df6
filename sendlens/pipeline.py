"""The library behind the CLI: ingest, build, compute-stats, export, run, demo.

Data moves one way: files -> lake (ingest) -> dbt on DuckDB (build) -> checks -> published
warehouse -> exports. Each function takes ``Settings`` and returns a small result; the CLI
only parses arguments and prints.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

import duckdb

from ingest.contracts import KINDS
from ingest.lake import EMPTY_BATCH, Lake
from ingest.land import IngestError, IngestOutcome, ingest_file
from sendlens import gate
from sendlens.batches import ensure_retired_schema
from sendlens.config import Settings, iso, utc_now
from sendlens.core.sql import glob_escape
from sendlens.dbt_runner import DbtFailed, run_dbt
from sendlens.errors import ChecksFailed, SendlensError
from sendlens.incremental import BuildPlan, plan_build
from sendlens.lock import home_lock
from sendlens.publish import (InPlaceBuild, NotEnoughRoom, StagedBuild, WarehouseBusy,
                              describe_unfinished, flush_early, start_build, sweep_stale_builds,
                              unfinished_in_place_build)

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
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


# ---- ingest ------------------------------------------------------------------------------
def ingest(settings: Settings, kind: str, files: list[Path], source: str | None = None,
           lock: bool = True, delivery_field: str | None = None) -> list[IngestOutcome]:
    """Land files of one kind (or an ESP export with ``source``). Stops at the first file that
    cannot be landed at all; files before it stay landed (each file is its own batch)."""
    if kind not in KINDS and source is None:
        raise SendlensError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    for f in files:
        if not Path(f).is_file():
            raise SendlensError(f"{f}: no such file")
    bounds = settings.bounds()
    ctx = home_lock(settings.lock_file, wait_seconds=600) if lock else nullcontext()
    with ctx:
        lake = init_home(settings)
        con = connect(settings)
        try:
            outcomes: list[IngestOutcome] = []
            for f in files:
                try:
                    if source:
                        from ingest.esp import ingest_export  # optional ESP mappings
                        outcomes.extend(ingest_export(con, lake, source, Path(f), delivery_field=delivery_field,
                                                      bounds=bounds))
                    else:
                        outcomes.append(ingest_file(con, lake, kind, Path(f), bounds=bounds))
                except IngestError as exc:
                    raise SendlensError(str(exc)) from None
            return outcomes
        finally:
            con.close()


# ---- build -------------------------------------------------------------------------------
@dataclass
class BuildResult:
    as_of: datetime
    warehouse: Path
    seconds: float
    checks: list[dict] = field(default_factory=list)
    mode: str = "full"


DBT_BUILD_EXCLUDE = ["--exclude-resource-type", "unit_test"]
# What an incremental build recomputed, per suite table: the key and the table of recomputed
# keys (the suites validate those rows only). The landing suites read the new batches.
_MESSAGES = ("message_id", "intermediate.int_changed_messages")
CHANGED_KEYS = {
    "fct_message_status": _MESSAGES, "fct_message_status_history": _MESSAGES,
    "fct_profile_history": _MESSAGES,
    "dim_address_quarantine": ("address", "intermediate.int_changed_addresses"),
}
# ... and, when as_of did not move, the delivery-level reports kept per reporting delivery
_DELIVERIES = ("delivery_id", "intermediate.int_changed_deliveries")
KEPT_DELIVERY_KEYS = {
    "rpt_delivery_kpis": _DELIVERIES, "rpt_delivery_kpis_hourly": _DELIVERIES,
    "dash_delivery_kpis": _DELIVERIES, "rpt_kpi_reconciliation": _DELIVERIES,
}


ENGINES = ("duckdb", "spark")


def build(settings: Settings, as_of: datetime | None = None, progress: Progress = _quiet,
          lock: bool = True, run_checks: bool = True,
          engine: str = "duckdb", full_refresh: bool = False) -> BuildResult:
    """Build, check and publish. On DuckDB the build is incremental when it can be (on top of
    the published warehouse, recomputing only what new batches or a later as_of change; see
    sendlens/incremental.py) and full otherwise or with ``full_refresh``.
    ``engine="spark"`` runs the same models and tests on Apache Spark, always in full, and
    publishes the marts as Parquet under ``<home>/warehouse/spark-marts/`` (the DuckDB
    warehouse is left as it is; see sendlens/spark.py)."""
    if engine not in ENGINES:
        raise SendlensError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    as_of = as_of or utc_now()
    settings.check_instant(as_of, "build --as-of")
    started = time.monotonic()
    if engine == "spark":
        return _build_spark(settings, as_of, progress, lock, run_checks, started)
    ctx = home_lock(settings.lock_file, wait_seconds=600) if lock else nullcontext()
    with ctx:
        init_home(settings)
        sweep_stale_builds(settings)
        plan = plan_build(settings, as_of, full_refresh)
        progress(f"{plan.mode} build: {plan.reason}")
        # an incremental build starts from a copy of the published warehouse, made while dbt parses
        target = _start(settings, plan.incremental, f"{plan.mode} build as of {iso(as_of)}")
        preloading = _preload_checks() if run_checks else None
        # a full build's suites read every row: a second process shares them (see DECISIONS.md)
        helper = _start_suite_helper() if run_checks and not plan.incremental and settings.threads > 1 else None
        try:
            progress(f"building models as of {iso(as_of)} into "
                     + (f"{target.path} (in place)" if target.in_place else target.path.parent.name))
            # an incremental build keeps the seeds it copied (they are fingerprinted: unchanged)
            command = (["build", *DBT_BUILD_EXCLUDE, "--exclude-resource-type", "seed"] if plan.incremental
                       else ["build", *DBT_BUILD_EXCLUDE, "--full-refresh"])
            try:
                run_dbt(settings, target.path, command, {**settings.dbt_vars(as_of), **plan.dbt_vars(as_of)},
                        progress=progress, extra_env=target.env)
            except DbtFailed as exc:
                raise ChecksFailed(f"build failed; {target.left_on_failure}.\n{exc}") from None
            target.ready()
            flushing = flush_early(target.path)
            if preloading is not None:
                preloading.join()
            checks, documents = (_quality_gate(settings, target.path, as_of, progress, plan, helper,
                                               outcome=target.left_on_failure) if run_checks else ([], {}))
            if helper is not None:  # before recording and publishing: its read lock blocks writes
                helper.close()
            flushing.join()
            # what let this warehouse through travels with it (export reads it from there)
            gate.record(target.path, gate.GateRecord("build", checks, utc_now(), as_of, documents))
            target.publish()
        except BaseException as exc:
            target.abandon(exc)
            raise
        finally:
            if helper is not None:  # a failed build (closing twice is a no-op)
                helper.close()
    progress(f"published {settings.warehouse}")
    return BuildResult(as_of, settings.warehouse, time.monotonic() - started, checks, plan.mode)


def _build_spark(settings: Settings, as_of: datetime, progress: Progress, lock: bool,
                 run_checks: bool, started: float) -> BuildResult:
    from sendlens import spark

    try:
        spark.check_requirements()
    except spark.SparkUnavailable as exc:
        raise SendlensError(str(exc)) from None
    ctx = home_lock(settings.lock_file, wait_seconds=600) if lock else nullcontext()
    with ctx:
        init_home(settings)
        try:
            marts, checks = spark.build(settings, as_of, DBT_BUILD_EXCLUDE, progress, run_checks)
        except DbtFailed as exc:
            raise ChecksFailed(f"build on Spark failed; the published Spark marts are unchanged.\n{exc}") from None
    progress(f"published {marts}")
    return BuildResult(as_of, marts, time.monotonic() - started, checks)


def _preload_checks() -> threading.Thread:
    """Import the suites' library in the background while dbt runs in its own process (it
    takes seconds, a sizeable share of a small incremental build). Failures surface later,
    when the quality gate imports it for real."""
    def load() -> None:
        try:
            from expectations.runner import preload

            preload()
        except Exception:
            pass

    thread = threading.Thread(target=load, name="preload-checks", daemon=True)
    thread.start()
    return thread


def _start_suite_helper():
    """A second process for the suites, started now so that it imports great-expectations
    while dbt runs; None when it cannot start (the suites then run in this process)."""
    try:
        from expectations.helper import SuiteHelper

        return SuiteHelper()
    except Exception:
        return None


def _start(settings: Settings, incremental: bool, what: str) -> StagedBuild | InPlaceBuild:
    try:
        return start_build(settings, incremental, what)
    except (NotEnoughRoom, WarehouseBusy) as exc:
        raise SendlensError(str(exc)) from None


def _published(settings: Settings) -> Path:
    """The published warehouse, when there is one and it is complete."""
    if not settings.warehouse.exists():
        raise SendlensError(f"no warehouse at {settings.warehouse}; run `sendlens build` first")
    unfinished = unfinished_in_place_build(settings.warehouse)
    if unfinished is not None:
        raise SendlensError(f"the warehouse {settings.warehouse} may be incomplete: "
                            f"{describe_unfinished(unfinished)}. Run `sendlens build` (a full one) "
                            "once it is over")
    return settings.warehouse


def _quality_gate(settings: Settings, db: Path, as_of: datetime, progress: Progress,
                  plan: BuildPlan | None = None, helper=None, *, outcome: str,
                  suites: list[str] | None = None) -> tuple[list[dict], dict[str, str]]:
    """Run the data-quality suites on the build file ``db``; return the checks and the
    data-quality page, or raise ChecksFailed (saying ``outcome``) when any failed."""
    try:
        from expectations.runner import validate_warehouse
    except ImportError:  # suites not installed: dbt tests alone gate
        return [], {}
    incremental = plan is not None and plan.incremental
    progress("running data-quality suites" + (" on the new batches and recomputed rows" if incremental else ""))
    docs = settings.staging_dir / "data-docs"
    if docs.exists():
        shutil.rmtree(docs)
    new_batches = None
    if incremental:  # the landing suites validate what landed since the published build
        new_batches = {kind: [glob_escape(settings.lake / kind / EMPTY_BATCH / "data") + "/*.parquet",
                              *plan.new_batch_files.get(kind, [])] for kind in KINDS}
    changed = None
    if incremental:
        changed = CHANGED_KEYS if plan.as_of_moved else {**CHANGED_KEYS, **KEPT_DELIVERY_KEYS}
    report = validate_warehouse(db, as_of=as_of, docs_dir=docs, lake_globs=new_batches,
                                changed=changed, memory_limit=settings.memory_limit,
                                temp_directory=settings.temp_dir, helper=helper, suites=suites)
    checks = [{"name": r.name, "status": r.status, "details": r.details} for r in report.results]
    if not report.passed:
        raise ChecksFailed(f"data-quality checks failed; {outcome}.\n" + report.summary())
    return checks, gate.read_documents(docs)


# ---- compute-stats -----------------------------------------------------------------------
# what compute-stats rebuilds (dash_delivery_kpis and what depends on it) and its suites check
STATS_SUITES = ("dash_delivery_kpis", "rpt_kpi_reconciliation")


def compute_stats(settings: Settings, at: datetime | None = None, delivery_id: str | None = None,
                  progress: Progress = _quiet) -> Path:
    """Refresh the dashboard snapshot (all deliveries, or one) at ``at`` without a rebuild."""
    at = at or utc_now()
    settings.check_instant(at, "compute-stats --at")
    with home_lock(settings.lock_file, wait_seconds=600):
        _published(settings)
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
        target = _start(settings, True, f"compute-stats at {iso(at)}")
        try:
            run_dbt(settings, target.path,
                    ["build", "--select", "dash_delivery_kpis+", *DBT_BUILD_EXCLUDE],
                    settings.dbt_vars(as_of or at, stats_at=at, stats_delivery_id=delivery_id),
                    progress=progress, extra_env=target.env)
            target.ready()
            # the suites of what it rebuilt gate it like a build's (and are kept with it)
            checks, documents = _quality_gate(settings, target.path, as_of or at, progress,
                                              outcome=target.left_on_failure,
                                              suites=list(STATS_SUITES))
            gate.record(target.path, gate.GateRecord(
                "compute-stats", checks, utc_now(), as_of,
                {f"compute-stats/{name}": text for name, text in documents.items()}))
            target.publish()
        except DbtFailed as exc:
            target.abandon(exc)
            raise ChecksFailed(f"compute-stats failed; {target.left_on_failure}.\n{exc}") from None
        except BaseException as exc:
            target.abandon(exc)
            raise
    return settings.warehouse


# ---- export ------------------------------------------------------------------------------
def _run_id() -> str:
    return "run-" + utc_now().strftime("%Y%m%dT%H%M%S%fZ")


def export(settings: Settings, out: Path | None = None, include_pii: bool = False,
           progress: Progress = _quiet, run_id: str | None = None):
    """Write CSV and Parquet of every public mart, an Excel workbook, the HTML report, the
    data-quality report and a manifest into ``out`` (default ``<home>/exports/<run-id>``)."""
    from reports.export import export_reports
    from reports.warehouse import mask_emails

    _published(settings)
    run_id = run_id or _run_id()
    out_dir = Path(out) if out else settings.exports / run_id
    out_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        # the results of the gates that let the published warehouse through, kept in it
        published_gate = gate.read(con)
        checks, documents = published_gate if published_gate is not None else ([], {})
        as_of = con.execute("select max(as_of) from marts.rpt_delivery_kpis").fetchone()[0]
        inputs = [
            dict(zip(("batch_id", "kind", "file", "sha256", "rows_read", "rows_landed", "rows_rejected"), r))
            for r in con.execute(
                "select batch_id, kind, file, sha256, rows_read, rows_landed, rows_rejected "
                "from audit.ingest_batches order by batch_id").fetchall()
        ]
    finally:
        con.close()
    run_info = {"run_id": run_id, "as_of": iso(as_of) if as_of else None, "checks": checks,
                "warehouse": str(settings.warehouse), "include_pii": include_pii}
    result = export_reports(settings.warehouse, out_dir, include_pii=include_pii,
                            run_info=run_info, progress=progress,
                            pseudonym_key=pseudonym_key(settings))
    written = [p for p in result.files if p.name != "manifest.json"]
    for name, text in documents.items():  # the data-quality page of the published gates
        page = out_dir / "data-quality" / name
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(text if include_pii else mask_emails(text), encoding="utf-8")
        written.append(page)
    manifest = {
        **result.manifest,
        **{k: v for k, v in run_info.items() if k != "checks"},
        "checks": result.manifest.get("run_info", {}).get("checks", checks),  # masked by the exporter
        "exported_at": iso(utc_now()),
        "inputs": inputs,
        "row_counts": result.row_counts,
        "checks_passed": all(c.get("status") == "passed" for c in checks) if checks else None,
        "files": sorted({str(p.relative_to(out_dir)) for p in written} | {"manifest.json"}),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    return result


PSEUDONYM_KEY = "pseudonym.key"


def pseudonym_key(settings: Settings) -> str:
    """The home's secret for pseudonymised ids (README, "Security and personal data"): made once,
    readable by its owner only, never exported. The same id gets the same pseudonym in every
    export of the home; losing the file changes every pseudonym from then on."""
    path = settings.home / PSEUDONYM_KEY
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    key = path.read_text().strip()
    if len(key) < 32:
        raise SendlensError(f"{path}: the pseudonymisation key is too short or empty; restore it from "
                            "a backup (or delete it to start new pseudonyms)")
    return key


# ---- generate / run / demo ---------------------------------------------------------------
def generate(out: Path, messages: int, seed: int, progress: Progress = _quiet) -> dict[str, Path]:
    from ingest.generate import generate as _generate

    return _generate(Path(out), messages, seed=seed, progress=progress)


INGEST_ORDER = ("operators", "deliveries", "send_log", "exclusions", "feedback", "tracking")


def run(settings: Settings, as_of: datetime | None = None, include_pii: bool = False,
        progress: Progress = _quiet) -> str:
    """The scheduled batch: ingest what waits in ``<home>/inbox/<kind>/``, archive each file once
    landed, build and check, publish, export. One run at a time per home."""
    run_id = _run_id()
    log_path = settings.logs / f"{run_id}.log"

    def log(msg: str) -> None:
        with open(log_path, "a") as fh:
            fh.write(f"{iso(utc_now())} {msg}\n")
        progress(msg)

    failures: list[str] = []
    # the lock first: a run that finds another one going touches nothing, not even _tmp
    with home_lock(settings.lock_file, wait_seconds=0):
        init_home(settings)
        log(f"{run_id}: started")
        landed = 0
        for kind in INGEST_ORDER:
            inbox = settings.inbox / kind
            entries = sorted(p for p in inbox.iterdir() if not p.name.startswith("."))
            for f in entries:
                try:
                    if not f.is_file():  # a dangling link, a folder, a socket: never silently
                        raise SendlensError(f"{f}: {_not_a_file(f)}; nothing landed")
                    outcome = ingest(settings, kind, [f], lock=False)[0]
                except SendlensError as exc:
                    failed = settings.inbox / "_failed" / kind
                    failed.mkdir(parents=True, exist_ok=True)
                    f.rename(failed / f.name)  # a link moves as a link
                    (failed / (f.name + ".error.txt")).write_text(str(exc) + "\n")
                    failures.append(str(exc))
                    log(f"FAILED {exc}")
                    continue
                archive = settings.archive / run_id / kind
                archive.mkdir(parents=True, exist_ok=True)
                f.rename(archive / f.name)
                landed += outcome.rows_landed
                log(f"{kind}: {f.name}: {outcome.status}, read {outcome.rows_read}, landed "
                    f"{outcome.rows_landed}, rejected {outcome.rows_rejected}")
        result = build(settings, as_of, progress=log, lock=False)
        log(f"built as of {iso(result.as_of)} in {result.seconds:.1f}s")
        exported = export(settings, None, include_pii=include_pii, progress=log, run_id=run_id)
        log(f"exported to {exported.out_dir}")
    summary = (f"{run_id}: landed {landed} rows, built as of {iso(result.as_of)}, "
               f"exported to {exported.out_dir}; log {log_path}")
    if failures:
        raise SendlensError(summary + f"\n{len(failures)} input file(s) could not be landed "
                            f"(moved to {settings.inbox / '_failed'}):\n" + "\n".join(failures))
    return summary


def _not_a_file(path: Path) -> str:
    if path.is_symlink() and not path.exists():
        return f"a link to a missing file ({os.readlink(path)})"
    if path.is_dir():
        return "a folder, not a file"
    return "not a regular file"


def demo(settings: Settings, messages: int = 20_000, seed: int = 42, progress: Progress = _quiet) -> str:
    """Generate a sample into the home, ingest it, build, check, publish and export."""
    started = time.monotonic()
    with home_lock(settings.lock_file, wait_seconds=600):
        init_home(settings)
    sample = settings.home / "sample"
    progress(f"generating {messages} messages (seed {seed}) into {sample}")
    paths = generate(sample, messages, seed, progress=progress)
    for kind in INGEST_ORDER:
        for o in ingest(settings, kind, [paths[kind]]):
            progress(f"{kind}: {o.status}: read {o.rows_read}, landed {o.rows_landed}, rejected {o.rows_rejected}")
    result = build(settings, None, progress=progress)
    exported = export(settings, None, progress=progress)
    return (
        f"demo finished in {time.monotonic() - started:.1f}s\n"
        f"  warehouse: {result.warehouse}\n"
        f"  exports:   {exported.out_dir}\n"
        f"  report:    {exported.html_report}\n"
        f"open it read-only: duckdb -readonly {result.warehouse}"
    )
