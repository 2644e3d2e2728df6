"""The per-event output of a provider mapping (``EventRows``, ``Touch``) and the driver that
maps a whole export (``map_all``): events that fail or break the range rules become
``Reject``s, the others land; then one ``send_log`` row per message and the ``deliveries``
rows (a recurring parent per delivery key, an execution per UTC day) are derived. The result (``Mapped``) is written by ``ingest.esp.writer``.
See docs/esp-mapping.md for the mapping decisions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from sendlens.ingest.contracts import Bounds
from sendlens.ingest.esp.errors import DEFAULT_VALIDITY_HOURS, MACHINE_OPEN_SUFFIX, WHOLE_EVENT, EventRejected
from sendlens.ingest.esp.events import RawEvent, _too_deep
from sendlens.ingest.esp.fields import lookup, text


# ---- per-event output ---------------------------------------------------------------------
@dataclass
class Touch:
    message_id: str
    address: str
    delivery_key: str | None
    at: datetime
    is_relay: bool
    row: int = 0
    expires_at: datetime | None = None  # when the provider stops retrying this message, if it says


@dataclass
class EventRows:
    touches: list[Touch] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    tracking: list[dict[str, Any]] = field(default_factory=list)

    def touch(self, message_id: str, address: str, key: str | None, at: datetime, relay: bool = False,
              expires_at: datetime | None = None) -> None:
        self.touches.append(Touch(message_id, address, key, at, relay, expires_at=expires_at))

    def add_feedback(self, event_id: str, message_id: str, event_at: datetime, outcome: str,
                     failure_reason: str | None = None, smtp: str | None = None,
                     diagnostic: str | None = None, attempt: int | None = None) -> None:
        self.feedback.append({
            "event_id": event_id, "message_id": message_id, "event_at": event_at, "received_at": None,
            "outcome": outcome, "failure_reason": failure_reason, "smtp_code": smtp,
            "diagnostic": (diagnostic[:2000] if diagnostic else None), "attempt": attempt,
        })

    def add_tracking(self, event_id: str, message_id: str, event_at: datetime, type_: str,
                     url: str | None = None, user_agent: str | None = None) -> None:
        self.tracking.append({
            "event_id": event_id, "message_id": message_id, "event_at": event_at, "received_at": None,
            "type": type_, "url": url, "user_agent": user_agent,
        })


def machine_user_agent(user_agent: str | None) -> str:
    """The provider flagged the open as machine-generated: make the user agent say so (the
    machine-open heuristics match 'bot' in a user agent)."""
    return (user_agent or "unknown user agent") + MACHINE_OPEN_SUFFIX


@dataclass
class Reject:
    number: int
    field: str | None
    reason: str
    raw: str


@dataclass
class Mapped:
    """Everything one export maps to, before writing."""

    source: str
    events_read: int
    events_landed: int
    send_log: list[dict[str, Any]]
    feedback: list[dict[str, Any]]
    tracking: list[dict[str, Any]]
    deliveries: list[dict[str, Any]]
    rejects: list[Reject]
    notes: list[str] = field(default_factory=list)  # the reader's notes on what it skipped


MapOne = Callable[[Any, "Context"], EventRows]


@dataclass
class Context:
    source: str
    delivery_paths: tuple[str, ...]  # tried in order on each event
    custom_prefixes: tuple[str, ...] = ()  # where a bare custom field name is also looked up

    def delivery_key(self, event: Any) -> str | None:
        for p in self.delivery_paths:
            for candidate in (p, *(f"{prefix}.{p}" for prefix in self.custom_prefixes)):
                v = text(lookup(event, candidate))
                if v:
                    return v
        return None


def delivery_paths(source: str, delivery_field: str | None, defaults: tuple[str, ...]) -> tuple[str, ...]:
    """The configured delivery field: the argument, else $SENDLENS_<SOURCE>_DELIVERY_FIELD, else
    $SENDLENS_ESP_DELIVERY_FIELD, else the provider's default chain."""
    chosen = (delivery_field or os.environ.get(f"SENDLENS_{source.upper()}_DELIVERY_FIELD")
              or os.environ.get("SENDLENS_ESP_DELIVERY_FIELD"))
    if chosen and chosen.strip():
        return tuple(p.strip() for p in chosen.split(",") if p.strip())
    return defaults


def check_bounds(rows: EventRows, bounds: Bounds, now: datetime) -> None:
    """The range rules of canonical ingest, on one event's mapped rows: a timestamp outside the
    window or an attempt out of range rejects the event (field = the canonical column)."""
    for t in rows.touches:
        why = bounds.check(t.at, now)
        if why:
            raise EventRejected("relayed_at" if t.is_relay else "event_at", why)
        if t.expires_at is not None and (why := bounds.check(t.expires_at, now)):
            raise EventRejected("expires_at", why)
    for r in (*rows.feedback, *rows.tracking):
        for name in ("event_at", "received_at"):
            at = r.get(name)
            if at is not None:
                why = bounds.check(at, now)
                if why:
                    raise EventRejected(name, why)
    for r in rows.feedback:
        a = r.get("attempt")
        if a is not None and not 0 <= a <= bounds.max_attempt:
            raise EventRejected("attempt", f"out of range: must be in [0, {bounds.max_attempt}] "
                                           "(an attempt counter is never negative)")


def map_all(source: str, events: Iterable[RawEvent], map_one: MapOne, ctx: Context,
            bounds: Bounds | None = None) -> Mapped:
    """Map every event; an event that fails (or breaks the range rules of ``bounds``, None:
    defaults) becomes a reject, the others land. Then derive one send_log row per message and
    the deliveries: a recurring parent per delivery key, an execution per UTC day under it."""
    bounds = bounds or Bounds()
    now = Bounds.now()
    touches: list[Touch] = []
    feedback: list[dict[str, Any]] = []
    tracking: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    read = landed = 0
    for ev in events:
        read += 1
        if ev.error is not None:
            rejects.append(Reject(ev.number, WHOLE_EVENT, ev.error, ev.raw))
            continue
        try:
            if not isinstance(ev.value, dict):
                raise EventRejected(None, f"an event must be a JSON object, got {type(ev.value).__name__}")
            rows = map_one(ev.value, ctx)
            if not rows.touches:
                raise EventRejected(None, "no recipient in the event")
            check_bounds(rows, bounds, now)
        except EventRejected as exc:
            rejects.append(Reject(ev.number, exc.field or WHOLE_EVENT, exc.reason, ev.raw))
            continue
        except RecursionError:  # a safety net: read_events refuses deep nesting already
            rejects.append(Reject(ev.number, WHOLE_EVENT, _too_deep(""), ev.raw))
            continue
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:  # malformed shape
            rejects.append(Reject(ev.number, WHOLE_EVENT, f"malformed event: {type(exc).__name__}: {exc}"[:500], ev.raw))
            continue
        landed += 1
        for t in rows.touches:
            t.row = ev.number
            touches.append(t)
        for r in rows.feedback:
            feedback.append({**r, "_row": ev.number})
        for r in rows.tracking:
            tracking.append({**r, "_row": ev.number})
    send_log, deliveries = derive_messages(source, touches)
    return Mapped(source, read, landed, send_log, feedback, tracking, deliveries, rejects)


def derive_messages(source: str, touches: list[Touch]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One send_log row per message and the deliveries they belong to.

    A message: the delivery key of its first event that has one (else '<source>:unknown');
    relayed_at = its earliest relay event (send / processed / accepted / injection / reception),
    else its earliest event; expires_at = the latest end of retries the provider stated for it
    (SES ``expirationTime``), else none.

    Deliveries: a provider's key (configuration set, category, tag, campaign, job) is long-lived,
    so it becomes a recurring parent (delivery_id = the key, contact date = its first relay) and
    each UTC day of relays under it a recurring execution (delivery_id ``<key>:<YYYY-MM-DD>``,
    parent_delivery_id = the key, contact date = that day's first relay), which the message
    belongs to. So a message's validity starts from its own day's first send, never from the
    key's first send weeks before, and never after its own relay (docs/esp-mapping.md)."""
    by_message: dict[str, list[Touch]] = {}
    for t in touches:
        by_message.setdefault(t.message_id, []).append(t)
    send_log: list[dict[str, Any]] = []
    first_relay: dict[tuple[str, str | None], tuple[datetime, int]] = {}  # (key, day or None) -> first
    for message_id, ts in by_message.items():
        ts_sorted = sorted(ts, key=lambda t: t.row)
        key = next((t.delivery_key for t in ts_sorted if t.delivery_key), None) or f"{source}:unknown"
        relays = [t for t in ts if t.is_relay] or ts
        first = min(relays, key=lambda t: (t.at, t.row))
        day = first.at.date().isoformat()
        expiries = [t.expires_at for t in ts if t.expires_at is not None]
        send_log.append({
            "message_id": message_id, "delivery_id": execution_id(key, day), "profile_id": ts_sorted[0].address,
            "address": ts_sorted[0].address, "is_test_profile": False, "relayed_at": first.at,
            "expires_at": max(expiries) if expiries else None, "_row": first.row,
        })
        for slot in ((key, None), (key, day)):
            prev = first_relay.get(slot)
            if prev is None or (first.at, first.row) < prev:
                first_relay[slot] = (first.at, first.row)
    deliveries = [
        {
            "delivery_id": key if day is None else execution_id(key, day),
            "label": key if day is None else f"{key} {day}", "channel": "email", "efs_enabled": True,
            "contact_date": at, "validity_hours": DEFAULT_VALIDITY_HOURS, "is_proof": False,
            "parent_delivery_id": None if day is None else key, "requires_confirmation": False,
            "scheduled_at": None, "confirmed_at": None, "confirmed_by": None, "_row": row,
        }
        for (key, day), (at, row) in first_relay.items()
    ]
    send_log.sort(key=lambda r: (r["_row"], r["message_id"]))
    deliveries.sort(key=lambda r: (r["_row"], r["parent_delivery_id"] is not None, r["delivery_id"]))
    return send_log, deliveries


def execution_id(key: str, day: str) -> str:
    """The recurring execution of delivery key ``key`` for the UTC day ``day`` (YYYY-MM-DD)."""
    return f"{key}:{day}"


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
