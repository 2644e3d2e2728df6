"""Export the public marts of a sendlens warehouse as report files.

``export_reports(warehouse, out_dir)`` writes, for one run:

- ``csv/<mart>.csv`` and ``parquet/<mart>.parquet`` for every table or view of schema ``marts``,
  streamed by DuckDB ``COPY`` (rows never pass through Python);
- ``sendlens_report.xlsx``: the small business-facing marts, one sheet each (capped at 100k rows);
- ``report.html``: a self-contained HTML report with inline SVG charts;
- ``data_quality.csv``: the run's data-quality checks (when ``run_info["checks"]`` is given);
- ``manifest.json``: what was written, row counts, masking, run info.

Addresses (columns ``address`` and ``*_address``) are masked in SQL unless ``include_pii``.
The warehouse is opened read-only; the function takes paths and parameters only.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .html_report import ReportContext, build_html, fmt_ts
from .warehouse import Marts, connect_read_only, ql
from .workbook import MAX_SHEET_ROWS, write_workbook

HTML_NAME = "report.html"
WORKBOOK_NAME = "sendlens_report.xlsx"
MANIFEST_NAME = "manifest.json"
QUALITY_NAME = "data_quality.csv"


@dataclass
class ExportResult:
    out_dir: Path
    files: list[Path]
    row_counts: dict[str, int]
    html_report: Path
    workbook: Path | None = None
    # Non-fatal problems (e.g. an HTML section that could not be rendered).
    warnings: list[str] = field(default_factory=list)


def export_reports(warehouse: Path, out_dir: Path, *, include_pii: bool = False,
                   run_info: dict | None = None,
                   progress: Callable[[str], None] | None = None,
                   top_n: int = 6, max_sheet_rows: int = MAX_SHEET_ROWS) -> ExportResult:
    warehouse = Path(warehouse)
    out_dir = Path(out_dir)
    if not warehouse.is_file():
        raise FileNotFoundError(f"warehouse not found: {warehouse}")
    say = progress or (lambda _msg: None)
    run_info = dict(run_info or {})
    csv_dir, pq_dir = out_dir / "csv", out_dir / "parquet"
    csv_dir.mkdir(parents=True, exist_ok=True)
    pq_dir.mkdir(parents=True, exist_ok=True)

    con = connect_read_only(warehouse)
    try:
        marts = Marts.open(con, include_pii=include_pii)
        if not marts.tables:
            say(f"no tables in schema {marts.schema!r} of {warehouse}")
        _remove_stale(out_dir, set(marts.tables))

        files: list[Path] = []
        row_counts: dict[str, int] = {}
        rel: dict[str, dict[str, str]] = {}
        for t in marts.tables:
            csv_path, pq_path = csv_dir / f"{t}.csv", pq_dir / f"{t}.parquet"
            n_csv = _copy(con, marts.select_sql(t), csv_path, "(FORMAT CSV, HEADER TRUE)")
            n_pq = _copy(con, marts.select_sql(t, for_parquet=True), pq_path,
                         "(FORMAT PARQUET, COMPRESSION ZSTD)")
            if n_csv != n_pq:  # read-only snapshot: cannot happen unless the file changed under us
                raise RuntimeError(f"marts.{t}: CSV has {n_csv} rows but Parquet has {n_pq}")
            row_counts[t] = n_csv
            marts.set_count(t, n_csv)
            files += [csv_path, pq_path]
            rel[t] = {"csv": f"csv/{t}.csv", "parquet": f"parquet/{t}.parquet"}
            say(f"exported marts.{t}: {n_csv:,} rows")

        as_of = _as_of(marts, run_info)

        wb_path = out_dir / WORKBOOK_NAME
        tmp = wb_path.with_name(wb_path.name + ".tmp.xlsx")
        write_workbook(marts, tmp, as_of=as_of, run_info=run_info, row_counts=row_counts,
                       max_rows=max_sheet_rows, progress=say)
        os.replace(tmp, wb_path)
        files.append(wb_path)
        say(f"wrote {wb_path.name}")

        ctx = ReportContext(marts=marts, as_of=as_of, run_info=run_info, row_counts=row_counts,
                            files=rel, workbook_rel=WORKBOOK_NAME, top_n=top_n)
        html = build_html(ctx)
        html_path = out_dir / HTML_NAME
        _write_text(html_path, html)
        files.append(html_path)
        for w in ctx.warnings:
            say(f"warning: {w}")
        say(f"wrote {html_path.name}")

        if run_info.get("checks") is not None:
            dq_path = out_dir / QUALITY_NAME
            _write_text(dq_path, _checks_csv(run_info["checks"]))
            files.append(dq_path)
            say(f"wrote {dq_path.name}")
    finally:
        con.close()

    manifest_path = out_dir / MANIFEST_NAME
    manifest = {
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "warehouse": str(warehouse),
        "schema": marts.schema,
        "as_of": as_of,
        "include_pii": include_pii,
        "row_counts": row_counts,
        "files": [str(p.relative_to(out_dir)) for p in files],
        "warnings": ctx.warnings,
        "run_info": _jsonable(run_info),
    }
    _write_text(manifest_path, json.dumps(manifest, indent=2, default=str) + "\n")
    files.append(manifest_path)
    return ExportResult(out_dir=out_dir, files=files, row_counts=row_counts, html_report=html_path,
                        workbook=wb_path, warnings=list(ctx.warnings))


def _copy(con: Any, select_sql: str, target: Path, options: str) -> int:
    """COPY a query to ``target`` via a temporary file (so a reader never sees half a file);
    returns the number of rows written."""
    tmp = target.with_name(target.name + ".tmp")
    try:
        n = con.execute(f"COPY ({select_sql}) TO {ql(str(tmp))} {options}").fetchone()[0]
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return int(n)


def _checks_csv(checks: Any) -> str:
    """The data-quality report: one row per check (name, status, details)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["name", "status", "details"])
    for c in checks or []:
        get = c.get if isinstance(c, dict) else (lambda k, _c=c: getattr(_c, k, None))
        det = get("details")
        if isinstance(det, (dict, list, tuple)):
            det = json.dumps(det, default=str)
        w.writerow([get("name"), get("status"), "" if det is None else det])
    return buf.getvalue()


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _remove_stale(out_dir: Path, tables: set[str]) -> None:
    """Remove data files that a previous export into this directory wrote for marts that no
    longer exist (only files listed in its manifest are touched)."""
    mf = out_dir / MANIFEST_NAME
    if not mf.is_file():
        return
    try:
        previous = json.loads(mf.read_text(encoding="utf-8")).get("files", [])
    except (OSError, ValueError):
        return
    for relpath in previous:
        p = Path(relpath)
        if len(p.parts) == 2 and p.parts[0] in ("csv", "parquet") and p.stem not in tables:
            target = out_dir / p
            if target.is_file():
                target.unlink()


def _as_of(marts: Marts, run_info: dict) -> str:
    v = run_info.get("as_of")
    if v:
        if isinstance(v, str):
            try:  # ISO 8601 text (e.g. "2026-01-10T00:00:00Z") reads better formatted
                v = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError:
                return v
        return fmt_ts(v) if isinstance(v, (dt.datetime, dt.date)) else str(v)
    for t, c in (("rpt_delivery_kpis", "as_of"), ("dash_delivery_kpis", "stats_computed_at")):
        if marts.has_columns(t, c):
            got = marts.con.execute(f"SELECT max({c}) FROM {marts.ref(t)}").fetchone()[0]
            if got is not None:
                return fmt_ts(got)
    return "unknown"


def _jsonable(v: Any) -> Any:
    try:
        return json.loads(json.dumps(v, default=str))
    except (TypeError, ValueError):
        return str(v)
