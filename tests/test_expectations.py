"""Data-quality suites and runner (expectations/): a small real DuckDB warehouse per test."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from sendlens.expectations import suite_builder
from sendlens.expectations.runner import CheckReport, load_suites, validate_warehouse
from sendlens.ingest.contracts import CONTRACTS

AS_OF = datetime(2026, 1, 8, 0, 0, 0)

MARTS = ["fct_message_status", "fct_message_status_history", "dash_delivery_kpis",
         "rpt_delivery_kpis", "rpt_kpi_reconciliation", "rpt_delivery_kpis_hourly",
         "dim_address_quarantine", "fct_profile_history", "rpt_confirmation_audit"]

# A consistent little warehouse: delivery d1 (standard, email) with four messages: m1
# delivered, m2 hard-bounced, m3 prepared but never relayed, m4 relayed after as_of.
WAREHOUSE_SQL = """
create schema staging;
create schema marts;

create table staging.stg_deliveries as select * from (values
  ('d1', 'January newsletter', 'email', false, timestamp '2026-01-05 08:00:00', 84.0::double, false,
   null::varchar, true, timestamp '2026-01-05 07:55:00', timestamp '2026-01-05 07:50:00', 'alice', 'b1')
) v(delivery_id, label, channel, is_efs_enabled, contact_at, validity_hours, is_proof,
    parent_delivery_id, requires_confirmation, scheduled_at, confirmed_at, confirmed_by, batch_id);

create table staging.stg_send_log as select * from (values
  ('m1', 'd1', 'p1', 'a@x.test', false, timestamp '2026-01-05 08:01:00', null::timestamp, 'b1'),
  ('m2', 'd1', 'p2', 'b@x.test', false, timestamp '2026-01-05 08:01:00', null, 'b1'),
  ('m3', 'd1', 'p3', 'c@x.test', false, null::timestamp, null, 'b1'),
  ('m4', 'd1', 'p4', 'd@x.test', false, timestamp '2026-01-09 08:01:00', null, 'b1')
) v(message_id, delivery_id, profile_id, address, is_test_profile, relayed_at, expires_at, batch_id);

-- staging renames some contract columns (type -> tracking_type, failure_reason -> failure_reason_raw)
create table staging.stg_feedback as select * from (values
  ('e1', 'm1', timestamp '2026-01-05 08:02:00', timestamp '2026-01-05 08:02:00', 'delivered',
   null::varchar, null::varchar, null::varchar, null::bigint, 1, 'b1'),
  ('e2', 'm2', timestamp '2026-01-05 08:03:00', timestamp '2026-01-05 08:04:00', 'hard_bounce',
   'User unknown', '550', '5.1.1 user unknown', 1, 1, 'b1')
) v(event_id, message_id, event_at, received_at, outcome, failure_reason_raw, smtp_code,
    diagnostic, attempt, copies, batch_id);

create table staging.stg_tracking as select * from (values
  ('t1', 'm1', timestamp '2026-01-05 09:00:00', timestamp '2026-01-05 09:00:00', 'open', null::varchar, 'Mozilla/5.0', 1, 'b1'),
  ('t2', 'm1', timestamp '2026-01-05 09:01:00', timestamp '2026-01-05 09:01:00', 'click', 'https://x.test/a', 'Mozilla/5.0', 1, 'b1')
) v(event_id, message_id, event_at, received_at, tracking_type, url, user_agent, copies, batch_id);

create table marts.fct_message_status as select * from (values
  ('m1', 'd1', 'p1', 'standard', 'sent',   null::varchar, null::varchar,  timestamp '2026-01-05 08:01:00', true),
  ('m1', 'd1', 'p1', 'efs',      'sent',   null,          null,           timestamp '2026-01-05 08:02:00', true),
  ('m2', 'd1', 'p2', 'standard', 'failed', 'hard',        'user unknown', timestamp '2026-01-05 08:03:00', true),
  ('m2', 'd1', 'p2', 'efs',      'failed', 'hard',        'user unknown', timestamp '2026-01-05 08:03:00', true)
) v(message_id, delivery_id, profile_id, reporting_mode, status, failure_type, failure_reason,
    status_at, is_final);

create table marts.fct_message_status_history as select * from (values
  ('m1', 'd1', 'standard', 'sent',    null::varchar, null::varchar, timestamp '2026-01-05 08:01:00', null::timestamp),
  ('m1', 'd1', 'efs',      'pending', null, null,            timestamp '2026-01-05 08:01:00', timestamp '2026-01-05 08:02:00'),
  ('m1', 'd1', 'efs',      'sent',    null, null,            timestamp '2026-01-05 08:02:00', null),
  ('m2', 'd1', 'standard', 'sent',    null, null,            timestamp '2026-01-05 08:01:00', timestamp '2026-01-05 08:03:00'),
  ('m2', 'd1', 'standard', 'failed',  'hard', 'user unknown', timestamp '2026-01-05 08:03:00', null),
  ('m2', 'd1', 'efs',      'pending', null, null,            timestamp '2026-01-05 08:01:00', timestamp '2026-01-05 08:03:00'),
  ('m2', 'd1', 'efs',      'failed',  'hard', 'user unknown', timestamp '2026-01-05 08:03:00', null)
) v(message_id, delivery_id, reporting_mode, status, failure_type, failure_reason, valid_from, valid_to);

create table marts.dash_delivery_kpis as select * from (values
  ('d1', 'standard', timestamp '2026-01-08 00:00:00', 4::bigint, 3::bigint, 1::bigint, 1::bigint,
   0.3333, 0.3333, 1.0, 0.0)
) v(delivery_id, reporting_mode, stats_computed_at, to_deliver, sent, delivered, bounces_errors,
    delivered_rate, bounces_errors_rate, open_rate, click_through_rate);

create table marts.rpt_delivery_kpis as select * from (values
  ('d1', 'standard', timestamp '2026-01-08 00:00:00', 4::bigint, 2::bigint, 1::bigint, 1::bigint,
   1::bigint, 0::bigint, 0.5, 0.5, 2::bigint, 1::bigint, 1::bigint, 1::bigint, 1.0, 1.0, 1.0,
   0::bigint, 0::bigint, 0::bigint, 0::bigint, true),
  ('d1', 'efs', timestamp '2026-01-08 00:00:00', 4, 2, 1, 1, 1, 0, 0.5, 0.5, 2, 1, 1, 1, 1.0,
   1.0, 1.0, 0, 0, 0, 0, true)
) v(delivery_id, reporting_mode, as_of, to_deliver, processed, delivered, bounces_errors,
    hard_bounces, soft_bounces, delivered_rate, bounce_rate, opens, unique_opens, clicks,
    unique_clicks, open_rate, click_through_rate, click_to_open_rate, opt_outs, mirror_pages,
    complaints, machine_opens, is_final);

create table marts.rpt_kpi_reconciliation as select * from (values
  ('d1', 'open_rate', 1.0, 1.0, 0.0, []::varchar[]),
  ('d1', 'delivered_rate', 0.3333, 0.5, -0.1667, ['stale snapshot'])
) v(delivery_id, kpi, dashboard_value, report_value, difference, reasons);

create table marts.rpt_delivery_kpis_hourly as select * from (values
  ('d1', 'standard', timestamp '2026-01-05 08:00:00', 2::bigint, 0::bigint, 1.0, 0.0),
  ('d1', 'standard', timestamp '2026-01-05 09:00:00', 1::bigint, 1::bigint, 0.5, 0.5),
  ('d1', 'efs',      timestamp '2026-01-05 08:00:00', 1::bigint, 1::bigint, 0.5, 0.5)
) v(delivery_id, reporting_mode, hour_start, delivered, bounces_errors, delivered_rate,
    bounces_errors_rate);

create table marts.dim_address_quarantine as select * from (values
  ('a@x.test', 'email', 'valid', 0::integer, null::varchar, timestamp '2026-01-05 08:01:00'),
  ('b@x.test', 'email', 'quarantine', 1::integer, 'user unknown', timestamp '2026-01-05 08:03:00')
) v(address, channel, status, error_count, last_reason, status_since);

create table marts.fct_profile_history as select * from (values
  ('p1', 'm1', 'd1', 'January newsletter', 'email', timestamp '2026-01-05 08:01:00', 'sent', true, true, false),
  ('p2', 'm2', 'd1', 'January newsletter', 'email', timestamp '2026-01-05 08:01:00', 'failed', false, false, false),
  ('p3', 'm3', 'd1', 'January newsletter', 'email', null, null, false, false, false)
) v(profile_id, message_id, delivery_id, label, channel, relayed_at, final_status, has_opened,
    has_clicked, has_opted_out);

create table marts.rpt_confirmation_audit as select * from (values
  ('d1', true, 'alice', true, timestamp '2026-01-05 07:55:00', timestamp '2026-01-05 08:01:00', null::varchar)
) v(delivery_id, requires_confirmation, confirmed_by, confirmer_may_start, scheduled_at,
    first_relayed_at, finding);
"""


def _make(path: Path, *extra_sql: str) -> Path:
    con = duckdb.connect(str(path))
    try:
        con.execute(WAREHOUSE_SQL)
        for sql in extra_sql:
            con.execute(sql)
    finally:
        con.close()
    return path


@pytest.fixture(scope="module")
def base_db(tmp_path_factory) -> Path:
    return _make(tmp_path_factory.mktemp("wh") / "base.duckdb")


@pytest.fixture
def variant(base_db, tmp_path):
    """A copy of the valid warehouse with some SQL applied."""
    def make(*sql: str) -> Path:
        path = tmp_path / "variant.duckdb"
        shutil.copy(base_db, path)
        con = duckdb.connect(str(path))
        try:
            for s in sql:
                con.execute(s)
        finally:
            con.close()
        return path
    return make


@pytest.fixture(scope="module")
def base_report(base_db, tmp_path_factory) -> tuple[CheckReport, Path]:
    docs = tmp_path_factory.mktemp("docs")
    return validate_warehouse(base_db, as_of=AS_OF, docs_dir=docs), docs


def _failing_lines(report: CheckReport) -> str:
    return "\n".join(f for r in report.results for f in r.failures)


# ---- the suites themselves ---------------------------------------------------------------
def test_suite_json_files_are_up_to_date():
    built = suite_builder.build_suites()
    on_disk = {p.stem for p in suite_builder.SUITES_DIR.glob("*.json")}
    assert on_disk == set(built), "run: python -m sendlens.expectations.suite_builder"
    for name, suite in built.items():
        text = (suite_builder.SUITES_DIR / f"{name}.json").read_text()
        assert text == suite_builder.render(suite), (
            f"{name}.json is out of date: run python -m sendlens.expectations.suite_builder")


def test_one_suite_per_landing_kind_and_public_mart():
    names = {s.name for s in load_suites()}
    assert names == set(CONTRACTS) | set(MARTS)


def test_landing_suites_follow_the_contract():
    suites = {s.name: s for s in load_suites()}
    for kind, c in CONTRACTS.items():
        exps = suites[kind].expectations
        exist = {e["kwargs"]["column"] for e in exps if e["type"] == "expect_column_to_exist"}
        assert exist == set(c.names)
        strict_not_null = {e["kwargs"]["column"] for e in exps
                           if e["type"] == "expect_column_values_to_not_be_null"
                           and "mostly" not in e["kwargs"] and "row_condition" not in e["kwargs"]}
        assert set(c.key) | set(c.required) <= strict_not_null
        for col in c.columns:
            if col.enum:
                assert any(e["type"] == "expect_column_values_to_be_in_set"
                           and e["kwargs"]["column"] == col.name
                           and e["kwargs"]["value_set"] == list(col.enum) for e in exps)


def test_suites_load_in_great_expectations():
    import great_expectations as gx

    for s in load_suites():
        suite = gx.ExpectationSuite(**{k: v for k, v in s.raw.items()})
        assert len(suite.expectations) == len(s.expectations), s.name


# ---- a valid warehouse passes ------------------------------------------------------------
def test_valid_warehouse_passes(base_report):
    report, _ = base_report
    assert report.passed, report.summary()
    by_name = {r.name: r for r in report.results}
    for mart in MARTS:
        assert by_name[mart].status == "passed"
        assert by_name[mart].rows and by_name[mart].rows > 0
    # staging tables present are validated under their contract names (aliases resolved)
    assert by_name["deliveries"].rows == 1 and not by_name["deliveries"].failures
    assert by_name["send_log"].rows == 4
    assert by_name["feedback"].rows == 2 and by_name["tracking"].rows == 2
    assert not by_name["tracking"].warnings  # the click has its URL (row condition on type)
    assert by_name["exclusions"].skipped and "[skipped] suite exclusions" in report.summary()
    cross = by_name["cross.fct_message_status_vs_send_log"]
    assert cross.status == "passed" and cross.details.startswith("2 relayed messages")
    assert by_name["freshness.rpt_delivery_kpis_as_of"].status == "passed"
    # a warning (send_log: 3 of 4 relayed is fine; exclusions absent) never fails a suite
    assert "PASSED" in report.summary().splitlines()[0]


def test_docs_are_written_and_self_contained(base_report):
    report, docs = base_report
    page = (docs / "index.html").read_text()
    assert "fct_message_status" in page and "expect_column_values_to_be_between" in page
    assert "PASSED" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_aware_as_of_is_accepted(base_db):
    aware = AS_OF.replace(tzinfo=timezone.utc)
    report = validate_warehouse(base_db, as_of=aware, suites=[])
    assert report.result("freshness.rpt_delivery_kpis_as_of").status == "passed"


def test_suites_memory_is_bounded_like_the_build(base_db, tmp_path):
    """The suites' DuckDB connection takes the build's memory_limit and temp directory
    (DuckDB's own default is 80% of RAM: a 100M full build's suites grew past 19 GB)."""
    report = validate_warehouse(base_db, as_of=AS_OF, suites=[], memory_limit="1GB",
                                temp_directory=tmp_path / "spill")
    expected = duckdb.connect(config={"memory_limit": "1GB"}).execute(
        "select current_setting('memory_limit')").fetchone()[0]
    assert report.memory_limit == expected
    assert report.memory_limit != validate_warehouse(base_db, as_of=AS_OF, suites=[]).memory_limit
    assert (tmp_path / "spill").is_dir()


# ---- variants that must fail -------------------------------------------------------------
def test_rate_above_one_fails(variant):
    db = variant("update marts.rpt_delivery_kpis set open_rate = 1.2 where reporting_mode = 'efs'")
    report = validate_warehouse(db, as_of=AS_OF)
    assert not report.passed
    assert [r.name for r in report.failed] == ["rpt_delivery_kpis"]
    summary = report.summary()
    assert "suite rpt_delivery_kpis" in summary
    assert "expect_column_values_to_be_between(column='open_rate'" in summary
    assert "1 unexpected of 2 values" in summary and "1.2" in summary


def test_a_failing_suite_tops_the_page_and_gx_data_docs_say_so(variant, tmp_path):
    db = variant("update marts.rpt_delivery_kpis set open_rate = 1.2 where reporting_mode = 'efs'")
    docs = tmp_path / "page"
    validate_warehouse(db, as_of=AS_OF, docs_dir=docs)
    page = (docs / "index.html").read_text()
    assert "<span class='failed'>FAILED (1 FAILURE)</span>" in page
    attention = page[page.index("<h2 id='warnings'>"):page.index("<h2 id='dbt'>")]
    assert "rpt_delivery_kpis" in attention and "open_rate" in attention and "class='failed'" in attention
    assert str(db) not in page and str(tmp_path) not in page
    # great-expectations' own Data Docs of the same result: the suite's validation failed
    [validation] = (docs / "great_expectations" / "validations" / "rpt_delivery_kpis").rglob("*.html")
    text = validation.read_text()
    assert "Failed" in text and "open_rate" in text
    assert "Succeeded" in next((docs / "great_expectations" / "validations" / "fct_message_status").rglob("*.html")).read_text()


def test_negative_count_fails(variant):
    db = variant("update marts.dash_delivery_kpis set bounces_errors = -1")
    report = validate_warehouse(db, as_of=AS_OF)
    assert not report.passed
    assert [r.name for r in report.failed] == ["dash_delivery_kpis"]
    assert ("FAIL dash_delivery_kpis: expect_column_values_to_be_between(column='bounces_errors', "
            "min_value=0): 1 unexpected of 1 values (100.00%), e.g. [-1]") in report.summary()


def test_bad_status_fails(variant):
    db = variant("update marts.fct_message_status set status = 'bounced' where message_id = 'm1'")
    report = validate_warehouse(db, as_of=AS_OF, suites=["fct_message_status"])
    assert not report.passed
    summary = report.summary()
    assert "[FAILED] suite fct_message_status" in summary
    assert "expect_column_values_to_be_in_set(column='status'" in summary
    assert "'bounced'" in summary


def test_failure_type_must_match_status(variant):
    db = variant("update marts.fct_message_status set failure_type = null where message_id = 'm2'"
                 " and reporting_mode = 'efs'",
                 "update marts.fct_message_status set failure_type = 'soft' where message_id = 'm1'")
    report = validate_warehouse(db, as_of=AS_OF, suites=["fct_message_status"])
    lines = _failing_lines(report)
    assert "expect_column_values_to_not_be_null(column='failure_type', where status == 'failed')" in lines
    assert "expect_column_values_to_be_null(column='failure_type', where status != 'failed')" in lines


def test_missing_mart_table_fails(variant):
    db = variant("drop table marts.rpt_delivery_kpis_hourly")
    report = validate_warehouse(db, as_of=AS_OF)
    assert not report.passed
    assert [r.name for r in report.failed] == ["rpt_delivery_kpis_hourly"]
    assert "table marts.rpt_delivery_kpis_hourly missing" in report.summary()


def test_missing_column_and_float_count_fail(variant):
    db = variant("alter table marts.rpt_delivery_kpis drop column machine_opens",
                 "alter table marts.rpt_delivery_kpis alter column opens type double")
    report = validate_warehouse(db, as_of=AS_OF, suites=["rpt_delivery_kpis"])
    lines = _failing_lines(report)
    assert "expect_column_to_exist(column='machine_opens'): column missing" in lines
    assert "sendlens_column_type(column='opens', type='integer'): DuckDB type DOUBLE" in lines


def test_wrong_as_of_fails(base_db):
    report = validate_warehouse(base_db, as_of=datetime(2026, 1, 9), suites=[])
    assert not report.passed
    assert [r.name for r in report.failed] == ["freshness.rpt_delivery_kpis_as_of"]
    summary = report.summary()
    assert "rpt_delivery_kpis.as_of: 2 of 2 rows differ from the build's as_of 2026-01-09 00:00:00" in summary
    assert "2026-01-08 00:00:00" in summary


def test_message_status_rows_per_relayed_message(variant):
    db = variant("delete from marts.fct_message_status where message_id = 'm2' and reporting_mode = 'efs'",
                 "insert into marts.fct_message_status values ('m3', 'd1', 'p3', 'standard', 'sent', "
                 "null, null, timestamp '2026-01-05 08:01:00', true)")
    report = validate_warehouse(db, as_of=AS_OF, suites=[])
    cross = report.result("cross.fct_message_status_vs_send_log")
    assert cross.status == "failed"
    summary = report.summary()
    assert "1 of 2 relayed messages do not have exactly 2 rows" in summary and "['m2']" in summary
    assert "1 messages have a status but were not relayed" in summary and "['m3']" in summary


def test_message_status_needs_one_row_per_mode(variant):
    # two rows, but both standard: the count alone would pass it
    db = variant("update marts.fct_message_status set reporting_mode = 'standard' "
                 "where message_id = 'm1' and reporting_mode = 'efs'")
    report = validate_warehouse(db, as_of=AS_OF, suites=[])
    assert [r.name for r in report.failed] == ["cross.fct_message_status_vs_send_log"]
    assert "1 of 2 relayed messages do not have exactly 2 rows (one per reporting mode), e.g. ['m1']" in report.summary()


def test_kpi_arithmetic(variant):
    db = variant("update marts.rpt_delivery_kpis set processed = 3 where reporting_mode = 'standard'",
                 "update marts.rpt_delivery_kpis_hourly set hour_start = hour_start + interval 5 minute"
                 " where bounces_errors = 0")
    report = validate_warehouse(db, as_of=AS_OF, suites=[])
    failed = {r.name for r in report.failed}
    assert failed == {"consistency.rpt_delivery_kpis", "consistency.rpt_delivery_kpis_hourly"}
    assert "processed = delivered + bounces_errors: 1 of 2 rows" in report.summary()


def test_bad_landing_rows_fail(variant):
    db = variant("update staging.stg_deliveries set validity_hours = 9000, channel = 'fax'",
                 "update staging.stg_tracking set url = null, tracking_type = 'clicked'",
                 "update staging.stg_send_log set relayed_at = timestamp '1999-12-31 23:00:00'"
                 " where message_id = 'm1'")
    report = validate_warehouse(db, as_of=AS_OF, suites=["deliveries", "send_log", "tracking"])
    lines = _failing_lines(report)
    assert "tracking: expect_column_values_to_be_in_set(column='type'" in lines
    assert "'clicked'" in lines
    assert "deliveries: expect_column_values_to_be_between(column='validity_hours'" in lines
    assert "deliveries: expect_column_values_to_be_in_set(column='channel'" in lines
    assert "send_log: expect_column_values_to_be_between(column='relayed_at'" in lines
    assert "1999-12-31 23:00:00" in lines


def test_lake_globs_replace_staging(base_db, tmp_path):
    lake = tmp_path / "lake" / "feedback" / "batch_id=1" / "data"
    lake.mkdir(parents=True)
    con = duckdb.connect()
    con.execute(f"""copy (select * from (values
        ('e1', 'm1', timestamp '2026-01-05 08:02:00', null::timestamp, 'delivered', null::varchar,
         null::varchar, null::varchar, null::bigint),
        ('e2', 'm2', timestamp '2026-01-05 08:03:00', timestamp '2026-01-05 08:03:00', 'bounced',
         'user unknown', '550', '5.1.1', 1),
        ('e3', 'm2', timestamp '2026-01-05 08:04:00', null, 'hard_bounce', null, null, null, null)
      ) v(event_id, message_id, event_at, received_at, outcome, failure_reason, smtp_code,
          diagnostic, attempt)) to '{lake}/part-0.parquet' (format parquet)""")
    con.close()
    glob = str(tmp_path / "lake" / "feedback" / "batch_id=*" / "data" / "*.parquet")
    report = validate_warehouse(base_db, as_of=AS_OF, lake_globs={"feedback": glob},
                                suites=["feedback"])
    fb = report.result("feedback")
    assert fb.rows == 3 and fb.status == "failed" and fb.relation.startswith("lake ")
    assert len(fb.failures) == 1
    assert "expect_column_values_to_be_in_set(column='outcome'" in fb.failures[0]
    assert "'bounced'" in fb.failures[0]
    # a hard bounce without a failure reason is normal (the qualification table qualifies it)
    assert fb.warnings == []


# ---- chunking ----------------------------------------------------------------------------
def test_bad_value_in_last_chunk_is_found(tmp_path):
    db = _make(tmp_path / "big.duckdb",
               "delete from marts.rpt_delivery_kpis_hourly",
               """insert into marts.rpt_delivery_kpis_hourly
                  select 'd1', case when i % 2 = 0 then 'standard' else 'efs' end,
                         timestamp '2026-01-05 00:00:00' + to_hours(i), 1, 0,
                         case when i = 2499 then 1.5 else 1.0 end, 0.0
                  from range(2500) t(i)""")
    report = validate_warehouse(db, as_of=AS_OF, chunk_rows=1000,
                                suites=["rpt_delivery_kpis_hourly"])
    r = report.result("rpt_delivery_kpis_hourly")
    assert r.status == "failed"
    assert "2500 rows in 3 chunks" in r.details
    assert len(r.failures) == 1
    assert "expect_column_values_to_be_between(column='delivered_rate'" in r.failures[0]
    assert "1 unexpected of 2500 values" in r.failures[0] and "1.5" in r.failures[0]


def test_mostly_applies_to_the_whole_table_not_per_chunk(tmp_path):
    # 20 of 2500 send-log rows not relayed, all in the last chunk: 40% of that chunk, <1% of
    # the table, so the mostly=0.5 null-rate warning must not fire.
    db = _make(tmp_path / "mostly.duckdb",
               "delete from staging.stg_send_log",
               """insert into staging.stg_send_log
                  select 'm' || i, 'd1', 'p' || i, 'a' || i || '@x.test', false,
                         case when i >= 2480 then null else timestamp '2026-01-05 08:01:00' end, null, 'b1'
                  from range(2500) t(i)""")
    report = validate_warehouse(db, as_of=AS_OF, chunk_rows=1000, suites=["send_log"])
    r = report.result("send_log")
    assert r.status == "passed" and not r.warnings, r.warnings


def test_null_rate_warning_with_row_condition(variant):
    db = variant("update staging.stg_tracking set url = null")
    report = validate_warehouse(db, as_of=AS_OF, suites=["tracking"])
    r = report.result("tracking")
    assert r.status == "passed" and report.passed  # warnings never fail
    assert any("expect_column_values_to_not_be_null(column='url', mostly=0.9, where type == 'click'):"
               " 1 unexpected of 1 values" in w for w in r.warnings), r.warnings
    assert "warn tracking: " in report.summary()


def test_suites_split_into_parts_that_share_columns():
    # Each expectation is validated on the columns it reads; one with a row condition reads the
    # condition's column too. Every expectation lands in exactly one part.
    from sendlens.expectations.runner import _split

    for suite in load_suites():
        parts = _split(suite.expectations)
        positions = sorted(i for _, members in parts for i in members)
        assert positions == list(range(len(suite.expectations))), suite.name
        for columns, members in parts:
            for i in members:
                exp = suite.expectations[i]
                kwargs = exp["kwargs"]
                if exp["type"] == "expect_column_to_exist":
                    assert columns == frozenset(), (suite.name, i)
                    continue
                assert columns, (suite.name, i)
                read = {kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs}
                if "row_condition" in kwargs:
                    read.add(kwargs["row_condition"]["column"]["name"])
                assert read <= columns, (suite.name, i, read, columns)
    history = next(s for s in load_suites() if s.name == "fct_message_status_history")
    grouped = {cols for cols, _ in _split(history.expectations) if cols}
    assert frozenset({"status", "failure_type"}) in grouped
    assert frozenset({"valid_from", "valid_to"}) in grouped


def test_unreadable_row_condition_validates_on_the_whole_frame():
    from sendlens.expectations.runner import _split

    exps = (
        {"type": "expect_column_to_exist", "kwargs": {"column": "a"}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}},
        {"type": "expect_column_values_to_not_be_null",
         "kwargs": {"column": "b", "row_condition": 'c == "x"', "condition_parser": "pandas"}},
        {"type": "expect_column_values_to_be_in_set",
         "kwargs": {"column": "c", "value_set": ["x"],
                    "row_condition": {"type": "comparison", "column": {"name": "a"},
                                      "operator": "IN", "parameter": ["p", "q"]}}},
    )
    parts = dict((members, cols) for cols, members in _split(exps))
    assert parts == {(0,): frozenset(), (1, 3): frozenset({"a", "c"}), (2,): None}


def _comparable(report: CheckReport) -> list[tuple]:
    return [(r.name, r.status, r.details, r.failures, r.rows, r.warnings, r.expectations)
            for r in report.results]


def test_a_helper_process_shares_the_suites_with_the_same_results(variant):
    from sendlens.expectations.helper import SuiteHelper

    db = variant("update marts.fct_message_status set status = 'bounced' where message_id = 'm1'",
                 "update staging.stg_tracking set url = null")
    alone = validate_warehouse(db, as_of=AS_OF, memory_limit="2GB")
    with SuiteHelper() as helper:
        shared = validate_warehouse(db, as_of=AS_OF, memory_limit="2GB", helper=helper)
        helper_pid = helper.pid
        duckdb.connect(str(db)).close()  # the helper let go of the warehouse: it can be written
    assert helper_pid is not None and helper.ran  # the helper validated some suites ...
    names = {s.name for s in load_suites()}
    assert set(helper.ran) < names  # ... and this process the others
    assert _comparable(shared) == _comparable(alone)
    assert not shared.passed and shared.result("fct_message_status").status == "failed"
    assert shared.result("tracking").warnings  # the null-rate warning survives the trip
    assert shared.memory_limit != alone.memory_limit  # the limit is shared between the two


def test_a_dead_helper_leaves_the_suites_to_this_process(base_db):
    from sendlens.expectations.helper import SuiteHelper

    helper = SuiteHelper()
    helper.kill()
    report = validate_warehouse(base_db, as_of=AS_OF, helper=helper)
    helper.close()
    assert helper.ran == []
    assert report.passed
    assert {r.name for r in report.results if r.kind == "suite"} == {s.name for s in load_suites()}


def test_memory_limit_is_split_between_processes():
    from sendlens.expectations.runner import share_memory

    assert share_memory("12GB", 2) == "6000MB"
    assert share_memory("6GiB", 2) == "3221MB"
    assert share_memory("512MB", 2) == "256MB"
    assert share_memory("80%", 2) == "80%"
    assert share_memory(None, 2) is None
