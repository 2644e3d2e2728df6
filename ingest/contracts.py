"""The landing contract (SPEC section 1): one ``Contract`` per input kind.

This module is the single source of truth for kinds, columns, types, enums and defaults.
Validation (``ingest.validate``), the sample generator and the dbt staging models follow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

import pyarrow as pa

DType = Literal["string", "bool", "timestamp", "double", "int", "list"]

CHANNELS = ("email", "sms", "push")
OUTCOMES = ("delivered", "soft_bounce", "hard_bounce", "expired", "ignored")
TRACKING_TYPES = ("open", "click", "opt_out", "mirror_page", "complaint")
EXCLUSION_REASONS = ("quarantined", "denylisted", "duplicate", "address_empty", "other")

# Failure reasons of SPEC section 4 with their usual type. Unknown labels become "other".
FAILURE_REASONS: dict[str, str] = {
    "user unknown": "hard",
    "invalid domain": "soft",
    "unreachable": "soft",
    "account disabled": "soft",
    "mailbox full": "soft",
    "not connected": "ignored",
    "address empty": "hard",
    "denylisted": "hard",
    "quarantined address": "hard",
    "duplicate": "ignored",
    "refused": "soft",
    "error ignored": "ignored",
    "not defined": "soft",
    "other": "soft",
}


# Offsets of real time zones lie within -12:00..+14:00; ISO 8601 / RFC 3339 parsers accept up to
# +-18:00 (java.time, PostgreSQL). A larger one is a typo that would shift the instant by days.
MAX_OFFSET_MINUTES = 18 * 60


@dataclass(frozen=True)
class Bounds:
    """Range rules applied at ingest: a value outside them is a typo or a poison value that
    would fail every later build's checks, so its row is rejected with the rule in its reason.

    - every timestamp column of every kind (and every ESP-mapped timestamp) lies in
      ``[earliest_at, ingest time + latest_ahead_days]`` (naive UTC);
    - ``validity_hours`` lies in ``(0, max_validity_hours]`` (default a year: a validity period
      longer than that is not a delivery's);
    - ``attempt`` lies in ``[0, max_attempt]`` (an attempt counter is never negative; providers
      retry for days, not thousands of times).
    """

    earliest_at: datetime = datetime(2000, 1, 1)
    latest_ahead_days: float = 366.0
    max_validity_hours: float = 8760.0
    max_attempt: int = 1000

    @property
    def earliest(self) -> datetime:
        """``earliest_at`` as naive UTC (an aware value is converted)."""
        e = self.earliest_at
        return e.astimezone(timezone.utc).replace(tzinfo=None) if e.tzinfo is not None else e

    def latest(self, now: datetime | None = None) -> datetime:
        """The latest timestamp accepted: ``now`` (default: the current UTC time) + the margin."""
        return (now or self.now()) + timedelta(days=float(self.latest_ahead_days))

    @staticmethod
    def now() -> datetime:
        """The current time, naive UTC (the ingest time the latest bound counts from)."""
        return datetime.now(timezone.utc).replace(tzinfo=None)

    def check(self, ts: datetime, now: datetime | None = None) -> str | None:
        """Why a (naive UTC) timestamp breaks the window, else None (for rows mapped in Python)."""
        now = now or self.now()
        return None if self.earliest <= ts <= self.latest(now) else self.window_reason(now)

    def window_reason(self, now: datetime) -> str:
        """The reason of a timestamp outside the window: names the allowed range."""
        return (f"out of range: must lie within [{self.earliest:%Y-%m-%dT%H:%M:%SZ}, "
                f"{self.latest(now):%Y-%m-%dT%H:%M:%SZ}] (UTC; latest = ingest time + "
                f"{self.latest_ahead_days:g} days)")


RangeRule = Literal["hours", "attempt"]


@dataclass(frozen=True)
class Column:
    name: str
    dtype: DType
    required: bool = True
    default: object = None
    enum: tuple[str, ...] | None = None
    # a range rule of ``Bounds`` beyond the type: "hours" = (0, max_validity_hours],
    # "attempt" = [0, max_attempt]; timestamps always get the timestamp window
    range_rule: RangeRule | None = None


@dataclass(frozen=True)
class Contract:
    kind: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    # How later batches relate to earlier ones for the same key: "latest" (dimension-like,
    # the newest batch wins) or "first" (events: the first landed copy wins, repeats are
    # duplicates).
    key_policy: Literal["latest", "first"] = "first"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _c(name: str, dtype: DType, required: bool = True, default: object = None,
       enum: tuple[str, ...] | None = None, range_rule: RangeRule | None = None) -> Column:
    return Column(name, dtype, required, default, enum, range_rule)


CONTRACTS: dict[str, Contract] = {
    c.kind: c
    for c in (
        Contract(
            "deliveries",
            ("delivery_id",),
            (
                _c("delivery_id", "string"),
                _c("label", "string"),
                _c("channel", "string", enum=CHANNELS),
                _c("efs_enabled", "bool", False, False),
                _c("contact_date", "timestamp"),
                _c("validity_hours", "double", False, 84.0, range_rule="hours"),
                _c("is_proof", "bool", False, False),
                _c("parent_delivery_id", "string", False),
                _c("requires_confirmation", "bool", False, True),
                _c("scheduled_at", "timestamp", False),
                _c("confirmed_at", "timestamp", False),
                _c("confirmed_by", "string", False),
            ),
            key_policy="latest",
        ),
        Contract(
            "send_log",
            ("message_id",),
            (
                _c("message_id", "string"),
                _c("delivery_id", "string"),
                _c("profile_id", "string"),
                _c("address", "string"),
                _c("is_test_profile", "bool", False, False),
                _c("relayed_at", "timestamp", False),
                # when the MTA / provider stops retrying this message, if it says (SES
                # expirationTime): the message's validity ends then instead of at its delivery's
                _c("expires_at", "timestamp", False),
            ),
            key_policy="latest",
        ),
        Contract(
            "exclusions",
            ("delivery_id", "address"),
            (
                _c("delivery_id", "string"),
                _c("address", "string"),
                _c("profile_id", "string", False),
                _c("reason", "string", enum=EXCLUSION_REASONS),
                _c("excluded_at", "timestamp"),
            ),
            key_policy="latest",
        ),
        Contract(
            "feedback",
            ("event_id",),
            (
                _c("event_id", "string"),
                _c("message_id", "string"),
                _c("event_at", "timestamp"),
                _c("received_at", "timestamp", False),  # default: event_at
                _c("outcome", "string", enum=OUTCOMES),
                _c("failure_reason", "string", False),
                _c("smtp_code", "string", False),
                _c("diagnostic", "string", False),
                _c("attempt", "int", False, range_rule="attempt"),
            ),
        ),
        Contract(
            "tracking",
            ("event_id",),
            (
                _c("event_id", "string"),
                _c("message_id", "string"),
                _c("event_at", "timestamp"),
                _c("received_at", "timestamp", False),  # default: event_at
                _c("type", "string", enum=TRACKING_TYPES),
                _c("url", "string", False),
                _c("user_agent", "string", False),
            ),
        ),
        Contract(
            "operators",
            ("operator",),
            (
                _c("operator", "string"),
                _c("roles", "list"),
            ),
            key_policy="latest",
        ),
    )
}

KINDS: tuple[str, ...] = tuple(CONTRACTS)
# The `--source` formats: email-service-provider exports, then MTA logs (ingest.esp maps them)
ESP_SOURCES: tuple[str, ...] = ("ses", "sendgrid", "mailgun", "postmark", "sparkpost")
MTA_SOURCES: tuple[str, ...] = ("kumomta", "postfix", "powermta")
SOURCES: tuple[str, ...] = ESP_SOURCES + MTA_SOURCES

# A contract column's type as Arrow writes it (the ESP writer, the sample generator)
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us"),
    "double": pa.float64(),
    "int": pa.int64(),
    "list": pa.list_(pa.string()),
}


def contract(kind: str) -> Contract:
    try:
        return CONTRACTS[kind]
    except KeyError:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}") from None
