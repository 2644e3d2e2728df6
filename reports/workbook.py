"""The Excel workbook for business readers: the small report marts, one sheet each.

Rows are streamed from DuckDB in batches into xlsxwriter's constant-memory mode, so even a
capped 100k-row sheet never sits in Python memory at once. Text is always written as text
(``write_string``; the workbook's ``strings_to_formulas``/``_urls``/``_numbers`` are off), so a
value such as ``=HYPERLINK(...)`` is never a formula here. The About sheet gives the totals
over all deliveries with each message once (recurring parents' rows left out: the sheets
show them, flagged ``is_recurring_parent``, and a sum over a whole column counts each
execution twice).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from pathlib import Path
from typing import Any, Callable

import xlsxwriter

from .totals import report_totals
from .warehouse import Marts

# Business-facing marts, in sheet order (only those present are written).
WORKBOOK_TABLES = (
    "dash_delivery_kpis",
    "rpt_delivery_kpis",
    "rpt_kpi_reconciliation",
    "rpt_confirmation_audit",
    "rpt_delivery_failure_reasons",
    "rpt_delivery_domains",
    "rpt_exclusion_causes",
    "rpt_proof_and_test_sends",
)
MAX_SHEET_ROWS = 100_000
_BATCH = 5_000
_MAX_CELL = 32_767


def write_workbook(marts: Marts, path: Path, *, as_of: str, run_info: dict | None,
                   row_counts: dict[str, int], max_rows: int = MAX_SHEET_ROWS,
                   progress: Callable[[str], None] | None = None) -> list[str]:
    """Write the workbook; returns the sheet names (the first one is "About")."""
    tables = [t for t in WORKBOOK_TABLES if marts.has(t)]
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "remove_timezone": True,
                                         "nan_inf_to_errors": True,
                                         # text stays text (formula injection, see the docstring)
                                         "strings_to_formulas": False, "strings_to_urls": False,
                                         "strings_to_numbers": False,
                                         "default_date_format": "yyyy-mm-dd hh:mm:ss"})
    try:
        f_head = wb.add_format({"bold": True, "bg_color": "#1e293b", "font_color": "#ffffff",
                                "border": 1, "border_color": "#cbd5e1"})
        f_pct = wb.add_format({"num_format": "0.0%"})
        f_int = wb.add_format({"num_format": "#,##0"})
        f_num = wb.add_format({"num_format": "#,##0.####"})
        f_ts = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        f_date = wb.add_format({"num_format": "yyyy-mm-dd"})
        f_warn = wb.add_format({"bold": True, "font_color": "#b91c1c"})
        f_title = wb.add_format({"bold": True, "font_size": 14})
        f_bold = wb.add_format({"bold": True})
        f_wrap = wb.add_format({"text_wrap": True, "valign": "top"})

        about = wb.add_worksheet("About")
        about.set_column(0, 0, 30)
        about.set_column(1, 1, 90)
        r = 0
        about.write_string(r, 0, "sendlens delivery report", f_title); r += 2
        about.write_string(r, 0, "As of", f_bold); about.write_string(r, 1, as_of); r += 1
        about.write_string(r, 0, "Generated at", f_bold)
        about.write_string(r, 1, dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")); r += 1
        about.write_string(r, 0, "Addresses", f_bold)
        about.write_string(r, 1, "unmasked (PII included)" if marts.include_pii else
                           "masked (j***@domain, ***89); message, profile and event ids pseudonymised "
                           "(p_ + keyed hash: they join across sheets and files)"); r += 1
        for k, v in (run_info or {}).items():
            if k in ("checks", "as_of"):
                continue
            about.write_string(r, 0, str(k)[:255], f_bold)
            about.write_string(r, 1, _text(v)); r += 1
        r += 1
        about.set_row(r, 45)
        about.write_string(r, 0, "Dashboard vs report", f_bold)
        about.write_string(r, 1, "dash_delivery_kpis is the deployment dashboard: a quick-look snapshot "
                           "taken at stats_computed_at. rpt_delivery_kpis is the dynamic report, "
                           "computed from all events: it is the source of truth. "
                           "rpt_kpi_reconciliation explains the differences.", f_wrap)
        r += 2
        r = _write_totals(marts, about, r, f_head, f_bold, f_int, f_wrap)
        about.write_string(r, 0, "Sheet", f_head); about.write_string(r, 1, "Rows (mart) / note", f_head); r += 1

        sheets = ["About"]
        for t in tables:
            name = t[:31]
            ws = wb.add_worksheet(name)
            sheets.append(name)
            total = row_counts[t] if t in row_counts else marts.count(t)
            written, capped = _write_table(marts, t, ws, total, max_rows, f_head, f_pct, f_int,
                                           f_num, f_ts, f_date, f_warn)
            note = f"{total:,} rows"
            if capped:
                note += f"; sheet capped at {max_rows:,} rows (full data in csv/{t}.csv)"
            about.write_string(r, 0, name)
            about.write_string(r, 1, note, f_warn if capped else None); r += 1
            if progress:
                progress(f"workbook: sheet {name} ({written:,} rows{', capped' if capped else ''})")
        return sheets
    finally:
        wb.close()


TOTAL_LABELS = (
    ("deliveries", "Deliveries"), ("to_deliver", "To deliver"), ("sent", "Sent"),
    ("processed", "Processed"), ("delivered", "Delivered"), ("bounces_errors", "Bounces + errors"),
    ("hard_bounces", "Hard bounces"), ("soft_bounces", "Soft bounces"), ("pending", "Pending"),
    ("unique_opens", "Unique opens"), ("opens", "Opens"), ("unique_clicks", "Unique clicks"),
    ("clicks", "Clicks"), ("opt_outs", "Opt-outs"), ("complaints", "Complaints"),
)


def _write_totals(marts: Marts, ws: Any, r: int, f_head, f_bold, f_int, f_wrap) -> int:
    """The dynamic report's totals over all deliveries, each message once; returns the next row."""
    totals = report_totals(marts)
    if not totals:
        return r
    ws.write_string(r, 0, "Totals, all deliveries", f_head)
    ws.write_string(r, 1, "dynamic report, each delivery in its own mode, each message once", f_head)
    r += 1
    for key, label in TOTAL_LABELS:
        if totals.get(key) is not None:
            ws.write_string(r, 0, label)
            ws.write_number(r, 1, totals[key], f_int)
            r += 1
    parents = totals.get("recurring_parents") or 0
    ws.set_row(r, 45)
    ws.write_string(r, 0, "Recurring parents", f_bold)
    if totals.get("parents_flagged"):
        ws.write_string(r, 1, f"{parents:,} recurring parent row(s) left out of these totals: a parent's row "
                        "already includes every message of its executions, which have rows of their own. "
                        "In the sheets, filter is_recurring_parent = FALSE before summing a column.", f_wrap)
    else:
        ws.write_string(r, 1, "this warehouse does not flag recurring parents (built before "
                        "is_recurring_parent): a parent's row repeats its executions' messages.", f_wrap)
    return r + 2


def _write_table(marts: Marts, table: str, ws: Any, total: int, max_rows: int, f_head, f_pct, f_int, f_num,
                 f_ts, f_date, f_warn) -> tuple[int, bool]:
    cols = marts.columns(table)
    cur = marts.con.execute(f"{marts.select_sql(table)} LIMIT {int(max_rows)}")
    widths = [max(len(c) + 2, 10) for c in cols]
    fmts = []
    for c in cols:
        t = (marts.column_type(table, c) or "").upper()
        if c.endswith("_rate") or c.endswith("_pct") or c == "rate":
            fmts.append(f_pct)
        elif "TIMESTAMP" in t:
            fmts.append(f_ts)
            widths[len(fmts) - 1] = max(widths[len(fmts) - 1], 20)
        elif t == "DATE":
            fmts.append(f_date)
        elif t.endswith("INT") or t.endswith("INTEGER"):
            fmts.append(f_int)
        elif t in ("DOUBLE", "FLOAT", "REAL") or t.startswith("DECIMAL"):
            fmts.append(f_num)
        else:
            fmts.append(None)
    for j, w in enumerate(widths):
        ws.set_column(j, j, min(w, 60))
    ws.freeze_panes(1, 0)
    # constant_memory mode flushes a row once a later one is written: the header row, with
    # the cap note beside it, goes first.
    for j, c in enumerate(cols):
        ws.write_string(0, j, c, f_head)
    capped = total > max_rows
    if capped:
        ws.write_string(0, len(cols) + 1,
                        f"CAPPED: only the first {max_rows:,} of {total:,} rows are shown; "
                        f"the full table is in csv/{table}.csv", f_warn)

    written = 0
    while True:
        batch = cur.fetchmany(_BATCH)
        if not batch:
            break
        for rec in batch:
            written += 1
            for j, v in enumerate(rec):
                _write_cell(ws, written, j, v, fmts[j])
    if cols:
        ws.autofilter(0, 0, max(written, 1), len(cols) - 1)
    return written, capped


def _write_cell(ws: Any, r: int, c: int, v: Any, fmt: Any) -> None:
    if v is None:
        return
    if isinstance(v, bool):
        ws.write_boolean(r, c, v)
    elif isinstance(v, (int, float)):
        if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
            ws.write_string(r, c, str(v))
        else:
            ws.write_number(r, c, v, fmt)
    elif isinstance(v, decimal.Decimal):
        ws.write_number(r, c, float(v), fmt)
    elif isinstance(v, (dt.datetime, dt.date)):
        ws.write_datetime(r, c, v, fmt)
    elif isinstance(v, dt.timedelta):
        ws.write_string(r, c, str(v))
    else:
        ws.write_string(r, c, _text(v))


def _text(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        s = ", ".join(_text(x) for x in v)
    elif isinstance(v, dict):
        s = ", ".join(f"{k}={_text(x)}" for k, x in v.items())
    else:
        s = "" if v is None else str(v)
    return s[:_MAX_CELL]
