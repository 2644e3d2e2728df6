"""Validate raw rows against a kind's contract, in SQL (DuckDB), without Python row loops.

``validation_sql`` turns the temp table ``raw`` (see ``ingest.readers``) into one row per input
row with every contract column parsed to its type, plus ``_field`` and ``_reason`` naming the
first problem (null when the row is valid). Range rules (``ingest.contracts.Bounds``) reject a
timestamp outside the window, an offset beyond +-18:00, a validity or attempt out of range.
Conflicting duplicates of a key inside the batch are listed afterwards by ``duplicate_sql``;
``raw_record_sql`` keeps a rejected row as the file gave it.

Every name and value in the SQL goes through ``sendlens.core.sql`` (``identifier``, ``literal``).
"""

from __future__ import annotations

from datetime import datetime

from sendlens.ingest.contracts import MAX_OFFSET_MINUTES, Bounds, Column, Contract
from sendlens.ingest.readers import RawColumn
from sendlens.core.sql import identifier, literal

TRUE_WORDS = ("true", "t", "1", "yes", "y")
FALSE_WORDS = ("false", "f", "0", "no", "n")
_NESTED = ("STRUCT", "MAP", "UNION")
# the UTC offset at the end of an ISO 8601 date-time: +hh, +hhmm, +hh:mm (after a time of day)
_OFFSET_RE = r"\d:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*([+-]\d{1,2}(?::?\d{2})?(?::?\d{2})?)\s*$"


def _lit(value: object) -> str:
    """A Python value as SQL: strings through ``sendlens.core.sql.literal``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, datetime):
        return f"cast({literal(value.isoformat(sep=' '))} as timestamp)"
    return literal(value)


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(_lit(v) for v in values) + ")"


def _is_json(col: RawColumn) -> bool:
    return col.type.upper() == "JSON"


def _is_nested(col: RawColumn) -> bool:
    t = col.type.upper()
    return t.startswith(_NESTED) or t.endswith("]")


def _text(col: RawColumn) -> str:
    """The raw value as trimmed text, '' -> null. JSON-typed values are unquoted."""
    ident = identifier(col.raw)
    expr = f"({ident} ->> '$')" if _is_json(col) else f"cast({ident} as varchar)"
    return f"nullif(trim({expr}), '')"


_EXPECTED = {"string": "a string", "bool": "a boolean", "timestamp": "a timestamp", "double": "a number",
             "int": "an integer", "list": "a list"}


def _shape_error(column: Column, col: RawColumn) -> str | None:
    """A nested value (JSON object or list, a Parquet struct) where a scalar is expected: a row
    problem, not text to land (it would land as a Python or JSON repr)."""
    expected = _EXPECTED[column.dtype]
    ident = identifier(col.raw)
    if _is_json(col):
        kinds = ("OBJECT",) if column.dtype == "list" else ("OBJECT", "ARRAY")
        return (f"case when json_type({ident}) in {_in(kinds)} then 'a JSON ' || "
                f"case json_type({ident}) when 'OBJECT' then 'object' else 'list' end || "
                f"{literal(' where ' + expected + ' is expected')} end")
    if _is_nested(col) and not (column.dtype == "list" and col.type.upper().endswith("[]")):
        return (f"case when {ident} is not null then "
                f"{literal(f'a nested value ({col.type[:60]}) where {expected} is expected')} end")
    return None


def _offset_error(t: str) -> str:
    """A UTC offset beyond +-18:00 (DuckDB would shift the instant by it, e.g. 99 hours)."""
    off = f"regexp_extract({t}, {literal(_OFFSET_RE)}, 1)"
    digits = f"replace(substr({off}, 2), ':', '')"
    n = f"length({digits})"
    hours = (f"case when contains({off}, ':') then try_cast(split_part(substr({off}, 2), ':', 1) as int) "
             f"when {n} <= 2 then try_cast({digits} as int) "
             f"when {n} <= 4 then try_cast(left({digits}, {n} - 2) as int) "
             f"else try_cast(left({digits}, {n} - 4) as int) end")
    minutes = (f"case when contains({off}, ':') then coalesce(try_cast(nullif(split_part(substr({off}, 2), ':', 2), '') as int), 0) "
               f"when {n} <= 2 then 0 "
               f"when {n} <= 4 then try_cast(right({digits}, 2) as int) "
               f"else try_cast(substr({digits}, {n} - 3, 2) as int) end")
    # the regular expression runs only on values with a sign after the date (an offset)
    signed = f"(contains(substr({t}, 11), '+') or contains(substr({t}, 11), '-'))"
    return (f"case when {signed} and {off} <> '' and ({hours} * 60 + {minutes} > {MAX_OFFSET_MINUTES} "
            f"or {minutes} >= 60) then 'UTC offset ' || {off} || ' is outside -18:00..+18:00' end")


def _range_text(lo: object, hi: object, lo_open: bool = False) -> str:
    return f"{'(' if lo_open else '['}{lo}, {hi}]"


def _parse(column: Column, col: RawColumn, bounds: Bounds, now: datetime) -> tuple[str, str]:
    """(parsed expression, error expression) for one present column."""
    t = _text(col)
    shape = _shape_error(column, col)

    def first(*errors: str | None) -> str:
        errs = [e for e in errors if e]
        return errs[0] if len(errs) == 1 else "coalesce(" + ", ".join(errs) + ")"

    if column.dtype == "string":
        value = t
        if column.enum:
            value = f"lower({t})"
            bad = f"{t} is not null and lower({t}) not in {_in(column.enum)}"
            return value, first(shape, f"case when {bad} then {literal('not one of ' + ', '.join(column.enum))} end")
        return value, first(shape, "cast(null as varchar)")
    if column.dtype == "bool":
        value = (
            f"case when lower({t}) in {_in(TRUE_WORDS)} then true "
            f"when lower({t}) in {_in(FALSE_WORDS)} then false end"
        )
        return value, first(shape, f"case when {t} is not null and ({value}) is null then 'not a boolean' end")
    if column.dtype == "timestamp":
        value = f"cast(timezone('UTC', try_cast({t} as timestamptz)) as timestamp)"
        earliest, latest = bounds.earliest, bounds.latest(now)
        window = literal(bounds.window_reason(now))
        return value, first(shape, _offset_error(t), (
            f"case when {t} is not null and ({value}) is null then 'not a timestamp' "
            f"when ({value}) < {_lit(earliest)} or ({value}) > {_lit(latest)} then {window} end"))
    if column.dtype == "double":
        value = f"try_cast({t} as double)"
        limit = ""
        if column.range_rule == "hours":
            hi = float(bounds.max_validity_hours)
            why = f"out of range: must be in {_range_text(0, format(hi, 'g'), lo_open=True)} hours"
            limit = f"when {value} > {_lit(hi)} then {literal(why)} "
        return value, first(shape, (
            f"case when {t} is not null and ({value}) is null then 'not a number' "
            f"when not isfinite({value}) or {value} <= 0 then 'must be a positive number' {limit}end"))
    if column.dtype == "int":
        value = f"try_cast({t} as bigint)"
        limit = ""
        if column.range_rule == "attempt":
            hi = int(bounds.max_attempt)
            why = f"out of range: must be in {_range_text(0, hi)} (an attempt counter is never negative)"
            limit = f"when {value} < 0 or {value} > {hi} then {literal(why)} "
        return value, first(shape, f"case when {t} is not null and ({value}) is null then 'not an integer' {limit}end")
    if column.dtype == "list":
        if col.type.upper().endswith("[]"):
            value = f"list_filter(cast({identifier(col.raw)} as varchar[]), lambda x: nullif(trim(x), '') is not null)"
        else:
            value = (
                f"list_filter(list_transform(regexp_split_to_array(regexp_replace({t}, '[\\[\\]\"'']', '', 'g'), "
                f"'[,;|]'), lambda x: trim(x)), lambda x: x <> '')"
            )
        return value, first(shape, "cast(null as varchar)")
    raise ValueError(f"unsupported dtype {column.dtype}")


def validation_sql(contract: Contract, columns: dict[str, RawColumn], bounds: Bounds | None = None,
                   now: datetime | None = None) -> str:
    """SQL selecting every raw row parsed, with ``_field``/``_reason`` of its first problem.

    ``columns`` maps each contract column present in the file to its raw column; ``now`` is the
    ingest time (naive UTC) the latest-timestamp bound counts from."""
    bounds = bounds or Bounds()
    now = now or Bounds.now()
    parsed: list[str] = []
    checks: list[tuple[str, str]] = []  # (field, error expression)
    for column in contract.columns:
        col = columns.get(column.name)
        if col is not None:
            value, err = _parse(column, col, bounds, now)
            missing = f"({_text(col)}) is null" if column.dtype != "list" else f"({value}) is null or len({value}) = 0"
        else:
            value, err, missing = "null", "cast(null as varchar)", "true"
        if column.default is not None:
            value = f"coalesce({value}, {_lit(column.default)})"
        cast_to = {
            "string": "varchar",
            "bool": "boolean",
            "timestamp": "timestamp",
            "double": "double",
            "int": "bigint",
            "list": "varchar[]",
        }[column.dtype]
        parsed.append(f"cast({value} as {cast_to}) as {identifier(column.name)}")
        if column.required:
            checks.append((column.name, f"case when {missing} then 'required value missing' end"))
        checks.append((column.name, err))
    field = "case " + " ".join(f"when ({e}) is not null then {_lit(f)}" for f, e in checks) + " end"
    reason = "coalesce(" + ", ".join(f"({e})" for _, e in checks) + ")"
    return f"select _row, {', '.join(parsed)}, {field} as _field, {reason} as _reason from raw"


def raw_record_sql(columns: list[RawColumn], table: str = "raw") -> str:
    """The row as the file gave it, as JSON text (keys: the file's own column names): kept with
    a rejected row, so nothing is lost. JSON values stay JSON; others are kept as text.

    Built only for rejected rows (joined back to ``raw`` by ``_row``), never for every row read.
    """
    if not columns:
        return "'{}'"
    parts = []
    for c in columns:
        ref = f"{table}.{identifier(c.raw)}"
        parts.append(f"{literal(c.name)}, {ref if _is_json(c) else f'cast({ref} as varchar)'}")
    return "cast(json_object(" + ", ".join(parts) + ") as varchar)"


def duplicate_sql(contract: Contract, parsed_table: str) -> str:
    """The later valid rows whose key repeats an earlier valid row's key with different content.

    One row per conflicting row: ``_row``, ``_field`` (the key) and ``_reason`` (naming the
    earlier row). Keys are counted first, so only the rows of repeated keys are ranked: a batch
    of unique keys costs one hash aggregate, not a sort of the whole file.
    """
    key = ", ".join(identifier(k) for k in contract.key)
    content = ", ".join(identifier(c) for c in contract.names)
    key_name = contract.key[0] if len(contract.key) == 1 else "+".join(contract.key)
    return f"""
        with valid as (
            select * from {parsed_table} where _field is null
        ),
        repeated_keys as (
            select {key} from valid group by {key} having count(*) > 1
        ),
        repeated as (
            select _row, hash({content}) as _hash,
                first_value(hash({content})) over first_seen as _first_hash,
                first_value(_row) over first_seen as _first_row
            from valid
            semi join repeated_keys using ({key})
            window first_seen as (partition by {key} order by _row)
        )
        select _row, {literal(key_name)} as _field,
            'conflicting duplicate of row ' || _first_row || ' (same key, different content)' as _reason
        from repeated
        where _hash <> _first_hash
    """
