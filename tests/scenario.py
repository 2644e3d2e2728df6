"""Scenario helper for end-to-end tests: write small input files, ingest, build, query.

Goes through the real pipeline (files -> lake -> dbt on DuckDB -> published warehouse); no
mocks. Rows are dicts; missing optional columns are simply absent from the file.
"""

from __future__ import annotations

import csv
import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from sendlens import pipeline
from sendlens.config import Settings, load_settings, parse_timestamp

_counter = itertools.count()


def ts(text: str) -> datetime:
    return parse_timestamp(text)


class Scenario:
    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.settings: Settings = load_settings(self.home)
        self.inputs = self.home.parent / f"inputs-{self.home.name}"
        self.inputs.mkdir(parents=True, exist_ok=True)

    def write(self, kind: str, rows: list[dict[str, Any]], fmt: str = "csv") -> Path:
        n = next(_counter)
        path = self.inputs / f"{kind}-{n}.{fmt}"
        columns: list[str] = []
        for r in rows:
            for k in r:
                if k not in columns:
                    columns.append(k)
        if fmt == "csv":
            with open(path, "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=columns)
                w.writeheader()
                for r in rows:
                    w.writerow({k: ("" if v is None else v) for k, v in r.items()})
        elif fmt == "jsonl":
            import json
            with open(path, "w") as fh:
                for r in rows:
                    fh.write(json.dumps(r, default=str) + "\n")
        else:
            raise ValueError(fmt)
        return path

    def ingest(self, kind: str, rows: list[dict[str, Any]], fmt: str = "csv"):
        return pipeline.ingest(self.settings, kind, [self.write(kind, rows, fmt)])

    def build(self, as_of: str, **kwargs: Any):
        return pipeline.build(self.settings, ts(as_of), **kwargs)

    def compute_stats(self, at: str, delivery_id: str | None = None):
        return pipeline.compute_stats(self.settings, ts(at), delivery_id)

    def query(self, sql: str, params: list | None = None) -> list[dict[str, Any]]:
        con = duckdb.connect(str(self.settings.warehouse), read_only=True)
        try:
            cur = con.execute(sql, params or [])
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]
        finally:
            con.close()

    def one(self, sql: str, params: list | None = None) -> dict[str, Any]:
        rows = self.query(sql, params)
        assert len(rows) == 1, f"expected one row, got {len(rows)}: {rows}"
        return rows[0]
