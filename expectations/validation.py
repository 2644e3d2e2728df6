"""One suite on one table: select its columns (from staging, a mart or the landed files),
validate the rows chunk by chunk with great-expectations, and aggregate the chunks' results
into one outcome per expectation (unexpected counts summed, ``mostly`` applied to the whole
table, a few unexpected values kept), plus the suite's DuckDB column types."""

from __future__ import annotations

import time
from typing import Any

import duckdb
import pyarrow as pa

from sendlens.expectations.chunks import _chunks, _pandas_schema, _to_pandas
from sendlens.expectations.formatting import _first_line, _plain
from sendlens.expectations.gx import _GX
from sendlens.expectations.results import SAMPLE_VALUES, CheckResult, ExpectationOutcome, Status
from sendlens.expectations.suite_defs import SuiteDef
from sendlens.expectations.warehouse import (MART_SCHEMA, STAGING_SCHEMA, _files, _glob_columns, _type_ok,
                                    _Warehouse)
from sendlens.core.sql import identifier


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
            return ExpectationOutcome(self.exp["type"], kwargs, severity, ok, observed, {
                "element_count": self.element, "missing_count": self.missing,
                "missing_percent": 100 * self.missing / self.element if self.element else None,
                "unexpected_count": self.unexpected,
                "unexpected_percent": 100 * self.unexpected / base if base else None,
                "partial_unexpected_list": list(self.samples)})
        observed = "ok" if self.all_success else "failed"
        if not self.all_success and self.exp["type"] == "expect_column_to_exist":
            observed = "column missing"
        elif self.observed is not None:
            observed = f"observed {_plain(self.observed)!r}"
        result = {"observed_value": _plain(self.observed)} if self.observed is not None else {}
        return ExpectationOutcome(self.exp["type"], kwargs, severity, self.all_success, observed, result)


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
