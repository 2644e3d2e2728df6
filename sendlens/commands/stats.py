"""`sendlens compute-stats`: refresh the dashboard snapshot (all deliveries, or one) without a
rebuild, gated by the suites of what it rebuilt."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from sendlens import gate
from sendlens.commands.build import DBT_BUILD_EXCLUDE
from sendlens.commands.checks import quality_gate
from sendlens.commands.home import Progress, published, quiet, start
from sendlens.config import Settings, iso, utc_now
from sendlens.dbt_runner import DbtFailed, run_dbt, test_results
from sendlens.errors import ChecksFailed, SendlensError
from sendlens.incremental import published_as_of
from sendlens.lock import home_lock


# what compute-stats rebuilds (dash_delivery_kpis and what depends on it) and its suites check
STATS_SUITES = ("dash_delivery_kpis", "rpt_kpi_reconciliation")

def compute_stats(settings: Settings, at: datetime | None = None, delivery_id: str | None = None,
                  progress: Progress = quiet) -> Path:
    """Refresh the dashboard snapshot (all deliveries, or one) at ``at`` without a rebuild."""
    at = at or utc_now()
    settings.check_instant(at, "compute-stats --at")
    with home_lock(settings.lock_file, wait_seconds=600):
        published(settings)
        con = duckdb.connect(str(settings.warehouse), read_only=True)
        try:
            as_of = published_as_of(con)
            if delivery_id is not None:
                found = con.execute(
                    "select count(*) from intermediate.int_messages where delivery_id = ?", [delivery_id]
                ).fetchone()[0] + con.execute(
                    "select count(*) from staging.stg_deliveries where delivery_id = ?", [delivery_id]
                ).fetchone()[0]
                if not found:
                    raise SendlensError(f"unknown delivery {delivery_id!r}")
        finally:
            con.close()
        target = start(settings, True, f"compute-stats at {iso(at)}")
        try:
            run_dbt(settings, target.path,
                    ["build", "--select", "dash_delivery_kpis+", *DBT_BUILD_EXCLUDE],
                    settings.instant_vars(as_of or at, stats_at=at, stats_delivery_id=delivery_id),
                    progress=progress, extra_env=target.env)
            target.ready()
            # the suites of what it rebuilt gate it like a build's (and are kept with it)
            checks, documents = quality_gate(settings, target.path, as_of or at, progress,
                                              outcome=target.left_on_failure,
                                              suites=list(STATS_SUITES))
            gate.record(target.path, gate.GateRecord(
                "compute-stats", checks, utc_now(), as_of,
                {f"compute-stats/{name}": text for name, text in documents.items()},
                test_results(settings)))
            target.publish()
        except DbtFailed as exc:
            target.abandon(exc)
            raise ChecksFailed(f"compute-stats failed; {target.left_on_failure}.\n{exc}") from None
        except BaseException as exc:
            target.abandon(exc)
            raise
    return settings.warehouse
