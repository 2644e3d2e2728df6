"""Source of the data-quality suites in ``expectations/suites/*.json``.

The JSON files are what reviewers read and what the runner loads (Great Expectations 1.x
``ExpectationSuite`` JSON: ``name``, ``expectations`` [{type, kwargs, meta, severity}],
``meta``). They are generated from this module so that the landing suites follow the landing
contract (``ingest.contracts``) and the mart suites follow SPEC section 6:

    python -m sendlens.expectations.suite_builder          # rewrite the JSON files
    python -m sendlens.expectations.suite_builder --check  # exit 1 if they are out of date

``tests/test_expectations.py`` fails when the JSON files and this module disagree.

Suite ``meta.sendlens`` tells the runner where the data lives:

- ``source``: ``landing`` (a landed kind: ``staging.stg_<kind>`` or a lake glob) or ``mart``
  (``marts.<table>``);
- ``table``: the kind or the mart table;
- ``columns``: the columns the suite is about (the runner reads only these);
- ``optional``: a missing table is skipped instead of failing the suite;
- ``staging_columns``: contract column -> staging column, where staging renamed it;
- ``column_types``: expected DuckDB type family per column (``integer``, ``numeric``,
  ``timestamp``, ``boolean``), checked against the table's schema (counts are integers).

Expectations with ``severity: warning`` are reported but do not fail the suite (null-rate
heuristics); everything else is ``critical``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sendlens.ingest.contracts import CHANNELS, CONTRACTS, FAILURE_REASONS

SUITES_DIR = Path(__file__).resolve().parent / "suites"

TS_MIN = "2000-01-01T00:00:00Z"
TS_MAX = "2100-01-01T00:00:00Z"
MAX_VALIDITY_HOURS = 8760  # one year

REPORTING_MODES = ["standard", "efs"]
STATUSES = ["pending", "sent", "failed"]
FAILURE_TYPES = ["hard", "soft"]  # a failed status is hard or soft; "ignored" never fails
QUARANTINE_STATUSES = ["valid", "erroneous", "quarantine", "denylisted"]

# Where the staging models renamed a contract column (contract name -> staging name).
STAGING_COLUMNS: dict[str, dict[str, str]] = {
    "deliveries": {"efs_enabled": "is_efs_enabled", "contact_date": "contact_at"},
    "exclusions": {"reason": "exclusion_reason"},
    "feedback": {"failure_reason": "failure_reason_raw"},
    "tracking": {"type": "tracking_type"},
}


# ---- expectation helpers -----------------------------------------------------------------
def _e(type_: str, notes: str | None = None, severity: str | None = None, **kwargs: Any) -> dict:
    exp: dict[str, Any] = {"type": type_, "kwargs": kwargs}
    if notes:
        exp["meta"] = {"notes": notes}
    if severity:
        exp["severity"] = severity
    return exp


def exists(col: str) -> dict:
    return _e("expect_column_to_exist", column=col)


def where(column: str, operator: str, parameter: Any) -> dict:
    """A GE 1.x row condition (``Column(column) <operator> parameter``) as JSON; string row
    conditions are deprecated since GX Core 1.9."""
    return {"type": "comparison", "column": {"name": column}, "operator": operator,
            "parameter": parameter}


def not_null(col: str, mostly: float | None = None, row_condition: dict | None = None,
             severity: str | None = None, notes: str | None = None) -> dict:
    kw: dict[str, Any] = {"column": col}
    if mostly is not None:
        kw["mostly"] = mostly
    if row_condition:
        kw["row_condition"] = row_condition
    return _e("expect_column_values_to_not_be_null", notes, severity, **kw)


def is_null(col: str, row_condition: dict, notes: str | None = None) -> dict:
    return _e("expect_column_values_to_be_null", notes, column=col, row_condition=row_condition)


def in_set(col: str, values: list | tuple, severity: str | None = None,
           notes: str | None = None) -> dict:
    return _e("expect_column_values_to_be_in_set", notes, severity, column=col,
              value_set=list(values))


def between(col: str, lo: Any = None, hi: Any = None, notes: str | None = None) -> dict:
    kw: dict[str, Any] = {"column": col}
    if lo is not None:
        kw["min_value"] = lo
    if hi is not None:
        kw["max_value"] = hi
    return _e("expect_column_values_to_be_between", notes, **kw)


def ts_range(col: str) -> dict:
    return between(col, TS_MIN, TS_MAX)


def rate(col: str) -> dict:
    return between(col, 0, 1, notes="rates are fractions in [0, 1] (null when undefined)")


def count(col: str) -> dict:
    return between(col, 0, notes="counts are never negative")


def ge(a: str, b: str, notes: str | None = None) -> dict:
    return _e("expect_column_pair_values_a_to_be_greater_than_b", notes, column_A=a, column_B=b,
              or_equal=True, ignore_row_if="either_value_is_missing")


def _suite(name: str, meta: dict, expectations: list[dict]) -> dict:
    return {"name": name, "meta": {"sendlens": meta}, "expectations": expectations}


# ---- landing suites (SPEC section 1, ingest.contracts) -----------------------------------
# Null-rate heuristics per kind: a small share of nulls is normal, a high one means a
# broken feed. Warnings only: they never block a build.
_NULL_RATES: dict[str, list[dict]] = {
    "deliveries": [
        not_null(c, mostly=0.99, severity="warning",
                 notes="has a contract default; nulls mean the default was not applied")
        for c in ("efs_enabled", "validity_hours", "is_proof", "requires_confirmation")
    ],
    "send_log": [
        not_null("is_test_profile", mostly=0.99, severity="warning",
                 notes="has a contract default; nulls mean the default was not applied"),
        not_null("relayed_at", mostly=0.5, severity="warning",
                 notes="most landed messages should have been handed to the MTA"),
    ],
    "exclusions": [
        not_null("profile_id", mostly=0.5, severity="warning",
                 notes="exclusions normally name the excluded profile"),
    ],
    # a bounce without a failure_reason is normal (MTA logs, most provider events): the
    # qualification table (seeds/bounce_qualification.csv) qualifies it from its codes and text
    "feedback": [],
    "tracking": [
        not_null("url", mostly=0.9, severity="warning", row_condition=where("type", "==", "click"),
                 notes="clicks normally carry the clicked URL"),
        not_null("user_agent", mostly=0.5, severity="warning",
                 notes="machine-open detection relies on user agents"),
    ],
    "operators": [],
}

_LANDING_EXTRA: dict[str, list[dict]] = {
    "deliveries": [between("validity_hours", 0, MAX_VALIDITY_HOURS,
                           notes="validity between 0 hours and one year")],
    "feedback": [between("attempt", 0, notes="attempt numbers are never negative")],
}


def landing_suite(kind: str) -> dict:
    c = CONTRACTS[kind]
    exps: list[dict] = [exists(col.name) for col in c.columns]
    required = [col.name for col in c.columns if col.required]
    for name in dict.fromkeys([*c.key, *required]):
        exps.append(not_null(name))
    for col in c.columns:
        if col.enum:
            exps.append(in_set(col.name, col.enum))
        if col.dtype == "bool":
            exps.append(in_set(col.name, [True, False]))
    for col in c.columns:
        if col.dtype == "timestamp":
            exps.append(ts_range(col.name))
    exps += _LANDING_EXTRA.get(kind, [])
    exps += _NULL_RATES[kind]
    meta = {
        "source": "landing",
        "table": kind,
        "description": f"Landed `{kind}` rows against the landing contract (SPEC section 1).",
        "columns": list(c.names),
        "optional": True,
        "staging_columns": STAGING_COLUMNS.get(kind, {}),
    }
    return _suite(kind, meta, exps)


# ---- mart suites (SPEC section 6) --------------------------------------------------------
def _mart(name: str, description: str, columns: list[str], types: dict[str, str],
          exps: list[dict], optional: bool = False) -> dict:
    meta = {
        "source": "mart",
        "table": name,
        "description": description,
        "columns": columns,
        "optional": optional,
        "column_types": types,
    }
    return _suite(name, meta, [exists(c) for c in columns] + exps)


def _types(kind: str, *cols: str) -> dict[str, str]:
    return {c: kind for c in cols}


def mart_suites() -> list[dict]:
    reasons = list(FAILURE_REASONS)
    suites: list[dict] = []

    cols = ["message_id", "delivery_id", "profile_id", "reporting_mode", "status",
            "failure_type", "failure_reason", "status_at", "is_final"]
    suites.append(_mart(
        "fct_message_status", "Current sending-log status per message and reporting mode.",
        cols, {**_types("timestamp", "status_at"), **_types("boolean", "is_final")},
        [
            *[not_null(c) for c in ("message_id", "delivery_id", "profile_id",
                                     "reporting_mode", "status", "status_at", "is_final")],
            in_set("reporting_mode", REPORTING_MODES),
            in_set("status", STATUSES),
            in_set("failure_type", FAILURE_TYPES),
            in_set("failure_reason", reasons,
                   notes="failure reasons are the labels of SPEC section 4; unknown ones are 'other'"),
            not_null("failure_type", row_condition=where("status", "==", "failed"),
                     notes="a failed status says whether it is hard or soft"),
            is_null("failure_type", row_condition=where("status", "!=", "failed"),
                    notes="only failed statuses carry a failure type"),
            ts_range("status_at"),
        ],
    ))

    cols = ["message_id", "delivery_id", "reporting_mode", "status", "failure_type",
            "failure_reason", "valid_from", "valid_to"]
    suites.append(_mart(
        "fct_message_status_history",
        "Status intervals per message and reporting mode (valid_to null while current).",
        cols, _types("timestamp", "valid_from", "valid_to"),
        [
            *[not_null(c) for c in ("message_id", "delivery_id", "reporting_mode", "status",
                                     "valid_from")],
            in_set("reporting_mode", REPORTING_MODES),
            in_set("status", STATUSES),
            in_set("failure_type", FAILURE_TYPES),
            in_set("failure_reason", reasons),
            not_null("failure_type", row_condition=where("status", "==", "failed")),
            is_null("failure_type", row_condition=where("status", "!=", "failed")),
            ts_range("valid_from"),
            ts_range("valid_to"),
            ge("valid_to", "valid_from", notes="an interval never ends before it starts"),
        ],
    ))

    counts = ["to_deliver", "sent", "delivered", "bounces_errors"]
    rates = ["delivered_rate", "bounces_errors_rate", "open_rate", "click_through_rate"]
    suites.append(_mart(
        "dash_delivery_kpis",
        "Deployment dashboard: one row per delivery in its own mode, at stats_computed_at.",
        ["delivery_id", "reporting_mode", "stats_computed_at", *counts, *rates],
        {**_types("timestamp", "stats_computed_at"), **_types("integer", *counts),
         **_types("numeric", *rates)},
        [
            *[not_null(c) for c in ("delivery_id", "reporting_mode", "stats_computed_at",
                                     *counts)],
            in_set("reporting_mode", REPORTING_MODES),
            ts_range("stats_computed_at"),
            *[count(c) for c in counts],
            *[rate(c) for c in rates],
            ge("to_deliver", "sent", notes="only send-log rows can be relayed"),
            ge("sent", "delivered", notes="delivered messages were relayed"),
            ge("sent", "bounces_errors", notes="failed messages were relayed"),
        ],
    ))

    counts = ["to_deliver", "processed", "delivered", "bounces_errors", "hard_bounces",
              "soft_bounces", "opens", "unique_opens", "clicks", "unique_clicks", "opt_outs",
              "mirror_pages", "complaints", "machine_opens"]
    rates = ["delivered_rate", "bounce_rate", "open_rate", "click_through_rate",
             "click_to_open_rate"]
    suites.append(_mart(
        "rpt_delivery_kpis",
        "Dynamic report (source of truth): one row per delivery and reporting mode.",
        ["delivery_id", "reporting_mode", "as_of", "to_deliver", "processed", "delivered",
         "bounces_errors", "hard_bounces", "soft_bounces", "delivered_rate", "bounce_rate",
         "opens", "unique_opens", "clicks", "unique_clicks", "open_rate", "click_through_rate",
         "click_to_open_rate", "opt_outs", "mirror_pages", "complaints", "machine_opens",
         "is_final"],
        {**_types("timestamp", "as_of"), **_types("integer", *counts),
         **_types("numeric", *rates), **_types("boolean", "is_final")},
        [
            *[not_null(c) for c in ("delivery_id", "reporting_mode", "as_of", "is_final",
                                     *counts)],
            in_set("reporting_mode", REPORTING_MODES),
            ts_range("as_of"),
            *[count(c) for c in counts],
            *[rate(c) for c in rates],
            ge("processed", "delivered", notes="processed = delivered + bounces_errors"),
            ge("processed", "bounces_errors", notes="processed = delivered + bounces_errors"),
            ge("bounces_errors", "hard_bounces"),
            ge("bounces_errors", "soft_bounces"),
            ge("opens", "unique_opens", notes="every uniquely opened message has an open"),
        ],
    ))

    suites.append(_mart(
        "rpt_kpi_reconciliation",
        "Dashboard versus report per delivery and KPI, with the reasons for differences.",
        ["delivery_id", "kpi", "dashboard_value", "report_value", "difference", "reasons"],
        _types("numeric", "dashboard_value", "report_value", "difference"),
        [
            not_null("delivery_id"),
            not_null("kpi"),
        ],
    ))

    counts = ["delivered", "bounces_errors"]
    rates = ["delivered_rate", "bounces_errors_rate"]
    suites.append(_mart(
        "rpt_delivery_kpis_hourly",
        "Per delivery, mode and hour: delivered % and bounces+errors % at the end of the hour.",
        ["delivery_id", "reporting_mode", "hour_start", *counts, *rates],
        {**_types("timestamp", "hour_start"), **_types("integer", *counts),
         **_types("numeric", *rates)},
        [
            *[not_null(c) for c in ("delivery_id", "reporting_mode", "hour_start", *counts)],
            in_set("reporting_mode", REPORTING_MODES),
            ts_range("hour_start"),
            *[count(c) for c in counts],
            *[rate(c) for c in rates],
        ],
    ))

    suites.append(_mart(
        "dim_address_quarantine",
        "Quarantine status per address (SPEC section 4).",
        ["address", "channel", "status", "error_count", "last_reason", "status_since"],
        {**_types("integer", "error_count"), **_types("timestamp", "status_since")},
        [
            not_null("address"),
            not_null("channel"),
            not_null("status"),
            not_null("error_count"),
            in_set("channel", CHANNELS),
            in_set("status", QUARANTINE_STATUSES),
            count("error_count"),
            ts_range("status_since"),
        ],
    ))

    flags = ["has_opened", "has_clicked", "has_opted_out"]
    suites.append(_mart(
        "fct_profile_history",
        "Every message a profile was targeted with, its final status and engagement.",
        ["profile_id", "message_id", "delivery_id", "label", "channel", "relayed_at",
         "final_status", *flags],
        {**_types("timestamp", "relayed_at"), **_types("boolean", *flags)},
        [
            *[not_null(c) for c in ("profile_id", "message_id", "delivery_id", *flags)],
            in_set("channel", CHANNELS),
            in_set("final_status", STATUSES),
            ts_range("relayed_at"),
        ],
    ))

    suites.append(_mart(
        "rpt_confirmation_audit",
        "Send confirmations: who confirmed, whether they may start deliveries, start times.",
        ["delivery_id", "requires_confirmation", "confirmed_by", "confirmer_may_start",
         "scheduled_at", "first_relayed_at", "finding"],
        {**_types("boolean", "requires_confirmation", "confirmer_may_start"),
         **_types("timestamp", "scheduled_at", "first_relayed_at")},
        [
            not_null("delivery_id"),
            not_null("requires_confirmation"),
            in_set("requires_confirmation", [True, False]),
            in_set("confirmer_may_start", [True, False]),
            ts_range("scheduled_at"),
            ts_range("first_relayed_at"),
        ],
    ))
    return suites


def build_suites() -> dict[str, dict]:
    suites = [landing_suite(k) for k in CONTRACTS] + mart_suites()
    return {s["name"]: s for s in suites}


def render(suite: dict) -> str:
    return json.dumps(suite, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only report out-of-date files")
    args = ap.parse_args(argv)
    suites = build_suites()
    stale = []
    for name, suite in suites.items():
        path = SUITES_DIR / f"{name}.json"
        text = render(suite)
        if not path.exists() or path.read_text() != text:
            stale.append(path.name)
            if not args.check:
                SUITES_DIR.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    extra = sorted(p.name for p in SUITES_DIR.glob("*.json") if p.stem not in suites)
    if args.check:
        for n in stale:
            print(f"out of date: {n}", file=sys.stderr)
        for n in extra:
            print(f"not generated here: {n}", file=sys.stderr)
        return 1 if stale or extra else 0
    for n in stale:
        print(f"wrote {SUITES_DIR / n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
