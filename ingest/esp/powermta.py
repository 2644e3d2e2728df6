"""PowerMTA: accounting files (``<acct-file>``), CSV as RFC 4180 describes it, with a header
line naming the fields; the first column is always the record type (PowerMTA User's Guide,
"The Accounting File": a file holding several record types has the union of their configured
fields as columns, each record leaving the others empty). A later header line (a rotated file
appended, or a header line per record type: its first cell is that type) applies to the rows
after it.

Message: PowerMTA logs no message id of its own, so one recipient of one queued message is
recognised by the strongest identifier its rows carry: the Message-ID header (a
``header_Message-Id`` field) or the envelope id (``envId``, MAIL FROM ... ENVID=), else the
message's queue time with its originator and job (``timeQueued``, ``orig``, ``jobId``, the
same on every record of that message) + ':' + ``rcpt``. Identifiers that appear together on a
row are linked within the file, so every record of a message gets the same id. A remote bounce
(``rb``) or feedback-loop record (``f``) naming none of them is matched to the latest message
to its recipient queued before it (the same job when it names one). Relay time: ``timeQueued``.

The mapping decisions per record type and bounce category: docs/mta-mapping.md.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from bisect import bisect_right
from datetime import datetime
from pathlib import Path
from typing import Any

from sendlens.ingest.esp.errors import EventRejected, NotJson, unsupported
from sendlens.ingest.esp.events import RawEvent, hashed_id
from sendlens.ingest.esp.fields import address_of, parse_ts, strip_brackets, text
from sendlens.ingest.esp.mapping import Context, EventRows
from sendlens.ingest.esp.smtp import ENHANCED, enhanced_parts, is_address_failure, smtp_code, with_status

SOURCE = "powermta"
DEFAULT_DELIVERY_FIELDS = ("jobId",)

# keys ``read`` adds to a row (never PowerMTA field names: those are letters, digits, '_', '-')
MESSAGE_ID = "__sendlens_message_id__"  # the message the row is about, resolved over the file
MATCHED = "__sendlens_matched__"  # the row named no identifier and was matched by recipient

# record type as written in the type column (or the record's long name) -> short type
RECORD_TYPES = {
    "d": "d", "delivery": "d", "b": "b", "bounce": "b", "t": "t", "transient": "t",
    "tq": "tq", "transient-queue": "tq", "r": "r", "receipt": "r", "received": "r",
    "f": "f", "feedback-loop": "f", "rb": "rb", "remote-bounce": "rb", "rs": "rs", "remote-status": "rs",
}
# fields documented for accounting records (a header line is recognised by them)
KNOWN_FIELDS = frozenset({
    "type", "timeLogged", "timeQueued", "timeImprinted", "timeFirstAttempt", "totalSecondsQueued", "orig",
    "rcpt", "orcpt", "dsnAction", "dsnStatus", "dsnDiag", "dsnMta", "dsnReportingMta", "bounceCat",
    "srcType", "srcMta", "rcvSourceIp", "rcvSmtpUser", "dlvType", "dlvSourceIp", "dlvDestinationIp",
    "dlvEsmtpAvailable", "dlvSize", "vmta", "vmtaPool", "jobId", "envId", "queue", "repSourceIp",
    "feedbackType", "format", "userAgent", "reportingMta", "reportedDomain", "reportedUri",
})
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")

# bounceCat (PowerMTA's bounce categories, its default bounce-category-patterns) -> (outcome of
# a FINAL failure, canonical reason). Only the address's own problems are hard bounces; refusals
# of the message (spam, policy, content, virus, relaying, the sender's domain) and temporary or
# delivery-path causes are final but soft (`expired`), so they never quarantine the address.
BOUNCE_CATEGORIES: dict[str, tuple[str, str | None]] = {
    "bad-mailbox": ("hard_bounce", "user unknown"),
    "bad-domain": ("hard_bounce", "invalid domain"),
    "inactive-mailbox": ("hard_bounce", "account disabled"),
    "quota-issues": ("expired", "mailbox full"),
    "no-answer-from-host": ("expired", "unreachable"),
    "bad-connection": ("expired", "unreachable"),
    "bad-configuration": ("expired", "unreachable"),
    "routing-errors": ("expired", "unreachable"),
    "message-expired": ("expired", None),  # says when PowerMTA gave up, not why
    "spam-related": ("expired", "refused"),
    "policy-related": ("expired", "refused"),
    "content-related": ("expired", "refused"),
    "virus-related": ("expired", "refused"),
    "relaying-issues": ("expired", "refused"),
    "invalid-sender": ("expired", "refused"),
    "protocol-errors": ("expired", None),
}
# "other" or no category: the enhanced status code decides (see final_outcome)

# feedbackType values that are a complaint (ARF, RFC 5965); "not-spam" and "auth-failure" are not
COMPLAINT_TYPES = ("", "abuse", "fraud", "virus", "other")

_DIAG_TYPE = re.compile(r"^\s*(smtp|x-[\w.-]+)\s*;\s*", re.IGNORECASE)
_MAX_JOINED_LINES = 50  # a quoted field spans at most this many lines


def context(delivery_paths: tuple[str, ...]) -> Context:
    return Context(SOURCE, delivery_paths)


# ---- reading -----------------------------------------------------------------------------
def read(path: Path) -> list[RawEvent]:
    """The data rows of an accounting file, each numbered by the LINE it starts on, as a dict
    field -> value (empty fields left out), each with its resolved message (``MESSAGE_ID``).
    A row that is not valid CSV, has more or fewer fields than its header names, or is not
    UTF-8 is one rejected event naming its line. Raises NotJson (naming the line) when the
    file does not start with a PowerMTA accounting header."""
    return resolve(parse(Path(path).read_bytes()))


def parse(data: bytes) -> list[RawEvent]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    events: list[RawEvent] = []
    default: list[str] | None = None  # the fields of a 'type,...' header line
    by_type: dict[str, list[str]] = {}  # the fields of a per-record-type header line
    i = 0
    while i < len(lines):
        lineno = i + 1
        try:
            line = lines[i].decode("utf-8-sig" if i == 0 else "utf-8").rstrip("\r")
        except UnicodeDecodeError as exc:
            if default is None and not by_type:
                raise NotJson(f"line {lineno}: not valid UTF-8 ({exc.reason}); "
                              "not a PowerMTA accounting file") from None
            events.append(RawEvent(lineno, None, json.dumps(lines[i].decode("utf-8", "replace")[:10000]),
                                   f"malformed row on line {lineno}: not valid UTF-8 ({exc.reason})"))
            i += 1
            continue
        if not line.strip():
            i += 1
            continue
        logical, used = _logical_row(line, lines, i)
        cells: list[str] | None = None
        why = "a quoted field is never closed"
        if used:
            try:
                cells = next(csv.reader([logical], strict=True))
            except csv.Error as exc:
                why = f"invalid CSV ({exc})"
        if cells is None:
            if default is None and not by_type:
                raise NotJson(f"line {lineno}: not a PowerMTA accounting file: {why}")
            events.append(RawEvent(lineno, None, json.dumps(line[:10000], ensure_ascii=False),
                                   f"malformed row on line {lineno}: {why}"))
            i += 1
            continue
        i += used
        header = _header(cells)
        if header is not None:
            kind, fields = header
            if kind is None:
                default, by_type = fields, {}
            else:
                by_type[kind] = fields
            continue
        if default is None and not by_type:
            raise NotJson(f"line {lineno}: not a PowerMTA accounting file: the first line must be its CSV "
                          f"header naming the fields (type,timeLogged,...), got {line[:80]!r}")
        raw = json.dumps(logical[:10000], ensure_ascii=False)
        kind = RECORD_TYPES.get(cells[0].strip().lower())
        fields = by_type.get(kind or "") or default
        if fields is None:
            events.append(RawEvent(lineno, None, raw, f"malformed row on line {lineno}: no header line names "
                                                      f"the fields of record type {cells[0]!r}"))
        elif len(cells) != len(fields):
            events.append(RawEvent(lineno, None, raw, f"malformed row on line {lineno}: {len(cells)} fields where "
                                                      f"the header names {len(fields)}"))
        else:
            row: dict[str, str] = {}
            for name, value in zip(fields, cells):
                if value.strip() and name not in row:  # a field named twice: its first value
                    row[name] = value.strip()
            row.setdefault("type", cells[0].strip())
            events.append(RawEvent(lineno, row, raw))
    return events


def _logical_row(line: str, lines: list[bytes], i: int) -> tuple[str, int]:
    """The CSV row starting at physical line i (a quoted field may hold line breaks) and how
    many physical lines it spans; (line, 0) when a quote is never closed."""
    joined, used = line, 1
    while joined.count('"') % 2:
        if used >= _MAX_JOINED_LINES or i + used >= len(lines):
            return line, 0
        try:
            joined += "\n" + lines[i + used].decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            return line, 0
        used += 1
    return joined, used


def _header(cells: list[str]) -> tuple[str | None, list[str]] | None:
    """(None, fields) for a 'type,...' header line, (record type, fields) for a header line of
    one record type, else None (a data row)."""
    first = cells[0].strip()
    names = [c.strip() for c in cells]
    if first.lower() == "type":
        return None, ["type", *names[1:]]
    kind = RECORD_TYPES.get(first.lower())
    rest = [n for n in names[1:] if n]
    if kind and rest and all(_FIELD_NAME.match(n) for n in rest) \
            and any(n in KNOWN_FIELDS or n.lower().startswith("header_") for n in rest):
        return kind, ["type", *names[1:]]
    return None


# ---- one message per recipient of a queued message ---------------------------------------
def identifiers(row: dict[str, Any]) -> list[tuple[int, str]]:
    """The message identifiers a row carries, strongest first: (rank, message id)."""
    rcpt = _rcpt(row)
    if not rcpt:
        return []
    out: list[tuple[int, str]] = []
    msgid = next((text(v) for k, v in row.items() if k.lower() == "header_message-id" and text(v)), None)
    if msgid:
        out.append((0, f"{strip_brackets(msgid)}:{rcpt}"))
    env = text(row.get("envId"))
    if env:
        out.append((1, f"{env}:{rcpt}"))
    queued = _safe_ts(row.get("timeQueued"))
    if queued is not None:
        basis = "\x1f".join([(text(row.get("orig")) or "").lower(), queued.isoformat(), text(row.get("jobId")) or ""])
        out.append((2, f"{SOURCE}:q{hashlib.sha256(basis.encode()).hexdigest()[:20]}:{rcpt}"))
    return out


class _Queued:
    """The messages of the file by recipient, by recipient and job, and with the originator
    too, each list sorted by queue time, for the latest one queued before a report."""

    def __init__(self) -> None:
        self.lists: dict[tuple[str | None, ...], list[tuple[datetime, str]]] = {}

    def add(self, rcpt: str, job: str | None, orig: str | None, at: datetime, message: str) -> None:
        keys: list[tuple[str | None, ...]] = [(rcpt,), (rcpt, "job", job)]
        if orig:
            keys += [(rcpt, "orig", orig), (rcpt, "job", job, orig)]
        for k in keys:
            self.lists.setdefault(k, []).append((at, message))

    def sort(self) -> None:
        for v in self.lists.values():
            v.sort()

    def latest(self, key: tuple[str | None, ...], at: datetime | None) -> str | None:
        items = self.lists.get(key, [])
        i = len(items) if at is None else bisect_right(items, (at, "\uffff"))
        return items[i - 1][1] if i else None

    def find(self, row: dict[str, Any]) -> str | None:
        """The latest message to the row's recipient queued before the row was logged, of the
        row's job when it names one, preferring the same originator."""
        rcpt = _rcpt(row) or ""
        at = _safe_ts(row.get("timeLogged"))
        job = text(row.get("jobId"))
        orig = (text(row.get("orig")) or "").lower() or None
        base: tuple[str | None, ...] = (rcpt, "job", job) if job else (rcpt,)
        same = self.latest((rcpt, "job", job, orig) if job else (rcpt, "orig", orig), at) if orig else None
        return same or self.latest(base, at)


def resolve(events: list[RawEvent]) -> list[RawEvent]:
    """Give every row its message: identifiers found on the same row are one message (its id:
    the strongest of them); a row with none is matched by recipient (module docstring). Pure."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    rank: dict[str, int] = {}
    rows = [(e, e.value, identifiers(e.value)) for e in events if isinstance(e.value, dict)]
    for _, _, ids in rows:
        for r, mid in ids:
            rank[mid] = min(rank.get(mid, r), r)
        for _, mid in ids[1:]:
            a, b = find(ids[0][1]), find(mid)
            if a != b:
                keep, drop = sorted((a, b), key=lambda m: (rank[m], m))
                parent[drop] = keep
    queued = _Queued()
    resolved: dict[int, str] = {}
    seen: set[str] = set()
    for e, row, ids in rows:
        if not ids:
            continue
        mid = find(ids[0][1])
        resolved[e.number] = mid
        at = _safe_ts(row.get("timeQueued")) or _safe_ts(row.get("timeLogged"))
        if at is not None and mid not in seen and _kind(row) not in ("rb", "rs", "f"):
            seen.add(mid)
            queued.add(_rcpt(row) or "", text(row.get("jobId")), (text(row.get("orig")) or "").lower() or None, at, mid)
    queued.sort()
    out: list[RawEvent] = []
    for e in events:
        row = e.value
        if not isinstance(row, dict) or not _rcpt(row):
            out.append(e)
        elif e.number in resolved:
            out.append(RawEvent(e.number, {**row, MESSAGE_ID: resolved[e.number]}, e.raw, e.error))
        else:
            match = queued.find(row)
            extra = {MESSAGE_ID: match, MATCHED: True} if match else {}
            out.append(RawEvent(e.number, {**row, **extra}, e.raw, e.error))
    return out


def _kind(row: dict[str, Any]) -> str | None:
    return RECORD_TYPES.get((text(row.get("type")) or "").lower())


def _rcpt(row: dict[str, Any]) -> str | None:
    try:
        return address_of(row.get("rcpt"), "rcpt")
    except EventRejected:
        return None


def _safe_ts(value: Any) -> datetime | None:
    try:
        return parse_ts(value, "timeLogged")
    except EventRejected:
        return None


# ---- codes and diagnostics ---------------------------------------------------------------
def diagnostic_of(row: dict[str, Any]) -> str | None:
    """The remote response without its diagnostic type ("smtp;550 5.1.1 ..." -> "550 5.1.1
    ..."), with PowerMTA's dsnStatus code inserted when the response carries no enhanced
    code (so the qualification reads one); dsnStatus alone when there is no response."""
    diag = text(row.get("dsnDiag"))
    status = text(row.get("dsnStatus"))
    if diag:
        diag = _DIAG_TYPE.sub("", diag, count=1).strip()
        status_code = ENHANCED.search(status or "")
        return with_status(status_code.group(0) if status_code else None, diag) or status
    return status


def final_outcome(category: str | None, enhanced: tuple[int, int, int] | None) -> tuple[str, str | None]:
    """Outcome and reason of a FINAL failure (b, rb): the bounce category when it is specific,
    else the enhanced status code (permanent and address-related: a hard bounce, its reason
    left to the qualification table; anything else final but soft)."""
    if category in BOUNCE_CATEGORIES:
        return BOUNCE_CATEGORIES[category]
    if is_address_failure(enhanced):  # smtp.ADDRESS_CODES
        return "hard_bounce", None
    return "expired", None


# ---- mapping -----------------------------------------------------------------------------
def map_event(event: dict[str, Any], ctx: Context) -> EventRows:
    row = {k: v for k, v in event.items() if k not in (MESSAGE_ID, MATCHED)}
    raw_type = text(row.get("type"))
    if not raw_type:
        raise EventRejected("type", "missing required field")
    kind = RECORD_TYPES.get(raw_type.lower())
    if kind is None or kind == "tq":  # tq: a queue's transient failure, no recipient's message
        raise unsupported("type")
    rcpt = address_of(row.get("rcpt"), "rcpt")
    queued = parse_ts(row["timeQueued"], "timeQueued") if text(row.get("timeQueued")) else None
    if text(row.get("timeLogged")):
        at = parse_ts(row["timeLogged"], "timeLogged")
    elif queued is not None:  # a file configured without timeLogged: its only time
        at = queued
    else:
        raise EventRejected("timeLogged", "missing required field")
    message_id = text(event.get(MESSAGE_ID))
    if not message_id:  # not resolved over a file (a row mapped on its own, or no identifier)
        ids = identifiers(row)
        message_id = ids[0][1] if ids else f"{hashed_id(SOURCE, row, rcpt)}:{rcpt}"
    key = None if event.get(MATCHED) else ctx.delivery_key(row)
    rows = EventRows()
    if queued is not None:
        rows.touch(message_id, rcpt, key, queued, relay=True)
    else:
        rows.touch(message_id, rcpt, key, at, relay=(kind == "r"))
    eid = hashed_id(SOURCE, row, rcpt)
    category = (text(row.get("bounceCat")) or "").lower() or None
    diagnostic = diagnostic_of(row)
    smtp = smtp_code(diagnostic) if diagnostic else None
    enhanced = enhanced_parts(row.get("dsnStatus"), diagnostic)
    action = (text(row.get("dsnAction")) or "").lower()
    if kind in ("rb", "rs"):  # a DSN from a remote MTA, processed by PowerMTA's bounce processor
        if action in ("delivered", "relayed", "expanded"):
            kind = "d"
        elif action == "delayed":
            kind = "t"
        elif action == "failed" or (kind == "rb" and not action):
            kind = "b"
        else:
            raise unsupported("dsnAction")
    if kind == "r":  # received: the message was queued (its relay, above)
        pass
    elif kind == "d":
        rows.add_feedback(eid, message_id, at, "delivered", None, smtp, diagnostic)
    elif kind == "t":  # PowerMTA will retry: never final
        reason = BOUNCE_CATEGORIES.get(category or "", ("", None))[1]
        rows.add_feedback(eid, message_id, at, "soft_bounce", reason, smtp, diagnostic)
    elif kind == "b":  # PowerMTA gave up on the recipient (a permanent failure or bounce-after)
        outcome, reason = final_outcome(category, enhanced)
        rows.add_feedback(eid, message_id, at, outcome, reason, smtp, diagnostic)
    elif kind == "f":  # a feedback-loop report: the recipient complained
        if (text(row.get("feedbackType")) or "").lower() not in COMPLAINT_TYPES:
            raise unsupported("feedbackType")
        rows.add_tracking(eid, message_id, at, "complaint", None, text(row.get("userAgent")))
    return rows
