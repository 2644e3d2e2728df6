"""The HTML report's reads: the public marts, by their real columns, into plain dicts.

Every query goes through :meth:`Marts.ref` / :meth:`Marts.select_sql` (personal data masked
or pseudonymised in SQL) and names only columns listed in :data:`contract.REPORT_COLUMNS`
(``rows`` checks it). Nothing here builds HTML: the templates do, from these dicts.
Totals over deliveries count each message once (``totals.once_per_message``).
"""

from __future__ import annotations

from typing import Any, Sequence

from .contract import REPORT_COLUMNS
from .format import num, reasons_list
from .totals import once_per_message
from .warehouse import Marts, ql

TABLE_ROW_CAP = 300
ALL_DELIVERIES_CAP = 500
NOT_PARENT = "NOT coalesce(is_recurring_parent, FALSE)"
# a reconciliation pair differs: a difference, or a value on one side only
DIFFERS = ("(coalesce(abs(difference), 0) > 1e-9 "
           "OR ((dashboard_value IS NULL) <> (report_value IS NULL)))")
QUARANTINED = "lower(status) IN ('quarantine', 'denylisted')"
STATUS_ORDER = ("valid", "erroneous", "quarantine", "denylisted")

# the small marts shown whole: (mart, columns in order, the column ranked by)
EXCLUSION_TABLE = ("rpt_exclusion_causes", REPORT_COLUMNS["rpt_exclusion_causes"], "excluded_targets")
PROOF_TABLE = ("rpt_proof_and_test_sends", REPORT_COLUMNS["rpt_proof_and_test_sends"], "messages")


def rows(m: Marts, table: str, cols: Sequence[str], *, where: str | None = None,
         order_by: str | None = None, limit: int | None = None,
         params: list[Any] | None = None) -> list[dict[str, Any]]:
    """Rows of ``table`` (masked) with ``cols``, each a column the contract lists."""
    unknown = [c for c in cols if c not in REPORT_COLUMNS[table]]
    if unknown:
        raise AssertionError(f"reports/contract.py does not list marts.{table}.{', '.join(unknown)}")
    sql = f"SELECT * FROM ({m.select_sql(table, cols)}) AS t"
    if where:
        sql += f" WHERE {where}"
    if order_by:
        sql += f" ORDER BY {order_by}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return m.dicts(sql, params)


def scalar(m: Marts, sql: str, params: list[Any] | None = None) -> Any:
    return m.con.execute(sql, params).fetchone()[0]


# -- deliveries ---------------------------------------------------------------------------------
DASH_COLS = REPORT_COLUMNS["dash_delivery_kpis"]
RPT_COLS = REPORT_COLUMNS["rpt_delivery_kpis"]


def deliveries(m: Marts) -> list[dict]:
    """One row per delivery in its own mode: the dashboard's, ranked by sent. A warehouse
    whose dashboard is empty (no snapshot yet) lists the report's deliveries by processed,
    each flagged ``no_dash``."""
    if m.count("dash_delivery_kpis"):
        out = rows(m, "dash_delivery_kpis", DASH_COLS, order_by="sent DESC NULLS LAST, delivery_id",
                   limit=ALL_DELIVERIES_CAP)
        for r in out:
            r["no_dash"] = False
        return out
    out = m.dicts(f"SELECT delivery_id, min(reporting_mode) AS reporting_mode, "
                  f"bool_or(is_recurring_parent) AS is_recurring_parent, max(processed) AS processed "
                  f"FROM {m.ref('rpt_delivery_kpis')} GROUP BY delivery_id "
                  f"ORDER BY processed DESC NULLS LAST, delivery_id LIMIT {ALL_DELIVERIES_CAP}")
    for r in out:
        r["no_dash"] = True
    return out


def delivery_info(m: Marts, dels: list[dict]) -> dict[Any, dict]:
    """delivery_id -> label, channel, send date (from rpt_confirmation_audit: one row per known
    delivery; the send date is its first relay, else its scheduled start), own mode and whether
    it is a recurring parent."""
    info = {d["delivery_id"]: {"label": None, "channel": None, "sent_at": None, "mode": d.get("reporting_mode"),
                               "parent": bool(d.get("is_recurring_parent"))} for d in dels}
    if info:
        for r in rows(m, "rpt_confirmation_audit", ("delivery_id", "label", "channel", "scheduled_at",
                                                    "first_relayed_at"),
                      where="delivery_id IN (SELECT unnest(?))", params=[list(info)]):
            info[r["delivery_id"]].update(label=r["label"], channel=r["channel"],
                                          sent_at=r["first_relayed_at"] or r["scheduled_at"])
    return info


def report_rows(m: Marts, ids: list) -> dict[tuple, dict]:
    """(delivery_id, reporting_mode) -> the dynamic report's row, for ``ids``."""
    if not ids:
        return {}
    got = rows(m, "rpt_delivery_kpis", RPT_COLS, where="delivery_id IN (SELECT unnest(?))",
               order_by="delivery_id, reporting_mode", params=[ids])
    return {(r["delivery_id"], r["reporting_mode"]): r for r in got}


def own_report(rpt: dict[tuple, dict], did: Any, mode: Any) -> tuple[dict | None, dict | None]:
    """The report row in the delivery's own mode (standard without one), and the other mode's."""
    mine = rpt.get((did, mode)) or rpt.get((did, "standard"))
    other = None
    if mine is not None:
        other = next((r for (d, md), r in rpt.items() if d == did and md != mine["reporting_mode"]), None)
    return mine, other


def delivery_cards(dels: list[dict], rpt: dict[tuple, dict]) -> list[dict]:
    """Per delivery: the dashboard row, the report row in its own mode, the other mode's row
    and the report-minus-dashboard differences of the rates both show."""
    cards = []
    for d in dels:
        r, other = own_report(rpt, d["delivery_id"], d.get("reporting_mode"))
        delta = {}
        if r is not None and not d["no_dash"]:
            for key_r, key_d in (("delivered_rate", "delivered_rate"), ("bounce_rate", "bounces_errors_rate"),
                                 ("open_rate", "open_rate"), ("click_through_rate", "click_through_rate")):
                a, b = num(r[key_r]), num(d[key_d])
                delta[key_r] = None if a is None or b is None else a - b
        cards.append({"d": d, "r": r, "other": other, "delta": delta,
                      "mode": d.get("reporting_mode") or (r or {}).get("reporting_mode")})
    return cards


# -- header -------------------------------------------------------------------------------------
def header_counts(m: Marts) -> dict[str, tuple[int, int]]:
    """(flagged, total) for the header tiles."""
    def count_where(table: str, predicate: str) -> tuple[int, int]:
        n, tot = m.con.execute(f"SELECT count(*) FILTER (WHERE {predicate}), count(*) "
                               f"FROM {m.ref(table)}").fetchone()
        return int(n), int(tot)
    return {"recon": count_where("rpt_kpi_reconciliation", "coalesce(difference, 0) <> 0"),
            "audit": count_where("rpt_confirmation_audit", "finding IS NOT NULL"),
            "quarantine": count_where("dim_address_quarantine", QUARANTINED)}


# -- reconciliation -----------------------------------------------------------------------------
def reconciliation(m: Marts) -> dict:
    """Per delivery: the KPI pairs that differ (in the mart's KPI order) and how many agree."""
    t = "rpt_kpi_reconciliation"
    stats = m.dicts(f"SELECT delivery_id, count(*) AS n, count(*) FILTER (WHERE {DIFFERS}) AS nd "
                    f"FROM {m.ref(t)} GROUP BY delivery_id ORDER BY nd DESC, delivery_id")
    diff = rows(m, t, ("delivery_id", "kpi", "kpi_order", "dashboard_value", "report_value", "difference",
                       "reasons"), where=DIFFERS, order_by="delivery_id, kpi_order, kpi", limit=TABLE_ROW_CAP)
    by: dict[Any, list[dict]] = {}
    for r in diff:
        r["reasons"] = reasons_list(r["reasons"])
        by.setdefault(r["delivery_id"], []).append(r)
    groups = []
    for s in stats:
        n, nd = int(s["n"]), int(s["nd"])
        rs = by.get(s["delivery_id"], [])
        if nd and not rs:
            continue  # beyond the row cap
        groups.append({"delivery_id": s["delivery_id"], "rows": rs, "agree": n - nd, "n": n, "nd": nd})
    return {"groups": groups, "n_pairs": sum(int(s["n"]) for s in stats),
            "n_diff": sum(int(s["nd"]) for s in stats), "n_shown": len(diff),
            "n_deliveries": len(stats), "n_differing": sum(1 for s in stats if int(s["nd"]))}


# -- hourly -------------------------------------------------------------------------------------
def hourly(m: Marts, ids: list) -> dict[Any, dict[str, list[dict]]]:
    """delivery_id -> reporting_mode -> hourly rows (delivered and bounces + errors rates)."""
    by: dict[Any, dict[str, list[dict]]] = {}
    if not ids:
        return by
    for r in rows(m, "rpt_delivery_kpis_hourly", REPORT_COLUMNS["rpt_delivery_kpis_hourly"],
                  where="delivery_id IN (SELECT unnest(?)) AND hour_start IS NOT NULL",
                  order_by="delivery_id, reporting_mode, hour_start", params=[ids]):
        by.setdefault(r["delivery_id"], {}).setdefault(r["reporting_mode"], []).append(r)
    return by


# -- failures -----------------------------------------------------------------------------------
def failure_reasons(m: Marts) -> list[dict]:
    """Failed messages by (reason, type) over all deliveries, each message once."""
    t = "rpt_delivery_failure_reasons"
    join, where = once_per_message(m, t, "f")
    return m.dicts(f"SELECT coalesce(f.failure_reason, 'other') AS reason, f.failure_type AS ftype, "
                   f"CAST(sum(f.messages) AS BIGINT) AS n FROM {m.ref(t)} f {join} WHERE {where} "
                   f"GROUP BY ALL HAVING sum(f.messages) > 0 ORDER BY n DESC, reason")


# -- engagement over time -----------------------------------------------------------------------
def engagement(m: Marts) -> dict:
    """Opens and clicks per hour (per day beyond two weeks) over all deliveries, each event
    once (recurring parents' rows repeat their executions' events: left out)."""
    t = "rpt_delivery_engagement_hourly"
    where = NOT_PARENT
    lo, hi = m.con.execute(f"SELECT min(hour_start), max(hour_start) FROM {m.ref(t)} WHERE {where}").fetchone()
    span_h = (hi - lo).total_seconds() / 3600 if lo is not None and hi is not None else 0
    unit = "day" if span_h > 24 * 14 else "hour"
    got = m.dicts(f"SELECT date_trunc({ql(unit)}, hour_start) AS b, CAST(sum(opens) AS BIGINT) AS o, "
                  f"CAST(sum(clicks) AS BIGINT) AS c FROM {m.ref(t)} WHERE {where} AND hour_start IS NOT NULL "
                  f"GROUP BY 1 ORDER BY 1")
    return {"unit": unit, "rows": got, "opens": sum(int(r["o"] or 0) for r in got),
            "clicks": sum(int(r["c"] or 0) for r in got)}


# -- the analysts' marts: days, links, clients, bounces by domain -------------------------------
def daily(m: Marts) -> dict:
    """Per calendar day (the mart's reporting time zone), both modes added (each message counts
    once, in its delivery's own mode): sent, and the rates recomputed over the sums."""
    t = "rpt_delivery_kpis_daily"
    got = m.dicts(f"SELECT day, any_value(reporting_time_zone) AS zone, CAST(sum(sent) AS BIGINT) AS sent, "
                  f"CAST(sum(processed) AS BIGINT) AS processed, CAST(sum(delivered) AS BIGINT) AS delivered, "
                  f"CAST(sum(bounces_errors) AS BIGINT) AS be, CAST(sum(unique_opens) AS BIGINT) AS uo, "
                  f"CAST(sum(human_unique_opens) AS BIGINT) AS huo, CAST(sum(unique_clicks) AS BIGINT) AS uc "
                  f"FROM {m.ref(t)} WHERE day IS NOT NULL GROUP BY day ORDER BY day")
    for r in got:
        p, d = r["processed"] or 0, r["delivered"] or 0
        r["bounce_rate"] = (r["be"] or 0) / p if p else None
        r["open_rate"] = (r["uo"] or 0) / d if d else None
        r["open_rate_excl_machine"] = (r["huo"] or 0) / d if d else None
        r["click_rate"] = (r["uc"] or 0) / d if d else None
    return {"rows": got, "zone": got[0]["zone"] if got else None}


def link_clicks(m: Marts, top: int = 12) -> dict:
    """The most clicked tracked URLs over all deliveries (recurring parents' rows left out)."""
    t = "rpt_link_clicks"
    join, where = once_per_message(m, t, "f")
    got = m.dicts(f"SELECT f.url AS url, CAST(sum(f.clicks) AS BIGINT) AS clicks, "
                  f"CAST(sum(f.unique_clicks) AS BIGINT) AS unique_clicks, count(DISTINCT f.delivery_id) AS nd "
                  f"FROM {m.ref(t)} f {join} WHERE {where} GROUP BY 1 ORDER BY clicks DESC, url LIMIT {int(top)}")
    total, n_urls = m.con.execute(f"SELECT coalesce(sum(f.clicks), 0), count(DISTINCT f.url) "
                                  f"FROM {m.ref(t)} f {join} WHERE {where}").fetchone()
    return {"rows": got, "total": int(total), "n_urls": int(n_urls)}


def opens_by_client(m: Marts, top: int = 12) -> dict:
    """People's opens by client family and device class over all deliveries; machine opens apart."""
    t = "rpt_opens_by_client"
    join, where = once_per_message(m, t, "f")
    got = m.dicts(f"SELECT f.client_family AS client, f.device_class AS device, CAST(sum(f.opens) AS BIGINT) AS opens, "
                  f"CAST(sum(f.unique_opens) AS BIGINT) AS unique_opens FROM {m.ref(t)} f {join} "
                  f"WHERE {where} AND NOT f.is_machine GROUP BY ALL HAVING sum(f.opens) > 0 "
                  f"ORDER BY opens DESC, client, device LIMIT {int(top)}")
    devices = m.dicts(f"SELECT f.device_class AS device, CAST(sum(f.opens) AS BIGINT) AS opens FROM {m.ref(t)} f {join} "
                      f"WHERE {where} AND NOT f.is_machine GROUP BY ALL ORDER BY opens DESC, device")
    human, machine = m.con.execute(
        f"SELECT coalesce(sum(f.opens) FILTER (WHERE NOT f.is_machine), 0), "
        f"coalesce(sum(f.opens) FILTER (WHERE f.is_machine), 0) FROM {m.ref(t)} f {join} WHERE {where}").fetchone()
    return {"rows": got, "devices": devices, "human": int(human), "machine": int(machine)}


def bounces_by_domain(m: Marts, top: int = 12) -> dict:
    """Failed messages by recipient domain and reason over all deliveries, each message once."""
    t = "rpt_bounce_details"
    join, where = once_per_message(m, t, "f")
    got = m.dicts(f"SELECT f.recipient_domain AS domain, coalesce(f.failure_reason, 'other') AS reason, "
                  f"f.failure_type AS ftype, CAST(sum(f.messages) AS BIGINT) AS n FROM {m.ref(t)} f {join} "
                  f"WHERE {where} GROUP BY ALL HAVING sum(f.messages) > 0 ORDER BY n DESC, domain, reason "
                  f"LIMIT {int(top)}")
    total = int(scalar(m, f"SELECT coalesce(sum(f.messages), 0) FROM {m.ref(t)} f {join} WHERE {where}"))
    return {"rows": got, "total": total}


# -- domains ------------------------------------------------------------------------------------
def domains(m: Marts, top: int = 20) -> dict:
    """The ``top`` recipient domains by messages sent, each message once; rates recomputed
    over the sums (delivered and bounce rate over delivered + bounces + errors, open rate
    over delivered)."""
    t = "rpt_delivery_domains"
    join, where = once_per_message(m, t, "f")
    got = m.dicts(
        f"SELECT f.recipient_domain AS domain, CAST(count(DISTINCT f.delivery_id) AS BIGINT) AS nd, "
        f"CAST(sum(f.sent) AS BIGINT) AS sent, CAST(sum(f.delivered) AS BIGINT) AS delivered, "
        f"CAST(sum(f.bounces_errors) AS BIGINT) AS be, CAST(sum(f.unique_opens) AS BIGINT) AS uo "
        f"FROM {m.ref(t)} f {join} WHERE {where} GROUP BY 1 ORDER BY sent DESC NULLS LAST, domain "
        f"LIMIT {int(top)}")
    for r in got:
        d, b = r["delivered"] or 0, r["be"] or 0
        r["delivered_rate"] = d / (d + b) if d + b else None
        r["bounce_rate"] = b / (d + b) if d + b else None
        r["open_rate"] = r["uo"] / d if r["uo"] is not None and d else None
    worst = max([r["bounce_rate"] for r in got if r["bounce_rate"] is not None] + [1e-9])
    for r in got:  # bar length relative to the worst domain shown, so small rates stay comparable
        r["bar_pct"] = (r["bounce_rate"] or 0) / worst * 100
    total = int(scalar(m, f"SELECT count(DISTINCT recipient_domain) FROM {m.ref(t)}"))
    return {"rows": got, "total": total, "top": top}


# -- quarantine ---------------------------------------------------------------------------------
def quarantine(m: Marts) -> dict:
    """Addresses by status and channel; the last reasons of the quarantined and denylisted."""
    t = "dim_address_quarantine"
    got = m.dicts(f"SELECT lower(coalesce(status, 'unknown')) AS status, coalesce(channel, {ql('–')}) AS channel, "
                  f"count(*) AS n FROM {m.ref(t)} GROUP BY ALL")
    statuses = sorted({r["status"] for r in got},
                      key=lambda s: (STATUS_ORDER.index(s) if s in STATUS_ORDER else 9, s))
    channels = sorted({str(r["channel"]) for r in got})
    cnt = {(r["status"], str(r["channel"])): int(r["n"]) for r in got}
    table = [{"status": s, "cells": [cnt.get((s, c), 0) for c in channels],
              "total": sum(cnt.get((s, c), 0) for c in channels)} for s in statuses]
    reasons = m.dicts(f"SELECT coalesce(last_reason, 'not recorded') AS reason, count(*) AS n FROM {m.ref(t)} "
                      f"WHERE {QUARANTINED} GROUP BY 1 ORDER BY n DESC, 1 LIMIT 8")
    return {"statuses": statuses, "channels": channels, "table": table, "total": sum(cnt.values()),
            "channel_totals": [sum(cnt.get((s, c), 0) for s in statuses) for c in channels],
            "reasons": reasons}


# -- small whole tables -------------------------------------------------------------------------
FOLD_ROWS = 10  # a long table shows this many rows, the rest behind "show all"


def whole_table(m: Marts, spec: tuple[str, tuple[str, ...], str], caption: str = "") -> dict:
    t, cols, rank = spec
    got = rows(m, t, cols, order_by=f"{rank} DESC NULLS LAST", limit=TABLE_ROW_CAP)
    numeric = [isinstance(got[0][c], (int, float)) and not isinstance(got[0][c], bool) if got else False
               for c in cols]
    return {"table": t, "cols": cols, "rows": got, "numeric": numeric, "total": m.count(t),
            "fold": FOLD_ROWS, "caption": caption or f"marts.{t}, largest {rank.replace('_', ' ')} first"}


# -- audit --------------------------------------------------------------------------------------
AUDIT_COLS = ("delivery_id", "requires_confirmation", "confirmed_by", "confirmer_may_start",
              "scheduled_at", "first_relayed_at", "start_lag_seconds", "finding")


def audit(m: Marts) -> dict:
    """The deliveries with a finding (null when fine), with their start delay."""
    t = "rpt_confirmation_audit"
    flagged = rows(m, t, AUDIT_COLS, where="finding IS NOT NULL", order_by="delivery_id", limit=TABLE_ROW_CAP)
    for r in flagged:
        r["findings"] = reasons_list(r["finding"])
    n_flag = int(scalar(m, f"SELECT count(*) FROM {m.ref(t)} WHERE finding IS NOT NULL"))
    return {"rows": flagged, "n_flag": n_flag, "total": m.count(t)}
