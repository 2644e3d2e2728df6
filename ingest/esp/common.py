"""Shared pieces of the email-service-provider mappings: reading an export into events,
timestamps, failure-reason classification, ids, and turning per-event results into the
canonical ``send_log``, ``feedback``, ``tracking`` and ``deliveries`` rows.

Everything here is pure (no I/O besides reading the export file in ``read_events``); the batch
is written by ``ingest.esp.writer``. See docs/esp-mapping.md for the mapping decisions.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from ingest.contracts import MAX_OFFSET_MINUTES, Bounds

UNSUPPORTED = "unsupported event type"
WHOLE_EVENT = "(event)"  # the rejected field when the problem is the event as a whole
MACHINE_OPEN_SUFFIX = " (machine open; bot)"
DEFAULT_VALIDITY_HOURS = 84.0
# JSON nested deeper than this is refused per event (Python's parser and every recursive walk
# of an event would otherwise hit the interpreter's recursion limit: an "internal error")
MAX_JSON_DEPTH = 64


class EventRejected(Exception):
    """One event cannot be mapped: it becomes a rejected row (field, reason)."""

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


class NotJson(Exception):
    """The export is neither a JSON document nor JSON Lines."""


def unsupported(field: str | None) -> EventRejected:
    """An event the mapping does not cover; `field` names the field that says its type."""
    return EventRejected(field, UNSUPPORTED)


# ---- reading ------------------------------------------------------------------------------
@dataclass
class RawEvent:
    number: int  # 1-based position of the event in the export
    value: Any  # the parsed JSON value (None when it did not parse)
    raw: str  # the event as JSON text (an unparsable line as a JSON string)
    error: str | None = None  # why the line did not parse


def _flatten(value: Any) -> list[Any]:
    """One posted payload -> its events: a JSON array is a batch of events (arrays inside it
    are flattened too); a provider API page ({"items": [...]} from Mailgun, {"results": [...]}
    from SparkPost) holds its events. Iterative: a deep array nesting is no recursion."""
    if isinstance(value, list):
        out: list[Any] = []
        stack: list[Any] = [iter(value)]
        while stack:
            for v in stack[-1]:
                if isinstance(v, list):
                    if len(stack) > MAX_JSON_DEPTH:
                        out.append(v)  # rejected by depth when mapped
                        continue
                    stack.append(iter(v))
                    break
                out.append(v)
            else:
                stack.pop()
        return out
    if isinstance(value, dict):
        for key in ("items", "results"):
            if isinstance(value.get(key), list) and not ({"event", "event-data", "msys", "type", "eventType",
                                                           "notificationType", "RecordType"} & value.keys()):
                return list(value[key])
    return [value]


def json_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """How deeply ``value`` nests (a scalar is 0); counting stops past ``limit``. Iterative."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            d += 1
            if d > deepest:
                deepest = d
                if deepest > limit:
                    return deepest
            stack.extend((c, d) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


def _too_deep(where: str) -> str:
    return f"JSON nested deeper than {MAX_JSON_DEPTH} levels{where}"


def read_events(path: Path) -> list[RawEvent]:
    """A JSON document (array of events, one event, an API page) or JSON Lines (one payload a
    line; a line may itself be an array). A JSON Lines line that does not parse (or nests
    deeper than MAX_JSON_DEPTH) is one rejected event; a file where nothing parses, or that is
    not UTF-8, raises NotJson naming the line."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise NotJson(f"line {line}: not valid UTF-8 ({exc.reason} at byte {exc.start}); "
                      "accepted encoding: UTF-8 (with or without a byte-order mark)") from None
    if not text.strip():
        return []
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        doc, whole_ok, whole_too_deep = None, False, False
    except RecursionError:
        doc, whole_ok, whole_too_deep = None, False, True
    else:
        whole_ok, whole_too_deep = True, False
    events: list[RawEvent] = []
    if whole_ok:
        for v in _flatten(doc):
            if json_depth(v) > MAX_JSON_DEPTH:
                events.append(RawEvent(len(events) + 1, None, json.dumps(_shallow(v)), _too_deep(" (the event)")))
                continue
            events.append(RawEvent(len(events) + 1, v, _dump(v)))
        return events
    parsed_any = False
    first_error = None
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            v = json.loads(line)
            too_deep = json_depth(v) > MAX_JSON_DEPTH
        except json.JSONDecodeError as exc:
            first_error = first_error or f"line {lineno}: {exc.msg} (column {exc.colno})"
            # kept as a JSON string: raw_record must be valid JSON (canonical batches write the
            # column with the JSON logical type, and the audit reads all batches together)
            events.append(RawEvent(len(events) + 1, None, json.dumps(line[:10000], ensure_ascii=False),
                                   f"invalid JSON on line {lineno}: {exc.msg} (column {exc.colno})"))
            continue
        except RecursionError:
            v, too_deep = None, True
        if too_deep:
            first_error = first_error or f"line {lineno}: {_too_deep('')}"
            events.append(RawEvent(len(events) + 1, None, json.dumps(line[:10000], ensure_ascii=False),
                                   _too_deep(f" on line {lineno}")))
            continue
        parsed_any = True
        for item in _flatten(v):
            if json_depth(item) > MAX_JSON_DEPTH:
                events.append(RawEvent(len(events) + 1, None, json.dumps(line[:10000], ensure_ascii=False),
                                       _too_deep(f" on line {lineno}")))
                continue
            events.append(RawEvent(len(events) + 1, item, _dump(item)))
    if not parsed_any and whole_too_deep:
        deep_line = next((int(m.group(1)) for e in events if e.error
                          for m in [re.search(r"nested deeper .* on line (\d+)", e.error)] if m), 1)
        raise NotJson(f"line {deep_line}: the JSON document nests deeper than Python can parse "
                      f"(at most {MAX_JSON_DEPTH} levels are accepted)")
    if not parsed_any:
        raise NotJson(f"{first_error}: not JSON or JSON Lines" if first_error else "not JSON or JSON Lines")
    return events


def _shallow(value: Any) -> str:
    """A too-deep value as text for its rejected row (its first 10,000 characters)."""
    try:
        return _dump(value)[:10000]
    except (RecursionError, ValueError):
        return f"<{type(value).__name__} nested deeper than {MAX_JSON_DEPTH} levels>"


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


# ---- field access -------------------------------------------------------------------------
def lookup(obj: Any, path: str) -> Any:
    """A value by dotted path; a key that itself contains dots ("ses:configuration-set",
    user variables) is matched whole first. None when absent."""
    if obj is None or path == "":
        return obj
    if isinstance(obj, dict):
        if path in obj:
            return obj[path]
        parts = path.split(".")
        for i in range(len(parts) - 1, 0, -1):
            head = ".".join(parts[:i])
            if head in obj:
                found = lookup(obj[head], ".".join(parts[i:]))
                if found is not None:
                    return found
        return None
    if isinstance(obj, list):
        head, _, rest = path.partition(".")
        if head.isdigit() and int(head) < len(obj):
            return lookup(obj[int(head)], rest)
    return None


def req(obj: Any, path: str, label: str | None = None) -> Any:
    value = lookup(obj, path)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise EventRejected(label or path, "missing required field")
    return value


def text(value: Any) -> str | None:
    """A scalar as text; the first non-empty element of a list (tags, categories)."""
    if value is None or isinstance(value, dict):
        return None
    if isinstance(value, list):
        for v in value:
            t = text(v)
            if t:
                return t
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    s = str(value).strip()
    return s or None


def address_of(value: Any, label: str) -> str:
    """A recipient address, lower-cased; "Name <a@b>" is reduced to a@b."""
    s = text(value)
    if not s:
        raise EventRejected(label, "missing required field")
    m = re.search(r"<([^<>@\s]+@[^<>\s]+)>", s)
    if m:
        s = m.group(1)
    return s.strip().lower()


def strip_brackets(value: str) -> str:
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    return value


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "y", "t")
    return False


def as_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


# ---- timestamps ---------------------------------------------------------------------------
_EPOCH = datetime(1970, 1, 1)
_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$"
)


def parse_ts(value: Any, label: str) -> datetime:
    """Naive UTC from epoch seconds (int/float or numeric text; values too large for seconds
    are taken as epoch milliseconds, then microseconds) or ISO 8601 with or without an offset
    (no offset = UTC; any number of fractional digits)."""
    if value is None or isinstance(value, bool) or (isinstance(value, str) and not value.strip()):
        raise EventRejected(label, "missing required field")
    number: float | None = None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", value):
        number = float(value)
    if number is not None:
        if abs(number) >= 1e14:
            number /= 1e6
        elif abs(number) >= 1e11:
            number /= 1e3
        try:
            return _EPOCH + timedelta(microseconds=round(number * 1e6))
        except OverflowError:
            raise EventRejected(label, f"invalid timestamp {value!r}") from None
    if not isinstance(value, str):
        raise EventRejected(label, f"invalid timestamp {value!r}")
    m = _ISO.match(value.strip())
    if not m:
        raise EventRejected(label, f"invalid timestamp {value!r}: expected ISO 8601 or epoch seconds")
    y, mo, d, h, mi, s, frac, tz = m.groups()
    try:
        ts = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0),
                      int((frac or "0")[:6].ljust(6, "0")))
    except ValueError:
        raise EventRejected(label, f"invalid timestamp {value!r}") from None
    if tz and tz not in ("Z", "z", "UTC", "GMT"):
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
        if minutes >= 60 or hours * 60 + minutes > MAX_OFFSET_MINUTES:
            raise EventRejected(label, f"UTC offset {tz} is outside -18:00..+18:00")
        ts = ts - sign * timedelta(hours=hours, minutes=minutes)
    return ts


# ---- failure reasons ----------------------------------------------------------------------
_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_BASIC = re.compile(r"(?<![\d.])([245]\d\d)(?![\d.])")

_TEXT_RULES: tuple[tuple[str, str], ...] = (
    (r"user unknown|unknown user|no such user|does not exist|doesn't exist|not exist|unknown recipient|"
     r"invalid recipient|recipient (address )?rejected|mailbox not found|mailbox unavailable|no mailbox|"
     r"address rejected|bad destination mailbox|unrouteable address|no such (account|recipient)", "user unknown"),
    (r"mailbox (is )?full|over quota|quota exceeded|exceeded (the )?(storage|quota)|insufficient storage|"
     r"out of (disk )?space|mailbox size limit", "mailbox full"),
    (r"disabled|deactivated|inactive (account|mailbox|user)|account (has been )?(suspended|closed|locked)",
     "account disabled"),
    (r"host (or domain name )?not found|domain (name )?not found|no mx|mx (record|info)|dns|nxdomain|"
     r"name service error|unrouteable domain|no such domain|domain does not exist|bad destination system",
     "invalid domain"),
    (r"timed? ?out|connection (refused|reset|failed|lost)|could not connect|unable to connect|"
     r"network (is )?unreachable|host unreachable|no route|delivery time expired", "unreachable"),
    (r"spam|blocked|block list|blocklist|blacklist|denied|policy|reputation|rejected|refused|"
     r"rate limit|too many|unsolicited|greylist|virus|dmarc|spf|dkim", "refused"),
)


def classify(*texts: Any) -> str | None:
    """A canonical failure reason from SMTP enhanced status codes first (x.1.1 user unknown,
    x.1.2 / x.1.10 invalid domain, x.2.2 mailbox full, x.2.1 account disabled, x.4.x unreachable,
    x.7.x refused, ...), then from words of the diagnostic. None when nothing is recognised."""
    for t in texts:
        s = text(t)
        if not s:
            continue
        for m in _ENHANCED.finditer(s):
            reason = _from_enhanced(int(m.group(2)), int(m.group(3)))
            if reason:
                return reason
    for t in texts:
        s = text(t)
        if not s:
            continue
        low = s.lower()
        for pattern, reason in _TEXT_RULES:
            if re.search(pattern, low):
                return reason
    return None


def _from_enhanced(subject: int, detail: int) -> str | None:
    if subject == 1:
        if detail in (2, 10):
            return "invalid domain"
        if detail in (0, 1, 3, 6):
            return "user unknown"
        return None
    if subject == 2:
        if detail == 2:
            return "mailbox full"
        if detail == 1:
            return "account disabled"
        if detail == 3:
            return "refused"  # message too large for the mailbox
        return None
    if subject == 3:
        return "refused" if detail == 4 else None
    if subject == 4:
        return "unreachable"
    if subject in (6, 7):
        return "refused"
    return None


def smtp_code(*texts: Any) -> str | None:
    """The SMTP reply code of a response ("550 5.1.1 ..." -> "550"), else its enhanced status
    code, else a bare numeric code the provider gave."""
    values = [s for s in (text(t) for t in texts) if s]
    for pattern, group in ((_BASIC, 1), (_ENHANCED, 0)):
        for s in values:
            m = pattern.search(s)
            if m:
                return m.group(group)
    return next((s for s in values if re.fullmatch(r"\d{3}", s)), None)


# ---- ids ----------------------------------------------------------------------------------
def hashed_id(source: str, *parts: Any) -> str:
    """A stable event id for providers that give none: a hash of the event's own JSON (the
    inner event, so the same event wrapped or not gets the same id) and the recipient."""
    digest = hashlib.sha256("\x1f".join(_dump(p) if not isinstance(p, str) else p for p in parts).encode())
    return f"{source}:h{digest.hexdigest()[:24]}"


# ---- per-event output ---------------------------------------------------------------------
@dataclass
class Touch:
    message_id: str
    address: str
    delivery_key: str | None
    at: datetime
    is_relay: bool
    row: int = 0


@dataclass
class EventRows:
    touches: list[Touch] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    tracking: list[dict[str, Any]] = field(default_factory=list)

    def touch(self, message_id: str, address: str, key: str | None, at: datetime, relay: bool = False) -> None:
        self.touches.append(Touch(message_id, address, key, at, relay))

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
    one deliveries row per delivery key."""
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
    """One send_log row per message: the delivery key of its first event that has one (else
    '<source>:unknown'); relayed_at = its earliest relay event (send / processed / accepted /
    injection), else its earliest event. One deliveries row per delivery key: contact date at its
    first relay in the file."""
    by_message: dict[str, list[Touch]] = {}
    for t in touches:
        by_message.setdefault(t.message_id, []).append(t)
    send_log: list[dict[str, Any]] = []
    first_relay: dict[str, tuple[datetime, int]] = {}
    for message_id, ts in by_message.items():
        ts_sorted = sorted(ts, key=lambda t: t.row)
        key = next((t.delivery_key for t in ts_sorted if t.delivery_key), None) or f"{source}:unknown"
        relays = [t for t in ts if t.is_relay] or ts
        first = min(relays, key=lambda t: (t.at, t.row))
        send_log.append({
            "message_id": message_id, "delivery_id": key, "profile_id": ts_sorted[0].address,
            "address": ts_sorted[0].address, "is_test_profile": False, "relayed_at": first.at,
            "_row": first.row,
        })
        prev = first_relay.get(key)
        if prev is None or (first.at, first.row) < prev:
            first_relay[key] = (first.at, first.row)
    deliveries = [
        {
            "delivery_id": key, "label": key, "channel": "email", "efs_enabled": True,
            "contact_date": at, "validity_hours": DEFAULT_VALIDITY_HOURS, "is_proof": False,
            "parent_delivery_id": None, "requires_confirmation": False, "scheduled_at": None,
            "confirmed_at": None, "confirmed_by": None, "_row": row,
        }
        for key, (at, row) in first_relay.items()
    ]
    send_log.sort(key=lambda r: (r["_row"], r["message_id"]))
    deliveries.sort(key=lambda r: (r["_row"], r["delivery_id"]))
    return send_log, deliveries


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
