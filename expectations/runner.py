"""Data-quality gate: run the JSON suites and the cross-table checks against a warehouse.

``validate_warehouse`` opens a DuckDB file read-only and, for every suite in
``expectations/suites``, streams the suite's table as Arrow record batches of ``chunk_rows``
rows, converts each batch to pandas and validates it with Great Expectations (pandas
datasource, ephemeral context). Results are aggregated over chunks: unexpected counts are
summed, a ``mostly`` threshold is applied to the whole table, a few unexpected values are kept.

Why pandas and not SQL: great-expectations 1.24 returns empty results on DuckDB through
SQLAlchemy, so the rows are read with DuckDB and validated in memory, chunk by chunk.
Whole-table invariants (uniqueness, contiguous intervals) are dbt tests, not suites.

Besides the suites, a few plain DuckDB checks run here because they span rows or tables:

- ``cross.fct_message_status_vs_send_log``: exactly one row per mode (two rows) for every
  message of the sending log relayed at or before as_of, and none for any other message;
- ``freshness.rpt_delivery_kpis_as_of``: every report row was built as of the build's as_of;
- ``consistency.rpt_delivery_kpis``: processed = delivered + bounces_errors and
  bounces_errors = hard_bounces + soft_bounces;
- ``consistency.dash_delivery_kpis``: delivered + bounces_errors <= sent;
- ``consistency.rpt_delivery_kpis_hourly``: hour_start is on the hour.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa

from sendlens.core.sql import identifier, literal

SUITES_DIR = Path(__file__).resolve().parent / "suites"
MART_SCHEMA = "marts"
STAGING_SCHEMA = "staging"
SAMPLE_VALUES = 5  # unexpected values kept per expectation
# rows per validated frame (great-expectations has a fixed cost per frame): at 10M messages
# the largest suite took 42 s in 500k-row frames, 36 s in 1M (+0.2 GB), 34 s in 2M (+0.9 GB)
CHUNK_ROWS = 1_000_000

Status = Literal["passed", "failed"]


# ---- results -----------------------------------------------------------------------------
@dataclass
class ExpectationOutcome:
    """One expectation of one suite, aggregated over every chunk of its table."""

    type: str
    kwargs: dict[str, Any]
    severity: str  # critical | warning
    success: bool
    observed: str  # readable observed value ("2 unexpected of 1000 (0.20%), e.g. [...]")

    @property
    def label(self) -> str:
        return f"{self.type}({_fmt_kwargs(self.kwargs)})"


@dataclass
class CheckResult:
    name: str
    status: Status
    details: str
    failures: list[str]
    kind: str = "suite"  # suite | cross | freshness | consistency
    relation: str | None = None
    rows: int | None = None
    warnings: list[str] = field(default_factory=list)
    expectations: list[ExpectationOutcome] = field(default_factory=list)
    seconds: float = 0.0
    skipped: bool = False  # nothing to check (optional table absent); status is "passed"

    @property
    def label(self) -> str:
        return "skipped" if self.skipped else self.status


@dataclass
class CheckReport:
    results: list[CheckResult]
    as_of: datetime | None = None
    db_path: Path | None = None
    seconds: float = 0.0
    memory_limit: str | None = None  # the suites' DuckDB limit, as DuckDB reports it

    @property
    def passed(self) -> bool:
        return all(r.status == "passed" for r in self.results)

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "failed"]

    def result(self, name: str) -> CheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def summary(self) -> str:
        failed = self.failed
        n_warn = sum(len(r.warnings) for r in self.results)
        head = (f"data-quality checks: {'PASSED' if not failed else 'FAILED'} "
                f"({len(self.results) - len(failed)} of {len(self.results)} checks passed")
        head += f", {n_warn} warning{'s' if n_warn != 1 else ''})" if n_warn else ")"
        if self.as_of is not None:
            head += f" as of {self.as_of.isoformat(sep=' ')}"
        lines = [head]
        for r in sorted(self.results, key=lambda r: r.status != "failed"):
            what = f"suite {r.name}" if r.kind == "suite" else f"check {r.name}"
            lines.append(f"  [{r.status.upper() if r.status == 'failed' else r.label}] "
                         f"{what}: {r.details}")
            for f in r.failures:
                lines.append(f"      FAIL {f}")
            for w in r.warnings:
                lines.append(f"      warn {w}")
        return "\n".join(lines)


# ---- suites ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SuiteDef:
    name: str
    source: str  # landing | mart
    table: str
    columns: tuple[str, ...]
    optional: bool
    staging_columns: dict[str, str]
    column_types: dict[str, str]
    expectations: tuple[dict, ...]
    raw: dict


def load_suites(suites_dir: Path = SUITES_DIR) -> list[SuiteDef]:
    return list(_load_suites(str(suites_dir)))


@lru_cache(maxsize=4)
def _load_suites(suites_dir: str) -> tuple[SuiteDef, ...]:
    out = []
    for path in sorted(Path(suites_dir).glob("*.json")):
        raw = json.loads(path.read_text())
        meta = raw.get("meta", {}).get("sendlens", {})
        out.append(SuiteDef(
            name=raw["name"],
            source=meta.get("source", "mart"),
            table=meta.get("table", raw["name"]),
            columns=tuple(meta.get("columns", ())),
            optional=bool(meta.get("optional", False)),
            staging_columns=dict(meta.get("staging_columns", {})),
            column_types=dict(meta.get("column_types", {})),
            expectations=tuple(raw.get("expectations", ())),
            raw=raw,
        ))
    order = {"landing": 0, "mart": 1}
    return tuple(sorted(out, key=lambda s: order.get(s.source, 2)))


# ---- Great Expectations ------------------------------------------------------------------
def _import_great_expectations():
    """Import GE without letting it import pyspark. We validate pandas batches only, and pyspark
    (present with the optional spark extra) calls sys.exit(0) on import in a process whose
    __main__ has neither __spec__ nor __file__ (``python -c``, pytest-xdist workers)."""
    import sys

    hide = "pyspark" not in sys.modules
    if hide:
        sys.modules["pyspark"] = None  # type: ignore[assignment]  # -> ImportError: "not installed"
    try:
        import great_expectations as gx
    finally:
        if hide and sys.modules.get("pyspark") is None:
            del sys.modules["pyspark"]
    return gx


def preload() -> None:
    """Import great-expectations ahead of ``validate_warehouse`` (the import alone takes seconds):
    a build calls this in a thread while dbt runs in its own process."""
    _import_great_expectations()


class _GX:
    """One ephemeral context with every suite, built once per ``validate_warehouse`` call."""

    def __init__(self, suites: Iterable[SuiteDef]) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        gx_log = logging.getLogger("great_expectations")
        if gx_log.level == logging.NOTSET:  # GE logs INFO chatter about its temp docs site
            gx_log.setLevel(logging.WARNING)
        gx = _import_great_expectations()

        self.ctx = gx.get_context(mode="ephemeral")
        try:
            from great_expectations.data_context.types.base import ProgressBarsConfig

            self.ctx.variables.progress_bars = ProgressBarsConfig(
                globally=False, metric_calculations=False)
        except Exception:  # progress bars are cosmetic
            pass
        try:
            from great_expectations.validator.v1_validator import Validator as V1Validator

            self._validator_cls: Any = V1Validator
        except ImportError:  # pragma: no cover - other GE layouts: the public path
            self._validator_cls = None
        try:
            # GE md5-fingerprints every in-memory DataFrame below 1 GB (a batch marker nobody
            # here reads): a quarter of the validation time. Chunks are never re-identified.
            from great_expectations.execution_engine import pandas_execution_engine

            pandas_execution_engine.HASH_THRESHOLD = 0
        except (ImportError, AttributeError):  # pragma: no cover
            pass
        asset = self.ctx.data_sources.add_pandas("sendlens").add_dataframe_asset("chunk")
        self.batch_definition = asset.add_batch_definition_whole_dataframe("whole")
        self.sizes: dict[str, int] = {}  # suite -> number of expectations
        self.parts: dict[str, list[_Part]] = {}
        for s in suites:
            self.sizes[s.name] = len(s.expectations)
            self.parts[s.name] = []
            for n, (columns, positions) in enumerate(_split(s.expectations)):
                suite = self.ctx.suites.add(gx.ExpectationSuite(
                    name=f"{s.name}#{n}", expectations=[dict(s.expectations[i]) for i in positions],
                    meta=s.raw.get("meta", {})))
                index = {str(e.id): i for e, i in zip(suite.expectations, positions)}
                self.parts[s.name].append(_Part(suite, columns, positions, index))

    def validate(self, suite_name: str, df: Any) -> list[dict]:
        """Per expectation (suite order): success, result dict, exception message."""
        out: list[dict] = [{"success": False, "result": {}, "error": "not evaluated"}
                           for _ in range(self.sizes[suite_name])]
        for part in self.parts[suite_name]:
            if part.columns is None:
                frame = df
            elif not part.columns:  # the schema: which columns exist
                frame = df.iloc[:0]
            else:
                frame = df[[c for c in df.columns if c in part.columns]]
            self._validate_part(part, frame, out)
        return out

    def _validate_part(self, part: _Part, df: Any, out: list[dict]) -> None:
        result_format = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_VALUES}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if self._validator_cls is not None:
                    # What Batch.validate does, minus the extra get_batch (one conversion and
                    # fingerprint less per chunk).
                    res = self._validator_cls(
                        batch_definition=self.batch_definition, result_format=result_format,
                        batch_parameters={"dataframe": df},
                    ).validate_expectation_suite(part.suite)
                else:
                    batch = self.batch_definition.get_batch(batch_parameters={"dataframe": df})
                    res = batch.validate(part.suite, result_format=result_format)
        except Exception as exc:  # this part could not run on this chunk
            msg = f"validation raised {type(exc).__name__}: {_first_line(str(exc))}"
            for i in part.positions:
                out[i] = {"success": False, "result": {}, "error": msg}
            return
        for pos, r in enumerate(res.results):
            i = part.index.get(str(r.expectation_config.id), part.positions[pos])
            out[i] = {"success": bool(r.success), "result": dict(r.result or {}),
                      "error": _exception_message(r.exception_info)}


@dataclass(frozen=True)
class _Part:
    """Expectations of one suite that read the same columns, validated on those columns only.

    great-expectations' pandas engine filters the whole frame (every column) for each
    expectation's domain (non-null rows, a row condition): on a narrow frame that costs a
    fraction. ``columns`` None is the whole frame, empty is the schema (a zero-row frame).
    """

    suite: Any
    columns: frozenset[str] | None
    positions: tuple[int, ...]  # the expectations' positions in the suite
    index: dict[str, int]  # expectation id -> position


def _condition_columns(condition: Any) -> set[str] | None:
    """The columns a structured row condition names; None when it cannot be read (a string)."""
    if not isinstance(condition, (dict, list)):
        return None
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "column" and isinstance(value, str):
                    names.add(value)
                elif key == "column" and isinstance(value, dict) and isinstance(value.get("name"), str):
                    names.add(value["name"])
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(condition)
    return names


def _expectation_columns(exp: dict) -> frozenset[str] | None:
    """The columns one expectation reads: empty for a schema check, None for the whole frame."""
    if exp.get("type") == "expect_column_to_exist":
        return frozenset()
    kwargs = exp.get("kwargs", {})
    columns = {kwargs[k] for k in ("column", "column_A", "column_B") if isinstance(kwargs.get(k), str)}
    if kwargs.get("row_condition") is not None:
        named = _condition_columns(kwargs["row_condition"])
        if named is None:
            return None
        columns |= named
    return frozenset(columns) if columns else None


def _split(expectations: tuple[dict, ...]) -> list[tuple[frozenset[str] | None, tuple[int, ...]]]:
    """Group a suite's expectations into parts that share columns (connected column sets)."""
    groups: list[tuple[frozenset[str] | None, list[int]]] = []
    for i, exp in enumerate(expectations):
        columns = _expectation_columns(exp)
        if not columns:  # the schema part, or the whole-frame part
            for n, (cols, members) in enumerate(groups):
                if cols == columns and (cols is None or not cols):
                    members.append(i)
                    break
            else:
                groups.append((columns, [i]))
            continue
        merged, members = set(columns), [i]
        kept = []
        for cols, group in groups:
            if cols and cols & merged:
                merged |= cols
                members.extend(group)
            else:
                kept.append((cols, group))
        groups = kept + [(frozenset(merged), members)]
    return [(cols, tuple(sorted(members))) for cols, members in groups]


def _exception_message(info: Any) -> str | None:
    if not info:
        return None
    if isinstance(info, dict) and "raised_exception" in info:
        return _first_line(info.get("exception_message") or "error") if info["raised_exception"] else None
    if isinstance(info, dict):  # keyed by metric configuration
        for v in info.values():
            if isinstance(v, dict) and v.get("raised_exception"):
                return _first_line(v.get("exception_message") or "error")
    return None


def _first_line(text: str) -> str:
    text = str(text).strip()
    line = text.splitlines()[0][:300] if text else text
    return line[len("Error: "):] if line.startswith("Error: ") else line


# ---- aggregation over chunks -------------------------------------------------------------
class _Agg:
    def __init__(self, exp: dict) -> None:
        self.exp = exp
        self.chunks = 0
        self.all_success = True
        self.has_counts = False
        self.element = 0
        self.missing = 0
        self.unexpected = 0
        self.samples: list[Any] = []
        self.observed: Any = None
        self.error: str | None = None

    def add(self, r: dict) -> None:
        self.chunks += 1
        if r["error"] and not self.error:
            self.error = r["error"]
        res = r["result"]
        if "unexpected_count" in res and "element_count" in res:
            self.has_counts = True
            self.element += int(res.get("element_count") or 0)
            self.missing += int(res.get("missing_count") or 0)
            self.unexpected += int(res.get("unexpected_count") or 0)
            for v in res.get("partial_unexpected_list") or []:
                if len(self.samples) >= SAMPLE_VALUES:
                    break
                v = _plain(v)
                if v is not None and v not in self.samples:
                    self.samples.append(v)
        if not r["success"]:
            if self.all_success and "observed_value" in res:
                self.observed = res["observed_value"]
            self.all_success = False
        elif self.observed is None and "observed_value" in res:
            self.observed = res["observed_value"]

    def outcome(self) -> ExpectationOutcome:
        kwargs = self.exp.get("kwargs", {})
        severity = str(self.exp.get("severity", "critical")).lower()
        if self.error:
            return ExpectationOutcome(self.exp["type"], kwargs, severity, False,
                                      f"error: {self.error}")
        if self.has_counts:
            base = self.element - self.missing
            mostly = kwargs.get("mostly")
            if mostly is None:
                ok = self.unexpected == 0
            else:
                ok = base == 0 or (base - self.unexpected) / base >= float(mostly)
            pct = f" ({100 * self.unexpected / base:.2f}%)" if base else ""
            observed = f"{self.unexpected} unexpected of {base} values{pct}"
            if mostly is not None:
                observed += f", mostly={mostly}"
            if self.samples:
                observed += f", e.g. {self.samples!r}"
            return ExpectationOutcome(self.exp["type"], kwargs, severity, ok, observed)
        observed = "ok" if self.all_success else "failed"
        if not self.all_success and self.exp["type"] == "expect_column_to_exist":
            observed = "column missing"
        elif self.observed is not None:
            observed = f"observed {_plain(self.observed)!r}"
        return ExpectationOutcome(self.exp["type"], kwargs, severity, self.all_success, observed)


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


# ---- reading ------------------------------------------------------------------------------
def _arrow_reader(con: duckdb.DuckDBPyConnection, sql: str, rows: int) -> pa.RecordBatchReader:
    rel = con.sql(sql)
    if hasattr(rel, "to_arrow_reader"):  # duckdb >= 2
        return rel.to_arrow_reader(rows)
    return rel.fetch_record_batch(rows)  # duckdb 1.x


def _chunks(con: duckdb.DuckDBPyConnection, sql: str, chunk_rows: int) -> Iterator[pa.Table]:
    """The query's rows as Arrow tables of exactly chunk_rows rows (the last may be shorter);
    one empty table when there are no rows (so column checks still run)."""
    reader = _arrow_reader(con, sql, chunk_rows)
    schema = reader.schema
    buf: list[pa.RecordBatch] = []
    n = 0
    yielded = False
    for batch in reader:
        if batch.num_rows == 0:
            continue
        buf.append(batch)
        n += batch.num_rows
        while n >= chunk_rows:
            table = pa.Table.from_batches(buf, schema)
            yield table.slice(0, chunk_rows)
            yielded = True
            rest = table.slice(chunk_rows)
            buf, n = rest.to_batches(), rest.num_rows
    if n or not yielded:
        yield pa.Table.from_batches(buf, schema)


def _pandas_schema(schema: pa.Schema) -> pa.Schema:
    """Types GE's pandas metrics handle well: naive timestamps become UTC-aware (all sendlens
    timestamps are UTC; GE compares datetime bounds vectorised only on tz-aware columns) and
    decimals (DuckDB HUGEINT sums, DECIMAL) become float64."""
    fields = []
    for f in schema:
        t = f.type
        if pa.types.is_timestamp(t) and t.tz is None:
            t = pa.timestamp(t.unit, tz="UTC")
        elif pa.types.is_decimal(t):
            t = pa.float64()
        fields.append(f.with_type(t))
    return pa.schema(fields)


def _to_pandas(table: pa.Table, target: pa.Schema) -> Any:
    if table.schema != target:
        table = table.cast(target)
    return table.to_pandas(split_blocks=True, self_destruct=True)


# ---- the warehouse ------------------------------------------------------------------------
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


def _naive_utc(ts: datetime) -> datetime:
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    return ts


# ---- running a suite ----------------------------------------------------------------------
def _run_suite(gxr: _GX, s: SuiteDef, con: duckdb.DuckDBPyConnection, wh: _Warehouse,
               lake_globs: dict[str, str | list[str]] | None, chunk_rows: int,
               changed: dict[str, tuple[str, str]] | None = None) -> CheckResult:
    started = time.monotonic()
    # Where the rows are, and how to select the suite's columns under their contract names.
    if s.source == "landing":
        glob = (lake_globs or {}).get(s.table)
        if glob is not None:
            relation = f"read_parquet({_files(glob)}, union_by_name = true)"
            label = f"lake {glob}"
            available = _glob_columns(con, glob)
            missing_msg = f"no landed files match {glob}"
        else:
            relation = f"{STAGING_SCHEMA}.{identifier('stg_' + s.table)}"
            label = f"{STAGING_SCHEMA}.stg_{s.table}"
            available = wh.cols(STAGING_SCHEMA, f"stg_{s.table}") or None
            missing_msg = f"table {label} missing"
    else:
        relation = f"{MART_SCHEMA}.{identifier(s.table)}"
        label = f"{MART_SCHEMA}.{s.table}"
        available = wh.cols(MART_SCHEMA, s.table) or None
        missing_msg = f"table {label} missing"

    if available is None:
        if s.optional:
            return CheckResult(s.name, "passed", f"skipped: {missing_msg}", [], "suite", label,
                               seconds=time.monotonic() - started, skipped=True)
        return CheckResult(s.name, "failed", missing_msg, [f"{s.name}: {missing_msg}"], "suite",
                           label, seconds=time.monotonic() - started)

    select = []
    for col in s.columns or tuple(available):
        if col in available:
            select.append(identifier(col))
        elif s.staging_columns.get(col) in available and relation.startswith(STAGING_SCHEMA):
            select.append(f"{identifier(s.staging_columns[col])} as {identifier(col)}")
    sql = f"select {', '.join(select) if select else '*'} from {relation}"
    key, keys_table = (changed or {}).get(s.table, (None, None))
    if key is not None and key in available:
        # an incremental build: the rows of the recomputed keys (the kept ones passed)
        sql += f" where {identifier(key)} in (select {identifier(key)} from {keys_table})"
        label += f" (recomputed {key} only)"
    if not select:  # none of the suite's columns: validate an empty frame (columns missing)
        sql = f"select * from {relation} limit 0"

    aggs = [_Agg(e) for e in s.expectations]
    rows = chunks = 0
    target: pa.Schema | None = None
    try:
        for table in _chunks(con, sql, chunk_rows):
            if target is None:
                target = _pandas_schema(table.schema)
            rows += table.num_rows
            chunks += 1
            df = _to_pandas(table, target)
            for agg, r in zip(aggs, gxr.validate(s.name, df)):
                agg.add(r)
            del df
    except duckdb.Error as exc:
        msg = f"could not read {label}: {_first_line(str(exc))}"
        return CheckResult(s.name, "failed", msg, [f"{s.name}: {msg}"], "suite", label,
                           seconds=time.monotonic() - started)

    outcomes = [a.outcome() for a in aggs]
    # Column types against the DuckDB schema (counts are integers, rates numeric, ...).
    for col, family in s.column_types.items():
        dtype = available.get(col)
        if dtype is None:
            continue  # expect_column_to_exist reports it
        outcomes.append(ExpectationOutcome(
            "sendlens_column_type", {"column": col, "type": family}, "critical",
            _type_ok(family, dtype), f"DuckDB type {dtype}"))

    failures = [f"{s.name}: {o.label}: {o.observed}" for o in outcomes
                if not o.success and o.severity != "warning"]
    warns = [f"{s.name}: {o.label}: {o.observed}" for o in outcomes
             if not o.success and o.severity == "warning"]
    status: Status = "failed" if failures else "passed"
    n_ok = sum(o.success for o in outcomes)
    details = (f"{label}: {rows} row{'s' if rows != 1 else ''} in {chunks} "
               f"chunk{'s' if chunks != 1 else ''}, "
               f"{n_ok} of {len(outcomes)} expectations met")
    return CheckResult(s.name, status, details, failures, "suite", label, rows, warns, outcomes,
                       time.monotonic() - started)


# ---- cross-table checks -------------------------------------------------------------------
def _send_log_relation(con: duckdb.DuckDBPyConnection, wh: _Warehouse,
                       lake_globs: dict[str, str | list[str]] | None,
                       incremental: bool = False) -> str | None:
    """Relayed-at per message of the sending log: staging (deduplicated, newest version wins),
    on an incremental build the kept int_messages (the same rows, without re-reading the whole
    lake), or, failing both, the landed files (a message counts as relayed if any version is)."""
    if incremental and wh.has("intermediate", "int_messages"):
        return "(select message_id, relayed_at from intermediate.int_messages)"
    if wh.has(STAGING_SCHEMA, "stg_send_log"):
        return (f"(select message_id, relayed_at from {STAGING_SCHEMA}.stg_send_log)")
    glob = (lake_globs or {}).get("send_log")
    if glob and _glob_columns(con, glob) is not None:
        return (f"(select message_id, max(relayed_at) as relayed_at from "
                f"read_parquet({_files(glob)}, union_by_name = true) group by message_id)")
    return None


def _check(name: str, kind: str, fn, *args) -> CheckResult:
    started = time.monotonic()
    try:
        res = fn(*args)
    except duckdb.Error as exc:
        msg = f"could not evaluate: {_first_line(str(exc))}"
        res = CheckResult(name, "failed", msg, [f"{name}: {msg}"], kind)
    res.name, res.kind, res.seconds = name, kind, time.monotonic() - started
    return res


def _skip(why: str) -> CheckResult:
    return CheckResult("", "passed", f"skipped: {why}", [], skipped=True)


def _cross_status_vs_log(con, wh: _Warehouse, log: str | None, as_of: datetime,
                         changed_messages: str | None = None) -> CheckResult:
    if not wh.has(MART_SCHEMA, "fct_message_status"):
        return _skip("marts.fct_message_status missing")
    if log is None:
        return _skip("no sending log (staging.stg_send_log missing, no send_log lake glob)")
    only = (f"and message_id in (select message_id from {changed_messages})"
            if changed_messages else "")  # an incremental build: the recomputed messages
    # one pass: a full join of the relayed messages and the status rows counted per mode (a
    # count(distinct) per message, and a CTE read once per figure, took three times as long)
    sql = f"""
        with relayed as (
            select distinct message_id from {log}
            where relayed_at is not null and relayed_at <= ? {only}
        ),
        status as (
            select message_id, count(*) as n_rows,
                   count(*) filter (where reporting_mode = 'standard') as n_standard,
                   count(*) filter (where reporting_mode = 'efs') as n_efs
            from {MART_SCHEMA}.fct_message_status where true {only} group by message_id
        ),
        compared as (
            select
                coalesce(relayed.message_id, status.message_id) as message_id,
                relayed.message_id is not null as is_relayed,
                relayed.message_id is not null and (status.message_id is null or status.n_rows <> 2
                    or status.n_standard <> 1 or status.n_efs <> 1) as is_bad,
                relayed.message_id is null as is_extra
            from relayed full outer join status on relayed.message_id = status.message_id
        )
        select
            count(*) filter (where is_relayed),
            count(*) filter (where is_bad),
            (list(message_id order by message_id) filter (where is_bad))[1:{SAMPLE_VALUES}],
            count(*) filter (where is_extra),
            (list(message_id order by message_id) filter (where is_extra))[1:{SAMPLE_VALUES}]
        from compared
    """
    n_relayed, n_bad, bad_ids, n_extra, extra_ids = con.execute(sql, [as_of]).fetchone()
    failures = []
    if n_bad:
        failures.append(f"fct_message_status: {n_bad} of {n_relayed} relayed messages do not "
                        f"have exactly 2 rows (one per reporting mode), e.g. {bad_ids}")
    if n_extra:
        failures.append(f"fct_message_status: {n_extra} messages have a status but were not "
                        f"relayed by {as_of.isoformat(sep=' ')}, e.g. {extra_ids}")
    details = (f"{n_relayed} relayed messages in the sending log, "
               f"{n_bad} without exactly 2 status rows, {n_extra} unexpected status messages")
    return CheckResult("", "failed" if failures else "passed", details, failures)


def _freshness_as_of(con, wh: _Warehouse, as_of: datetime) -> CheckResult:
    if not wh.has(MART_SCHEMA, "rpt_delivery_kpis"):
        return _skip("marts.rpt_delivery_kpis missing")
    n, n_bad, seen = con.execute(f"""
        select count(*), count(*) filter (where as_of is distinct from ?),
               list(distinct cast(as_of as varchar)) filter (where as_of is distinct from ?)
        from {MART_SCHEMA}.rpt_delivery_kpis""", [as_of, as_of]).fetchone()
    want = as_of.isoformat(sep=" ")
    if n_bad:
        seen = sorted(seen or [], key=str)[:SAMPLE_VALUES]
        return CheckResult("", "failed", f"{n_bad} of {n} rows not as of {want}",
                           [f"rpt_delivery_kpis.as_of: {n_bad} of {n} rows differ from the "
                            f"build's as_of {want}; observed {seen}"])
    return CheckResult("", "passed", f"{n} rows as of {want}", [])


def _rule_check(con, wh: _Warehouse, table: str, rules: list[tuple[str, str]]) -> CheckResult:
    if not wh.has(MART_SCHEMA, table):
        return _skip(f"marts.{table} missing")
    failures = []
    total = con.execute(f"select count(*) from {MART_SCHEMA}.{table}").fetchone()[0]
    for label, violated in rules:
        n, sample = con.execute(f"""
            select count(*), list(delivery_id)[1:{SAMPLE_VALUES}]
            from {MART_SCHEMA}.{table} where coalesce({violated}, false)""").fetchone()
        if n:
            failures.append(f"{table}: {label}: {n} of {total} rows violate it, "
                            f"e.g. delivery_id {sample}")
    details = f"{len(rules) - len(failures)} of {len(rules)} rules hold on {total} rows"
    return CheckResult("", "failed" if failures else "passed", details, failures)


_RULES: dict[str, list[tuple[str, str]]] = {
    "rpt_delivery_kpis": [
        ("processed = delivered + bounces_errors", "processed <> delivered + bounces_errors"),
        ("bounces_errors = hard_bounces + soft_bounces",
         "bounces_errors <> hard_bounces + soft_bounces"),
    ],
    "dash_delivery_kpis": [
        ("delivered + bounces_errors <= sent", "delivered + bounces_errors > sent"),
    ],
    "rpt_delivery_kpis_hourly": [
        ("hour_start is on the hour", "date_trunc('hour', hour_start) <> hour_start"),
    ],
}


# ---- entry point --------------------------------------------------------------------------
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


@dataclass
class SuiteJob:
    """What a process needs to run suites on a built warehouse (picklable: a helper gets it)."""

    db_path: Path
    suites: tuple[str, ...]
    lake_globs: dict[str, str | list[str]] | None = None
    chunk_rows: int = CHUNK_ROWS
    changed: dict[str, tuple[str, str]] | None = None
    memory_limit: str | None = None
    temp_directory: Path | None = None


class SuiteSession:
    """One connection and one great-expectations context that run suites by name."""

    def __init__(self, job: SuiteJob) -> None:
        self.job = job
        self.con = connect(job.db_path, job.memory_limit, job.temp_directory)
        self.wh = _Warehouse(self.con)
        self.defs = {s.name: s for s in load_suites() if s.name in set(job.suites)}
        self.gxr = _GX(self.defs.values())

    def run(self, name: str) -> CheckResult:
        return _run_suite(self.gxr, self.defs[name], self.con, self.wh, self.job.lake_globs,
                          self.job.chunk_rows, self.job.changed)

    def weight(self, name: str) -> int:
        """Rows the suite will read, roughly (tables by DuckDB's estimate; views and lake
        files count as the largest), to hand the biggest suites out first."""
        s = self.defs[name]
        schema, table = ((MART_SCHEMA, s.table) if s.source != "landing"
                         else (STAGING_SCHEMA, f"stg_{s.table}"))
        rows = self.con.execute(
            "select estimated_size from duckdb_tables() where schema_name = ? and table_name = ?",
            [schema, table]).fetchall()
        if not rows or (s.source == "landing" and self.job.lake_globs):
            return 1 << 62
        return int(rows[0][0])

    def close(self) -> None:
        self.con.close()


def validate_warehouse(db_path: Path, *, as_of: datetime,
                       lake_globs: dict[str, str | list[str]] | None = None,
                       chunk_rows: int = CHUNK_ROWS, docs_dir: Path | None = None,
                       suites: Iterable[str] | None = None,
                       changed: dict[str, tuple[str, str]] | None = None,
                       memory_limit: str | None = None,
                       temp_directory: Path | None = None,
                       helper: Any = None) -> CheckReport:
    """Run every suite (or only ``suites``, by name) and the cross-table checks (always).

    ``as_of`` is the build's knowledge instant (naive = UTC). ``lake_globs`` maps a landed
    kind to a Parquet glob (or a list of globs) to validate instead of ``staging.stg_<kind>``
    (an incremental build passes the batches landed since the published build). ``changed`` maps a
    suite's table to a key column and the table of its recomputed values (an incremental
    build's, e.g. fct_message_status -> (message_id, intermediate.int_changed_messages)): that
    table is then validated on those keys only. ``memory_limit`` and ``temp_directory`` bound
    the suites' DuckDB connection like the build's (DuckDB's default is 80% of RAM). With
    ``helper`` (an ``expectations.helper.SuiteHelper``), a second process takes suites from
    the same queue, biggest first, and the memory limit is shared between the two. With
    ``docs_dir``, a self-contained ``index.html`` describing every result is written there.
    """
    started = time.monotonic()
    db_path = Path(db_path)
    if not db_path.exists():
        raise FileNotFoundError(f"no DuckDB warehouse at {db_path}")
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be positive")
    as_of = _naive_utc(as_of)
    defs = load_suites()
    if suites is not None:
        wanted = set(suites)
        unknown = wanted - {s.name for s in defs}
        if unknown:
            raise ValueError(f"unknown suites: {', '.join(sorted(unknown))}")
        defs = [s for s in defs if s.name in wanted]

    shared = helper is not None and len(defs) > 1
    job = SuiteJob(db_path, tuple(s.name for s in defs), lake_globs, chunk_rows, changed,
                   share_memory(memory_limit, 2) if shared else memory_limit, temp_directory)
    session = SuiteSession(job)
    effective_limit = session.con.execute("select current_setting('memory_limit')").fetchall()[0][0]
    try:
        if shared:
            by_name = _run_shared(session, helper, job)
        else:
            by_name = {s.name: session.run(s.name) for s in defs}
        results = [by_name[s.name] for s in defs]
        con, wh = session.con, session.wh
        log = _send_log_relation(con, wh, lake_globs, incremental=bool(changed))
        results.append(_check("cross.fct_message_status_vs_send_log", "cross",
                              _cross_status_vs_log, con, wh, log, as_of,
                              (changed or {}).get("fct_message_status", (None, None))[1]))
        results.append(_check("freshness.rpt_delivery_kpis_as_of", "freshness",
                              _freshness_as_of, con, wh, as_of))
        for table, rules in _RULES.items():
            results.append(_check(f"consistency.{table}", "consistency",
                                  _rule_check, con, wh, table, rules))
    finally:
        session.close()
    report = CheckReport(results, as_of, db_path, time.monotonic() - started, effective_limit)
    if docs_dir is not None:
        write_docs(report, Path(docs_dir))
    return report


def _run_shared(session: SuiteSession, helper: Any, job: SuiteJob) -> dict[str, CheckResult]:
    """This process and the helper take suites from one queue, biggest first. If the helper
    fails, the suite it held goes back on the queue and this process finishes the work."""
    queue = sorted(job.suites, key=session.weight, reverse=True)
    lock = threading.Lock()
    out: dict[str, CheckResult] = {}

    def take() -> str | None:
        with lock:
            return queue.pop(0) if queue else None

    def feed(name: str | None) -> None:
        try:
            helper.open(job)
            while name is not None:
                out[name] = helper.run(name)
                name = take()
            helper.release()
        except Exception:  # the helper is gone: give its suite back
            if name is not None:
                with lock:
                    queue.insert(0, name)

    # the helper (started early, warm) takes the biggest suite; this process the next ones
    feeder = threading.Thread(target=feed, args=(take(),), name="suite-helper-feeder", daemon=True)
    feeder.start()
    while True:
        while (name := take()) is not None:
            out[name] = session.run(name)
        feeder.join()
        if not queue:
            return out


def share_memory(limit: str | None, parts: int) -> str | None:
    """A DuckDB memory limit ("12GB", "512MB", "6GiB") split between ``parts`` connections;
    limits in other forms (a percentage) are kept as they are."""
    if not limit:
        return limit
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?\s*", limit, re.IGNORECASE)
    if m is None:
        return limit
    base = 1024 if m.group(3) else 1000
    power = " KMGT".index((m.group(2) or " ").upper())
    each = float(m.group(1)) * base ** power / parts
    return f"{max(1, int(each / 1000 ** 2))}MB"


# ---- data docs ----------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;margin:.5em 0 1em}
th,td{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top;font-size:.9em}
th{background:#f4f4f4}code{font-size:.95em}
.passed{color:#1a7f37;font-weight:600}.failed{color:#cf222e;font-weight:600}
.warning{color:#9a6700;font-weight:600}tr.bad{background:#fff0f0}tr.warn{background:#fffbe6}
.muted{color:#666}
"""


def write_docs(report: CheckReport, docs_dir: Path) -> Path:
    """A self-contained HTML page (inline CSS, no scripts, no CDN) of every result."""
    docs_dir.mkdir(parents=True, exist_ok=True)
    e = html.escape
    status = "passed" if report.passed else "failed"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<title>sendlens data quality</title>", f"<style>{_CSS}</style></head><body>",
        f"<h1>sendlens data quality: <span class='{status}'>{status.upper()}</span></h1>",
        "<p class='muted'>",
        f"warehouse <code>{e(str(report.db_path))}</code>; as of "
        f"{e(report.as_of.isoformat(sep=' ') if report.as_of else '-')}; "
        f"generated {e(datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M:%S'))} UTC; "
        f"{report.seconds:.1f} s</p>",
        "<h2>Overview</h2><table><tr><th>check</th><th>kind</th><th>status</th>"
        "<th>details</th></tr>",
    ]
    for i, r in enumerate(report.results):
        cls = "bad" if r.status == "failed" else ("warn" if r.warnings else "")
        parts.append(
            f"<tr class='{cls}'><td><a href='#c{i}'>{e(r.name)}</a></td><td>{e(r.kind)}</td>"
            f"<td class='{r.status}'>{r.label}{' (warnings)' if r.warnings else ''}</td>"
            f"<td>{e(r.details)}</td></tr>")
    parts.append("</table>")
    for i, r in enumerate(report.results):
        parts.append(f"<h2 id='c{i}'>{e(r.name)} <span class='{r.status}'>{r.label}</span></h2>")
        parts.append(f"<p>{e(r.details)}</p>")
        if r.expectations:
            parts.append("<table><tr><th>expectation</th><th>arguments</th><th>severity</th>"
                         "<th>result</th><th>observed</th></tr>")
            for o in r.expectations:
                res = "passed" if o.success else ("warning" if o.severity == "warning" else "failed")
                cls = "" if o.success else ("warn" if res == "warning" else "bad")
                parts.append(
                    f"<tr class='{cls}'><td><code>{e(o.type)}</code></td>"
                    f"<td><code>{e(_fmt_kwargs(o.kwargs))}</code></td><td>{e(o.severity)}</td>"
                    f"<td class='{res}'>{res}</td><td>{e(o.observed)}</td></tr>")
            parts.append("</table>")
        elif r.failures:
            parts.append("<ul>" + "".join(f"<li class='failed'>{e(f)}</li>" for f in r.failures)
                         + "</ul>")
    parts.append("</body></html>")
    path = docs_dir / "index.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
