"""Data-quality gate: run the JSON suites and the cross-table checks against a warehouse.

``validate_warehouse`` opens a DuckDB file read-only and, for every suite in
``expectations/suites``, streams the suite's table as Arrow record batches of ``chunk_rows``
rows, converts each batch to pandas and validates it with Great Expectations (pandas
datasource, ephemeral context). Results are aggregated over chunks: unexpected counts are
summed, a ``mostly`` threshold is applied to the whole table, a few unexpected values are kept.

Why pandas and not SQL: great-expectations 1.24 returns empty results on DuckDB through
SQLAlchemy, so the rows are read with DuckDB and validated in memory, chunk by chunk.
Whole-table invariants (uniqueness, contiguous intervals) are dbt tests, not suites.
Besides the suites, a few plain DuckDB checks run here because they span rows or tables
(``expectations.checks``).

This module only orchestrates; the work is in one module per job (each imports only the
ones listed before it):

- ``formatting``: readable values, arguments, row conditions, error lines;
- ``results``: ``ExpectationOutcome``, ``CheckResult``, ``CheckReport``;
- ``suite_defs``: the JSON suites read into ``SuiteDef`` (``load_suites``);
- ``split``: a suite's expectations grouped by the columns they read;
- ``chunks``: a query's rows as fixed-size Arrow tables, then pandas frames;
- ``warehouse``: the read-only connection, the tables' columns, lake globs, type families;
- ``gx``: the great-expectations adapter (``preload``, the ephemeral context);
- ``validation``: one suite on its table, chunk by chunk, aggregated;
- ``checks``: the cross-table, freshness and consistency checks;
- ``docs``: the data-quality page (``templates/data_docs.html.j2``) and GE's own Data Docs.

The names callers import from ``expectations.runner`` (``validate_warehouse``, ``preload``,
``load_suites``, ``CheckReport``, ...) are all importable from here.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sendlens.expectations.checks import (_RULES, _check, _cross_status_vs_log, _feeds_fresh, _freshness_as_of,
                                 _rule_check, _send_log_relation, findings_summary)
from sendlens.expectations.chunks import CHUNK_ROWS
from sendlens.expectations.docs import write_docs
from sendlens.expectations.gx import _GX, preload
from sendlens.expectations.results import (SAMPLE_VALUES, CheckReport, CheckResult, ExpectationOutcome,
                                  Status)
from sendlens.expectations.split import _split  # noqa: F401  (tests import it from here)
from sendlens.expectations.suite_defs import SUITES_DIR, SuiteDef, load_suites
from sendlens.expectations.validation import _run_suite
from sendlens.expectations.warehouse import MART_SCHEMA, STAGING_SCHEMA, _Warehouse, connect

__all__ = [
    "CHUNK_ROWS", "MART_SCHEMA", "SAMPLE_VALUES", "STAGING_SCHEMA", "SUITES_DIR", "CheckReport",
    "CheckResult", "ExpectationOutcome", "Status", "SuiteDef", "SuiteJob", "SuiteSession",
    "connect", "load_suites", "preload", "share_memory", "validate_warehouse", "write_docs",
]


def _naive_utc(ts: datetime) -> datetime:
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    return ts


@dataclass
class SuiteJob:
    """What a process needs to run suites on a built warehouse (picklable: a helper gets it)."""

    db_path: Path
    suites: tuple[str, ...]
    lake_globs: dict[str, str | list[str]] | None = None
    chunk_rows: int = CHUNK_ROWS
    changed: dict[str, tuple[str, str]] | None = None
    memory_limit: str | None = None
    temp_directory: Path | None = None


class SuiteSession:
    """One connection and one great-expectations context that run suites by name."""

    def __init__(self, job: SuiteJob) -> None:
        self.job = job
        self.con = connect(job.db_path, job.memory_limit, job.temp_directory)
        self.wh = _Warehouse(self.con)
        self.defs = {s.name: s for s in load_suites() if s.name in set(job.suites)}
        self.gxr = _GX(self.defs.values())

    def run(self, name: str) -> CheckResult:
        return _run_suite(self.gxr, self.defs[name], self.con, self.wh, self.job.lake_globs,
                          self.job.chunk_rows, self.job.changed)

    def weight(self, name: str) -> int:
        """Rows the suite will read, roughly (tables by DuckDB's estimate; views and lake
        files count as the largest), to hand the biggest suites out first."""
        s = self.defs[name]
        schema, table = ((MART_SCHEMA, s.table) if s.source != "landing"
                         else (STAGING_SCHEMA, f"stg_{s.table}"))
        rows = self.con.execute(
            "select estimated_size from duckdb_tables() where schema_name = ? and table_name = ?",
            [schema, table]).fetchall()
        if not rows or (s.source == "landing" and self.job.lake_globs):
            return 1 << 62
        return int(rows[0][0])

    def close(self) -> None:
        self.con.close()


def validate_warehouse(db_path: Path, *, as_of: datetime,
                       lake_globs: dict[str, str | list[str]] | None = None,
                       chunk_rows: int = CHUNK_ROWS, docs_dir: Path | None = None,
                       suites: Iterable[str] | None = None,
                       changed: dict[str, tuple[str, str]] | None = None,
                       memory_limit: str | None = None,
                       temp_directory: Path | None = None,
                       helper: Any = None, dbt_tests: list[dict] | None = None) -> CheckReport:
    """Run every suite (or only ``suites``, by name) and the cross-table checks (always).

    ``as_of`` is the build's knowledge instant (naive = UTC). ``lake_globs`` maps a landed
    kind to a Parquet glob (or a list of globs) to validate instead of ``staging.stg_<kind>``
    (an incremental build passes the batches landed since the published build). ``changed`` maps a
    suite's table to a key column and the table of its recomputed values (an incremental
    build's, e.g. fct_message_status -> (message_id, intermediate.int_changed_messages)): that
    table is then validated on those keys only. ``memory_limit`` and ``temp_directory`` bound
    the suites' DuckDB connection like the build's (DuckDB's default is 80% of RAM). With
    ``helper`` (an ``expectations.helper.SuiteHelper``), a second process takes suites from
    the same queue, biggest first, and the memory limit is shared between the two. With
    ``docs_dir``, the data-quality page is written there: a self-contained ``index.html`` of
    every gate (``dbt_tests``, the build's dbt tests as sendlens.dbt_runner.test_results gives
    them; these suites and checks; the findings of marts.rpt_data_quality_findings) and, in
    ``great_expectations/``, GE's own Data Docs of the suites' results.
    """
    started = time.monotonic()
    db_path = Path(db_path)
    if not db_path.exists():
        raise FileNotFoundError(f"no DuckDB warehouse at {db_path}")
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be positive")
    as_of = _naive_utc(as_of)
    defs = load_suites()
    if suites is not None:
        wanted = set(suites)
        unknown = wanted - {s.name for s in defs}
        if unknown:
            raise ValueError(f"unknown suites: {', '.join(sorted(unknown))}")
        defs = [s for s in defs if s.name in wanted]

    shared = helper is not None and len(defs) > 1
    job = SuiteJob(db_path, tuple(s.name for s in defs), lake_globs, chunk_rows, changed,
                   share_memory(memory_limit, 2) if shared else memory_limit, temp_directory)
    session = SuiteSession(job)
    effective_limit = session.con.execute("select current_setting('memory_limit')").fetchall()[0][0]
    try:
        if shared:
            by_name = _run_shared(session, helper, job)
        else:
            by_name = {s.name: session.run(s.name) for s in defs}
        results = [by_name[s.name] for s in defs]
        con, wh = session.con, session.wh
        log = _send_log_relation(con, wh, lake_globs, incremental=bool(changed))
        results.append(_check("cross.fct_message_status_vs_send_log", "cross",
                              _cross_status_vs_log, con, wh, log, as_of,
                              (changed or {}).get("fct_message_status", (None, None))[1]))
        results.append(_check("freshness.rpt_delivery_kpis_as_of", "freshness",
                              _freshness_as_of, con, wh, as_of))
        results.append(_check("freshness.feeds", "freshness", _feeds_fresh, con, wh))
        for table, rules in _RULES.items():
            results.append(_check(f"consistency.{table}", "consistency",
                                  _rule_check, con, wh, table, rules))
        findings = findings_summary(con, wh) if docs_dir is not None else None
    finally:
        session.close()
    report = CheckReport(results, as_of, db_path, time.monotonic() - started, effective_limit)
    if docs_dir is not None:
        write_docs(report, Path(docs_dir), suites=defs, dbt_tests=dbt_tests, findings=findings)
    return report


def _run_shared(session: SuiteSession, helper: Any, job: SuiteJob) -> dict[str, CheckResult]:
    """This process and the helper take suites from one queue, biggest first. If the helper
    fails, the suite it held goes back on the queue and this process finishes the work."""
    queue = sorted(job.suites, key=session.weight, reverse=True)
    lock = threading.Lock()
    out: dict[str, CheckResult] = {}

    def take() -> str | None:
        with lock:
            return queue.pop(0) if queue else None

    def feed(name: str | None) -> None:
        try:
            helper.open(job)
            while name is not None:
                out[name] = helper.run(name)
                name = take()
            helper.release()
        except Exception:  # the helper is gone: give its suite back
            if name is not None:
                with lock:
                    queue.insert(0, name)

    # the helper (started early, warm) takes the biggest suite; this process the next ones
    feeder = threading.Thread(target=feed, args=(take(),), name="suite-helper-feeder", daemon=True)
    feeder.start()
    while True:
        while (name := take()) is not None:
            out[name] = session.run(name)
        feeder.join()
        if not queue:
            return out


def share_memory(limit: str | None, parts: int) -> str | None:
    """A DuckDB memory limit ("12GB", "512MB", "6GiB") split between ``parts`` connections;
    limits in other forms (a percentage) are kept as they are."""
    if not limit:
        return limit
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?\s*", limit, re.IGNORECASE)
    if m is None:
        return limit
    base = 1024 if m.group(3) else 1000
    power = " KMGT".index((m.group(2) or " ").upper())
    each = float(m.group(1)) * base ** power / parts
    return f"{max(1, int(each / 1000 ** 2))}MB"
