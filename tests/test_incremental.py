"""Incremental builds give exactly what a full refresh gives (issue 7).

One home goes through: a full build at T1 of a first data set; a second data set landed on
top (the same message ids with new versions and later events, re-landed deliveries, event ids
seen before) and an incremental build at a later T2; an incremental build with no new data at
a much later T3 (as_of moved: expiries, quarantine clocks); late data for settled messages and
an incremental build at T4; more late data at the same T4 (delivery reports, dashboard and
reconciliation kept per delivery); a compute-stats of one delivery, then a build at T4 with
nothing new (that delivery's dashboard row alone is refreshed). After each incremental build, a `--full-refresh` build of a copy
of the same home must hold the same rows in every public mart and every kept table.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from sendlens.ingest.contracts import KINDS
from sendlens.sample import DEFAULT_START, generate
from sendlens import pipeline
from sendlens.config import Settings
from sendlens.core.sql import literal

T1 = datetime(2026, 1, 7, 12, 0)   # mid-way through the first data set
T2 = datetime(2026, 1, 10, 6, 0)   # second data set landed, as_of moved
T3 = datetime(2026, 2, 20, 0, 0)   # no new data, as_of moved past every validity end
T4 = datetime(2026, 2, 21, 0, 0)   # late data for settled messages, as_of moved a little


def _land(settings: Settings, files: dict[str, Path], kinds: tuple[str, ...] = KINDS) -> None:
    for kind in kinds:
        pipeline.ingest(settings, kind, [files[kind]])


def _relations(con: duckdb.DuckDBPyConnection, db: str) -> list[tuple[str, str]]:
    return con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = ? "
        "and schema_name in ('staging', 'marts', 'intermediate', 'audit') "
        # what a build records about itself (its plan, its gates' results) is not data
        "and table_name not in ('build_state', 'gate_results', 'gate_documents', 'gate_dbt_tests', "
        "'int_changed_messages', 'int_changed_addresses', 'int_changed_deliveries', 'int_build_changes') "
        "union all select schema_name, view_name from duckdb_views() where database_name = ? "
        "and schema_name = 'marts' order by 1, 2", [db, db]).fetchall()


def _differences(incremental: Path, full: Path) -> dict[str, str]:
    """relation -> what differs (rows in one and not the other, counted with multiplicity)."""
    con = duckdb.connect()
    con.execute(f"attach {literal(incremental)} as inc (read_only)")
    con.execute(f"attach {literal(full)} as ful (read_only)")
    found: dict[str, str] = {}
    inc_rel, ful_rel = _relations(con, "inc"), _relations(con, "ful")
    if inc_rel != ful_rel:
        found["<relations>"] = f"incremental {inc_rel} vs full {ful_rel}"
    for schema, table in ful_rel:
        cols = con.execute(
            "select column_name, data_type from duckdb_columns() where database_name = 'ful' "
            "and schema_name = ? and table_name = ? order by column_index", [schema, table]).fetchall()
        inc_cols = con.execute(
            "select column_name, data_type from duckdb_columns() where database_name = 'inc' "
            "and schema_name = ? and table_name = ? order by column_index", [schema, table]).fetchall()
        if cols != inc_cols:
            found[f"{schema}.{table}"] = f"columns differ: {inc_cols} vs {cols}"
            continue
        # doubles are compared to 1e-9 (sums in another order may differ in the last bit)
        sel = ", ".join(f'round("{c}", 9)' if t == "DOUBLE" else f'"{c}"' for c, t in cols)
        n_inc, n_ful = (con.execute(f"select count(*) from {db}.{schema}.{table}").fetchone()[0]
                        for db in ("inc", "ful"))
        only_inc = con.execute(f"select count(*) from (select {sel} from inc.{schema}.{table} "
                               f"except all select {sel} from ful.{schema}.{table})").fetchone()[0]
        only_ful = con.execute(f"select count(*) from (select {sel} from ful.{schema}.{table} "
                               f"except all select {sel} from inc.{schema}.{table})").fetchone()[0]
        if only_inc or only_ful:
            found[f"{schema}.{table}"] = (f"{n_inc} vs {n_ful} rows; {only_inc} only incremental, "
                                          f"{only_ful} only full refresh")
    con.close()
    return found


def _full_refresh_copy(settings: Settings, tmp: Path, as_of: datetime) -> Path:
    """The same home (lake and published warehouse) rebuilt with --full-refresh."""
    other = Settings(home=tmp)
    shutil.copytree(settings.home, other.home)
    result = pipeline.build(other, as_of, full_refresh=True)
    assert result.mode == "full"
    return other.warehouse


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    root = tmp_path_factory.mktemp("incremental")
    settings = Settings(home=root / "home")
    first = generate(root / "first", 3000, seed=11)
    # the same message ids m0..m999 with other content two days later: new versions, later
    # events, event ids already landed, deliveries landed again
    second = generate(root / "second", 1000, seed=12, start=DEFAULT_START + timedelta(days=2))
    # late events and new versions of 400 messages settled long ago (their deliveries unchanged)
    third = generate(root / "third", 400, seed=13, start=DEFAULT_START + timedelta(days=3))
    del third["deliveries"], third["operators"], third["exclusions"]
    # more late data at the same as_of (the delivery reports are then kept per delivery)
    fourth = generate(root / "fourth", 300, seed=14, start=DEFAULT_START + timedelta(days=4))
    del fourth["deliveries"], fourth["operators"], fourth["exclusions"]
    _land(settings, first)
    steps = {"step1": pipeline.build(settings, T1)}
    for name, data, as_of in (("step2", second, T2), ("step3", None, T3), ("step4", third, T4),
                              ("step5", fourth, T4), ("step6", None, T4)):
        if name == "step6":
            # a compute-stats of one delivery moves its dashboard row off the build's as_of:
            # the next build, at the same as_of and with nothing new, refreshes that row only
            steps["stats_delivery"] = _a_delivery(settings.warehouse)
            pipeline.compute_stats(settings, at=T4 - timedelta(days=30),
                                   delivery_id=steps["stats_delivery"])
        if data:
            _land(settings, data, tuple(k for k in KINDS if k in data))
        steps[name] = pipeline.build(settings, as_of)
        snapshot = root / f"{name}.duckdb"
        shutil.copyfile(settings.warehouse, snapshot)
        steps[name + "_db"] = snapshot
        steps[name + "_full"] = _full_refresh_copy(settings, root / f"{name}-full", as_of)
    return {"settings": settings, **steps}


def _a_delivery(db: Path) -> str:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("select min(delivery_id) from marts.dash_delivery_kpis").fetchone()[0]
    finally:
        con.close()


def _changed(db: Path) -> tuple[int, int, str, int, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        changed, messages, changed_addresses, addresses = con.execute(
            "select (select count(*) from intermediate.int_changed_messages), "
            "(select count(*) from intermediate.int_messages), "
            "(select count(*) from marts.dim_address_quarantine where address in "
        "(select address from intermediate.int_changed_addresses)), "
            "(select count(*) from intermediate.int_quarantine_addresses)").fetchone()
        reason = con.execute("select reason from audit.build_state").fetchone()[0]
    finally:
        con.close()
    return changed, messages, reason, changed_addresses, addresses


def test_builds_after_the_first_are_incremental(history):
    assert history["step1"].mode == "full"
    assert [history[s].mode for s in ("step2", "step3", "step4", "step5")] == ["incremental"] * 4
    changed, messages, reason, changed_addresses, addresses = _changed(history["step4_db"])
    # late data at T4: its 400 messages (and the few never relayed) are recomputed, the
    # settled rest is kept; so are their addresses' quarantine states
    assert 400 <= changed < messages / 2
    assert 0 < changed_addresses < addresses / 2
    assert "3 new batch" in reason and "as_of moved" in reason
    changed, messages, reason, _, _ = _changed(history["step3_db"])
    assert "0 new batch" in reason and "as_of moved" in reason
    changed, messages, reason, _, _ = _changed(history["step5_db"])
    assert "as_of moved" not in reason and 300 <= changed < messages / 2
    con = duckdb.connect(str(history["step5_db"]), read_only=True)
    changed_deliveries, deliveries = con.execute(
        "select (select count(*) from intermediate.int_changed_deliveries), "
        "(select count(*) from intermediate.int_reporting_deliveries)").fetchone()
    con.close()
    assert changed_deliveries > 0 and deliveries > 0
    # step 6: nothing new, one dashboard row left by compute-stats at another instant
    changed, messages, reason, _, _ = _changed(history["step6_db"])
    assert "0 new batch" in reason and "as_of moved" not in reason and changed == 0
    con = duckdb.connect(str(history["step6_db"]), read_only=True)
    changed_deliveries = [r[0] for r in con.execute(
        "select delivery_id from intermediate.int_changed_deliveries").fetchall()]
    stats_at = con.execute("select distinct stats_computed_at from marts.dash_delivery_kpis").fetchall()
    con.close()
    assert changed_deliveries == [history["stats_delivery"]]
    assert stats_at == [(T4,)]  # the compute-stats row refreshed at the build's as_of


def _dbt_invocations(settings: Settings) -> list[list[dict]]:
    """The JSON log events of each dbt run in a home, oldest first (dbt rotates its log)."""
    logs = settings.staging_dir / "dbt" / "logs"
    rotated = sorted(logs.glob("dbt.log.*"), key=lambda p: -int(p.suffix[1:]))
    events = []
    for path in [*rotated, logs / "dbt.log"]:
        for line in path.read_text().splitlines():
            try:
                events.append(json.loads(line)["info"])
            except (ValueError, KeyError):
                continue
    starts = [i for i, e in enumerate(events) if e["name"] == "MainReportVersion"]
    return [events[i:j] for i, j in zip(starts, [*starts[1:], len(events)])]


def test_builds_after_the_first_parse_partially(history):
    """The per-build values (as_of, build mode, new batches) reach dbt in the environment and
    the build path stays the same, so dbt parses only what changed (nothing, here) instead of
    the whole project: every build after the first (steps 2 to 6, and the compute-stats)."""
    runs = [{e["name"] for e in run} for run in _dbt_invocations(history["settings"])]
    assert len(runs) == 7
    assert "UnableToPartialParse" in runs[0]  # the first build: no saved manifest yet
    for names in runs[1:]:
        assert "PartialParsingEnabled" in names and "UnableToPartialParse" not in names


@pytest.mark.parametrize("step", ["step2", "step3", "step4", "step5", "step6"])
def test_incremental_equals_full_refresh(history, step):
    assert _differences(history[step + "_db"], history[step + "_full"]) == {}


def test_comparison_sees_a_difference(history, tmp_path):
    """The comparison itself can fail: one changed row in a kept table is reported."""
    broken = tmp_path / "broken.duckdb"
    shutil.copyfile(history["step3_full"], broken)
    con = duckdb.connect(str(broken))
    con.execute("update intermediate.int_message_status_timeline set status = 'sent' "
                "where message_id = (select min(message_id) from intermediate.int_message_status_timeline "
                "where status = 'failed')")
    con.close()
    found = _differences(broken, history["step3_full"])
    assert "intermediate.int_message_status_timeline" in found
    assert "marts.fct_message_status_history" in found


def test_full_refresh_when_models_or_settings_change(history, tmp_path):
    from sendlens.incremental import plan_build

    settings = history["settings"]
    assert plan_build(settings, T4).mode == "no-op"  # nothing new since step 6
    assert plan_build(settings, T4 + timedelta(minutes=15)).mode == "incremental"
    assert plan_build(settings, T4, full_refresh=True).mode == "full"
    assert plan_build(settings, T1).mode == "full"  # as_of before the published build's
    changed = Settings(home=settings.home, report_window_days=3.0)
    assert plan_build(changed, T4).mode == "full"


def test_quality_gate_of_an_incremental_build_reads_the_recomputed_rows(history):
    """The suites of an incremental build validate the recomputed messages' and addresses' rows
    of the large tables, and whole tables elsewhere."""
    from sendlens.expectations.runner import validate_warehouse
    from sendlens import kept
    from sendlens.dbt_runner import manifest_path

    db = history["step5_db"]  # the last build
    # what a build whose as_of moved recomputed, from the models' kept_by declarations
    changed = kept.recomputed_rows(kept.read_manifest(manifest_path(history["settings"])), as_of_moved=True)
    report = validate_warehouse(db, as_of=T4, changed=changed)
    assert report.passed, report.summary()
    con = duckdb.connect(str(db), read_only=True)
    status_rows, addresses, kpi_rows = con.execute(
        "select (select count(*) from marts.fct_message_status where message_id in "
        "(select message_id from intermediate.int_changed_messages)), "
        "(select count(*) from marts.dim_address_quarantine where address in "
        "(select address from intermediate.int_changed_addresses)), "
        "(select count(*) from marts.rpt_delivery_kpis)").fetchone()
    con.close()
    assert report.result("fct_message_status").rows == status_rows
    assert "(recomputed message_id only)" in report.result("fct_message_status").details
    assert report.result("dim_address_quarantine").rows == addresses
    assert report.result("rpt_delivery_kpis").rows == kpi_rows
    assert "recomputed" not in report.result("exclusions").details


def test_landing_suites_of_an_incremental_build_read_the_new_batches(history):
    """Step 5 landed 300 sending-log rows; its gate validated those, not the whole lake."""
    checks = {c["name"]: c for c in history["step5"].checks}
    assert all(c["status"] == "passed" for c in checks.values()), checks
    assert checks["send_log"]["details"].startswith("lake [")
    assert ": 300 rows in 1 chunk" in checks["send_log"]["details"]
    assert ": 0 rows in 1 chunk" in checks["deliveries"]["details"]  # none landed at step 5
    assert "recomputed message_id only" in checks["fct_message_status"]["details"]


def test_gate_reads_the_recomputed_deliveries_of_kept_reports(history):
    """At an unchanged as_of (step 6: one delivery's dashboard row refreshed) the suites of the
    reports kept per delivery read that delivery's rows; when as_of moved (step 4) the reports
    were rebuilt whole and are validated whole."""
    con = duckdb.connect(str(history["step6_db"]), read_only=True)
    kpi_rows = con.execute("select count(*) from marts.rpt_delivery_kpis where delivery_id in "
                           "(select delivery_id from intermediate.int_changed_deliveries)").fetchone()[0]
    con.close()
    step6 = {c["name"]: c for c in history["step6"].checks}
    assert all(c["status"] == "passed" for c in step6.values()), step6
    for table in ("rpt_delivery_kpis", "rpt_delivery_kpis_hourly", "dash_delivery_kpis",
                  "rpt_kpi_reconciliation"):
        assert "(recomputed delivery_id only)" in step6[table]["details"], step6[table]
    assert step6["rpt_delivery_kpis"]["details"].startswith(
        f"marts.rpt_delivery_kpis (recomputed delivery_id only): {kpi_rows} rows")
    step4 = {c["name"]: c for c in history["step4"].checks}
    assert "recomputed" not in step4["rpt_delivery_kpis"]["details"]


def test_a_build_with_nothing_new_leaves_the_warehouse_as_it_is(history):
    """No batch since the published build, as_of where it was, no compute-stats since: the build
    would give the same warehouse again, so it runs no dbt and keeps the file (issue 20's no-op
    run); the checks it reports are the published build's."""
    settings = history["settings"]
    before = settings.warehouse.stat()
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        published = {r[0] for r in con.execute(
            "select check_name from audit.gate_results where gate = 'build'").fetchall()}
    finally:
        con.close()
    lines: list[str] = []
    result = pipeline.build(settings, T4, progress=lines.append)
    assert result.mode == "no-op"
    after = settings.warehouse.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    assert published and {c["name"] for c in result.checks} == published
    assert any(line.startswith("nothing to build: no new batch") for line in lines), lines
    assert not any("dbt build" in line for line in lines)
    # a moved as_of is work again
    from sendlens.incremental import plan_build
    assert plan_build(settings, T4 + timedelta(seconds=1)).mode == "incremental"
