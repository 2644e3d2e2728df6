"""Mailgun webhooks (``{"signature": {...}, "event-data": {...}}``; the signature is ignored) and
Events API items (the event object itself, or a page ``{"items": [...], "paging": {...}}``).
Timestamps are epoch seconds with a fraction.

Message = ``message.headers.message-id`` (without angle brackets) + ':' + ``recipient``.
"""

from __future__ import annotations

from typing import Any

from sendlens.ingest.esp.errors import EventRejected, unsupported
from sendlens.ingest.esp.events import hashed_id
from sendlens.ingest.esp.fields import address_of, as_int, lookup, parse_ts, strip_brackets, text
from sendlens.ingest.esp.mapping import Context, EventRows
from sendlens.ingest.esp.smtp import is_policy_refusal, smtp_code, with_status

SOURCE = "mailgun"
DEFAULT_DELIVERY_FIELDS = ("tags", "campaigns")
CUSTOM_PREFIXES = ("user-variables",)

# permanent failures Mailgun did not even attempt: its suppression lists
_SUPPRESS = {"suppress-bounce": "quarantined address", "suppress-unsubscribe": "denylisted",
             "suppress-complaint": "denylisted"}


def context(delivery_paths: tuple[str, ...]) -> Context:
    return Context(SOURCE, delivery_paths, CUSTOM_PREFIXES)


def map_event(event: dict[str, Any], ctx: Context) -> EventRows:
    data = event.get("event-data") if isinstance(event.get("event-data"), dict) else event
    etype = text(data.get("event"))
    if not etype:
        raise EventRejected("event-data.event" if data is not event else "event", "missing required field")
    etype = etype.lower()
    if etype not in ("accepted", "delivered", "failed", "rejected", "opened", "clicked", "unsubscribed",
                     "complained"):
        raise unsupported("event")
    at = parse_ts(data.get("timestamp"), "timestamp")
    recipient = data.get("recipient")
    if not text(recipient) and etype == "rejected":
        recipient = lookup(data, "message.headers.to")
    address = address_of(recipient, "recipient")
    header_id = text(lookup(data, "message.headers.message-id"))
    if not header_id:
        raise EventRejected("message.headers.message-id", "missing required field")
    message_id = f"{strip_brackets(header_id)}:{address}"
    mg_id = text(data.get("id"))
    eid = f"{SOURCE}:{mg_id}" if mg_id else hashed_id(SOURCE, data, address)
    rows = EventRows()
    rows.touch(message_id, address, ctx.delivery_key(data), at, relay=(etype == "accepted"))
    status = data.get("delivery-status") if isinstance(data.get("delivery-status"), dict) else {}
    diag = text(status.get("message")) or text(status.get("description"))
    enhanced = text(status.get("enhanced-code")) or text(status.get("bounce-code"))
    code = smtp_code(status.get("code"), diag, enhanced)
    attempt = as_int(status.get("attempt-no"))

    if etype == "accepted":
        pass
    elif etype == "delivered":
        rows.add_feedback(eid, message_id, at, "delivered", None, code, diag, attempt)
    elif etype == "failed":
        severity = (text(data.get("severity")) or "").lower()
        why = (text(data.get("reason")) or "").lower()
        # a reason only where Mailgun states one (its failure reason); otherwise the
        # qualification table qualifies the codes and message at build time
        if severity == "temporary":  # Mailgun retries
            outcome = "soft_bounce"
            reason = "refused" if why in ("greylisted", "espblock") else None
        elif severity == "permanent":
            if why in _SUPPRESS:
                outcome, reason = "hard_bounce", _SUPPRESS[why]
            elif why == "old":  # Mailgun gave up after retrying: the message expired
                outcome, reason = "expired", None
            elif why == "espblock" or is_policy_refusal(enhanced, diag):
                # refused for policy (Mailgun's or the receiver's): not the address's fault
                outcome, reason = "expired", "refused"
            else:  # bounce, generic, ...
                outcome, reason = "hard_bounce", None
        else:
            raise EventRejected("severity", f"unknown failure severity {severity!r}")
        rows.add_feedback(eid, message_id, at, outcome, reason, code,
                          with_status(enhanced, diag or text(status.get("description")) or why or None), attempt)
    elif etype == "rejected":
        # Mailgun refused to send it at all (sandbox, policy): final, not the address's fault
        rows.add_feedback(eid, message_id, at, "expired", "refused", code,
                          text(lookup(data, "reject.reason")) or text(lookup(data, "reject.description"))
                          or diag or "rejected by Mailgun")
    elif etype in ("opened", "clicked"):
        ua = text(lookup(data, "client-info.user-agent"))
        rows.add_tracking(eid, message_id, at, "open" if etype == "opened" else "click",
                          text(data.get("url")) if etype == "clicked" else None, ua)
    elif etype == "unsubscribed":
        rows.add_tracking(eid, message_id, at, "opt_out", text(data.get("url")),
                          text(lookup(data, "client-info.user-agent")))
    else:  # complained
        rows.add_tracking(eid, message_id, at, "complaint", None, text(lookup(data, "client-info.user-agent")))
    return rows
