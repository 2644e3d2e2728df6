"""The lake: landed batches as Parquet under ``<lake>/<kind>/batch_id=<id>/``.

A batch directory holds ``data/part-*.parquet`` (accepted rows, zstd), ``rejected.parquet``
(rejected rows with file, row, field and reason) and ``batch.parquet`` (its audit record). It is
written under ``<lake>/_tmp/`` and renamed into place in one step, so a batch is either fully
visible or absent: a crash mid-ingest leaves nothing half-landed (``_tmp`` is swept on the next
ingest). An empty schema-only batch per kind (``batch_id=0-empty``) keeps every glob readable.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass, asdict
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from sendlens.ingest.contracts import CONTRACTS, Contract, contract as get_contract
from sendlens.core.files import fsync_path, fsync_tree
from sendlens.core.sql import glob_escape, glob_literal, identifier, literal

BATCH_PREFIX = "batch_id="  # a batch's folder: <lake>/<kind>/batch_id=<id>/
EMPTY_BATCH = BATCH_PREFIX + "0-empty"
RETIRED_DIR = "_retired"  # retirement records (no batch.parquet: not a batch)
# Email-service-provider exports land as one batch per file under <lake>/esp/batch_id=<id>/,
# holding a folder per canonical kind it maps to (send_log/, feedback/, tracking/,
# deliveries/), so one rename makes all of a file's rows visible at once.
ESP_DIR = "esp"
ESP_KINDS = ("deliveries", "send_log", "feedback", "tracking")

_SQL_TYPES = {
    "string": "varchar",
    "bool": "boolean",
    "timestamp": "timestamp",
    "double": "double",
    "int": "bigint",
    "list": "varchar[]",
}

BATCH_COLUMNS = (
    "batch_id varchar, kind varchar, file varchar, sha256 varchar, source varchar, "
    "rows_read bigint, rows_landed bigint, rows_rejected bigint, ingested_at timestamp"
)
REJECTED_COLUMNS = (
    "batch_id varchar, kind varchar, file varchar, row_number bigint, field varchar, "
    "reason varchar, raw_record varchar"
)


@dataclass
class BatchRecord:
    batch_id: str
    kind: str
    file: str
    sha256: str
    source: str
    rows_read: int
    rows_landed: int
    rows_rejected: int
    ingested_at: datetime


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_columns_sql(contract: Contract) -> str:
    cols = ", ".join(f"{identifier(c.name)} {_SQL_TYPES[c.dtype]}" for c in contract.columns)
    return cols + ", _batch_id varchar, _row bigint, _origin varchar"


class Lake:
    def __init__(self, root: Path) -> None:
        self.root = root

    # ---- layout -------------------------------------------------------------------------
    def kind_dir(self, kind: str) -> Path:
        return self.root / kind

    def data_glob(self, kind: str) -> str:
        return str(self.kind_dir(kind) / "batch_id=*" / "data" / "*.parquet")

    def esp_data_glob(self, kind: str) -> str:
        return str(self.root / ESP_DIR / "batch_id=*" / kind / "*.parquet")

    def batch_glob(self) -> str:
        return str(self.root / "*" / "batch_id=*" / "batch.parquet")

    # The same patterns as SQL literals for DuckDB's readers: the lake's own path is a value
    # (its glob characters are escaped), the wildcards are the lake layout's.
    def batch_glob_sql(self) -> str:
        return glob_literal(self.root, "/*/batch_id=*/batch.parquet")

    def esp_data_glob_sql(self, kind: str) -> str:
        return glob_literal(self.root, f"/{ESP_DIR}/batch_id=*/{kind}/*.parquet")

    @staticmethod
    def batch_folder(batch_id: str) -> str:
        return BATCH_PREFIX + batch_id

    def landed_batches(self) -> dict[str, Path]:
        """Every landed batch folder by batch id (canonical kinds and ESP exports)."""
        found: dict[str, Path] = {}
        for folder in self.root.glob(f"*/{BATCH_PREFIX}*"):
            # _tmp (batches being written) and _retired (retirement records) hold no landed batch
            if folder.name == EMPTY_BATCH or not folder.is_dir() or folder.parent.name.startswith("_"):
                continue
            found[folder.name.removeprefix(BATCH_PREFIX)] = folder
        return found

    @staticmethod
    def batch_files(folder: Path) -> dict[str, str]:
        """kind -> Parquet glob of one batch folder (ESP batches hold several kinds); the folder's
        own path is escaped, so only the pattern's wildcard expands."""
        if folder.parent.name == ESP_DIR:
            return {kind: glob_escape(folder / kind) + "/*.parquet" for kind in ESP_KINDS
                    if any((folder / kind).glob("*.parquet"))}
        if any((folder / "data").glob("*.parquet")):
            return {folder.parent.name: glob_escape(folder / "data") + "/*.parquet"}
        return {}

    def empty_batch_files(self, kind: str) -> str:
        """The kind's schema-only batch, as a Parquet glob (a scan of new batches needs a schema)."""
        return glob_escape(self.kind_dir(kind) / EMPTY_BATCH / "data") + "/*.parquet"

    def scratch_dir(self, name: str) -> Path:
        """A folder under ``_tmp`` to write something before renaming it into the lake."""
        return self.root / "_tmp" / name

    def retired_dir(self) -> Path:
        return self.root / RETIRED_DIR

    def retired_record_dir(self, batch_id: str) -> Path:
        return self.root / RETIRED_DIR / self.batch_folder(batch_id)

    def retired_records_glob_sql(self) -> str:
        return glob_literal(self.root / RETIRED_DIR, f"/{BATCH_PREFIX}*/retired.parquet")

    def ensure(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create the lake with an empty schema-only batch per kind (idempotent)."""
        tmp = self.root / "_tmp"
        if tmp.exists():  # leftovers of a crashed ingest: never visible, safe to drop
            shutil.rmtree(tmp, ignore_errors=True)
        for kind, contract in CONTRACTS.items():
            target = self.kind_dir(kind) / EMPTY_BATCH
            if target.exists():
                continue
            staging = self.root / "_tmp" / f"empty-{kind}-{uuid.uuid4().hex}"
            (staging / "data").mkdir(parents=True)
            self._write_empty(con, f"({data_columns_sql(contract)})", staging / "data" / "part-0.parquet")
            self._write_empty(con, f"({REJECTED_COLUMNS})", staging / "rejected.parquet")
            self._write_empty(con, f"({BATCH_COLUMNS})", staging / "batch.parquet")
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(staging, target)
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)
        esp_target = self.root / ESP_DIR / EMPTY_BATCH
        if not esp_target.exists():
            staging = self.root / "_tmp" / f"empty-esp-{uuid.uuid4().hex}"
            for kind in ESP_KINDS:
                (staging / kind).mkdir(parents=True)
                self._write_empty(con, f"({data_columns_sql(CONTRACTS[kind])})", staging / kind / "part-0.parquet")
            self._write_empty(con, f"({REJECTED_COLUMNS})", staging / "rejected.parquet")
            self._write_empty(con, f"({BATCH_COLUMNS})", staging / "batch.parquet")
            esp_target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(staging, esp_target)
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)

    @staticmethod
    def _write_empty(con: duckdb.DuckDBPyConnection, columns: str, path: Path) -> None:
        con.execute(f"create or replace temp table _empty {columns}")
        con.execute(f"copy _empty to {literal(path)} (format parquet, compression zstd)")
        con.execute("drop table _empty")

    # ---- batches ------------------------------------------------------------------------
    def find_batch(self, con: duckdb.DuckDBPyConnection, kind: str, sha256: str) -> BatchRecord | None:
        rows = con.execute(
            f"select * from read_parquet({self.batch_glob_sql()}, union_by_name = true) "
            "where kind = ? and sha256 = ? order by batch_id limit 1",
            [kind, sha256],
        ).fetchall()
        if not rows:
            return None
        names = [d[0] for d in con.description]
        rec = dict(zip(names, rows[0]))
        return BatchRecord(**{k: rec[k] for k in BatchRecord.__dataclass_fields__})

    def new_batch_id(self, sha256: str) -> str:
        now = datetime.now(timezone.utc)
        return f"{now:%Y%m%dT%H%M%S%f}-{sha256[:8]}-{uuid.uuid4().hex[:4]}"

    def esp_staging_dir(self, batch_id: str) -> Path:
        """Where an ESP batch is written: one sub-folder per canonical kind (ESP_KINDS)."""
        path = self.root / "_tmp" / batch_id
        path.mkdir(parents=True, exist_ok=False)
        for kind in ESP_KINDS:
            (path / kind).mkdir()
        return path

    def publish_esp(self, staging: Path, batch_id: str) -> Path:
        target = self.root / ESP_DIR / f"batch_id={batch_id}"
        target.parent.mkdir(parents=True, exist_ok=True)
        fsync_tree(staging)
        os.rename(staging, target)
        fsync_path(target.parent)
        return target

    def staging_dir(self, batch_id: str) -> Path:
        path = self.root / "_tmp" / batch_id
        (path / "data").mkdir(parents=True, exist_ok=False)
        return path

    def publish(self, staging: Path, kind: str, batch_id: str) -> Path:
        target = self.kind_dir(kind) / f"batch_id={batch_id}"
        target.parent.mkdir(parents=True, exist_ok=True)
        fsync_tree(staging)
        os.rename(staging, target)
        fsync_path(target.parent)
        return target

    def write_batch_record(self, con: duckdb.DuckDBPyConnection, staging: Path, rec: BatchRecord) -> None:
        con.execute(f"create or replace temp table _batch ({BATCH_COLUMNS})")
        con.execute(
            "insert into _batch values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            list(asdict(rec).values()),
        )
        con.execute(f"copy _batch to {literal(staging / 'batch.parquet')} (format parquet, compression zstd)")
        con.execute("drop table _batch")


__all__ = ["Lake", "BatchRecord", "sha256_of", "get_contract"]
