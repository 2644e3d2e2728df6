"""The self-contained HTML report for people.

One file, no external resources: CSS inline, charts as inline SVG (see ``charts``), no
JavaScript. Every section reads the marts it needs and renders a short "no data" note when
they are missing or empty. Every piece of text from the warehouse or the run is escaped.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from html import escape
from typing import Any, Callable, Iterable, Sequence

import duckdb

from .charts import PALETTE, Bar, Series, hbar_chart, line_chart
from .totals import has_parent_flag, once_per_message, own_mode_join
from .warehouse import Marts, qi, ql

TOP_N_DELIVERIES = 6
TABLE_ROW_CAP = 300
ALL_DELIVERIES_CAP = 500

# KPI display order in the reconciliation table (others follow alphabetically).
KPI_ORDER = ("to_deliver", "sent", "processed", "delivered", "bounces_errors", "delivered_rate",
             "bounces_errors_rate", "bounce_rate", "opens", "unique_opens", "open_rate", "clicks",
             "unique_clicks", "click_through_rate", "click_to_open_rate", "open_rate_excl_machine",
             "click_through_rate_excl_machine")
KPI_LABELS = {
    "to_deliver": "To deliver", "sent": "Sent", "processed": "Processed", "delivered": "Delivered",
    "bounces_errors": "Bounces + errors", "delivered_rate": "Delivered %",
    "bounces_errors_rate": "Bounces + errors %", "bounce_rate": "Bounce %", "opens": "Opens",
    "unique_opens": "Unique opens", "open_rate": "Open rate", "clicks": "Clicks",
    "unique_clicks": "Unique clicks", "click_through_rate": "Click-through rate",
    "click_to_open_rate": "Click-to-open rate",
    "open_rate_excl_machine": "Open rate excl. machine opens",
    "click_through_rate_excl_machine": "Click-through rate excl. machine",
}
OK_STATUSES = {"pass", "passed", "ok", "success", "succeeded", "green"}
WARN_STATUSES = {"warn", "warning", "skipped", "skip"}
FAIL_STATUSES = {"fail", "failed", "error", "errored", "red"}
NO_FINDING = ("", "ok", "none", "no finding", "no_finding", "-")


# ---------------------------------------------------------------------------------------------
# formatting
# ---------------------------------------------------------------------------------------------
def _num(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def fmt_int(v: Any, signed: bool = False) -> str:
    f = _num(v)
    if f is None:
        return "–"
    if f.is_integer():
        s = f"{int(f):+,}" if signed else f"{int(f):,}"
    else:
        s = f"{f:+,.2f}" if signed else f"{f:,.2f}"
    return s.replace("-", "−")


def fmt_pct(v: Any) -> str:
    f = _num(v)
    return "–" if f is None else f"{f * 100:.1f}%".replace("-", "−")


def fmt_pp(v: Any) -> str:
    f = _num(v)
    if f is None:
        return "–"
    return f"{f * 100:+.1f} pp".replace("-", "−")


def to_utc(v: Any) -> dt.datetime | None:
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.timezone.utc).replace(tzinfo=None) if v.tzinfo else v
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day)
    return None


def fmt_ts(v: Any) -> str:
    if v is None:
        return "–"
    t = to_utc(v)
    if t is None:
        return str(v)
    return t.strftime("%Y-%m-%d %H:%M" + (":%S" if t.second else "")) + " UTC"


def fmt_any(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (dt.datetime, dt.date)):
        return fmt_ts(v)
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt_any(x) for x in v)
    if isinstance(v, float):
        return f"{v:,.4g}" if not v.is_integer() else f"{int(v):,}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def fmt_col(col: str, v: Any) -> str:
    """Format a value by its column name: rates as %, counts with separators."""
    c = col.lower()
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if c.endswith("_rate") or c == "rate" or c.endswith("_pct") or c == "share":
        return fmt_pct(v)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return fmt_int(v) if float(v).is_integer() else fmt_any(v)
    return fmt_any(v)


def is_rate_kpi(kpi: str) -> bool:
    k = kpi.lower()
    return "rate" in k or k.endswith("_pct") or k.endswith("%")


def reasons_list(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return [str(x) for x in v if x is not None and str(x).strip()]
    s = str(v).strip()
    if not s:
        return []
    for sep in (";", "|", ","):
        if sep in s:
            return [p.strip() for p in s.split(sep) if p.strip()]
    return [s]


def e(v: Any) -> str:
    return escape("" if v is None else str(v))


# ---------------------------------------------------------------------------------------------
# HTML building blocks
# ---------------------------------------------------------------------------------------------
def nodata(msg: str) -> str:
    return f'<p class="nodata">No data: {e(msg)}</p>'


def section(sid: str, title: str, body: str, intro: str | None = None) -> str:
    intro_html = f'<p class="intro">{intro}</p>' if intro else ""
    return (f'<section id="{e(sid)}"><h2>{e(title)}</h2>{intro_html}{body}</section>')


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Sequence[bool] | None = None,
          cls: str = "", head_html: str | None = None) -> str:
    """Cells in ``rows`` are HTML (already escaped); headers are plain text."""
    numeric = numeric or [False] * len(headers)
    th = head_html or "<tr>" + "".join(
        f'<th class="{"num" if n else ""}">{e(h)}</th>' for h, n in zip(headers, numeric)) + "</tr>"
    body = []
    for r in rows:
        body.append("<tr>" + "".join(
            f'<td class="{"num" if n else ""}">{c}</td>' for c, n in zip(r, numeric)) + "</tr>")
    return (f'<div class="tablewrap"><table class="{e(cls)}"><thead>{th}</thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def badge(text: str, kind: str) -> str:
    return f'<span class="badge {e(kind)}">{e(text)}</span>'


def tile(label: str, value: str, sub: str = "", kind: str = "", total: str | None = None,
         number: Any = None) -> str:
    """A labelled value; ``total`` names a cross-delivery total (``data-total``, with the
    number in ``data-value``) so that it can be read back by machine."""
    sub_html = f'<div class="sub">{sub}</div>' if sub else ""
    data = (f' data-total="{e(total)}" data-value="{e(number)}"' if total else "")
    return (f'<div class="tile {e(kind)}"{data}><div class="label">{e(label)}</div>'
            f'<div class="value">{e(value)}</div>{sub_html}</div>')


def capped_note(shown: int, total: int, table_name: str) -> str:
    if total <= shown:
        return ""
    return (f'<p class="note">Showing {shown:,} of {total:,} rows; the full table is in '
            f'<code>csv/{e(table_name)}.csv</code>.</p>')


# ---------------------------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------------------------
@dataclass
class ReportContext:
    marts: Marts
    as_of: str
    run_info: dict
    row_counts: dict[str, int]
    files: dict[str, dict[str, str]]  # table -> {"csv": rel, "parquet": rel}
    workbook_rel: str | None = None
    top_n: int = TOP_N_DELIVERIES
    warnings: list[str] = field(default_factory=list)
    # computed
    deliveries: list[dict] = field(default_factory=list)  # dashboard rows (or report rows)
    info: dict[Any, dict] = field(default_factory=dict)  # delivery_id -> label/channel/mode


def build_html(ctx: ReportContext) -> str:
    m = ctx.marts
    _load_deliveries(ctx)
    sections: list[tuple[str, str, Callable[[ReportContext], str]]] = [
        ("deliveries", "Deliveries: dashboard vs dynamic report", _sec_deliveries),
        ("reconciliation", "Reconciliation", _sec_reconciliation),
        ("hourly", "Delivered % and bounces + errors % over the validity period", _sec_hourly),
        ("failures", "Failure reasons", _sec_failures),
        ("tracking", "Opens and clicks over time", _sec_tracking),
        ("domains", "Recipient domains", _sec_domains),
        ("quarantine", "Address quarantine", _sec_quarantine),
        ("exclusions", "Exclusion causes", _sec_exclusions),
        ("proofs", "Proofs and test sends", _sec_proofs),
        ("audit", "Confirmation audit", _sec_audit),
        ("quality", "Data quality", _sec_quality),
        ("files", "Exported files", _sec_files),
    ]
    parts = []
    for sid, title, fn in sections:
        try:
            parts.append(fn(ctx))
        except (duckdb.Error, KeyError, ValueError, TypeError, ZeroDivisionError) as exc:
            msg = f"section {sid!r} could not be rendered: {type(exc).__name__}: {exc}"
            ctx.warnings.append(msg)
            parts.append(section(sid, title, f'<p class="nodata error">{e(msg)}</p>'))
    nav = "".join(f'<a href="#{e(sid)}">{e(title.split(":")[0])}</a>' for sid, title, _ in sections)
    header = _header(ctx)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>sendlens delivery report · as of {e(ctx.as_of)}</title>"
        f"<style>{CSS}</style></head><body>"
        f"{header}<nav>{nav}</nav><main>{''.join(parts)}</main>"
        f'<footer>Generated by sendlens reports from schema <code>{e(m.schema)}</code> · '
        f'{"personal data as stored (PII included)" if m.include_pii else "addresses masked, ids pseudonymised"} · '
        f"rates are shown as percentages with one decimal.</footer>"
        "</body></html>\n")


# -- header ------------------------------------------------------------------------------------
def _header(ctx: ReportContext) -> str:
    m = ctx.marts
    info = ctx.run_info or {}
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    items = [("Generated", now),
             ("Addresses", "unmasked (PII)" if m.include_pii else "masked, ids pseudonymised")]
    for k, v in info.items():
        if k in ("checks", "as_of"):
            continue
        if isinstance(v, dict):
            v = ", ".join(f"{a}={fmt_any(b)}" for a, b in list(v.items())[:12])
        elif isinstance(v, (list, tuple)):
            v = ", ".join(fmt_any(x) for x in list(v)[:12]) + (" …" if len(v) > 12 else "")
        else:
            v = fmt_any(v)
        s = str(v)
        key = str(k).replace("_", " ")
        items.append((key[:1].upper() + key[1:], s if len(s) <= 160 else s[:159] + "…"))
    meta = "".join(f"<div><dt>{e(k)}</dt><dd>{e(v)}</dd></div>" for k, v in items)

    tiles = []
    n_parents = sum(1 for i in ctx.info.values() if i.get("parent"))
    n_deliveries = len(ctx.info) - n_parents
    where = "in the dashboard" if m.has("dash_delivery_kpis") else "in the report"
    if n_parents:
        where += (f"; {n_parents:,} recurring parent{'s' if n_parents != 1 else ''} not counted "
                  f"({'its' if n_parents == 1 else 'their'} executions are)")
    tiles.append(tile("Deliveries", f"{n_deliveries:,}" if ctx.info else "–", e(where),
                      total="deliveries", number=n_deliveries))
    def count_where(table: str, predicate: str) -> tuple[int, int]:
        return m.con.execute(f"SELECT count(*) FILTER (WHERE {predicate}), count(*) FROM {m.ref(table)}").fetchone()

    if m.has_columns("rpt_kpi_reconciliation", "difference"):
        n, tot = count_where("rpt_kpi_reconciliation", "coalesce(difference, 0) <> 0")
        tiles.append(tile("KPI values that differ", f"{n:,}", e(f"of {tot:,} dashboard/report pairs"),
                          "warn" if n else "ok"))
    if m.has_columns("rpt_confirmation_audit", "finding"):
        n, tot = count_where("rpt_confirmation_audit", _finding_pred(m))
        tiles.append(tile("Audit findings", f"{n:,}", e(f"of {tot:,} deliveries"),
                          "bad" if n else "ok"))
    if m.has_columns("dim_address_quarantine", "status"):
        n, tot = count_where("dim_address_quarantine", "lower(status) IN ('quarantine', 'denylisted')")
        tiles.append(tile("Quarantined / denylisted", f"{n:,}", e(f"of {tot:,} known addresses")))
    checks = _checks(ctx)
    if checks is not None:
        kinds = [_check_kind(c.get("status")) for c in checks]
        failed, warned, passed = kinds.count("bad"), kinds.count("warn"), kinds.count("ok")
        sub = " · ".join(x for x in (f"{failed} failed" if failed else "",
                                     f"{warned} warning{'s' if warned != 1 else ''}" if warned else "") if x)
        tiles.append(tile("Data-quality checks", f"{passed:,}/{len(checks):,} passed" if checks else "–",
                          e(sub or ("all passed" if checks else "none supplied")),
                          "bad" if failed else ("warn" if warned else "ok")))
    return (f'<header><div class="brand">sendlens <span>delivery report</span></div>'
            f'<div class="asof">as of <strong>{e(ctx.as_of)}</strong></div>'
            f'<dl class="meta">{meta}</dl><div class="tiles">{"".join(tiles)}</div></header>')


# -- deliveries ---------------------------------------------------------------------------------
DASH_COLS = ("delivery_id", "reporting_mode", "stats_computed_at", "to_deliver", "sent", "delivered",
             "bounces_errors", "delivered_rate", "bounces_errors_rate", "open_rate",
             "click_through_rate", "label", "channel", "is_recurring_parent")
RPT_COLS = ("delivery_id", "reporting_mode", "as_of", "to_deliver", "sent", "pending", "processed", "delivered",
            "bounces_errors", "hard_bounces", "soft_bounces", "delivered_rate", "bounce_rate",
            "opens", "unique_opens", "clicks", "unique_clicks", "open_rate", "click_through_rate",
            "click_to_open_rate", "opt_outs", "mirror_pages", "complaints", "machine_opens",
            "open_rate_excl_machine", "is_final", "label", "channel", "is_recurring_parent")


def _load_deliveries(ctx: ReportContext) -> None:
    """Deliveries ranked by sent (dashboard), else processed (report), else hourly volume."""
    m = ctx.marts
    rows: list[dict] = []
    if m.non_empty("dash_delivery_kpis") and m.has_columns("dash_delivery_kpis", "delivery_id"):
        order = "sent DESC NULLS LAST, delivery_id" if "sent" in m.columns("dash_delivery_kpis") else "delivery_id"
        rows = m.fetch("dash_delivery_kpis", DASH_COLS, order_by=order, limit=ALL_DELIVERIES_CAP)
    elif m.non_empty("rpt_delivery_kpis") and m.has_columns("rpt_delivery_kpis", "delivery_id"):
        cols = m.columns("rpt_delivery_kpis")
        vol = "max(processed)" if "processed" in cols else "count(*)"
        mode = "min(reporting_mode)" if "reporting_mode" in cols else "NULL"
        flag = "bool_or(is_recurring_parent)" if has_parent_flag(m, "rpt_delivery_kpis") else "NULL"
        rows = m.dicts(f"SELECT delivery_id, {mode} AS reporting_mode, {vol} AS sent, "
                       f"{flag} AS is_recurring_parent "
                       f"FROM {m.ref('rpt_delivery_kpis')} GROUP BY delivery_id "
                       f"ORDER BY sent DESC NULLS LAST, delivery_id LIMIT {ALL_DELIVERIES_CAP}")
        for r in rows:
            r["sent"] = None  # not a dashboard value
            r["_no_dash"] = True
    elif m.non_empty("rpt_delivery_kpis_hourly") and m.has_columns("rpt_delivery_kpis_hourly", "delivery_id"):
        cols = m.columns("rpt_delivery_kpis_hourly")
        vol = ("max(coalesce(delivered, 0) + coalesce(bounces_errors, 0))"
               if {"delivered", "bounces_errors"} <= set(cols) else "count(*)")
        rows = m.dicts(f"SELECT delivery_id, {vol} AS _vol FROM {m.ref('rpt_delivery_kpis_hourly')} "
                       f"GROUP BY delivery_id ORDER BY _vol DESC, delivery_id LIMIT {ALL_DELIVERIES_CAP}")
        for r in rows:
            r["_no_dash"] = True
    ctx.deliveries = rows
    for r in rows:
        ctx.info[r["delivery_id"]] = {"label": r.get("label"), "channel": r.get("channel"),
                                      "mode": r.get("reporting_mode"),
                                      "parent": bool(r.get("is_recurring_parent"))}
    _fill_labels(ctx)


def _fill_labels(ctx: ReportContext) -> None:
    m = ctx.marts
    missing = [d for d, i in ctx.info.items() if not i.get("label") or not i.get("channel")]
    if not missing:
        return
    for t in ("dim_delivery", "dim_deliveries", "rpt_confirmation_audit", "rpt_exclusion_causes",
              "rpt_delivery_kpis", "fct_profile_history"):
        if not m.has_columns(t, "delivery_id") or not ({"label", "channel"} & set(m.columns(t))):
            continue
        cols = [c for c in ("label", "channel") if c in m.columns(t)]
        sel = ", ".join(f"any_value({qi(c)}) AS {qi(c)}" for c in cols)
        found = m.dicts(f"SELECT delivery_id, {sel} FROM {m.ref(t)} "
                        f"WHERE delivery_id IN (SELECT unnest(?)) GROUP BY delivery_id", [missing])
        for r in found:
            i = ctx.info.get(r["delivery_id"])
            if i is None:
                continue
            for c in cols:
                if not i.get(c) and r.get(c):
                    i[c] = r[c]
        missing = [d for d, i in ctx.info.items() if not i.get("label") or not i.get("channel")]
        if not missing:
            return


def _delivery_title(ctx: ReportContext, did: Any) -> str:
    i = ctx.info.get(did, {})
    parts = [f'<span class="did">{e(did)}</span>']
    if i.get("label"):
        parts.append(f'<span class="dlabel">{e(i["label"])}</span>')
    if i.get("parent"):
        parts.append('<span class="parent" title="a recurring parent: its row includes every message '
                     'of its executions, which also have rows of their own; totals leave it out">'
                     'recurring parent · includes its executions</span>')
    return " ".join(parts)


def _report_rows(ctx: ReportContext, ids: list) -> dict[tuple, dict]:
    m = ctx.marts
    if not ids or not m.non_empty("rpt_delivery_kpis") or not m.has_columns("rpt_delivery_kpis", "delivery_id"):
        return {}
    rows = m.fetch("rpt_delivery_kpis", RPT_COLS, where="delivery_id IN (SELECT unnest(?))", params=[ids])
    return {(r["delivery_id"], r.get("reporting_mode")): r for r in rows}


def _own_report(rpt: dict[tuple, dict], did: Any, mode: Any) -> tuple[dict | None, dict | None]:
    """The report row in the delivery's own mode, and the row in the other mode."""
    mine = rpt.get((did, mode))
    if mine is None:
        for (d, md), r in rpt.items():
            if d == did and (mode is None or md == "standard"):
                mine = r
                break
    other = None
    if mine is not None:
        for (d, md), r in rpt.items():
            if d == did and md != mine.get("reporting_mode"):
                other = r
                break
    return mine, other


def _sec_deliveries(ctx: ReportContext) -> str:
    m = ctx.marts
    title = "Deliveries: dashboard vs dynamic report"
    intro = ("The <strong>deployment dashboard</strong> is a quick look: a snapshot of each delivery in "
             "its own mode, taken at <code>stats_computed_at</code> (the last “Compute stats” or scheduled "
             "refresh); its open rate and click-through rate lag by up to an hour and count no "
             "click-implied opens. The <strong>dynamic report</strong> is recomputed from all events up "
             "to the as-of time and is the <strong>source of truth</strong>: where the two differ, trust "
             "the report (the reconciliation below says why they differ). Dashboard rates divide by "
             "<em>sent</em>; report rates divide by <em>processed</em> (delivered + bounces + errors). "
             "Proofs and test profiles are excluded from both.")
    if not ctx.deliveries:
        return section("deliveries", title,
                       nodata("marts.dash_delivery_kpis and marts.rpt_delivery_kpis are missing or empty."),
                       intro)
    ids = [r["delivery_id"] for r in ctx.deliveries]
    rpt = _report_rows(ctx, ids)
    top = ctx.deliveries[: ctx.top_n]
    cards = [_delivery_card(ctx, d, rpt) for d in top]
    body = "".join(cards)
    n_total = m.count("dash_delivery_kpis") if m.has("dash_delivery_kpis") else len(ctx.deliveries)
    if len(ctx.deliveries) > len(top):
        body += (f'<h3>All deliveries ({n_total:,})</h3>'
                 + _deliveries_table(ctx, rpt)
                 + capped_note(len(ctx.deliveries), n_total, "dash_delivery_kpis"))
    elif len(ctx.deliveries) > 0:
        body += (f'<p class="note">{len(top)} deliver{"y" if len(top) == 1 else "ies"} shown, '
                 f'ordered by messages sent.</p>')
    return section("deliveries", title, body, intro)


def _delivery_card(ctx: ReportContext, d: dict, rpt: dict[tuple, dict]) -> str:
    did = d["delivery_id"]
    info = ctx.info.get(did, {})
    mode = d.get("reporting_mode")
    r, other = _own_report(rpt, did, mode)
    badges = []
    if info.get("channel"):
        badges.append(badge(str(info["channel"]), "neutral"))
    mode_shown = mode or (r or {}).get("reporting_mode")
    if mode_shown:
        badges.append(badge(f"{mode_shown} mode", "mode"))
    if r is not None and r.get("is_final") is not None:
        badges.append(badge("final", "ok") if r["is_final"] else badge("provisional", "warn"))
    if info.get("parent"):
        badges.append(badge("recurring parent", "neutral"))

    # dashboard panel
    if d.get("_no_dash"):
        dash_html = nodata("no dashboard snapshot for this delivery.")
        dash_sub = ""
    else:
        sent = d.get("sent")
        dash_sub = f'snapshot at <strong>{e(fmt_ts(d.get("stats_computed_at")))}</strong>'
        dash_html = '<div class="kpis">' + "".join([
            tile("To deliver", fmt_int(d.get("to_deliver"))),
            tile("Sent", fmt_int(sent)),
            tile("Delivered", fmt_pct(d.get("delivered_rate")),
                 e(f"{fmt_int(d.get('delivered'))} of {fmt_int(sent)} sent"), "good"),
            tile("Bounces + errors", fmt_pct(d.get("bounces_errors_rate")),
                 e(f"{fmt_int(d.get('bounces_errors'))} of {fmt_int(sent)} sent"), "badv"),
            tile("Open rate", fmt_pct(d.get("open_rate")), e("hourly refresh")),
            tile("Click-through", fmt_pct(d.get("click_through_rate")), e("hourly refresh")),
        ]) + "</div>"

    # report panel
    def delta(key_r: str, key_d: str) -> str:
        if d.get("_no_dash"):
            return ""
        a, b = _num(r.get(key_r)), _num(d.get(key_d))
        if a is None or b is None:
            return ""
        diff = a - b
        cls = "same" if abs(diff) < 5e-4 else "diff"
        return f'<span class="delta {cls}">{e(fmt_pp(diff))} vs dashboard</span>'

    if r is None:
        rep_html = nodata("no dynamic-report row for this delivery.")
        rep_sub = ""
    else:
        processed = r.get("processed")
        hs = ""
        if r.get("hard_bounces") is not None or r.get("soft_bounces") is not None:
            hs = e(f"hard {fmt_int(r.get('hard_bounces'))} · soft {fmt_int(r.get('soft_bounces'))}")
        rep_sub = f'as of <strong>{e(fmt_ts(r.get("as_of")))}</strong>'
        rep_html = '<div class="kpis">' + "".join([
            tile("Processed", fmt_int(processed),
                 e("delivered + bounces + errors")
                 + (f"<br>{e(fmt_int(r['pending']))} still pending" if _num(r.get("pending")) else "")),
            tile("Delivered", fmt_pct(r.get("delivered_rate")),
                 e(f"{fmt_int(r.get('delivered'))} of {fmt_int(processed)}") + "<br>"
                 + delta("delivered_rate", "delivered_rate"), "good"),
            tile("Bounces + errors", fmt_pct(r.get("bounce_rate")),
                 e(f"{fmt_int(r.get('bounces_errors'))} — ") + hs + "<br>"
                 + delta("bounce_rate", "bounces_errors_rate"), "badv"),
            tile("Open rate", fmt_pct(r.get("open_rate")),
                 e(f"{fmt_int(r.get('unique_opens'))} unique opens")
                 + (e(f" · {fmt_pct(r['open_rate_excl_machine'])} excl. machine")
                    if r.get("open_rate_excl_machine") is not None else "")
                 + "<br>" + delta("open_rate", "open_rate")),
            tile("Click-through", fmt_pct(r.get("click_through_rate")),
                 e(f"{fmt_int(r.get('unique_clicks'))} unique clicks") + "<br>"
                 + delta("click_through_rate", "click_through_rate")),
            tile("Click-to-open", fmt_pct(r.get("click_to_open_rate")),
                 e(f"opt-outs {fmt_int(r.get('opt_outs'))} · complaints {fmt_int(r.get('complaints'))}")),
        ]) + "</div>"
        if other is not None:
            rep_html += (f'<p class="othermode">Same delivery in <strong>{e(other.get("reporting_mode"))}</strong> '
                         f"mode: delivered {e(fmt_pct(other.get('delivered_rate')))}, bounces + errors "
                         f"{e(fmt_pct(other.get('bounce_rate')))} ({e(fmt_int(other.get('processed')))} processed"
                         + (f", {e(fmt_int(other['pending']))} still pending" if _num(other.get("pending")) else "")
                         + ").</p>")
    return (f'<article class="card"><div class="cardhead"><h3>{_delivery_title(ctx, did)}</h3>'
            f'<div class="badges">{"".join(badges)}</div></div>'
            f'<div class="pair">'
            f'<div class="panel dash"><div class="ptitle">Deployment dashboard '
            f'<span class="tag">quick look</span></div><div class="psub">{dash_sub}</div>{dash_html}</div>'
            f'<div class="panel rpt"><div class="ptitle">Dynamic report '
            f'<span class="tag truth">source of truth</span></div><div class="psub">{rep_sub}</div>{rep_html}</div>'
            f"</div></article>")


def _deliveries_table(ctx: ReportContext, rpt: dict[tuple, dict]) -> str:
    head = ('<tr><th rowspan="2">Delivery</th><th rowspan="2">Mode</th>'
            '<th colspan="6" class="grp dash">Dashboard (snapshot)</th>'
            '<th colspan="6" class="grp rpt">Dynamic report (source of truth)</th></tr>'
            '<tr><th>Snapshot at</th><th class="num">Sent</th><th class="num">Delivered</th>'
            '<th class="num">B + E</th><th class="num">Open</th><th class="num">CTR</th>'
            '<th class="num">Processed</th><th class="num">Delivered</th><th class="num">B + E</th>'
            '<th class="num">Open</th><th class="num">CTR</th><th>Status</th></tr>')
    rows = []
    for d in ctx.deliveries:
        did = d["delivery_id"]
        r, _ = _own_report(rpt, did, d.get("reporting_mode"))
        r = r or {}
        fin = r.get("is_final")
        rows.append([
            _delivery_title(ctx, did), e(d.get("reporting_mode") or r.get("reporting_mode") or "–"),
            f'<span class="nowrap">{e(fmt_ts(d.get("stats_computed_at")))}</span>', e(fmt_int(d.get("sent"))),
            e(fmt_pct(d.get("delivered_rate"))), e(fmt_pct(d.get("bounces_errors_rate"))),
            e(fmt_pct(d.get("open_rate"))), e(fmt_pct(d.get("click_through_rate"))),
            e(fmt_int(r.get("processed"))), e(fmt_pct(r.get("delivered_rate"))),
            e(fmt_pct(r.get("bounce_rate"))), e(fmt_pct(r.get("open_rate"))),
            e(fmt_pct(r.get("click_through_rate"))),
            "–" if fin is None else (badge("final", "ok") if fin else badge("provisional", "warn")),
        ])
    numeric = [False, False, False] + [True] * 10 + [False]
    return table([""] * 14, rows, numeric=numeric, cls="compact", head_html=head)


# -- reconciliation ---------------------------------------------------------------------------
def _sec_reconciliation(ctx: ReportContext) -> str:
    m = ctx.marts
    title = "Reconciliation"
    intro = ("Per delivery and KPI: the dashboard value, the report value, their difference "
             "(report − dashboard; rates in percentage points) and the reasons that explain it. "
             "Only KPIs that differ are listed; the full table is in "
             "<code>csv/rpt_kpi_reconciliation.csv</code>.")
    t = "rpt_kpi_reconciliation"
    if not m.non_empty(t) or not m.has_columns(t, "delivery_id", "kpi"):
        return section("reconciliation", title, nodata(f"marts.{t} is missing or empty."), intro)
    cols = m.columns(t)
    if "difference" in cols:
        differs = "coalesce(abs(difference), 0) > 1e-9"
    elif {"dashboard_value", "report_value"} <= set(cols):
        differs = "coalesce(abs(report_value - dashboard_value), 0) > 1e-9"
    else:
        differs = "FALSE"
    if {"dashboard_value", "report_value"} <= set(cols):
        differs = f"({differs} OR ((dashboard_value IS NULL) <> (report_value IS NULL)))"
    stats = m.dicts(f"SELECT delivery_id, count(*) AS n, count(*) FILTER (WHERE {differs}) AS nd "
                    f"FROM {m.ref(t)} GROUP BY delivery_id ORDER BY nd DESC, delivery_id")
    rows = m.fetch(t, ("delivery_id", "kpi", "dashboard_value", "report_value", "difference", "reasons"),
                   where=differs, order_by="delivery_id, kpi", limit=TABLE_ROW_CAP)
    rank = {k: i for i, k in enumerate(KPI_ORDER)}
    groups: dict[Any, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["delivery_id"], []).append(r)
    body_rows = []
    n_pairs = sum(int(s["n"]) for s in stats)
    n_diff = sum(int(s["nd"]) for s in stats)
    for st in stats:
        did, n, nd = st["delivery_id"], int(st["n"]), int(st["nd"])
        rs = sorted(groups.get(did, []), key=lambda r: (rank.get(str(r["kpi"]), 99), str(r["kpi"])))
        if nd and not rs:
            continue  # beyond the row cap
        span = len(rs) + (1 if n - nd > 0 else 0)
        dcell = f'<td rowspan="{span}" class="dcell">{_delivery_title(ctx, did)}</td>'
        for i, r in enumerate(rs):
            kpi = str(r["kpi"])
            rate = is_rate_kpi(kpi)
            fmtv = fmt_pct if rate else fmt_int
            diff = _num(r.get("difference"))
            if diff is None and _num(r.get("dashboard_value")) is not None and _num(r.get("report_value")) is not None:
                diff = _num(r["report_value"]) - _num(r["dashboard_value"])
            chips = "".join(f'<span class="chip">{e(x)}</span>' for x in reasons_list(r.get("reasons")))
            if not chips:
                chips = '<span class="muted">unexplained</span>'
            if diff is None:
                diff_txt = "–"
            elif rate:
                diff_txt = fmt_pp(diff) if abs(diff) >= 0.0005 else f"{diff * 100:+.2f} pp".replace("-", "−")
            else:
                diff_txt = fmt_int(diff, signed=True)
            body_rows.append(
                f'<tr class="diff{" gstart" if i == 0 else ""}">{dcell if i == 0 else ""}'
                f'<td>{e(KPI_LABELS.get(kpi, kpi))}</td>'
                f'<td class="num">{e(fmtv(r.get("dashboard_value")))}</td>'
                f'<td class="num">{e(fmtv(r.get("report_value")))}</td>'
                f'<td class="num diffv">{e(diff_txt)}</td><td>{chips}</td></tr>')
        if n - nd > 0:
            if nd == 0:
                txt = f"all {n} KPIs agree" if n > 1 else "the KPI agrees"
            else:
                txt = f"{n - nd} other KPIs agree" if n - nd > 1 else "1 other KPI agrees"
            body_rows.append(f'<tr class="same{" gstart" if not rs else ""}">{dcell if not rs else ""}'
                             f'<td colspan="5" class="agree">{e(txt)}</td></tr>')
    head = ('<tr><th>Delivery</th><th>KPI</th><th class="num">Dashboard</th><th class="num">Report</th>'
            '<th class="num">Difference</th><th>Reasons</th></tr>')
    html_t = (f'<div class="tablewrap"><table class="recon"><thead>{head}</thead>'
              f'<tbody>{"".join(body_rows)}</tbody></table></div>')
    summary = (f'<p class="note"><strong>{n_diff:,}</strong> of {n_pairs:,} dashboard/report KPI pairs differ, '
               f"in {sum(1 for s in stats if int(s['nd'])):,} of {len(stats):,} deliveries.</p>")
    return section("reconciliation", title, summary + html_t + capped_note(len(rows), n_diff, t), intro)


# -- hourly curves ----------------------------------------------------------------------------
def _hour_ticks(span_h: float, start: dt.datetime | None, relative: bool = True,
                max_ticks: int = 8) -> list[tuple[float, str]]:
    step = 1
    for s in (1, 2, 3, 4, 6, 12, 24, 48, 72, 168, 336, 720):
        step = s
        if span_h / s <= max_ticks:
            break
    ticks = []
    h = 0
    while h <= span_h + 1e-9:
        if relative or start is None:
            lab = f"+{h}h" if step < 24 else f"+{h // 24}d"
        else:
            t = start + dt.timedelta(hours=h)
            lab = t.strftime("%d %b %H:%M") if step < 24 else t.strftime("%d %b")
        ticks.append((float(h), lab))
        h += step
    return ticks


def _sec_hourly(ctx: ReportContext) -> str:
    m = ctx.marts
    t = "rpt_delivery_kpis_hourly"
    title = "Delivered % and bounces + errors % over the validity period"
    intro = ("Per hour, as known at the end of that hour, for the top deliveries by messages sent. "
             "Solid lines: <strong>standard</strong> mode (no Email Feedback Service), where delivered "
             "starts at 100% when messages are relayed and decreases as failures come back. Dashed "
             "lines: <strong>EFS</strong> mode, where both start at 0% and rise as the MTA reports "
             "each outcome. Both curves converge once the validity period has passed. Hover a point "
             "for its value.")
    need = ("delivery_id", "hour_start", "delivered_rate", "bounces_errors_rate")
    if not m.non_empty(t) or not m.has_columns(t, *need):
        return section("hourly", title, nodata(f"marts.{t} is missing or empty."), intro)
    ids = [d["delivery_id"] for d in ctx.deliveries[: ctx.top_n]]
    if not ids:
        ids = [r["delivery_id"] for r in m.dicts(
            f"SELECT delivery_id FROM {m.ref(t)} GROUP BY 1 ORDER BY count(*) DESC LIMIT {ctx.top_n}")]
    has_mode = "reporting_mode" in m.columns(t)
    rows = m.fetch(t, ("delivery_id", "reporting_mode", "hour_start", "delivered_rate",
                       "bounces_errors_rate", "delivered", "bounces_errors"),
                   where="delivery_id IN (SELECT unnest(?))",
                   order_by="delivery_id, hour_start", params=[ids])
    by: dict[Any, dict[str, list[dict]]] = {}
    for r in rows:
        by.setdefault(r["delivery_id"], {}).setdefault(
            str(r.get("reporting_mode") or "standard") if has_mode else "standard", []).append(r)
    charts = []
    styles = {"standard": False, "efs": True}
    for did in ids:
        modes = by.get(did)
        if not modes:
            continue
        xs_all = [r["hour_start"] for rs in modes.values() for r in rs if r["hour_start"] is not None]
        if not xs_all:
            continue
        start = xs_all[0]
        is_time = isinstance(start, (dt.datetime, dt.date))
        if is_time:
            start = min(to_utc(x) for x in xs_all)
            xval = lambda v: (to_utc(v) - start).total_seconds() / 3600  # noqa: E731
        else:
            start = min(float(x) for x in xs_all)
            xval = lambda v: float(v) - start  # noqa: E731
        series = []
        for mode in sorted(modes, key=lambda s: (s != "standard", s)):
            rs = [r for r in modes[mode] if r["hour_start"] is not None]
            dashed = styles.get(mode, mode != "standard")
            pl = [(fmt_ts(r["hour_start"]) if is_time else f"hour {r['hour_start']}")
                  + f" (+{xval(r['hour_start']):g}h)" for r in rs]
            mlabel = "EFS" if mode == "efs" else mode
            series.append(Series(f"Delivered % ({mlabel})",
                                 [(xval(r["hour_start"]), _num(r["delivered_rate"])) for r in rs],
                                 PALETTE["delivered"], dashed, pl))
            series.append(Series(f"Bounces + errors % ({mlabel})",
                                 [(xval(r["hour_start"]), _num(r["bounces_errors_rate"])) for r in rs],
                                 PALETTE["bounces"], dashed, pl))
        span = max(x for s in series for x, _ in s.points) if series else 1
        ticks = _hour_ticks(max(span, 1), start if is_time else None)
        info = ctx.info.get(did, {})
        ttl = f"{did}" + (f" · {info['label']}" if info.get("label") else "")
        x_title = (f"hours since {fmt_ts(start)}" if is_time else "hours since first hour")
        svg = line_chart(series, title=ttl, y_percent=True, x_ticks=ticks, x_title=x_title,
                         y_title="share of messages", end_labels=True,
                         aria_label=f"Hourly delivered and bounce rates for {did}")
        own = info.get("mode")
        cap = f'Dashboard mode of this delivery: <strong>{e(own)}</strong>.' if own else ""
        if info.get("parent"):
            cap += " A recurring parent: the curves cover every message of its executions."
        cap = f"<figcaption>{cap.strip()}</figcaption>" if cap else ""
        charts.append(f'<figure class="chartbox">{svg}{cap}</figure>')
    if not charts:
        return section("hourly", title, nodata(f"no hourly rows for the top deliveries in marts.{t}."), intro)
    return section("hourly", title, f'<div class="grid2">{"".join(charts)}</div>', intro)


# -- failures -----------------------------------------------------------------------------------
def _sec_failures(ctx: ReportContext) -> str:
    m = ctx.marts
    title = "Failure reasons"
    t = "rpt_delivery_failure_reasons"
    rows: list[dict] = []
    src = ""
    # each message once: every delivery in its own mode, recurring parents' rows left out (they
    # repeat their executions'); without the flag, the failed messages themselves
    if (m.non_empty(t) and m.has_columns(t, "delivery_id", "failure_reason", "messages")
            and (has_parent_flag(m, t) or not m.has_columns("fct_message_status", "status", "failure_reason"))):
        join, where = once_per_message(m, t, "f")
        ftype = "f.failure_type" if "failure_type" in m.columns(t) else "NULL"
        rows = m.dicts(f"SELECT coalesce(f.failure_reason, 'other') AS reason, {ftype} AS ftype, "
                       f"sum(f.messages) AS n FROM {m.ref(t)} f {join} WHERE {where} "
                       f"GROUP BY ALL HAVING sum(f.messages) > 0 ORDER BY n DESC, reason")
        src = f"marts.{t}"
    elif m.non_empty("fct_message_status") and m.has_columns("fct_message_status", "status", "failure_reason"):
        ft = "fct_message_status"
        join, where = own_mode_join(m, "f", ft)
        for flag in ("is_test_profile", "is_proof"):  # left out of every KPI
            if flag in m.columns(ft):
                where += f" AND NOT coalesce(f.{flag}, FALSE)"
        ftype = "f.failure_type" if "failure_type" in m.columns(ft) else "NULL"
        rows = m.dicts(f"SELECT coalesce(f.failure_reason, 'other') AS reason, {ftype} AS ftype, "
                       f"count(*) AS n FROM {m.ref(ft)} f {join} WHERE {where} AND f.status = 'failed' "
                       f"GROUP BY ALL ORDER BY n DESC, reason")
        src = "marts.fct_message_status (failed messages)"
    intro = ("Failed messages by failure reason over all deliveries, each message once: each delivery "
             "in its own (dashboard) mode, a recurring parent's row left out (its executions count). "
             "Bar colour is the failure type: "
             f'<span class="nowrap"><span class="sw" style="background:{PALETTE["hard"]}"></span>hard</span> '
             f'<span class="nowrap"><span class="sw" style="background:{PALETTE["soft"]}"></span>soft</span> '
             f'<span class="nowrap"><span class="sw" style="background:{PALETTE["ignored"]}"></span>ignored</span>.')
    if not rows:
        return section("failures", title, nodata(f"marts.{t} is missing or empty (and no failed messages "
                                                  "in marts.fct_message_status)."), intro)
    total = sum(int(_num(r["n"]) or 0) for r in rows)
    shown = rows[:15]
    rest = rows[15:]
    bars = []
    for r in shown:
        n = _num(r["n"]) or 0
        ftype = str(r["ftype"]).lower() if r["ftype"] is not None else ""
        label = str(r["reason"]) + (f" ({ftype})" if ftype else "")
        share = n / total if total else 0
        bars.append(Bar(label, n, PALETTE.get(ftype, PALETTE["other"]),
                        tooltip=f"{label}: {n:,.0f} messages, {share * 100:.1f}% of failures",
                        value_text=f"{n:,.0f} · {share * 100:.1f}%"))
    if rest:
        n = sum(_num(r["n"]) or 0 for r in rest)
        bars.append(Bar(f"{len(rest)} more reasons", n, PALETTE["other"],
                        value_text=f"{n:,.0f} · {n / total * 100:.1f}%"))
    by_type: dict[str, float] = {}
    for r in rows:
        k = str(r["ftype"]).lower() if r["ftype"] is not None else "unknown"
        by_type[k] = by_type.get(k, 0) + (_num(r["n"]) or 0)
    summary = " · ".join(f"{k} {v:,.0f} ({v / total * 100:.1f}%)" for k, v in
                         sorted(by_type.items(), key=lambda kv: -kv[1])) if total else ""
    svg = hbar_chart(bars, title=f"Failed messages by reason ({total:,})", width=1000,
                     aria_label="Failed messages by reason")
    return section("failures", title,
                   f'<figure class="chartbox wide" data-total="failed_messages" data-value="{total}">'
                   f'{svg}<figcaption>By type: {e(summary)}. '
                   f"Source: {e(src)}.</figcaption></figure>", intro)


# -- tracking over time ------------------------------------------------------------------------
def _find_tracking_table(m: Marts) -> tuple[str, str, str, str] | None:
    """(table, time column, opens column, clicks column) of a mart with hourly tracking."""
    cands = []
    for t in m.tables:
        cols = set(m.columns(t))
        tcol = next((c for c in ("hour_start", "hour", "event_hour", "bucket_start", "period_start")
                     if c in cols), None)
        ocol = next((c for c in ("opens", "unique_opens", "open_events") if c in cols), None)
        ccol = next((c for c in ("clicks", "unique_clicks", "click_events") if c in cols), None)
        if tcol and ocol and ccol:
            cands.append((0 if "track" in t else 1, t, tcol, ocol, ccol))
    if not cands:
        return None
    cands.sort()
    return cands[0][1:]


def _sec_tracking(ctx: ReportContext) -> str:
    m = ctx.marts
    title = "Opens and clicks over time"
    found = _find_tracking_table(m)
    if found is None:
        return section("tracking", title, nodata("no mart with hourly tracking (opens and clicks per hour) "
                                                 "in this warehouse."))
    t, tcol, ocol, ccol = found
    if not m.non_empty(t):
        return section("tracking", title, nodata(f"marts.{t} is empty."))
    # each event once: a recurring parent's rows repeat its executions' events
    where = "NOT coalesce(is_recurring_parent, FALSE)" if has_parent_flag(m, t) else "TRUE"
    if "reporting_mode" in m.columns(t):
        # Tracking does not depend on the mode: take one mode only, so nothing counts twice.
        where += f" AND reporting_mode = (SELECT min(reporting_mode) FROM {m.ref(t)})"
    ttype = (m.column_type(t, tcol) or "").upper()
    is_time = "TIMESTAMP" in ttype or ttype == "DATE"
    if is_time:
        lo, hi = m.con.execute(f"SELECT min({qi(tcol)}), max({qi(tcol)}) FROM {m.ref(t)} WHERE {where}").fetchone()
        span_h = ((to_utc(hi) - to_utc(lo)).total_seconds() / 3600) if lo and hi else 0
        unit = "day" if span_h > 24 * 14 else "hour"
        bucket = f"date_trunc('{unit}', {qi(tcol)})"
    else:
        unit = "hour"
        bucket = qi(tcol)
    rows = m.dicts(f"SELECT {bucket} AS b, sum({qi(ocol)}) AS o, sum({qi(ccol)}) AS c FROM {m.ref(t)} "
                   f"WHERE {where} GROUP BY 1 ORDER BY 1")
    rows = [r for r in rows if r["b"] is not None]
    if not rows:
        return section("tracking", title, nodata(f"marts.{t} has no rows."))
    if is_time:
        start = to_utc(rows[0]["b"])
        xs = [(to_utc(r["b"]) - start).total_seconds() / 3600 for r in rows]
        labels = [fmt_ts(r["b"]) for r in rows]
    else:
        start = None
        xs = [float(r["b"]) - float(rows[0]["b"]) for r in rows]
        labels = [f"{unit} {r['b']}" for r in rows]
    series = [Series(f"{ocol.replace('_', ' ')} per {unit}", list(zip(xs, [_num(r["o"]) for r in rows])),
                     PALETTE["opens"], False, labels),
              Series(f"{ccol.replace('_', ' ')} per {unit}", list(zip(xs, [_num(r["c"]) for r in rows])),
                     PALETTE["clicks"], False, labels)]
    ticks = _hour_ticks(max(xs[-1], 1), start, relative=False)
    svg = line_chart(series, title=f"{ocol.replace('_', ' ').capitalize()} and "
                                   f"{ccol.replace('_', ' ')} per {unit}, all deliveries",
                     y_percent=False, x_ticks=ticks, width=1000, height=300,
                     x_title="time (UTC)" if is_time else unit, y_title="events",
                     aria_label="Opens and clicks over time")
    total_o = sum(_num(r["o"]) or 0 for r in rows)
    total_c = sum(_num(r["c"]) or 0 for r in rows)
    return section("tracking", title,
                   f'<figure class="chartbox wide" data-total="{e(ocol)}" data-value="{total_o:.0f}" '
                   f'data-clicks="{total_c:.0f}">{svg}'
                   f'<figcaption>{e(f"{total_o:,.0f} {ocol}, {total_c:,.0f} {ccol}")}'
                   f" in total. Source: marts.{e(t)}.</figcaption></figure>")


# -- domains ------------------------------------------------------------------------------------
def _sec_domains(ctx: ReportContext) -> str:
    m = ctx.marts
    t = "rpt_delivery_domains"
    title = "Recipient domains"
    intro = ("The 20 largest recipient domains over all deliveries, each message once (each delivery in "
             "its own mode, recurring parents' rows left out: their executions count). Rates are "
             "recomputed over the totals: delivered and bounce rates divide by delivered + bounces + "
             "errors, open rate divides by delivered.")
    need = ("recipient_domain", "delivered", "bounces_errors")
    if not m.non_empty(t) or not m.has_columns(t, *need):
        return section("domains", title, nodata(f"marts.{t} is missing or empty."), intro)
    cols = set(m.columns(t))
    join, where = once_per_message(m, t, "f")
    sent = "sum(f.sent)" if "sent" in cols else "sum(f.delivered + f.bounces_errors)"
    uo = "sum(f.unique_opens)" if "unique_opens" in cols else "NULL"
    rows = m.dicts(
        f"SELECT f.recipient_domain AS domain, {sent} AS sent, sum(f.delivered) AS delivered, "
        f"sum(f.bounces_errors) AS be, {uo} AS uo, count(DISTINCT f.delivery_id) AS nd "
        f"FROM {m.ref(t)} f {join} WHERE {where} GROUP BY 1 ORDER BY sent DESC NULLS LAST, domain LIMIT 21")
    n_domains = m.con.execute(f"SELECT count(DISTINCT recipient_domain) FROM {m.ref(t)}").fetchone()[0]
    out = []
    rates = [(_num(r["be"]) or 0) / ((_num(r["delivered"]) or 0) + (_num(r["be"]) or 0))
             for r in rows[:20] if (_num(r["delivered"]) or 0) + (_num(r["be"]) or 0)]
    worst = max(rates + [1e-9])
    for r in rows[:20]:
        d, b = _num(r["delivered"]) or 0, _num(r["be"]) or 0
        proc = d + b
        dr = d / proc if proc else None
        br = b / proc if proc else None
        orate = (_num(r["uo"]) / d) if (r["uo"] is not None and d) else None
        # bar length relative to the worst domain shown, so small rates stay comparable
        bar = (f'<span class="minibar" title="relative to the highest bounce rate shown">'
               f'<span style="width:{(br or 0) / worst * 100:.1f}%;'
               f'background:{PALETTE["bounces"]}"></span></span>')
        out.append([f'<span data-domain="{e(r["domain"])}">{e(r["domain"])}</span>', e(fmt_int(r["nd"])), e(fmt_int(r["sent"])), e(fmt_int(r["delivered"])),
                    e(fmt_int(r["be"])), e(fmt_pct(dr)), f'{bar}{e(fmt_pct(br))}',
                    e(fmt_int(r["uo"])), e(fmt_pct(orate))])
    html_t = table(["Domain", "Deliveries", "Sent", "Delivered", "Bounces + errors", "Delivered %",
                    "Bounce %", "Unique opens", "Open rate"], out,
                   numeric=[False] + [True] * 8, cls="compact")
    note = (f'<p class="note">Showing 20 of {n_domains:,} domains; all are in '
            f"<code>csv/{t}.csv</code>.</p>") if n_domains > 20 else ""
    return section("domains", title, html_t + note, intro)


# -- quarantine -------------------------------------------------------------------------------
def _sec_quarantine(ctx: ReportContext) -> str:
    m = ctx.marts
    t = "dim_address_quarantine"
    title = "Address quarantine"
    intro = ("Addresses known to the quarantine, by status: a hard bounce quarantines at once, the 5th "
             "counted soft error (24 h apart) quarantines, a spam complaint denylists; "
             "<em>erroneous</em> addresses are still sent to.")
    if not m.non_empty(t) or not m.has_columns(t, "status"):
        return section("quarantine", title, nodata(f"marts.{t} is missing or empty."), intro)
    has_ch = "channel" in m.columns(t)
    rows = m.dicts(f"SELECT lower(coalesce(status, 'unknown')) AS status, "
                   f"{'coalesce(channel, ' + ql('–') + ')' if has_ch else ql('all')} AS channel, "
                   f"count(*) AS n FROM {m.ref(t)} GROUP BY ALL")
    order = ["valid", "erroneous", "quarantine", "denylisted"]
    statuses = sorted({r["status"] for r in rows}, key=lambda s: (order.index(s) if s in order else 9, s))
    channels = sorted({str(r["channel"]) for r in rows})
    cnt = {(r["status"], str(r["channel"])): int(r["n"]) for r in rows}
    total = sum(cnt.values())
    bars = []
    for s in statuses:
        n = sum(v for (st, _), v in cnt.items() if st == s)
        bars.append(Bar(s, n, PALETTE.get(s, PALETTE["other"]),
                        value_text=f"{n:,} · {n / total * 100:.1f}%" if total else f"{n:,}"))
    svg = hbar_chart(bars, title=f"Addresses by status ({total:,})", width=560,
                     aria_label="Addresses by quarantine status")
    trows = [[badge(s, s)] + [e(fmt_int(cnt.get((s, c), 0))) for c in channels]
             + [e(fmt_int(sum(cnt.get((s, c), 0) for c in channels)))] for s in statuses]
    trows.append(["<strong>total</strong>"] + [f"<strong>{e(fmt_int(sum(cnt.get((s, c), 0) for s in statuses)))}</strong>"
                                               for c in channels] + [f"<strong>{e(fmt_int(total))}</strong>"])
    html_t = table(["Status"] + channels + ["Total"], trows, numeric=[False] + [True] * (len(channels) + 1),
                   cls="compact")
    reasons = ""
    if "last_reason" in m.columns(t):
        rr = m.dicts(f"SELECT coalesce(last_reason, 'not recorded') AS reason, count(*) AS n FROM {m.ref(t)} "
                     f"WHERE lower(status) IN ('quarantine', 'denylisted') GROUP BY 1 ORDER BY n DESC, 1 LIMIT 8")
        if rr:
            reasons = ("<h4>Why quarantined or denylisted (last reason)</h4>"
                       + table(["Last reason", "Addresses"], [[e(r["reason"]), e(fmt_int(r["n"]))] for r in rr],
                               numeric=[False, True], cls="compact"))
    return section("quarantine", title,
                   f'<div class="split"><figure class="chartbox">{svg}</figure>'
                   f'<div>{html_t}{reasons}</div></div>', intro)


# -- generic small tables --------------------------------------------------------------------
def _generic_table(ctx: ReportContext, t: str, order_pref: Sequence[str] = ()) -> str:
    m = ctx.marts
    cols = m.columns(t)
    order = next((c for c in order_pref if c in cols), None)
    order_by = f"{qi(order)} DESC NULLS LAST" if order else None
    rows = m.fetch(t, cols, order_by=order_by, limit=TABLE_ROW_CAP)
    numeric = [isinstance(rows[0][c], (int, float)) and not isinstance(rows[0][c], bool) if rows else False
               for c in cols]
    html_t = table([c[:1].upper() + c[1:].replace("_", " ") for c in cols], [[e(fmt_col(c, r[c])) for c in cols] for r in rows],
                   numeric=numeric, cls="compact")
    return html_t + capped_note(len(rows), m.count(t), t)


def _sec_exclusions(ctx: ReportContext) -> str:
    m = ctx.marts
    t = "rpt_exclusion_causes"
    intro = ("Targets excluded before sending (quarantined, denylisted, duplicate, empty address…). "
             "Excluded targets never appear in the sending log and are not counted in any KPI.")
    if not m.non_empty(t):
        return section("exclusions", "Exclusion causes", nodata(f"marts.{t} is missing or empty."), intro)
    return section("exclusions", "Exclusion causes",
                   _generic_table(ctx, t, ("excluded_targets", "excluded", "messages", "targets", "n", "count")),
                   intro)


def _sec_proofs(ctx: ReportContext) -> str:
    m = ctx.marts
    t = "rpt_proof_and_test_sends"
    intro = "Proof deliveries and messages to test profiles, reported apart: they are excluded from all KPIs."
    if not m.non_empty(t):
        return section("proofs", "Proofs and test sends", nodata(f"marts.{t} is missing or empty."), intro)
    return section("proofs", "Proofs and test sends", _generic_table(ctx, t, ("messages", "sent")), intro)


# -- audit --------------------------------------------------------------------------------------
def _finding_pred(m: Marts, alias: str = "") -> str:
    col = f"{alias}finding"
    typ = (m.column_type("rpt_confirmation_audit", "finding") or "").upper()
    if typ == "BOOLEAN":
        return f"coalesce({col}, FALSE)"
    nf = ", ".join(ql(x) for x in NO_FINDING)
    return f"({col} IS NOT NULL AND lower(trim(CAST({col} AS VARCHAR))) NOT IN ({nf}))"


def _finding_html(v: Any) -> str:
    """Findings are codes ('sent_without_required_confirmation; ...') or sentences; codes are
    shown as words, with the code in the tooltip."""
    out = []
    for f in reasons_list(v if not isinstance(v, bool) else ("flagged" if v else None)):
        words = f.replace("_", " ") if " " not in f else f
        out.append(f'<span class="finding" title="{e(f)}">{e(words)}</span>')
    return "<br>".join(out) or "–"


def _sec_audit(ctx: ReportContext) -> str:
    m = ctx.marts
    t = "rpt_confirmation_audit"
    title = "Confirmation audit"
    intro = ("Only operators with the <code>start_deliveries</code> role may confirm a send. Listed here: "
             "deliveries confirmed by anyone else, or sent without a required confirmation, and other "
             "findings; with the scheduled versus the actual start (first message relayed).")
    if not m.non_empty(t) or not m.has_columns(t, "delivery_id", "finding"):
        return section("audit", title, nodata(f"marts.{t} is missing or empty."), intro)
    total = m.count(t)
    cols = ("delivery_id", "requires_confirmation", "confirmed_by", "confirmer_may_start",
            "scheduled_at", "first_relayed_at", "start_lag_seconds", "finding")
    rows = m.fetch(t, cols, where=_finding_pred(m), order_by="delivery_id", limit=TABLE_ROW_CAP)
    n_flag = m.con.execute(f"SELECT count(*) FROM {m.ref(t)} WHERE {_finding_pred(m)}").fetchone()[0]
    if not rows:
        return section("audit", title, f'<p class="allgood">No findings: all {total:,} deliveries were '
                                       f"confirmed as required.</p>", intro)
    out = []
    for r in rows:
        delay = "–"
        a, b = to_utc(r.get("scheduled_at")), to_utc(r.get("first_relayed_at"))
        mins = None
        if _num(r.get("start_lag_seconds")) is not None:
            mins = _num(r["start_lag_seconds"]) / 60
        elif a and b:
            mins = (b - a).total_seconds() / 60
        if mins is not None:
            delay = (f"{mins:+.0f} min" if abs(mins) < 120 else f"{mins / 60:+.1f} h").replace("-", "−")
        may = r.get("confirmer_may_start")
        out.append([_delivery_title(ctx, r["delivery_id"]), e(fmt_any(r.get("requires_confirmation"))),
                    e(r.get("confirmed_by") or "–"),
                    "–" if may is None else (badge("yes", "ok") if may else badge("no", "bad")),
                    f'<span class="nowrap">{e(fmt_ts(r.get("scheduled_at")))}</span>',
                    f'<span class="nowrap">{e(fmt_ts(r.get("first_relayed_at")))}</span>', e(delay),
                    _finding_html(r.get("finding"))])
    html_t = table(["Delivery", "Requires confirmation", "Confirmed by", "May start deliveries",
                    "Scheduled", "First relayed", "Start delay", "Finding"], out,
                   numeric=[False] * 6 + [True, False], cls="compact")
    summary = f'<p class="note"><strong>{n_flag:,}</strong> of {total:,} deliveries have a finding.</p>'
    return section("audit", title, summary + html_t + capped_note(len(rows), n_flag, t), intro)


# -- data quality ------------------------------------------------------------------------------
def _checks(ctx: ReportContext) -> list[dict] | None:
    checks = (ctx.run_info or {}).get("checks")
    if checks is None:
        return None
    out = []
    for c in checks:
        if isinstance(c, dict):
            out.append(c)
        else:  # objects with attributes (name, status, details)
            out.append({k: getattr(c, k, None) for k in ("name", "status", "details")})
    return out


def _check_kind(status: Any) -> str:
    s = str(status or "").strip().lower()
    if s in OK_STATUSES:
        return "ok"
    if s in FAIL_STATUSES:
        return "bad"
    if s in WARN_STATUSES:
        return "warn"
    return "neutral"


def _sec_quality(ctx: ReportContext) -> str:
    title = "Data quality"
    intro = "Checks run by the build before the warehouse was published."
    checks = _checks(ctx)
    if not checks:
        return section("quality", title, nodata("no data-quality results were supplied with this run."), intro)
    order = {"bad": 0, "warn": 1, "neutral": 2, "ok": 3}
    checks = sorted(checks, key=lambda c: (order[_check_kind(c.get("status"))], str(c.get("name"))))
    counts: dict[str, int] = {}
    for c in checks:
        k = _check_kind(c.get("status"))
        counts[k] = counts.get(k, 0) + 1
    rows = []
    for c in checks:
        det = c.get("details")
        if isinstance(det, dict):
            det = ", ".join(f"{k}={fmt_any(v)}" for k, v in det.items())
        elif isinstance(det, (list, tuple)):
            det = "; ".join(fmt_any(x) for x in det)
        det = "" if det is None else str(det)
        if len(det) > 400:
            det = det[:399] + "…"
        rows.append([e(c.get("name")), badge(str(c.get("status") or "unknown"), _check_kind(c.get("status"))),
                     f'<span class="details">{e(det)}</span>'])
    nw = counts.get("warn", 0)
    summary = (f'<p class="note">{counts.get("ok", 0):,} passed · {nw:,} warning{"" if nw == 1 else "s"} · '
               f'{counts.get("bad", 0):,} failed'
               + (f' · {counts["neutral"]:,} other' if counts.get("neutral") else "") + ".</p>")
    summary = summary.replace("</p>", ' The same results are in <a href="data_quality.csv">data_quality.csv</a>.</p>')
    return section("quality", title, summary + table(["Check", "Status", "Details"], rows, cls="compact"), intro)


# -- files --------------------------------------------------------------------------------------
def _sec_files(ctx: ReportContext) -> str:
    rows = []
    for t, n in sorted(ctx.row_counts.items()):
        f = ctx.files.get(t, {})
        links = " · ".join(f'<a href="{e(rel)}">{e(kind.upper())}</a>' for kind, rel in f.items())
        rows.append([f"<code>{e(t)}</code>", e(fmt_int(n)), links])
    if not rows:
        return section("files", "Exported files", nodata("no marts were found in the warehouse."))
    wb = (f'<p class="note">Workbook for spreadsheets: <a href="{e(ctx.workbook_rel)}">{e(ctx.workbook_rel)}</a> '
          f"(the small report marts, one sheet each).</p>") if ctx.workbook_rel else ""
    return section("files", "Exported files",
                   wb + table(["Mart", "Rows", "Files"], rows, numeric=[False, True, False], cls="compact"),
                   "Every public mart, exported in full as CSV and Parquet beside this report.")


CSS = """
:root{--ink:#0f172a;--ink2:#334155;--muted:#64748b;--line:#e2e8f0;--bg:#f8fafc;--card:#fff;
--good:#15803d;--bad:#dc2626;--warn:#b45309;--accent:#1d4ed8}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,"Noto Sans","Liberation Sans",sans-serif;font-variant-numeric:tabular-nums}
header{background:linear-gradient(135deg,#0f172a,#1e3a8a);color:#fff;padding:28px 40px 22px}
.brand{font-size:26px;font-weight:700;letter-spacing:-.01em}.brand span{font-weight:400;opacity:.8}
.asof{margin-top:2px;font-size:15px;opacity:.9}
dl.meta{display:flex;flex-wrap:wrap;gap:6px 28px;margin:14px 0 0;font-size:12.5px}
dl.meta div{display:flex;gap:6px}dl.meta dt{opacity:.65}dl.meta dd{margin:0;font-weight:500}
header .tiles{display:flex;flex-wrap:wrap;gap:12px;margin-top:18px}
header .tile{background:rgba(255,255,255,.1);border:1px solid rgba(255,255,255,.18);min-width:170px}
header .tile .label,header .tile .sub{color:#cbd5e1}header .tile .value{color:#fff}
header .tile.ok{border-left:4px solid #4ade80}header .tile.warn{border-left:4px solid #fbbf24}
header .tile.bad{border-left:4px solid #f87171}
nav{position:sticky;top:0;z-index:5;background:#fff;border-bottom:1px solid var(--line);padding:8px 40px;
display:flex;flex-wrap:wrap;gap:4px 18px;font-size:13px}
nav a{color:var(--ink2);text-decoration:none}nav a:hover{color:var(--accent);text-decoration:underline}
main{max-width:1320px;margin:0 auto;padding:8px 40px 24px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 22px 20px;
margin:18px 0;box-shadow:0 1px 2px rgba(15,23,42,.04)}
h2{margin:0 0 6px;font-size:19px;letter-spacing:-.01em}h3{font-size:15px;margin:18px 0 8px}
h4{font-size:13px;margin:14px 0 6px;color:var(--ink2)}
p.intro{margin:0 0 14px;color:var(--ink2);max-width:1000px}
p.note{color:var(--muted);font-size:12.5px;margin:8px 0}
p.nodata{color:var(--muted);font-style:italic;background:var(--bg);border:1px dashed #cbd5e1;
border-radius:8px;padding:10px 14px;margin:6px 0}p.nodata.error{color:var(--bad)}
p.allgood{color:var(--good);font-weight:500}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f1f5f9;padding:1px 4px;border-radius:4px}
.tile{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px 12px}
.tile .label{font-size:11.5px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.tile .value{font-size:21px;font-weight:650;line-height:1.25}
.tile .sub{font-size:11.5px;color:var(--muted);line-height:1.35}
.tile.good .value{color:var(--good)}.tile.badv .value{color:var(--bad)}
.card{border:1px solid var(--line);border-radius:10px;padding:12px 14px 14px;margin:12px 0;background:#fff}
.cardhead{display:flex;justify-content:space-between;align-items:center;gap:12px;flex-wrap:wrap}
.cardhead h3{margin:0}
.did{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em;color:var(--ink)}
.dlabel{color:var(--ink2);font-weight:500}.dlabel:before{content:"· ";color:var(--muted)}
.parent{font-size:11px;font-weight:600;color:#92400e;background:#fef3c7;border-radius:4px;padding:1px 6px;margin-left:4px}
.badges{display:flex;gap:6px}
.badge{display:inline-block;font-size:11px;font-weight:600;padding:2px 8px;border-radius:999px;
background:#e2e8f0;color:#334155;text-transform:lowercase;white-space:nowrap}
.badge.ok,.badge.valid{background:#dcfce7;color:#166534}.badge.warn,.badge.erroneous{background:#fef3c7;color:#92400e}
.badge.bad,.badge.quarantine{background:#fee2e2;color:#991b1b}.badge.denylisted{background:#1e293b;color:#fff}
.badge.mode{background:#dbeafe;color:#1e40af}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:14px;margin-top:10px}
.panel{border-radius:8px;padding:10px 12px 12px;border:1px solid var(--line)}
.panel.dash{background:#f8fafc}.panel.rpt{background:#f0f9ff;border-color:#bae6fd}
.ptitle{font-weight:650;font-size:14px}.psub{font-size:12px;color:var(--muted);margin:1px 0 8px}
.tag{font-size:10.5px;font-weight:600;text-transform:uppercase;letter-spacing:.05em;color:#475569;
background:#e2e8f0;border-radius:4px;padding:1px 6px;margin-left:6px;vertical-align:2px}
.tag.truth{background:#0369a1;color:#fff}
.kpis{display:grid;grid-template-columns:repeat(3,1fr);gap:8px}
.delta{font-size:11px;font-weight:600}.delta.diff{color:var(--warn)}.delta.same{color:var(--muted);font-weight:400}
p.othermode{font-size:12px;color:var(--ink2);margin:8px 0 0}
.tablewrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th{text-align:left;font-weight:600;color:var(--ink2);background:#f1f5f9;padding:7px 10px;border-bottom:1px solid #cbd5e1;
white-space:nowrap}
td{padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th.num,td.num{text-align:right;white-space:nowrap}
table.compact td{padding:5px 10px}
tbody tr:nth-child(even) td{background:#fcfdfe}
th.grp{text-align:center;border-bottom:2px solid #94a3b8}th.grp.rpt{background:#e0f2fe}
table.recon tr.same td{color:var(--muted)}table.recon td.agree{font-style:italic;font-size:12px}table.recon tr.diff td.diffv{color:var(--warn);font-weight:650}
table.recon tr.gstart td{border-top:2px solid #cbd5e1}table.recon td.dcell{background:#fff!important;color:var(--ink)}
.chip{display:inline-block;background:#eef2ff;color:#3730a3;border-radius:999px;padding:1px 8px;margin:1px 4px 1px 0;
font-size:11.5px;white-space:nowrap}
.muted{color:var(--muted)}.nowrap{white-space:nowrap}
.finding{color:var(--bad);font-weight:500}
.details{color:var(--ink2);font-size:12.5px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:16px}
figure.chartbox{margin:0;border:1px solid var(--line);border-radius:8px;padding:8px;background:#fff}
figure.chartbox.wide{max-width:1020px}
figure.chartbox svg{display:block;width:100%;height:auto}
figcaption{font-size:12px;color:var(--muted);padding:4px 6px 0}
.split{display:grid;grid-template-columns:minmax(0,560px) 1fr;gap:18px;align-items:start}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 8px;vertical-align:0}
.minibar{display:inline-block;width:60px;height:8px;background:#f1f5f9;border-radius:4px;margin-right:8px;
vertical-align:1px;overflow:hidden}.minibar span{display:block;height:100%}
svg circle.pt:hover{fill-opacity:1;r:5}
svg .bar:hover rect{opacity:.85}
footer{max-width:1320px;margin:0 auto;padding:0 40px 30px;color:var(--muted);font-size:12px}
@media (max-width:980px){.pair,.grid2,.split{grid-template-columns:1fr}.kpis{grid-template-columns:repeat(2,1fr)}
main,nav,header,footer{padding-left:16px;padding-right:16px}}
@media print{nav{display:none}section{break-inside:avoid}body{background:#fff}}
"""
