"""Read-only access to the public marts of a sendlens DuckDB warehouse.

Discovers the tables of schema ``marts`` through ``information_schema`` and builds SELECT
lists in which personal data is masked or pseudonymised in SQL (so it also applies to
streamed COPY exports, never materialising rows in Python). Every reader of a mart -- the
CSV and Parquet copies, the workbook, each HTML section -- reads it through
:meth:`Marts.ref` or :meth:`Marts.select_sql`, which apply the same rules.

Which columns hold personal data is read from the warehouse itself: the build writes the
marts' YAML declaration (column meta ``personal_data``) into ``audit.personal_data_columns``
(macros/personal_data.sql). Each declared column is exported as:

- ``address``: masked (``john.doe@gmail.com`` -> ``j***@gmail.com``, ``+31612345689`` -> ``***89``);
- ``identifier``: a pseudonym, ``p_`` + the first 24 hex digits (96 bits) of
  HMAC-SHA256(key, value), computed in DuckDB SQL; one key gives one pseudonym per value in
  every table, so the exported tables still join on it;
- ``free_text``: every e-mail-looking substring masked like an address.

A warehouse without that table (built before it existed) falls back to column names:
:data:`FALLBACK_RULES`. ``include_pii`` exports every value as stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import duckdb

from sendlens.core.sql import identifier, literal

MARTS_SCHEMA = "marts"
# dbt-duckdb without a custom generate_schema_name macro prefixes custom schemas with the
# target schema ("main_marts"); accept it as a fallback so exports work either way.
FALLBACK_SCHEMAS = ("main_marts",)

# The build's declaration of personal data (macros/personal_data.sql).
DECLARATION_SCHEMA = "audit"
DECLARATION_TABLE = "personal_data_columns"
PERSONAL_KINDS = ("address", "identifier", "free_text")
# Without a declaration (a warehouse built before it existed), by column name:
# (kind, exact names, name suffixes).
FALLBACK_RULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("address", ("address",), ("_address",)),
    ("identifier", ("message_id", "profile_id", "event_id", "item_id"), ("_event_id",)),
    ("free_text", ("details", "label", "confirmed_by"), ()),
)
PSEUDONYM_PREFIX = "p_"
PSEUDONYM_HEX = 24  # 96 bits of the HMAC
# What a spreadsheet reads as the start of a formula (OWASP, "CSV injection"): = + - @ TAB CR.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
# A signed plain number (a phone number such as +31612345689, "-2") cannot refer to a cell or
# call a function: it is kept as is, so SMS addresses stay usable. Anything else after + or -
# (a letter, a quote, | ! : ...) is neutralised.
PLAIN_SIGNED_NUMBER = r"[+-][0-9 .,()+-]*"
# An e-mail address inside free text: (first character of the local part) rest of it @ (domain).
EMAIL_IN_TEXT = r"""([^\s@<>()\[\],;:"'])[^\s@<>()\[\],;:"']*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"""
_EMAIL_RE = re.compile(EMAIL_IN_TEXT)


def _text(value: object) -> str:
    text = str(value)
    if "\x00" in text:
        raise ValueError(f"a NUL character cannot be part of an SQL value: {text!r}")
    return text


qi = identifier  # the one quoting helper (sendlens/core/sql.py), by its short local names
ql = literal


def fallback_kind(name: str) -> str | None:
    """The personal-data kind of a column by its name alone (only without a declaration)."""
    n = name.lower()
    for kind, names, suffixes in FALLBACK_RULES:
        if n in names or any(n.endswith(s) for s in suffixes):
            return kind
    return None


def is_address_column(name: str) -> bool:
    """The name rule for address columns (used only without a declaration)."""
    return fallback_kind(name) == "address"


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


def mask_emails_sql(expr: str) -> str:
    """SQL expression masking every e-mail-looking substring of a free text the way an address
    is masked ('ask john.doe@gmail.com' -> 'ask j***@gmail.com')."""
    return f"regexp_replace(CAST({expr} AS VARCHAR), {ql(EMAIL_IN_TEXT)}, {ql(chr(92) + '1***@' + chr(92) + '2')}, 'g')"


def mask_emails(value: Any) -> Any:
    """Python twin of :func:`mask_emails_sql`, for the few texts made in Python (check details)."""
    if not isinstance(value, str):
        return value
    return _EMAIL_RE.sub(lambda m: m.group(1) + "***@" + m.group(2), value)


def _hmac_pads(key: str) -> tuple[bytes, bytes]:
    k = key.encode("utf-8")
    if len(k) > 64:  # RFC 2104: a key longer than the block is hashed first
        k = hashlib.sha256(k).digest()
    k = k.ljust(64, b"\x00")
    return bytes(b ^ 0x36 for b in k), bytes(b ^ 0x5C for b in k)


def pseudonym_sql(expr: str, key: str) -> str:
    """SQL expression: the pseudonym of a value, ``p_`` + the first 24 hex digits of
    HMAC-SHA256(key, the value's UTF-8 text), RFC 2104 written out with DuckDB's ``sha256``
    of blobs: sha256((K xor opad) || sha256((K xor ipad) || value))."""
    ipad, opad = _hmac_pads(key)
    inner = f"unhex(sha256(unhex({ql(ipad.hex())}) || encode(CAST({expr} AS VARCHAR))))"
    return (f"CASE WHEN {expr} IS NULL THEN NULL ELSE {ql(PSEUDONYM_PREFIX)} || "
            f"left(sha256(unhex({ql(opad.hex())}) || {inner}), {PSEUDONYM_HEX}) END")


def pseudonymise(value: Any, key: str) -> str | None:
    """Python twin of :func:`pseudonym_sql` (the same pseudonym for the same key and value)."""
    if value is None:
        return None
    digest = hmac.new(key.encode("utf-8"), str(value).encode("utf-8"), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:PSEUDONYM_HEX]


def neutralise_formula_sql(expr: str) -> str:
    """SQL expression: a text a spreadsheet would read as a formula -- it starts with = @, a tab
    or a carriage return, or with + or - followed by more than a plain number -- gets a leading
    apostrophe (OWASP); other values are unchanged."""
    always = ", ".join(f"chr({ord(c)})" if c in "\t\r" else ql(c) for c in FORMULA_LEADS if c not in "+-")
    return (f"CASE WHEN left({expr}, 1) IN ({always}) OR (left({expr}, 1) IN ('+', '-') "
            f"AND NOT regexp_full_match({expr}, {ql(PLAIN_SIGNED_NUMBER)})) "
            f"THEN '''' || {expr} ELSE {expr} END")


def neutralise_formula(value: Any) -> Any:
    """Python twin of :func:`neutralise_formula_sql`, for the few cells written in Python."""
    if isinstance(value, str) and value[:1] in FORMULA_LEADS and not (
            value[:1] in "+-" and re.fullmatch(PLAIN_SIGNED_NUMBER, value)):
        return "'" + value
    return value


def new_pseudonym_key() -> str:
    """A random key for one export: its pseudonyms join within that export only."""
    return secrets.token_hex(32)


def _is_text(data_type: str | None) -> bool:
    t = (data_type or "").upper()
    return t in ("VARCHAR", "TEXT", "STRING") or t.startswith("VARCHAR(")


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
    # table -> column -> personal-data kind (address / identifier / free_text)
    personal: dict[str, dict[str, str]] = field(default_factory=dict)
    # where `personal` comes from: "audit.personal_data_columns" or "fallback: column names"
    personal_source: str = "fallback: column names"
    # the pseudonymisation key (never written anywhere); None with include_pii
    pseudonym_key: str | None = None
    pseudonym_key_given: bool = False
    warnings: list[str] = field(default_factory=list)
    _counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def open(cls, con: duckdb.DuckDBPyConnection, include_pii: bool = False,
             schema: str | None = None, pseudonym_key: str | None = None) -> "Marts":
        """``pseudonym_key``: the secret of the pseudonyms (a per-home key keeps them the same
        from export to export); without one a random key is made for this export only."""
        if pseudonym_key is not None and (not isinstance(pseudonym_key, str) or not pseudonym_key):
            raise ValueError("pseudonym_key must be a non-empty string")
        schemas = [schema] if schema else [MARTS_SCHEMA, *FALLBACK_SCHEMAS]
        rows = con.execute(
            "SELECT table_schema, table_name, column_name, data_type "
            "FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND table_schema IN (SELECT unnest(?)) "
            "ORDER BY table_schema, table_name, ordinal_position", [schemas]).fetchall()
        found = [s for s in schemas if any(r[0] == s for r in rows)]
        chosen = found[0] if found else schemas[0]
        tables: dict[str, list[Column]] = {}
        for s, t, c, dt in rows:
            if s == chosen:
                tables.setdefault(t, []).append(Column(c, dt))
        marts = cls(con=con, schema=chosen, tables=dict(sorted(tables.items())), include_pii=include_pii)
        if not include_pii:
            marts.pseudonym_key_given = pseudonym_key is not None
            marts.pseudonym_key = pseudonym_key if pseudonym_key is not None else new_pseudonym_key()
        marts._load_declaration()
        return marts

    def _load_declaration(self) -> None:
        con = self.con
        present = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
            "AND table_schema = ? AND table_name = ?", [DECLARATION_SCHEMA, DECLARATION_TABLE]).fetchone()[0]
        personal: dict[str, dict[str, str]] = {}
        if present:
            self.personal_source = f"{DECLARATION_SCHEMA}.{DECLARATION_TABLE}"
            declared = con.execute(
                f"SELECT table_name, column_name, personal_data FROM {qi(DECLARATION_SCHEMA)}.{qi(DECLARATION_TABLE)}"
            ).fetchall()
            for t, c, kind in declared:
                if kind not in PERSONAL_KINDS:
                    raise ValueError(f"{self.personal_source}: {t}.{c} has unknown personal_data {kind!r} "
                                     f"(expected one of {', '.join(PERSONAL_KINDS)})")
                if t in self.tables and c in self.columns(t):
                    personal.setdefault(t, {})[c] = kind
            # A column whose name says "address" but that nobody declared: say so (the
            # declaration is the rule; this only points at a gap in it).
            for t in self.tables:
                for c in self.columns(t):
                    if is_address_column(c) and c not in personal.get(t, {}):
                        self.warnings.append(f"marts.{t}.{c} looks like an address but is not declared "
                                             f"personal_data in the marts' YAML; exported as stored")
        else:
            self.personal_source = "fallback: column names"
            for t in self.tables:
                for c in self.columns(t):
                    kind = fallback_kind(c)
                    if kind:
                        personal.setdefault(t, {})[c] = kind
        self.personal = personal

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

    def personal_kind(self, table: str, col: str) -> str | None:
        """How ``table.col`` is exported: 'address', 'identifier', 'free_text' or None (as is)."""
        if self.include_pii:
            return None
        return self.personal.get(table, {}).get(col)

    def raw_ref(self, table: str) -> str:
        """The stored table itself (personal data as stored): for counts only."""
        return f"{qi(self.schema)}.{qi(table)}"

    def ref(self, table: str) -> str:
        """What every reader selects from: the table with its personal data masked or
        pseudonymised (a subquery), or the table itself when nothing in it is personal."""
        if any(self.personal_kind(table, c) for c in self.columns(table)):
            return f"({self.select_sql(table)})"
        return self.raw_ref(table)

    def count(self, table: str) -> int:
        if table not in self._counts:
            self._counts[table] = int(self.con.execute(
                f"SELECT count(*) FROM {self.raw_ref(table)}").fetchone()[0])
        return self._counts[table]

    def set_count(self, table: str, n: int) -> None:
        """Record a known row count (e.g. from COPY) so that it is not recounted."""
        self._counts[table] = int(n)

    def non_empty(self, table: str) -> bool:
        return self.has(table) and self.count(table) > 0

    # -- SQL building ------------------------------------------------------------------------
    def col_expr(self, table: str, col: str, *, for_parquet: bool = False, for_csv: bool = False) -> str:
        """The SELECT expression of one column (personal data masked or pseudonymised; in CSV,
        text that a spreadsheet would run as a formula neutralised), aliased to its own name."""
        expr = qi(col)
        kind = self.personal_kind(table, col)
        if kind == "address":
            expr = mask_address_sql(expr)
        elif kind == "identifier":
            assert self.pseudonym_key is not None
            expr = pseudonym_sql(expr, self.pseudonym_key)
        elif kind == "free_text":
            expr = mask_emails_sql(expr)
        elif for_parquet and (self.column_type(table, col) or "").upper() in ("HUGEINT", "UHUGEINT", "INT128"):
            # sum() yields HUGEINT, which Parquet stores as DOUBLE; counts stay integers.
            expr = f"CAST({expr} AS BIGINT)"
        if for_csv and (kind or _is_text(self.column_type(table, col))):
            expr = neutralise_formula_sql(expr)
        return f"{expr} AS {qi(col)}" if expr != qi(col) else expr

    def select_sql(self, table: str, cols: Sequence[str] | None = None, *,
                   for_parquet: bool = False, for_csv: bool = False) -> str:
        cols = list(cols) if cols is not None else self.columns(table)
        sel = ", ".join(self.col_expr(table, c, for_parquet=for_parquet, for_csv=for_csv) for c in cols)
        return f"SELECT {sel} FROM {self.raw_ref(table)}"

    def manifest_entry(self) -> dict[str, Any]:
        """What the manifest says about personal data (never the key itself)."""
        if self.include_pii:
            return {"include_pii": True, "declaration": self.personal_source,
                    "note": "every value exported as stored"}
        return {
            "include_pii": False,
            "declaration": self.personal_source,
            "columns": {f"{t}.{c}": k for t, cols in sorted(self.personal.items()) for c, k in sorted(cols.items())},
            "address": "masked: first character of the local part + ***@domain; other values ***<last 2>",
            "free_text": "every e-mail-looking substring masked like an address",
            "identifier": (f"{PSEUDONYM_PREFIX} + first {PSEUDONYM_HEX} hex digits of HMAC-SHA256(key, value)"),
            "pseudonym_key": ("the home's key: pseudonyms are the same in every export of this home"
                              if self.pseudonym_key_given else
                              "random, made for this export: pseudonyms join within this export only"),
        }

    # -- fetching ----------------------------------------------------------------------------
    def dicts(self, sql: str, params: Iterable[Any] | None = None) -> list[dict[str, Any]]:
        cur = self.con.execute(sql, list(params) if params is not None else None)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]


def connect_read_only(warehouse: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(warehouse), read_only=True)
    con.execute("set enable_progress_bar = false")
    try:
        con.execute("SET TimeZone = 'UTC'")
    except duckdb.Error:  # ICU not available: timestamps are naive UTC anyway
        pass
    return con
