"""Export the public marts of a sendlens warehouse as report files.

``export_reports(warehouse, out_dir)`` writes, for one run:

- ``csv/<mart>.csv`` and ``parquet/<mart>.parquet`` for every table or view of schema ``marts``,
  streamed by DuckDB ``COPY`` (rows never pass through Python);
- ``sendlens_report.xlsx``: the small business-facing marts, one sheet each (capped at 100k rows);
- ``report.html``: a self-contained HTML report with inline SVG charts;
- ``data_quality.csv``: the run's data-quality checks (when ``run_info["checks"]`` is given);
- ``manifest.json``: what was written, row counts, masking, run info.

Personal data is masked or pseudonymised in SQL unless ``include_pii``, by the declaration
the build wrote into the warehouse (``audit.personal_data_columns``; see ``warehouse``).
CSV cells that a spreadsheet would run as a formula are neutralised in the COPY's SQL.
An export removes only files that an earlier export into the same folder wrote and that are
unchanged since (its ledger, ``.sendlens-export.json``); nothing else in ``out_dir`` is touched.
The warehouse is opened read-only; the function takes paths and parameters only.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .contract import check_contract
from .format import fmt_ts
from .html_report import ReportContext, build_html
from .warehouse import Marts, connect_read_only, mask_emails, neutralise_formula, ql
from .workbook import MAX_SHEET_ROWS, write_workbook

LOG = logging.getLogger("sendlens.reports")
HTML_NAME = "report.html"
WORKBOOK_NAME = "sendlens_report.xlsx"
MANIFEST_NAME = "manifest.json"
QUALITY_NAME = "data_quality.csv"
# What this exporter wrote into out_dir (relative path, size, mtime): the only files it may
# ever remove. Kept apart from manifest.json, which a caller may rewrite.
LEDGER_NAME = ".sendlens-export.json"
LEDGER_VERSION = 1


@dataclass
class ExportResult:
    out_dir: Path
    files: list[Path]
    row_counts: dict[str, int]
    html_report: Path
    workbook: Path | None = None
    # Non-fatal problems (e.g. an HTML section that could not be rendered).
    warnings: list[str] = field(default_factory=list)
    # What manifest.json says (a caller that rewrites the manifest merges this into its own).
    manifest: dict = field(default_factory=dict)


def export_reports(warehouse: Path, out_dir: Path, *, include_pii: bool = False,
                   run_info: dict | None = None,
                   progress: Callable[[str], None] | None = None,
                   top_n: int = 6, max_sheet_rows: int = MAX_SHEET_ROWS,
                   pseudonym_key: str | None = None) -> ExportResult:
    """Write the report files of ``warehouse`` into ``out_dir``.

    ``pseudonym_key``: the secret of the pseudonymised identifiers (message, profile and
    event ids). Give the home's own key (kept by the caller, never written into the export)
    and pseudonyms stay the same from export to export, so exports of one home join with each
    other; without it a random key is made for this export (its tables join with each other,
    not with another export's). Ignored with ``include_pii`` (raw values).
    """
    warehouse = Path(warehouse)
    out_dir = Path(out_dir)
    if not warehouse.is_file():
        raise FileNotFoundError(f"warehouse not found: {warehouse}")
    say = progress or (lambda _msg: None)  # the one summary line; the detail goes to LOG.debug
    run_info = dict(run_info or {})
    if not include_pii and run_info.get("checks") is not None:
        run_info["checks"] = _masked_checks(run_info["checks"])
    csv_dir, pq_dir = out_dir / "csv", out_dir / "parquet"
    csv_dir.mkdir(parents=True, exist_ok=True)
    pq_dir.mkdir(parents=True, exist_ok=True)

    con = connect_read_only(warehouse)
    try:
        marts = Marts.open(con, include_pii=include_pii, pseudonym_key=pseudonym_key)
        check_contract(marts)  # a warehouse the report cannot read fails before any file is written
        if not marts.tables:
            LOG.warning(f"no tables in schema {marts.schema!r} of {warehouse}")
        for w in marts.warnings:
            LOG.warning(w)
        previous = _read_ledger(out_dir)

        files: list[Path] = []
        row_counts: dict[str, int] = {}
        rel: dict[str, dict[str, str]] = {}
        for t in marts.tables:
            csv_path, pq_path = csv_dir / f"{t}.csv", pq_dir / f"{t}.parquet"
            n_csv = _copy(con, marts.select_sql(t, for_csv=True), csv_path, "(FORMAT CSV, HEADER TRUE)")
            n_pq = _copy(con, marts.select_sql(t, for_parquet=True), pq_path,
                         "(FORMAT PARQUET, COMPRESSION ZSTD)")
            if n_csv != n_pq:  # read-only snapshot: cannot happen unless the file changed under us
                raise RuntimeError(f"marts.{t}: CSV has {n_csv} rows but Parquet has {n_pq}")
            row_counts[t] = n_csv
            marts.set_count(t, n_csv)
            files += [csv_path, pq_path]
            rel[t] = {"csv": f"csv/{t}.csv", "parquet": f"parquet/{t}.parquet"}
            LOG.debug(f"exported marts.{t}: {n_csv:,} rows")

        as_of = _as_of(marts, run_info)

        wb_path = out_dir / WORKBOOK_NAME
        tmp = _tmp_path(wb_path, ".xlsx")
        try:
            write_workbook(marts, tmp, as_of=as_of, run_info=run_info, row_counts=row_counts,
                           max_rows=max_sheet_rows, progress=LOG.debug)
            os.replace(tmp, wb_path)
        finally:
            if tmp.exists():
                tmp.unlink()
        files.append(wb_path)
        LOG.debug(f"wrote {wb_path.name}")

        ctx = ReportContext(marts=marts, as_of=as_of, run_info=run_info, row_counts=row_counts,
                            files=rel, workbook_rel=WORKBOOK_NAME, top_n=top_n)
        html = build_html(ctx)
        html_path = out_dir / HTML_NAME
        _write_text(html_path, html)
        files.append(html_path)
        for w in ctx.warnings:
            LOG.warning(w)
        LOG.debug(f"wrote {html_path.name}")

        if run_info.get("checks") is not None:
            dq_path = out_dir / QUALITY_NAME
            _write_text(dq_path, _checks_csv(run_info["checks"]))
            files.append(dq_path)
            LOG.debug(f"wrote {dq_path.name}")
    finally:
        con.close()

    manifest_path = out_dir / MANIFEST_NAME
    warnings = [*marts.warnings, *ctx.warnings]
    manifest = {
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "warehouse": str(warehouse),
        "schema": marts.schema,
        "as_of": as_of,
        "include_pii": include_pii,
        "personal_data": marts.manifest_entry(),
        "row_counts": row_counts,
        "files": [str(p.relative_to(out_dir)) for p in files],
        "warnings": warnings,
        "run_info": _jsonable(run_info),
    }
    _write_text(manifest_path, json.dumps(manifest, indent=2, default=str) + "\n")
    files.append(manifest_path)
    _finish_ledger(out_dir, previous, files)
    say(f"exported {len(row_counts)} marts ({sum(row_counts.values()):,} rows, CSV and Parquet), "
        f"{wb_path.name}, {html_path.name}" + (f", {QUALITY_NAME}" if run_info.get("checks") is not None else ""))
    return ExportResult(out_dir=out_dir, files=files, row_counts=row_counts, html_report=html_path,
                        workbook=wb_path, warnings=warnings, manifest=manifest)


def _tmp_path(target: Path, suffix: str = "") -> Path:
    """A temporary name beside ``target`` that nothing else uses (so neither writing it nor
    removing it after a failure can touch a file that was already there)."""
    while True:
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp{suffix}")
        if not tmp.exists():
            return tmp


def _copy(con: Any, select_sql: str, target: Path, options: str) -> int:
    """COPY a query to ``target`` via a temporary file (so a reader never sees half a file);
    returns the number of rows written."""
    tmp = _tmp_path(target)
    try:
        n = con.execute(f"COPY ({select_sql}) TO {ql(str(tmp))} {options}").fetchone()[0]
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return int(n)


def _masked_checks(checks: Any) -> list[dict]:
    """The run's checks with every e-mail-looking substring of their details masked."""
    out = []
    for c in checks or []:
        get = c.get if isinstance(c, dict) else (lambda k, _c=c: getattr(_c, k, None))
        det = get("details")
        if isinstance(det, (dict, list, tuple)):
            det = json.loads(mask_emails(json.dumps(det, default=str)))
        else:
            det = mask_emails(det)
        row = dict(c) if isinstance(c, dict) else {k: get(k) for k in ("name", "status")}
        row["details"] = det
        out.append(row)
    return out


def _checks_csv(checks: Any) -> str:
    """The data-quality report: one row per check (name, status, details); a cell that a
    spreadsheet would run as a formula is neutralised, as in every exported CSV."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["name", "status", "details"])
    for c in checks or []:
        get = c.get if isinstance(c, dict) else (lambda k, _c=c: getattr(_c, k, None))
        det = get("details")
        if isinstance(det, (dict, list, tuple)):
            det = json.dumps(det, default=str)
        w.writerow([neutralise_formula(v if v is None or isinstance(v, str) else str(v))
                    for v in (get("name"), get("status"), "" if det is None else det)])
    return buf.getvalue()


def _write_text(path: Path, text: str) -> None:
    tmp = _tmp_path(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


# -- what an export owns ---------------------------------------------------------------------
def _stamp(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _read_ledger(out_dir: Path) -> dict[str, dict[str, int]]:
    """The files the previous export into ``out_dir`` wrote, with their size and mtime then.
    A missing or unreadable ledger owns nothing (an export never guesses what it wrote)."""
    path = out_dir / LEDGER_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) and data.get("version") == LEDGER_VERSION else None
    if not isinstance(files, dict):
        return {}
    return {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, dict)}


def file_inside(out_dir: Path, rel: str) -> Path | None:
    """``out_dir / rel`` when ``rel`` is a plain relative path inside ``out_dir`` naming a
    regular file (no absolute path, no ``..``, no symbolic link on the way)."""
    p = Path(rel)
    if p.is_absolute() or not p.parts or any(part in ("", ".", "..") for part in p.parts):
        return None
    target = out_dir / p
    cur = out_dir
    for part in p.parts:
        cur = cur / part
        if cur.is_symlink():
            return None
    return target if target.is_file() else None


def _owned_file(out_dir: Path, rel: str) -> Path | None:
    """A file the ledger may name for removal: inside ``out_dir``, and never the ledger."""
    return None if rel == LEDGER_NAME else file_inside(out_dir, rel)


def remove_export(out_dir: Path) -> bool:
    """Remove a whole earlier export (retention): exactly the files its manifest lists, its
    manifest and its ledger, then the folders left empty. A file someone added stays, and so
    does its folder. True when ``out_dir`` is gone; a folder without a readable manifest is
    left alone (nothing says what sendlens wrote there)."""
    try:
        listed = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        return False
    if not isinstance(listed, list):
        return False
    for rel in [r for r in listed if isinstance(r, str)] + [LEDGER_NAME, MANIFEST_NAME]:
        target = file_inside(out_dir, rel)
        if target is not None:
            target.unlink()
    for d in sorted((p for p in out_dir.rglob("*") if p.is_dir() and not p.is_symlink()),
                    key=lambda p: len(p.parts), reverse=True):
        if not any(d.iterdir()):
            d.rmdir()
    if not any(out_dir.iterdir()):
        out_dir.rmdir()
        return True
    return False


def _finish_ledger(out_dir: Path, previous: dict[str, dict[str, int]], files: list[Path]) -> None:
    """Remove what the previous export wrote and this one did not (a mart that is gone, the
    data-quality CSV of a run without checks) -- only a file still exactly as that export left
    it (same size and mtime); a file changed since is the user's now and stays. Then record
    this export's files."""
    now = {str(p.relative_to(out_dir)): p for p in files}
    for rel, stamp in sorted(previous.items()):
        if rel in now:
            continue
        target = _owned_file(out_dir, rel)
        if target is None:
            continue
        try:
            if _stamp(target) == {"size": stamp.get("size"), "mtime_ns": stamp.get("mtime_ns")}:
                target.unlink()
        except OSError:
            pass
    ledger = {"version": LEDGER_VERSION,
              "note": "files written by sendlens export into this folder; a later export removes "
                      "only these, and only while unchanged",
              "files": {rel: _stamp(p) for rel, p in sorted(now.items()) if p.is_file()}}
    _write_text(out_dir / LEDGER_NAME, json.dumps(ledger, indent=2) + "\n")


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
