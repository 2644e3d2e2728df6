"""Tests of the reports package: exported CSV/Parquet/Excel/HTML from a small real warehouse."""

from __future__ import annotations

import ast
import re
import zipfile
from pathlib import Path

import duckdb
import pytest

from reports import ExportResult, export_reports, mask_address
from reports.charts import Bar, Series, hbar_chart, line_chart

REPORTS_DIR = Path(__file__).resolve().parents[1] / "reports"

# (delivery_id, label, channel, own mode, sent)
DELIVERIES = [
    ("D-1001", "January newsletter", "email", "standard", 1200),
    ("D-1002", "Flash sale <48h> & more", "email", "efs", 800),
    ("D-1003", "Appointment reminder", "sms", "standard", 300),
]

TABLES = {
    # message x mode
    "fct_message_status": """
        WITH m(message_id, delivery_id, profile_id, std_status, efs_status, failure_type, failure_reason,
               status_at) AS (VALUES
          ('M1', 'D-1001', 'P1', 'sent',   'sent',    NULL,   NULL,           TIMESTAMP '2026-01-05 08:01:00'),
          ('M2', 'D-1001', 'P2', 'failed', 'failed',  'hard', 'user unknown', TIMESTAMP '2026-01-05 08:03:00'),
          ('M3', 'D-1001', 'P3', 'sent',   'failed',  'soft', 'mailbox full', TIMESTAMP '2026-01-05 09:00:00'),
          ('M4', 'D-1002', 'P1', 'sent',   'pending', NULL,   NULL,           TIMESTAMP '2026-01-06 10:00:00'),
          ('M5', 'D-1002', 'P4', 'failed', 'failed',  'soft', 'invalid domain', TIMESTAMP '2026-01-06 11:00:00'),
          ('M6', 'D-1003', 'P5', 'sent',   'sent',    NULL,   NULL,           TIMESTAMP '2026-01-07 07:00:00'))
        SELECT message_id, delivery_id, profile_id, mode AS reporting_mode,
               CASE mode WHEN 'standard' THEN std_status ELSE efs_status END AS status,
               CASE WHEN (CASE mode WHEN 'standard' THEN std_status ELSE efs_status END) = 'failed'
                    THEN failure_type END AS failure_type,
               CASE WHEN (CASE mode WHEN 'standard' THEN std_status ELSE efs_status END) = 'failed'
                    THEN failure_reason END AS failure_reason,
               status_at, delivery_id <> 'D-1003' AS is_final
        FROM m CROSS JOIN (VALUES ('standard'), ('efs')) AS modes(mode)
    """,
    "fct_message_status_history": """
        SELECT * FROM (VALUES
          ('M2', 'D-1001', 'standard', 'sent',    NULL,   NULL,           TIMESTAMP '2026-01-05 08:00:00', TIMESTAMP '2026-01-05 08:03:00'),
          ('M2', 'D-1001', 'standard', 'failed',  'hard', 'user unknown', TIMESTAMP '2026-01-05 08:03:00', NULL),
          ('M2', 'D-1001', 'efs',      'pending', NULL,   NULL,           TIMESTAMP '2026-01-05 08:00:00', TIMESTAMP '2026-01-05 08:03:00'),
          ('M2', 'D-1001', 'efs',      'failed',  'hard', 'user unknown', TIMESTAMP '2026-01-05 08:03:00', NULL))
        AS t(message_id, delivery_id, reporting_mode, status, failure_type, failure_reason, valid_from, valid_to)
    """,
    "dash_delivery_kpis": """
        SELECT * FROM (VALUES
          ('D-1001', 'standard', TIMESTAMP '2026-01-08 12:00:00', 1250, 1200, 1150, 50,  0.9583, 0.0417, 0.2210, 0.0310),
          ('D-1002', 'efs',      TIMESTAMP '2026-01-06 18:00:00', 820,  800,  700,  60,  0.8750, 0.0750, 0.1500, 0.0200),
          ('D-1003', 'standard', TIMESTAMP '2026-01-07 09:00:00', 300,  300,  297,  3,   0.9900, 0.0100, NULL,   NULL))
        AS t(delivery_id, reporting_mode, stats_computed_at, to_deliver, sent, delivered,
             bounces_errors, delivered_rate, bounces_errors_rate, open_rate, click_through_rate)
    """,
    "rpt_delivery_kpis": """
        SELECT delivery_id, reporting_mode, TIMESTAMP '2026-01-10 00:00:00' AS as_of, to_deliver, processed,
               delivered, bounces_errors, hard_bounces, soft_bounces,
               delivered / processed AS delivered_rate, bounces_errors / processed AS bounce_rate,
               opens, unique_opens, clicks, unique_clicks, unique_opens / delivered AS open_rate,
               unique_clicks / delivered AS click_through_rate, unique_clicks / unique_opens AS click_to_open_rate,
               opt_outs, mirror_pages, complaints, machine_opens, is_final
        FROM (VALUES
          ('D-1001', 'standard', 1250, 1200.0, 1140.0, 60, 35, 25, 310, 280.0, 52, 40.0, 4, 2, 1, 30, TRUE),
          ('D-1001', 'efs',      1250, 1200.0, 1140.0, 60, 35, 25, 310, 280.0, 52, 40.0, 4, 2, 1, 30, TRUE),
          ('D-1002', 'standard', 820,  800.0,  730.0,  70, 20, 50, 150, 130.0, 25, 20.0, 1, 0, 0, 12, TRUE),
          ('D-1002', 'efs',      820,  800.0,  730.0,  70, 20, 50, 150, 130.0, 25, 20.0, 1, 0, 0, 12, TRUE),
          ('D-1003', 'standard', 300,  300.0,  297.0,  3,  3,  0,  0,   1.0,   0,  0.0,  0, 0, 0, 0,  FALSE),
          ('D-1003', 'efs',      300,  299.0,  296.0,  3,  3,  0,  0,   1.0,   0,  0.0,  0, 0, 0, 0,  FALSE))
        AS t(delivery_id, reporting_mode, to_deliver, processed, delivered, bounces_errors, hard_bounces,
             soft_bounces, opens, unique_opens, clicks, unique_clicks, opt_outs, mirror_pages, complaints,
             machine_opens, is_final)
    """,
    "rpt_kpi_reconciliation": """
        SELECT * FROM (VALUES
          ('D-1001', 'delivered_rate', 0.9583, 0.9500, -0.0083, 'stale snapshot; late events'),
          ('D-1001', 'open_rate', 0.2210, 0.2456, 0.0246, 'hourly lag; click-implied opens; machine opens'),
          ('D-1001', 'open_rate_excl_machine', 0.2210, 0.2100, -0.0110, 'machine opens'),
          ('D-1001', 'sent', 1200.0, 1200.0, 0.0, NULL),
          ('D-1002', 'delivered', 700.0, 730.0, 30.0, 'stale snapshot'),
          ('D-1002', 'click_through_rate', 0.0200, 0.0274, 0.0074, 'duplicates removed; report window'),
          ('D-1003', 'delivered_rate', 0.9900, 0.9900, 0.0, NULL))
        AS t(delivery_id, kpi, dashboard_value, report_value, difference, reasons)
    """,
    # 84 hourly points per delivery and mode: standard starts at 100% and decreases, efs starts at 0%.
    "rpt_delivery_kpis_hourly": """
        WITH d(delivery_id, start_at, sent, hard, soft_final, soft_peak) AS (VALUES
          ('D-1001', TIMESTAMP '2026-01-05 08:00:00', 1200, 0.030, 0.020, 0.060),
          ('D-1002', TIMESTAMP '2026-01-06 10:00:00', 800,  0.025, 0.062, 0.110),
          ('D-1003', TIMESTAMP '2026-01-07 07:00:00', 300,  0.010, 0.000, 0.005)),
        h AS (SELECT d.*, m.mode, r.h FROM d CROSS JOIN (VALUES ('standard'), ('efs')) m(mode)
              CROSS JOIN range(0, 84) r(h)),
        c AS (SELECT *,
                hard * (1 - exp(-h / 1.5)) AS hard_known,
                soft_peak * (1 - exp(-h / 2.0)) * exp(-h / 30.0)
                  + soft_final * (1 - exp(-h / 2.0)) * (1 - exp(-h / 30.0)) AS soft_open,
                1 - exp(-(h + 1) / 1.2) AS reported
              FROM h)
        SELECT delivery_id, mode AS reporting_mode, start_at + h * INTERVAL 1 HOUR AS hour_start,
          CAST(round(sent * CASE mode WHEN 'standard'
               THEN 1 - hard_known - CASE WHEN h >= 83 THEN soft_final ELSE 0 END
               ELSE greatest(reported - hard_known - soft_open, 0) END) AS BIGINT) AS delivered,
          CAST(round(sent * CASE mode WHEN 'standard'
               THEN hard_known + CASE WHEN h >= 83 THEN soft_final ELSE 0 END
               ELSE hard_known + soft_open END) AS BIGINT) AS bounces_errors,
          CASE mode WHEN 'standard' THEN 1 - hard_known - CASE WHEN h >= 83 THEN soft_final ELSE 0 END
               ELSE greatest(reported - hard_known - soft_open, 0) END AS delivered_rate,
          CASE mode WHEN 'standard' THEN hard_known + CASE WHEN h >= 83 THEN soft_final ELSE 0 END
               ELSE hard_known + soft_open END AS bounces_errors_rate
        FROM c
    """,
    "dim_address_quarantine": """
        SELECT * FROM (VALUES
          ('john.doe@gmail.com',   'email', 'quarantine', 1, 'user unknown',   TIMESTAMP '2026-01-05 08:03:00'),
          ('anna@example.org',     'email', 'erroneous',  2, 'mailbox full',   TIMESTAMP '2026-01-05 09:00:00'),
          ('bob@mail.example.com', 'email', 'valid',      0, NULL,             TIMESTAMP '2026-01-06 10:00:00'),
          ('spam.hater@yahoo.com', 'email', 'denylisted', 0, 'complaint',      TIMESTAMP '2026-01-06 12:00:00'),
          ('+31612345689',         'sms',   'quarantine', 5, 'unreachable',    TIMESTAMP '2026-01-07 07:00:00'),
          ('+31698765432',         'sms',   'valid',      0, NULL,             TIMESTAMP '2026-01-07 07:00:00'))
        AS t(address, channel, status, error_count, last_reason, status_since)
    """,
    "fct_profile_history": """
        SELECT * FROM (VALUES
          ('P1', 'M1', 'D-1001', 'January newsletter', 'email', TIMESTAMP '2026-01-05 08:00:00', 'sent', TRUE, TRUE, FALSE, 'john.doe@gmail.com'),
          ('P2', 'M2', 'D-1001', 'January newsletter', 'email', TIMESTAMP '2026-01-05 08:00:00', 'failed', FALSE, FALSE, FALSE, 'x@y.nl'),
          ('P1', 'M4', 'D-1002', 'Flash sale <48h> & more', 'email', TIMESTAMP '2026-01-06 10:00:00', 'sent', TRUE, FALSE, TRUE, 'john.doe@gmail.com'),
          ('P5', 'M6', 'D-1003', 'Appointment reminder', 'sms', TIMESTAMP '2026-01-07 07:00:00', 'sent', FALSE, FALSE, FALSE, '+31612345689'))
        AS t(profile_id, message_id, delivery_id, label, channel, relayed_at, final_status, has_opened,
             has_clicked, has_opted_out, recipient_address)
    """,
    "rpt_confirmation_audit": """
        SELECT *, date_diff('second', scheduled_at, first_relayed_at) AS start_lag_seconds FROM (VALUES
          ('D-1001', 'January newsletter', TRUE,  'alice', TRUE,  TIMESTAMP '2026-01-05 08:00:00', TIMESTAMP '2026-01-05 08:01:00', NULL),
          ('D-1002', 'Flash sale <48h> & more', TRUE,  'bob',   FALSE, TIMESTAMP '2026-01-06 10:00:00', TIMESTAMP '2026-01-06 10:25:00',
           'confirmed_by_operator_without_start_deliveries'),
          ('D-1003', 'Appointment reminder', TRUE,  NULL,    NULL,  TIMESTAMP '2026-01-07 06:00:00', TIMESTAMP '2026-01-07 07:00:00',
           'sent_without_required_confirmation; started_before_confirmation'))
        AS t(delivery_id, label, requires_confirmation, confirmed_by, confirmer_may_start, scheduled_at,
             first_relayed_at, finding)
    """,
    "rpt_delivery_failure_reasons": """
        SELECT delivery_id, mode AS reporting_mode, failure_type, failure_reason, messages
        FROM (VALUES
          ('D-1001', 'hard', 'user unknown', 30), ('D-1001', 'soft', 'mailbox full', 20),
          ('D-1001', 'hard', 'quarantined address', 5), ('D-1001', 'soft', 'invalid domain', 5),
          ('D-1002', 'soft', 'invalid domain', 40), ('D-1002', 'hard', 'user unknown', 20),
          ('D-1002', 'soft', 'refused', 10), ('D-1003', 'ignored', 'not connected', 3))
        AS t(delivery_id, failure_type, failure_reason, messages)
        CROSS JOIN (VALUES ('standard'), ('efs')) m(mode)
    """,
    "rpt_delivery_domains": """
        SELECT delivery_id, mode AS reporting_mode, recipient_domain, sent, delivered, bounces_errors,
               delivered / (delivered + bounces_errors) AS delivered_rate,
               bounces_errors / (delivered + bounces_errors) AS bounce_rate,
               unique_opens, unique_opens / delivered AS open_rate
        FROM (VALUES ('D-1001', 'gmail.com', 600, 580.0, 20.0, 150), ('D-1001', 'outlook.com', 400, 370.0, 30.0, 90),
                     ('D-1001', 'yahoo.com', 200, 190.0, 10.0, 40), ('D-1002', 'gmail.com', 500, 470.0, 30.0, 90),
                     ('D-1002', 'orange.fr', 300, 260.0, 40.0, 40))
        AS t(delivery_id, recipient_domain, sent, delivered, bounces_errors, unique_opens)
        CROSS JOIN (VALUES ('standard'), ('efs')) m(mode)
    """,
    "rpt_exclusion_causes": """
        SELECT * FROM (VALUES ('D-1001', 'quarantined', 35), ('D-1001', 'duplicate', 12),
                              ('D-1002', 'denylisted', 4), ('D-1003', 'address_empty', 2))
        AS t(delivery_id, exclusion_reason, excluded_targets)
    """,
    "rpt_proof_and_test_sends": """
        SELECT * FROM (VALUES ('D-1001-P1', 'D-1001', 'proof', 3, 'qa.team@example.com'),
                              ('D-1001', 'D-1001', 'test profile', 2, 'seed@example.com'))
        AS t(delivery_id, parent_delivery_id, kind, messages, address)
    """,
    "rpt_tracking_hourly": """
        SELECT 'D-1001' AS delivery_id, TIMESTAMP '2026-01-05 08:00:00' + h * INTERVAL 1 HOUR AS hour_start,
               CAST(round(120 * exp(-h / 10.0)) AS BIGINT) AS opens,
               CAST(round(25 * exp(-h / 8.0)) AS BIGINT) AS clicks
        FROM range(0, 72) r(h)
    """,
}


def build_warehouse(path: Path, *, drop: tuple[str, ...] = (), empty: tuple[str, ...] = (),
                    schema: str = "marts") -> Path:
    con = duckdb.connect(str(path))
    try:
        con.execute(f"CREATE SCHEMA {schema}")
        for name, sql in TABLES.items():
            if name in drop:
                continue
            con.execute(f"CREATE TABLE {schema}.{name} AS {sql}")
            if name in empty:
                con.execute(f"DELETE FROM {schema}.{name}")
        # A view is a mart too; HUGEINT (sum()) counts must stay integers in Parquet.
        if "rpt_delivery_failure_reasons" not in drop:
            con.execute(f"CREATE VIEW {schema}.rpt_failure_types AS SELECT failure_type, "
                        f"sum(messages) AS messages FROM {schema}.rpt_delivery_failure_reasons GROUP BY 1")
    finally:
        con.close()
    return path


CHECKS = [
    {"name": "unique_message_status", "status": "pass", "details": "0 duplicate rows"},
    {"name": "hard_bounce_then_delivered", "status": "warn", "details": "2 messages <M7, M9>"},
    {"name": "accepted_plus_rejected_equals_read", "status": "pass", "details": None},
]


@pytest.fixture()
def warehouse(tmp_path: Path) -> Path:
    return build_warehouse(tmp_path / "sendlens.duckdb")


@pytest.fixture()
def exported(warehouse: Path, tmp_path: Path) -> ExportResult:
    messages: list[str] = []
    res = export_reports(warehouse, tmp_path / "out",
                         run_info={"run_id": "run-42", "as_of": "2026-01-10 00:00 UTC",
                                   "checks": CHECKS},
                         progress=messages.append)
    assert any("fct_message_status" in m for m in messages)
    return res


def _marts(warehouse: Path) -> dict[str, int]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'").fetchall()]
        return {n: con.execute(f'SELECT count(*) FROM marts."{n}"').fetchone()[0] for n in names}
    finally:
        con.close()


def _html(res: ExportResult) -> str:
    return res.html_report.read_text(encoding="utf-8")


def _section(html: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', html, re.S)
    assert m, f"section {sid} missing"
    return m.group(1)


# --------------------------------------------------------------------------------------------
def test_every_mart_exported_as_csv_and_parquet_with_equal_row_counts(warehouse, exported):
    marts = _marts(warehouse)
    assert len(marts) == len(TABLES) + 1
    assert exported.row_counts == marts
    con = duckdb.connect()
    for t, n in marts.items():
        csv = exported.out_dir / "csv" / f"{t}.csv"
        pq = exported.out_dir / "parquet" / f"{t}.parquet"
        assert csv in exported.files and pq in exported.files
        assert con.execute("SELECT count(*) FROM read_csv(?, header = true)", [str(csv)]).fetchone()[0] == n
        assert con.execute("SELECT count(*) FROM read_parquet(?)", [str(pq)]).fetchone()[0] == n
    assert not list(exported.out_dir.rglob("*.tmp*"))
    assert exported.warnings == []


def test_data_quality_report_and_manifest(exported):
    dq = exported.out_dir / "data_quality.csv"
    assert dq in exported.files
    con = duckdb.connect()
    rows = con.execute("SELECT name, status FROM read_csv(?, header = true) ORDER BY name", [str(dq)]).fetchall()
    assert rows == sorted((c["name"], c["status"]) for c in CHECKS)
    manifest = (exported.out_dir / "manifest.json").read_text()
    assert '"include_pii": false' in manifest and '"fct_message_status": 12' in manifest


def test_dbt_default_schema_name_is_accepted(tmp_path):
    wh = build_warehouse(tmp_path / "w.duckdb", schema="main_marts")
    res = export_reports(wh, tmp_path / "out")
    assert len(res.row_counts) == len(TABLES) + 1 and res.warnings == []


def test_parquet_keeps_types_and_counts_integer(exported):
    con = duckdb.connect()
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))",
                             [str(exported.out_dir / "parquet" / "rpt_failure_types.parquet")]).fetchall())
    assert types["messages"] == "BIGINT"  # sum() is HUGEINT in DuckDB, stored as BIGINT
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))",
                             [str(exported.out_dir / "parquet" / "rpt_delivery_kpis_hourly.parquet")]).fetchall())
    assert types["hour_start"].startswith("TIMESTAMP")
    assert types["delivered_rate"] == "DOUBLE"


def test_reason_lists_accept_strings_and_lists():
    from reports.html_report import reasons_list
    assert reasons_list("stale snapshot; hourly lag") == ["stale snapshot", "hourly lag"]
    assert reasons_list(["a", None, " "]) == ["a"] and reasons_list(None) == [] and reasons_list("") == []


def test_mask_address_rules():
    assert mask_address("john.doe@gmail.com") == "j***@gmail.com"
    assert mask_address("+31612345689") == "***89"
    assert mask_address("abc") == "***"
    assert mask_address(None) is None


def _col(path: Path, col: str, fmt: str = "csv") -> list:
    con = duckdb.connect()
    reader = "read_csv(?, header = true, all_varchar = true)" if fmt == "csv" else "read_parquet(?)"
    return [r[0] for r in con.execute(f'SELECT "{col}" FROM {reader}', [str(path)]).fetchall()]


def test_addresses_masked_by_default(exported):
    out = exported.out_dir
    addrs = _col(out / "csv" / "dim_address_quarantine.csv", "address")
    assert "j***@gmail.com" in addrs and "***89" in addrs and "***32" in addrs
    assert "john.doe@gmail.com" not in addrs
    assert set(_col(out / "parquet" / "dim_address_quarantine.parquet", "address", "parquet")) == set(addrs)
    # any column ending in _address is masked too
    assert set(_col(out / "csv" / "fct_profile_history.csv", "recipient_address")) == {
        "j***@gmail.com", "x***@y.nl", "***89"}
    assert "qa.team@example.com" not in (out / "csv" / "rpt_proof_and_test_sends.csv").read_text()
    for p in exported.files:
        if p.suffix in (".csv", ".html", ".json"):
            assert "john.doe@gmail.com" not in p.read_text(encoding="utf-8"), p
    with zipfile.ZipFile(out / "sendlens_report.xlsx") as z:
        blob = " ".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    assert "qa.team@example.com" not in blob and "q***@example.com" in blob


def test_addresses_unmasked_with_include_pii(warehouse, tmp_path):
    res = export_reports(warehouse, tmp_path / "pii", include_pii=True)
    addrs = _col(res.out_dir / "csv" / "dim_address_quarantine.csv", "address")
    assert "john.doe@gmail.com" in addrs and "+31612345689" in addrs
    assert "john.doe@gmail.com" in _col(res.out_dir / "parquet" / "dim_address_quarantine.parquet",
                                        "address", "parquet")


def test_workbook_has_business_sheets(exported):
    wb = exported.out_dir / "sendlens_report.xlsx"
    assert wb in exported.files and exported.workbook == wb
    with zipfile.ZipFile(wb) as z:
        assert z.testzip() is None
        names = re.findall(r'<sheet name="([^"]+)"', z.read("xl/workbook.xml").decode())
    assert names == ["About", "dash_delivery_kpis", "rpt_delivery_kpis", "rpt_kpi_reconciliation",
                     "rpt_confirmation_audit", "rpt_delivery_failure_reasons", "rpt_delivery_domains",
                     "rpt_exclusion_causes", "rpt_proof_and_test_sends"]
    assert "fct_message_status" not in names


def test_workbook_sheet_cap_is_stated(warehouse, tmp_path):
    res = export_reports(warehouse, tmp_path / "capped", max_sheet_rows=4)
    with zipfile.ZipFile(res.workbook) as z:
        names = re.findall(r'<sheet name="([^"]+)"', z.read("xl/workbook.xml").decode())
        idx = names.index("rpt_delivery_kpis") + 1
        sheet = z.read(f"xl/worksheets/sheet{idx}.xml").decode()
    assert "CAPPED" in sheet and "of 6 rows" in sheet
    assert len(re.findall(r"<row ", sheet)) == 5  # header + 4 rows


def test_html_has_every_section_and_charts(exported):
    html = _html(exported)
    for sid in ("deliveries", "reconciliation", "hourly", "failures", "tracking", "domains", "quarantine",
                "exclusions", "proofs", "audit", "quality", "files"):
        assert f'<section id="{sid}">' in html
    assert "as of <strong>2026-01-10 00:00 UTC</strong>" in html and "run-42" in html
    # dashboard next to report, with the explanation
    deliveries = _section(html, "deliveries")
    assert deliveries.count('class="panel dash"') == 3 and deliveries.count('class="panel rpt"') == 3
    assert "source of truth" in deliveries and "stats_computed_at" in deliveries
    assert "95.8%" in deliveries and "95.0%" in deliveries  # dashboard vs report delivered rate
    # labels and channels come from other marts when the dashboard has none
    assert "January newsletter" in deliveries and ">sms<" in deliveries
    # reconciliation: values, difference, reasons
    recon = _section(html, "reconciliation")
    assert "Delivered %" in recon and "−0.8 pp" in recon and "+30" in recon
    assert "Open rate excl. machine opens" in recon and "−1.1 pp" in recon
    assert "1 other KPI agrees" in recon and "the KPI agrees" in recon  # equal KPIs are folded
    assert "<strong>5</strong> of 7 dashboard/report KPI pairs differ" in recon
    assert "click-implied opens" in recon and "stale snapshot" in recon
    # hourly: one chart per delivery, both modes, 0-100% axis
    hourly = _section(html, "hourly")
    assert hourly.count("<svg") == 3
    assert "Delivered % (standard)" in hourly and "Delivered % (EFS)" in hourly
    assert "100%" in hourly and ">0%<" in hourly and "<polyline" in hourly and "<title>" in hourly
    assert "<svg" in _section(html, "failures") and "user unknown (hard)" in _section(html, "failures")
    assert "<polyline" in _section(html, "tracking")
    assert "gmail.com" in _section(html, "domains") and "orange.fr" in _section(html, "domains")
    quarantine = _section(html, "quarantine")
    assert "<svg" in quarantine and "denylisted" in quarantine
    audit = _section(html, "audit")
    assert "confirmed by operator without start deliveries" in audit
    assert "sent without required confirmation" in audit and "started before confirmation" in audit
    assert 'title="sent_without_required_confirmation"' in audit and "+25 min" in audit
    assert "<strong>2</strong> of 3 deliveries" in audit
    quality = _section(html, "quality")
    assert "hard_bounce_then_delivered" in quality and "&lt;M7, M9&gt;" in quality
    assert "<path" in html


def test_html_is_self_contained_and_escaped(exported):
    html = _html(exported)
    assert not re.search(r'(?:src|href)\s*=\s*["\']?\s*(?:https?:)?//', html, re.I)
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower() and "<link" not in html.lower() and "@import" not in html
    assert "Flash sale &lt;48h&gt; &amp; more" in html and "Flash sale <48h>" not in html
    # rates as percentages with one decimal
    assert "87.5%" in html and "0.875" not in html
    # relative links to the exported files only
    assert 'href="csv/fct_message_status.csv"' in html
    assert 'href="parquet/fct_message_status.parquet"' in html


def test_sections_degrade_to_no_data_when_tables_missing(tmp_path):
    wh = build_warehouse(tmp_path / "partial.duckdb",
                         drop=("rpt_delivery_kpis_hourly", "rpt_kpi_reconciliation", "rpt_delivery_failure_reasons",
                               "rpt_delivery_domains", "rpt_tracking_hourly", "rpt_exclusion_causes",
                               "rpt_proof_and_test_sends", "fct_message_status"),
                         empty=("dim_address_quarantine", "rpt_confirmation_audit"))
    res = export_reports(wh, tmp_path / "out")
    assert res.warnings == []
    html = _html(res)
    for sid in ("reconciliation", "hourly", "failures", "tracking", "domains", "quarantine", "exclusions",
                "proofs", "audit", "quality"):
        assert "No data" in _section(html, sid), sid
    assert "No data" not in _section(html, "deliveries")
    with zipfile.ZipFile(res.workbook) as z:
        names = re.findall(r'<sheet name="([^"]+)"', z.read("xl/workbook.xml").decode())
    assert "rpt_kpi_reconciliation" not in names and "rpt_delivery_kpis" in names
    # empty marts are still exported (header only)
    assert (res.out_dir / "csv" / "dim_address_quarantine.csv").read_text().startswith("address,")
    assert res.row_counts["dim_address_quarantine"] == 0


def test_failures_fall_back_to_message_status(tmp_path):
    wh = build_warehouse(tmp_path / "w.duckdb", drop=("rpt_delivery_failure_reasons",))
    html = _html(export_reports(wh, tmp_path / "out"))
    failures = _section(html, "failures")
    assert "<svg" in failures and "fct_message_status" in failures and "mailbox full" not in failures
    assert "user unknown (hard)" in failures


def test_report_only_without_dashboard(tmp_path):
    wh = build_warehouse(tmp_path / "w.duckdb", drop=("dash_delivery_kpis",))
    res = export_reports(wh, tmp_path / "out")
    assert res.warnings == []
    d = _section(_html(res), "deliveries")
    assert "no dashboard snapshot" in d and 'class="panel rpt"' in d and "95.0%" in d


def test_warehouse_without_marts(tmp_path):
    wh = tmp_path / "empty.duckdb"
    duckdb.connect(str(wh)).close()
    res = export_reports(wh, tmp_path / "out")
    assert res.row_counts == {} and res.warnings == []
    html = _html(res)
    assert html.count("No data") >= 10
    with zipfile.ZipFile(res.workbook) as z:
        assert re.findall(r'<sheet name="([^"]+)"', z.read("xl/workbook.xml").decode()) == ["About"]


def test_warehouse_opened_read_only_and_missing_file_errors(warehouse, tmp_path):
    # A writer holding the file would block us; a second read-only export works side by side.
    ro = duckdb.connect(str(warehouse), read_only=True)
    try:
        res = export_reports(warehouse, tmp_path / "side")
        assert res.row_counts["fct_message_status"] == 12
    finally:
        ro.close()
    with pytest.raises(FileNotFoundError):
        export_reports(tmp_path / "nope.duckdb", tmp_path / "x")


def test_re_export_removes_files_of_dropped_marts(warehouse, tmp_path):
    out = tmp_path / "same"
    export_reports(warehouse, out)
    assert (out / "csv" / "rpt_tracking_hourly.csv").exists()
    con = duckdb.connect(str(warehouse))
    con.execute("DROP TABLE marts.rpt_tracking_hourly")
    con.close()
    export_reports(warehouse, out)
    assert not (out / "csv" / "rpt_tracking_hourly.csv").exists()
    assert not (out / "parquet" / "rpt_tracking_hourly.parquet").exists()


def test_charts_render_svg():
    svg = line_chart([Series("a <b>", [(0, 1.0), (1, None), (2, 0.5), (3, 0.4)], "#000", True, ["t0", "t1", "t2", "t3"])],
                     title="T & t")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<polyline" in svg and "a &lt;b&gt;" in svg and "T &amp; t" in svg and "100%" in svg
    assert "t2: 50.0%" in svg
    bars = hbar_chart([Bar("x", 3), Bar("y" * 80, 10)], title="bars")
    assert bars.count("<rect") == 3 and "…" in bars


def test_reports_package_does_not_import_sendlens():
    for py in REPORTS_DIR.glob("*.py"):
        tree = ast.parse(py.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or ""] if node.level == 0 else []
            else:
                continue
            for mod in mods:  # the bottom layer sendlens.core is every package's (import contracts)
                assert mod.split(".")[0] != "ingest", f"{py.name} imports {mod}"
                assert mod.split(".")[0] != "sendlens" or mod.startswith("sendlens.core"), f"{py.name} imports {mod}"
