"""What the HTML report reads from the public marts: every mart and column, by its real name.

The marts are the models in ``models/marts/`` (columns documented in ``models/marts/_*.yml``).
The report reads these columns and nothing else; it never looks for alternatives. Before it
renders, :func:`check_contract` compares this list with the warehouse and fails naming every
mart and column that is missing, so a renamed or dropped mart column breaks the report (and
its tests) at once instead of leaving a section silently empty. An empty mart is fine: its
section says "No data".
"""

from __future__ import annotations

from .warehouse import Marts

# mart -> the columns the report reads from it (in the marts' own order)
REPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "dash_delivery_kpis": (
        "delivery_id", "reporting_mode", "stats_computed_at", "to_deliver", "sent", "delivered",
        "bounces_errors", "delivered_rate", "bounces_errors_rate", "open_rate", "click_through_rate",
        "is_recurring_parent"),
    "rpt_delivery_kpis": (
        "delivery_id", "reporting_mode", "as_of", "processed", "delivered", "bounces_errors",
        "pending", "hard_bounces", "soft_bounces", "delivered_rate", "bounce_rate", "unique_opens",
        "unique_clicks", "open_rate", "click_through_rate", "click_to_open_rate", "opt_outs",
        "complaints", "open_rate_excl_machine", "click_through_rate_excl_machine", "human_unique_opens",
        "human_unique_clicks", "is_final", "is_recurring_parent"),
    "rpt_kpi_reconciliation": (
        "delivery_id", "kpi", "dashboard_value", "report_value", "difference", "reasons", "kpi_order"),
    "rpt_delivery_kpis_hourly": (
        "delivery_id", "reporting_mode", "hour_start", "delivered_rate", "bounces_errors_rate"),
    "rpt_delivery_failure_reasons": (
        "delivery_id", "reporting_mode", "failure_type", "failure_reason", "messages",
        "is_recurring_parent"),
    "rpt_delivery_engagement_hourly": ("delivery_id", "hour_start", "opens", "clicks", "is_recurring_parent"),
    "rpt_delivery_domains": (
        "delivery_id", "reporting_mode", "recipient_domain", "sent", "delivered", "bounces_errors",
        "unique_opens", "is_recurring_parent"),
    "dim_address_quarantine": ("channel", "status", "last_reason"),
    "rpt_exclusion_causes": (
        "delivery_id", "label", "channel", "exclusion_reason", "excluded_targets", "excluded_profiles",
        "excluded_but_in_send_log", "first_excluded_at", "last_excluded_at", "as_of"),
    "rpt_proof_and_test_sends": (
        "delivery_id", "is_proof", "messages", "test_profile_messages", "sent", "delivered",
        "bounces_errors"),
    "rpt_delivery_kpis_daily": (
        "day", "reporting_mode", "reporting_time_zone", "sent", "processed", "delivered", "bounces_errors",
        "unique_opens", "human_unique_opens", "unique_clicks"),
    "rpt_link_clicks": ("delivery_id", "url", "clicks", "unique_clicks", "is_recurring_parent"),
    "rpt_opens_by_client": (
        "delivery_id", "is_machine", "client_family", "device_class", "opens", "unique_opens",
        "is_recurring_parent"),
    "rpt_bounce_details": (
        "delivery_id", "reporting_mode", "recipient_domain", "failure_type", "failure_reason", "messages",
        "is_recurring_parent"),
    "rpt_confirmation_audit": (
        "delivery_id", "label", "channel", "requires_confirmation", "confirmed_by",
        "confirmer_may_start", "scheduled_at", "first_relayed_at", "start_lag_seconds", "finding"),
}


class MartContractError(LookupError):
    """The warehouse lacks a mart or a column that the HTML report reads."""

    def __init__(self, missing: list[tuple[str, str | None]], schema: str) -> None:
        self.missing = missing  # (mart, column) pairs; column None: the whole mart is missing
        items = [f"marts.{t} (the mart itself)" if c is None else f"marts.{t}.{c}" for t, c in missing]
        super().__init__(
            f"the HTML report cannot read the warehouse (schema {schema!r}): missing "
            + "; ".join(items)
            + ". The report reads the marts' real columns (reports/contract.py); rebuild the "
              "warehouse with this version of sendlens, or update the report with the mart "
              "(models/marts/).")


def missing_columns(m: Marts) -> list[tuple[str, str | None]]:
    """Every (mart, column) of :data:`REPORT_COLUMNS` the warehouse lacks (column None: the mart)."""
    out: list[tuple[str, str | None]] = []
    for table, cols in REPORT_COLUMNS.items():
        if not m.has(table):
            out.append((table, None))
            continue
        have = set(m.columns(table))
        out += [(table, c) for c in cols if c not in have]
    return out


def check_contract(m: Marts) -> None:
    """Raise :class:`MartContractError` naming every mart and column the report needs but the
    warehouse does not have."""
    missing = missing_columns(m)
    if missing:
        raise MartContractError(missing, m.schema)
