"""Hostile inputs on the export side (issue 17, classes 1, 6, 7 and 9), end to end.

One home, one real build (module fixture): the SES fixture (message ids `<provider id>:<address>`,
profile id = address, per-recipient event ids with the address), canonical deliveries with
hostile labels, addresses and tracking (spreadsheet formulas), a recurring parent with two
executions in different modes, feedback for an unknown message and a complaint whose event id
embeds the address. Then real exports (`sendlens.pipeline.export` and `reports.export_reports`):

1. personal data: the build writes the marts' declaration into audit.personal_data_columns;
   no raw input address (nor an SES address's local part) is in any exported file; ids are
   pseudonymised with a keyed hash, joinable across tables; `include_pii` keeps raw values;
6. CSV cells a spreadsheet would run as a formula start with `'`; numbers, Parquet and the
   workbook's text cells are untouched;
7. a second export into the same folder keeps every file it did not write;
9. every total over deliveries (HTML tiles, charts, domain table; workbook totals) counts each
   message once, checked against SQL over the messages.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sendlens.reports import export_reports
from sendlens import pipeline
from tests.scenario import Scenario
from tests.xlsx import Xlsx

FIXTURES = Path(__file__).parent / "fixtures" / "esp"
AS_OF = "2026-03-05T12:00:00Z"
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"

HOSTILE_LABEL = '=HYPERLINK("http://evil.example/x","click me")'
LABEL_WITH_ADDRESS = "-2+3 offer, reply to vip.person.7731@corp.example"
HOSTILE_URL = '=HYPERLINK("http://evil.example/steal","x")'
HOSTILE_UA = "+cmd|' /C calc'!A0"
HOSTILE_PROFILE = "=1+2"
GHOST_MESSAGE = "ghost:ghost.unknown.4242@gmail.com"
COMPLAINT_EVENT = "cmp:compl.person.5511@gmail.com"
# Distinctive local parts: none of them may appear anywhere in a default export.
CANONICAL_LOCAL_PARTS = ("zed.formula", "plus.formula", "minus.formula", "vip.person.7731",
                         "ghost.unknown.4242", "compl.person.5511", "digest.reader")

MESSAGES = [
    # message_id, delivery_id, profile_id, address
    ("r1-1", "rec-1", "pr1", "digest.reader.1@gmail.com"),
    ("r1-2", "rec-1", "pr2", "digest.reader.2@gmail.com"),
    ("r1-3", "rec-1", "pr3", "digest.reader.3@orange.fr"),
    ("r1-4", "rec-1", "pr4", "digest.reader.4@orange.fr"),
    ("r1-5", "rec-1", "pr5", "digest.reader.5@gmail.com"),
    ("r1-6", "rec-1", "pr6", "digest.reader.6@gmail.com"),
    ("r2-1", "rec-2", "pr1", "digest.reader.1@gmail.com"),
    ("r2-2", "rec-2", "pr2", "digest.reader.2@gmail.com"),
    ("r2-3", "rec-2", "pr3", "digest.reader.3@orange.fr"),
    ("r2-4", "rec-2", "pr4", "digest.reader.4@orange.fr"),
    ("r2-5", "rec-2", "pr5", "digest.reader.5@gmail.com"),
    ("h-1", "hostile", HOSTILE_PROFILE, "=zed.formula@evil.example"),
    ("h-2", "hostile", "ph2", "+plus.formula@evil.example"),
    ("h-3", "hostile", "ph3", "-minus.formula@evil.example"),
    ("hh-1", "hostile-2", "compl.person.5511@gmail.com", "compl.person.5511@gmail.com"),
]
RELAYED = {"rec-1": "2026-03-02 08:00:00", "rec-2": "2026-03-03 08:00:00",
           "hostile": "2026-03-02 10:00:00", "hostile-2": "2026-03-02 10:00:00"}


def _build(s: Scenario) -> None:
    pipeline.ingest(s.settings, "", [FIXTURES / "ses.jsonl"], source="ses")
    s.ingest("deliveries", [
        {"delivery_id": "rec-parent", "label": "Daily digest (recurring)", "channel": "email",
         "efs_enabled": "false", "contact_date": "2026-03-02 08:00:00"},
        {"delivery_id": "rec-1", "label": "Daily digest #1", "channel": "email", "efs_enabled": "false",
         "contact_date": "2026-03-02 08:00:00", "parent_delivery_id": "rec-parent"},
        {"delivery_id": "rec-2", "label": "Daily digest #2", "channel": "email", "efs_enabled": "true",
         "contact_date": "2026-03-03 08:00:00", "parent_delivery_id": "rec-parent"},
        # scheduled after its first relay: a negative start lag (a number, not a formula)
        {"delivery_id": "hostile", "label": HOSTILE_LABEL, "channel": "email", "efs_enabled": "false",
         "contact_date": "2026-03-02 10:00:00", "scheduled_at": "2026-03-02 11:00:00"},
        {"delivery_id": "hostile-2", "label": LABEL_WITH_ADDRESS, "channel": "email", "efs_enabled": "false",
         "contact_date": "2026-03-02 10:00:00"},
    ])
    s.ingest("send_log", [{"message_id": m, "delivery_id": d, "profile_id": p, "address": a,
                           "relayed_at": RELAYED[d]} for m, d, p, a in MESSAGES])
    fb = [("r1-1", "delivered", ""), ("r1-2", "hard_bounce", "user unknown"),
          ("r1-3", "hard_bounce", "user unknown"), ("r1-4", "expired", "mailbox full"),
          ("r1-5", "delivered", ""), ("r2-1", "delivered", ""), ("r2-2", "hard_bounce", "user unknown"),
          ("r2-3", "hard_bounce", "invalid domain"), ("r2-5", "delivered", ""),
          ("h-1", "hard_bounce", "user unknown"), ("h-2", "delivered", ""), ("h-3", "delivered", ""),
          ("hh-1", "delivered", "")]
    rows = [{"event_id": f"fb-{m}", "message_id": m, "outcome": o, "failure_reason": r,
             "event_at": ("2026-03-03 08:10:00" if m.startswith("r2") else "2026-03-02 10:10:00")}
            for m, o, r in fb]
    rows.append({"event_id": "fb-ghost:ghost.unknown.4242@gmail.com", "message_id": GHOST_MESSAGE,
                 "outcome": "hard_bounce", "failure_reason": "user unknown", "event_at": "2026-03-02 10:20:00"})
    s.ingest("feedback", rows)
    tr = [("t1", "r1-1", "open", "", BROWSER), ("t2", "r1-1", "click", "https://shop.example/a", BROWSER),
          ("t3", "r1-5", "open", "", BROWSER), ("t4", "r2-1", "open", "", BROWSER),
          ("t5", "r2-1", "click", "https://shop.example/b", BROWSER), ("t6", "r2-5", "open", "", BROWSER),
          ("t7", "r2-5", "open", "", BROWSER), ("t8", "h-2", "open", "", HOSTILE_UA),
          ("t9", "h-2", "click", HOSTILE_URL, HOSTILE_UA), (COMPLAINT_EVENT, "hh-1", "complaint", "", BROWSER)]
    s.ingest("tracking", [{"event_id": e, "message_id": m, "type": k, "url": u, "user_agent": ua,
                           "event_at": ("2026-03-03 09:00:00" if m.startswith("r2") else "2026-03-02 11:00:00")}
                          for e, m, k, u, ua in tr])
    s.build(AS_OF)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Scenario:
    s = Scenario(tmp_path_factory.mktemp("hostile") / "home")
    _build(s)
    return s


@pytest.fixture(scope="module")
def exported(home: Scenario) -> Path:
    """The default export (`sendlens export`: addresses masked, ids pseudonymised)."""
    out = home.home.parent / "export-default"
    pipeline.export(home.settings, out)
    return out


# ---- helpers ------------------------------------------------------------------------------
def _file_text(path: Path) -> str:
    """What a file says, decompressed: Parquet as its values, XLSX as all its XML parts."""
    if path.suffix == ".parquet":
        return repr(pq.read_table(path).to_pylist())
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as z:
            return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    return path.read_bytes().decode("utf-8", "replace")


def _csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def _input_addresses(s: Scenario) -> set[str]:
    raw = {r["address"] for r in s.query("select distinct address from intermediate.int_messages")}
    return raw | {a for *_, a in MESSAGES} | {"ghost.unknown.4242@gmail.com", "vip.person.7731@corp.example"}


def _ses_local_parts(s: Scenario) -> set[str]:
    rows = s.query("select distinct address from intermediate.int_messages where parent_delivery_id = 'ses-spring'")
    assert len(rows) >= 10
    return {r["address"].split("@")[0] for r in rows}


def _leaks(out: Path, s: Scenario) -> list[str]:
    """Every input address, or a recognisable piece of one, found in a file under ``out``."""
    addresses = _input_addresses(s)
    # An SES local part ("a4") is too short to search alone (hex ids are full of it): search it
    # as a local part (before "@" or "%40") and as the tail of an id ("...-000000:a4").
    parts = "|".join(re.escape(x) for x in sorted(_ses_local_parts(s), key=len, reverse=True))
    ses_re = re.compile(rf"(?<![A-Za-z0-9._+-])(?:{parts})(?=@|%40)|:(?:{parts})(?![A-Za-z0-9._-])")
    leaks = []
    for f in sorted(p for p in out.rglob("*") if p.is_file()):
        text, rel = _file_text(f), f.relative_to(out)
        leaks += [f"{rel}: {a}" for a in addresses if a in text]
        leaks += [f"{rel}: local part {x}" for x in CANONICAL_LOCAL_PARTS if x in text]
        leaks += [f"{rel}: SES local part {m.group(0)!r}" for m in ses_re.finditer(text)]
    return leaks


# ---- class 1: personal data ---------------------------------------------------------------
def test_the_build_writes_the_personal_data_declaration(home):
    got = {(r["table_name"], r["column_name"]): r["personal_data"]
           for r in home.query("select * from audit.personal_data_columns")}
    expected = {
        ("fct_message_status", "message_id"): "identifier", ("fct_message_status", "profile_id"): "identifier",
        ("fct_message_status", "cause_event_id"): "identifier",
        ("fct_message_status_history", "message_id"): "identifier",
        ("fct_profile_history", "profile_id"): "identifier", ("fct_profile_history", "address"): "address",
        ("fct_address_quarantine_history", "cause_event_id"): "identifier",
        ("dim_address_quarantine", "address"): "address",
        ("rpt_data_quality_findings", "item_id"): "identifier",
        ("rpt_data_quality_findings", "message_id"): "identifier",
        ("rpt_data_quality_findings", "details"): "free_text",
        ("rpt_confirmation_audit", "label"): "free_text",
    }
    assert expected.items() <= got.items()
    assert set(got.values()) <= {"address", "identifier", "free_text"}
    # every declared column exists in the published marts
    cols = {(r["table_name"], r["column_name"]) for r in home.query(
        "select table_name, column_name from information_schema.columns where table_schema = 'marts'")}
    assert set(got) <= cols


def test_default_export_has_no_raw_address_in_any_file(home, exported):
    # the warehouse really carries the addresses in ids (the hostile part of the input)
    assert home.query("select 1 from marts.fct_message_status where message_id like '%:a1@example.com'")
    assert home.query("select 1 from marts.rpt_data_quality_findings where message_id = ?", [GHOST_MESSAGE])
    assert home.query("select 1 from marts.fct_address_quarantine_history where cause_event_id = ?",
                      [COMPLAINT_EVENT])
    files = {str(p.relative_to(exported)) for p in exported.rglob("*") if p.is_file()}
    assert {"csv/fct_message_status.csv", "parquet/fct_profile_history.parquet", "sendlens_report.xlsx",
            "report.html", "manifest.json", "csv/rpt_data_quality_findings.csv"} <= files
    assert _leaks(exported, home) == []
    # masked addresses keep the masking rules; the free-text label keeps its words
    addrs = {r["address"] for r in _csv_rows(exported / "csv" / "fct_profile_history.csv")}
    assert {"d***@gmail.com", "a***@example.com", "'=***@evil.example"} <= addrs
    labels = {r["label"] for r in _csv_rows(exported / "csv" / "rpt_confirmation_audit.csv")}
    assert "'-2+3 offer, reply to v***@corp.example" in labels
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["include_pii"] is False


def test_pseudonyms_are_keyed_joinable_and_pii_export_is_raw(home, tmp_path):
    from sendlens.reports.warehouse import pseudonymise

    key = "home-secret-" + "k" * 40
    a = export_reports(home.settings.warehouse, tmp_path / "a", pseudonym_key=key)
    b = export_reports(home.settings.warehouse, tmp_path / "b", pseudonym_key=key)
    c = export_reports(home.settings.warehouse, tmp_path / "c")  # no key: random, this export only
    status = _csv_rows(a.out_dir / "csv" / "fct_message_status.csv")
    raw_ids = {r["message_id"] for r in home.query("select message_id from marts.fct_message_status")}
    assert {r["message_id"] for r in status} == {pseudonymise(m, key) for m in raw_ids}
    assert all(re.fullmatch(r"p_[0-9a-f]{24}", r["message_id"]) for r in status)
    # joinable: the same pseudonyms in the history, the profile history and the findings
    for table in ("fct_message_status_history", "fct_profile_history"):
        other = {r["message_id"] for r in _csv_rows(a.out_dir / "csv" / f"{table}.csv")}
        assert other and other <= {r["message_id"] for r in status}, table
    findings = _csv_rows(a.out_dir / "csv" / "rpt_data_quality_findings.csv")
    assert pseudonymise(GHOST_MESSAGE, key) in {r["message_id"] for r in findings}
    quarantine = {r["cause_event_id"] for r in _csv_rows(a.out_dir / "csv" / "fct_address_quarantine_history.csv")}
    assert pseudonymise(COMPLAINT_EVENT, key) in quarantine
    # Parquet carries the same pseudonyms; the same key gives the same ones in another export
    assert set(pq.read_table(a.out_dir / "parquet" / "fct_message_status.parquet").column("message_id").to_pylist()) \
        == {r["message_id"] for r in status}
    assert (a.out_dir / "csv" / "fct_message_status.csv").read_bytes() == \
        (b.out_dir / "csv" / "fct_message_status.csv").read_bytes()
    # without a key: a random one, never a constant (another export, other pseudonyms)
    assert {r["message_id"] for r in _csv_rows(c.out_dir / "csv" / "fct_message_status.csv")}.isdisjoint(
        {r["message_id"] for r in status})
    for res in (a, c):
        assert key not in "".join(_file_text(p) for p in res.out_dir.rglob("*") if p.is_file())
        assert _leaks(res.out_dir, home) == []
    manifest = json.loads((c.out_dir / "manifest.json").read_text())
    assert manifest["personal_data"]["declaration"] == "audit.personal_data_columns"
    assert "random" in manifest["personal_data"]["pseudonym_key"]
    # --include-pii keeps the raw values
    pii = export_reports(home.settings.warehouse, tmp_path / "pii", include_pii=True)
    assert raw_ids == {r["message_id"] for r in _csv_rows(pii.out_dir / "csv" / "fct_message_status.csv")}
    text = _file_text(pii.out_dir / "parquet" / "fct_profile_history.parquet")
    assert "digest.reader.1@gmail.com" in text and "=zed.formula@evil.example" in text


# ---- class 6: formula injection in CSV ----------------------------------------------------
def test_csv_cells_that_spreadsheets_would_run_are_neutralised(home, exported, tmp_path):
    audit = {r["delivery_id"]: r for r in _csv_rows(exported / "csv" / "rpt_confirmation_audit.csv")}
    assert audit["hostile"]["label"] == "'" + HOSTILE_LABEL
    assert audit["hostile"]["start_lag_seconds"].startswith("-")  # a number stays a number
    assert float(audit["hostile"]["start_lag_seconds"]) == -3600
    profile = {r["delivery_id"] + r["address"]: r for r in _csv_rows(exported / "csv" / "fct_profile_history.csv")}
    assert "hostile'=***@evil.example" in profile and "hostile'+***@evil.example" in profile
    assert "hostile'-***@evil.example" in profile
    # no cell of any CSV starts with a formula character
    for f in sorted((exported / "csv").glob("*.csv")) + [exported / "data_quality.csv"]:
        types = {c["column_name"]: c["data_type"] for c in home.query(
            "select column_name, data_type from information_schema.columns where table_schema = 'marts' "
            "and table_name = ?", [f.stem])}
        for row in _csv_rows(f):
            for col, v in row.items():
                if types.get(col, "VARCHAR") != "VARCHAR":
                    continue  # numbers (a negative one too) are not text
                plain_number = re.fullmatch(r"[+-][0-9 .,()+-]*", v)  # e.g. a phone number
                if v[:1] in ("=", "@", "\t", "\r") or (v[:1] in ("+", "-") and not plain_number):
                    pytest.fail(f"{f.name}.{col} starts with a formula character: {v!r}")
    # Parquet is data: raw values
    labels = pq.read_table(exported / "parquet" / "rpt_confirmation_audit.parquet").column("label").to_pylist()
    assert HOSTILE_LABEL in labels
    # the workbook writes text as text: the label is a string cell, no formula anywhere
    with zipfile.ZipFile(exported / "sendlens_report.xlsx") as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/")]
        xml = "\n".join(z.read(n).decode() for n in sheets)
        shared = z.read("xl/sharedStrings.xml").decode() if "xl/sharedStrings.xml" in z.namelist() else ""
    assert "<f>" not in xml and "<f " not in xml
    assert any(HOSTILE_LABEL.replace('"', q) in xml + shared for q in ('"', "&quot;"))
    # with --include-pii the raw hostile profile id is neutralised in CSV too
    pii = export_reports(home.settings.warehouse, tmp_path / "pii", include_pii=True)
    raw = {r["message_id"]: r for r in _csv_rows(pii.out_dir / "csv" / "fct_message_status.csv")}
    assert raw["h-1"]["profile_id"] == "'" + HOSTILE_PROFILE
    addrs = {r["address"] for r in _csv_rows(pii.out_dir / "csv" / "dim_address_quarantine.csv")}
    assert "'=zed.formula@evil.example" in addrs and "'+plus.formula@evil.example" in addrs


# ---- class 7: an export deletes only its own files ----------------------------------------
def test_export_keeps_files_it_did_not_write(home, tmp_path):
    out = tmp_path / "shared-folder"
    mine = {"csv/mine.csv": "a,b\n1,2\n", "parquet/mine.parquet": "not really parquet",
            "notes.txt": "my notes", "data-quality/mine.html": "<p>mine</p>",
            "csv/rpt_retired_mart.csv": "x\n1\n"}
    for rel, text in mine.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    pipeline.export(home.settings, out)
    pipeline.export(home.settings, out)
    pipeline.export(home.settings, out)
    for rel, text in mine.items():
        assert (out / rel).is_file() and (out / rel).read_text() == text, rel
    # what it does own and no longer writes goes: the data-quality CSV of a run without checks...
    wh = home.settings.warehouse
    own = tmp_path / "own"
    export_reports(wh, own, run_info={"checks": [{"name": "c", "status": "passed", "details": ""}]})
    assert (own / "data_quality.csv").is_file()
    export_reports(wh, own)
    assert not (own / "data_quality.csv").exists()
    # ...unless the user changed it since: then it is theirs
    export_reports(wh, own, run_info={"checks": [{"name": "c", "status": "passed", "details": ""}]})
    (own / "data_quality.csv").write_text("name,status,details\nmine,edited,\n")
    export_reports(wh, own)
    assert (own / "data_quality.csv").read_text() == "name,status,details\nmine,edited,\n"
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]


# ---- class 9: recurring parents counted once ----------------------------------------------
def test_marts_flag_recurring_parents(home):
    for table in ("rpt_delivery_kpis", "dash_delivery_kpis", "rpt_delivery_failure_reasons",
                  "rpt_delivery_domains", "rpt_delivery_kpis_hourly", "rpt_delivery_engagement_hourly",
                  "rpt_kpi_reconciliation"):
        rows = home.query(f"select distinct delivery_id, is_recurring_parent from marts.{table}")
        flagged = {r["delivery_id"] for r in rows if r["is_recurring_parent"]}
        # the canonical recurring delivery, and the SES configuration set (an ESP key is a
        # recurring parent of its daily executions)
        assert flagged == {"rec-parent", "ses-spring"}, table
        assert all(r["is_recurring_parent"] is not None for r in rows), table


def _truth(s: Scenario) -> dict:
    own = ("from marts.fct_message_status s where s.is_own_mode and not s.is_test_profile and not s.is_proof")
    t = {
        "failed": s.one(f"select count(*) as n {own} and s.status = 'failed'")["n"],
        "sent": s.one(f"select count(*) as n {own}")["n"],
        "delivered": s.one(f"select count(*) as n {own} and s.status = 'sent'")["n"],
        "deliveries": s.one("select count(distinct delivery_id) as n from marts.fct_message_status "
                            "where not is_proof and not is_test_profile")["n"],
        "opens": s.one("select count(*) as n from intermediate.int_tracking_events "
                       "where tracking_type = 'open' and counts_in_kpis")["n"],
        "domains": {r["d"]: r["n"] for r in s.query(
            "select m.recipient_domain as d, count(*) as n from marts.fct_message_status s "
            "join intermediate.int_messages m using (message_id) "
            "where s.is_own_mode and m.counts_in_kpis group by 1")},
        "by_reason": {(r["failure_reason"], r["failure_type"]): r["n"] for r in s.query(
            f"select failure_reason, failure_type, count(*) as n {own} and s.status = 'failed' group by all")},
    }
    # the scenario really double counts without the fix: the parent repeats its executions
    parent = s.one("select sum(bounces_errors) as n from marts.rpt_delivery_kpis "
                   "where delivery_id = 'rec-parent' and reporting_mode = 'standard'")["n"]
    assert parent >= 3 and t["failed"] >= 7 and t["opens"] >= 6
    return t


def test_html_totals_count_each_message_once(home, exported):
    truth = _truth(home)
    html = (exported / "report.html").read_text(encoding="utf-8")
    # what a reader sees: the deliveries tile and the failure chart's title
    header_tile = re.search(r'<div class="label">Deliveries</div><div class="value">([^<]+)</div>', html).group(1)
    assert int(header_tile.replace(",", "")) == truth["deliveries"]
    assert f"Failed messages by reason ({truth['failed']:,})" in html
    # the same numbers, for machines
    tiles = dict(re.findall(r'data-total="([^"]+)" data-value="([^"]*)"', html))
    assert int(tiles["deliveries"]) == truth["deliveries"]
    assert int(tiles["failed_messages"]) == truth["failed"]
    failures = re.search(r'<section id="failures">(.*?)</section>', html, re.S).group(1)
    for (reason, ftype), n in truth["by_reason"].items():
        assert re.search(rf"{re.escape(reason)} \({ftype}\): {n:,} messages", failures), (reason, ftype, n)
    # opens over time
    assert int(tiles["opens"]) == truth["opens"]
    # domains: sent per domain
    domains = re.search(r'<section id="domains">(.*?)</section>', html, re.S).group(1)
    shown = {}
    for row in re.findall(r"<tr>(.*?)</tr>", domains, re.S):
        m = re.search(r'data-domain="([^"]+)"', row)
        if m:
            sent = re.search(r'<td[^>]*data-label="Sent">(.*?)</td>', row, re.S).group(1)
            shown[m.group(1)] = int(sent.replace(",", ""))
    assert shown == truth["domains"]
    # the parent stays visible, labelled, in the per-delivery part
    deliveries = re.search(r'<section id="deliveries">(.*?)</section>', html, re.S).group(1)
    assert "rec-parent" in deliveries and "recurring parent" in deliveries


def test_workbook_totals_count_each_message_once(home, exported):
    truth = _truth(home)
    wb = Xlsx(exported / "sendlens_report.xlsx")
    about = {r["A"]: r["B"] for r in wb.rows("About") if r.get("A") and "B" in r}
    assert int(float(about["Deliveries"])) == truth["deliveries"]
    assert int(float(about["Sent"])) == truth["sent"]
    assert int(float(about["Bounces + errors"])) == truth["failed"]
    assert int(float(about["Delivered"])) == truth["delivered"]
    assert "left out" in about["Recurring parents"]
    # the sheets keep the parent's rows, flagged, so a filtered sum is right too
    body = wb.records("rpt_delivery_failure_reasons")
    assert body and "is_recurring_parent" in body[0]
    assert {r["delivery_id"] for r in body if r["is_recurring_parent"] == "1"} == {"rec-parent", "ses-spring"}
    own = {(r["delivery_id"], r["reporting_mode"]) for r in home.query(
        "select delivery_id, reporting_mode from marts.dash_delivery_kpis")}
    filtered = sum(int(float(r["messages"])) for r in body
                   if r["is_recurring_parent"] == "0" and (r["delivery_id"], r["reporting_mode"]) in own)
    assert filtered == truth["failed"]
