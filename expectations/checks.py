"""Plain DuckDB checks that span rows or tables, run after the suites:

- ``cross.fct_message_status_vs_send_log``: exactly one row per mode (two rows) for every
  message of the sending log relayed at or before as_of, and none for any other message;
- ``freshness.rpt_delivery_kpis_as_of``: every report row was built as of the build's as_of;
- ``freshness.feeds``: the stale feeds of marts.rpt_source_freshness, as warnings (never a
  failure);
- ``consistency.rpt_delivery_kpis``: processed = delivered + bounces_errors and
  bounces_errors = hard_bounces + soft_bounces;
- ``consistency.dash_delivery_kpis``: delivered + bounces_errors <= sent;
- ``consistency.rpt_delivery_kpis_hourly``: hour_start is on the hour.

And, for the data-quality page, ``findings_summary``: marts.rpt_data_quality_findings counted
per finding (listed there, never a gate).
"""

from __future__ import annotations

import time
from datetime import datetime

import duckdb

from sendlens.expectations.formatting import _first_line
from sendlens.expectations.results import SAMPLE_VALUES, CheckResult
from sendlens.expectations.warehouse import MART_SCHEMA, STAGING_SCHEMA, _files, _glob_columns, _Warehouse


def _send_log_relation(con: duckdb.DuckDBPyConnection, wh: _Warehouse,
                       lake_globs: dict[str, str | list[str]] | None,
                       incremental: bool = False) -> str | None:
    """Relayed-at per message of the sending log: staging (deduplicated, newest version wins),
    on an incremental build the kept int_messages (the same rows, without re-reading the whole
    lake), or, failing both, the landed files (a message counts as relayed if any version is)."""
    if incremental and wh.has("intermediate", "int_messages"):
        return "(select message_id, relayed_at from intermediate.int_messages)"
    if wh.has(STAGING_SCHEMA, "stg_send_log"):
        return (f"(select message_id, relayed_at from {STAGING_SCHEMA}.stg_send_log)")
    glob = (lake_globs or {}).get("send_log")
    if glob and _glob_columns(con, glob) is not None:
        return (f"(select message_id, max(relayed_at) as relayed_at from "
                f"read_parquet({_files(glob)}, union_by_name = true) group by message_id)")
    return None


def _check(name: str, kind: str, fn, *args) -> CheckResult:
    started = time.monotonic()
    try:
        res = fn(*args)
    except duckdb.Error as exc:
        msg = f"could not evaluate: {_first_line(str(exc))}"
        res = CheckResult(name, "failed", msg, [f"{name}: {msg}"], kind)
    res.name, res.kind, res.seconds = name, kind, time.monotonic() - started
    return res


def _skip(why: str) -> CheckResult:
    return CheckResult("", "passed", f"skipped: {why}", [], skipped=True)


def _cross_status_vs_log(con, wh: _Warehouse, log: str | None, as_of: datetime,
                         changed_messages: str | None = None) -> CheckResult:
    if not wh.has(MART_SCHEMA, "fct_message_status"):
        return _skip("marts.fct_message_status missing")
    if log is None:
        return _skip("no sending log (staging.stg_send_log missing, no send_log lake glob)")
    only = (f"and message_id in (select message_id from {changed_messages})"
            if changed_messages else "")  # an incremental build: the recomputed messages
    # one pass: a full join of the relayed messages and the status rows counted per mode (a
    # count(distinct) per message, and a CTE read once per figure, took three times as long)
    sql = f"""
        with relayed as (
            select distinct message_id from {log}
            where relayed_at is not null and relayed_at <= ? {only}
        ),
        status as (
            select message_id, count(*) as n_rows,
                   count(*) filter (where reporting_mode = 'standard') as n_standard,
                   count(*) filter (where reporting_mode = 'efs') as n_efs
            from {MART_SCHEMA}.fct_message_status where true {only} group by message_id
        ),
        compared as (
            select
                coalesce(relayed.message_id, status.message_id) as message_id,
                relayed.message_id is not null as is_relayed,
                relayed.message_id is not null and (status.message_id is null or status.n_rows <> 2
                    or status.n_standard <> 1 or status.n_efs <> 1) as is_bad,
                relayed.message_id is null as is_extra
            from relayed full outer join status on relayed.message_id = status.message_id
        )
        select
            count(*) filter (where is_relayed),
            count(*) filter (where is_bad),
            (list(message_id order by message_id) filter (where is_bad))[1:{SAMPLE_VALUES}],
            count(*) filter (where is_extra),
            (list(message_id order by message_id) filter (where is_extra))[1:{SAMPLE_VALUES}]
        from compared
    """
    n_relayed, n_bad, bad_ids, n_extra, extra_ids = con.execute(sql, [as_of]).fetchone()
    failures = []
    if n_bad:
        failures.append(f"fct_message_status: {n_bad} of {n_relayed} relayed messages do not "
                        f"have exactly 2 rows (one per reporting mode), e.g. {bad_ids}")
    if n_extra:
        failures.append(f"fct_message_status: {n_extra} messages have a status but were not "
                        f"relayed by {as_of.isoformat(sep=' ')} UTC, e.g. {extra_ids}")
    details = (f"{n_relayed} relayed messages in the sending log, "
               f"{n_bad} without exactly 2 status rows, {n_extra} unexpected status messages")
    return CheckResult("", "failed" if failures else "passed", details, failures)


def _freshness_as_of(con, wh: _Warehouse, as_of: datetime) -> CheckResult:
    if not wh.has(MART_SCHEMA, "rpt_delivery_kpis"):
        return _skip("marts.rpt_delivery_kpis missing")
    n, n_bad, seen = con.execute(f"""
        select count(*), count(*) filter (where as_of is distinct from ?),
               list(distinct cast(as_of as varchar)) filter (where as_of is distinct from ?)
        from {MART_SCHEMA}.rpt_delivery_kpis""", [as_of, as_of]).fetchone()
    want = f"{as_of.isoformat(sep=' ')} UTC"
    if n_bad:
        seen = sorted(seen or [], key=str)[:SAMPLE_VALUES]
        return CheckResult("", "failed", f"{n_bad} of {n} rows not as of {want}",
                           [f"rpt_delivery_kpis.as_of: {n_bad} of {n} rows differ from the "
                            f"build's as_of {want}; observed {seen}"])
    return CheckResult("", "passed", f"{n} rows as of {want}", [])


def _feeds_fresh(con, wh: _Warehouse) -> CheckResult:
    """The stale feeds of marts.rpt_source_freshness, as warnings: a feed that stopped while the
    sends go on is for a person to look at, not a reason to hold the build back."""
    if not wh.has(MART_SCHEMA, "rpt_source_freshness"):
        return _skip("marts.rpt_source_freshness missing")
    rows = con.execute(f"""
        select feed, is_stale, messages_relayed_since, hours_of_sends_since, warn_after_hours,
               cast(latest_received_at as varchar), cast(latest_relayed_at as varchar)
        from {MART_SCHEMA}.rpt_source_freshness order by feed""").fetchall()
    warnings = [
        f"the {feed} feed is stale: {since:,} messages were relayed over {hours:.1f} hours after its "
        + (f"newest event (received {latest})" if latest else "first send, and it has no event yet")
        + f", up to {relayed}; the threshold is {limit:g} hours (stale_{feed}_hours)"
        for feed, stale, since, hours, limit, latest, relayed in rows if stale]
    fresh = [feed for feed, stale, *_ in rows if not stale]
    details = (f"{len(warnings)} stale feed(s) of {len(rows)}" if warnings
               else f"{len(rows)} feeds arriving with the sends ({', '.join(fresh)})")
    return CheckResult("", "passed", details, [], warnings=warnings)


def _rule_check(con, wh: _Warehouse, table: str, rules: list[tuple[str, str]]) -> CheckResult:
    if not wh.has(MART_SCHEMA, table):
        return _skip(f"marts.{table} missing")
    failures = []
    total = con.execute(f"select count(*) from {MART_SCHEMA}.{table}").fetchone()[0]
    for label, violated in rules:
        n, sample = con.execute(f"""
            select count(*), list(delivery_id)[1:{SAMPLE_VALUES}]
            from {MART_SCHEMA}.{table} where coalesce({violated}, false)""").fetchone()
        if n:
            failures.append(f"{table}: {label}: {n} of {total} rows violate it, "
                            f"e.g. delivery_id {sample}")
    details = f"{len(rules) - len(failures)} of {len(rules)} rules hold on {total} rows"
    return CheckResult("", "failed" if failures else "passed", details, failures)


_RULES: dict[str, list[tuple[str, str]]] = {
    "rpt_delivery_kpis": [
        ("processed = delivered + bounces_errors", "processed <> delivered + bounces_errors"),
        ("bounces_errors = hard_bounces + soft_bounces",
         "bounces_errors <> hard_bounces + soft_bounces"),
    ],
    "dash_delivery_kpis": [
        ("delivered + bounces_errors <= sent", "delivered + bounces_errors > sent"),
    ],
    "rpt_delivery_kpis_hourly": [
        ("hour_start is on the hour", "date_trunc('hour', hour_start) <> hour_start"),
    ],
}


def findings_summary(con, wh: _Warehouse) -> list[dict] | None:
    """marts.rpt_data_quality_findings counted per finding, input and severity (warnings first):
    counts and deliveries only, no row (its ids and free text are personal data); None when the
    mart is not in the warehouse."""
    if not wh.has(MART_SCHEMA, "rpt_data_quality_findings"):
        return None
    rows = con.execute(f"""
        select finding, kind, severity, count(*), count(distinct delivery_id)
        from {MART_SCHEMA}.rpt_data_quality_findings
        group by finding, kind, severity
        order by severity = 'warning' desc, finding, kind""").fetchall()
    return [dict(zip(("finding", "kind", "severity", "rows", "deliveries"), r)) for r in rows]
