"""Open an input file (Parquet, CSV, JSON Lines) as a DuckDB table of raw values.

Every reader yields the same shape: a temporary table ``raw`` with the file's columns and
``_row`` (1-based data row number, the number a person finds in the file: for CSV the header
is row 0). Types are left as the file gives them; ``ingest.validate`` parses them.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


class UnreadableFile(Exception):
    """The file cannot be read in the format its extension names."""


def file_format(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise UnreadableFile(
            f"{path}: unsupported extension {path.suffix!r} (expected .parquet, .csv, .jsonl)"
        ) from None


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def load_raw(con: duckdb.DuckDBPyConnection, path: Path, table: str = "raw") -> list[str]:
    """Create temp table ``table`` from the file; return its data column names."""
    fmt = file_format(path)
    if fmt == "parquet":
        scan = f"select * exclude (file_row_number), file_row_number + 1 as _row from read_parquet({_quote(path)}, file_row_number = true)"
    elif fmt == "csv":
        scan = (
            f"select *, row_number() over () as _row from read_csv({_quote(path)}, header = true, "
            "all_varchar = true, delim = ',', quote = '\"', escape = '\"', strict_mode = true, null_padding = false)"
        )
    else:
        scan = (
            f"select *, row_number() over () as _row from read_json({_quote(path)}, "
            "format = 'newline_delimited', records = true, sample_size = -1)"
        )
    try:
        con.execute(f"create or replace temp table {table} as {scan}")
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnreadableFile(f"{path}: cannot read as {fmt}: {first}") from None
    cols = [r[0] for r in con.execute(f"describe {table}").fetchall()]
    return [c for c in cols if c != "_row"]
