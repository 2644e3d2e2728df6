"""The self-contained HTML report for people.

One file, no external resources: CSS inline, charts as inline SVG (``report_charts``), no
JavaScript. The page is rendered by the Jinja2 templates in ``reports/templates/`` (one per
section, autoescape on: every value from the warehouse or the run is escaped; only the SVG of
``charts``, which escapes its own text, goes in as markup). The data comes from
``report_data``, which reads the real marts by their real columns; :func:`build_html` first
checks that the warehouse has every one of them (``contract``) and fails naming what is
missing. An empty mart renders a short "No data" note.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from . import report_charts as charts
from . import report_data as data
from .charts import PALETTE
from .contract import check_contract
from .format import FILTERS, fmt_any, fmt_int, fmt_pct, public_run_info, to_utc
from .totals import report_totals
from .warehouse import Marts

TOP_N_DELIVERIES = 6
TEMPLATES = Path(__file__).with_name("templates")

# (id, title): the sections in page order; the navigation shows each title up to its ":"
SECTIONS = (
    ("deliveries", "Deliveries: dashboard vs dynamic report"),
    ("daily", "Day by day: sends, bounces, opens and clicks per calendar day"),
    ("reconciliation", "Reconciliation"),
    ("hourly", "Delivered % and bounces + errors % over the validity period"),
    ("failures", "Failure reasons"),
    ("bouncedomains", "Bounces by domain: why they bounced"),
    ("tracking", "Opens and clicks over time"),
    ("links", "Link clicks"),
    ("clients", "Email clients and devices"),
    ("domains", "Recipient domains"),
    ("quarantine", "Address quarantine"),
    ("exclusions", "Exclusion causes"),
    ("proofs", "Proofs and test sends"),
    ("audit", "Confirmation audit"),
    ("quality", "Data quality"),
    ("files", "Exported files"),
)
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
# a data-quality check's status -> its badge
CHECK_KINDS = {**dict.fromkeys(("pass", "passed", "ok", "success", "succeeded", "green"), "ok"),
               **dict.fromkeys(("warn", "warning", "skipped", "skip"), "warn"),
               **dict.fromkeys(("fail", "failed", "error", "errored", "red"), "bad")}
KIND_ORDER = {"bad": 0, "warn": 1, "neutral": 2, "ok": 3}


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
    deliveries: list[dict] = field(default_factory=list)  # one row per delivery, own mode
    info: dict[Any, dict] = field(default_factory=dict)  # delivery_id -> label/channel/mode/parent


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=jinja2.select_autoescape(["html", "html.j2", "j2"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    env.filters.update(FILTERS)
    env.globals.update(KPI_LABELS=KPI_LABELS, PALETTE=PALETTE, DEVICE_COLOURS=charts.DEVICE_COLOURS)
    return env


def build_html(ctx: ReportContext) -> str:
    m = ctx.marts
    check_contract(m)
    ctx.deliveries = data.deliveries(m)
    ctx.info = data.delivery_info(m, ctx.deliveries)
    view = {
        "as_of": ctx.as_of, "schema": m.schema, "include_pii": m.include_pii,
        "workbook_rel": ctx.workbook_rel, "info": ctx.info,
        "sections": [{"id": sid, "title": title, "nav": title.split(":")[0]} for sid, title in SECTIONS],
        "titles": dict(SECTIONS),
        "header": _header(ctx),
        "deliveries": _deliveries(ctx),
        "recon": data.reconciliation(m) if m.count("rpt_kpi_reconciliation") else None,
        "hourly": _hourly(ctx),
        "failures": _failures(m),
        "tracking": _tracking(m),
        "daily": _chart_section(m, "rpt_delivery_kpis_daily", data.daily, charts.daily_charts),
        "links": _chart_section(m, "rpt_link_clicks", data.link_clicks, charts.link_chart),
        "clients": _chart_section(m, "rpt_opens_by_client", data.opens_by_client, charts.client_chart),
        "bouncedomains": _chart_section(m, "rpt_bounce_details", data.bounces_by_domain, charts.bounce_domain_chart),
        "domains": data.domains(m) if m.count("rpt_delivery_domains") else None,
        "quarantine": _quarantine(m),
        "exclusions": data.whole_table(m, data.EXCLUSION_TABLE, "Targets excluded before the send, by delivery "
                                       "and cause, most excluded first") if m.count("rpt_exclusion_causes") else None,
        "proofs": data.whole_table(m, data.PROOF_TABLE, "Proofs and sends to test profiles, by delivery, "
                                   "most messages first") if m.count("rpt_proof_and_test_sends") else None,
        "audit": data.audit(m) if m.count("rpt_confirmation_audit") else None,
        "quality": _quality(ctx),
        "files": _files(ctx),
    }
    return environment().get_template("report.html.j2").render(view)


# -- header ------------------------------------------------------------------------------------
def _header(ctx: ReportContext) -> dict:
    m = ctx.marts
    items = [("Generated", dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
             ("Addresses", "unmasked (PII)" if m.include_pii else "masked, ids pseudonymised")]
    for k, v in public_run_info(ctx.run_info):
        if isinstance(v, dict):
            v = ", ".join(f"{a}={fmt_any(b)}" for a, b in list(v.items())[:12])
        elif isinstance(v, (list, tuple)):
            v = ", ".join(fmt_any(x) for x in list(v)[:12]) + (" …" if len(v) > 12 else "")
        else:
            v = fmt_any(v)
        s, key = str(v), str(k).replace("_", " ")
        items.append((key[:1].upper() + key[1:], s if len(s) <= 160 else s[:159] + "…"))
    return {"meta": items, "period": _period(ctx), "sender": _sender_tiles(ctx), "tiles": _internal_tiles(ctx)}


def _period(ctx: ReportContext) -> str | None:
    """The report period: the send dates of the deliveries counted (recurring parents not)."""
    dates = [to_utc(i["sent_at"]) for i in ctx.info.values() if i.get("sent_at") is not None and not i["parent"]]
    if not dates:
        return None
    lo, hi = min(dates), max(dates)
    day = "%d %b %Y"
    return (f"sends of {lo.strftime(day)}" if lo.date() == hi.date()
            else f"sends from {lo.strftime(day)} to {hi.strftime(day)}") + " (UTC)"


def _rate(n: Any, d: Any) -> float | None:
    return n / d if n is not None and d else None


def _sender_tiles(ctx: ReportContext) -> list[dict]:
    """The rates a sender reads first, over the report period: the dynamic report's totals, each
    message once (each delivery in its own mode, recurring parents left out). Delivered and
    bounce rates divide by processed (delivered + bounces + errors), the others by delivered."""
    t = report_totals(ctx.marts)
    if not t or not t.get("processed"):
        return []
    processed, delivered = t.get("processed"), t.get("delivered")

    def tile(key: str, label: str, value: float | None, sub: str, kind: str = "") -> dict:
        return {"label": label, "value": fmt_pct(value), "sub": sub, "kind": kind, "total": key,
                "number": "" if value is None else f"{value:.6f}"}

    be, hard, soft = t.get("bounces_errors"), t.get("hard_bounces"), t.get("soft_bounces")
    tiles = [
        tile("delivered_rate", "Delivered rate", _rate(delivered, processed),
             f"{fmt_int(delivered)} of {fmt_int(processed)} processed", "good"),
        tile("bounce_rate", "Bounce rate", _rate(be, processed),
             f"hard {fmt_pct(_rate(hard, processed))} · soft {fmt_pct(_rate(soft, processed))} "
             f"({fmt_int(be)} bounces + errors)", "badv"),
        tile("complaint_rate", "Complaint rate", _rate(t.get("complaints"), delivered),
             f"{fmt_int(t.get('complaints'))} spam complaints of {fmt_int(delivered)} delivered"),
        tile("unsubscribe_rate", "Unsubscribe rate", _rate(t.get("opt_outs"), delivered),
             f"{fmt_int(t.get('opt_outs'))} opt-outs of {fmt_int(delivered)} delivered"),
    ]
    for key, label, uniq, human, machine in (
            ("open_rate", "Unique open rate", "unique_opens", "human_unique_opens", "opens"),
            ("click_rate", "Unique click rate", "unique_clicks", "human_unique_clicks", "clicks")):
        excl = _rate(t.get(human), delivered) if human in t else None
        tiles.append(tile(key, label, _rate(t.get(uniq), delivered),
                          f"{fmt_pct(excl)} without machine {machine} · {fmt_int(t.get(uniq))} messages"
                          if human in t else f"{fmt_int(t.get(uniq))} messages"))
        tiles[-1]["excl"] = fmt_pct(excl) if human in t else None
    return tiles


def _internal_tiles(ctx: ReportContext) -> list[dict]:
    """The second row: what the report found about its own numbers and the run."""
    m = ctx.marts
    n_parents = sum(1 for i in ctx.info.values() if i["parent"])
    n_deliveries = len(ctx.info) - n_parents
    where = "in the dashboard" if not any(d["no_dash"] for d in ctx.deliveries) else "in the report"
    if n_parents:
        where += (f"; {n_parents:,} recurring parent{'s' if n_parents != 1 else ''} not counted "
                  f"({'its' if n_parents == 1 else 'their'} executions are)")
    tiles = [{"label": "Deliveries", "value": f"{n_deliveries:,}" if ctx.info else "–", "sub": where,
              "kind": "", "total": "deliveries", "number": n_deliveries}]
    counts = data.header_counts(m)
    n, tot = counts["recon"]
    tiles.append({"label": "KPI values that differ", "value": f"{n:,}", "sub": f"of {tot:,} dashboard/report pairs",
                  "kind": "warn" if n else "ok"})
    n, tot = counts["audit"]
    tiles.append({"label": "Audit findings", "value": f"{n:,}", "sub": f"of {tot:,} deliveries",
                  "kind": "bad" if n else "ok"})
    n, tot = counts["quarantine"]
    tiles.append({"label": "Quarantined / denylisted", "value": f"{n:,}", "sub": f"of {tot:,} known addresses",
                  "kind": ""})
    checks = _checks(ctx)
    if checks is not None:
        kinds = [c["kind"] for c in checks]
        failed, warned, passed = kinds.count("bad"), kinds.count("warn"), kinds.count("ok")
        sub = " · ".join(x for x in (f"{failed} failed" if failed else "",
                                     f"{warned} warning{'s' if warned != 1 else ''}" if warned else "") if x)
        tiles.append({"label": "Data-quality checks",
                      "value": f"{passed:,}/{len(checks):,} passed" if checks else "–",
                      "sub": sub or ("all passed" if checks else "none supplied"),
                      "kind": "bad" if failed else ("warn" if warned else "ok")})
    return tiles


# -- sections -----------------------------------------------------------------------------------
def _deliveries(ctx: ReportContext) -> dict | None:
    if not ctx.deliveries:
        return None
    rpt = data.report_rows(ctx.marts, [d["delivery_id"] for d in ctx.deliveries])
    cards = data.delivery_cards(ctx.deliveries, rpt)
    n_total = ctx.marts.count("dash_delivery_kpis") if not ctx.deliveries[0]["no_dash"] else len(ctx.deliveries)
    def sent_at(card: dict) -> float:
        t = to_utc(ctx.info[card["d"]["delivery_id"]].get("sent_at"))
        return t.timestamp() if t is not None else float("-inf")
    by_date = sorted(cards, key=lambda c: (-sent_at(c), str(c["d"]["delivery_id"])))
    by_date_asc = sorted(cards, key=lambda c: (sent_at(c) == float("-inf"), sent_at(c), str(c["d"]["delivery_id"])))
    return {"cards": cards[: ctx.top_n], "orders": {"date": by_date, "date-asc": by_date_asc, "sent": cards},
            "n_total": n_total, "n_listed": len(cards)}


def _hourly(ctx: ReportContext) -> dict | None:
    if not ctx.marts.count("rpt_delivery_kpis_hourly"):
        return None
    ids = [d["delivery_id"] for d in ctx.deliveries[: ctx.top_n]]
    by = data.hourly(ctx.marts, ids)
    out = []
    for did in ids:
        if by.get(did):
            info = ctx.info.get(did, {})
            out.append({"svgs": charts.hourly_chart(did, info.get("label"), by[did]),
                        "mode": info.get("mode"), "parent": info.get("parent")})
    return {"charts": out}


def _failures(m: Marts) -> dict | None:
    reasons = data.failure_reasons(m) if m.count("rpt_delivery_failure_reasons") else []
    return charts.failures_chart(reasons) if reasons else None


def _tracking(m: Marts) -> dict | None:
    if not m.count("rpt_delivery_engagement_hourly"):
        return None
    got = data.engagement(m)
    if not got["rows"]:
        return None
    return {**got, "svg": charts.engagement_chart(got)}


def _chart_section(m: Marts, table: str, read: Any, draw: Any) -> dict | None:
    """A section drawn from one mart: its data (``read``) and its chart (``draw``), or None when
    the mart is empty."""
    if not m.count(table):
        return None
    got = read(m)
    if not got["rows"]:
        return None
    return {**got, "svg": draw(got)}


def _quarantine(m: Marts) -> dict | None:
    if not m.count("dim_address_quarantine"):
        return None
    got = data.quarantine(m)
    return {**got, "svg": charts.quarantine_chart(got)}


def _checks(ctx: ReportContext) -> list[dict] | None:
    """The run's checks (dicts, or objects with name/status/details), each with its badge kind."""
    checks = (ctx.run_info or {}).get("checks")
    if checks is None:
        return None
    out = []
    for c in checks:
        c = dict(c) if isinstance(c, dict) else {k: getattr(c, k, None) for k in ("name", "status", "details")}
        c["kind"] = CHECK_KINDS.get(str(c.get("status") or "").strip().lower(), "neutral")
        out.append(c)
    return out


def _quality(ctx: ReportContext) -> dict | None:
    checks = _checks(ctx)
    if not checks:
        return None
    checks.sort(key=lambda c: (KIND_ORDER[c["kind"]], str(c.get("name"))))
    counts = {k: sum(1 for c in checks if c["kind"] == k) for k in KIND_ORDER}
    return {"checks": checks, "counts": counts}


def _files(ctx: ReportContext) -> list[dict]:
    return [{"table": t, "rows": n, "links": ctx.files.get(t, {})} for t, n in sorted(ctx.row_counts.items())]
