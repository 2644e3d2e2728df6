"""How the workbook shows each mart column: its format (percent, count, date-time ...), its
header and its note, from the marts' own declaration, never from a column's name.

A column's format comes from the build's declaration in the warehouse, ``audit.column_formats``
(table_name, column_name, format, label): the marts' YAML column meta ``format`` (and
``label``), written by the build like ``audit.personal_data_columns`` (macros/column_formats.sql),
so it describes the marts of that very warehouse, wherever the file is copied. An undeclared
column is shown by its data type (``bigint`` a count, ``timestamp`` a date-time, ``boolean`` a
flag, ``double`` a number): a rate is a ``double`` like any other number, so only its
declaration (``format: percent``) makes it a percentage, never its name. A public double without
a declaration fails a test (tests/test_workbook.py).

The header is the declared ``label``, else the column name in words (:func:`title`); the note
on the header cell is the column name and its description, which the build persists as the
column's comment in the warehouse (dbt ``persist_docs``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from .warehouse import Marts, qi

DECLARATION_SCHEMA = "audit"
DECLARATION_TABLE = "column_formats"

# What a column's meta ``format`` may say.
FORMATS = {
    "percent": "a share from 0 to 1, shown as a percentage (0.0%)",
    "count": "a whole number of things, with thousands separators",
    "number": "a decimal number",
    "seconds": "a duration in seconds",
    "datetime": "an instant (UTC)",
    "date": "a calendar day",
    "flag": "true or false",
    "text": "text, written as text",
    "kpi_value": "the value of the KPI the row names (its column kpi): that KPI's own format",
    "kpi_difference": "a difference of the KPI the row names: signed, in that KPI's format",
}
NUMERIC_FORMATS = frozenset({"percent", "count", "number", "seconds", "kpi_value", "kpi_difference"})
# Where the KPI named by a kpi_value / kpi_difference row is a column (its format is that column's).
KPI_MARTS = ("rpt_delivery_kpis", "dash_delivery_kpis")
KPI_COLUMN = "kpi"

_INT_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
              "UINTEGER", "UBIGINT", "UHUGEINT", "INT", "INT1", "INT2", "INT4", "INT8", "LONG")
_FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL", "FLOAT4", "FLOAT8")


def format_by_type(data_type: str | None) -> str:
    """The format a column's warehouse data type implies (no declaration)."""
    t = (data_type or "").upper().strip()
    if t == "BOOLEAN" or t == "BOOL":
        return "flag"
    if t.startswith("TIMESTAMP") or t == "DATETIME":
        return "datetime"
    if t == "DATE":
        return "date"
    if t in _INT_TYPES:
        return "count"
    if t in _FLOAT_TYPES or t.startswith("DECIMAL") or t.startswith("NUMERIC"):
        return "number"
    return "text"


def _is_numeric(data_type: str | None) -> bool:
    return format_by_type(data_type) in ("count", "number")


# -- headers -----------------------------------------------------------------------------------
_PHRASES = (  # whole name parts first (underscored), then single words
    ("bounces_errors", "bounces + errors"), ("excl_machine", "(excl. machine)"),
    ("click_through", "click-through"), ("click_to_open", "click-to-open"), ("opt_outs", "opt-outs"),
    ("to_deliver", "to deliver"), ("as_of", "as of"),
)
_WORDS = {"id": "ID", "kpi": "KPI", "efs": "EFS", "smtp": "SMTP", "url": "URL", "utc": "UTC",
          "pii": "PII", "mta": "MTA", "sms": "SMS"}


def title(column: str) -> str:
    """A column name in words, for a header: 'open_rate_excl_machine' -> 'Open rate (excl.
    machine)', 'first_relayed_at' -> 'First relayed', 'is_final' -> 'Final?',
    'start_lag_seconds' -> 'Start lag (s)'."""
    name = column.lower()
    question = name.startswith("is_") or name.startswith("has_")
    if question:
        name = name.split("_", 1)[1]
    suffix = ""
    if name.endswith("_seconds"):
        name, suffix = name[: -len("_seconds")], " (s)"
    elif name.endswith("_at") and name != "as_of":
        name = name[: -len("_at")]
    text = f"_{name}_"
    for part, words in _PHRASES:
        text = text.replace(f"_{part}_", f"_{words.replace(' ', '_')}_")
    words = [_WORDS.get(w, w) for w in text.strip("_").split("_") if w]
    out = " ".join(words)
    out = out[:1].upper() + out[1:] if out else column
    return out + suffix + ("?" if question else "")


@dataclass
class ColumnFormats:
    """The format, header and note of every column of the marts of one warehouse."""

    marts: Marts
    declared: dict[tuple[str, str], str] = field(default_factory=dict)
    labels: dict[tuple[str, str], str] = field(default_factory=dict)
    comments: dict[tuple[str, str], str] = field(default_factory=dict)
    # where the formats come from (said on the About sheet)
    source: str = "the warehouse's data types"
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, marts: Marts) -> "ColumnFormats":
        cf = cls(marts=marts)
        cf.comments = _column_comments(marts)
        rows, source = _warehouse_declaration(marts)
        if rows is None:
            cf.source = (f"the warehouse's data types only (it carries no {DECLARATION_SCHEMA}."
                         f"{DECLARATION_TABLE}: built by an earlier sendlens)")
            return cf
        cf.source = source
        have = {(t, c): marts.column_type(t, c) for t in marts.tables for c in marts.columns(t)}
        for table, column, fmt, label in rows:
            key = (table, column)
            if key not in have:
                continue  # declared for a mart or column this warehouse does not have
            if label:
                cf.labels[key] = str(label)
            if not fmt:
                continue
            fmt = str(fmt)
            if fmt not in FORMATS:
                cf.warnings.append(f"{source}: marts.{table}.{column} has unknown format {fmt!r} "
                                   f"(expected one of {', '.join(FORMATS)}); shown by its data type")
            elif fmt in NUMERIC_FORMATS and not _is_numeric(have[key]):
                cf.warnings.append(f"{source}: marts.{table}.{column} is declared {fmt} but its data "
                                   f"type is {have[key]}; shown by its data type")
            else:
                cf.declared[key] = fmt
        return cf

    def kind(self, table: str, column: str) -> str:
        """The column's format: one of :data:`FORMATS`."""
        return self.declared.get((table, column)) or format_by_type(self.marts.column_type(table, column))

    def kpi_kind(self, kpi: Any) -> str:
        """The format of the KPI a reconciliation row names (a column of :data:`KPI_MARTS`)."""
        name = str(kpi)
        for t in KPI_MARTS:
            if name in self.marts.columns(t):
                k = self.kind(t, name)
                if k in ("percent", "count", "number", "seconds"):
                    return k
        return "number"

    def label(self, table: str, column: str) -> str:
        return self.labels.get((table, column)) or title(column)

    def note(self, table: str, column: str) -> str:
        """The header cell's note: the column's name, then its description (if the build
        persisted one)."""
        text = f"{table}.{column}"
        desc = (self.comments.get((table, column)) or "").strip()
        return f"{text}\n{desc}" if desc else text

    def table_comment(self, table: str) -> str:
        return (self.comments.get((table, "")) or "").strip()


def _warehouse_declaration(m: Marts) -> tuple[list[tuple] | None, str]:
    source = f"{DECLARATION_SCHEMA}.{DECLARATION_TABLE}"
    present = m.con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = ? AND table_name = ?", [DECLARATION_SCHEMA, DECLARATION_TABLE]).fetchone()[0]
    if not present:
        return None, source
    rows = m.con.execute(
        f"SELECT table_name, column_name, {qi('format')}, {qi('label')} "
        f"FROM {qi(DECLARATION_SCHEMA)}.{qi(DECLARATION_TABLE)}").fetchall()
    return [tuple(r) for r in rows], f"declared in the marts' YAML, as built ({source})"


def _column_comments(m: Marts) -> dict[tuple[str, str], str]:
    """The marts' descriptions the build persisted as comments: (table, column) -> text, and
    (table, '') -> the table's."""
    out: dict[tuple[str, str], str] = {}
    try:
        for t, c, comment in m.con.execute(
                "SELECT table_name, column_name, comment FROM duckdb_columns() "
                "WHERE database_name = current_database() AND schema_name = ? AND comment IS NOT NULL",
                [m.schema]).fetchall():
            out[(t, c)] = comment
        for t, comment in m.con.execute(
                "SELECT table_name, comment FROM duckdb_tables() "
                "WHERE database_name = current_database() AND schema_name = ? AND comment IS NOT NULL",
                [m.schema]).fetchall():
            out[(t, "")] = comment
    except duckdb.Error:  # a DuckDB without comments: headers without descriptions
        pass
    return out
