"""dbt unit tests (models/intermediate/_unit_tests.yml): the seed's two tables row by row and
one case per status rule, run by dbt itself against a real DuckDB warehouse."""

from __future__ import annotations

import shutil

from sendlens.config import utc_now
from sendlens.dbt_runner import run_dbt


def test_dbt_unit_tests_pass(scenario):
    scenario.ingest("deliveries", [{"delivery_id": "d1", "label": "x", "channel": "email", "contact_date": "2026-01-05 08:00"}])
    scenario.build("2026-01-06T00:00:00Z")  # unit tests read the input relations' column types
    db = scenario.settings.staging_dir / "unit.duckdb"
    shutil.copyfile(scenario.settings.warehouse, db)
    result = run_dbt(scenario.settings, db, ["test", "--select", "test_type:unit"],
                     scenario.settings.instant_vars(utc_now()))
    assert result.returncode == 0
    passed = result.log.count('"name": "LogTestResult"') or result.log.count("LogTestResult")
    assert passed >= 15, result.log[-2000:]
