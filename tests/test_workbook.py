"""The Excel workbook as its readers get it: from a warehouse a real demo build made, read back
from the XLSX's own XML, then opened by headless LibreOffice Calc and printed to PDF (Debian's
libreoffice-calc-nogui; `make test` installs it as root).

- every mart column's cells carry the format its YAML declares (audit.column_formats), not one
  guessed from its name: a rate is a percentage wherever it sits;
- headers are words, each with a note that names the column; label and send date sit beside
  every delivery id; rows are sorted by send date;
- every data sheet is an Excel table and prints landscape (or portrait when narrow), fitted to
  the page width; the whole workbook prints in a few pages, where it took 63 before;
- LibreOffice opens it without a repair and shows the rates as percentages.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from sendlens.config import load_settings
from sendlens.reports import export_reports
from tests.xlsx import Xlsx

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
# the demo's workbook printed 63 portrait pages before (8 sheets); now 17 for those sheets and
# 15 for the five analysts' marts (rpt_bounce_details alone 8: a row per domain, reason and
# SMTP code with its sample diagnostic), 32 in all
MAX_PRINTED_PAGES = 36


@pytest.fixture(scope="module")
def built(demo_home):
    home = demo_home
    settings = load_settings(home, environ={})
    out = export_reports(settings.warehouse, home / "wb-export")
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    declared = {(t, c): f for t, c, f in con.execute(
        "select table_name, column_name, format from audit.column_formats where format is not null").fetchall()}
    kpis = con.execute("select delivery_id, label from marts.rpt_confirmation_audit").fetchall()
    con.close()
    return {"xlsx": Xlsx(out.workbook), "path": out.workbook, "declared": declared, "labels": dict(kpis),
            "tmp": home}


def test_every_rate_column_is_declared_in_the_marts_yaml():
    """A double in a public mart says how it is shown (format meta): percent, number, seconds or
    a KPI's format. Without it the workbook would show 0.2994 for a rate."""
    import yaml
    missing = []
    for path in sorted((Path(__file__).resolve().parents[1] / "models" / "marts").glob("_*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models") or []:
            for col in model.get("columns") or []:
                fmt = ((col.get("config") or {}).get("meta") or {}).get("format")
                if col.get("data_type") == "double" and not fmt:
                    missing.append(f"{model['name']}.{col['name']}")
                if re.search(r"(^|_)rate(_|$)", col["name"]) and col.get("data_type") == "double":
                    assert fmt == "percent", f"{model['name']}.{col['name']} is a rate but shown as {fmt}"
    assert not missing, missing


def test_cells_carry_the_declared_format(built):
    x, declared = built["xlsx"], built["declared"]
    checked = 0
    for (table, column), fmt in declared.items():
        if table not in x.sheets or fmt not in ("percent", "seconds"):
            continue
        letter = x.columns(table).get(column)
        assert letter, f"{table}.{column} has no header with a note"
        values = [f for v, f in x.column(table, letter) if v is not None]
        assert values, f"{table}.{column} is empty"
        want = "0.0%" if fmt == "percent" else "#,##0.0"
        assert set(values) == {want}, (table, column, set(values))
        checked += 1
    # the rates that showed 0.2994 beside 30.0% before
    assert ("rpt_delivery_kpis", "open_rate_excl_machine") in declared
    assert checked >= 15
    # counts get thousands separators, instants a date-time, by their data type
    cols = x.columns("rpt_delivery_kpis")
    assert {f for v, f in x.column("rpt_delivery_kpis", cols["processed"]) if v} == {"#,##0"}
    assert {f for v, f in x.column("rpt_delivery_kpis", cols["as_of"]) if v} == {"yyyy-mm-dd hh:mm"}


def test_reconciliation_values_take_their_kpis_format(built):
    x = built["xlsx"]
    cols = x.columns("rpt_kpi_reconciliation")
    kpis = [v for v, _ in x.column("rpt_kpi_reconciliation", cols["kpi"])]
    values = [f for _, f in x.column("rpt_kpi_reconciliation", cols["report_value"])]
    diffs = [f for _, f in x.column("rpt_kpi_reconciliation", cols["difference"])]
    by_kpi = {}
    for k, v, d in zip(kpis, values, diffs):
        by_kpi.setdefault(k, set()).add((v, d))
    assert by_kpi["open_rate"] == {("0.0%", "+0.0%;-0.0%;0.0%")}
    assert by_kpi["delivered"] == {("#,##0", "+#,##0;-#,##0;0")}


def test_headers_are_words_with_the_column_in_a_note(built):
    x = built["xlsx"]
    cells, notes = x.cells("rpt_delivery_kpis"), x.notes("rpt_delivery_kpis")
    cols = x.columns("rpt_delivery_kpis")
    header = cells[cols["open_rate_excl_machine"] + "1"][0]
    assert header == "Open rate (excl. machine)"
    note = notes[cols["open_rate_excl_machine"] + "1"]
    assert note.startswith("rpt_delivery_kpis.open_rate_excl_machine\n") and len(note) > 60  # + description
    assert cells[cols["is_final"] + "1"][0] == "Final?"
    assert not any(re.fullmatch(r"[a-z_]+", cells[f"{c}1"][0]) for c in cols.values()), "a raw column name as header"


def test_kpi_sheets_show_label_and_send_date_sorted(built):
    x, labels = built["xlsx"], built["labels"]
    for sheet in ("dash_delivery_kpis", "rpt_delivery_kpis", "rpt_kpi_reconciliation",
                  "rpt_delivery_failure_reasons", "rpt_delivery_domains"):
        cells = x.cells(sheet)
        heads = {cells[r][0]: re.match(r"[A-Z]+", r).group(0) for r in cells if re.fullmatch(r"[A-Z]+1", r)}
        assert list(heads)[:2] == ["Delivery ID", "Label"], (sheet, list(heads)[:4])
        assert "Send date (UTC)" in heads, sheet
        ids = [v for v, _ in x.column(sheet, heads["Delivery ID"])]
        shown = [v for v, _ in x.column(sheet, heads["Label"])]
        assert all(labels[i] == lbl for i, lbl in zip(ids, shown)), sheet
        sends = [float(v) for v, f in x.column(sheet, heads["Send date (UTC)"]) if v is not None]
        assert len(sends) == len(ids) and sends == sorted(sends), sheet


def test_the_own_mode_comes_first(built):
    x = built["xlsx"]
    cells = x.cells("rpt_delivery_kpis")
    heads = {cells[r][0]: re.match(r"[A-Z]+", r).group(0) for r in cells if re.fullmatch(r"[A-Z]+1", r)}
    ids = [v for v, _ in x.column("rpt_delivery_kpis", heads["Delivery ID"])]
    own = [v for v, _ in x.column("rpt_delivery_kpis", heads["Own mode?"])]
    first_rows = {}
    for i, o in zip(ids, own):
        first_rows.setdefault(i, o)
    assert set(first_rows.values()) == {"1"}  # each delivery's first row is its own mode
    assert own.count("1") == len(first_rows) and own.count("0") == len(first_rows)


def test_sheets_are_tables_that_print_to_the_page_width(built):
    x = built["xlsx"]
    data_sheets = [s for s in x.sheets if s != "About"]
    assert data_sheets[0] == "Overview" and "rpt_delivery_kpis" in data_sheets
    for s in data_sheets:
        assert len(x.tables(s)) == 1, s
        setup = re.search(r"<pageSetup [^>]*/>", x.xml(s)).group(0)
        assert '<pageSetUpPr fitToPage="1"/>' in x.xml(s) and 'fitToHeight="0"' in setup, (s, setup)
        assert 'paperSize="9"' in setup, s
    wide = re.search(r"<pageSetup [^>]*/>", x.xml("rpt_delivery_kpis")).group(0)
    assert 'orientation="landscape"' in wide
    # the Overview has its two charts
    assert sum(1 for n in x.z.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n)) == 2


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice not installed (make test installs it as root)")
def test_libreoffice_opens_it_and_prints_few_pages(built):
    tmp = built["tmp"]
    out = tmp / "lo"
    profile = tmp / "lo-profile"
    for target in ("pdf", "html"):
        res = subprocess.run(
            [SOFFICE, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
             "--convert-to", target, "--outdir", str(out), str(built["path"])],
            capture_output=True, text=True, timeout=240)
        assert res.returncode == 0, res.stderr
        assert "Error" not in res.stdout + res.stderr, res.stdout + res.stderr
    pdf = (out / built["path"].with_suffix(".pdf").name).read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert 1 < pages <= MAX_PRINTED_PAGES, pages
    # what Calc shows: the machine-excluded open rate as a percentage with one decimal
    html = (out / built["path"].with_suffix(".html").name).read_text(errors="replace")
    con = duckdb.connect(str(load_settings(tmp, environ={}).warehouse), read_only=True)
    rate = con.execute("select open_rate_excl_machine from marts.rpt_delivery_kpis "
                       "where open_rate_excl_machine between 0.05 and 0.95 limit 1").fetchone()[0]
    con.close()
    assert f"{rate * 100:.1f}%" in html
    assert not re.search(r">0\.\d{3,}<", html), "a rate shown as a bare fraction"
