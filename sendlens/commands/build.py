"""`sendlens build`: plan (full or incremental), run dbt, gate, record the gate, publish."""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from sendlens import gate
from sendlens.commands.checks import checks_line, preload_checks, quality_gate, start_suite_helper, warn_checks
from sendlens.commands.home import Progress, connect, init_home, quiet, start
from sendlens.config import Settings, iso, utc_now
from sendlens.dbt_runner import DbtFailed, run_dbt, test_results
from sendlens.errors import ChecksFailed, SendlensError
from sendlens.incremental import plan_build
from sendlens.ingest import user_agents
from sendlens.ingest.lake import Lake
from sendlens.lock import home_lock
from sendlens.publish import flush_early, sweep_stale_builds


@dataclass
class BuildResult:
    as_of: datetime
    warehouse: Path
    seconds: float
    checks: list[dict] = field(default_factory=list)
    mode: str = "full"

DBT_BUILD_EXCLUDE = ["--exclude-resource-type", "unit_test"]

ENGINES = ("duckdb", "spark")

def build(settings: Settings, as_of: datetime | None = None, progress: Progress = quiet,
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
        parse_user_agents(settings, init_home(settings), progress)
        sweep_stale_builds(settings)
        plan = plan_build(settings, as_of, full_refresh)
        if plan.nothing_to_do:  # the published warehouse is what this build would give
            progress(f"nothing to build: {plan.reason}; {settings.warehouse} stands "
                     f"({time.monotonic() - started:.1f} s)")
            return BuildResult(as_of, settings.warehouse, time.monotonic() - started,
                               published_checks(settings), plan.mode)
        progress(f"{plan.mode} build: {plan.reason}")
        # an incremental build starts from a copy of the published warehouse, made while dbt parses
        target = start(settings, plan.incremental, f"{plan.mode} build as of {iso(as_of)}")
        preloading = preload_checks() if run_checks else None
        # a full build's suites read every row: a second process shares them (see DECISIONS.md)
        helper = start_suite_helper() if run_checks and not plan.incremental and settings.threads > 1 else None
        try:
            progress(f"building models as of {iso(as_of)} into "
                     + (f"{target.path} (in place)" if target.in_place else target.path.parent.name))
            step_started = time.monotonic()
            # an incremental build keeps the seeds it copied (they are fingerprinted: unchanged)
            command = (["build", *DBT_BUILD_EXCLUDE, "--exclude-resource-type", "seed"] if plan.incremental
                       else ["build", *DBT_BUILD_EXCLUDE, "--full-refresh"])
            try:
                run_dbt(settings, target.path, command, {**settings.instant_vars(as_of), **plan.dbt_vars(as_of)},
                        progress=progress, extra_env=target.env)
            except DbtFailed as exc:
                raise ChecksFailed(f"build failed; {target.left_on_failure}.\n{exc}") from None
            target.ready()
            flushing = flush_early(target.path)
            if preloading is not None:
                preloading.join()
            step_started = time.monotonic()
            checks, documents = (quality_gate(settings, target.path, as_of, progress, plan, helper,
                                               outcome=target.left_on_failure) if run_checks else ([], {}))
            if run_checks:
                progress(f"checks: {checks_line(checks)} ({time.monotonic() - step_started:.1f} s)")
            step_started = time.monotonic()
            if helper is not None:  # before recording and publishing: its read lock blocks writes
                helper.close()
            flushing.join()
            # what let this warehouse through travels with it (export reads it from there)
            gate.record(target.path, gate.GateRecord("build", checks, utc_now(), as_of, documents,
                                                     test_results(settings)))
            target.publish()
        except BaseException as exc:
            target.abandon(exc)
            raise
        finally:
            if helper is not None:  # a failed build (closing twice is a no-op)
                helper.close()
    progress(f"published {settings.warehouse} ({time.monotonic() - step_started:.1f} s)")
    warn_checks(checks)
    return BuildResult(as_of, settings.warehouse, time.monotonic() - started, checks, plan.mode)

def published_checks(settings: Settings) -> list[dict]:
    """The checks that let the published warehouse through (its gate's record)."""
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        got = gate.read(con)
    finally:
        con.close()
    return [c for c in (got[0] if got else []) if c.get("gate") == "build"]


def parse_user_agents(settings: Settings, lake: Lake, progress: Progress) -> user_agents.Refreshed:
    """Before the models run (either engine): parse the user agents landed since the last
    build into the lake's derived table (sendlens/ingest/user_agents.py; stg_user_agents reads
    it). The caller holds the home's lock."""
    started = time.monotonic()
    con = connect(settings)
    try:
        refreshed = user_agents.refresh(con, lake)
    finally:
        con.close()
    progress(f"user agents: {refreshed.parsed:,} new parsed ({time.monotonic() - started:.1f} s)")
    return refreshed

def _build_spark(settings: Settings, as_of: datetime, progress: Progress, lock: bool,
                 run_checks: bool, started: float) -> BuildResult:
    from sendlens import spark

    try:
        spark.check_requirements()
    except spark.SparkUnavailable as exc:
        raise SendlensError(str(exc)) from None
    ctx = home_lock(settings.lock_file, wait_seconds=600) if lock else nullcontext()
    with ctx:
        parse_user_agents(settings, init_home(settings), progress)
        try:
            marts, checks = spark.build(settings, as_of, DBT_BUILD_EXCLUDE, progress, run_checks)
        except DbtFailed as exc:
            raise ChecksFailed(f"build on Spark failed; the published Spark marts are unchanged.\n{exc}") from None
    progress(f"published {marts}")
    return BuildResult(as_of, marts, time.monotonic() - started, checks)
