"""Tests of the reports package: exported CSV/Parquet/Excel/HTML from a small real warehouse.

One home, one real build (module fixture): input files written by tests/scenario.py (four
deliveries and a proof, both reporting modes, hard and soft failures, opens, clicks, a
complaint, exclusions, operators and confirmations), ingested and built by the real pipeline.
The report is checked against values queried from the marts that build made. Variants of the
warehouse (a column renamed, a mart emptied, the dbt default schema name) are copies of that
one file changed with SQL, never hand-written schemas.
"""

from __future__ import annotations

import ast
import re
import shutil
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from sendlens.reports import ExportResult, export_reports, mask_address
from sendlens.reports.charts import Bar, Series, hbar_chart, line_chart
from sendlens.reports.contract import REPORT_COLUMNS, MartContractError
from sendlens.reports.format import fmt_int, fmt_pct, reasons_list
from tests.scenario import Scenario
from tests.xlsx import Xlsx

REPORTS_DIR = Path(__file__).resolve().parents[1] / "reports"
AS_OF = "2026-01-10T00:00:00Z"
HOSTILE_LABEL = "Flash sale <48h> & more"
PROOF_LABEL = "Proof to qa.team@example.com"

# delivery_id -> (label, channel, efs, contact/scheduled, confirmed_by, confirmed_at, extra)
DELIVERIES = {
    "D-1001": ("January newsletter", "email", "false", "2026-01-05 08:00:00", "alice", "2026-01-05 07:00:00"),
    "D-1002": (HOSTILE_LABEL, "email", "true", "2026-01-06 10:00:00", "bob", "2026-01-06 09:00:00"),
    "D-1003": ("Appointment reminder", "sms", "false", "2026-01-07 06:00:00", None, None),
    "D-1004": ("Winter sale", "email", "false", "2026-01-07 11:00:00", "bob", "2026-01-07 12:00:00"),
    "D-1005": (PROOF_LABEL, "email", "false", "2026-01-04 09:00:00", None, None),
}
# message_id, delivery_id, address, relayed_at, feedback outcome, failure reason
MESSAGES = [
    ("m01", "D-1001", "john.doe@gmail.com", "2026-01-05 08:00:00", "delivered", ""),
    ("m02", "D-1001", "anna@gmail.com", "2026-01-05 08:00:00", "delivered", ""),
    ("m03", "D-1001", "bob@outlook.com", "2026-01-05 08:01:00", "delivered", ""),
    ("m04", "D-1001", "carl@outlook.com", "2026-01-05 08:01:00", "delivered", ""),
    ("m05", "D-1001", "spam.hater@yahoo.com", "2026-01-05 08:02:00", "delivered", ""),
    ("m06", "D-1001", "dora@yahoo.com", "2026-01-05 08:02:00", "delivered", ""),
    ("m07", "D-1001", "eve@gmail.com", "2026-01-05 08:03:00", "delivered", ""),
    ("m08", "D-1001", "gone@gmail.com", "2026-01-05 08:03:00", "hard_bounce", "user unknown"),
    ("m09", "D-1002", "john.doe@gmail.com", "2026-01-06 10:25:00", "delivered", ""),
    ("m10", "D-1002", "jean@orange.fr", "2026-01-06 10:25:00", "delivered", ""),
    ("m11", "D-1002", "marie@orange.fr", "2026-01-06 10:26:00", "delivered", ""),
    ("m12", "D-1002", "paul@orange.fr", "2026-01-06 10:26:00", "soft_bounce", "mailbox full"),
    ("m13", "D-1002", "nodomain@orange.fr", "2026-01-06 10:27:00", "hard_bounce", "invalid domain"),
    ("m14", "D-1002", "late@gmail.com", "2026-01-06 10:27:00", None, ""),
    ("m15", "D-1003", "+31612345689", "2026-01-07 07:00:00", "hard_bounce", "unreachable"),
    ("m16", "D-1003", "+31698765432", "2026-01-07 07:00:00", "delivered", ""),
    ("m17", "D-1003", "+31611112222", "2026-01-07 07:01:00", "delivered", ""),
    ("m18", "D-1004", "anna@gmail.com", "2026-01-07 11:00:00", "delivered", ""),
    ("m19", "D-1004", "eve@gmail.com", "2026-01-07 11:00:00", "delivered", ""),
    ("m20", "D-1005", "qa.team@example.com", "2026-01-04 09:00:00", "delivered", ""),
]
TEST_PROFILE_MESSAGE = ("m21", "D-1001", "seed@example.com", "2026-01-05 08:00:00", "delivered", "")
# message, type, at
TRACKING = [("m01", "open", "2026-01-05 09:00:00"), ("m01", "click", "2026-01-05 09:01:00"),
            ("m02", "open", "2026-01-05 10:00:00"), ("m03", "open", "2026-01-05 12:00:00"),
            ("m04", "click", "2026-01-06 08:00:00"), ("m05", "complaint", "2026-01-05 11:00:00"),
            ("m09", "open", "2026-01-06 11:00:00"), ("m10", "open", "2026-01-06 12:30:00"),
            ("m10", "click", "2026-01-06 12:31:00"), ("m18", "open", "2026-01-07 13:00:00"),
            ("m21", "open", "2026-01-05 08:30:00")]
EXCLUSIONS = [("D-1001", "q1@gmail.com", "quarantined"), ("D-1001", "q2@gmail.com", "quarantined"),
              ("D-1001", "dup@gmail.com", "duplicate"), ("D-1002", "dl@orange.fr", "denylisted"),
              ("D-1003", "no-address", "address_empty")]
CHECKS = [
    {"name": "unique_message_status", "status": "pass", "details": "0 duplicate rows"},
    {"name": "hard_bounce_then_delivered", "status": "warn", "details": "2 messages <M7, M9>"},
    {"name": "accepted_plus_rejected_equals_read", "status": "pass", "details": None},
]
RUN_INFO = {"run_id": "run-42", "as_of": "2026-01-10 00:00 UTC", "checks": CHECKS}


def _later(at: str, minutes: int) -> str:
    return (datetime.fromisoformat(at) + timedelta(minutes=minutes)).isoformat(sep=" ")


def _build(s: Scenario) -> None:
    s.ingest("operators", [{"operator": "alice", "roles": "start_deliveries;prepare_deliveries"},
                           {"operator": "bob", "roles": "prepare_deliveries"}])
    s.ingest("deliveries", [
        {"delivery_id": d, "label": label, "channel": ch, "efs_enabled": efs, "contact_date": at,
         "scheduled_at": at, "requires_confirmation": "true", "confirmed_by": by, "confirmed_at": by_at,
         "is_proof": "true" if d == "D-1005" else "false"}
        for d, (label, ch, efs, at, by, by_at) in DELIVERIES.items()])
    s.ingest("send_log", [{"message_id": m, "delivery_id": d, "profile_id": f"p-{a}", "address": a,
                           "relayed_at": at, "is_test_profile": str(m == TEST_PROFILE_MESSAGE[0]).lower()}
                          for m, d, a, at, _, _ in [*MESSAGES, TEST_PROFILE_MESSAGE]])
    s.ingest("feedback", [{"event_id": f"fb-{m}", "message_id": m, "outcome": o, "failure_reason": r,
                           "event_at": _later(at, minutes=20)}
                          for m, _, _, at, o, r in [*MESSAGES, TEST_PROFILE_MESSAGE] if o])
    s.ingest("tracking", [{"event_id": f"tr-{i}", "message_id": m, "type": t, "event_at": at}
                          for i, (m, t, at) in enumerate(TRACKING)])
    s.ingest("exclusions", [{"delivery_id": d, "address": a, "profile_id": f"p-{a}", "reason": r,
                             "excluded_at": "2026-01-04 12:00:00"} for d, a, r in EXCLUSIONS])
    s.build(AS_OF)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Scenario:
    s = Scenario(tmp_path_factory.mktemp("reports") / "home")
    _build(s)
    return s


@pytest.fixture(scope="module")
def exported(home: Scenario) -> ExportResult:
    messages: list[str] = []
    res = export_reports(home.settings.warehouse, home.home.parent / "out", run_info=RUN_INFO,
                         progress=messages.append)
    assert len(messages) == 1 and messages[0].startswith("exported ") and "marts" in messages[0], messages
    return res


def _copy(home: Scenario, tmp_path: Path, name: str = "copy.duckdb") -> Path:
    """A copy of the built warehouse, to change with SQL."""
    target = tmp_path / name
    shutil.copyfile(home.settings.warehouse, target)
    return target


def _sql(warehouse: Path, *statements: str) -> None:
    con = duckdb.connect(str(warehouse))
    try:
        for s in statements:
            con.execute(s)
    finally:
        con.close()


def _marts(warehouse: Path, schema: str = "marts") -> dict[str, int]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]).fetchall()]
        return {n: con.execute(f'SELECT count(*) FROM {schema}."{n}"').fetchone()[0] for n in names}
    finally:
        con.close()


def _html(res: ExportResult) -> str:
    return res.html_report.read_text(encoding="utf-8")


def _section(html: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', html, re.S)
    assert m, f"section {sid} missing"
    return m.group(1)


def _sheets(workbook: Path) -> list[str]:
    with zipfile.ZipFile(workbook) as z:
        return re.findall(r'<sheet name="([^"]+)"', z.read("xl/workbook.xml").decode())


# --------------------------------------------------------------------------------------------
def test_every_mart_exported_as_csv_and_parquet_with_equal_row_counts(home, exported):
    marts = _marts(home.settings.warehouse)
    assert set(REPORT_COLUMNS) <= set(marts) and "fct_message_status" in marts
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


def test_data_quality_report_and_manifest(home, exported):
    dq = exported.out_dir / "data_quality.csv"
    assert dq in exported.files
    con = duckdb.connect()
    rows = con.execute("SELECT name, status FROM read_csv(?, header = true) ORDER BY name", [str(dq)]).fetchall()
    assert rows == sorted((c["name"], c["status"]) for c in CHECKS)
    manifest = (exported.out_dir / "manifest.json").read_text()
    n = home.one("SELECT count(*) AS n FROM marts.fct_message_status")["n"]
    assert n > 0 and '"include_pii": false' in manifest and f'"fct_message_status": {n}' in manifest


def test_dbt_default_schema_name_is_accepted_and_counts_stay_integers(home, tmp_path):
    """The marts under dbt-duckdb's default schema name (main_marts), one count a HUGEINT (what
    sum() gives in DuckDB): the export and the report work; Parquet stores the count as BIGINT."""
    wh = _copy(home, tmp_path)
    marts = _marts(wh)
    statements = ["CREATE SCHEMA main_marts"]
    for t in marts:
        cast = " REPLACE (CAST(messages AS HUGEINT) AS messages)" if t == "rpt_delivery_failure_reasons" else ""
        statements.append(f"CREATE TABLE main_marts.{t} AS SELECT *{cast} FROM marts.{t}")
    _sql(wh, *statements, "DROP SCHEMA marts CASCADE")
    res = export_reports(wh, tmp_path / "out")
    assert res.row_counts == marts and res.warnings == []
    con = duckdb.connect()
    pq = str(res.out_dir / "parquet" / "rpt_delivery_failure_reasons.parquet")
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))",
                             [pq]).fetchall())
    assert types["messages"] == "BIGINT"
    total = home.one("SELECT sum(messages) AS n FROM marts.rpt_delivery_failure_reasons")["n"]
    assert con.execute("SELECT sum(messages) FROM read_parquet(?)", [pq]).fetchone()[0] == total > 0
    assert "<svg" in _section(_html(res), "failures")


def test_parquet_keeps_types_and_counts_integer(home, exported):
    """Every column of every mart keeps its type in Parquet: counts integers, rates doubles,
    instants timestamps."""
    want = {(r["t"], r["c"]): r["ty"] for r in home.query(
        "SELECT table_name AS t, column_name AS c, data_type AS ty FROM information_schema.columns "
        "WHERE table_schema = 'marts'")}
    con = duckdb.connect()
    for t in {t for t, _ in want}:
        got = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))",
                               [str(exported.out_dir / "parquet" / f"{t}.parquet")]).fetchall())
        for (tt, c), ty in want.items():
            if tt == t:
                assert got[c] == ty.replace("HUGEINT", "BIGINT"), (t, c, got[c], ty)
    assert want[("rpt_delivery_kpis", "delivered")] == "BIGINT"
    assert want[("rpt_delivery_kpis_hourly", "hour_start")].startswith("TIMESTAMP")
    assert want[("rpt_delivery_kpis_hourly", "delivered_rate")] == "DOUBLE"


def test_reason_lists_accept_strings_and_lists():
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


def test_addresses_masked_by_default(home, exported):
    out = exported.out_dir
    addrs = _col(out / "csv" / "dim_address_quarantine.csv", "address")
    assert "j***@gmail.com" in addrs and "***89" in addrs and "***32" in addrs
    assert "john.doe@gmail.com" not in addrs
    assert set(_col(out / "parquet" / "dim_address_quarantine.parquet", "address", "parquet")) == set(addrs)
    # every address column is masked, in every mart that has one
    raw = {r["address"] for r in home.query("SELECT address FROM marts.fct_profile_history")}
    assert set(_col(out / "csv" / "fct_profile_history.csv", "address")) == {mask_address(a) for a in raw}
    for p in exported.files:
        if p.suffix in (".csv", ".html", ".json"):
            text = p.read_text(encoding="utf-8")
            assert "john.doe@gmail.com" not in text and "qa.team@example.com" not in text, p
    # an address inside free text (a delivery label) is masked too, in the workbook as well
    with zipfile.ZipFile(out / "sendlens_report.xlsx") as z:
        blob = " ".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    assert "qa.team@example.com" not in blob and "q***@example.com" in blob


def test_addresses_unmasked_with_include_pii(home, tmp_path):
    res = export_reports(home.settings.warehouse, tmp_path / "pii", include_pii=True)
    addrs = _col(res.out_dir / "csv" / "dim_address_quarantine.csv", "address")
    assert "john.doe@gmail.com" in addrs and "+31612345689" in addrs
    assert "john.doe@gmail.com" in _col(res.out_dir / "parquet" / "dim_address_quarantine.parquet",
                                        "address", "parquet")
    with zipfile.ZipFile(res.workbook) as z:
        blob = " ".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    assert PROOF_LABEL in blob


def test_workbook_has_business_sheets(exported):
    wb = exported.out_dir / "sendlens_report.xlsx"
    assert wb in exported.files and exported.workbook == wb
    with zipfile.ZipFile(wb) as z:
        assert z.testzip() is None
    names = _sheets(wb)
    assert names == ["About", "Overview", "dash_delivery_kpis", "rpt_delivery_kpis", "rpt_kpi_reconciliation",
                     "rpt_confirmation_audit", "rpt_delivery_failure_reasons", "rpt_delivery_domains",
                     "rpt_exclusion_causes", "rpt_proof_and_test_sends", "dim_deliveries",
                     "rpt_delivery_kpis_daily", "rpt_bounce_details", "rpt_link_clicks", "rpt_opens_by_client"]
    assert "fct_message_status" not in names


def test_workbook_sheet_cap_is_stated(home, tmp_path):
    res = export_reports(home.settings.warehouse, tmp_path / "capped", max_sheet_rows=4)
    n = home.one("SELECT count(*) AS n FROM marts.rpt_delivery_kpis")["n"]
    assert n > 4
    wb = Xlsx(res.workbook)
    header = wb.rows("rpt_delivery_kpis")[0]
    assert any("CAPPED" in (v or "") and f"of {n:,} rows" in v for v in header.values())
    assert len(wb.rows("rpt_delivery_kpis")) == 5  # header + 4 rows
    # the About sheet says it too
    assert any("CAPPED at 4 rows" in (r.get("B") or "") for r in wb.rows("About"))


def test_html_has_every_section_and_charts(home, exported):
    html = _html(exported)
    for sid in ("deliveries", "reconciliation", "hourly", "failures", "tracking", "domains", "quarantine",
                "exclusions", "proofs", "audit", "quality", "files"):
        assert f'<section id="{sid}">' in html
        assert "No data" not in _section(html, sid), sid
    assert "as of <strong>2026-01-10 00:00 UTC</strong>" in html and "run-42" in html
    # dashboard next to report, with the explanation: one card per delivery (proofs excluded)
    deliveries = _section(html, "deliveries")
    dash = home.query("SELECT * FROM marts.dash_delivery_kpis ORDER BY sent DESC, delivery_id")
    assert {d["delivery_id"] for d in dash} == {"D-1001", "D-1002", "D-1003", "D-1004"}
    assert deliveries.count('class="panel dash"') == len(dash) == deliveries.count('class="panel rpt"')
    assert "source of truth" in deliveries and "stats_computed_at" in deliveries
    for d in dash:  # dashboard vs report delivered rate, each in the delivery's own mode
        rpt = home.one("SELECT delivered_rate, processed FROM marts.rpt_delivery_kpis "
                       "WHERE delivery_id = ? AND reporting_mode = ?", [d["delivery_id"], d["reporting_mode"]])
        card = deliveries.split(f'<span class="did">{d["delivery_id"]}</span>', 1)[1].split("</article>", 1)[0]
        assert fmt_pct(d["delivered_rate"]) in card and fmt_pct(rpt["delivered_rate"]) in card
        assert f"{fmt_int(d['delivered'])} of {fmt_int(d['sent'])} sent" in card
        assert f'{d["reporting_mode"]} mode' in card
    # labels and channels come from the confirmation audit (the dashboard has none)
    assert "January newsletter" in deliveries and ">sms<" in deliveries
    # reconciliation: values, difference, reasons; agreeing KPIs folded into one line
    recon = _section(html, "reconciliation")
    pairs = home.query("SELECT *, coalesce(abs(difference), 0) > 1e-9 OR "
                       "((dashboard_value IS NULL) <> (report_value IS NULL)) AS differs "
                       "FROM marts.rpt_kpi_reconciliation")
    n_diff = sum(1 for p in pairs if p["differs"])
    assert 0 < n_diff < len(pairs)
    assert f"<strong>{n_diff}</strong> of {len(pairs)} dashboard/report KPI pairs differ" in recon
    for did in {p["delivery_id"] for p in pairs}:
        mine = [p for p in pairs if p["delivery_id"] == did]
        agree = sum(1 for p in mine if not p["differs"])
        nd = len(mine) - agree
        text = (f"all {len(mine)} KPIs agree" if nd == 0 else
                "1 other KPI agrees" if agree == 1 else f"{agree} other KPIs agree")
        assert agree == 0 or text in recon, (did, text)
    for p in pairs:
        if p["differs"] and p["kpi"] in ("delivered", "sent", "opens", "clicks") and p["difference"] is not None:
            assert f"{p['difference']:+,.0f}".replace("-", "−") in recon
        for reason in reasons_list(p["reasons"]) if p["differs"] else []:
            assert f'<span class="chip">{reason}</span>' in recon
    # hourly: one chart per delivery, both modes, 0-100% axis
    hourly = _section(html, "hourly")
    n_hourly = home.one("SELECT count(DISTINCT delivery_id) AS n FROM marts.rpt_delivery_kpis_hourly "
                        "WHERE delivery_id IN (SELECT delivery_id FROM marts.dash_delivery_kpis)")["n"]
    # two charts per delivery: delivered % on 0-100%, bounces + errors % on a scale of its own
    assert hourly.count("<svg") == 2 * n_hourly == 2 * len(dash)
    assert "Delivered % (standard)" in hourly and "Delivered % (EFS)" in hourly
    assert "100%" in hourly and ">0%<" in hourly and "<polyline" in hourly and "<title>" in hourly
    failures = _section(html, "failures")
    assert "<svg" in failures and "user unknown (hard)" in failures
    assert "<polyline" in _section(html, "tracking")
    assert "gmail.com" in _section(html, "domains") and "orange.fr" in _section(html, "domains")
    quarantine = _section(html, "quarantine")
    assert "<svg" in quarantine and '<span class="badge denylisted">denylisted</span>' in quarantine
    assert '<span class="badge quarantine">quarantine</span>' in quarantine
    audit = _section(html, "audit")
    assert "confirmed by operator without start deliveries" in audit
    assert "sent without required confirmation" in audit and "started before confirmation" in audit
    assert 'title="sent_without_required_confirmation"' in audit and "+25 min" in audit
    n_flag = home.one("SELECT count(*) AS n FROM marts.rpt_confirmation_audit WHERE finding IS NOT NULL")["n"]
    n_all = home.one("SELECT count(*) AS n FROM marts.rpt_confirmation_audit")["n"]
    assert (n_flag, n_all) == (3, 5) and f"<strong>{n_flag}</strong> of {n_all} deliveries" in audit
    quality = _section(html, "quality")
    assert "hard_bounce_then_delivered" in quality and "&lt;M7, M9&gt;" in quality
    assert "<path" in html


def test_html_totals_are_the_marts(home, exported):
    """The machine-readable totals of the page are the marts' (each message and event once)."""
    html = _html(exported)
    tiles = dict(re.findall(r'data-total="([^"]+)" data-value="([^"]*)"', html))
    assert int(tiles["deliveries"]) == 4
    failed = home.one("SELECT sum(f.messages) AS n FROM marts.rpt_delivery_failure_reasons f "
                      "JOIN marts.dash_delivery_kpis d USING (delivery_id, reporting_mode)")["n"]
    assert int(tiles["failed_messages"]) == failed > 0
    opens = home.one("SELECT sum(opens) AS n FROM marts.rpt_delivery_engagement_hourly")["n"]
    assert int(tiles["opens"]) == opens > 0
    counts = {r["delivery_id"]: r for r in home.query("SELECT * FROM marts.rpt_exclusion_causes")}
    exclusions = _section(html, "exclusions")
    assert counts and all(r["exclusion_reason"] in exclusions for r in counts.values())


def test_html_is_self_contained_and_escaped(home, exported):
    html = _html(exported)
    assert not re.search(r'(?:src|href)\s*=\s*["\']?\s*(?:https?:)?//', html, re.I)
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower() and "<link" not in html.lower() and "@import" not in html
    assert "Flash sale &lt;48h&gt; &amp; more" in html and "Flash sale <48h>" not in html
    # rates as percentages with one decimal: 7 of the 8 messages of D-1001 delivered
    rate = home.one("SELECT delivered_rate FROM marts.dash_delivery_kpis WHERE delivery_id = 'D-1001'")
    assert rate["delivered_rate"] == 0.875
    assert "87.5%" in html and "0.875" not in html
    # relative links to the exported files only
    assert 'href="csv/fct_message_status.csv"' in html
    assert 'href="parquet/fct_message_status.parquet"' in html


@pytest.mark.parametrize("change, mart, column", [
    ("ALTER TABLE marts.rpt_delivery_kpis RENAME COLUMN processed TO processed_messages",
     "rpt_delivery_kpis", "processed"),
    ("ALTER TABLE marts.rpt_delivery_engagement_hourly DROP COLUMN clicks",
     "rpt_delivery_engagement_hourly", "clicks"),
    ("DROP TABLE marts.rpt_delivery_domains", "rpt_delivery_domains", None),
])
def test_a_mart_column_the_report_reads_is_a_contract(home, tmp_path, change, mart, column):
    """Renaming or dropping a mart column (or a mart) the report reads fails the report with
    an error naming that mart and column, instead of a silently empty section."""
    assert mart in REPORT_COLUMNS and (column is None or column in REPORT_COLUMNS[mart])
    wh = _copy(home, tmp_path)
    _sql(wh, change)
    with pytest.raises(MartContractError) as err:
        export_reports(wh, tmp_path / "out")
    named = f"marts.{mart}.{column}" if column else f"marts.{mart} (the mart itself)"
    assert named in str(err.value)
    assert err.value.missing == [(mart, column)]
    assert not (tmp_path / "out" / "report.html").exists()


def _empty(wh: Path, marts: list[str]) -> None:
    con = duckdb.connect(str(wh))
    try:
        for t in marts:
            kind = con.execute("SELECT table_type FROM information_schema.tables WHERE table_schema = 'marts' "
                               "AND table_name = ?", [t]).fetchone()[0]
            if kind == "VIEW":  # a view is replaced by an empty table with its columns
                con.execute(f"CREATE TABLE marts._empty AS SELECT * FROM marts.{t} LIMIT 0")
                con.execute(f"DROP VIEW marts.{t}")
                con.execute(f"ALTER TABLE marts._empty RENAME TO {t}")
            else:
                con.execute(f"DELETE FROM marts.{t}")
    finally:
        con.close()


def test_sections_say_no_data_when_marts_are_empty(home, tmp_path):
    wh = _copy(home, tmp_path)
    _empty(wh, [t for t in REPORT_COLUMNS if t not in ("dash_delivery_kpis", "rpt_delivery_kpis")])
    res = export_reports(wh, tmp_path / "out")
    assert res.warnings == []
    html = _html(res)
    for sid in ("reconciliation", "hourly", "failures", "tracking", "domains", "quarantine", "exclusions",
                "proofs", "audit", "quality"):
        assert "No data" in _section(html, sid), sid
    assert "No data" not in _section(html, "deliveries") and 'class="panel rpt"' in _section(html, "deliveries")
    assert "rpt_kpi_reconciliation" in _sheets(res.workbook)
    # empty marts are still exported (header only)
    assert (res.out_dir / "csv" / "dim_address_quarantine.csv").read_text().startswith("address,")
    assert res.row_counts["dim_address_quarantine"] == 0


def test_report_only_without_dashboard_snapshot(home, tmp_path):
    wh = _copy(home, tmp_path)
    _empty(wh, ["dash_delivery_kpis"])
    res = export_reports(wh, tmp_path / "out")
    assert res.warnings == []
    d = _section(_html(res), "deliveries")
    assert "no dashboard snapshot" in d and 'class="panel rpt"' in d
    rate = home.one("SELECT delivered_rate FROM marts.rpt_delivery_kpis "
                    "WHERE delivery_id = 'D-1001' AND reporting_mode = 'standard'")["delivered_rate"]
    assert fmt_pct(rate) in d


def test_warehouse_without_marts_is_an_error_naming_them(tmp_path):
    wh = tmp_path / "empty.duckdb"
    duckdb.connect(str(wh)).close()
    with pytest.raises(MartContractError) as err:
        export_reports(wh, tmp_path / "out")
    assert {t for t, c in err.value.missing} == set(REPORT_COLUMNS)
    assert "marts.dash_delivery_kpis (the mart itself)" in str(err.value)


def test_warehouse_opened_read_only_and_missing_file_errors(home, tmp_path):
    # A writer holding the file would block us; a second read-only export works side by side.
    ro = duckdb.connect(str(home.settings.warehouse), read_only=True)
    try:
        res = export_reports(home.settings.warehouse, tmp_path / "side")
        assert res.row_counts["fct_message_status"] == home.one(
            "SELECT count(*) AS n FROM marts.fct_message_status")["n"]
    finally:
        ro.close()
    with pytest.raises(FileNotFoundError):
        export_reports(tmp_path / "nope.duckdb", tmp_path / "x")


def test_re_export_removes_files_of_dropped_marts(home, tmp_path):
    wh = _copy(home, tmp_path)
    out = tmp_path / "same"
    export_reports(wh, out)
    assert "rpt_data_quality_findings" not in REPORT_COLUMNS  # a mart the report does not read
    assert (out / "csv" / "rpt_data_quality_findings.csv").exists()
    _sql(wh, "DROP TABLE marts.rpt_data_quality_findings")
    export_reports(wh, out)
    assert not (out / "csv" / "rpt_data_quality_findings.csv").exists()
    assert not (out / "parquet" / "rpt_data_quality_findings.parquet").exists()


def test_charts_render_svg():
    svg = line_chart([Series("a <b>", [(0, 1.0), (1, None), (2, 0.5), (3, 0.4)], "#000", True, ["t0", "t1", "t2", "t3"])],
                     title="T & t")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<polyline" in svg and "a &lt;b&gt;" in svg and "T &amp; t" in svg and "100%" in svg
    assert "t2: 50.0%" in svg
    bars = hbar_chart([Bar("x", 3), Bar("y" * 80, 10)], title="bars")
    assert bars.count("<rect") == 3 and "…" in bars


def test_templates_escape_everything_but_the_charts():
    """Autoescape is on and no template marks a value safe by hand; only report_charts makes
    markup (of SVG that charts.py escaped itself)."""
    from sendlens.reports.html_report import environment

    templates = list((REPORTS_DIR / "templates").glob("*.j2"))
    assert len(templates) >= 10
    assert all(environment().autoescape(t.name) for t in templates if t.name.endswith(".html.j2"))
    for t in templates:
        text = t.read_text()
        assert "|safe" not in text.replace(" ", "") and "autoescape false" not in text, t.name
    for py in REPORTS_DIR.rglob("*.py"):
        if "Markup(" in py.read_text():
            assert py.name == "report_charts.py", py.name


def test_reports_package_does_not_import_sendlens():
    for py in REPORTS_DIR.rglob("*.py"):
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
