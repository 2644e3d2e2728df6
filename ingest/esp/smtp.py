"""SMTP codes in a provider's response or diagnostic text: the reply code (``smtp_code``), the
RFC 3463 enhanced status code (``enhanced_code``), whether a final failure is a policy refusal
rather than the address's fault (``is_policy_refusal``), and a diagnostic that carries the
enhanced code (``with_status``).

Failure REASONS are not guessed here: a feed's own classification is mapped by each provider
module, and anything else is qualified at build time by the editable qualification table
(seeds/bounce_qualification.csv, docs/bounce-qualification.md) from these codes and the text.
"""

from __future__ import annotations

import re
from typing import Any

from sendlens.ingest.esp.fields import text

ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_BASIC = re.compile(r"(?<![\d.])([245]\d\d)(?![\d.])")

# RFC 3463 (and RFC 7293, RFC 7505) subject.detail of a permanent failure that is the recipient
# ADDRESS's fault: bad mailbox / system / syntax (X.1.0-X.1.3), mailbox moved (X.1.6), null MX
# (X.1.10), mailbox disabled (X.2.1), account disabled (X.7.13), mailbox / domain owner changed
# (X.7.17, X.7.18). Every other permanent failure is final but not a hard bounce (the MTA readers).
ADDRESS_CODES = frozenset({(1, 0), (1, 1), (1, 2), (1, 3), (1, 6), (1, 10), (2, 1), (7, 13), (7, 17), (7, 18)})


def enhanced_parts(*texts: Any) -> tuple[int, int, int] | None:
    """The first enhanced status code in the texts as (class, subject, detail), if any."""
    for t in texts:
        m = ENHANCED.search(text(t) or "")
        if m:
            return int(m.group(1)), int(m.group(2)), int(m.group(3))
    return None


def is_address_failure(enhanced: tuple[int, int, int] | None) -> bool:
    """True when a permanent enhanced status code says the recipient address is at fault."""
    return bool(enhanced) and enhanced[0] == 5 and (enhanced[1], enhanced[2]) in ADDRESS_CODES


def enhanced_code(*texts: Any) -> str | None:
    """The first RFC 3463 enhanced status code (class.subject.detail) in the texts, if any."""
    for t in texts:
        s = text(t)
        if s:
            m = ENHANCED.search(s)
            if m:
                return m.group(0)
    return None


def is_policy_refusal(*texts: Any) -> bool:
    """True when the failure's enhanced status code says security or policy (X.7.X) or content
    (X.6.X, e.g. a message the receiver will not take): a refusal of the message, not a fault of
    the address, so it must not quarantine the address (RFC 3463 section 3)."""
    code = enhanced_code(*texts)
    return code is not None and code.split(".")[1] in ("6", "7")


_LEADING_REPLY = re.compile(r"^([245]\d\d)[ -]")


def with_status(status: Any, diagnostic: Any) -> str | None:
    """The diagnostic text carrying the enhanced status code the provider or MTA gave apart
    (SES ``status``, Mailgun ``enhanced-code``, Postfix ``dsn=``, PowerMTA ``dsnStatus``), when
    the text has no enhanced code of its own: after its leading reply code (``550 5.1.1 ...``),
    else in front. The qualification table reads the codes from the text."""
    diag, code = text(diagnostic), text(status)
    if not code or not ENHANCED.fullmatch(code):
        return diag
    if not diag:
        return code
    if ENHANCED.search(diag):
        return diag
    m = _LEADING_REPLY.match(diag)
    return f"{m.group(1)} {code} {diag[m.end():].lstrip()}" if m else f"{code} {diag}"


def smtp_code(*texts: Any) -> str | None:
    """The SMTP reply code of a response ("550 5.1.1 ..." -> "550"), else its enhanced status
    code, else a bare numeric code the provider gave."""
    values = [s for s in (text(t) for t in texts) if s]
    for pattern, group in ((_BASIC, 1), (ENHANCED, 0)):
        for s in values:
            m = pattern.search(s)
            if m:
                return m.group(group)
    return next((s for s in values if re.fullmatch(r"\d{3}", s)), None)
