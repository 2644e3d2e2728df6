"""Trustworthy runs: the quality gate, atomic publishing, the run lock, crash safety, exports."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from sendlens import pipeline

DELIVERIES = [{"delivery_id": "d1", "label": "x", "channel": "email", "contact_date": "2026-01-05 08:00"}]


def _send_log(n: int, start: int = 0) -> list[dict]:
    return [{"message_id": f"m{i}", "delivery_id": "d1", "profile_id": f"p{i}", "address": f"user{i}@example.com",
             "relayed_at": "2026-01-05 08:00"} for i in range(start, start + n)]


def _sendlens(home: Path, *args: str, env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    env = dict(os.environ, SENDLENS_HOME=str(home), **(env or {}))
    return subprocess.Popen([sys.executable, "-m", "sendlens", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _count(db: Path, sql: str):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def test_failing_check_blocks_publishing_and_keeps_the_old_warehouse(scenario):
    scenario.ingest("deliveries", DELIVERIES)
    scenario.ingest("send_log", _send_log(3))
    scenario.build("2026-01-06T00:00:00Z")
    before = scenario.settings.warehouse.stat().st_ino
    # a contact date in 1990 fails the suite's sane window; the ingest range rule would reject
    # it, so it is widened here to let the poison value land (the gate must still hold)
    scenario.settings.earliest_timestamp = "1980-01-01T00:00:00Z"
    scenario.ingest("deliveries", [{"delivery_id": "d2", "label": "old", "channel": "email", "contact_date": "1990-01-05 08:00"}])
    with pytest.raises(pipeline.ChecksFailed) as err:
        scenario.build("2026-01-07T00:00:00Z")
    assert "deliveries" in str(err.value) and "contact" in str(err.value)
    assert scenario.settings.warehouse.stat().st_ino == before
    assert scenario.one("select max(as_of) as a from marts.rpt_delivery_kpis")["a"].isoformat() == "2026-01-06T00:00:00"
    assert not list(scenario.settings.staging_dir.glob("build-*"))


def test_reader_holding_the_warehouse_open_never_blocks_or_sees_a_mix(scenario):
    scenario.ingest("deliveries", DELIVERIES)
    scenario.ingest("send_log", _send_log(3))
    scenario.build("2026-01-06T00:00:00Z")
    warehouse = scenario.settings.warehouse
    # an analyst in another process keeps a read-only connection open for the whole run
    reader = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time\n"
         f"con = duckdb.connect({str(warehouse)!r}, read_only=True)\n"
         "q = 'select count(*) from marts.fct_message_status'\n"
         "print(con.execute(q).fetchone()[0], flush=True)\n"
         "sys.stdin.readline()\n"
         "print(con.execute(q).fetchone()[0], flush=True)\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert reader.stdout.readline().strip() == "6"
    scenario.ingest("send_log", _send_log(2, start=3))
    scenario.build("2026-01-07T00:00:00Z")  # does not wait for the reader
    reader.stdin.write("\n")
    reader.stdin.flush()
    assert reader.stdout.readline().strip() == "6"  # the reader still sees its whole, old warehouse
    reader.wait(timeout=30)
    assert _count(warehouse, "select count(*) from marts.fct_message_status") == 10


def test_two_runs_at_once_second_exits_clearly(tmp_path):
    home = tmp_path / "home"
    from sendlens.config import load_settings
    from sendlens.lock import home_lock

    settings = load_settings(home)
    pipeline.init_home(settings)
    with home_lock(settings.lock_file):  # a run in progress
        p = _sendlens(home, "run")
        out, err = p.communicate(timeout=60)
    assert p.returncode == 75
    assert "another sendlens command is running" in err


def _fill_inbox(home: Path, n: int) -> None:
    from tests.scenario import Scenario

    s = Scenario(home)
    pipeline.init_home(s.settings)
    for kind, rows in (("deliveries", DELIVERIES), ("send_log", _send_log(n))):
        path = s.write(kind, rows)
        shutil.move(str(path), s.settings.inbox / kind / path.name)


def test_run_ingests_archives_builds_and_exports(tmp_path):
    home = tmp_path / "home"
    _fill_inbox(home, 5)
    p = _sendlens(home, "run", "--as-of", "2026-01-06T00:00:00Z")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    from sendlens.config import load_settings
    s = load_settings(home)
    assert not any((s.inbox / "send_log").iterdir())
    assert len(list(s.archive.rglob("*.csv"))) == 2
    assert _count(s.warehouse, "select count(*) from marts.fct_message_status") == 10
    [export_dir] = list(s.exports.iterdir())
    manifest = json.loads((export_dir / "manifest.json").read_text())
    assert manifest["as_of"].startswith("2026-01-06 00:00:00")
    assert {i["kind"] for i in manifest["inputs"]} == {"deliveries", "send_log"}
    assert all(len(i["sha256"]) == 64 for i in manifest["inputs"])
    assert manifest["row_counts"]["fct_message_status"] == 10
    assert manifest["checks_passed"] is True
    assert (export_dir / "report.html").exists() and (export_dir / "sendlens_report.xlsx").exists()
    assert (export_dir / "data-quality" / "index.html").exists()
    [log] = s.logs.glob("run-*.log")
    _check_run_output(err, log.read_text())
    # --quiet: a run that went well prints nothing; --verbose: the detail under each step
    q = _sendlens(home, "-q", "export")
    q_out, q_err = q.communicate(timeout=120)
    assert (q.returncode, q_out, q_err) == (0, "", ""), q_err
    v = _sendlens(home, "export", "--verbose")
    v_out, v_err = v.communicate(timeout=120)
    assert v.returncode == 0 and "exported marts.fct_message_status: 10 rows" in v_err, v_err
    assert "exported marts." not in err  # the default shows the step, not the detail
    # addresses are masked by default
    csv_text = (export_dir / "csv" / "fct_profile_history.csv").read_text() if (export_dir / "csv" / "fct_profile_history.csv").exists() else ""
    assert "user1@example.com" not in csv_text
    dim = export_dir / "csv" / "dim_address_quarantine.csv"
    if dim.exists():
        assert "u***@example.com" in dim.read_text() and "user1@example.com" not in dim.read_text()


def _check_run_output(err: str, log: str) -> None:
    """What an operator reads of a scheduled run: one line per step with its duration, dbt
    summarised in a line (no node lines), the result last; the log file has it all, the
    detail included, timestamped."""
    lines = err.strip().splitlines()
    import re

    step_lines = {name: [ln for ln in lines if ln.startswith(name)]
                  for name in ("ingest: ", "dbt build: ", "checks: ", "published ", "exported ")}
    for name, found in step_lines.items():
        assert len(found) == 1, (name, lines)
        assert re.search(r"\(\d+\.\d s\)$", found[0]), found[0]
    assert re.match(r"ingest: 2 file\(s\), 6 rows landed", step_lines["ingest: "][0])
    assert re.match(r"dbt build: \d+ models, \d+ seeds, \d+ tests: \d+ passed, \d+ warned, 0 failed",
                    step_lines["dbt build: "][0]), step_lines["dbt build: "]
    assert re.match(r"checks: \d+ data-quality checks: \d+ passed", step_lines["checks: "][0])
    assert not [ln for ln in lines if re.match(r"\d+ of \d+ ", ln)], "dbt's node lines are detail"
    assert len(lines) <= 15, lines
    assert re.search(r"^\S+ \S+ DEBUG \d+ of \d+ (OK|PASS) ", log, flags=re.M), log[:2000]
    assert re.search(r"^\S+ \S+ INFO dbt build: ", log, flags=re.M)


@pytest.mark.parametrize("phase", ["ingest", "build"])
def test_kill_minus_9_then_clean_rerun(tmp_path, phase):
    home = tmp_path / "home"
    n = 200_000 if phase == "ingest" else 20_000
    _fill_inbox(home, n)
    from sendlens.config import load_settings
    s = load_settings(home)
    p = _sendlens(home, "run", "--as-of", "2026-01-06T00:00:00Z")
    deadline = time.time() + 120
    if phase == "ingest":
        def marker() -> bool:  # the run sweeps _tmp under its lock: the folder may vanish between looks
            try:
                return any(p.name.startswith("2") for p in (s.lake / "_tmp").iterdir())
            except FileNotFoundError:
                return False
    else:
        marker = lambda: any(s.staging_dir.glob("build-*/sendlens.duckdb"))  # noqa: E731
    while time.time() < deadline and not marker():
        time.sleep(0.005)
    assert marker(), "the run never reached the phase to kill"
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not s.warehouse.exists()  # nothing half-published
    p = _sendlens(home, "run", "--as-of", "2026-01-06T00:00:00Z")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert _count(s.warehouse, "select count(*) from staging.stg_send_log") == n
    assert _count(s.warehouse, "select sum(rows_landed) from audit.ingest_batches where kind = 'send_log'") == n
    assert _count(s.warehouse, "select count(*) from marts.fct_message_status") == 2 * n


def test_every_published_relation_is_queryable(scenario):
    scenario.ingest("deliveries", DELIVERIES)
    scenario.ingest("send_log", _send_log(2))
    scenario.build("2026-01-06T00:00:00Z")
    relations = scenario.query("select table_schema, table_name, table_type from information_schema.tables "
                               "where table_schema in ('staging', 'intermediate', 'marts', 'audit')")
    assert {r["table_name"] for r in relations} >= {"fct_message_status", "rpt_delivery_kpis", "ingest_batches", "stg_send_log"}
    for r in relations:  # views too: they must not point at the build file's catalog
        scenario.query(f'select count(*) from "{r["table_schema"]}"."{r["table_name"]}"')


def test_warehouse_copy_lands_whole(tmp_path):
    """The build's copy of the warehouse appears at its path only when complete; dbt's wait
    (sendlens.dbt_wait) returns then."""
    from sendlens.dbt_wait import wait_for_copy
    from sendlens.publish import WarehouseCopy

    source = tmp_path / "published.duckdb"
    con = duckdb.connect(str(source))
    con.execute("create table t as select range as i from range(100000)")
    con.close()
    target = tmp_path / "build" / "sendlens.duckdb"
    target.parent.mkdir()

    copy = WarehouseCopy(source, target)
    wait_for_copy(target, timeout=60)
    copy.join()
    con = duckdb.connect(str(target), read_only=True)
    assert con.execute("select count(*), sum(i) from t").fetchone() == (100000, sum(range(100000)))
    con.close()
    assert sorted(p.name for p in target.parent.iterdir()) == ["sendlens.duckdb"]


def test_failed_warehouse_copy_stops_dbts_wait_with_the_reason(tmp_path):
    from sendlens.dbt_wait import CopyFailed, wait_for_copy
    from sendlens.publish import WarehouseCopy

    target = tmp_path / "build" / "sendlens.duckdb"
    target.parent.mkdir()
    copy = WarehouseCopy(tmp_path / "missing.duckdb", target)
    with pytest.raises(CopyFailed, match="missing.duckdb"):
        wait_for_copy(target, timeout=60)
    with pytest.raises(OSError, match="missing.duckdb"):
        copy.join()
    assert not target.exists()
    with pytest.raises(CopyFailed, match="after 0 s"):  # and a copier that never comes
        wait_for_copy(tmp_path / "never" / "sendlens.duckdb", timeout=0.0)


def test_run_applies_retention_and_keeps_the_newest_export(tmp_path):
    """keep_exports / keep_logs / keep_archive (sendlens/retention.py), applied by `sendlens run`:
    old export folders lose what their manifest lists (a file someone added stays, with its
    folder), old logs and archive folders go, and the export of the run that just published
    always stays."""
    from sendlens.config import load_settings

    home = tmp_path / "home"
    _fill_inbox(home, 5)
    p = _sendlens(home, "run", "--as-of", "2026-01-06T00:00:00Z")
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    s = load_settings(home)
    [first] = list(s.exports.iterdir())
    [first_log] = list(s.logs.glob("run-*.log"))
    [first_archive] = list(s.archive.iterdir())
    # three older runs' exports (copies of a real one), one with a file a person added
    old = [s.exports / f"run-2025010{i}T000000000000Z" for i in (1, 2, 3)]
    for folder in old:
        shutil.copytree(first, folder)
    (old[1] / "my-notes.txt").write_text("keep me")
    month_ago = time.time() - 40 * 86400
    os.utime(first_log, (month_ago, month_ago))
    for f in [first_archive, *first_archive.rglob("*")]:
        os.utime(f, (month_ago, month_ago))
    env = {"SENDLENS_KEEP_EXPORTS": "2"}
    p = _sendlens(home, "run", "--as-of", "2026-01-06T00:15:00Z", env=env)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    exports = sorted(x.name for x in s.exports.iterdir())
    [second] = [x for x in exports if x not in {first.name, *(o.name for o in old)}]
    # the two newest stay whole; of the older ones only the added file (and its folder) is left
    assert exports == sorted([old[1].name, first.name, second])
    assert [x.name for x in old[1].rglob("*")] == ["my-notes.txt"]
    assert (s.exports / second / "report.html").exists() and (first / "report.html").exists()
    # the log and the archive of the first run were over 30 days old; the second run's stay
    assert not first_log.exists() and not first_archive.exists()
    assert len(list(s.logs.glob("run-*.log"))) == 1
    assert "retention: removed 2 old export folder(s), 1 log(s), 1 archive folder(s)" in err
