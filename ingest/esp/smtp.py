"""SMTP failure classification: a canonical failure reason (``classify``) and the SMTP code
(``smtp_code``) from a provider's response / diagnostic text.

Self-contained on purpose (it needs only ``text``): a later issue replaces it with a
qualification table.
"""

from __future__ import annotations

import re
from typing import Any

from sendlens.ingest.esp.fields import text


# ---- failure reasons ----------------------------------------------------------------------
_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_BASIC = re.compile(r"(?<![\d.])([245]\d\d)(?![\d.])")

_TEXT_RULES: tuple[tuple[str, str], ...] = (
    (r"user unknown|unknown user|no such user|does not exist|doesn't exist|not exist|unknown recipient|"
     r"invalid recipient|recipient (address )?rejected|mailbox not found|mailbox unavailable|no mailbox|"
     r"address rejected|bad destination mailbox|unrouteable address|no such (account|recipient)", "user unknown"),
    (r"mailbox (is )?full|over quota|quota exceeded|exceeded (the )?(storage|quota)|insufficient storage|"
     r"out of (disk )?space|mailbox size limit", "mailbox full"),
    (r"disabled|deactivated|inactive (account|mailbox|user)|account (has been )?(suspended|closed|locked)",
     "account disabled"),
    (r"host (or domain name )?not found|domain (name )?not found|no mx|mx (record|info)|dns|nxdomain|"
     r"name service error|unrouteable domain|no such domain|domain does not exist|bad destination system",
     "invalid domain"),
    (r"timed? ?out|connection (refused|reset|failed|lost)|could not connect|unable to connect|"
     r"network (is )?unreachable|host unreachable|no route|delivery time expired", "unreachable"),
    (r"spam|blocked|block list|blocklist|blacklist|denied|policy|reputation|rejected|refused|"
     r"rate limit|too many|unsolicited|greylist|virus|dmarc|spf|dkim", "refused"),
)


def classify(*texts: Any) -> str | None:
    """A canonical failure reason from SMTP enhanced status codes first (x.1.1 user unknown,
    x.1.2 / x.1.10 invalid domain, x.2.2 mailbox full, x.2.1 account disabled, x.4.x unreachable,
    x.7.x refused, ...), then from words of the diagnostic. None when nothing is recognised."""
    for t in texts:
        s = text(t)
        if not s:
            continue
        for m in _ENHANCED.finditer(s):
            reason = _from_enhanced(int(m.group(2)), int(m.group(3)))
            if reason:
                return reason
    for t in texts:
        s = text(t)
        if not s:
            continue
        low = s.lower()
        for pattern, reason in _TEXT_RULES:
            if re.search(pattern, low):
                return reason
    return None


def _from_enhanced(subject: int, detail: int) -> str | None:
    if subject == 1:
        if detail in (2, 10):
            return "invalid domain"
        if detail in (0, 1, 3, 6):
            return "user unknown"
        return None
    if subject == 2:
        if detail == 2:
            return "mailbox full"
        if detail == 1:
            return "account disabled"
        if detail == 3:
            return "refused"  # message too large for the mailbox
        return None
    if subject == 3:
        return "refused" if detail == 4 else None
    if subject == 4:
        return "unreachable"
    if subject in (6, 7):
        return "refused"
    return None


def smtp_code(*texts: Any) -> str | None:
    """The SMTP reply code of a response ("550 5.1.1 ..." -> "550"), else its enhanced status
    code, else a bare numeric code the provider gave."""
    values = [s for s in (text(t) for t in texts) if s]
    for pattern, group in ((_BASIC, 1), (_ENHANCED, 0)):
        for s in values:
            m = pattern.search(s)
            if m:
                return m.group(group)
    return next((s for s in values if re.fullmatch(r"\d{3}", s)), None)
