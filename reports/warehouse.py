"""Read-only access to the public marts of a sendlens DuckDB warehouse.

Discovers the tables of schema ``marts`` through ``information_schema`` and builds SELECT
lists in which address columns are masked in SQL (so masking also applies to streamed
COPY exports, never materialising rows in Python).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import duckdb

MARTS_SCHEMA = "marts"
# dbt-duckdb without a custom generate_schema_name macro prefixes custom schemas with the
# target schema ("main_marts"); accept it as a fallback so exports work either way.
FALLBACK_SCHEMAS = ("main_marts",)


def qi(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def ql(value: str) -> str:
    """Quote an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def is_address_column(name: str) -> bool:
    n = name.lower()
    return n == "address" or n.endswith("_address")


def mask_address_sql(expr: str) -> str:
    """SQL expression masking an address: 'john.doe@gmail.com' -> 'j***@gmail.com';
    a non-email address keeps its last 2 characters ('+31612345689' -> '***89'); values of
    4 characters or fewer become '***' (keeping 2 of them would reveal too much)."""
    v = f"CAST({expr} AS VARCHAR)"
    return (
        f"CASE WHEN {expr} IS NULL THEN NULL "
        f"WHEN strpos({v}, '@') > 0 THEN "
        f"left(regexp_extract({v}, '^([^@]*)@', 1), 1) || '***@' || regexp_extract({v}, '@([^@]*)$', 1) "
        f"WHEN length({v}) <= 4 THEN '***' "
        f"ELSE '***' || right({v}, 2) END"
    )


def mask_address(value: str | None) -> str | None:
    """Python twin of :func:`mask_address_sql` (same rules), for values built in Python."""
    if value is None:
        return None
    v = str(value)
    if "@" in v:
        local, _, _ = v.partition("@")
        domain = v.rsplit("@", 1)[1]
        return local[:1] + "***@" + domain
    if len(v) <= 4:
        return "***"
    return "***" + v[-2:]


@dataclass
class Column:
    name: str
    data_type: str


@dataclass
class Marts:
    """The marts of one open (read-only) warehouse connection."""

    con: duckdb.DuckDBPyConnection
    schema: str
    tables: dict[str, list[Column]] = field(default_factory=dict)
    include_pii: bool = False
    _counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def open(cls, con: duckdb.DuckDBPyConnection, include_pii: bool = False,
             schema: str | None = None) -> "Marts":
        schemas = [schema] if schema else [MARTS_SCHEMA, *FALLBACK_SCHEMAS]
        rows = con.execute(
            "SELECT table_schema, table_name, column_name, data_type "
            "FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND table_schema IN "
            f"({', '.join(ql(s) for s in schemas)}) "
            "ORDER BY table_schema, table_name, ordinal_position").fetchall()
        found = [s for s in schemas if any(r[0] == s for r in rows)]
        chosen = found[0] if found else schemas[0]
        tables: dict[str, list[Column]] = {}
        for s, t, c, dt in rows:
            if s == chosen:
                tables.setdefault(t, []).append(Column(c, dt))
        return cls(con=con, schema=chosen, tables=dict(sorted(tables.items())),
                   include_pii=include_pii)

    # -- discovery ---------------------------------------------------------------------------
    def has(self, table: str) -> bool:
        return table in self.tables

    def columns(self, table: str) -> list[str]:
        return [c.name for c in self.tables.get(table, [])]

    def has_columns(self, table: str, *cols: str) -> bool:
        have = set(self.columns(table))
        return self.has(table) and all(c in have for c in cols)

    def column_type(self, table: str, col: str) -> str | None:
        for c in self.tables.get(table, []):
            if c.name == col:
                return c.data_type
        return None

    def ref(self, table: str) -> str:
        return f"{qi(self.schema)}.{qi(table)}"

    def count(self, table: str) -> int:
        if table not in self._counts:
            self._counts[table] = int(self.con.execute(
                f"SELECT count(*) FROM {self.ref(table)}").fetchone()[0])
        return self._counts[table]

    def set_count(self, table: str, n: int) -> None:
        """Record a known row count (e.g. from COPY) so that it is not recounted."""
        self._counts[table] = int(n)

    def non_empty(self, table: str) -> bool:
        return self.has(table) and self.count(table) > 0

    # -- SQL building ------------------------------------------------------------------------
    def col_expr(self, table: str, col: str, *, for_parquet: bool = False) -> str:
        """The (masked) SELECT expression of one column, aliased to its own name."""
        expr = qi(col)
        if is_address_column(col) and not self.include_pii:
            expr = mask_address_sql(expr)
        elif for_parquet and (self.column_type(table, col) or "").upper() in ("HUGEINT", "UHUGEINT", "INT128"):
            # sum() yields HUGEINT, which Parquet stores as DOUBLE; counts stay integers.
            expr = f"CAST({expr} AS BIGINT)"
        return f"{expr} AS {qi(col)}" if expr != qi(col) else expr

    def select_sql(self, table: str, cols: Sequence[str] | None = None, *,
                   for_parquet: bool = False) -> str:
        cols = list(cols) if cols is not None else self.columns(table)
        sel = ", ".join(self.col_expr(table, c, for_parquet=for_parquet) for c in cols)
        return f"SELECT {sel} FROM {self.ref(table)}"

    # -- fetching ----------------------------------------------------------------------------
    def dicts(self, sql: str, params: Iterable[Any] | None = None) -> list[dict[str, Any]]:
        cur = self.con.execute(sql, list(params) if params is not None else None)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def fetch(self, table: str, wanted: Sequence[str], *, where: str | None = None,
              order_by: str | None = None, limit: int | None = None,
              params: Iterable[Any] | None = None) -> list[dict[str, Any]]:
        """Rows of ``table`` with the wanted columns that exist (masked); absent ones are None.
        ``where``/``order_by`` may only use existing columns (callers check first)."""
        have = [c for c in wanted if c in set(self.columns(table))]
        if not have:
            return []
        sql = f"SELECT * FROM ({self.select_sql(table, have)}) AS t"
        if where:
            sql += f" WHERE {where}"
        if order_by:
            sql += f" ORDER BY {order_by}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = self.dicts(sql, params)
        for r in rows:
            for c in wanted:
                r.setdefault(c, None)
        return rows


def connect_read_only(warehouse: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(warehouse), read_only=True)
    con.execute("set enable_progress_bar = false")
    try:
        con.execute("SET TimeZone = 'UTC'")
    except duckdb.Error:  # ICU not available: timestamps are naive UTC anyway
        pass
    return con
