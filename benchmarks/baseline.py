"""Run the hand-written analyst baseline (benchmarks/baseline.sql) on the files that
`sendlens generate --out DIR` writes, as of an instant, and print its wall time.

    .venv/bin/python benchmarks/baseline.py --input DIR --as-of 2026-01-20T00:00:00Z

The script's parameters are bound as DuckDB variables (input folder, seeds folder, as_of,
report window), never pasted into its text; the folders' glob characters are escaped. The results stay in the tables
baseline_message_status and baseline_delivery_kpis of the connection (or of --database).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from sendlens.core.sql import glob_escape

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "baseline.sql"
SEEDS = HERE.parent / "seeds"  # failure_reasons.csv and bounce_qualification.csv
REPORT_WINDOW_DAYS = 7.0  # sendlens's default report_window_days


def utc_naive(as_of: str | datetime) -> datetime:
    """An ISO 8601 instant (UTC unless it gives an offset) as a naive UTC datetime."""
    value = datetime.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def run_baseline(input_dir: str | Path, as_of: str | datetime, database: str | Path = ":memory:",
                 seeds: str | Path = SEEDS,
                 report_window_days: float = REPORT_WINDOW_DAYS) -> duckdb.DuckDBPyConnection:
    """Run the baseline; return the open connection holding baseline_message_status and
    baseline_delivery_kpis."""
    con = duckdb.connect(str(database))
    # folders as values: DuckDB's readers expand globs, so their glob characters are escaped
    con.execute("set variable input = $1", [glob_escape(Path(input_dir).resolve())])
    con.execute("set variable seeds = $1", [glob_escape(Path(seeds).resolve())])
    con.execute("set variable as_of = cast($1 as timestamp)", [utc_naive(as_of)])
    con.execute("set variable report_window_days = cast($1 as double)", [float(report_window_days)])
    con.execute(SCRIPT.read_text(encoding="utf-8"))
    return con


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", type=Path, required=True, help="folder of <kind>.parquet (sendlens generate --out)")
    ap.add_argument("--as-of", required=True, help="ISO 8601 instant, UTC unless an offset is given")
    ap.add_argument("--database", default=":memory:", help="DuckDB file to leave the results in")
    args = ap.parse_args(argv)
    started = time.monotonic()
    con = run_baseline(args.input, args.as_of, args.database)
    statuses = con.execute("select count(*) from baseline_message_status").fetchone()[0]
    deliveries = con.execute("select count(*) from baseline_delivery_kpis").fetchone()[0]
    con.close()
    print(f"baseline: {statuses:,} message statuses, {deliveries:,} delivery KPI rows "
          f"in {time.monotonic() - started:.2f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
