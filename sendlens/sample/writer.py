"""The driver: plan the deliveries, then generate the messages chunk by chunk and write one
Parquet row group per kind and chunk from a background thread (``generate``)."""

from __future__ import annotations

import queue
import threading
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sendlens.ingest.contracts import KINDS
from sendlens.sample.events import feedback_table, tracking_table
from sendlens.sample.hashing import SCHEMAS, Hasher
from sendlens.sample.messages import chunk_facts, exclusions_table, send_log_table
from sendlens.sample.plan import deliveries_table, operators_table, plan_deliveries
from sendlens.sample.routes import DEFAULT_START

# Columns worth dictionary-encoding in Parquet (the others are unique-ish).
DICTIONARY_COLUMNS: dict[str, list[str]] = {
    "deliveries": ["label", "channel", "parent_delivery_id", "confirmed_by"],
    "send_log": ["delivery_id"],
    "exclusions": ["delivery_id", "reason"],
    "feedback": ["outcome", "failure_reason", "smtp_code", "diagnostic"],
    "tracking": ["type", "url", "user_agent"],
    "operators": [],
}


class _Writers:
    """One ParquetWriter per kind; writes happen in a background thread (bounded queue)."""

    def __init__(self, out_dir: Path) -> None:
        self.paths = {kind: out_dir / f"{kind}.parquet" for kind in KINDS}
        self.writers = {
            kind: pq.ParquetWriter(path, SCHEMAS[kind], compression="zstd",
                                   use_dictionary=DICTIONARY_COLUMNS[kind] or False)
            for kind, path in self.paths.items()
        }
        self.queue: queue.Queue = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if self.error is None:
                try:
                    for kind, table in item.items():
                        if table.num_rows:
                            self.writers[kind].write_table(table, row_group_size=table.num_rows)
                except BaseException as exc:  # reported by close()
                    self.error = exc

    def put(self, tables: dict[str, pa.Table]) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(tables)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        for w in self.writers.values():
            w.close()
        if self.error is not None:
            raise self.error


def generate(out_dir: Path, messages: int, seed: int = 42, start: datetime | None = None,
             chunk_size: int = 1_000_000, progress: Callable[[str], None] | None = None) -> dict[str, Path]:
    """Write one ``<kind>.parquet`` per kind into ``out_dir``; return {kind: path}."""
    if messages < 1:
        raise ValueError("messages must be at least 1")
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    start = start or DEFAULT_START
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = plan_deliveries(messages, seed, start)
    h = Hasher(seed)
    writers = _Writers(out_dir)
    try:
        writers.put({"operators": operators_table(), "deliveries": deliveries_table(plan)})
        n_chunks = -(-messages // chunk_size)
        d_done = 0
        for i in range(n_chunks):
            lo, hi = i * chunk_size, min(messages, (i + 1) * chunk_size)
            # Exclusions of the deliveries whose first message falls in this chunk.
            d_hi = int(np.searchsorted(plan.first, hi, side="left")) if hi < messages else len(plan.ids)
            c = chunk_facts(plan, h, lo, hi)
            tables = {
                "send_log": send_log_table(plan, h, c),
                "feedback": feedback_table(h, c),
                "tracking": tracking_table(h, c),
                "exclusions": exclusions_table(plan, h, d_done, d_hi),
            }
            d_done = d_hi
            writers.put(tables)
            if progress:
                progress(f"chunk {i + 1}/{n_chunks}: messages {lo:,}-{hi - 1:,}; "
                         f"{tables['feedback'].num_rows:,} feedback, {tables['tracking'].num_rows:,} tracking, "
                         f"{tables['exclusions'].num_rows:,} exclusions")
    finally:
        writers.close()
    return dict(writers.paths)
