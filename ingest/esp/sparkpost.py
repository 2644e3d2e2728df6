"""SparkPost webhooks: a JSON array of ``{"msys": {"<class>": {...event...}}}`` wrappers
(message_event, track_event, unsubscribe_event, gen_event, relay_event, ...; an empty ``msys`` is
the webhook's test ping) with ``timestamp`` in epoch seconds (as text); Events API results (the
event objects themselves, ISO 8601 timestamps) are read too.

Message = ``message_id`` (SparkPost's id of one recipient's message; ``transmission_id`` when
absent) + ':' + ``rcpt_to``. ``injection_time``, when present, is the relay time.
"""

from __future__ import annotations

from typing import Any

from sendlens.ingest.esp.errors import EventRejected, unsupported
from sendlens.ingest.esp.events import hashed_id
from sendlens.ingest.esp.fields import address_of, as_int, parse_ts, text
from sendlens.ingest.esp.mapping import Context, EventRows
from sendlens.ingest.esp.smtp import is_policy_refusal, smtp_code

SOURCE = "sparkpost"
DEFAULT_DELIVERY_FIELDS = ("campaign_id",)
CUSTOM_PREFIXES = ("rcpt_meta",)

# bounce_class -> (outcome of a bounce event, reason). A bounce event is final: SparkPost has
# stopped trying. Hard classes are hard bounces; soft classes (it retried until it gave up)
# are expiries; auto-replies and the like are ignored. Blocks and policy failures refuse the
# message, not the address: final, but never a quarantine (expired, refused).
_BOUNCE_CLASS: dict[int, tuple[str, str | None]] = {
    1: ("expired", None),  # Undetermined
    10: ("hard_bounce", "user unknown"),  # Invalid Recipient
    20: ("expired", None),  # Soft Bounce
    21: ("expired", "invalid domain"),  # DNS Failure
    22: ("expired", "mailbox full"),  # Mailbox Full
    23: ("expired", "refused"),  # Too Large
    24: ("expired", "unreachable"),  # Timeout
    25: ("expired", "refused"),  # Admin Failure (SparkPost's policy)
    26: ("hard_bounce", "quarantined address"),  # Smart Send suppression
    30: ("hard_bounce", None),  # Generic Bounce: No RCPT
    40: ("expired", None),  # Generic Bounce (unspecified)
    50: ("expired", "refused"),  # Mail Block
    51: ("expired", "refused"),  # Spam Block
    52: ("expired", "refused"),  # Spam Content
    53: ("expired", "refused"),  # Prohibited Attachment
    54: ("expired", "refused"),  # Relaying Denied
    60: ("ignored", "error ignored"),  # Auto-Reply
    70: ("expired", None),  # Transient Failure
    80: ("ignored", "error ignored"),  # Subscribe
    90: ("hard_bounce", "denylisted"),  # Unsubscribe
    100: ("ignored", "error ignored"),  # Challenge-Response
}
_TRACK = {"open": "open", "initial_open": "open", "amp_open": "open", "amp_initial_open": "open",
          "click": "click", "amp_click": "click", "list_unsubscribe": "opt_out", "link_unsubscribe": "opt_out",
          "spam_complaint": "complaint"}
_FEEDBACK = {"delivery", "delay", "bounce", "out_of_band", "policy_rejection", "generation_failure",
             "generation_rejection"}


def context(delivery_paths: tuple[str, ...]) -> Context:
    return Context(SOURCE, delivery_paths, CUSTOM_PREFIXES)


def unwrap(event: dict[str, Any]) -> dict[str, Any]:
    if "msys" in event:
        msys = event["msys"]
        if not isinstance(msys, dict):
            raise EventRejected("msys", "not a JSON object")
        if not msys:  # the webhook's test ping
            raise unsupported("msys")
        if len(msys) != 1:
            raise EventRejected("msys", f"several event classes in one wrapper: {', '.join(msys)}")
        (inner,) = msys.values()
        if not isinstance(inner, dict):
            raise EventRejected("msys", "not a JSON object")
        return inner
    return event


def map_event(event: dict[str, Any], ctx: Context) -> EventRows:
    data = unwrap(event)
    etype = text(data.get("type"))
    if not etype:
        raise EventRejected("type", "missing required field")
    if etype not in _TRACK and etype not in _FEEDBACK and etype != "injection":
        raise unsupported("type")
    address = address_of(data.get("rcpt_to") or data.get("raw_rcpt_to"), "rcpt_to")
    mid = text(data.get("message_id")) or text(data.get("transmission_id"))
    if not mid:
        raise EventRejected("message_id", "missing required field")
    message_id = f"{mid}:{address}"
    at = parse_ts(data.get("timestamp"), "timestamp")
    sp_id = text(data.get("event_id"))
    eid = f"{SOURCE}:{sp_id}" if sp_id else hashed_id(SOURCE, data, address)
    key = ctx.delivery_key(data)
    rows = EventRows()
    rows.touch(message_id, address, key, at, relay=(etype == "injection"))
    if text(data.get("injection_time")):
        rows.touch(message_id, address, key, parse_ts(data.get("injection_time"), "injection_time"), relay=True)
    retries = as_int(data.get("num_retries"))
    attempt = retries + 1 if retries is not None else None
    raw_reason = text(data.get("raw_reason")) or text(data.get("reason"))
    code = smtp_code(raw_reason, data.get("error_code"))
    bounce_class = as_int(data.get("bounce_class"))

    if etype == "injection":
        pass
    elif etype == "delivery":
        rows.add_feedback(eid, message_id, at, "delivered", None, None, None, attempt)
    elif etype == "delay":  # SparkPost keeps retrying
        fixed = _BOUNCE_CLASS.get(bounce_class, ("", None))[1] if bounce_class is not None else None
        if fixed in ("quarantined address", "denylisted", "error ignored", "user unknown"):
            fixed = None  # a delay is temporary whatever the class says
        rows.add_feedback(eid, message_id, at, "soft_bounce", fixed, code, raw_reason, attempt)
    elif etype in ("bounce", "out_of_band"):
        outcome, fixed = _BOUNCE_CLASS.get(bounce_class, (None, None)) if bounce_class is not None else (None, None)
        if outcome is None:  # no or unknown class: by the SMTP code
            outcome = "expired" if (code or "").startswith("4") else "hard_bounce"
        if outcome == "hard_bounce" and fixed is None and is_policy_refusal(raw_reason):
            outcome, fixed = "expired", "refused"  # a policy refusal (X.7.X), not the address's fault
        # a specific class names the reason; a generic one (1, 20, 30, 40, 70) leaves it to the
        # qualification table (the SMTP response), and 30 (no RCPT) is an empty address by default
        reason = fixed or ("address empty" if bounce_class == 30 and not raw_reason else None)
        rows.add_feedback(eid, message_id, at, outcome, reason, code, raw_reason, attempt)
    elif etype in ("policy_rejection", "generation_rejection"):
        # SparkPost refused to send (its policy, a suppression, the message's generation): final,
        # not the address's fault, so never a quarantine; an unsubscribed recipient (class 90) is
        # the address's own choice: denylisted
        if bounce_class == 90:
            outcome, reason = "hard_bounce", "denylisted"
        else:
            outcome, reason = "expired", "refused"
        rows.add_feedback(eid, message_id, at, outcome, reason, code, raw_reason or etype)
    elif etype == "generation_failure":  # the message could not be built (template / substitution)
        rows.add_feedback(eid, message_id, at, "expired", "other", code, raw_reason or etype)
    else:
        kind = _TRACK[etype]
        rows.add_tracking(eid, message_id, at, kind,
                          text(data.get("target_link_url")) if kind in ("click", "opt_out") else None,
                          text(data.get("user_agent")))
    return rows
