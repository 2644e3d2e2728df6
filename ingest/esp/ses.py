"""Amazon SES: event-publishing records (``eventType``), the older bounce/complaint/delivery
notifications (``notificationType``), either unwrapped (Firehose / JSON Lines) or inside the SNS
envelope (``Type: Notification`` with the record as a JSON string in ``Message``).

Message = ``mail.messageId`` + ':' + recipient. Every record carries ``mail.timestamp``, the
time SES accepted the message for sending: it is the relay time of each event's recipients.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sendlens.ingest.esp.errors import EventRejected, unsupported
from sendlens.ingest.esp.events import hashed_id
from sendlens.ingest.esp.fields import address_of, parse_ts, req, text
from sendlens.ingest.esp.mapping import Context, EventRows
from sendlens.ingest.esp.smtp import is_policy_refusal, smtp_code, with_status

SOURCE = "ses"
DEFAULT_DELIVERY_FIELDS = ("mail.tags.ses:configuration-set",)
CUSTOM_PREFIXES = ("mail.tags",)  # a bare name is also looked up as a message tag

# Bounce sub-types that say why SES did not even try (its suppression lists).
_SUPPRESSED = {"Suppressed": "quarantined address", "OnAccountSuppressionList": "quarantined address",
               "UnsubscribedRecipient": "denylisted"}
_BOUNCE_SUBTYPE_REASON = {"NoEmail": "user unknown", "MailboxFull": "mailbox full",
                          "MessageTooLarge": "refused", "ContentRejected": "refused",
                          "AttachmentRejected": "refused"}
# Permanent sub-types that refuse the MESSAGE (its size, content or attachment), not the address:
# final, but they must not quarantine the address
_MESSAGE_REFUSALS = {"MessageTooLarge", "ContentRejected", "AttachmentRejected"}
_DELAY_REASON = {"MailboxFull": "mailbox full", "SpamDetected": "refused",
                 "RecipientServerError": "unreachable", "IPFailure": "unreachable",
                 "TransientCommunicationFailure": "unreachable",
                 "BYOIPHostNameLookupUnavailable": "unreachable", "InternalFailure": None,
                 "SendingDeferral": None, "General": None, "Undetermined": None}


def context(delivery_paths: tuple[str, ...]) -> Context:
    return Context(SOURCE, delivery_paths, CUSTOM_PREFIXES)


def unwrap(event: dict[str, Any]) -> dict[str, Any]:
    """The SES record inside an SNS envelope (signature fields ignored), or the event itself."""
    sns_type = event.get("Type")
    if isinstance(sns_type, str) and ("Message" in event or "TopicArn" in event):
        if sns_type != "Notification":  # SubscriptionConfirmation, UnsubscribeConfirmation
            raise unsupported("Type")
        message = event.get("Message")
        if isinstance(message, dict):
            return message
        if not isinstance(message, str) or not message.strip():
            raise EventRejected("Message", "missing required field")
        try:
            inner = json.loads(message)
        except json.JSONDecodeError as exc:
            if message.startswith("Successfully validated SNS topic"):
                raise unsupported("Message") from None
            raise EventRejected("Message", f"invalid JSON in the SNS Message: {exc.msg}") from None
        if not isinstance(inner, dict):
            raise EventRejected("Message", "the SNS Message is not a JSON object")
        return inner
    return event


def map_event(event: dict[str, Any], ctx: Context) -> EventRows:
    record = unwrap(event)
    type_field = "eventType" if "eventType" in record else "notificationType"
    etype = record.get(type_field)
    if not etype:
        raise EventRejected("eventType", "missing required field")
    mail = req(record, "mail")
    mid = text(req(mail, "messageId", "mail.messageId"))
    sent_at = parse_ts(req(mail, "timestamp", "mail.timestamp"), "mail.timestamp")
    key = ctx.delivery_key(record)
    rows = EventRows()

    def message(address: str, expires_at: datetime | None = None) -> str:
        message_id = f"{mid}:{address}"
        rows.touch(message_id, address, key, sent_at, relay=True, expires_at=expires_at)
        return message_id

    def destinations() -> list[str]:
        dest = mail.get("destination")
        if not isinstance(dest, list) or not dest:
            raise EventRejected("mail.destination", "missing required field")
        return [address_of(d, "mail.destination") for d in dest]

    def single_recipient() -> str:
        dest = destinations()
        if len(dest) != 1:
            raise EventRejected("mail.destination",
                                f"{etype} of a message with {len(dest)} recipients: SES does not say which one")
        return dest[0]

    if etype == "Send":
        for a in destinations():
            message(a)
    elif etype == "Delivery":
        d = req(record, "delivery")
        at = parse_ts(req(d, "timestamp", "delivery.timestamp"), "delivery.timestamp")
        recipients = d.get("recipients") or []
        if not recipients:
            raise EventRejected("delivery.recipients", "missing required field")
        for r in recipients:
            a = address_of(r, "delivery.recipients")
            rows.add_feedback(hashed_id(SOURCE, record, a), message(a), at, "delivered",
                              smtp=smtp_code(d.get("smtpResponse")), diagnostic=text(d.get("smtpResponse")))
    elif etype == "Bounce":
        b = req(record, "bounce")
        at = parse_ts(req(b, "timestamp", "bounce.timestamp"), "bounce.timestamp")
        btype = text(b.get("bounceType"))
        sub = text(b.get("bounceSubType"))
        recipients = b.get("bouncedRecipients") or []
        if not recipients:
            raise EventRejected("bounce.bouncedRecipients", "missing required field")
        for r in recipients:
            a = address_of(r.get("emailAddress") if isinstance(r, dict) else r, "bounce.bouncedRecipients.emailAddress")
            status = text(r.get("status")) if isinstance(r, dict) else None
            diag = text(r.get("diagnosticCode")) if isinstance(r, dict) else None
            # a reason only where SES states one (its sub-type); otherwise the qualification
            # table qualifies the status and diagnostic codes at build time
            reason = _SUPPRESSED.get(sub or "") or _BOUNCE_SUBTYPE_REASON.get(sub or "")
            if btype == "Permanent":
                refused = sub in _MESSAGE_REFUSALS or (sub not in _SUPPRESSED and is_policy_refusal(status, diag))
                outcome = "expired" if refused else "hard_bounce"
                reason = reason or ("refused" if refused else None)
            elif btype == "Transient":
                # SES reports a transient bounce only once it has stopped retrying: final, soft.
                outcome = "expired"
            elif btype == "Undetermined":
                outcome, reason = "expired", None
            else:
                raise EventRejected("bounce.bounceType", f"unknown bounce type {btype!r}")
            fid = text(b.get("feedbackId"))
            eid = f"{SOURCE}:{fid}:{a}" if fid else hashed_id(SOURCE, record, a)
            rows.add_feedback(eid, message(a), at, outcome, reason, smtp_code(diag, status),
                              with_status(status, diag) or f"{btype}/{sub}", None)
    elif etype == "Complaint":
        c = req(record, "complaint")
        at = parse_ts(req(c, "timestamp", "complaint.timestamp"), "complaint.timestamp")
        recipients = c.get("complainedRecipients") or []
        if not recipients:
            raise EventRejected("complaint.complainedRecipients", "missing required field")
        fid = text(c.get("feedbackId"))
        for r in recipients:
            a = address_of(r.get("emailAddress") if isinstance(r, dict) else r,
                           "complaint.complainedRecipients.emailAddress")
            eid = f"{SOURCE}:{fid}:{a}" if fid else hashed_id(SOURCE, record, a)
            if text(c.get("complaintSubType")) == "OnAccountSuppressionList":
                # not a new complaint: SES did not send because of an earlier one
                rows.add_feedback(eid, message(a), at, "hard_bounce", "denylisted", None,
                                  "address on the account-level suppression list (complaint)")
            else:
                rows.add_tracking(eid, message(a), at, "complaint", None, text(c.get("userAgent")))
    elif etype == "Reject":
        # SES refused to send the message (it contained a virus): final, and not the address's
        # fault, so an expiry (failed in both modes, never quarantines) with reason refused
        r = req(record, "reject")
        for a in destinations():
            rows.add_feedback(hashed_id(SOURCE, record, a), message(a), sent_at, "expired", "refused",
                              None, text(r.get("reason")) or "rejected by SES")
    elif etype == "DeliveryDelay":
        dd = req(record, "deliveryDelay")
        at = parse_ts(req(dd, "timestamp", "deliveryDelay.timestamp"), "deliveryDelay.timestamp")
        delay_type = text(dd.get("delayType"))
        # when SES stops retrying: the message's validity ends then (send_log.expires_at)
        expires = dd.get("expirationTime")
        expires_at = parse_ts(expires, "deliveryDelay.expirationTime") if expires not in (None, "") else None
        recipients = dd.get("delayedRecipients") or []
        if not recipients:
            raise EventRejected("deliveryDelay.delayedRecipients", "missing required field")
        for r in recipients:
            a = address_of(r.get("emailAddress") if isinstance(r, dict) else r,
                           "deliveryDelay.delayedRecipients.emailAddress")
            status = text(r.get("status")) if isinstance(r, dict) else None
            diag = text(r.get("diagnosticCode")) if isinstance(r, dict) else None
            reason = _DELAY_REASON.get(delay_type or "")
            rows.add_feedback(hashed_id(SOURCE, record, a), message(a, expires_at), at, "soft_bounce", reason,
                              smtp_code(diag, status), with_status(status, diag) or delay_type, None)
    elif etype == "Open":
        o = req(record, "open")
        at = parse_ts(req(o, "timestamp", "open.timestamp"), "open.timestamp")
        a = single_recipient()
        rows.add_tracking(hashed_id(SOURCE, record, a), message(a), at, "open", None, text(o.get("userAgent")))
    elif etype == "Click":
        c = req(record, "click")
        at = parse_ts(req(c, "timestamp", "click.timestamp"), "click.timestamp")
        a = single_recipient()
        rows.add_tracking(hashed_id(SOURCE, record, a), message(a), at, "click", text(c.get("link")),
                          text(c.get("userAgent")))
    elif etype == "Subscription":
        s = req(record, "subscription")
        at = parse_ts(req(s, "timestamp", "subscription.timestamp"), "subscription.timestamp")
        new = s.get("newTopicPreferences") or {}
        opted_out = bool(new.get("unsubscribeAll")) or any(
            isinstance(t, dict) and str(t.get("subscriptionStatus", "")).lower() == "optout"
            for t in (new.get("topicSubscriptionStatus") or []))
        if not opted_out:  # a subscription (opt-in) is not a tracking event sendlens knows
            raise unsupported("subscription.newTopicPreferences")
        a = single_recipient()
        rows.add_tracking(hashed_id(SOURCE, record, a), message(a), at, "opt_out")
    elif etype in ("Rendering Failure", "RenderingFailure"):
        f = record.get("failure") or {}
        for a in destinations():
            rows.add_feedback(hashed_id(SOURCE, record, a), message(a), sent_at, "expired", "other", None,
                              text(f.get("errorMessage")) or "template rendering failure")
    else:
        raise unsupported(type_field)
    return rows
