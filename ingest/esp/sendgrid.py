"""SendGrid Event Webhook: a JSON array of events (``event``, ``email``, ``timestamp`` in epoch
seconds, ``sg_event_id``, ``sg_message_id``, categories and custom arguments at the top level).

Message = the X-Message-Id (``sg_message_id`` up to its first '.', else ``smtp-id``) + ':' +
``email``.
"""

from __future__ import annotations

from typing import Any

from sendlens.ingest.esp.errors import EventRejected, unsupported
from sendlens.ingest.esp.events import hashed_id
from sendlens.ingest.esp.fields import address_of, as_bool, as_int, parse_ts, strip_brackets, text
from sendlens.ingest.esp.mapping import Context, EventRows, machine_user_agent
from sendlens.ingest.esp.smtp import is_policy_refusal, smtp_code, with_status

SOURCE = "sendgrid"
DEFAULT_DELIVERY_FIELDS = ("category",)
CUSTOM_PREFIXES = ("unique_args", "custom_args")  # custom args normally sit at the top level

# `dropped`: SendGrid did not try; its reason names the suppression list.
_DROP_REASONS = {
    "bounced address": "quarantined address",
    "invalid": "user unknown",
    "invalid address": "user unknown",
    "unsubscribed address": "denylisted",
    "spam reporting address": "denylisted",
    "spam content (if spam checker app enabled)": "refused",
    "spam content": "refused",
}
_ADDRESS_DROPS = {"quarantined address", "user unknown", "denylisted"}
# bounce_classification (SendGrid's own grouping of the remote response)
_CLASSIFICATION = {
    "invalid address": "user unknown",
    "mailbox unavailable": "account disabled",
    "technical": "unreachable",
    "content": "refused",
    "reputation": "refused",
    "frequency or volume": "refused",
}
_ADDRESS_CLASSES = {"user unknown", "account disabled"}  # the classifications that are the address's


def context(delivery_paths: tuple[str, ...]) -> Context:
    return Context(SOURCE, delivery_paths, CUSTOM_PREFIXES)


def _message_key(event: dict[str, Any]) -> str:
    sg = text(event.get("sg_message_id"))
    if sg:
        return sg.split(".", 1)[0]
    smtp_id = text(event.get("smtp-id"))
    if smtp_id:
        return strip_brackets(smtp_id)
    raise EventRejected("sg_message_id", "missing required field")


def map_event(event: dict[str, Any], ctx: Context) -> EventRows:
    etype = text(event.get("event"))
    if not etype:
        raise EventRejected("event", "missing required field")
    if etype not in ("processed", "deferred", "delivered", "bounce", "dropped", "open", "click",
                     "spamreport", "unsubscribe", "group_unsubscribe"):
        raise unsupported("event")
    address = address_of(event.get("email"), "email")
    at = parse_ts(event.get("timestamp"), "timestamp")
    message_id = f"{_message_key(event)}:{address}"
    sg_event = text(event.get("sg_event_id"))
    eid = f"{SOURCE}:{sg_event}" if sg_event else hashed_id(SOURCE, event, address)
    rows = EventRows()
    rows.touch(message_id, address, ctx.delivery_key(event), at, relay=(etype == "processed"))

    if etype == "processed":
        pass
    elif etype == "delivered":
        resp = text(event.get("response"))
        rows.add_feedback(eid, message_id, at, "delivered", None, smtp_code(resp), resp)
    elif etype == "deferred":
        resp = text(event.get("response"))
        rows.add_feedback(eid, message_id, at, "soft_bounce", None,
                          smtp_code(resp), resp, as_int(event.get("attempt")))
    elif etype == "bounce":
        btype = (text(event.get("type")) or "bounce").lower()
        reason_text = text(event.get("reason"))
        status = text(event.get("status"))
        by_class = _CLASSIFICATION.get((text(event.get("bounce_classification")) or "").lower())
        # a reason only where SendGrid states one (bounce_classification); otherwise the
        # qualification table qualifies the status and reason text at build time
        address_fault = by_class in _ADDRESS_CLASSES
        if btype == "expired":  # SendGrid stopped retrying a deferred message
            outcome, reason = "expired", by_class
        elif btype == "blocked" and not address_fault:
            # the receiver refused the message (reputation, content, volume) and SendGrid does not
            # retry a block: final, but not the address's fault
            outcome, reason = "expired", by_class or "refused"
        elif btype in ("bounce", "blocked"):
            if not address_fault and (by_class == "refused" or is_policy_refusal(status, reason_text)):
                outcome, reason = "expired", "refused"
            else:
                outcome, reason = "hard_bounce", by_class
        else:
            raise EventRejected("type", f"unknown bounce type {btype!r}")
        rows.add_feedback(eid, message_id, at, outcome, reason, smtp_code(reason_text, status),
                          with_status(status, reason_text) or status)
    elif etype == "dropped":
        reason_text = text(event.get("reason")) or text(event.get("type"))
        reason = _DROP_REASONS.get((reason_text or "").lower()) or "other"
        # dropped for a reason of the address (its suppression lists, an invalid address): hard;
        # dropped for the message (spam content, an invalid SMTPAPI header, ...): final, but it
        # must not quarantine the address
        outcome = "hard_bounce" if reason in _ADDRESS_DROPS else "expired"
        rows.add_feedback(eid, message_id, at, outcome, reason, None, reason_text or "dropped")
    elif etype in ("open", "click"):
        ua = text(event.get("useragent"))
        if etype == "open" and as_bool(event.get("sg_machine_open")):
            ua = machine_user_agent(ua)
        rows.add_tracking(eid, message_id, at, etype, text(event.get("url")) if etype == "click" else None, ua)
    elif etype == "spamreport":
        rows.add_tracking(eid, message_id, at, "complaint", None, text(event.get("useragent")))
    else:  # unsubscribe, group_unsubscribe
        rows.add_tracking(eid, message_id, at, "opt_out", text(event.get("url")), text(event.get("useragent")))
    return rows
