"""KumoMTA: its JSON log records (docs.kumomta.com, Reference > Log Record), one per line as
``kumo.configure_local_logs`` writes them: plain JSON Lines, or the zstd-compressed log
segment itself (``read`` decompresses it); a JSON array of records (a batch a log hook
posted) or one pretty-printed record are read too.

Message = the record's ``id`` (the spool id) + ':' + recipient: one message is one recipient of
one spooled message. Every record about a message carries ``created`` (when KumoMTA received
it), so that is the message's relay time even when its Reception record is not in the file.

A bounce report (``OOB``) or a feedback report (``Feedback``) is a record of the INCOMING report
message: its ``id`` is the report's spool id, not the original message's. ``read`` therefore
matches each report to the message it is about, within the file: the same id and recipient
when the record has them, else the latest message to that recipient received before the
report (preferring the same envelope sender, which a VERP return path makes exact). A report
with no match becomes a message of its own (the address still gets its bounce). The records
of the report message itself (the Reception of a DSN, the Delivery of a relayed feedback
report) are not messages sent and are rejected as such.

The mapping decisions, per record type: docs/mta-mapping.md.
"""

from __future__ import annotations

import gzip
import json
import zlib
from bisect import bisect_right
from datetime import datetime
from pathlib import Path
from typing import Any

from sendlens.ingest.esp.errors import MAX_JSON_DEPTH, EventRejected, NotJson, unsupported
from sendlens.ingest.esp.events import RawEvent, hashed_id, json_depth
from sendlens.ingest.esp.fields import address_of, as_int, parse_ts, strip_brackets, text
from sendlens.ingest.esp.mapping import Context, EventRows
from sendlens.ingest.esp.smtp import is_address_failure

SOURCE = "kumomta"
# The queue name is campaign:tenant@domain (docs.kumomta.com, Reference > Queues): its
# campaign, else its tenant; the same meta values when the logger records them. Never the
# domain part, which is the recipient's domain and not a mailing.
DEFAULT_DELIVERY_FIELDS = ("queue_name.campaign", "meta.campaign", "queue_name.tenant", "meta.tenant")

# keys ``read`` adds to a record (never in a KumoMTA record; stripped before hashing)
MATCHED = "__sendlens_matched__"  # report record: {recipient: spool id of the message it is about}
REPORT_MESSAGE = "__sendlens_report_message__"  # a record of an incoming report message itself

REPORTS = ("OOB", "Feedback")
# records about a message KumoMTA received and queues (besides the outcome records)
_PROGRESS = ("Reception", "Delayed", "AdminRebind", "DeferredInjectionRebind", "XferIn", "XferOut")
_OUTCOMES = ("Delivery", "TransientFailure", "Bounce", "Expiration", "AdminBounce")
ORIGINALS = _PROGRESS + _OUTCOMES
# records of a delivery attempt: their num_attempts counts the attempts BEFORE this one
_ATTEMPTS = ("Delivery", "TransientFailure", "Bounce")

# bounce_classification (the predefined classes of KumoMTA's bounce classifier,
# crates/bounce-classify) -> (outcome of a FINAL failure record, canonical reason).
# Address-related classes are hard bounces; refusals of the message (spam, policy, content,
# authentication, relaying, the sender's domain) and temporary causes are final but soft
# (`expired`): they must not quarantine an address that did nothing wrong.
CLASSIFICATION: dict[str, tuple[str, str | None]] = {
    "InvalidRecipient": ("hard_bounce", "user unknown"),
    "BadDomain": ("hard_bounce", "invalid domain"),
    "InactiveMailbox": ("hard_bounce", "account disabled"),
    "Unsubscribe": ("hard_bounce", "denylisted"),
    "DNSFailure": ("expired", "invalid domain"),
    "QuotaIssues": ("expired", "mailbox full"),
    "NoAnswerFromHost": ("expired", "unreachable"),
    "BadConnection": ("expired", "unreachable"),
    "BadConfiguration": ("expired", "unreachable"),
    "RoutingErrors": ("expired", "unreachable"),
    "MessageExpired": ("expired", None),  # says when KumoMTA gave up, not why
    "SpamBlock": ("expired", "refused"),
    "SpamContent": ("expired", "refused"),
    "SpamRelated": ("expired", "refused"),
    "ContentRelated": ("expired", "refused"),
    "ProhibitedAttachment": ("expired", "refused"),
    "VirusRelated": ("expired", "refused"),
    "PolicyRelated": ("expired", "refused"),
    "AuthenticationFailed": ("expired", "refused"),
    "RelayDenied": ("expired", "refused"),
    "RelayingIssues": ("expired", "refused"),
    "InvalidSender": ("expired", "refused"),
    "TransientFailure": ("expired", None),
    "TooManyRecipients": ("expired", None),
    "ProtocolErrors": ("expired", None),
    "AutoReply": ("ignored", "error ignored"),
    "Subscribe": ("ignored", "error ignored"),
    "ChallengeResponse": ("ignored", "error ignored"),
}
# "Uncategorized" (and a user-defined class) says nothing: the enhanced status code decides.


# ARF feedback types (RFC 5965 and the IANA registry) that are a complaint about the mail;
# "auth-failure" (RFC 6591) and "not-spam" (RFC 6430) are not.
COMPLAINT_TYPES = ("abuse", "fraud", "virus", "other")


def context(delivery_paths: tuple[str, ...]) -> Context:
    return Context(SOURCE, delivery_paths)


# ---- reading -----------------------------------------------------------------------------
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP_MAGIC = b"\x1f\x8b"


def read(path: Path) -> list[RawEvent]:
    """The records of one log file, numbered by LINE (a rejected row names its line), each
    report record annotated with the message it is about (``MATCHED``) and each record of an
    incoming report message flagged (``REPORT_MESSAGE``). Raises NotJson (naming the line) when
    the file is not JSON log records at all."""
    return annotate(parse(decompress(Path(path).read_bytes())))


def decompress(data: bytes) -> bytes:
    """A zstd-compressed KumoMTA log segment (the default output), or a gzip file, as its
    bytes; anything else as it is."""
    if data.startswith(_ZSTD_MAGIC):
        import pyarrow as pa  # a dependency already (the lake); its codec reads zstd streams

        try:
            with pa.CompressedInputStream(pa.BufferReader(data), "zstd") as stream:
                return stream.read()
        except (OSError, ValueError) as exc:
            raise NotJson(f"not a complete zstd stream ({exc}); a segment KumoMTA is still writing "
                          "cannot be read until it is closed") from None
    if data.startswith(_GZIP_MAGIC):
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise NotJson(f"not a complete gzip file ({exc})") from None
    return data


def parse(data: bytes) -> list[RawEvent]:
    """JSON Lines (event number = line number; a line that does not parse is one rejected
    event), one JSON document (an array of records, or one record spread over lines), or
    records spread over lines one after the other (numbered by the line each starts on)."""
    try:
        text_ = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise NotJson(f"line {line}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not text_.strip():
        return []
    if text_.lstrip()[:1] in ("[", "{") and "\n" in text_.strip():
        try:
            doc = json.loads(text_)
        except (json.JSONDecodeError, RecursionError):
            doc = None
        if isinstance(doc, list):
            return [_event(i, v) for i, v in enumerate(doc, 1)]
        if isinstance(doc, dict):
            return [_event(1, doc)]
        stream = _json_stream(text_)
        if stream is not None:
            return stream
    events: list[RawEvent] = []
    parsed_any = False
    first_error: str | None = None
    for lineno, line in enumerate(text_.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
            too_deep = json_depth(value) > MAX_JSON_DEPTH
        except json.JSONDecodeError as exc:
            why = f"invalid JSON on line {lineno}: {exc.msg} (column {exc.colno})"
            first_error = first_error or f"line {lineno}: {exc.msg} (column {exc.colno})"
            events.append(RawEvent(lineno, None, json.dumps(line[:10000], ensure_ascii=False), why))
            continue
        except RecursionError:
            value, too_deep = None, True
        if too_deep:
            why = f"JSON nested deeper than {MAX_JSON_DEPTH} levels on line {lineno}"
            first_error = first_error or f"line {lineno}: JSON nested deeper than {MAX_JSON_DEPTH} levels"
            events.append(RawEvent(lineno, None, json.dumps(line[:10000], ensure_ascii=False), why))
            continue
        parsed_any = True
        events.append(RawEvent(lineno, value, line.strip()))
    if not parsed_any:
        raise NotJson(f"{first_error}: not KumoMTA JSON log records (one JSON object a line)")
    return events


def _json_stream(text_: str) -> list[RawEvent] | None:
    """Records written one after the other, each over one or several lines (`jq .` of a log),
    numbered by the line each starts on; None when some part does not parse (then the file is
    read line by line, so one bad line is one rejected event)."""
    decoder = json.JSONDecoder()
    events: list[RawEvent] = []
    pos, end, line, counted = 0, len(text_), 1, 0
    while True:
        while pos < end and text_[pos].isspace():
            pos += 1
        if pos >= end:
            return events
        try:
            value, stop = decoder.raw_decode(text_, pos)
        except (json.JSONDecodeError, RecursionError):
            return None
        if not isinstance(value, dict):
            return None
        line += text_.count("\n", counted, pos)  # the line this record starts on
        counted = pos
        events.append(_event(line, value, text_[pos:stop]))
        pos = stop


def _event(number: int, value: Any, raw: str | None = None) -> RawEvent:
    if json_depth(value) > MAX_JSON_DEPTH:
        return RawEvent(number, None, json.dumps(f"<record {number} nested too deeply>"),
                        f"JSON nested deeper than {MAX_JSON_DEPTH} levels (record {number})")
    return RawEvent(number, value, raw or json.dumps(value, ensure_ascii=False, separators=(",", ":")))


# ---- matching reports to messages --------------------------------------------------------
class _Sent:
    """The messages of the file by recipient (and by recipient and envelope sender), each list
    sorted by reception time, for the latest one received before a report."""

    def __init__(self) -> None:
        self.by_rcpt: dict[str, list[tuple[datetime, str]]] = {}
        self.by_sender: dict[tuple[str, str], list[tuple[datetime, str]]] = {}

    def add(self, address: str, sender: str | None, created: datetime, message: str) -> None:
        self.by_rcpt.setdefault(address, []).append((created, message))
        if sender:
            self.by_sender.setdefault((address, sender), []).append((created, message))

    def sort(self) -> None:
        for lists in (self.by_rcpt, self.by_sender):
            for v in lists.values():
                v.sort()

    @staticmethod
    def latest(items: list[tuple[datetime, str]], at: datetime | None) -> str | None:
        if not items:
            return None
        i = len(items) if at is None else bisect_right(items, (at, "\uffff"))
        return items[i - 1][1] if i else None

    def find(self, address: str, sender: str | None, at: datetime | None) -> str | None:
        same = self.latest(self.by_sender.get((address, sender), []), at) if sender else None
        return same or self.latest(self.by_rcpt.get(address, []), at)


def annotate(events: list[RawEvent]) -> list[RawEvent]:
    """Match each OOB / Feedback record to the message it reports on (see the module
    docstring) and flag the records of the incoming report messages themselves. Pure."""
    records = [e.value for e in events if isinstance(e.value, dict)]
    reports = [r for r in records if r.get("type") in REPORTS]
    if not reports:
        return events
    report_ids: dict[str, set[str]] = {}  # report spool id -> the original recipients it names
    for r in reports:
        rid = text(r.get("id"))
        if rid:
            report_ids.setdefault(rid, set()).update(_safe_addresses(report_recipients(r)))
    sent = _Sent()
    known: set[tuple[str, str]] = set()
    flagged: set[int] = set()
    for r in records:
        if r.get("type") not in ORIGINALS:
            continue
        rid = text(r.get("id"))
        addresses = _safe_addresses(recipients(r))
        if not rid or not addresses:
            continue
        if rid in report_ids and not (set(addresses) & report_ids[rid]):
            flagged.add(id(r))  # about the report message (a DSN's Reception, a relayed ARF)
            continue
        created = _safe_ts(r.get("created_time")) or _safe_ts(r.get("created")) or _safe_ts(r.get("timestamp"))
        for a in addresses:
            if (rid, a) not in known and created is not None:
                sent.add(a, _sender(r.get("sender")), created, rid)
            known.add((rid, a))
    sent.sort()
    out: list[RawEvent] = []
    for e in events:
        v = e.value
        if isinstance(v, dict) and id(v) in flagged:
            out.append(RawEvent(e.number, {**v, REPORT_MESSAGE: True}, e.raw, e.error))
        elif isinstance(v, dict) and v.get("type") in REPORTS:
            out.append(RawEvent(e.number, {**v, MATCHED: _match(v, sent, known)}, e.raw, e.error))
        else:
            out.append(e)
    return out


def _match(report: dict[str, Any], sent: _Sent, known: set[tuple[str, str]]) -> dict[str, str]:
    rid = text(report.get("id"))
    at = _safe_ts(report.get("event_time")) or _safe_ts(report.get("timestamp"))
    sender = _sender(report_sender(report))
    matched: dict[str, str] = {}
    for a in _safe_addresses(report_recipients(report)):
        if rid and (rid, a) in known:
            matched[a] = rid
            continue
        found = sent.find(a, sender, at)
        if found is not None:
            matched[a] = found
    return matched


def _safe_ts(value: Any) -> datetime | None:
    try:
        return parse_ts(value, "timestamp")
    except EventRejected:
        return None


def _safe_addresses(values: list[Any]) -> list[str]:
    out = []
    for v in values:
        try:
            out.append(address_of(v, "recipient"))
        except EventRejected:
            continue
    return out


def _sender(value: Any) -> str | None:
    s = text(value)
    return strip_brackets(s).lower() if s else None


# ---- the record's parts ------------------------------------------------------------------
def recipients(record: dict[str, Any]) -> list[Any]:
    """The envelope recipient(s): one address, or a list for a batch (since 2025.12.02)."""
    r = record.get("recipient")
    return [x for x in r if text(x)] if isinstance(r, list) else ([r] if text(r) else [])


def report_recipients(record: dict[str, Any]) -> list[Any]:
    """Whom a report is about. OOB: its recipient (KumoMTA writes one OOB record per failed
    recipient of the DSN, with the original recipient). Feedback: the recipient decoded from
    KumoMTA's own trace header (``supplemental_trace.recipient``), else the report's
    Original-Rcpt-To, else a removal-recipient extension; the record's own recipient is the
    feedback mailbox the report was sent to, used only when the report names nobody."""
    if record.get("type") != "Feedback":
        return recipients(record)
    fr = record.get("feedback_report")
    fr = fr if isinstance(fr, dict) else {}
    trace = fr.get("supplemental_trace")
    if isinstance(trace, dict) and text(trace.get("recipient")):
        return [trace["recipient"]]
    for values in (fr.get("original_rcpto_to"), (fr.get("extensions") or {}).get("removal-recipient")
                   if isinstance(fr.get("extensions"), dict) else None):
        if isinstance(values, list) and any(text(v) for v in values):
            return [v for v in values if text(v)]
        if text(values):
            return [values]
    return recipients(record)


def report_sender(record: dict[str, Any]) -> Any:
    """The original message's envelope sender as the report gives it: an OOB record's sender
    is the DSN's envelope recipient (the original return path); a feedback report's
    Original-Mail-From."""
    if record.get("type") == "Feedback":
        fr = record.get("feedback_report")
        return fr.get("original_mail_from") if isinstance(fr, dict) else None
    return record.get("sender")


def queue_parts(queue: Any) -> dict[str, str | None]:
    """A queue name's parts: ``[campaign:][tenant@]domain[!routing_domain]`` (KumoMTA's
    QueueNameComponents::parse). An empty campaign or tenant is None."""
    name = text(queue) or ""
    campaign = tenant = None
    prefix, at, domain = name.partition("@")
    if at:
        c, colon, t = prefix.partition(":")
        campaign, tenant = (c, t) if colon else (None, prefix)
    else:
        domain = name
    domain, _, routing = domain.partition("!")
    return {"campaign": campaign or None, "tenant": tenant or None, "domain": domain or None,
            "routing_domain": routing or None}


def response_text(response: Any) -> tuple[str | None, str | None, tuple[int, int, int] | None]:
    """(smtp code, the full response on one line with its codes, enhanced code): the line as
    KumoMTA renders a response (rfc5321 Response::to_single_line: code, class.subject.detail,
    content)."""
    if not isinstance(response, dict):
        return None, None, None
    code = as_int(response.get("code"))
    enhanced = None
    enh = response.get("enhanced_code")
    if isinstance(enh, dict):
        cls, subject, detail = (as_int(enh.get(k)) for k in ("class", "subject", "detail"))
        if cls is not None and subject is not None and detail is not None:
            enhanced = (cls, subject, detail)
    content = " ".join((text(response.get("content")) or "").split())
    status = ".".join(map(str, enhanced)) if enhanced else ""
    if status and (content == status or content.startswith(status + " ")):
        status = ""  # the content already starts with it (an OOB record's DSN diagnostic)
    pieces = [str(code) if code is not None else "", status, content]
    line = " ".join(p for p in pieces if p) or None
    return (str(code) if code is not None else None), line, enhanced


def final_outcome(classification: str | None, enhanced: tuple[int, int, int] | None) -> tuple[str, str | None]:
    """The outcome and reason of a FINAL failure (Bounce, OOB): the classifier's class when it
    names one, else the enhanced status code: a permanent address-related code is a hard
    bounce (reason left to the qualification table), anything else final but soft."""
    if classification in CLASSIFICATION:
        return CLASSIFICATION[classification]
    if is_address_failure(enhanced):  # smtp.ADDRESS_CODES
        return "hard_bounce", None
    return "expired", None


def transient_reason(classification: str | None) -> str | None:
    """The reason of a retry from the classifier's class; a class that only makes sense for a
    final record (ignored replies, an unsubscribe) gives none."""
    outcome, reason = CLASSIFICATION.get(classification or "", ("", None))
    return None if outcome == "ignored" or reason == "denylisted" else reason


# ---- mapping -----------------------------------------------------------------------------
def map_event(event: dict[str, Any], ctx: Context) -> EventRows:
    record = {k: v for k, v in event.items() if k not in (MATCHED, REPORT_MESSAGE)}
    kind = text(record.get("type"))
    if not kind:
        raise EventRejected("type", "missing required field")
    if kind not in ORIGINALS and kind not in REPORTS:
        raise unsupported("type")  # Rejection (nothing was accepted), future types
    if event.get(REPORT_MESSAGE):
        raise EventRejected("id", "unsupported event type: a record of an incoming report message "
                                  "(a bounce or feedback report), not of a message sent")
    rid = text(record.get("id"))
    if not rid:
        raise EventRejected("id", "missing required field")
    at = parse_ts(record.get("event_time") or record.get("timestamp"),
                  "event_time" if record.get("event_time") else "timestamp")
    classification = text(record.get("bounce_classification"))
    smtp, diagnostic, enhanced = response_text(record.get("response"))
    rows = EventRows()

    if kind in REPORTS:
        report = record.get("feedback_report")
        report = report if isinstance(report, dict) else {}
        if kind == "Feedback" and (text(report.get("feedback_type")) or "").lower() not in COMPLAINT_TYPES:
            raise unsupported("feedback_report.feedback_type")
        addresses = [address_of(a, "recipient") for a in report_recipients(record)]
        if not addresses:
            raise EventRejected("recipient", "missing required field")
        matched = event.get(MATCHED) or {}
        # a report joined to its message takes that message's key; an unmatched one the
        # campaign / tenant its trace header carried (include_meta_names), if any
        trace = report.get("supplemental_trace")
        key = ctx.delivery_key({"meta": trace, "queue_name": trace}) if isinstance(trace, dict) else None
        for a in addresses:
            message_id = f"{matched.get(a, rid)}:{a}"
            rows.touch(message_id, a, None if a in matched else key, at)
            eid = hashed_id(SOURCE, record, a)
            if kind == "Feedback":
                rows.add_tracking(eid, message_id, at, "complaint", None, text(report.get("user_agent")))
            else:  # OOB: the receiver accepted the message, then bounced it: final
                outcome, reason = final_outcome(classification, enhanced)
                rows.add_feedback(eid, message_id, at, outcome, reason, smtp, diagnostic)
        return rows

    addresses = [address_of(a, "recipient") for a in recipients(record)]
    if not addresses:
        raise EventRejected("recipient", "missing required field")
    view = {**record, "queue_name": queue_parts(record.get("queue"))}
    key = ctx.delivery_key(view)
    created_field = "created_time" if record.get("created_time") else "created"
    created = parse_ts(record[created_field], created_field) if record.get(created_field) is not None else None
    attempts = as_int(record.get("num_attempts"))
    attempt = (attempts + 1 if kind in _ATTEMPTS else attempts) if attempts is not None else None
    for a in addresses:
        message_id = f"{rid}:{a}"
        if created is not None:
            rows.touch(message_id, a, key, created, relay=True)
        else:
            rows.touch(message_id, a, key, at, relay=(kind == "Reception"))
        eid = hashed_id(SOURCE, record, a)
        if kind == "Delivery":
            rows.add_feedback(eid, message_id, at, "delivered", None, smtp, diagnostic, attempt)
        elif kind == "TransientFailure":  # KumoMTA will retry (or later log an Expiration)
            rows.add_feedback(eid, message_id, at, "soft_bounce", transient_reason(classification),
                              smtp, diagnostic, attempt)
        elif kind == "Bounce":  # a permanent failure: the end of delivery attempts
            outcome, reason = final_outcome(classification, enhanced)
            rows.add_feedback(eid, message_id, at, outcome, reason, smtp, diagnostic, attempt)
        elif kind == "Expiration":  # the message outlived its queue lifetime: KumoMTA gave up
            rows.add_feedback(eid, message_id, at, "expired", transient_reason(classification),
                              smtp, diagnostic, attempt)
        elif kind == "AdminBounce":  # an administrator failed the queued message
            rows.add_feedback(eid, message_id, at, "expired", "refused", smtp, diagnostic, attempt)
        # Reception and the other progress records: the message exists (relay) and nothing more
    return rows
