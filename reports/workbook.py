"""The Excel workbook for business readers: an About sheet, an Overview with charts, and the
small report marts, one sheet each.

- **Formats by column type**, from the marts' declaration (``column_formats.py``): a rate is
  ``0.0%`` because its column is declared ``format: percent``, never because of its name; a
  reconciliation row shows its values in the format of the KPI it names.
- **Readable sheets.** Human headers (the declared ``label``, else the name in words), each with
  a note holding the column's name and description. Every sheet of a per-delivery mart shows the
  delivery's label and send date beside its id (from ``dim_deliveries`` when the warehouse has
  it, else ``rpt_confirmation_audit``), and its rows are sorted: by send date, then delivery,
  then the delivery's own reporting mode first, then the mart's own keys. A mart that has rows
  in both modes gets a column "Delivery's own mode".
- **Excel's own features.** Each sheet is an Excel table (filter buttons, banding); the Overview
  has a chart of the bounce rate and one of the open rate with and without machine opens per
  delivery; every sheet prints landscape on A4, fitted to the page width, with its header row
  repeated on each page.

Text is always written as text (``write_string``; the workbook's ``strings_to_formulas``/
``_urls``/``_numbers`` are off), so a value such as ``=HYPERLINK(...)`` is never a formula here.

Excel tables need the sheets in memory (xlsxwriter refuses them in ``constant_memory`` mode):
a workbook of at most :data:`TABLE_CELL_BUDGET` cells (about 55 MB) is written with tables; a
bigger one is streamed from DuckDB in constant-memory mode, with a filter on the header row
instead of a table (the About sheet says which). Each sheet is capped at ``max_rows`` rows.

The About sheet gives the totals over all deliveries with each message once (recurring
parents' rows left out: the sheets show them, flagged ``is_recurring_parent``, and a sum over a
whole column counts each execution twice).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import xlsxwriter

from .column_formats import KPI_COLUMN, ColumnFormats
from .format import public_run_info
from .totals import once_per_message, report_totals
from .warehouse import Marts, qi

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
    # issue 21: the analysts' marts
    "dim_deliveries",
    "rpt_delivery_kpis_daily",
    "rpt_bounce_details",
    "rpt_link_clicks",
    "rpt_opens_by_client",
)
ABOUT = "About"
OVERVIEW = "Overview"
MAX_SHEET_ROWS = 100_000
# Cells (rows x columns over all sheets) up to which the workbook is held in memory, with Excel
# tables: xlsxwriter keeps about 110 bytes a cell (measured: 2M cells, 243 MB).
TABLE_CELL_BUDGET = 500_000
CHART_MAX_DELIVERIES = 30  # the charts show the latest deliveries by send date
_BATCH = 5_000
_MAX_CELL = 32_767
_TEXT_MAX_WIDTH = 42  # a longer text column wraps
_MAX_HEADER_LINES = 3
_TABLE_STYLE = "Table Style Light 9"
# Printing: an A4 landscape page holds about 145 column-width units at 100%; a sheet is not
# shrunk below 62% to fit (smaller type is no longer read comfortably).
PAGE_WIDTH_UNITS = 145
PORTRAIT_WIDTH_UNITS = 100
MIN_PRINT_SCALE = 0.62
# A sheet that fits a portrait page at 75% or more prints portrait: a long, narrow sheet takes
# fewer pages so (the failure reasons: 7 landscape pages, 4 portrait, for the demo's 212 rows).
PORTRAIT_MIN_SCALE = 0.75

# After send date, delivery and own mode first: each mart's own order of rows ("-" descending).
SORT_KEYS: dict[str, tuple[str, ...]] = {
    "rpt_kpi_reconciliation": ("kpi_order", "kpi"),
    "rpt_delivery_failure_reasons": ("-messages", "failure_type", "failure_reason"),
    "rpt_delivery_domains": ("-sent", "recipient_domain"),
    "rpt_exclusion_causes": ("-excluded_targets", "exclusion_reason"),
    "rpt_delivery_kpis_daily": ("day", "reporting_mode"),
    "rpt_bounce_details": ("-messages", "recipient_domain", "failure_type", "failure_reason", "smtp_code"),
    "rpt_link_clicks": ("-clicks", "url"),
    "rpt_opens_by_client": ("is_machine", "-opens", "client_family", "device_class"),
}
# The Overview: one row per delivery, in its own mode, recurring parents left out.
OVERVIEW_MART = "rpt_delivery_kpis"
OVERVIEW_COLUMNS = ("reporting_mode", "processed", "delivered_rate", "bounce_rate", "hard_bounces",
                    "soft_bounces", "open_rate", "open_rate_excl_machine", "click_through_rate",
                    "click_through_rate_excl_machine", "opt_outs", "complaints", "is_final")
# Colour-blind-safe (Okabe-Ito): vermillion, blue, orange.
_COLOURS = ("#D55E00", "#0072B2", "#E69F00")

_WIDTH = {"percent": 8, "count": 9, "number": 11, "seconds": 9, "datetime": 19, "date": 11,
          "flag": 9, "kpi_value": 10, "kpi_difference": 10}
_NUM_FORMATS = {
    "percent": "0.0%", "count": "#,##0", "number": "#,##0.00", "seconds": "#,##0.0",
    "datetime": "yyyy-mm-dd hh:mm", "date": "yyyy-mm-dd",
    # Excel shows a boolean as TRUE/FALSE whatever its format; LibreOffice shows some as 1/0
    # unless the format says TRUE/FALSE
    "flag": '"TRUE";"TRUE";"FALSE"',
}
_SIGNED_FORMATS = {"percent": "+0.0%;-0.0%;0.0%", "count": "+#,##0;-#,##0;0",
                   "number": "+#,##0.00;-#,##0.00;0.00", "seconds": "+#,##0.0;-#,##0.0;0.0"}


@dataclass
class SheetColumn:
    alias: str  # the column's name in the sheet's SELECT
    title: str
    kind: str
    note: str
    width: float = 10
    wrap: bool = False


@dataclass
class SheetPlan:
    name: str
    table: str | None  # the mart (None: the Overview)
    columns: list[SheetColumn]
    sql: str  # SELECT ... ORDER BY ..., without LIMIT
    total: int
    rows: int = 0  # written: min(total, max_rows)
    freeze_cols: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def capped(self) -> bool:
        return self.total > self.rows


@dataclass
class _Lookup:
    """Label and send date per delivery: a subquery (delivery_id, label, send_at) and where each
    comes from (for the header notes)."""
    sql: str
    label_from: str
    send_from: str


def write_workbook(marts: Marts, path: Path, *, as_of: str, run_info: dict | None,
                   row_counts: dict[str, int], max_rows: int = MAX_SHEET_ROWS,
                   progress: Callable[[str], None] | None = None,
                   table_cell_budget: int = TABLE_CELL_BUDGET,
                   formats: ColumnFormats | None = None) -> list[str]:
    """Write the workbook; returns the sheet names (the first one is "About")."""
    cf = formats or ColumnFormats.load(marts)
    lookup = _delivery_lookup(marts)
    plans: list[SheetPlan] = []
    overview = _overview_plan(marts, cf, lookup)
    if overview is not None:
        plans.append(overview)
    for t in WORKBOOK_TABLES:
        if marts.has(t):
            total = row_counts[t] if t in row_counts else marts.count(t)
            plans.append(_mart_plan(marts, cf, lookup, t, total))
    for p in plans:
        p.rows = min(p.total, int(max_rows))
        _measure(marts, p)
    cells = sum(max(p.rows, 1) * len(p.columns) for p in plans)
    use_tables = cells <= table_cell_budget

    wb = xlsxwriter.Workbook(str(path), {"constant_memory": not use_tables, "remove_timezone": True,
                                         "nan_inf_to_errors": True,
                                         # text stays text (formula injection, see the docstring)
                                         "strings_to_formulas": False, "strings_to_urls": False,
                                         "strings_to_numbers": False,
                                         "default_date_format": _NUM_FORMATS["datetime"]})
    try:
        fm = _Formats(wb)
        sheets = [ABOUT]
        about = wb.add_worksheet(ABOUT)
        _write_about(marts, cf, about, fm, plans, as_of=as_of, run_info=run_info, max_rows=max_rows,
                     use_tables=use_tables, cells=cells)
        for p in plans:
            ws = wb.add_worksheet(p.name)
            sheets.append(p.name)
            written = _write_plan(marts, cf, ws, p, fm, use_tables)
            _print_setup(ws, p.name, as_of, repeat_header=True)
            _fit_width(ws, p)
            if p.table is None:
                _add_charts(wb, ws, p, written)
            if progress:
                progress(f"workbook: sheet {p.name} ({written:,} rows{', capped' if p.capped else ''})")
        return sheets
    finally:
        wb.close()


# -- plans ------------------------------------------------------------------------------------
def _delivery_lookup(m: Marts) -> _Lookup | None:
    """Where each delivery's label and send date come from: ``dim_deliveries`` (its first relay,
    else its contact date) when the warehouse has it, else ``rpt_confirmation_audit`` (first relay,
    else the scheduled start)."""
    candidates = (("dim_deliveries", ("first_relayed_at", "contact_date")),
                  ("rpt_confirmation_audit", ("first_relayed_at", "scheduled_at")))
    for t, send_cols in candidates:
        if not m.has_columns(t, "delivery_id", "label"):
            continue
        sends = [c for c in send_cols if c in m.columns(t)]
        if not sends:
            continue
        send = f"coalesce({', '.join(qi(c) for c in sends)})" if len(sends) > 1 else qi(sends[0])
        sql = (f"SELECT delivery_id, any_value(label) AS label, min({send}) AS send_at "
               f"FROM {m.ref(t)} GROUP BY delivery_id")
        return _Lookup(sql, f"{t}.label", " else ".join(f"{t}.{c}" for c in sends))
    return None


def _own_mode_sql(m: Marts) -> str | None:
    if m.has_columns("dash_delivery_kpis", "delivery_id", "reporting_mode"):
        return (f"SELECT delivery_id, any_value(reporting_mode) AS reporting_mode "
                f"FROM {m.ref('dash_delivery_kpis')} GROUP BY delivery_id")
    return None


_LABEL, _SEND, _OWN, _DELIVERY = "wb__label", "wb__send_at", "wb__own_mode", "wb__delivery"


def _mart_plan(m: Marts, cf: ColumnFormats, lookup: _Lookup | None, t: str, total: int) -> SheetPlan:
    cols = m.columns(t)
    per_delivery = "delivery_id" in cols
    own_sql = (_own_mode_sql(m) if per_delivery and "reporting_mode" in cols and t != "dash_delivery_kpis"
               else None)
    joins: list[str] = []
    lead: list[tuple[str, SheetColumn]] = []  # (select expression, column)
    col_of = {c: SheetColumn(c, cf.label(t, c), cf.kind(t, c), cf.note(t, c)) for c in cols}
    order: list[str] = []
    if per_delivery:
        lead.append(("f.delivery_id", col_of["delivery_id"]))
        if "label" in cols:
            lead.append(("f.label", col_of["label"]))
        elif lookup:
            lead.append((f"lk.label AS {qi(_LABEL)}", SheetColumn(
                _LABEL, "Label", "text", f"The delivery's label (from {lookup.label_from}); not a "
                                          f"column of {t}.")))
        if lookup:
            joins.append(f"LEFT JOIN ({lookup.sql}) AS lk ON lk.delivery_id = f.delivery_id")
            lead.append((f"lk.send_at AS {qi(_SEND)}", SheetColumn(
                _SEND, "Send date", "datetime",
                f"When the delivery was sent: {lookup.send_from} (UTC); not a column of {t}.")))
            order.append("lk.send_at ASC NULLS LAST")
        order.append("f.delivery_id")
    if own_sql is not None:
        joins.append(f"LEFT JOIN ({own_sql}) AS o ON o.delivery_id = f.delivery_id")
        own = "CASE WHEN o.delivery_id IS NULL THEN NULL ELSE f.reporting_mode = o.reporting_mode END"
        both = m.con.execute(f"SELECT count(*) FROM {m.ref(t)} AS f {' '.join(joins[-1:])} "
                             f"WHERE NOT coalesce({own}, TRUE)").fetchone()[0]
        lead.append(("f.reporting_mode", col_of["reporting_mode"]))
        if both:  # rows in a mode that is not the delivery's own: say which row is which
            lead.append((f"{own} AS {qi(_OWN)}", SheetColumn(
                _OWN, "Own mode?", "flag",
                "TRUE on the row in the delivery's own reporting mode (efs when its Email Feedback "
                "Service is enabled, else standard; the dashboard's mode): the row to read. FALSE: the "
                "same delivery counted in the other mode, for comparison. Not a column of "
                f"{t}.")))
            order.append(f"{own} DESC NULLS LAST")
        order.append("f.reporting_mode")
    elif per_delivery and "reporting_mode" in cols:
        lead.append(("f.reporting_mode", col_of["reporting_mode"]))
    taken = {c.alias for _, c in lead}
    rest = [c for c in cols if c not in taken]
    for key in SORT_KEYS.get(t, ()):
        name = key.lstrip("-")
        if name in cols:
            order.append(f"f.{qi(name)} {'DESC' if key.startswith('-') else 'ASC'} NULLS LAST")
    order += [f"f.{qi(c)}" for c in cols if _sortable(m.column_type(t, c))]
    select = [e for e, _ in lead] + [f"f.{qi(c)}" for c in rest]
    columns = [c for _, c in lead] + [col_of[c] for c in rest]
    sql = (f"SELECT {', '.join(select)} FROM {m.ref(t)} AS f {' '.join(joins)} "
           f"ORDER BY {', '.join(_dedupe(order))}")
    freeze = sum(1 for _, c in lead if c.alias in ("delivery_id", "label", _LABEL, _SEND))
    return SheetPlan(t[:31], t, columns, sql, total, freeze_cols=freeze)


def _overview_plan(m: Marts, cf: ColumnFormats, lookup: _Lookup | None) -> SheetPlan | None:
    t = OVERVIEW_MART
    if not m.has_columns(t, "delivery_id") or not m.non_empty(t):
        return None
    cols = [c for c in OVERVIEW_COLUMNS if c in m.columns(t)]
    join, where = once_per_message(m, t, "f")
    sel = []
    columns = []
    joins = join
    if lookup:
        joins += f" LEFT JOIN ({lookup.sql}) AS lk ON lk.delivery_id = f.delivery_id"
        sel.append(f"coalesce(lk.label, f.delivery_id) || coalesce(' (' || strftime(lk.send_at, '%d %b') || ')', '') "
                   f"AS {qi(_DELIVERY)}")
        columns.append(SheetColumn(_DELIVERY, "Delivery", "text",
                                   f"The delivery's label and send day ({lookup.label_from}, {lookup.send_from})."))
    sel.append("f.delivery_id")
    columns.append(SheetColumn("delivery_id", cf.label(t, "delivery_id"), cf.kind(t, "delivery_id"),
                               cf.note(t, "delivery_id")))
    order = ["f.delivery_id"]
    if lookup:
        sel.append(f"lk.send_at AS {qi(_SEND)}")
        columns.append(SheetColumn(_SEND, "Send date", "datetime", f"When the delivery was sent: "
                                   f"{lookup.send_from} (UTC)."))
        order.insert(0, "lk.send_at ASC NULLS LAST")
    for c in cols:
        sel.append(f"f.{qi(c)}")
        columns.append(SheetColumn(c, cf.label(t, c), cf.kind(t, c), cf.note(t, c)))
    sql = f"SELECT {', '.join(sel)} FROM {m.ref(t)} AS f {joins} WHERE {where} ORDER BY {', '.join(order)}"
    total = int(m.con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0])
    plan = SheetPlan(OVERVIEW, None, columns, sql, total, freeze_cols=1 if lookup else 1)
    plan.notes.append(f"Each delivery once, in its own reporting mode, from {t}; recurring parents "
                      "left out (each execution has its own row). Charts: the latest "
                      f"{CHART_MAX_DELIVERIES} deliveries by send date.")
    return plan


def _sortable(data_type: str | None) -> bool:
    t = (data_type or "").upper()
    return not (t.endswith("[]") or t.startswith(("STRUCT", "MAP", "LIST", "UNION")))


def _dedupe(items: list[str]) -> list[str]:
    seen, out = set(), []
    for i in items:
        key = i.split(" ")[0]
        if key not in seen:
            seen.add(key)
            out.append(i)
    return out


def _measure(m: Marts, p: SheetPlan) -> None:
    """Column widths: numbers by their format, text by its longest value (up to a cap, then it
    wraps); never narrower than the header's longest word."""
    for c in p.columns:
        if c.kind == "datetime" and "UTC" not in c.title:
            c.title += " (UTC)"  # the cells are plain date-times; their zone is said once, here
    text = [c for c in p.columns if c.kind == "text"]
    longest: dict[str, int] = {}
    if text and p.rows:
        exprs = ", ".join(f"max(length(CAST({qi(c.alias)} AS VARCHAR)))" for c in text)
        row = m.con.execute(f"SELECT {exprs} FROM ({p.sql} LIMIT {int(p.rows)})").fetchone()
        longest = {c.alias: int(v or 0) for c, v in zip(text, row)}
    for c in p.columns:
        word = max((len(w) for w in _words(c.title)), default=4) + 1
        if c.kind == "text":
            data = longest.get(c.alias, 0) + 2
            c.wrap = data > _TEXT_MAX_WIDTH
            c.width = max(min(data, _TEXT_MAX_WIDTH), word, 8)
        else:
            c.width = max(_WIDTH.get(c.kind, 10), word)
        while _lines(c.title, c.width) > _MAX_HEADER_LINES and c.width < 18:
            c.width += 1  # a narrow column with a long header: wider, not a taller header row


def _words(title: str) -> list[str]:
    """A header's words as a wrapped header breaks them: at spaces and after hyphens."""
    return re.findall(r"[^\s-]+-?", title)


def _lines(title: str, width: float) -> int:
    """How many lines a header takes, wrapped in a column of ``width``."""
    lines, used = 1, 0
    for w in _words(title):
        if used and used + 1 + len(w) > width - 1:
            lines, used = lines + 1, len(w)
        else:
            used += (1 if used else 0) + len(w)
    return lines


def _header_lines(p: SheetPlan) -> int:
    """How many lines the widest-wrapping header takes in its column."""
    return max((_lines(c.title, c.width) for c in p.columns), default=1)


# -- writing ----------------------------------------------------------------------------------
class _Formats:
    def __init__(self, wb: Any) -> None:
        self.wb = wb
        base = {"font_size": 10, "valign": "top"}
        # a thin line under each data row: LibreOffice does not draw Excel's table styles
        self.base = {**base, "bottom": 1, "bottom_color": "#d9dee5"}
        self.head = wb.add_format({**base, "bold": True, "bg_color": "#1e293b", "font_color": "#ffffff",
                                   "border": 1, "border_color": "#cbd5e1", "text_wrap": True})
        self.warn = wb.add_format({**base, "bold": True, "font_color": "#b91c1c"})
        self.title = wb.add_format({"bold": True, "font_size": 14})
        self.bold = wb.add_format({**base, "bold": True})
        self.wrap = wb.add_format({**base, "text_wrap": True})
        self.plain = wb.add_format(base)
        self.link = wb.add_format({**base, "font_color": "#1d4ed8", "underline": 1})
        self._cache: dict[tuple[str, bool, bool], Any] = {}
        self.count = self.kind("count")

    def kind(self, kind: str, *, signed: bool = False, wrap: bool = False) -> Any:
        key = (kind, signed, wrap)
        if key in self._cache:
            return self._cache[key]
        props = dict(self.base)
        code = (_SIGNED_FORMATS if signed else _NUM_FORMATS).get(kind)
        if code:
            props["num_format"] = code
        if kind == "flag":
            props["align"] = "center"
        if wrap:
            props["text_wrap"] = True
        f = self._cache[key] = self.wb.add_format(props)
        return f


def _writers(cf: ColumnFormats, p: SheetPlan, fm: _Formats) -> list[Callable[[Any, int, int, Any, tuple], None]]:
    kpi_at = next((i for i, c in enumerate(p.columns) if c.alias == KPI_COLUMN), None)
    out = []
    for c in p.columns:
        if c.kind in ("kpi_value", "kpi_difference") and kpi_at is not None:
            signed = c.kind == "kpi_difference"
            def w(ws, r, j, v, rec, signed=signed):
                _write_cell(ws, r, j, v, fm.kind(cf.kpi_kind(rec[kpi_at]), signed=signed))
        else:
            kind = "number" if c.kind in ("kpi_value", "kpi_difference") else c.kind
            fmt = fm.kind(kind, wrap=c.wrap)
            def w(ws, r, j, v, rec, fmt=fmt):
                _write_cell(ws, r, j, v, fmt)
        out.append(w)
    return out


def _write_plan(m: Marts, cf: ColumnFormats, ws: Any, p: SheetPlan, fm: _Formats, use_tables: bool) -> int:
    n = len(p.columns)
    for j, c in enumerate(p.columns):
        ws.set_column(j, j, c.width)
    ws.freeze_panes(1, p.freeze_cols)
    ws.set_row(0, 14 * _header_lines(p) + 2)
    # constant_memory mode flushes a row once a later one is written: the header row, with its
    # notes and the cap note beside it, goes first.
    for j, c in enumerate(p.columns):
        ws.write_string(0, j, c.title, fm.head)
        ws.write_comment(0, j, c.note[:_MAX_CELL], {"x_scale": 2.4, "y_scale": 1 + len(c.note) // 160})
    beside = n + 1
    if p.capped:
        ws.write_string(0, beside, f"CAPPED: only the first {p.rows:,} of {p.total:,} rows are shown; "
                                   f"the full table is in csv/{p.table}.csv", fm.warn)
    writers = _writers(cf, p, fm)
    cur = m.con.execute(f"{p.sql} LIMIT {int(p.rows)}")
    written = 0
    while True:
        batch = cur.fetchmany(_BATCH)
        if not batch:
            break
        for rec in batch:
            written += 1
            for j, v in enumerate(rec):
                writers[j](ws, written, j, v, rec)
    last = max(written, 1)
    if n and use_tables:
        ws.add_table(0, 0, last, n - 1, {
            "name": "t_" + re.sub(r"\W", "_", p.name), "style": _TABLE_STYLE, "autofilter": True,
            "columns": [{"header": h, "header_format": fm.head} for h in _unique([c.title for c in p.columns])],
        })
    elif n:
        ws.autofilter(0, 0, last, n - 1)
    return written


def _unique(titles: list[str]) -> list[str]:
    """Excel table headers must differ (case-insensitively)."""
    seen: dict[str, int] = {}
    out = []
    for t in titles:
        k = t.lower()
        seen[k] = seen.get(k, 0) + 1
        out.append(t if seen[k] == 1 else f"{t} ({seen[k]})")
    return out


def _write_cell(ws: Any, r: int, c: int, v: Any, fmt: Any) -> None:
    if v is None:
        ws.write_blank(r, c, None, fmt)  # blank, with the row's border
        return
    if isinstance(v, bool):
        ws.write_boolean(r, c, v, fmt)
    elif isinstance(v, (int, float)):
        if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
            ws.write_string(r, c, str(v), fmt)
        else:
            ws.write_number(r, c, v, fmt)
    elif isinstance(v, decimal.Decimal):
        ws.write_number(r, c, float(v), fmt)
    elif isinstance(v, (dt.datetime, dt.date)):
        ws.write_datetime(r, c, v, fmt)
    elif isinstance(v, dt.timedelta):
        ws.write_string(r, c, str(v), fmt)
    else:
        ws.write_string(r, c, _text(v), fmt)


def _text(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        s = ", ".join(_text(x) for x in v)
    elif isinstance(v, dict):
        s = ", ".join(f"{k}={_text(x)}" for k, x in v.items())
    else:
        s = "" if v is None else str(v)
    return s[:_MAX_CELL]


def _hf(text: str) -> str:
    """Text for a printed header or footer (& is its escape character)."""
    return text.replace("&", "&&")[:100]


def _print_setup(ws: Any, name: str, as_of: str, *, repeat_header: bool) -> None:
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.fit_to_pages(1, 0)  # the page width, as many pages down as it takes
    ws.set_margins(left=0.4, right=0.4, top=0.7, bottom=0.6)
    ws.set_header(f"&L&\"-,Bold\"sendlens: {_hf(name)}&Ras of {_hf(as_of)}", {"margin": 0.3})
    ws.set_footer("&LCounts and rates: see the About sheet&Rpage &P of &N", {"margin": 0.3})
    if repeat_header:
        ws.repeat_rows(0)


def is_portrait(p: SheetPlan) -> bool:
    return sum(c.width for c in p.columns) <= PORTRAIT_WIDTH_UNITS / PORTRAIT_MIN_SCALE


def pages_wide(p: SheetPlan) -> int:
    """How many pages wide a sheet prints: one, unless fitting it on one landscape page would
    shrink it below :data:`MIN_PRINT_SCALE`; then as many as keep it at least that big, with its
    identifying columns (id, label, send date) repeated on each."""
    total = sum(c.width for c in p.columns)
    if is_portrait(p):
        return 1
    room = PAGE_WIDTH_UNITS / MIN_PRINT_SCALE
    if total <= room:
        return 1
    repeated = sum(c.width for c in p.columns[: p.freeze_cols])
    pages = math.ceil(total / room)
    while total + repeated * (pages - 1) > room * pages:
        pages += 1
    return pages


def _fit_width(ws: Any, p: SheetPlan) -> None:
    pages = pages_wide(p)
    if is_portrait(p):
        ws.set_portrait()
    ws.fit_to_pages(pages, 0)
    if pages > 1 and p.freeze_cols:
        ws.repeat_columns(0, p.freeze_cols - 1)


def _add_charts(wb: Any, ws: Any, p: SheetPlan, written: int) -> None:
    """The Overview's charts, under its table: bounce rate per delivery (on its own scale) and
    the open rate with and without machine opens."""
    if not written:
        return
    at = {c.alias: j for j, c in enumerate(p.columns)}
    first = max(1, written - CHART_MAX_DELIVERIES + 1)
    cat_col = at.get(_DELIVERY, at.get("delivery_id", 0))
    cats = [p.name, first, cat_col, written, cat_col]
    row = written + 2
    specs = []
    if "bounce_rate" in at:
        specs.append(("Bounce rate per delivery (bounces + errors / processed, own mode)",
                      [("bounce_rate", "Bounce rate")]))
    if "open_rate" in at:
        series = [("open_rate", "Unique open rate")]
        if "open_rate_excl_machine" in at:
            series.append(("open_rate_excl_machine", "Unique open rate, machine opens excluded"))
        specs.append(("Unique open rate per delivery, with and without machine opens", series))
    for title_text, series in specs:
        chart = wb.add_chart({"type": "column"})
        for k, (alias, name) in enumerate(series):
            j = at[alias]
            chart.add_series({
                "name": name, "categories": cats, "values": [p.name, first, j, written, j],
                "fill": {"color": _COLOURS[k % len(_COLOURS)]}, "border": {"none": True},
                "data_labels": {"value": True, "num_format": "0.0%", "font": {"size": 7}},
                "gap": 60,
            })
        chart.set_title({"name": title_text, "name_font": {"size": 11}})
        chart.set_y_axis({"num_format": "0%", "min": 0, "major_gridlines": {"visible": True,
                                                                          "line": {"color": "#e2e8f0"}}})
        chart.set_x_axis({"num_font": {"size": 8, "rotation": -35}})
        chart.set_legend({"position": "bottom"} if len(series) > 1 else {"none": True})
        chart.set_size({"width": 900, "height": 320})
        ws.insert_chart(row, 0, chart, {"object_position": 1})
        row += 17


# -- About ------------------------------------------------------------------------------------
TOTAL_LABELS = (
    ("deliveries", "Deliveries"), ("to_deliver", "To deliver"), ("sent", "Sent"),
    ("processed", "Processed"), ("delivered", "Delivered"), ("bounces_errors", "Bounces + errors"),
    ("hard_bounces", "Hard bounces"), ("soft_bounces", "Soft bounces"), ("pending", "Pending"),
    ("unique_opens", "Unique opens"), ("opens", "Opens"), ("unique_clicks", "Unique clicks"),
    ("clicks", "Clicks"), ("opt_outs", "Opt-outs"), ("complaints", "Complaints"),
)
def _shown_run_info(run_info: dict | None) -> list[tuple[str, str]]:
    return [(k.replace("_", " ").capitalize()[:255], _text(v)) for k, v in public_run_info(run_info)]


def _write_about(m: Marts, cf: ColumnFormats, ws: Any, fm: _Formats, plans: list[SheetPlan], *,
                 as_of: str, run_info: dict | None, max_rows: int, use_tables: bool, cells: int) -> None:
    ws.set_column(0, 0, 26)
    ws.set_column(1, 1, 96)
    ws.set_column(2, 2, 12)
    r = 0
    ws.write_string(r, 0, "sendlens delivery report", fm.title); r += 2
    pairs = [("As of", as_of),
             ("Generated at", dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")),
             *_shown_run_info(run_info),
             ("Addresses", "unmasked (PII included)" if m.include_pii else
              "masked (j***@domain, ***89); message, profile and event ids pseudonymised "
              "(p_ + keyed hash: they join across sheets and files)")]
    for k, v in pairs:
        ws.write_string(r, 0, k, fm.bold); ws.write_string(r, 1, v, fm.wrap); r += 1
    r += 1
    texts = [
        ("Reporting mode", "Each delivery is reported in its own mode: efs when its Email Feedback Service "
         "is enabled, else standard. The Overview, the dashboard, the reconciliation and these totals use "
         "that mode only. rpt_delivery_kpis, rpt_delivery_failure_reasons and rpt_delivery_domains also "
         "count every delivery in the other mode, for comparison: there the own mode's row comes first "
         "and the column \"Own mode?\" is TRUE on it."),
        ("Dashboard vs report", "dash_delivery_kpis is the deployment dashboard: a quick-look snapshot "
         "taken at stats_computed_at. rpt_delivery_kpis is the dynamic report, computed from all events: "
         "it is the source of truth. rpt_kpi_reconciliation explains the differences."),
        ("Reading the sheets", "Every sheet is sorted by send date, then delivery. A header's note (hover "
         "over it) gives the column's name in the CSV and Parquet files and its meaning. Times are UTC."),
        ("Column formats", cf.source + "."),
    ]
    if not use_tables:
        texts.append(("Tables", f"this workbook is large ({cells:,} cells): its sheets have filters on "
                      "their header row instead of Excel tables (written streaming, to keep memory low)."))
    for w in cf.warnings:
        texts.append(("Format warning", w))
    for k, v in texts:
        ws.set_row(r, 15 * max(1, math.ceil(len(v) / 110)))
        ws.write_string(r, 0, k, fm.bold); ws.write_string(r, 1, v, fm.wrap); r += 1
    r += 1
    r = _write_totals(m, ws, r, fm)
    ws.write_string(r, 0, "Sheet", fm.head); ws.write_string(r, 1, "What it holds", fm.head)
    ws.write_string(r, 2, "Rows", fm.head); r += 1
    for p in plans:
        what = p.notes[0] if p.table is None else (cf.table_comment(p.table) or p.table)
        if len(what) > 400:
            what = what[:399] + "…"
        if p.capped:
            what = f"CAPPED at {max_rows:,} rows (full data in csv/{p.table}.csv). " + what
        ws.set_row(r, 15 * max(1, math.ceil(len(what) / 105)))
        ws.write_url(r, 0, f"internal:'{p.name}'!A1", fm.link, string=p.name)
        ws.write_string(r, 1, what, fm.warn if p.capped else fm.wrap)
        ws.write_number(r, 2, p.total, fm.count)
        r += 1
    ws.set_portrait()
    ws.set_paper(9)
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.5, right=0.5, top=0.7, bottom=0.6)
    ws.set_footer("&Rpage &P of &N", {"margin": 0.3})


def _write_totals(m: Marts, ws: Any, r: int, fm: _Formats) -> int:
    """The dynamic report's totals over all deliveries, each message once; returns the next row."""
    totals = report_totals(m)
    if not totals:
        return r
    ws.write_string(r, 0, "Totals, all deliveries", fm.head)
    ws.write_string(r, 1, "dynamic report, each delivery in its own mode, each message once", fm.head)
    r += 1
    for key, label in TOTAL_LABELS:
        if totals.get(key) is not None:
            ws.write_string(r, 0, label)
            ws.write_number(r, 1, totals[key], fm.kind("count"))
            r += 1
    parents = totals.get("recurring_parents") or 0
    ws.set_row(r, 30)
    ws.write_string(r, 0, "Recurring parents", fm.bold)
    if totals.get("parents_flagged"):
        ws.write_string(r, 1, f"{parents:,} recurring parent row(s) left out of these totals: a parent's row "
                        "already includes every message of its executions, which have rows of their own. "
                        "In the sheets, filter \"Recurring parent?\" = FALSE before summing a column.", fm.wrap)
    else:
        ws.write_string(r, 1, "this warehouse does not flag recurring parents (built before "
                        "is_recurring_parent): a parent's row repeats its executions' messages.", fm.wrap)
    return r + 2
