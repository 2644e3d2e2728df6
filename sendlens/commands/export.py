"""`sendlens export`: every public mart as CSV and Parquet, the workbook, the HTML report, the
data-quality page of the published gates and the export's manifest."""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

import duckdb

from sendlens import gate
from sendlens.commands.home import Progress, published, quiet
from sendlens.config import Settings, iso, utc_now
from sendlens.errors import SendlensError
from sendlens.incremental import published_as_of


def new_run_id() -> str:
    return "run-" + utc_now().strftime("%Y%m%dT%H%M%S%fZ")

def export(settings: Settings, out: Path | None = None, include_pii: bool = False,
           progress: Progress = quiet, run_id: str | None = None):
    """Write CSV and Parquet of every public mart, an Excel workbook, the HTML report, the
    data-quality report and a manifest into ``out`` (default ``<home>/exports/<run-id>``)."""
    from sendlens.reports.export import export_reports
    from sendlens.reports.warehouse import mask_emails

    published(settings)
    started = time.monotonic()
    run_id = run_id or new_run_id()
    out_dir = Path(out) if out else settings.exports / run_id
    out_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        # the results of the gates that let the published warehouse through, kept in it
        published_gate = gate.read(con)
        checks, documents = published_gate if published_gate is not None else ([], {})
        as_of = published_as_of(con)
        inputs = [
            dict(zip(("batch_id", "kind", "file", "sha256", "rows_read", "rows_landed", "rows_rejected"), r))
            for r in con.execute(
                "select batch_id, kind, file, sha256, rows_read, rows_landed, rows_rejected "
                "from audit.ingest_batches order by batch_id").fetchall()
        ]
    finally:
        con.close()
    run_info = {"run_id": run_id, "as_of": iso(as_of) if as_of else None, "checks": checks,
                "warehouse": str(settings.warehouse), "include_pii": include_pii}
    said: list[str] = []
    result = export_reports(settings.warehouse, out_dir, include_pii=include_pii,
                            run_info=run_info, progress=said.append,
                            pseudonym_key=pseudonym_key(settings))
    written = [p for p in result.files if p.name != "manifest.json"]
    for name, text in documents.items():  # the data-quality page of the published gates
        page = out_dir / "data-quality" / name
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(text if include_pii else mask_emails(text), encoding="utf-8")
        written.append(page)
    manifest = {
        **result.manifest,
        **{k: v for k, v in run_info.items() if k != "checks"},
        "checks": result.manifest.get("run_info", {}).get("checks", checks),  # masked by the exporter
        "exported_at": iso(utc_now()),
        "inputs": inputs,
        "row_counts": result.row_counts,
        "checks_passed": all(c.get("status") == "passed" for c in checks) if checks else None,
        "files": sorted({str(p.relative_to(out_dir)) for p in written} | {"manifest.json"}),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    what = said[-1] if said else "exported"
    if documents:
        what += ", the data-quality page"
    progress(f"{what} to {out_dir} ({time.monotonic() - started:.1f} s)")
    return result

PSEUDONYM_KEY = "pseudonym.key"

def pseudonym_key(settings: Settings) -> str:
    """The home's secret for pseudonymised ids (README, "Security and personal data"): made once,
    readable by its owner only, never exported. The same id gets the same pseudonym in every
    export of the home; losing the file changes every pseudonym from then on."""
    path = settings.home / PSEUDONYM_KEY
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    key = path.read_text().strip()
    if len(key) < 32:
        raise SendlensError(f"{path}: the pseudonymisation key is too short or empty; restore it from "
                            "a backup (or delete it to start new pseudonyms)")
    return key
