"""Postfix: ``maillog`` text (syslog lines) -> canonical rows, one record per delivery-status
line. ``read`` (ingest.esp.postfix_log) joins a message's lines on its queue id and emits one
event per ``status=`` line with the message's context; ``map_event`` maps one such event:
``sent`` delivered, ``deferred`` a retry (never final), ``bounced`` final (a hard bounce only
when the address is at fault, else an expiry, ``refused`` for policy / spam / content), qmgr's
``expired`` final. The decisions (year, time zone, message id, delivery key, accounting, what
each line shape becomes): docs/mta-mapping.md, section Postfix.
"""

from __future__ import annotations

import re
from typing import Any

from sendlens.ingest.esp.errors import EventRejected
from sendlens.ingest.esp.events import hashed_id
from sendlens.ingest.esp.fields import address_of, parse_ts, text
from sendlens.ingest.esp.mapping import Context, EventRows
from sendlens.ingest.esp.postfix_log import (DEFERRED, EXPIRY, SENDER_PATTERN_ENV, TZ_ENV, YEAR_ENV, LogEvents,
                                             read)
from sendlens.ingest.esp.smtp import ADDRESS_CODES, is_policy_refusal, with_status

SOURCE = "postfix"
# A header logged by header_checks INFO/WARN (names are case-insensitive: kept lower-case),
# then the sender pattern's key ($SENDLENS_POSTFIX_SENDER_PATTERN); else DEFAULT_KEY (one
# execution per UTC day under it).
DEFAULT_DELIVERY_FIELDS: tuple[str, ...] = ("header.x-campaign", "sender_key")
DEFAULT_KEY = "postfix"


def context(delivery_paths: tuple[str, ...]) -> Context:
    """Header names are case-insensitive (RFC 5322): ``header.X-Campaign`` finds the header
    logged as ``X-CAMPAIGN``."""
    return Context(SOURCE, tuple(p.lower() if p.lower().startswith("header.") else p for p in delivery_paths))


# ---- mapping ------------------------------------------------------------------------------
_SAID = re.compile(r"host (?P<host>\S+) (?:said|refused to talk to me): (?P<reply>.*)$", re.S)
_REPLY = re.compile(r"(?P<code>[245]\d\d)(?:[ -](?P<dsn>[245]\.\d{1,3}\.\d{1,3}))?(?=[ -]|$)")
# refusals of the MESSAGE (policy, spam, reputation, content): never the address's fault
_POLICY = re.compile(
    r"spam|junk|\bblock(ed|list|ing)?\b|block ?list|black ?list|deny ?list|denylisted|\bpolicy\b|reputation|"
    r"\brbl\b|dnsbl|spamhaus|spamcop|barracuda|content (rejected|filter)|message content|virus|malware|"
    r"phish|unsolicited|bulk mail|rate limit|too many (messages|connections|recipients)|dmarc|\bspf\b|"
    r"\bdkim\b|unauthenticated|authentication (required|failed)|sender address rejected|"
    r"relay(ing)? (access )?denied|access denied|not permitted|prohibited|(?<!connection )\brefused\b|\bban(ned)?\b")
# the ADDRESS does not exist or cannot receive: a hard bounce (quarantines the address)
_ADDRESS = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient|account|address|person)|"
    r"(user|mailbox|recipient|address|account)( name)? (does not|doesn't|did not|does ?n't) exist|"
    r"does not exist|invalid (recipient|mailbox|address|user)|unknown (recipient|mailbox|address|local ?part)|"
    r"(recipient|mailbox|user|address) not found|mailbox unavailable|mailbox (is )?(disabled|inactive)|"
    r"account (is |has been )?(disabled|deactivated|closed|suspended|terminated|discontinued)|"
    r"not a valid (mailbox|recipient|user|address)|unrouteable address|no mailbox here|"
    r"(doesn't|does not|don't) have an?\s+(\w+\s+)?account|"
    r"(host|domain)( name)? not found|no such domain|domain does not exist|does not accept mail")


_NAMES = re.compile(r"https?://\S+|<[^<>]*>|\[[^\[\]]*\]|[\w+-]+(?:\.[\w+-]+)+")


def _words(diagnostic: str | None) -> str:
    """The diagnostic's words, lower-case, without names (host and domain names, addresses, IP
    literals, URLs): "blocked.example" or "mx.spam-filter.example" must not read as a block."""
    return _NAMES.sub(" ", diagnostic or "").lower()


def _codes(dsn: str | None) -> tuple[int | None, int | None]:
    if not dsn:
        return None, None
    _, subject, detail = dsn.split(".")
    return int(subject), int(detail)


def final_failure(dsn: str | None, diagnostic: str | None) -> tuple[str, str | None]:
    """The canonical outcome and reason of a final failure (``status=bounced``): ``hard_bounce``
    only when the address is at fault (ADDRESS_CODES, X.4.4 for a domain that does not exist,
    Microsoft's X.4.1 "Recipient address rejected: Access denied", or a generic code whose
    diagnostic says the user / mailbox / domain does not exist or is disabled); a refusal of the message
    (X.6.X / X.7.X, or a diagnostic that says spam, policy, block, reputation, content) is
    ``expired`` with reason ``refused``; anything else is ``expired`` without a reason (the
    qualification table reads the codes and the text)."""
    low = _words(diagnostic)
    subject, detail = _codes(dsn)
    if (subject, detail) in ADDRESS_CODES and not (subject == 1 and "sender" in low):
        return "hard_bounce", None
    if is_policy_refusal(dsn) or (dsn is None and is_policy_refusal(diagnostic)):
        return "expired", "refused"
    if subject == 1:  # X.1.4 ambiguous, X.1.7 / X.1.8 the sender's address, X.1.9 ...: not this address
        return "expired", None
    if subject == 4 and detail == 1 and "recipient address rejected: access denied" in low:
        return "hard_bounce", None  # Microsoft 365 directory-based edge blocking: no such recipient
    if _POLICY.search(low):
        return "expired", "refused"
    if subject == 4 and detail == 4 and re.search(r"not found|does not exist|nxdomain|no mail hosts|nullmx", low):
        return "hard_bounce", None  # Postfix: "Host or domain name not found" for the recipient domain
    if subject in (None, 0, 2, 5) and _ADDRESS.search(low) and "sender" not in low:
        return "hard_bounce", None
    return "expired", None


def response(dsn: str | None, reply: str | None) -> tuple[str | None, str | None]:
    """(smtp_code, diagnostic) of a status line: the remote server's reply without Postfix's
    ``host X said:`` prefix (the stage ``(in reply to RCPT TO command)`` is kept), with the reply
    code and the enhanced status code in front (``550 5.1.1 <a@b>: ...``); Postfix's own texts
    (``connect to ...: Connection timed out``) get the enhanced code in front. smtp_code: the
    reply code, else the enhanced status code."""
    body = (reply or "").strip()
    m = _SAID.match(body)
    if m:
        body = m.group("reply").strip()
    code = None
    rc = _REPLY.match(body)
    if rc:
        code = rc.group("code")
    return code or dsn, with_status(dsn, body)


def map_event(event: dict[str, Any], ctx: Context) -> EventRows:
    reject = event.get("_reject")
    if reject:
        raise EventRejected(reject.get("field"), reject.get("reason") or "unreadable line")
    status = text(event.get("status")) or ""
    at = parse_ts(event.get("timestamp"), "timestamp")
    relayed = parse_ts(event.get("queued_at"), "queued_at")
    key = ctx.delivery_key(event) or DEFAULT_KEY
    base = text(event.get("message_id")) or (
        f"{SOURCE}:{event.get('host')}:{event.get('first_queue_id') or event.get('queue_id')}:"
        f"{parse_ts(event.get('first_seen'), 'first_seen'):%Y-%m-%dT%H:%M:%SZ}")
    rows = EventRows()

    def message(rcpt: Any) -> tuple[str, str]:
        address = address_of(rcpt, "to")
        message_id = f"{base}:{address}"
        rows.touch(message_id, address, key, relayed, relay=True)
        return message_id, address

    def event_id(address: str) -> str:
        return hashed_id(SOURCE, event.get("timestamp") or "", event.get("host") or "", event.get("queue_id") or "",
                         status, event.get("dsn") or "", event.get("reply") or "", address)

    if status in EXPIRY and "recipients" in event:
        recipients = event.get("recipients") or []
        if not recipients:
            raise EventRejected("to", "missing required field")
        for r in recipients:
            mid, address = message(r.get("to"))
            smtp, diag = response(r.get("dsn"), r.get("reply"))
            said = f"status={status}, returned to sender" + (f"; last deferral: {diag}" if diag else "")
            r_at = parse_ts(r["timestamp"], "timestamp") if r.get("timestamp") else at
            rows.add_feedback(event_id(address), mid, r_at, "expired", None, smtp, said, r.get("attempt"))
        return rows
    mid, address = message(event.get("to"))
    dsn = text(event.get("dsn"))
    smtp, diag = response(dsn, text(event.get("reply")))
    attempt = event.get("attempt")
    if status == "sent":
        rows.add_feedback(event_id(address), mid, at, "delivered", None, smtp, diag, attempt)
    elif status in DEFERRED:
        rows.add_feedback(event_id(address), mid, at, "soft_bounce", None, smtp, diag, attempt)
    elif status == "bounced":
        outcome, reason = final_failure(dsn, diag)
        rows.add_feedback(event_id(address), mid, at, outcome, reason, smtp, diag, attempt)
    elif status in EXPIRY:  # a per-recipient expiry line
        rows.add_feedback(event_id(address), mid, at, "expired", None, smtp,
                          diag or f"status={status}, returned to sender", attempt)
    else:
        raise EventRejected("status", f"unsupported status {status!r} (known: sent, deferred, bounced, "
                                      "expired, SOFTBOUNCE)")
    return rows


__all__ = ["SOURCE", "DEFAULT_DELIVERY_FIELDS", "DEFAULT_KEY", "YEAR_ENV", "TZ_ENV", "SENDER_PATTERN_ENV",
           "LogEvents", "context", "read", "map_event", "final_failure", "response"]
