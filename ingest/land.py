"""Land one input file: read, validate, split accepted/rejected, write an atomic batch."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from sendlens.ingest.contracts import Bounds, contract as get_contract
from sendlens.ingest.lake import BatchRecord, Lake, sha256_of
from sendlens.ingest.readers import UnreadableFile, load_raw
from sendlens.ingest.validate import duplicate_sql, raw_record_sql, validation_sql
from sendlens.core.sql import identifier, literal


class IngestError(Exception):
    """A whole file cannot be landed (unreadable, wrong format, missing required column)."""


@dataclass
class IngestOutcome:
    file: str
    kind: str
    rows_read: int
    rows_landed: int
    rows_rejected: int
    status: str  # "landed" | "already_ingested"
    batch_id: str
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "file": self.file,
            "kind": self.kind,
            "rows_read": self.rows_read,
            "rows_landed": self.rows_landed,
            "rows_rejected": self.rows_rejected,
            "status": self.status,
            "batch_id": self.batch_id,
            "warnings": self.warnings,
        }


def ingest_file(con: duckdb.DuckDBPyConnection, lake: Lake, kind: str, path: Path,
                origin: str = "canonical", bounds: Bounds | None = None) -> IngestOutcome:
    """Land one file of ``kind`` as one batch. ``bounds``: the range rules (None: defaults)."""
    contract = get_contract(kind)
    bounds = bounds or Bounds()
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    sha = sha256_of(path)
    earlier = lake.find_batch(con, kind, sha)
    if earlier is not None:
        return IngestOutcome(str(path), kind, 0, 0, 0, "already_ingested", earlier.batch_id,
                             [f"{path}: same content already ingested as batch {earlier.batch_id}; nothing landed"])
    try:
        try:
            columns = load_raw(con, path)
        except UnreadableFile as exc:
            raise IngestError(str(exc)) from None
        by_name = {c.name: c for c in columns}
        missing = [c for c in contract.required if c not in by_name]
        if missing:
            raise IngestError(
                f"{path}: missing required column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)} for kind {kind}"
            )
        warnings = [
            f"{path}: column {c.name!r} is not part of the {kind} contract; ignored"
            for c in columns if c.name not in contract.names
        ]
        present = {name: col for name, col in by_name.items() if name in contract.names}
        now = Bounds.now()
        con.execute(f"create or replace temp table parsed as {validation_sql(contract, present, bounds, now)}")
        con.execute(f"create or replace temp table conflicts as {duplicate_sql(contract, 'parsed')}")
        rows_read = con.execute("select (select count(*) from raw) + (select count(*) from raw_rejects)").fetchone()[0]
        return _write(con, lake, kind, path, origin, contract, columns, sha, rows_read, warnings)
    finally:
        for t in ("raw", "raw_rejects", "parsed", "conflicts"):
            con.execute(f"drop table if exists {t}")


def _write(con: duckdb.DuckDBPyConnection, lake: Lake, kind: str, path: Path, origin: str, contract,
           columns, sha: str, rows_read: int, warnings: list[str]) -> IngestOutcome:
    batch_id = lake.new_batch_id(sha)
    staging = lake.staging_dir(batch_id)
    try:
        names = ", ".join(identifier(c) for c in contract.names)
        con.execute(
            f"copy (select {names}, {literal(batch_id)} as _batch_id, _row, {literal(origin)} as _origin "
            f"from parsed where _field is null and _row not in (select _row from conflicts) order by _row) "
            f"to {literal(staging / 'data')} (format parquet, compression zstd, per_thread_output false, "
            f"file_size_bytes '512MB', filename_pattern 'part-{{i}}', overwrite_or_ignore true)"
        )
        # the rejected rows: a row the reader could not split, a parse problem, else a
        # conflicting duplicate; each kept as read
        con.execute(
            f"copy (select {literal(batch_id)} as batch_id, {literal(kind)} as kind, {literal(path)} as file, "
            f"_row as row_number, _field as field, _reason as reason, raw_record from ("
            f"select problems._row, problems._field, problems._reason, {raw_record_sql(columns)} as raw_record "
            f"from (select _row, _field, _reason from parsed where _field is not null "
            f"union all select _row, _field, _reason from conflicts) as problems "
            f"inner join raw on raw._row = problems._row "
            f"union all select _row, _field, _reason, _raw from raw_rejects) order by row_number) "
            f"to {literal(staging / 'rejected.parquet')} (format parquet, compression zstd)"
        )
        landed, rejected = con.execute(
            "select count(*) filter (where _field is null) - (select count(*) from conflicts), "
            "count(*) filter (where _field is not null) + (select count(*) from conflicts) "
            "+ (select count(*) from raw_rejects) from parsed"
        ).fetchone()
        if landed + rejected != rows_read:  # the accounting promise; never expected to fire
            raise IngestError(f"{path}: accounting mismatch {landed}+{rejected} != {rows_read}")
        if not any((staging / "data").iterdir()):
            con.execute(
                f"copy (select {names}, '' as _batch_id, 0::bigint as _row, '' as _origin from parsed where false) "
                f"to {literal(staging / 'data' / 'part-0.parquet')} (format parquet, compression zstd)"
            )
        rec = BatchRecord(batch_id, kind, str(path), sha, origin, rows_read, landed, rejected,
                          datetime.now(timezone.utc).replace(tzinfo=None))
        lake.write_batch_record(con, staging, rec)
        lake.publish(staging, kind, batch_id)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return IngestOutcome(str(path), kind, rows_read, landed, rejected, "landed", batch_id, warnings)
