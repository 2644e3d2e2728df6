"""Open an input file (Parquet, CSV, JSON Lines) as a DuckDB table of raw values.

Every reader yields the same shape:

- a temporary table ``raw`` with ``_row`` (the data row number a person finds in the file: for
  CSV the header is row 0 and the first data row 1; for JSON Lines the line number; for Parquet
  the 1-based row) and the file's columns under positional names ``c1, c2, ...``. The file's
  own column names never become SQL names of ``raw``, so a column called ``_row``,
  ``file_row_number``, ``_field`` or ``_batch_id`` cannot shadow an internal column; ``columns``
  maps each of them back (``RawColumn.name`` is the name as the file gives it);
- a temporary table ``raw_rejects`` (``_row``, ``_field``, ``_reason``, ``_raw``): the rows the
  reader itself could not split into fields (a CSV row with the wrong number of fields, a JSON
  Lines line that is not a JSON object, a row longer than ``MAX_LINE_BYTES``). They count as
  read and are rejected with their row number and reason; ``_raw`` keeps them as JSON text.

Problems that leave no row boundary to trust (text that is not UTF-8, a quote never closed, a
header that repeats a column name) raise ``UnreadableFile`` naming the file and line.
Types are left as the file gives them; ``ingest.validate`` parses them.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from sendlens.core.sql import identifier, literal, path_literal

FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
# DuckDB's default line limit, named: a longer row is rejected with this in its reason
MAX_LINE_BYTES = 2_000_000
ROW_FIELD = "(row)"  # the rejected field when the problem is the row as a whole
ENCODINGS = "UTF-8 (with or without a byte-order mark)"
_REJECT_TABLES = ("_csv_reject_errors", "_csv_reject_scans")


class UnreadableFile(Exception):
    """The file cannot be read in the format its extension names."""


@dataclass(frozen=True)
class RawColumn:
    name: str  # as the file names it
    raw: str  # its column in the ``raw`` table (c1, c2, ...)
    type: str  # DuckDB type of the raw values


def file_format(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise UnreadableFile(
            f"{path}: unsupported extension {path.suffix!r} (expected .parquet, .csv, .jsonl)"
        ) from None


def load_raw(con: duckdb.DuckDBPyConnection, path: Path, table: str = "raw") -> list[RawColumn]:
    """Create temp tables ``table`` and ``table``_rejects from the file; return its columns."""
    fmt = file_format(path)
    con.execute(f"create or replace temp table {table}_rejects "
                "(_row bigint, _field varchar, _reason varchar, _raw varchar)")
    try:
        if fmt == "parquet":
            return _load_parquet(con, path, table)
        if fmt == "csv":
            return _load_csv(con, path, table)
        return _load_jsonl(con, path, table)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnreadableFile(f"{path}: cannot read as {fmt}: {first}") from None
    finally:
        for t in _REJECT_TABLES:
            con.execute(f"drop table if exists {t}")


def _refuse_duplicates(path: Path, fmt: str, names: list[str]) -> None:
    """A column name given twice (DuckDB would rename the second ``a_1``: silently ignored) or
    holding a NUL character refuses the file, naming the column."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names, 1):
        if "\x00" in name:
            raise UnreadableFile(f"{path}: cannot read as {fmt}: line 1: column {i}: its name holds a NUL character")
        if name in seen:
            raise UnreadableFile(f"{path}: cannot read as {fmt}: line 1: {name}: column {name!r} appears twice "
                                 f"(columns {seen[name]} and {i}); each column name must be unique")
        seen[name] = i


# ---- Parquet --------------------------------------------------------------------------------
def _load_parquet(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> list[RawColumn]:
    src = path_literal(path)
    described = con.execute(f"describe select * from read_parquet({src})").fetchall()
    try:
        import pyarrow.parquet as pq

        names = list(pq.read_schema(path).names)
    except Exception:  # the schema as DuckDB read it (it renames a repeated name)
        names = [r[0] for r in described]
    if len(names) != len(described):
        names = [r[0] for r in described]
    _refuse_duplicates(path, "parquet", names)
    cols = [RawColumn(n, f"c{i}", r[1]) for i, (n, r) in enumerate(zip(names, described), 1)]
    select = ", ".join(f"{identifier(r[0])} as {c.raw}" for c, r in zip(cols, described))
    if any(r[0].lower() == "file_row_number" for r in described):
        # the file's own column shadows the reader's row number: count rows in file order
        row, options = "row_number() over ()", ""
    else:
        row, options = "file_row_number + 1", ", file_row_number = true"
    con.execute(f"create or replace temp table {table} as select {row} as _row"
                f"{', ' + select if select else ''} from read_parquet({src}{options})")
    return cols


# ---- CSV ------------------------------------------------------------------------------------
def _header(path: Path) -> list[str] | None:
    """The header's field names (None for an empty file), parsed as the reader will."""
    head = path.open("rb").read(4)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableFile(f"{path}: cannot read as csv: line 1: the file is UTF-16 text (a UTF-16 "
                             f"byte-order mark); accepted encoding: {ENCODINGS}")
    # bad bytes are kept as surrogates, so those of later lines are left to the reader (which
    # names their line) and only the header's own are refused here
    try:
        with io.TextIOWrapper(path.open("rb"), encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
            names = next(csv.reader(fh, delimiter=",", quotechar='"', doublequote=True, strict=True))
    except StopIteration:
        return None
    except csv.Error as exc:
        raise UnreadableFile(f"{path}: cannot read as csv: line 1: the header cannot be read: {exc}") from None
    for name in names:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise UnreadableFile(f"{path}: cannot read as csv: line 1: the header is not valid UTF-8; "
                                 f"accepted encoding: {ENCODINGS}") from None
    return names


def _load_csv(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> list[RawColumn]:
    names = _header(path)
    if names is None:  # an empty file: no columns, no rows
        con.execute(f"create or replace temp table {table} (_row bigint)")
        return []
    if not names:
        raise UnreadableFile(f"{path}: cannot read as csv: line 1: the header line is empty")
    names = [n if n.strip() else f"(unnamed column {i})" for i, n in enumerate(names, 1)]
    _refuse_duplicates(path, "csv", names)
    cols = [RawColumn(n, f"c{i}", "VARCHAR") for i, n in enumerate(names, 1)]
    spec = "{" + ", ".join(f"{literal(c.raw)}: 'VARCHAR'" for c in cols) + "}"
    con.execute(
        f"create or replace temp table {table} as select row_number() over () as _row, * "
        f"from read_csv({path_literal(path)}, header = true, auto_detect = false, columns = {spec}, "
        "delim = ',', quote = '\"', escape = '\"', strict_mode = true, null_padding = false, "
        f"max_line_size = {MAX_LINE_BYTES}, store_rejects = true, "
        f"rejects_table = '{_REJECT_TABLES[0]}', rejects_scan = '{_REJECT_TABLES[1]}')"
    )
    errors = con.execute(
        f"select line, byte_position, line_byte_position, error_type, csv_line, error_message "
        f"from {_REJECT_TABLES[0]} order by line, byte_position"
    ).fetchall()
    if errors:
        _csv_rejects(con, path, table, len(cols), errors)
    return cols


def _csv_rejects(con: duckdb.DuckDBPyConnection, path: Path, table: str, n_fields: int,
                 errors: list[tuple]) -> None:
    """Turn DuckDB's CSV rejects into rejected rows (or a whole-file error), and renumber the
    rows read so each keeps its own data row number.

    DuckDB numbers ``line`` by records (a quoted newline does not start one; the header is 1;
    an empty line counts) while it skips empty lines in its output, as the row numbers of this
    reader do; so a reject's data row is ``line - 1`` less the empty lines before it.
    """
    by_line: dict[int, list[tuple]] = {}
    for e in errors:
        by_line.setdefault(e[0], []).append(e)
    blank_offsets = _blank_line_offsets(path)
    rejects: list[tuple[int, str, str, str]] = []
    for line, errs in by_line.items():
        types = {e[3] for e in errs}
        start = min(e[2] for e in errs)
        text = errs[0][4] or ""
        if "INVALID ENCODING" in types:
            raise UnreadableFile(f"{path}: cannot read as csv: line {_physical_line(path, start)}: not valid "
                                 f"UTF-8; accepted encoding: {ENCODINGS}")
        if "UNQUOTED VALUE" in types and text.count('"') % 2 == 1:  # the rest of the file is inside it
            raise UnreadableFile(f"{path}: cannot read as csv: line {_physical_line(path, start)}: a quoted field "
                                 "opened on this line is never closed, so no later row can be told apart")
        row = line - 1 - _count_before(blank_offsets, start)
        if "LINE SIZE OVER MAXIMUM" in types:
            actual = _number_after(errs, "Actual Size:")
            reason = (f"row longer than {MAX_LINE_BYTES:,} bytes (the limit)"
                      + (f": {actual:,} bytes" if actual else ""))
        elif types & {"TOO MANY COLUMNS", "MISSING COLUMNS"}:
            # DuckDB reports a short row once per missing field ("Found: 2", "Found: 3", ...)
            # and a long one once per extra field: the row has the fewest / the most of them
            pick, kind = (max, "TOO MANY COLUMNS") if "TOO MANY COLUMNS" in types else (min, "MISSING COLUMNS")
            found = pick(_number_after([e], "Found:") or 0 for e in errs if e[3] == kind)
            reason = f"expected {n_fields} field{'s' if n_fields != 1 else ''}, found {found}"
        elif "UNQUOTED VALUE" in types:
            reason = "a quoted field is not closed properly (text after its closing quote)"
        else:
            reason = "; ".join(sorted({e[5] for e in errs if e[5]}))[:500] or "cannot be split into fields"
        rejects.append((row, ROW_FIELD, reason, json.dumps(text, ensure_ascii=False)))
    con.executemany(f"insert into {table}_rejects values (?, ?, ?, ?)", rejects)
    # the k-th row read is the k-th data row that was not rejected: g = rows kept before the
    # i-th rejected row; a kept row k is shifted by the number of rejects with g < k
    con.execute(
        f"create or replace temp table {table} as "
        f"select {table}.* replace ({table}._row + coalesce(s.i, 0) as _row) from {table} "
        f"asof left join (select g, max(i) as i from (select _row - row_number() over (order by _row) as g, "
        f"row_number() over (order by _row) as i from {table}_rejects) group by g) s on {table}._row > s.g"
    )


def _number_after(errs: list[tuple], label: str) -> int | None:
    for e in errs:
        m = re.search(re.escape(label) + r"\s*(\d+)", e[5] or "")
        if m:
            return int(m.group(1))
    return None


def _count_before(sorted_offsets: list[int], offset: int) -> int:
    import bisect

    return bisect.bisect_left(sorted_offsets, offset)


def _chunks(path: Path, size: int = 1 << 24):
    with path.open("rb") as fh:
        pos = 0
        while block := fh.read(size):
            yield pos, block
            pos += len(block)


def _blank_line_offsets(path: Path) -> list[int]:
    """Byte offsets of the empty lines (``\\n\\n`` or ``\\n\\r\\n``); read only when a file has
    rejected rows."""
    out: list[int] = []
    tail = b""
    for pos, block in _chunks(path):
        data = tail + block
        base = pos - len(tail)
        out.extend(base + m.start() + 1 for m in re.finditer(rb"\n(?=\r?\n)", data))
        tail = data[-2:]
    return sorted(set(out))


def _physical_line(path: Path, offset: int) -> int:
    """The 1-based line (as an editor counts them) holding byte ``offset``."""
    n = 1
    for pos, block in _chunks(path):
        if pos >= offset:
            break
        n += block.count(b"\n", 0, max(0, offset - pos))
    return n


# ---- JSON Lines -----------------------------------------------------------------------------
def _load_jsonl(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> list[RawColumn]:
    """One JSON object a line. The lines are read as text (so a broken line is that line, with
    its number, not an error for the file), parsed by DuckDB's JSON functions."""
    head = path.open("rb").read(4)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableFile(f"{path}: cannot read as jsonl: line 1: the file is UTF-16 text (a UTF-16 "
                             f"byte-order mark); accepted encoding: {ENCODINGS}")
    con.execute(
        f"create or replace temp table _jsonl_lines as select row_number() over () as _row, "
        f"case when row_number() over () = 1 then ltrim(line, chr(65279)) else line end as line "
        f"from read_csv({path_literal(path)}, header = false, auto_detect = false, "
        "columns = {'line': 'VARCHAR'}, delim = '\x1f', quote = '', escape = '', strict_mode = true, "
        f"max_line_size = {MAX_LINE_BYTES}, store_rejects = true, "
        f"rejects_table = '{_REJECT_TABLES[0]}', rejects_scan = '{_REJECT_TABLES[1]}')"
    )
    try:
        errors = con.execute(f"select line, line_byte_position, error_type, csv_line, error_message "
                             f"from {_REJECT_TABLES[0]} order by line").fetchall()
        rejects = []
        for line, start, etype, text, message in errors:
            if etype == "INVALID ENCODING":
                raise UnreadableFile(f"{path}: cannot read as jsonl: line {_physical_line(path, start)}: not valid "
                                     f"UTF-8; accepted encoding: {ENCODINGS}")
            if etype == "LINE SIZE OVER MAXIMUM":
                reason = f"line longer than {MAX_LINE_BYTES:,} bytes (the limit)"
            else:
                reason = "not valid JSON (a raw control character)"
            rejects.append((line, ROW_FIELD, reason, json.dumps(text or "", ensure_ascii=False)))
        # the read skipped the rejected lines: renumber the others to their own line numbers
        if rejects:
            con.executemany(f"insert into {table}_rejects values (?, ?, ?, ?)", sorted(set(rejects)))
            con.execute(
                "create or replace temp table _jsonl_lines as "
                "select l.* replace (l._row + coalesce(s.i, 0) as _row) from _jsonl_lines l "
                f"asof left join (select g, max(i) as i from (select _row - row_number() over (order by _row) as g, "
                f"row_number() over (order by _row) as i from {table}_rejects) group by g) s on l._row > s.g"
            )
        # each line parsed once for its shape; lines that are not one JSON object with unique
        # keys are rejected here
        con.execute(
            "create or replace temp table _jsonl_shape as select _row, line, _type, _keys from ("
            "select _row, line, case when json_valid(line) then json_type(line) end as _type "
            "from _jsonl_lines where nullif(trim(line), '') is not null) "
            "cross join lateral (select case when _type = 'OBJECT' then json_keys(line) end as _keys)"
        )
        con.execute(
            f"insert into {table}_rejects select _row, {literal(ROW_FIELD)}, "
            "case when _type is null then 'not valid JSON' "
            "when _type <> 'OBJECT' then 'a JSON Lines line must be a JSON object, found ' || lower(_type) "
            "else 'a key appears twice in the object: ' || list_aggregate(list_filter(_keys, "
            "lambda k: len(list_filter(_keys, lambda x: x = k)) > 1), 'min') end, to_json(line)::varchar "
            "from _jsonl_shape where _type is distinct from 'OBJECT' or len(_keys) <> len(list_distinct(_keys))"
        )
        con.execute(
            "create or replace temp table _jsonl_ok as select _row, line, _keys from _jsonl_shape "
            "where _type = 'OBJECT' and len(_keys) = len(list_distinct(_keys))"
        )
        con.execute("drop table _jsonl_shape")
        keys = [r[0] for r in con.execute(
            "select k from (select unnest(_keys) as k, _row from _jsonl_ok) "
            "group by k order by min(_row), k"
        ).fetchall()]
        cols = [RawColumn(k, f"c{i}", "JSON") for i, k in enumerate(keys, 1)]
        if cols:
            paths = "[" + ", ".join(literal("/" + k.replace("~", "~0").replace("/", "~1")) for k in keys) + "]"
            values = ", ".join(f"_v[{i}] as {c.raw}" for i, c in enumerate(cols, 1))
            con.execute(f"create or replace temp table {table} as select _row, {values} "
                        f"from (select _row, json_extract(line, {paths}) as _v from _jsonl_ok)")
        else:
            con.execute(f"create or replace temp table {table} as select _row from _jsonl_ok")
        return cols
    finally:
        con.execute("drop table if exists _jsonl_lines")
        con.execute("drop table if exists _jsonl_ok")
        con.execute("drop table if exists _jsonl_shape")


__all__ = ["load_raw", "file_format", "UnreadableFile", "RawColumn", "FORMATS", "MAX_LINE_BYTES", "ROW_FIELD"]
