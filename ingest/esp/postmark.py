"""Postmark webhooks: one JSON object per post, its kind in ``RecordType`` (Delivery, Bounce,
SpamComplaint, Open, Click, SubscriptionChange). Times are ISO 8601 with an offset and up to 7
fractional digits. Postmark sends no "sent" event: a message's relay time is its earliest event.

Message = ``MessageID`` + ':' + recipient (``Email`` on Bounce / SpamComplaint, ``Recipient``
on the others).
"""

from __future__ import annotations

from typing import Any

from sendlens.ingest.esp.errors import EventRejected, unsupported
from sendlens.ingest.esp.events import hashed_id
from sendlens.ingest.esp.fields import address_of, parse_ts, req, text
from sendlens.ingest.esp.mapping import Context, EventRows
from sendlens.ingest.esp.smtp import smtp_code

SOURCE = "postmark"
DEFAULT_DELIVERY_FIELDS = ("Tag", "MessageStream")
CUSTOM_PREFIXES = ("Metadata",)

# Bounce Type -> (outcome, the reason Postmark's type states, None: qualified from Details by the
# qualification table at build time). Postmark retries a temporary failure itself and posts the
# bounce once it has stopped (SoftBounce, DnsError: final, soft = expired); a Transient bounce is
# a delay notice while delivery is still being retried (soft_bounce). Blocked, spam, virus and
# DMARC notices refuse the message, not the address: final, but never a quarantine (expired).
_BOUNCE_TYPES: dict[str, tuple[str, str | None]] = {
    "HardBounce": ("hard_bounce", None),
    "BadEmailAddress": ("hard_bounce", "user unknown"),
    "ManuallyDeactivated": ("hard_bounce", "quarantined address"),
    "Blocked": ("expired", "refused"),
    "SpamNotification": ("expired", "refused"),
    "VirusNotification": ("expired", "refused"),
    "DMARCPolicy": ("expired", "refused"),
    "Transient": ("soft_bounce", None),
    "SoftBounce": ("expired", None),
    "DnsError": ("expired", "invalid domain"),
    "Unknown": ("expired", None),
    "SMTPApiError": ("expired", "other"),
    "TemplateRenderingFailed": ("expired", "other"),
    "AutoResponder": ("ignored", "error ignored"),
    "AddressChange": ("ignored", "error ignored"),
    "Subscribe": ("ignored", "error ignored"),
    "ChallengeVerification": ("ignored", "error ignored"),
    "OpenRelayTest": ("ignored", "error ignored"),
    "Unconfirmed": ("ignored", "error ignored"),
}


def context(delivery_paths: tuple[str, ...]) -> Context:
    return Context(SOURCE, delivery_paths, CUSTOM_PREFIXES)


def map_event(event: dict[str, Any], ctx: Context) -> EventRows:
    rtype = text(event.get("RecordType"))
    if not rtype:
        if "FromFull" in event:  # an inbound message, not a sending event
            raise unsupported("RecordType")
        raise EventRejected("RecordType", "missing required field")
    if rtype not in ("Delivery", "Bounce", "SpamComplaint", "Open", "Click", "SubscriptionChange"):
        raise unsupported("RecordType")
    recipient_field = "Email" if rtype in ("Bounce", "SpamComplaint") else "Recipient"
    address = address_of(event.get(recipient_field) or event.get("Recipient") or event.get("Email"),
                         recipient_field)
    mid = text(req(event, "MessageID"))
    message_id = f"{mid}:{address}"
    time_field = {"Delivery": "DeliveredAt", "Bounce": "BouncedAt", "SpamComplaint": "BouncedAt",
                  "Open": "ReceivedAt", "Click": "ReceivedAt", "SubscriptionChange": "ChangedAt"}[rtype]
    at = parse_ts(event.get(time_field), time_field)
    pm_id = text(event.get("ID"))
    eid = f"{SOURCE}:{pm_id}" if pm_id else hashed_id(SOURCE, event, address)
    rows = EventRows()
    rows.touch(message_id, address, ctx.delivery_key(event), at)
    details = text(event.get("Details"))

    if rtype == "Delivery":
        rows.add_feedback(eid, message_id, at, "delivered", None, smtp_code(details), details)
    elif rtype == "Bounce":
        btype = text(event.get("Type")) or ""
        if btype == "SpamComplaint":
            rows.add_tracking(eid, message_id, at, "complaint")
        elif btype == "Unsubscribe":  # an unsubscribe request mailed back
            rows.add_tracking(eid, message_id, at, "opt_out")
        elif btype in _BOUNCE_TYPES:
            outcome, reason = _BOUNCE_TYPES[btype]
            if outcome == "hard_bounce" and reason is None and _says_inactive(details, event.get("Description")):
                reason = "quarantined address"  # Postmark refused: the address is inactive
            rows.add_feedback(eid, message_id, at, outcome, reason, smtp_code(details),
                              details or text(event.get("Description")) or btype)
        elif btype == "InboundError":
            raise unsupported("Type")
        else:
            raise EventRejected("Type", f"unknown bounce type {btype!r}")
    elif rtype == "SpamComplaint":
        rows.add_tracking(eid, message_id, at, "complaint")
    elif rtype == "Open":
        rows.add_tracking(eid, message_id, at, "open", None, text(event.get("UserAgent")))
    elif rtype == "Click":
        rows.add_tracking(eid, message_id, at, "click", text(event.get("OriginalLink")),
                          text(event.get("UserAgent")))
    else:  # SubscriptionChange
        suppress = event.get("SuppressSending")
        why = text(event.get("SuppressionReason"))
        if suppress is True and why == "ManualSuppression":
            rows.add_tracking(eid, message_id, at, "opt_out")
        else:
            # a reactivation, or the suppression Postmark adds after a hard bounce or a spam
            # complaint (that bounce / complaint arrives as its own event)
            raise unsupported("SuppressionReason" if suppress is True else "SuppressSending")
    return rows


def _says_inactive(*texts: Any) -> bool:
    for t in texts:
        s = (text(t) or "").lower()
        if "inactive" in s or "suppressed" in s or "suppression" in s:
            return True
    return False
