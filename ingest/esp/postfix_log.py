"""Reading a Postfix ``maillog`` (syslog lines) into records: one per delivery-status line,
each carrying its message's context (``read``).

Postfix logs one line per event of a queued message, each tagged with the message's queue id:
``smtpd`` (``client=``), ``pickup`` (``uid= from=``), ``cleanup`` (``message-id=``, and
``header_checks`` INFO / WARN lines ``info: header NAME: VALUE from ...``), ``qmgr``
(``from=<sender>, size=, nrcpt= (queue active)``, ``removed``, and the message-level
``from=<sender>, status=expired, returned to sender``), the delivery agents (``smtp``, ``lmtp``,
``local``, ``virtual``, ``pipe``, ``error``, ``retry``, ``discard``: ``to=<rcpt>, relay=...,
dsn=X.Y.Z, status=WORD (text)``) and ``bounce`` (``sender non-delivery notification: NEWID``).

Three passes over the file: the syslog headers (timestamps to naive UTC: the year of classic
timestamps and the time zone are settings, see ``_resolve_years``), the queue ids (a message's
lines are joined on its queue id, scoped per host from the id's first line to its ``removed``
line: Postfix recycles queue ids; content-filter hand-offs and bounce(8) notifications link queue
ids), then one event per record. Mapping the events is ``ingest.esp.postfix``'s job. The
decisions: docs/mta-mapping.md, section Postfix.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sendlens.ingest.esp.errors import EventRejected
from sendlens.ingest.esp.events import RawEvent
from sendlens.ingest.esp.fields import parse_ts
from sendlens.ingest.land import IngestError

YEAR_ENV = "SENDLENS_POSTFIX_YEAR"  # the year of the file's first line without a year
TZ_ENV = "SENDLENS_POSTFIX_TZ"  # the time zone of timestamps without an offset (default UTC)
SENDER_PATTERN_ENV = "SENDLENS_POSTFIX_SENDER_PATTERN"  # regex on from=; group 1 is the key

PROBE_STATUSES = frozenset({"deliverable", "undeliverable", "undeliverable-but-not-cached"})
DEFERRED = frozenset({"deferred", "softbounce"})  # SOFTBOUNCE: a bounce under soft_bounce = yes
EXPIRY = frozenset({"expired", "force-expired"})  # force-expired: postsuper -e / -f (Postfix 3.5)
KNOWN = DEFERRED | EXPIRY | {"sent", "bounced"}

# ---- reading: syslog lines ----------------------------------------------------------------
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
                                        "oct", "nov", "dec"), 1)}
# "Mar  2 09:00:01" (syslog, BSD / RFC 3164), "Mar 02 09:00:01" (Postfix's own maillog_file),
# optionally with a fraction (journalctl -o short-precise)
_CLASSIC = re.compile(r"(?P<mon>[A-Za-z]{3}) +(?P<day>\d{1,2}) (?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})"
                      r"(?:\.(?P<frac>\d+))? +(?P<rest>.*)")
# RFC 3339 (rsyslog RSYSLOG_FileFormat, journalctl -o short-iso[-precise])
_ISO = re.compile(r"(?P<ts>\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?P<off>[Zz]|[+-]\d{2}:?\d{2})?)"
                  r" +(?P<rest>.*)")
# RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG
_RFC5424 = re.compile(r"<\d{1,3}>1 (?P<ts>\S+) (?P<host>\S+) (?P<tag>\S+) (?P<pid>\S+) \S+ "
                      r"(?:-|(?:\[(?:[^\]\\]|\\.)*\])+) ?(?P<msg>.*)")
_PRI = re.compile(r"<\d{1,3}>")
_OFFSET = re.compile(r"(?:[Zz]|[+-]\d{2}:?\d{2})$")
_HOST_TAG = re.compile(r"(?P<host>\S+) (?P<tag>[^\s\[\]:]+)(?:\[(?P<pid>\d+)\])?: ?(?P<msg>.*)")
# the programs Postfix logs as <syslog_name>/<program>
_PROGRAMS = frozenset({
    "smtp", "lmtp", "local", "virtual", "pipe", "error", "retry", "discard", "qmgr", "nqmgr", "oqmgr",
    "cleanup", "bounce", "defer", "trace", "pickup", "smtpd", "postscreen", "dnsblog", "tlsproxy",
    "postsuper", "postdrop", "sendmail", "postqueue", "master", "anvil", "scache", "tlsmgr", "verify",
    "proxymap", "trivial-rewrite", "flush", "showq", "postlogd", "spawn", "qmqpd", "postfix-script",
    "postmap", "postalias", "postmulti", "postlog", "postconf", "postkick", "postlock", "postcat",
})
# short queue ids: hex time + inode (upper case); enable_long_queue_ids: 10 characters of
# time, 'z', the inode (Postfix's mail_queue.h)
_QUEUE_ID = re.compile(r"(?P<qid>[0-9A-Z]{6,}|[0-9A-Za-z]{10}z[0-9A-Za-z]+): (?P<body>.*)", re.S)
_TO = re.compile(r"to=<(?P<to>.*?)>(?=,|$)")
_STATUS = re.compile(r", status=(?P<status>[A-Za-z][A-Za-z-]*)(?P<tail>.*)$", re.S)
_PAIR = re.compile(r"(?:^|, )(?P<k>[a-z_]+)=(?P<v>[^,]*)")
_FROM = re.compile(r"from=<(?P<from>.*?)>(?:, (?P<rest>.*))?$")
_EXPIRED = re.compile(r"status=(?P<status>expired|force-expired), returned to sender")
_PICKUP = re.compile(r"uid=\d+ from=<(?P<from>.*?)>")
_CLIENT = re.compile(r"client=(?P<client>[^,\s]+)(?P<rest>.*)")
_SASL = re.compile(r"sasl_username=(?P<user>[^,\s]+)")
_MESSAGE_ID = re.compile(r"(?:resent-)?message-id=(?P<mid>.*)")
_HEADER = re.compile(r"[a-z-]+: header (?P<header>.*) from (?P<client>\S+);", re.S)
_NOTIFICATION = re.compile(r"(?:sender|postmaster) [a-z -]*notification: (?P<new>[0-9A-Za-z]+)$")
_QUEUED_AS = re.compile(r"\bqueued as (?P<new>[0-9A-Za-z]{6,})\b")


@dataclass
class _Header:
    """A syslog line's header: where it came from and when."""

    at: datetime | None  # naive UTC; None when the line has no usable timestamp
    host: str
    tag: str  # syslog_name/program, e.g. postfix/smtp, postfix/submission/smtpd
    program: str
    pid: str | None
    msg: str
    ts_error: str | None = None


@dataclass
class _Clock:
    """How timestamps without a year or offset are read (see _resolve_years)."""

    tz: tzinfo
    year: int | None  # SENDLENS_POSTFIX_YEAR: the year of the first line without one
    mtime: datetime | None  # the file's modification time (aware)


def _tz_setting() -> tzinfo:
    raw = (os.environ.get(TZ_ENV) or "").strip()
    if not raw or raw.upper() in ("UTC", "Z", "GMT"):
        return timezone.utc
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", raw)
    if m:
        minutes = int(m.group(2)) * 60 + int(m.group(3))
        if minutes > 18 * 60 or int(m.group(3)) >= 60:
            raise IngestError(f"${TZ_ENV}={raw!r}: a UTC offset must lie within -18:00..+18:00")
        return timezone((1 if m.group(1) == "+" else -1) * timedelta(minutes=minutes))
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise IngestError(f"${TZ_ENV}={raw!r}: not a time zone (an IANA name such as Europe/Paris, "
                          "or an offset such as +01:00)") from None


def _year_setting() -> int | None:
    raw = (os.environ.get(YEAR_ENV) or "").strip()
    if not raw:
        return None
    if not re.fullmatch(r"\d{4}", raw):
        raise IngestError(f"${YEAR_ENV}={raw!r}: expected a four-digit year")
    return int(raw)


def _to_utc(local: datetime, tz: tzinfo) -> datetime:
    """Naive local wall time in ``tz`` -> naive UTC (an ambiguous or skipped hour of a DST
    change takes the offset in force before the change: fold 0)."""
    if tz is timezone.utc:
        return local
    return local.replace(tzinfo=tz).astimezone(timezone.utc).replace(tzinfo=None)


def _split_header(line: str) -> tuple[str, dict[str, Any]] | None:
    """The timestamp form of a line and its parts, or None when it is no syslog line."""
    m = _RFC5424.fullmatch(line)
    if m:
        return "iso", {"ts": m.group("ts"), "host": m.group("host"), "tag": m.group("tag"),
                       "pid": None if m.group("pid") == "-" else m.group("pid"), "msg": m.group("msg")}
    body = _PRI.sub("", line, count=1) if line.startswith("<") else line
    for form, pattern in (("classic", _CLASSIC), ("iso", _ISO)):
        m = pattern.fullmatch(body)
        if m:
            ht = _HOST_TAG.fullmatch(m.group("rest"))
            if not ht:
                return None
            return form, {**m.groupdict(), **ht.groupdict()}
    return None


def _classic_key(parts: dict[str, Any]) -> tuple[int, int, int, int, int, int] | None:
    mon = _MONTHS.get(parts["mon"].lower())
    if mon is None:
        return None
    frac = parts.get("frac") or "0"
    return (mon, int(parts["day"]), int(parts["h"]), int(parts["mi"]), int(parts["s"]),
            int(frac[:6].ljust(6, "0")))


def _resolve_years(keys: list[tuple[int, ...]], clock: _Clock) -> list[int]:
    """The year of each line without one (in file order). Each line takes the year, among the
    previous line's year and the ones either side, that puts it closest in time to the previous
    line: Dec 31 -> Jan 1 moves to the next year, and a few lines written out of order across a
    year boundary stay in their own year. The file's first such line is in $SENDLENS_POSTFIX_YEAR
    when set; otherwise the years are chosen so that the last such line is not after the file's
    modification time (plus a day for clock and zone differences)."""
    def minutes(k: tuple[int, ...]) -> int:  # a position in a 372-day pseudo year, enough to compare
        mon, day, h, mi = k[:4]
        return (((mon - 1) * 31 + day - 1) * 24 + h) * 60 + mi

    span = 372 * 24 * 60
    rel: list[int] = []
    for i, k in enumerate(keys):
        if i == 0:
            rel.append(0)
            continue
        if k[0] == keys[i - 1][0]:  # same month as the line before: same year
            rel.append(rel[-1])
            continue
        prev = rel[-1] * span + minutes(keys[i - 1])
        rel.append(min((rel[-1] + d for d in (0, 1, -1)), key=lambda y: abs(y * span + minutes(k) - prev)))
    if not keys:
        return []
    if clock.year is not None:
        first = clock.year
    elif clock.mtime is not None:
        limit = clock.mtime.astimezone(clock.tz).replace(tzinfo=None) + timedelta(days=1)
        mon, day, h, mi, s, _ = keys[-1]
        first = limit.year - rel[-1]
        while first > 1 and _safe_date(first + rel[-1], mon, day, h, mi, s) > limit:
            first -= 1
    else:
        first = datetime.now(timezone.utc).year - rel[-1]
    return [first + r for r in rel]


def _safe_date(year: int, mon: int, day: int, h: int, mi: int, s: int) -> datetime:
    try:
        return datetime(year, mon, day, h, mi, s)
    except ValueError:  # Feb 29 of a common year: compare as Mar 1
        return datetime(year, mon, 1, h, mi, s) + timedelta(days=day - 1)


def _headers(lines: list[str], clock: _Clock) -> list[_Header | None]:
    """Every line's syslog header (None for a line that is not a syslog line), timestamps
    resolved to naive UTC."""
    split = [_split_header(line) for line in lines]
    classic = [(i, _classic_key(parts)) for i, s in enumerate(split) if s and s[0] == "classic"
               for parts in [s[1]]]
    classic = [(i, k) for i, k in classic if k is not None]
    years = dict(zip((i for i, _ in classic), _resolve_years([k for _, k in classic], clock)))
    keys = dict(classic)
    out: list[_Header | None] = []
    for i, s in enumerate(split):
        if s is None:
            out.append(None)
            continue
        form, parts = s
        tag = parts["tag"]
        program = tag.rsplit("/", 1)[-1]
        at, error = None, None
        if form == "classic":
            k = keys.get(i)
            try:
                if k is None:
                    raise ValueError(f"unknown month {parts['mon']!r}")
                at = _to_utc(datetime(years[i], *k), clock.tz)
            except ValueError as exc:
                error = f"invalid timestamp {parts['mon']} {parts['day']} (year {years.get(i)}): {exc}"
        else:
            ts = parts["ts"]
            try:
                at = parse_ts(ts, "timestamp")
                if not _OFFSET.search(ts):  # no offset: local time in $SENDLENS_POSTFIX_TZ
                    at = _to_utc(at, clock.tz)
            except EventRejected as exc:
                error = exc.reason
        out.append(_Header(at, parts["host"], tag, program, parts.get("pid"), parts["msg"], error))
    return out


# ---- reading: queue ids -------------------------------------------------------------------
@dataclass
class _Queue:
    """One life of a queue id on one host: from its first line to its ``removed`` line."""

    host: str
    qid: str
    first_line: int
    first_at: datetime | None = None
    queued_at: datetime | None = None  # the first qmgr "from=... (queue active)": the relay time
    sender: str | None = None  # envelope sender; "" = null sender; None = not logged
    message_id: str | None = None  # the Message-ID header, as cleanup logged it
    headers: dict[str, str] = field(default_factory=dict)
    client: str | None = None
    sasl_username: str | None = None
    has_qmgr: bool = False
    born: bool = False  # this life's first lines are in the file (smtpd client=, pickup, cleanup)
    arrival: datetime | None = None  # without them: the first record's time minus its delay=
    notification: bool = False  # created by bounce(8): a DSN to the sender
    removed_line: int | None = None
    parent: "_Queue | None" = None  # the queue entry that handed this message to a filter

    def chain(self) -> list["_Queue"]:
        """This entry and the ones it was re-queued from, oldest first."""
        out, q, seen = [], self, set()
        while q is not None and id(q) not in seen:
            seen.add(id(q))
            out.append(q)
            q = q.parent
        return out[::-1]


@dataclass
class _Line:
    number: int
    raw: str
    header: _Header
    queue: _Queue
    kind: str  # "status", "expired", "bad"; "hop" once found to be a content-filter hand-off
    fields: dict[str, Any] = field(default_factory=dict)


class LogEvents(list):
    """The records of one maillog (a list of RawEvent) and the notes on what was not a record:
    ``notes`` (human sentences) and ``counts`` (per category)."""

    def __init__(self, events: list[RawEvent], counts: dict[str, int]) -> None:
        super().__init__(events)
        self.counts = counts
        self.notes = [_note(counts)] if any(counts.values()) else []


_NOTE_LABELS = (
    ("context", "queue context (smtpd client=, pickup, cleanup message-id= and header lines, qmgr "
                "from= and removed, bounce notices)"),
    ("notification", "delivery-status lines of Postfix's own notifications (null sender or created by "
                     "bounce(8)): not sends"),
    ("probe", "address verification probes (status=deliverable / undeliverable): not sends"),
    ("hop", "hand-offs to a content filter that re-queued the message in this log (it is followed "
            "under its new queue id)"),
    ("noqueue", "NOQUEUE lines (mail this server refused or filtered at SMTP time: inbound, not sends)"),
    ("other", "other Postfix lines (connections, TLS, warnings, smtpd/cleanup rejects, statistics)"),
    ("not_postfix", "lines of other programs"),
    ("not_syslog", "lines that are not syslog lines"),
)


def _note(counts: dict[str, int]) -> str:
    parts = [f"{counts[k]} {label}" for k, label in _NOTE_LABELS if counts.get(k)]
    return "postfix: not records, skipped: " + "; ".join(parts)


def _decode(path: Path) -> list[str]:
    """The file's lines (gzip-compressed files too: rotated maillog.N.gz); bytes that are not
    UTF-8 are replaced (remote servers' replies are not always UTF-8)."""
    data = Path(path).read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise IngestError(f"{path}: not a readable gzip file ({exc})") from None
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    return [line.rstrip("\r") for line in data.decode("utf-8", errors="replace").split("\n")]


def read(path: Path) -> LogEvents:
    """One event per delivery-status line of a Postfix maillog, numbered by its line number.

    Records: ``QUEUEID: to=<...>, ..., status=...`` lines and qmgr's ``QUEUEID: from=<...>,
    status=expired, returned to sender``. A record that cannot be read, or whose queue id has
    no sender line before it in this file (the message was queued before the log starts), is
    an event that the mapping rejects, naming the field. Everything else is counted in the
    result's ``notes`` and skipped."""
    clock = _Clock(_tz_setting(), _year_setting(), None)
    pattern = _sender_pattern()
    try:
        clock.mtime = datetime.fromtimestamp(Path(path).stat().st_mtime, timezone.utc)
    except OSError:
        pass
    lines = _decode(path)
    headers = _headers(lines, clock)
    counts = {k: 0 for k, _ in _NOTE_LABELS}
    records, queues, notices = _scan(lines, headers, counts)
    _link_hops(records, queues, notices)
    return LogEvents(_events(records, pattern, counts), counts)


def _sender_pattern() -> re.Pattern[str] | None:
    raw = os.environ.get(SENDER_PATTERN_ENV)
    if not raw:
        return None
    try:
        pattern = re.compile(raw)
    except re.error as exc:
        raise IngestError(f"${SENDER_PATTERN_ENV}={raw!r}: not a regular expression ({exc})") from None
    if pattern.groups < 1:
        raise IngestError(f"${SENDER_PATTERN_ENV}={raw!r}: needs a group: its first group is the delivery key")
    return pattern


def _scan(lines: list[str], headers: list[_Header | None], counts: dict[str, int]
          ) -> tuple[list[_Line], dict[tuple[str, str], list[_Queue]], list[tuple[str, str, int]]]:
    """First pass: every line in order; queue context goes into its queue entry, records are
    kept with the entry they belong to. Also returns the (host, queue id) of every bounce(8)
    notification."""
    queues: dict[tuple[str, str], list[_Queue]] = {}
    current: dict[tuple[str, str], _Queue] = {}
    records: list[_Line] = []
    notices: list[tuple[str, str, int]] = []

    def queue(host: str, qid: str, number: int, birth: bool) -> _Queue:
        key = (host, qid)
        q = current.get(key)
        # a new life: after "removed", or a new message's first line where the old one was
        # already handed to the queue manager (a lost "removed" line)
        if q is None or q.removed_line is not None or (birth and q.has_qmgr):
            q = _Queue(host, qid, number)
            current[key] = q
            queues.setdefault(key, []).append(q)
        return q

    for number, (line, h) in enumerate(zip(lines, headers), 1):
        if not line.strip():
            continue
        if h is None:
            if " to=<" in line and "status=" in line:  # a delivery-status line without its header
                records.append(_Line(number, line, _Header(None, "", "", "", None, line), _Queue("", "", number),
                                     "bad", {"field": "timestamp", "reason": (
                                         "not a syslog line: no timestamp, host and program before the message")}))
            else:
                counts["not_syslog"] += 1
            continue
        if h.program not in _PROGRAMS or ("/" not in h.tag and h.tag != "postfix"):
            counts["not_postfix"] += 1
            continue
        if h.msg.startswith("NOQUEUE:"):
            counts["noqueue"] += 1
            continue
        m = _QUEUE_ID.fullmatch(h.msg)
        if not m:
            counts["other"] += 1
            continue
        qid, body = m.group("qid"), m.group("body")
        birth = h.program in ("smtpd", "pickup", "qmqpd") and body.startswith(("client=", "uid="))
        q = queue(h.host, qid, number, birth)
        if q.first_at is None and h.at is not None:
            q.first_at = h.at
        kind = _record_kind(body)
        if kind:
            fields = ({"field": "timestamp", "reason": h.ts_error} if h.ts_error else _status_fields(body, kind))
            records.append(_Line(number, line, h, q, "bad" if "reason" in fields else kind, fields))
            continue
        counts["context" if _context(q, h, body, number, notices) else "other"] += 1
    return records, queues, notices


def _record_kind(body: str) -> str | None:
    if body.startswith("to=<"):
        return "status"
    if body.startswith("from=<") and _EXPIRED.search(body):
        return "expired"
    return None


def _status_fields(body: str, kind: str) -> dict[str, Any]:
    """The fields of a record line; ``{"field", "reason"}`` when it cannot be read."""
    if kind == "expired":
        m = _FROM.match(body)
        e = _EXPIRED.search(body)
        return {"from": m.group("from") if m else None, "status": e.group("status").lower()}
    to = _TO.match(body)
    if not to:
        return {"field": "to", "reason": "unreadable recipient: to=<...> is not closed"}
    st = _STATUS.search(body)
    if not st:
        return {"field": "status", "reason": "no status= in the delivery-status line (truncated?)"}
    out: dict[str, Any] = {"to": to.group("to"), "status": st.group("status").lower()}
    middle = body[to.end():st.start()]
    for p in _PAIR.finditer(middle):
        if p.group("k") in ("orig_to", "relay", "dsn", "conn_use", "delay", "delays"):
            out[p.group("k")] = p.group("v").strip()
    if "orig_to" in out:
        out["orig_to"] = out["orig_to"].strip("<>")
    tail = st.group("tail").strip()
    if tail.startswith("(") and tail.endswith(")"):
        tail = tail[1:-1]
    elif tail.startswith(","):
        tail = tail[1:].strip()
    out["reply"] = tail or None
    if "dsn" in out and not re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", out["dsn"]):
        return {"field": "dsn", "reason": f"invalid enhanced status code dsn={out['dsn']!r}"}
    return out


def _context(q: _Queue, h: _Header, body: str, number: int, notices: list[tuple[str, str, int]]) -> bool:
    """Apply one queue-context line to its queue entry; False when it is none we know."""
    if body == "removed":  # qmgr (all recipients done) or postsuper -d: this life ends here
        q.removed_line = number
        return True
    m = _FROM.match(body)
    if m and (m.group("rest") or "").startswith("size="):  # qmgr: the message enters the active queue
        if not q.has_qmgr:
            q.has_qmgr = True
            q.queued_at = h.at
        q.sender = m.group("from")
        return True
    m = _PICKUP.match(body)
    if m:
        q.born = True
        if q.sender is None:
            q.sender = m.group("from")
        return True
    m = _CLIENT.match(body)
    if m:
        q.born = True
        q.client = m.group("client")
        s = _SASL.search(m.group("rest"))
        if s:
            q.sasl_username = s.group("user")
        return True
    m = _MESSAGE_ID.fullmatch(body)
    if m:
        q.born = True
        mid = _message_id(m.group("mid"))
        if mid and (q.message_id is None or not body.startswith("resent-")):
            q.message_id = mid
        return True
    m = _HEADER.match(body)
    if m:
        name, sep, value = m.group("header").partition(":")
        if sep and name.strip():
            q.headers.setdefault(name.strip().lower(), value.strip())
        return True
    m = _NOTIFICATION.search(body)
    if m:
        notices.append((q.host, m.group("new"), number))
        return True
    return body.startswith("status=deferred (bounce failed)") or body in (
        "requeued", "placed on hold", "released from hold", "expired")


def _message_id(raw: str) -> str | None:
    """The Message-ID as logged (``<id>`` or bare), without brackets; None for ``<>`` / empty."""
    s = raw.strip()
    m = re.search(r"<([^<>]*)>", s)
    if m:
        s = m.group(1)
    s = s.strip()
    return s.split()[0] if s else None


def _link_hops(records: list[_Line], queues: dict[tuple[str, str], list[_Queue]],
               notices: list[tuple[str, str, int]]) -> None:
    """Notifications and content-filter hand-offs.

    bounce(8) logs ``QUEUEID: sender non-delivery notification: NEWID``: NEWID is a DSN to the
    sender. A delivery ``status=sent (... queued as NEWID)`` whose NEWID is a queue id of the
    same host in this log is a hand-off to a content filter (amavis and the like) that re-queued
    the message: it is not the delivery, NEWID carries the message on (and inherits its
    context: header_checks usually run only on the first pass)."""
    for host, new, number in notices:
        q = _entry_at(queues.get((host, new), []), number)
        if q is not None:
            q.notification = True
    for rec in records:
        if rec.kind != "status" or rec.fields.get("status") != "sent":
            continue
        m = _QUEUED_AS.search(rec.fields.get("reply") or "")
        if not m:
            continue
        child = _entry_at(queues.get((rec.queue.host, m.group("new")), []), rec.number, stale=False)
        if child is not None and child is not rec.queue:
            if child.parent is None and rec.queue not in child.chain():
                child.parent = rec.queue
            rec.kind = "hop"


def _entry_at(entries: list[_Queue], number: int, stale: bool = True) -> _Queue | None:
    """The life of a queue id that is open at line ``number``, else the next one to start,
    else (``stale``) the last one before it."""
    for q in entries:
        if q.first_line <= number and (q.removed_line is None or q.removed_line >= number):
            return q
    later = [q for q in entries if q.first_line > number]
    if later:
        return later[0]
    return entries[-1] if entries and stale else None


# ---- reading: events ----------------------------------------------------------------------
@dataclass
class _Recipient:
    """What the records so far said about one recipient of one queue entry."""

    deferrals: int = 0
    last_status: str | None = None
    last: dict[str, Any] | None = None  # the last deferral's fields
    last_at: datetime | None = None

    def after(self, at: datetime | None) -> datetime | None:
        """``at``, or 1 microsecond after this recipient's previous record when the log put
        both in the same second (a deferral and the expiry usually are): the marts order a
        message's events by time, and the log's order is the truth."""
        if at is not None and self.last_at is not None and at <= self.last_at:
            at = self.last_at + timedelta(microseconds=1)
        self.last_at = at or self.last_at
        return at


def _iso(at: datetime | None) -> str | None:
    return at.isoformat(timespec="microseconds") + "Z" if at is not None else None


def _events(records: list[_Line], pattern: re.Pattern[str] | None, counts: dict[str, int]) -> list[RawEvent]:
    """Second pass: one event per record, in line order, with its message's context."""
    state: dict[int, dict[str, _Recipient]] = {}  # queue entry -> recipient -> what was said so far
    out: list[RawEvent] = []
    for rec in records:
        raw = json.dumps(rec.raw[:10000], ensure_ascii=False)
        q = rec.queue
        if rec.kind == "hop":
            counts["hop"] += 1
            continue
        if rec.kind == "bad":
            out.append(RawEvent(rec.number, {"line": rec.number, "_reject": rec.fields}, raw))
            continue
        chain = q.chain()
        sender = next((x.sender for x in reversed(chain) if x.sender is not None), None)
        status = str(rec.fields.get("status", "")).lower()
        if any(x.notification for x in chain) or sender == "" or rec.fields.get("from") == "":
            counts["notification"] += 1
            continue
        if status in PROBE_STATUSES:
            counts["probe"] += 1
            continue
        if sender is None and rec.kind == "status":
            out.append(RawEvent(rec.number, {"line": rec.number, "_reject": {
                "field": "queue_id",
                "reason": f"queue id {q.qid} has no from= line before this line in the file (the message "
                          "was queued before this log starts): its sender and arrival are unknown"}}, raw))
            continue
        if rec.kind == "expired":
            sender = rec.fields.get("from") if sender is None else sender
        root = chain[0]
        if not root.born and root.arrival is None and rec.header.at is not None:
            root.arrival = _arrival(rec.header.at, rec.fields.get("delay"))
        event = _context_fields(rec, chain, sender, pattern)
        if rec.kind == "expired":
            pending = [(rcpt, r) for rcpt, r in state.get(id(q), {}).items() if r.last_status in DEFERRED]
            event["recipients"] = [
                {"to": rcpt, "attempt": r.deferrals, "timestamp": _iso(r.after(rec.header.at)),
                 **({k: r.last[k] for k in ("dsn", "reply", "relay") if r.last and r.last.get(k)})}
                for rcpt, r in pending]
            for _, r in pending:
                r.last_status = status
            if not pending:
                event["_reject"] = {"field": "to", "reason": (
                    f"status={status} of queue id {q.qid} names no recipient, and no deferred recipient "
                    "of it precedes this line in the file")}
        else:
            r = state.setdefault(id(q), {}).setdefault(rec.fields["to"].lower(), _Recipient())
            event.update({k: v for k, v in rec.fields.items() if k not in ("delay", "delays", "conn_use")})
            event["attempt"] = r.deferrals + 1
            event["timestamp"] = _iso(r.after(rec.header.at))
            if status in KNOWN:  # an unknown status is rejected by the mapping: it changes nothing
                r.last_status = status
            if status in DEFERRED:
                r.deferrals += 1
                r.last = rec.fields
        out.append(RawEvent(rec.number, event, raw))
    return out


def _arrival(at: datetime, delay: Any) -> datetime | None:
    """When the message arrived: a status line's time minus its ``delay=`` (seconds), to the second."""
    try:
        seconds = float(delay)
    except (TypeError, ValueError):
        return None
    if not 0 <= seconds < 10 * 365 * 86400:
        return None
    return (at - timedelta(seconds=seconds)).replace(microsecond=0)


def _context_fields(rec: _Line, chain: list[_Queue], sender: str | None,
                    pattern: re.Pattern[str] | None) -> dict[str, Any]:
    """The event dict's message context: what the delivery field, the message id and the relay
    time are taken from (docs/mta-mapping.md lists the fields)."""
    root = chain[0]
    headers: dict[str, str] = {}
    for x in chain:
        for k, v in x.headers.items():
            headers.setdefault(k, v)
    h = rec.header
    event: dict[str, Any] = {
        "line": rec.number, "timestamp": _iso(h.at), "host": h.host, "program": h.tag, "pid": h.pid,
        "queue_id": rec.queue.qid, "status": str(rec.fields.get("status", "")).lower(),
        "from": sender, "message_id": next((x.message_id for x in reversed(chain) if x.message_id), None),
        "header": headers, "client": root.client,
        "sasl_username": next((x.sasl_username for x in chain if x.sasl_username), None),
        # the relay: the first "queue active" of a message queued in this file; for one queued
        # before the file starts (a retry: its first lines are in an earlier file), its arrival
        # as Postfix's delay= states it ("the total time from message arrival")
        "queued_at": _iso((root.queued_at if root.born else root.arrival or root.queued_at) or root.first_at or h.at),
        "first_seen": _iso(root.first_at or h.at), "first_queue_id": root.qid,
    }
    if pattern is not None and sender:
        m = pattern.search(sender)
        if m and m.group(1):
            event["sender_key"] = m.group(1)
    return event
