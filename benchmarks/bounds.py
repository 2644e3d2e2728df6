"""Lower bounds of a full build's parts, on a warehouse a benchmark built: what no change to
the models can go below, measured on this machine.

  write   copying every table of the warehouse into a new DuckDB file (DuckDB compresses
          what it writes, as a build does): materialising what the build keeps, with no
          computation at all
  suites  the data-quality gate alone (great-expectations on every row of the checked
          tables, and the cross-table checks), as a full build runs it (two processes)

    .venv/bin/python benchmarks/bounds.py /tmp/sendlens-bench/n10000000/home
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb

from sendlens.expectations.helper import SuiteHelper
from sendlens.expectations.runner import validate_warehouse
from sendlens.config import load_settings
from sendlens.core.sql import identifier, literal


def write_bound(warehouse: Path, memory_limit: str, threads: int, scratch: Path) -> tuple[float, int, int]:
    """Seconds to copy every table into a new file, its tables and rows."""
    target = scratch / "copy.duckdb"
    con = duckdb.connect(str(target))
    con.execute(f"set memory_limit = {literal(memory_limit)}")
    con.execute(f"set threads = {int(threads)}")
    con.execute("set preserve_insertion_order = false")
    con.execute("set checkpoint_threshold = '8GB'")
    con.execute(f"attach {literal(warehouse)} as src (read_only)")
    tables = con.execute("select schema_name, table_name, estimated_size from duckdb_tables() "
                         "where database_name = 'src'").fetchall()
    started = time.monotonic()
    for schema, _, _ in tables:
        con.execute(f"create schema if not exists {identifier(schema)}")
    for schema, table, _ in tables:
        con.execute(f"create table {identifier(schema)}.{identifier(table)} as "
                    f"select * from src.{identifier(schema)}.{identifier(table)}")
    con.execute("detach src")
    con.close()  # the closing checkpoint writes the file
    return time.monotonic() - started, len(tables), sum(t[2] for t in tables)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("home", type=Path, help="a sendlens home with a published warehouse")
    args = ap.parse_args()
    settings = load_settings(args.home)
    as_of = duckdb.connect(str(settings.warehouse), read_only=True).execute(
        "select as_of from audit.build_state").fetchone()[0]
    size = settings.warehouse.stat().st_size
    print(f"warehouse {settings.warehouse}: {size / 2**30:.2f} GiB, as of {as_of}")
    with tempfile.TemporaryDirectory(dir=settings.staging_dir) as scratch:
        seconds, tables, rows = write_bound(settings.warehouse, settings.memory_limit, settings.threads,
                                            Path(scratch))
    print(f"write: {seconds:.1f} s to copy {tables} tables ({rows:,} rows)")
    helper = SuiteHelper()
    try:
        started = time.monotonic()
        report = validate_warehouse(settings.warehouse, as_of=as_of,
                                    memory_limit=settings.memory_limit, temp_directory=settings.temp_dir,
                                    helper=helper)
        seconds = time.monotonic() - started
    finally:
        helper.close()
    slowest = sorted(report.results, key=lambda r: -r.seconds)[:4]
    print(f"suites: {seconds:.1f} s ({'passed' if report.passed else 'FAILED'}); slowest: "
          + ", ".join(f"{r.name} {r.seconds:.1f} s" for r in slowest))


if __name__ == "__main__":
    main()
