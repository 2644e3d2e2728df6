"""Reading a provider export into events (JSON document, JSON Lines, API pages; deep nesting
refused per event), and the stable id of an event that has none (``hashed_id``).

The only I/O of the mappings besides the writer: ``read_events`` reads the export file.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sendlens.ingest.esp.errors import MAX_JSON_DEPTH, NotJson


# ---- reading ------------------------------------------------------------------------------
@dataclass
class RawEvent:
    number: int  # 1-based position of the event in the export
    value: Any  # the parsed JSON value (None when it did not parse)
    raw: str  # the event as JSON text (an unparsable line as a JSON string)
    error: str | None = None  # why the line did not parse


def _flatten(value: Any) -> list[Any]:
    """One posted payload -> its events: a JSON array is a batch of events (arrays inside it
    are flattened too); a provider API page ({"items": [...]} from Mailgun, {"results": [...]}
    from SparkPost) holds its events. Iterative: a deep array nesting is no recursion."""
    if isinstance(value, list):
        out: list[Any] = []
        stack: list[Any] = [iter(value)]
        while stack:
            for v in stack[-1]:
                if isinstance(v, list):
                    if len(stack) > MAX_JSON_DEPTH:
                        out.append(v)  # rejected by depth when mapped
                        continue
                    stack.append(iter(v))
                    break
                out.append(v)
            else:
                stack.pop()
        return out
    if isinstance(value, dict):
        for key in ("items", "results"):
            if isinstance(value.get(key), list) and not ({"event", "event-data", "msys", "type", "eventType",
                                                           "notificationType", "RecordType"} & value.keys()):
                return list(value[key])
    return [value]


def json_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """How deeply ``value`` nests (a scalar is 0); counting stops past ``limit``. Iterative."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            d += 1
            if d > deepest:
                deepest = d
                if deepest > limit:
                    return deepest
            stack.extend((c, d) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


def _too_deep(where: str) -> str:
    return f"JSON nested deeper than {MAX_JSON_DEPTH} levels{where}"


def read_events(path: Path) -> list[RawEvent]:
    """A JSON document (array of events, one event, an API page) or JSON Lines (one payload a
    line; a line may itself be an array). A JSON Lines line that does not parse (or nests
    deeper than MAX_JSON_DEPTH) is one rejected event; a file where nothing parses, or that is
    not UTF-8, raises NotJson naming the line."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise NotJson(f"line {line}: not valid UTF-8 ({exc.reason} at byte {exc.start}); "
                      "accepted encoding: UTF-8 (with or without a byte-order mark)") from None
    if not text.strip():
        return []
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        doc, whole_ok, whole_too_deep = None, False, False
    except RecursionError:
        doc, whole_ok, whole_too_deep = None, False, True
    else:
        whole_ok, whole_too_deep = True, False
    events: list[RawEvent] = []
    if whole_ok:
        for v in _flatten(doc):
            if json_depth(v) > MAX_JSON_DEPTH:
                events.append(RawEvent(len(events) + 1, None, json.dumps(_shallow(v)), _too_deep(" (the event)")))
                continue
            events.append(RawEvent(len(events) + 1, v, _dump(v)))
        return events
    parsed_any = False
    first_error = None
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            v = json.loads(line)
            too_deep = json_depth(v) > MAX_JSON_DEPTH
        except json.JSONDecodeError as exc:
            first_error = first_error or f"line {lineno}: {exc.msg} (column {exc.colno})"
            # kept as a JSON string: raw_record must be valid JSON (canonical batches write the
            # column with the JSON logical type, and the audit reads all batches together)
            events.append(RawEvent(len(events) + 1, None, json.dumps(line[:10000], ensure_ascii=False),
                                   f"invalid JSON on line {lineno}: {exc.msg} (column {exc.colno})"))
            continue
        except RecursionError:
            v, too_deep = None, True
        if too_deep:
            first_error = first_error or f"line {lineno}: {_too_deep('')}"
            events.append(RawEvent(len(events) + 1, None, json.dumps(line[:10000], ensure_ascii=False),
                                   _too_deep(f" on line {lineno}")))
            continue
        parsed_any = True
        for item in _flatten(v):
            if json_depth(item) > MAX_JSON_DEPTH:
                events.append(RawEvent(len(events) + 1, None, json.dumps(line[:10000], ensure_ascii=False),
                                       _too_deep(f" on line {lineno}")))
                continue
            events.append(RawEvent(len(events) + 1, item, _dump(item)))
    if not parsed_any and whole_too_deep:
        deep_line = next((int(m.group(1)) for e in events if e.error
                          for m in [re.search(r"nested deeper .* on line (\d+)", e.error)] if m), 1)
        raise NotJson(f"line {deep_line}: the JSON document nests deeper than Python can parse "
                      f"(at most {MAX_JSON_DEPTH} levels are accepted)")
    if not parsed_any:
        raise NotJson(f"{first_error}: not JSON or JSON Lines" if first_error else "not JSON or JSON Lines")
    return events


def _shallow(value: Any) -> str:
    """A too-deep value as text for its rejected row (its first 10,000 characters)."""
    try:
        return _dump(value)[:10000]
    except (RecursionError, ValueError):
        return f"<{type(value).__name__} nested deeper than {MAX_JSON_DEPTH} levels>"


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


# ---- ids ----------------------------------------------------------------------------------
def hashed_id(source: str, *parts: Any) -> str:
    """A stable event id for providers that give none: a hash of the event's own JSON (the
    inner event, so the same event wrapped or not gets the same id) and the recipient."""
    digest = hashlib.sha256("\x1f".join(_dump(p) if not isinstance(p, str) else p for p in parts).encode())
    return f"{source}:h{digest.hexdigest()[:24]}"
