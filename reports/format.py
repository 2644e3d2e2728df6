"""How the HTML report writes values: counts with separators, rates as percentages with one
decimal, instants in UTC. Plain text in, plain text out (the templates escape it); each
function is also a Jinja filter of the same name (see ``html_report.environment``)."""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import PurePath
from typing import Any

DASH = "–"  # what an absent value is shown as
MINUS = "−"  # typographic minus in numbers


def num(v: Any) -> float | None:
    """``v`` as a float, or None (None, booleans, NaN and non-numbers)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def fmt_int(v: Any, signed: bool = False) -> str:
    f = num(v)
    if f is None:
        return DASH
    if f.is_integer():
        s = f"{int(f):+,}" if signed else f"{int(f):,}"
    else:
        s = f"{f:+,.2f}" if signed else f"{f:,.2f}"
    return s.replace("-", MINUS)


def fmt_pct(v: Any) -> str:
    f = num(v)
    return DASH if f is None else f"{f * 100:.1f}%".replace("-", MINUS)


def fmt_pp(v: Any) -> str:
    """A difference of two rates in percentage points, one decimal."""
    f = num(v)
    if f is None:
        return DASH
    return f"{f * 100:+.1f} pp".replace("-", MINUS)


def to_utc(v: Any) -> dt.datetime | None:
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.timezone.utc).replace(tzinfo=None) if v.tzinfo else v
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day)
    return None


def fmt_ts(v: Any) -> str:
    if v is None:
        return DASH
    t = to_utc(v)
    if t is None:
        return str(v)
    return t.strftime("%Y-%m-%d %H:%M" + (":%S" if t.second else "")) + " UTC"


def fmt_ts_short(v: Any) -> str:
    """An instant in a narrow column whose header says "(UTC)": "09 Jan 2026 08:39"."""
    if v is None:
        return DASH
    t = to_utc(v)
    return str(v) if t is None else t.strftime("%d %b %Y %H:%M")


def fmt_any(v: Any) -> str:
    if v is None:
        return DASH
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (dt.datetime, dt.date)):
        return fmt_ts(v)
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt_any(x) for x in v)
    if isinstance(v, float):
        return f"{v:,.4g}" if not v.is_integer() else f"{int(v):,}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def fmt_col(col: str, v: Any) -> str:
    """Format a value by its column name: rates as %, counts with separators."""
    c = col.lower()
    if v is None:
        return DASH
    if isinstance(v, bool):
        return "yes" if v else "no"
    if c.endswith("_rate") or c == "rate" or c.endswith("_pct") or c == "share":
        return fmt_pct(v)
    if isinstance(v, (int, float)):
        return fmt_int(v) if float(v).is_integer() else fmt_any(v)
    return fmt_any(v)


def fmt_kpi(kpi: str, v: Any) -> str:
    """A reconciliation value: a rate KPI as a percentage, a count as a count."""
    return fmt_pct(v) if is_rate_kpi(kpi) else fmt_int(v)


def fmt_kpi_diff(kpi: str, v: Any) -> str:
    """A reconciliation difference: rates in percentage points (two decimals below 0.05 pp),
    counts signed."""
    f = num(v)
    if f is None:
        return DASH
    if not is_rate_kpi(kpi):
        return fmt_int(f, signed=True)
    return fmt_pp(f) if abs(f) >= 0.0005 else f"{f * 100:+.2f} pp".replace("-", MINUS)


def fmt_delay(seconds: Any) -> str:
    """A start delay: signed minutes below two hours, else signed hours."""
    s = num(seconds)
    if s is None:
        return DASH
    mins = s / 60
    return (f"{mins:+.0f} min" if abs(mins) < 120 else f"{mins / 60:+.1f} h").replace("-", MINUS)


def fmt_details(det: Any, limit: int = 400) -> str:
    """A check's details (text, mapping or list) on one line, cut at ``limit`` characters."""
    if isinstance(det, dict):
        det = ", ".join(f"{k}={fmt_any(v)}" for k, v in det.items())
    elif isinstance(det, (list, tuple)):
        det = "; ".join(fmt_any(x) for x in det)
    det = "" if det is None else str(det)
    return det if len(det) <= limit else det[: limit - 1] + "…"


def is_rate_kpi(kpi: str) -> bool:
    k = kpi.lower()
    return "rate" in k or k.endswith("_pct") or k.endswith("%")


def reasons_list(v: Any) -> list[str]:
    """Reasons or findings as a list: a list as is, a text split on ``;`` (else ``|``, ``,``)."""
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return [str(x) for x in v if x is not None and str(x).strip()]
    s = str(v).strip()
    if not s:
        return []
    for sep in (";", "|", ","):
        if sep in s:
            return [p.strip() for p in s.split(sep) if p.strip()]
    return [s]


def code_words(code: str) -> str:
    """A finding code as words ('sent_without_x' -> 'sent without x'); a sentence as is."""
    return code if " " in code else code.replace("_", " ")


def col_title(col: str) -> str:
    """A column name as a table header: 'excluded_targets' -> 'Excluded targets'."""
    return col[:1].upper() + col[1:].replace("_", " ")


def plural(n: int, one: str, many: str | None = None) -> str:
    return one if n == 1 else (many if many is not None else one + "s")


FILTERS = {f.__name__: f for f in (fmt_int, fmt_pct, fmt_pp, fmt_ts, fmt_ts_short, fmt_any, fmt_col, fmt_kpi,
                                   fmt_kpi_diff, fmt_delay, fmt_details, reasons_list, code_words,
                                   col_title, plural)}


# run_info keys never shown in a file meant for recipients: the checks (the data-quality part
# shows them), the as-of (shown on its own), the warehouse's local path and the PII switch
# (said in words elsewhere)
HIDDEN_RUN_INFO = frozenset({"checks", "as_of", "warehouse", "include_pii"})


def public_run_info(run_info: dict | None) -> list[tuple[str, Any]]:
    """The run's facts a report or workbook may show: (key, value) pairs, without
    :data:`HIDDEN_RUN_INFO` and without any value that is a local path (it says nothing to a
    recipient and may say too much)."""
    out = []
    for k, v in (run_info or {}).items():
        if k in HIDDEN_RUN_INFO or v is None:
            continue
        text = str(v)
        if isinstance(v, (str, PurePath)) and (text.startswith(("/", "~", "\\\\")) or re.match(r"[A-Za-z]:[\\/]", text)):
            continue
        out.append((str(k), v))
    return out
