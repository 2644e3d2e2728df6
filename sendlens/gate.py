"""The gates' results, kept in the warehouse they gated.

A build (or compute-stats) writes what its checks found into its own build file, before the
swap: ``audit.gate_results`` (one row per data-quality check), ``audit.gate_dbt_tests`` (one
row per dbt test of the build, warnings included) and ``audit.gate_documents`` (the
data-quality page and great-expectations' Data Docs, text files by name). So the published warehouse always carries the results of the checks that
let it through, and nothing else: a later build that failed leaves them as they were (its
file is discarded), and ``export`` reads them from the warehouse, never from the scratch
folder.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from sendlens.errors import ChecksFailed

RESULTS = "audit.gate_results"
DOCUMENTS = "audit.gate_documents"
DBT_TESTS = "audit.gate_dbt_tests"
DBT_TEST_COLUMNS = ("name", "unique_id", "model", "column", "description", "severity", "status",
                    "failures", "message")


@dataclass(frozen=True)
class GateRecord:
    gate: str                  # "build" or "compute-stats"
    checks: list[dict]         # {name, status, details}
    recorded_at: datetime
    as_of: datetime | None
    documents: dict[str, str]  # file name under data-quality/ -> its text
    # the dbt tests of the run the gate followed (sendlens.dbt_runner.test_results)
    dbt_tests: list[dict] = field(default_factory=list)


def run_suites(db: Path, *, as_of: datetime, failed: str, memory_limit: str | None = None,
               temp_directory: Path | None = None, **options: Any) -> list[dict] | None:
    """The one way a gate runs the data-quality suites (expectations/) on a DuckDB file: the
    checks as {name, status, details}, or ChecksFailed (first line ``failed``) when any failed;
    None when the suites are not installed (dbt's tests alone gate). ``options`` go to
    validate_warehouse (docs_dir, lake_globs, changed, helper, suites)."""
    try:
        with warnings.catch_warnings():  # great-expectations imports pyspark, which warns about pandas 3
            warnings.simplefilter("ignore", FutureWarning)
            from sendlens.expectations.runner import validate_warehouse
    except ImportError:
        return None
    report = validate_warehouse(db, as_of=as_of, memory_limit=memory_limit,
                                temp_directory=temp_directory, **options)
    checks = [{"name": r.name, "status": r.status, "details": r.details,
               **({"warnings": list(r.warnings)} if r.warnings else {})} for r in report.results]
    if not report.passed:
        raise ChecksFailed(f"{failed}\n" + report.summary())
    return checks


def record(db_path: Path, rec: GateRecord) -> None:
    """Write ``rec`` into the build file at ``db_path``. A build replaces every earlier result;
    compute-stats replaces only those of the checks it ran again (and its page)."""
    con = duckdb.connect(str(db_path))
    try:
        con.execute("create schema if not exists audit")
        con.execute(f"create table if not exists {RESULTS} (gate varchar, check_name varchar, "
                    "status varchar, details varchar, as_of timestamp, recorded_at timestamp)")
        con.execute(f"create table if not exists {DOCUMENTS} (gate varchar, name varchar, "
                    "content varchar, recorded_at timestamp)")
        con.execute(f"create table if not exists {DBT_TESTS} (gate varchar, test_name varchar, "
                    "unique_id varchar, model varchar, column_name varchar, description varchar, "
                    "severity varchar, status varchar, failures bigint, message varchar, "
                    "as_of timestamp, recorded_at timestamp)")
        con.execute("begin")
        if rec.gate == "build":
            con.execute(f"delete from {RESULTS}")
            con.execute(f"delete from {DOCUMENTS}")
            con.execute(f"delete from {DBT_TESTS}")
        else:
            names = [c["name"] for c in rec.checks]
            con.execute(f"delete from {RESULTS} where list_contains(?, check_name)", [names])
            con.execute(f"delete from {DOCUMENTS} where gate = ?", [rec.gate])
            con.execute(f"delete from {DBT_TESTS} where list_contains(?, unique_id)",
                        [[t["unique_id"] for t in rec.dbt_tests]])
        con.executemany(
            f"insert into {RESULTS} values (?, ?, ?, ?, ?, ?)",
            [[rec.gate, c["name"], c["status"], _details(c.get("details")), rec.as_of, rec.recorded_at]
             for c in rec.checks])
        con.executemany(f"insert into {DOCUMENTS} values (?, ?, ?, ?)",
                        [[rec.gate, name, text, rec.recorded_at] for name, text in rec.documents.items()])
        con.executemany(f"insert into {DBT_TESTS} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [[rec.gate, *(t.get(c) for c in DBT_TEST_COLUMNS), rec.as_of, rec.recorded_at]
                         for t in rec.dbt_tests])
        con.execute("commit")
    finally:
        con.close()


def read(con: duckdb.DuckDBPyConnection) -> tuple[list[dict], dict[str, str]] | None:
    """The published gates' checks and documents, or None for a warehouse built before they
    were kept (its checks are unknown)."""
    tables = {r[0] for r in con.execute(
        "select schema_name || '.' || table_name from duckdb_tables()").fetchall()}
    if RESULTS not in tables:
        return None
    checks = [{"name": n, "status": s, "details": d, "gate": g} for g, n, s, d in con.execute(
        f"select gate, check_name, status, details from {RESULTS} order by gate, check_name").fetchall()]
    docs = dict(con.execute(f"select name, content from {DOCUMENTS} order by name").fetchall()) \
        if DOCUMENTS in tables else {}
    return checks, docs


def read_dbt_tests(con: duckdb.DuckDBPyConnection) -> list[dict] | None:
    """The dbt tests of the published build (and of a later compute-stats), as recorded, or
    None for a warehouse built before they were kept."""
    if not con.execute("select count(*) from duckdb_tables() where schema_name = 'audit' "
                       "and table_name = 'gate_dbt_tests'").fetchone()[0]:
        return None
    rows = con.execute(f"select gate, test_name, unique_id, model, column_name, description, severity, "
                       f"status, failures, message from {DBT_TESTS} order by model, test_name").fetchall()
    return [dict(zip(("gate", *DBT_TEST_COLUMNS), r)) for r in rows]


def read_documents(docs_dir: Path) -> dict[str, str]:
    """The data-quality page files a gate wrote (``index.html``), by name."""
    if not docs_dir.is_dir():
        return {}
    return {str(p.relative_to(docs_dir)): p.read_text(encoding="utf-8")
            for p in sorted(docs_dir.rglob("*")) if p.is_file()}


def _details(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str)
