"""Write one mapped ESP export as one atomic lake batch under ``<lake>/esp/batch_id=<id>/``:
``<kind>/part-0.parquet`` for each of ESP_KINDS (exactly the canonical columns and types),
``rejected.parquet`` and ``batch.parquet``; renamed into place in one step."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from sendlens.ingest.contracts import ARROW_TYPES, CONTRACTS
from sendlens.ingest.esp.mapping import Mapped, utc_now
from sendlens.ingest.lake import ESP_KINDS, REJECTED_COLUMNS, BatchRecord, Lake, data_columns_sql
from sendlens.ingest.land import IngestError, IngestOutcome
from sendlens.core.sql import identifier, literal


def _schema(kind: str) -> pa.Schema:
    cols = [pa.field(c.name, ARROW_TYPES[c.dtype]) for c in CONTRACTS[kind].columns]
    cols += [pa.field("_batch_id", pa.string()), pa.field("_row", pa.int64()), pa.field("_origin", pa.string())]
    return pa.schema(cols)


def _copy(con: duckdb.DuckDBPyConnection, columns_sql: str, table: pa.Table, target: Path) -> None:
    """Through a temp table declared with the exact column list, so the file's schema is the
    contract's whatever the rows (an empty file still has every column and type)."""
    con.execute(f"create or replace temp table _esp_out ({columns_sql})")
    con.register("_esp_src", table)
    try:
        names = ", ".join(identifier(n) for n in table.column_names)
        con.execute(f"insert into _esp_out ({names}) select {names} from _esp_src")
    finally:
        con.unregister("_esp_src")
    con.execute(f"copy _esp_out to {literal(target)} (format parquet, compression zstd)")
    con.execute("drop table _esp_out")


def earliest_contacts(con: duckdb.DuckDBPyConnection, lake: Lake, delivery_ids: list[str]) -> dict[str, datetime]:
    """Contact dates already landed from earlier exports for these delivery keys: a derived
    delivery keeps the first relay over every export, not just this file's."""
    if not delivery_ids:
        return {}
    rows = con.execute(
        f"select delivery_id, min(contact_date) from read_parquet({lake.esp_data_glob_sql('deliveries')}, "
        "union_by_name = true) where list_contains(?, delivery_id) group by delivery_id",
        [delivery_ids],
    ).fetchall()
    return {d: c for d, c in rows if c is not None}


def write_batch(con: duckdb.DuckDBPyConnection, lake: Lake, mapped: Mapped, path: Path, sha: str) -> IngestOutcome:
    source = mapped.source
    rejected = len(mapped.rejects)
    if mapped.events_landed + rejected != mapped.events_read:  # the accounting promise
        raise IngestError(f"{path}: accounting mismatch {mapped.events_landed}+{rejected} != {mapped.events_read}")
    earlier = earliest_contacts(con, lake, [d["delivery_id"] for d in mapped.deliveries])
    for d in mapped.deliveries:
        prev = earlier.get(d["delivery_id"])
        if prev is not None and prev < d["contact_date"]:
            d["contact_date"] = prev

    batch_id = lake.new_batch_id(sha)
    staging = lake.esp_staging_dir(batch_id)
    try:
        rows_by_kind: dict[str, list[dict[str, Any]]] = {
            "deliveries": mapped.deliveries, "send_log": mapped.send_log,
            "feedback": mapped.feedback, "tracking": mapped.tracking,
        }
        for kind in ESP_KINDS:
            schema = _schema(kind)
            rows = sorted(rows_by_kind[kind], key=lambda r: r["_row"])
            records = [{**{n: r.get(n) for n in schema.names}, "_batch_id": batch_id, "_origin": source}
                       for r in rows]
            table = pa.Table.from_pylist(records, schema=schema)
            _copy(con, data_columns_sql(CONTRACTS[kind]), table, staging / kind / "part-0.parquet")
        reject_table = pa.Table.from_pylist(
            [{"batch_id": batch_id, "kind": source, "file": str(path), "row_number": r.number,
              "field": r.field, "reason": r.reason, "raw_record": r.raw}
             for r in sorted(mapped.rejects, key=lambda r: r.number)],
            schema=pa.schema([("batch_id", pa.string()), ("kind", pa.string()), ("file", pa.string()),
                              ("row_number", pa.int64()), ("field", pa.string()), ("reason", pa.string()),
                              ("raw_record", pa.string())]),
        )
        _copy(con, REJECTED_COLUMNS, reject_table, staging / "rejected.parquet")
        rec = BatchRecord(batch_id, source, str(path), sha, source, mapped.events_read,
                          mapped.events_landed, rejected, utc_now())
        lake.write_batch_record(con, staging, rec)
        lake.publish_esp(staging, batch_id)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    warnings = []
    if rejected:
        reasons: dict[str, int] = {}
        for r in mapped.rejects:
            reasons[r.reason] = reasons.get(r.reason, 0) + 1
        summary = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:5])
        warnings.append(f"{path}: {rejected} of {mapped.events_read} events rejected ({summary}); "
                        "see audit.rejected_rows")
    warnings += [f"{path}: {note}" for note in mapped.notes]  # what the reader skipped (not records)
    return IngestOutcome(str(path), source, mapped.events_read, mapped.events_landed, rejected, "landed",
                         batch_id, warnings)
