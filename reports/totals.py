"""Totals over deliveries that count each message once.

A recurring parent's row already includes the messages of its executions ("a recurring
execution counts in its own row and in its parent's"), and each execution has its own row
too: a sum over all rows counts every execution's messages twice. The per-delivery marts say
which rows are parents (``is_recurring_parent``); every total over deliveries in the HTML
report, its charts and the workbook goes through :func:`once_per_message`, which leaves those
rows out and keeps each remaining delivery in its own (dashboard) mode. The per-delivery
tables still show the parents' rows, labelled.

A warehouse built before the flag existed has no way to tell parents apart here: its totals
are the plain sums (as before), and :func:`has_parent_flag` says so.
"""

from __future__ import annotations

from typing import Any

from .warehouse import Marts

PARENT_FLAG = "is_recurring_parent"


def has_parent_flag(m: Marts, table: str) -> bool:
    return m.has_columns(table, PARENT_FLAG)


def not_parent_sql(m: Marts, table: str, alias: str) -> str:
    """A predicate keeping the rows that are not a recurring parent's (TRUE without the flag)."""
    if has_parent_flag(m, table):
        return f"NOT coalesce({alias}.{PARENT_FLAG}, FALSE)"
    return "TRUE"


def own_mode_join(m: Marts, alias: str, table: str) -> tuple[str, str]:
    """(JOIN clause, WHERE clause) keeping each delivery's own (dashboard) mode."""
    if "reporting_mode" not in m.columns(table):
        return "", "TRUE"
    if m.has_columns("dash_delivery_kpis", "delivery_id", "reporting_mode") and m.non_empty("dash_delivery_kpis"):
        return (f"JOIN (SELECT DISTINCT delivery_id, reporting_mode FROM {m.ref('dash_delivery_kpis')}) d "
                f"ON d.delivery_id = {alias}.delivery_id AND d.reporting_mode = {alias}.reporting_mode", "TRUE")
    return "", f"{alias}.reporting_mode = 'standard'"


def once_per_message(m: Marts, table: str, alias: str = "f") -> tuple[str, str]:
    """(JOIN clause, WHERE clause) for a total over ``table``'s deliveries in which every
    message counts once: each delivery in its own mode, recurring parents' rows left out."""
    join, where = own_mode_join(m, alias, table)
    return join, f"({where}) AND {not_parent_sql(m, table, alias)}"


def parent_ids(m: Marts) -> set[Any]:
    """The deliveries that are recurring parents (from any per-delivery mart with the flag)."""
    for t in ("dash_delivery_kpis", "rpt_delivery_kpis"):
        if has_parent_flag(m, t) and m.has_columns(t, "delivery_id"):
            return {r[0] for r in m.con.execute(
                f"SELECT DISTINCT delivery_id FROM {m.ref(t)} WHERE {PARENT_FLAG}").fetchall()}
    return set()


REPORT_TOTALS = ("to_deliver", "sent", "processed", "delivered", "bounces_errors", "hard_bounces",
                 "soft_bounces", "pending", "unique_opens", "opens", "unique_clicks", "clicks",
                 "opt_outs", "complaints", "human_unique_opens", "human_unique_clicks")


def report_totals(m: Marts) -> dict[str, Any] | None:
    """Totals of the dynamic report over all deliveries, each message once: the deliveries
    counted (parents not), the parents left out, and the sums of :data:`REPORT_TOTALS`."""
    t = "rpt_delivery_kpis"
    if not m.non_empty(t) or not m.has_columns(t, "delivery_id"):
        return None
    cols = [c for c in REPORT_TOTALS if c in m.columns(t)]
    join, where = once_per_message(m, t, "f")
    sums = ", ".join(f"sum(f.{c}) AS {c}" for c in cols)
    row = m.dicts(f"SELECT count(DISTINCT f.delivery_id) AS deliveries{', ' + sums if sums else ''} "
                  f"FROM {m.ref(t)} f {join} WHERE {where}")[0]
    row["recurring_parents"] = len(parent_ids(m))
    row["parents_flagged"] = has_parent_flag(m, t)
    return {k: (int(v) if v is not None and not isinstance(v, bool) else v) for k, v in row.items()}
