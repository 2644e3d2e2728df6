"""The same dbt models on Apache Spark (dbt-spark, PySpark in-process) as on DuckDB: a generated
sample built on both engines at the same as_of gives every public mart equal row for row, and
the dbt unit tests (the seed's tables, one case per status rule) pass on Spark too.

Needs the optional extra (`pip install -e '.[spark]'`, which `make test` installs) and Java 17;
skipped otherwise. Spark runs on two cores with two shuffle partitions: the sample is small
and the time goes into Spark's per-query overhead, not into data.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from sendlens import pipeline
from sendlens.config import load_settings, parse_timestamp

pytestmark = pytest.mark.spark

MESSAGES = 2_500
SEED = 11
# Mid-flight: efs messages still pending, some validity periods over, tracking inside and
# outside the report window, the dashboard's hourly lag (a partial hour).
AS_OF = "2026-01-07T10:30:00Z"
UNIT_TESTS = 16  # models/intermediate/_unit_tests.yml (15) and _qualification_unit_tests.yml (1)
# Email-service-provider exports land beside the canonical batches (lake/esp/): the lake scan
# reads both folders in one pass on Spark, matched by column name.
ESP_FIXTURES = Path(__file__).parent / "fixtures" / "esp"
ESP_FILES = (("sendgrid", "sendgrid.json"), ("ses", "ses.jsonl"))


def _spark_ready() -> str | None:
    try:
        from sendlens.spark import SparkUnavailable, check_requirements
        check_requirements()
    except SparkUnavailable as exc:
        return str(exc)
    return None


_why_not = _spark_ready()
if _why_not:
    pytest.skip(_why_not, allow_module_level=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One sample, built by DuckDB then by Spark (with the dbt unit tests) at the same as_of."""
    home = tmp_path_factory.mktemp("spark") / "home"
    settings = load_settings(home)
    settings.threads = 2
    settings.spark_master = "local[2]"
    settings.spark_shuffle_partitions = 2
    paths = pipeline.generate(home.parent / "sample", MESSAGES, SEED)
    for kind in pipeline.INGEST_ORDER:
        pipeline.ingest(settings, kind, [paths[kind]])
    for source, name in ESP_FILES:
        pipeline.ingest(settings, "", [ESP_FIXTURES / name], source=source)
    as_of = parse_timestamp(AS_OF)
    duck = pipeline.build(settings, as_of)
    duck_mtime = settings.warehouse.stat().st_mtime_ns
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sendlens.commands.build.DBT_BUILD_EXCLUDE", [])  # unit tests too, in the same Spark session
        spark = pipeline.build(settings, as_of, engine="spark")
    print(f"\n{MESSAGES} messages: DuckDB build {duck.seconds:.1f}s, Spark build {spark.seconds:.1f}s")
    return settings, duck, spark, duck_mtime


# ---- comparison helpers --------------------------------------------------------------------
def _family(duckdb_type: str) -> str:
    t = duckdb_type.upper()
    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
             "UINTEGER", "UBIGINT") or t.startswith("DECIMAL(") and t.endswith(",0)"):
        return "integer"
    if t in ("DOUBLE", "FLOAT", "REAL") or t.startswith("DECIMAL"):
        return "float"
    if t.startswith("TIMESTAMP"):
        return "timestamp"
    return t  # VARCHAR, BOOLEAN, DATE, lists...


def _value(v):
    if isinstance(v, datetime) and v.tzinfo is not None:
        return v.astimezone(timezone.utc).replace(tzinfo=None)
    if isinstance(v, Decimal):
        return float(v)
    return v


def _sort_key(row: tuple) -> tuple:
    # floats rounded so that a last-bit difference between engines cannot reorder rows
    return tuple((v is None, round(v, 9) if isinstance(v, float) else ("" if v is None else str(v)))
                 for v in row)


def _equal(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _relation(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[str], list[tuple]]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    rows = sorted((tuple(_value(v) for v in r) for r in cur.fetchall()), key=_sort_key)
    types = [r[1] for r in con.execute(f"describe {sql}").fetchall()]
    return names, types, rows


def _public_marts(settings) -> list[str]:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' "
            "order by table_name").fetchall()]
    finally:
        con.close()


# ---- tests ---------------------------------------------------------------------------------
def test_every_public_mart_is_published_as_parquet(built):
    settings, _, spark, _ = built
    assert spark.warehouse == settings.spark_marts
    published = sorted(p.name for p in settings.spark_marts.iterdir() if p.is_dir())
    assert published == _public_marts(settings)
    for table in published:
        assert list((settings.spark_marts / table).glob("*.parquet")), table
    # the data-quality suites ran on the Spark marts too, and passed
    assert spark.checks and all(c["status"] == "passed" for c in spark.checks), spark.checks
    # nothing left behind in the work folder
    assert not list(settings.staging_dir.glob("spark-marts-*"))
    assert not list(settings.staging_dir.glob("spark-check-*"))


def test_duckdb_warehouse_untouched_by_spark_build(built):
    settings, duck, _, duck_mtime = built
    assert duck.warehouse == settings.warehouse
    assert settings.warehouse.stat().st_mtime_ns == duck_mtime


def test_sample_exercises_the_models(built):
    """The comparison means something: the sample has every status, machine opens, several
    quarantine states, findings, recurring parents and hourly rows."""
    settings = built[0]
    m = settings.spark_marts
    con = duckdb.connect()
    try:
        statuses = {r[0] for r in con.execute(
            f"select distinct status from read_parquet('{m}/fct_message_status/*.parquet')").fetchall()}
        assert statuses == {"pending", "sent", "failed"}
        kpis = con.execute(f"select sum(machine_opens), sum(click_implied_opens), sum(hard_bounces), "
                           f"sum(soft_bounces) from read_parquet('{m}/rpt_delivery_kpis/*.parquet')").fetchone()
        assert all(v > 0 for v in kpis), kpis
        messages = con.execute(
            f"select count(*) from read_parquet('{m}/fct_profile_history/*.parquet')").fetchone()[0]
        assert messages > MESSAGES  # the generated sample and the ESP exports' messages
        quarantine = con.execute(f"select count(distinct status) from "
                                 f"read_parquet('{m}/dim_address_quarantine/*.parquet')").fetchone()[0]
        assert quarantine >= 3
        for table in ("rpt_data_quality_findings", "rpt_kpi_reconciliation", "rpt_delivery_kpis_hourly",
                      "fct_address_quarantine_history", "rpt_delivery_engagement_hourly"):
            assert con.execute(f"select count(*) from read_parquet('{m}/{table}/*.parquet')").fetchone()[0] > 0, table
    finally:
        con.close()


def test_every_public_mart_equal_row_for_row(built):
    settings = built[0]
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"attach '{settings.warehouse}' as duck (read_only)")
    problems: list[str] = []
    try:
        for table in _public_marts(settings):
            d_names, d_types, d_rows = _relation(con, f"select * from duck.marts.{table}")
            s_names, s_types, s_rows = _relation(
                con, f"select * from read_parquet('{settings.spark_marts / table}/*.parquet')")
            if d_names != s_names:
                problems.append(f"{table}: columns {d_names} (duckdb) != {s_names} (spark)")
                continue
            families = [(n, a, b) for n, a, b in zip(d_names, d_types, s_types) if _family(a) != _family(b)]
            if families:
                problems.append(f"{table}: column types differ {families}")
            if len(d_rows) != len(s_rows):
                problems.append(f"{table}: {len(d_rows)} rows (duckdb) != {len(s_rows)} (spark)")
                continue
            for d, s in zip(d_rows, s_rows):
                if not all(_equal(a, b) for a, b in zip(d, s)):
                    diff = {n: (a, b) for n, a, b in zip(d_names, d, s) if not _equal(a, b)}
                    problems.append(f"{table}: first differing row {dict(zip(d_names, d))}: {diff}")
                    break
    finally:
        con.close()
    assert not problems, "\n".join(problems)


def test_dbt_unit_tests_pass_on_spark(built):
    settings = built[0]
    results = json.loads((settings.staging_dir / "dbt-spark" / "target" / "run_results.json").read_text())
    unit = [r for r in results["results"] if r["unique_id"].startswith("unit_test.")]
    assert len(unit) >= UNIT_TESTS
    assert all(r["status"] == "pass" for r in unit), [(r["unique_id"], r["status"]) for r in unit]
    tests = [r for r in results["results"] if r["unique_id"].startswith("test.")]
    assert tests and all(r["status"] in ("pass", "warn") for r in tests)


def test_unknown_engine_is_refused(tmp_path):
    with pytest.raises(pipeline.SendlensError, match="unknown engine"):
        pipeline.build(load_settings(tmp_path / "home"), engine="postgres")


def test_cli_accepts_engine():
    from sendlens.cli import build_parser

    assert build_parser().parse_args(["build", "--engine", "spark"]).engine == "spark"
    assert build_parser().parse_args(["build"]).engine == "duckdb"
