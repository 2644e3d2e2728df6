"""Validate raw rows against a kind's contract, in SQL (DuckDB), without Python row loops.

``validation_sql`` turns the temp table ``raw`` (see ``ingest.readers``) into one row per input
row with every contract column parsed to its type, plus ``_field`` and ``_reason`` naming the
first problem (null when the row is valid). Conflicting duplicates of a key inside the batch are
listed afterwards by ``duplicate_sql``; ``raw_record_sql`` keeps a rejected row as the file gave it.
"""

from __future__ import annotations

from ingest.contracts import Column, Contract

TRUE_WORDS = ("true", "t", "1", "yes", "y")
FALSE_WORDS = ("false", "f", "0", "no", "n")


def _lit(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(float(value)) if isinstance(value, float) else str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(_lit(v) for v in values) + ")"


def _text(col: str, raw_types: dict[str, str]) -> str:
    """The raw value as trimmed text, '' -> null. JSON-typed values are unquoted."""
    ident = f'"{col}"'
    if raw_types.get(col, "").upper() == "JSON":
        expr = f"({ident} ->> '$')"
    else:
        expr = f"cast({ident} as varchar)"
    return f"nullif(trim({expr}), '')"


def _parse(column: Column, raw_types: dict[str, str]) -> tuple[str, str]:
    """(parsed expression, error expression) for one present column."""
    t = _text(column.name, raw_types)
    if column.dtype == "string":
        value = t
        bad = "false"
        if column.enum:
            value = f"lower({t})"
            bad = f"{t} is not null and lower({t}) not in {_in(column.enum)}"
            return value, f"case when {bad} then 'not one of {', '.join(column.enum)}' end"
        return value, "cast(null as varchar)"
    if column.dtype == "bool":
        value = (
            f"case when lower({t}) in {_in(TRUE_WORDS)} then true "
            f"when lower({t}) in {_in(FALSE_WORDS)} then false end"
        )
        return value, f"case when {t} is not null and ({value}) is null then 'not a boolean' end"
    if column.dtype == "timestamp":
        value = f"cast(timezone('UTC', try_cast({t} as timestamptz)) as timestamp)"
        return value, f"case when {t} is not null and ({value}) is null then 'not a timestamp' end"
    if column.dtype == "double":
        value = f"try_cast({t} as double)"
        return value, (
            f"case when {t} is not null and ({value}) is null then 'not a number' "
            f"when not isfinite({value}) or {value} <= 0 then 'must be a positive number' end"
        )
    if column.dtype == "int":
        value = f"try_cast({t} as bigint)"
        return value, f"case when {t} is not null and ({value}) is null then 'not an integer' end"
    if column.dtype == "list":
        rtype = raw_types.get(column.name, "").upper()
        if rtype.endswith("[]"):
            value = f'list_filter(cast("{column.name}" as varchar[]), lambda x: nullif(trim(x), \'\') is not null)'
        else:
            value = (
                f"list_filter(list_transform(regexp_split_to_array(regexp_replace({t}, '[\\[\\]\"'']', '', 'g'), "
                f"'[,;|]'), lambda x: trim(x)), lambda x: x <> '')"
            )
        return value, "cast(null as varchar)"
    raise ValueError(f"unsupported dtype {column.dtype}")


def validation_sql(contract: Contract, raw_types: dict[str, str]) -> str:
    """SQL selecting every raw row parsed, with ``_field``/``_reason`` of its first problem."""
    parsed: list[str] = []
    checks: list[tuple[str, str]] = []  # (field, error expression)
    for column in contract.columns:
        present = column.name in raw_types
        if present:
            value, err = _parse(column, raw_types)
            missing = f"({_text(column.name, raw_types)}) is null" if column.dtype != "list" else f"({value}) is null or len({value}) = 0"
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
        parsed.append(f'cast({value} as {cast_to}) as "{column.name}"')
        if column.required:
            checks.append((column.name, f"case when {missing} then 'required value missing' end"))
        checks.append((column.name, err))
    field = "case " + " ".join(f"when ({e}) is not null then {_lit(f)}" for f, e in checks) + " end"
    reason = "coalesce(" + ", ".join(f"({e})" for _, e in checks) + ")"
    return f"select _row, {', '.join(parsed)}, {field} as _field, {reason} as _reason from raw"


def raw_record_sql(raw_types: dict[str, str], table: str = "raw") -> str:
    """The row as the file gave it, as JSON text: kept with a rejected row, so nothing is lost.

    Built only for rejected rows (joined back to ``raw`` by ``_row``), never for every row read.
    """
    if not raw_types:
        return "'{}'"
    return "cast(to_json(struct_pack(" + ", ".join(
        f'"{c}" := cast({table}."{c}" as varchar)' for c in raw_types
    ) + ")) as varchar)"


def duplicate_sql(contract: Contract, parsed_table: str) -> str:
    """The later valid rows whose key repeats an earlier valid row's key with different content.

    One row per conflicting row: ``_row``, ``_field`` (the key) and ``_reason`` (naming the
    earlier row). Keys are counted first, so only the rows of repeated keys are ranked: a batch
    of unique keys costs one hash aggregate, not a sort of the whole file.
    """
    key = ", ".join(f'"{k}"' for k in contract.key)
    content = ", ".join(f'"{c}"' for c in contract.names)
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
        select _row, '{key_name}' as _field,
            'conflicting duplicate of row ' || _first_row || ' (same key, different content)' as _reason
        from repeated
        where _hash <> _first_hash
    """
