"""The landing contract (SPEC section 1): one ``Contract`` per input kind.

This module is the single source of truth for kinds, columns, types, enums and defaults.
Validation (``ingest.validate``), the sample generator and the dbt staging models follow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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


@dataclass(frozen=True)
class Column:
    name: str
    dtype: DType
    required: bool = True
    default: object = None
    enum: tuple[str, ...] | None = None


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
       enum: tuple[str, ...] | None = None) -> Column:
    return Column(name, dtype, required, default, enum)


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
                _c("validity_hours", "double", False, 84.0),
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
                _c("attempt", "int", False),
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


def contract(kind: str) -> Contract:
    try:
        return CONTRACTS[kind]
    except KeyError:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}") from None
