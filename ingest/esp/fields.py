"""Field access on one provider event (dotted paths, required fields, text, addresses,
booleans, integers) and its timestamps (``parse_ts``). Pure; a bad value raises
``EventRejected`` naming the field.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sendlens.ingest.contracts import MAX_OFFSET_MINUTES
from sendlens.ingest.esp.errors import EventRejected


# ---- field access -------------------------------------------------------------------------
def lookup(obj: Any, path: str) -> Any:
    """A value by dotted path; a key that itself contains dots ("ses:configuration-set",
    user variables) is matched whole first. None when absent."""
    if obj is None or path == "":
        return obj
    if isinstance(obj, dict):
        if path in obj:
            return obj[path]
        parts = path.split(".")
        for i in range(len(parts) - 1, 0, -1):
            head = ".".join(parts[:i])
            if head in obj:
                found = lookup(obj[head], ".".join(parts[i:]))
                if found is not None:
                    return found
        return None
    if isinstance(obj, list):
        head, _, rest = path.partition(".")
        if head.isdigit() and int(head) < len(obj):
            return lookup(obj[int(head)], rest)
    return None


def req(obj: Any, path: str, label: str | None = None) -> Any:
    value = lookup(obj, path)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise EventRejected(label or path, "missing required field")
    return value


def text(value: Any) -> str | None:
    """A scalar as text; the first non-empty element of a list (tags, categories)."""
    if value is None or isinstance(value, dict):
        return None
    if isinstance(value, list):
        for v in value:
            t = text(v)
            if t:
                return t
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    s = str(value).strip()
    return s or None


def address_of(value: Any, label: str) -> str:
    """A recipient address, lower-cased; "Name <a@b>" is reduced to a@b."""
    s = text(value)
    if not s:
        raise EventRejected(label, "missing required field")
    m = re.search(r"<([^<>@\s]+@[^<>\s]+)>", s)
    if m:
        s = m.group(1)
    return s.strip().lower()


def strip_brackets(value: str) -> str:
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    return value


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "y", "t")
    return False


def as_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


# ---- timestamps ---------------------------------------------------------------------------
_EPOCH = datetime(1970, 1, 1)
_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$"
)


def parse_ts(value: Any, label: str) -> datetime:
    """Naive UTC from epoch seconds (int/float or numeric text; values too large for seconds
    are taken as epoch milliseconds, then microseconds) or ISO 8601 with or without an offset
    (no offset = UTC; any number of fractional digits)."""
    if value is None or isinstance(value, bool) or (isinstance(value, str) and not value.strip()):
        raise EventRejected(label, "missing required field")
    number: float | None = None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", value):
        number = float(value)
    if number is not None:
        if abs(number) >= 1e14:
            number /= 1e6
        elif abs(number) >= 1e11:
            number /= 1e3
        try:
            return _EPOCH + timedelta(microseconds=round(number * 1e6))
        except OverflowError:
            raise EventRejected(label, f"invalid timestamp {value!r}") from None
    if not isinstance(value, str):
        raise EventRejected(label, f"invalid timestamp {value!r}")
    m = _ISO.match(value.strip())
    if not m:
        raise EventRejected(label, f"invalid timestamp {value!r}: expected ISO 8601 or epoch seconds")
    y, mo, d, h, mi, s, frac, tz = m.groups()
    try:
        ts = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0),
                      int((frac or "0")[:6].ljust(6, "0")))
    except ValueError:
        raise EventRejected(label, f"invalid timestamp {value!r}") from None
    if tz and tz not in ("Z", "z", "UTC", "GMT"):
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
        if minutes >= 60 or hours * 60 + minutes > MAX_OFFSET_MINUTES:
            raise EventRejected(label, f"UTC offset {tz} is outside -18:00..+18:00")
        ts = ts - sign * timedelta(hours=hours, minutes=minutes)
    return ts
