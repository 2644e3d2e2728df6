"""The warehouse as the suites see it: a bounded read-only connection, the columns of every
table, the landed Parquet files of a lake glob, and the DuckDB type families of a suite's
``column_types``."""

from __future__ import annotations

from pathlib import Path

import duckdb

from sendlens.core.sql import literal


MART_SCHEMA = "marts"
STAGING_SCHEMA = "staging"


def connect(db_path: Path, memory_limit: str | None = None,
            temp_directory: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the warehouse for the suites, bounded like the build's."""
    config: dict[str, str] = {}
    if memory_limit:
        config["memory_limit"] = memory_limit
    if temp_directory:
        Path(temp_directory).mkdir(parents=True, exist_ok=True)
        config["temp_directory"] = str(temp_directory)
    con = duckdb.connect(str(db_path), read_only=True, config=config)
    con.execute("set enable_progress_bar = false")
    try:
        con.execute("set TimeZone = 'UTC'")
    except duckdb.Error:
        pass
    return con


class _Warehouse:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        rows = con.execute(
            "select table_schema, table_name, column_name, data_type "
            "from information_schema.columns order by table_schema, table_name, ordinal_position"
        ).fetchall()
        self.columns: dict[tuple[str, str], dict[str, str]] = {}
        for schema, table, column, dtype in rows:
            self.columns.setdefault((schema, table), {})[column] = dtype

    def has(self, schema: str, table: str) -> bool:
        return (schema, table) in self.columns

    def cols(self, schema: str, table: str) -> dict[str, str]:
        return self.columns.get((schema, table), {})


def _files(glob: str | list[str]) -> str:
    """read_parquet's first argument: one glob, or a list of globs."""
    if isinstance(glob, str):
        return literal(glob)
    return "[" + ", ".join(literal(g) for g in glob) + "]"


def _glob_columns(con: duckdb.DuckDBPyConnection, glob: str | list[str]) -> dict[str, str] | None:
    try:
        rows = con.execute(
            f"describe select * from read_parquet({_files(glob)}, union_by_name = true)").fetchall()
    except duckdb.Error:
        return None  # no file matches
    return {r[0]: r[1] for r in rows}


_TYPE_FAMILIES = {
    "integer": ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                "UINTEGER", "UBIGINT", "UHUGEINT", "INT1", "INT2", "INT4", "INT8"),
    "numeric": ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "REAL", "DECIMAL"),
    "timestamp": ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS",
                  "TIMESTAMP_NS", "TIMESTAMPTZ"),
    "boolean": ("BOOLEAN",),
}


def _type_ok(family: str, dtype: str) -> bool:
    base = dtype.upper().split("(")[0].strip()
    allowed = _TYPE_FAMILIES.get(family)
    return allowed is None or base in allowed
