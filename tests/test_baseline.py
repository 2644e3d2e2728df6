"""The hand-written analyst baseline of the benchmark (benchmarks/baseline.sql, issue 20) computes
exactly what the marts publish: on a generated sample (20,000 messages, seed 42), ingested and
built by sendlens at three instants (mid-campaign, while the last deliveries are still in
their validity period, and after everything settled), the baseline run on
the same generated files at the same instants gives

  * every relayed message's status under both modes: marts.fct_message_status row for row on
    message_id, delivery_id, profile_id, reporting_mode, status, failure_type, failure_reason,
    status_at, is_final, is_test_profile, is_proof and as_of (proofs and test profiles included,
    as in the mart);
  * every delivery's core KPIs: marts.rpt_delivery_kpis row for row (recurring parents included,
    proof deliveries absent from both) on the counts exactly and the rates within 1e-9.

What the baseline deliberately leaves out, hence is not compared: the mart columns beyond
those (fct_message_status: status_cause, cause_event_id, is_own_mode, channel, relayed_at,
validity_end_at; rpt_delivery_kpis: machine_opens, the human_* counts
and the *_excl_machine rates, is_recurring_parent), and every other mart.

The builds after the first are sendlens's incremental builds with a moved as_of, as a scheduled
run makes them (tests/test_incremental.py checks those equal a full refresh).
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import duckdb
import pytest

from sendlens import pipeline
from sendlens.core.sql import literal
from tests.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
INSTANTS = (
    "2026-01-07T12:00:00Z",  # mid-campaign: deliveries in flight, EFS messages still pending
    "2026-01-11T06:00:00Z",  # the first deliveries final, the last ones still retrying
    "2026-01-25T00:00:00Z",  # everything settled, the report windows closed
)
STATUS_COLUMNS = ("message_id", "delivery_id", "profile_id", "reporting_mode", "status", "failure_type",
                  "failure_reason", "status_at", "is_final", "is_test_profile", "is_proof", "as_of")
KPI_COUNTS = ("delivery_id", "reporting_mode", "as_of", "to_deliver", "sent", "processed", "delivered",
              "bounces_errors", "pending", "hard_bounces", "soft_bounces", "opens", "click_implied_opens",
              "unique_opens", "clicks", "unique_clicks", "opt_outs", "mirror_pages", "complaints",
              "validity_end_at", "is_final")
KPI_RATES = ("delivered_rate", "bounce_rate", "open_rate", "click_through_rate", "click_to_open_rate")
TOLERANCE = 1e-9


def _load_baseline():
    spec = importlib.util.spec_from_file_location("sendlens_benchmark_baseline", ROOT / "benchmarks" / "baseline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


baseline = _load_baseline()


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    return [r[0] for r in con.execute(f"describe {relation}").fetchall()]


def _except_both_ways(con: duckdb.DuckDBPyConnection, cols: tuple[str, ...], mine: str, theirs: str):
    select = ", ".join(cols)
    only_mine = con.execute(f"select {select} from {mine} except all select {select} from {theirs} "
                            f"order by all limit 20").fetchall()
    only_theirs = con.execute(f"select {select} from {theirs} except all select {select} from {mine} "
                              f"order by all limit 20").fetchall()
    return only_mine, only_theirs


def _compare(con: duckdb.DuckDBPyConnection) -> dict:
    """Both comparisons, run while this instant's warehouse is attached as `w`."""
    out: dict = {
        "status_rows": con.execute("select count(*) from w.marts.fct_message_status").fetchone()[0],
        "baseline_status_rows": con.execute("select count(*) from baseline_message_status").fetchone()[0],
        "kpi_rows": con.execute("select count(*) from w.marts.rpt_delivery_kpis").fetchone()[0],
        "baseline_kpi_rows": con.execute("select count(*) from baseline_delivery_kpis").fetchone()[0],
        "status_columns": (_columns(con, "baseline_message_status"), _columns(con, "w.marts.fct_message_status")),
        "kpi_columns": (_columns(con, "baseline_delivery_kpis"), _columns(con, "w.marts.rpt_delivery_kpis")),
    }
    out["status_diff"] = _except_both_ways(con, STATUS_COLUMNS, "baseline_message_status", "w.marts.fct_message_status")
    out["kpi_diff"] = _except_both_ways(con, KPI_COUNTS, "baseline_delivery_kpis", "w.marts.rpt_delivery_kpis")
    worst = ", ".join(f"max(abs(b.{c} - m.{c})) as {c}" for c in KPI_RATES)
    row = con.execute(f"select count(*), {worst} from baseline_delivery_kpis as b "
                      f"inner join w.marts.rpt_delivery_kpis as m using (delivery_id, reporting_mode)").fetchone()
    out["rates_joined"] = row[0]
    out["rate_gaps"] = dict(zip(KPI_RATES, row[1:]))
    # what the sample exercises (so that equality means something)
    out["causes"] = {(mode, cause) for mode, cause in con.execute(
        "select distinct reporting_mode, status_cause from w.marts.fct_message_status").fetchall()}
    out["reasons"] = {r for (r,) in con.execute(
        "select distinct failure_reason from baseline_message_status where failure_reason is not null").fetchall()}
    out["parents"] = con.execute(
        "select count(*) from w.marts.rpt_delivery_kpis where is_recurring_parent and to_deliver > 0").fetchone()[0]
    out["implied_opens"] = con.execute("select sum(click_implied_opens) from baseline_delivery_kpis").fetchone()[0]
    return out


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    s = Scenario(tmp_path_factory.mktemp("baseline") / "home")
    paths = pipeline.generate(s.home.parent / "sample", 20_000, 42)
    for kind in pipeline.INGEST_ORDER:
        pipeline.ingest(s.settings, kind, [paths[kind]])
    return s, paths["send_log"].parent


@pytest.fixture(scope="module")
def compared(sample) -> dict[str, dict]:
    """sendlens built at each instant in turn (one home), the baseline run on the same files at
    the same instant, and both compared against the warehouse sendlens published, read-only."""
    s, input_dir = sample
    results = {}
    for at in INSTANTS:
        s.build(at)
        con = baseline.run_baseline(input_dir, at)
        try:
            con.execute(f"attach {literal(s.settings.warehouse)} as w (read_only)")
            results[at] = _compare(con)
        finally:
            con.close()
    return results


@pytest.mark.parametrize("at", INSTANTS)
def test_every_message_status_in_both_modes_equals_the_mart(compared, at):
    r = compared[at]
    mine, theirs = r["status_columns"]
    assert set(STATUS_COLUMNS) <= set(mine) and set(STATUS_COLUMNS) <= set(theirs)
    assert r["status_rows"] > 20_000  # two modes of most of 20,000 messages
    assert r["baseline_status_rows"] == r["status_rows"]
    only_baseline, only_mart = r["status_diff"]
    assert only_baseline == [] and only_mart == [], (only_baseline, only_mart)


@pytest.mark.parametrize("at", INSTANTS)
def test_every_delivery_kpi_equals_the_mart(compared, at):
    r = compared[at]
    mine, theirs = r["kpi_columns"]
    assert set(KPI_COUNTS + KPI_RATES) <= set(mine) and set(KPI_COUNTS + KPI_RATES) <= set(theirs)
    assert r["kpi_rows"] > 0 and r["baseline_kpi_rows"] == r["kpi_rows"]
    only_baseline, only_mart = r["kpi_diff"]
    assert only_baseline == [] and only_mart == [], (only_baseline, only_mart)
    assert r["rates_joined"] == r["kpi_rows"]
    assert all(gap is not None and gap <= TOLERANCE for gap in r["rate_gaps"].values()), r["rate_gaps"]


def test_the_sample_exercises_the_rules_compared(compared):
    """Equality means something only if the sample holds each case: every status cause of both
    modes, reasons from the feed, from the qualification rules ('unreachable' of a 'not defined'
    soft bounce) and unknown labels ('other'), recurring parents, click-implied opens."""
    mid, settled = compared[INSTANTS[0]], compared[INSTANTS[-1]]
    assert {("efs", "relayed"), ("efs", "delivered"), ("efs", "soft_bounce"), ("efs", "hard_bounce"),
            ("standard", "relayed"), ("standard", "validity_ended"), ("standard", "hard_bounce")} <= mid["causes"]
    assert {("standard", "expired"), ("efs", "expired")} <= settled["causes"]
    assert {"user unknown", "mailbox full", "unreachable", "other", "not defined"} <= settled["reasons"]
    assert mid["parents"] >= 2 and mid["implied_opens"] > 0


def test_the_parameters_are_bound_not_pasted(sample, tmp_path):
    """The input folder is a bound variable: a folder whose name holds a quote and glob
    characters gives the same results; the script's text names no folder or instant."""
    s, input_dir = sample
    quoted = tmp_path / "it's [the] sample*"
    shutil.copytree(input_dir, quoted)
    at = INSTANTS[1]
    first, second = baseline.run_baseline(input_dir, at), baseline.run_baseline(quoted, at)
    try:
        a = first.execute("select * from baseline_delivery_kpis order by all").fetchall()
        b = second.execute("select * from baseline_delivery_kpis order by all").fetchall()
        assert a and a == b
    finally:
        first.close()
        second.close()
    text = (ROOT / "benchmarks" / "baseline.sql").read_text(encoding="utf-8")
    assert "/tmp" not in text and "2026-" not in text and str(ROOT) not in text
