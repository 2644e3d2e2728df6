"""Plain text for results: values as JSON-friendly Python, expectation arguments and row
conditions as one readable line, the first line of an error message."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any


def _first_line(text: str) -> str:
    text = str(text).strip()
    line = text.splitlines()[0][:300] if text else text
    return line[len("Error: "):] if line.startswith("Error: ") else line


def _plain(v: Any) -> Any:
    if v is None:
        return None
    try:
        if v != v:  # NaN, NaT
            return None
    except (TypeError, ValueError):
        pass
    if type(v).__name__ in ("NaTType", "NAType"):
        return None
    if isinstance(v, float):
        return float(f"{v:.12g}")  # decimals cast to float: 1.2, not 1.2000000000000002
    if hasattr(v, "isoformat"):
        try:
            return v.isoformat(sep=" ") if isinstance(v, datetime) else v.isoformat()
        except TypeError:
            return v.isoformat()
    if hasattr(v, "item") and not isinstance(v, (list, tuple, dict)):
        try:
            return v.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, (str, int, float, bool)):
        return v
    return str(v)


def _fmt_condition(cond: Any) -> str:
    """A row condition as text: ``status == 'failed'``."""
    if not isinstance(cond, dict):
        return str(cond)
    kind = cond.get("type")
    if kind == "comparison":
        col = cond.get("column", {})
        col = col.get("name", col) if isinstance(col, dict) else col
        return f"{col} {cond.get('operator')} {cond.get('parameter')!r}"
    if kind == "nullity":
        col = cond.get("column", {})
        col = col.get("name", col) if isinstance(col, dict) else col
        return f"{col} is {'not ' if not cond.get('is_null', True) else ''}null"
    if kind in ("and", "or"):
        return f" {kind} ".join(f"({_fmt_condition(c)})" for c in cond.get("conditions", []))
    if "pass_through_filter" in cond:
        return str(cond["pass_through_filter"])
    return json.dumps(cond, default=str)


def _fmt_kwargs(kwargs: dict[str, Any]) -> str:
    parts = []
    for k, v in kwargs.items():
        if k == "condition_parser":
            continue
        if k == "row_condition":
            parts.append(f"where {_fmt_condition(v)}")
            continue
        parts.append(f"{k}={v!r}")
    return ", ".join(parts)
