"""Hostile and careless use of the commands (issue 17): overlapping runs, values that would be
SQL if pasted into it, poison instants, a way out for a bad batch, gate results that belong
to the published warehouse, and inbox entries that are not files.

Every test goes through the real pipeline: real files, a real DuckDB warehouse, real dbt runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from sendlens import pipeline
from sendlens.config import load_settings
from sendlens.lock import home_lock
from tests.scenario import Scenario

DELIVERIES = [{"delivery_id": "d1", "label": "x", "channel": "email", "contact_date": "2026-01-05 08:00"}]


def _send_log(n: int, start: int = 0, delivery: str = "d1") -> list[dict]:
    return [{"message_id": f"m{i}", "delivery_id": delivery, "profile_id": f"p{i}",
             "address": f"user{i}@example.com", "relayed_at": "2026-01-05 08:00"}
            for i in range(start, start + n)]


def _sendlens(home: Path, *args: str, cwd: Path | None = None) -> subprocess.Popen:
    env = dict(os.environ, SENDLENS_HOME=str(home))
    return subprocess.Popen([sys.executable, "-m", "sendlens", *args], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run(home: Path, *args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    p = _sendlens(home, *args, cwd=cwd)
    out, err = p.communicate(timeout=timeout)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under root with its size and modification time (what "touched" means)."""
    return {str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def _fill_inbox(s: Scenario, n: int) -> None:
    with home_lock(s.settings.lock_file):
        pipeline.init_home(s.settings)
    for kind, rows in (("deliveries", DELIVERIES), ("send_log", _send_log(n))):
        path = s.write(kind, rows)
        path.rename(s.settings.inbox / kind / path.name)


def _one(db: Path, sql: str, params: list | None = None):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchone()
    finally:
        con.close()


# ---- class 2: overlapping scheduled runs -------------------------------------------------
def test_a_second_run_touches_nothing_of_a_run_in_progress(tmp_path):
    s = Scenario(tmp_path / "home")
    _fill_inbox(s, 5)
    # the first run, mid-ingest: it holds the lock and has half a batch in lake/_tmp
    with home_lock(s.settings.lock_file):
        half = s.settings.lake / "_tmp" / "20260105T080000000000-abcdef12-0001" / "data"
        half.mkdir(parents=True)
        (half / "part-0.parquet").write_bytes(b"PAR1 half written")
        before = _tree(s.home)
        second = _run(s.home, "run", timeout=60)
        assert second.returncode == 75, second.stderr
        assert "another sendlens command is running" in second.stderr
        assert _tree(s.home) == before  # not its batch, not its inbox, not even a log file
        assert (half / "part-0.parquet").read_bytes() == b"PAR1 half written"


def test_two_runs_started_together_one_completes_exactly(tmp_path):
    """Two cron runs at once: one exits 75 and writes nothing, the other lands every row. Its
    inbox also holds a dangling link (class 12), which it reports and moves aside."""
    s = Scenario(tmp_path / "home")
    n = 3_000
    _fill_inbox(s, n)
    link = s.settings.inbox / "send_log" / "yesterday.csv"
    link.symlink_to(tmp_path / "gone" / "yesterday.csv")
    env = dict(os.environ, SENDLENS_HOME=str(s.home))
    errs = [tmp_path / f"run{i}.err" for i in range(2)]
    runs = [subprocess.Popen([sys.executable, "-m", "sendlens", "run", "--as-of", "2026-01-06T00:00:00Z"],
                             env=env, stdout=subprocess.DEVNULL, stderr=open(err, "w"))
            for err in errs]
    codes = [p.wait(timeout=600) for p in runs]
    texts = [err.read_text() for err in errs]
    assert sorted(codes) == [1, 75], [t[-2000:] for t in texts]  # 1: the link could not be landed
    done = texts[codes.index(1)]
    assert "another sendlens command is running" in texts[codes.index(75)]
    # the message names the holder: its pid and its command
    assert "(sendlens run) since" in texts[codes.index(75)], texts[codes.index(75)]
    assert _one(s.settings.warehouse, "select sum(rows_read), sum(rows_landed), sum(rows_rejected) "
                "from audit.ingest_batches where kind = 'send_log'") == (n, n, 0)
    assert _one(s.settings.warehouse, "select count(*) from marts.fct_message_status")[0] == 2 * n
    assert len(list(s.settings.logs.glob("run-*.log"))) == 1  # the second run wrote no log
    assert not any((s.settings.inbox / "send_log").iterdir())

    # class 12: the link is said in the summary and the log, and moved aside as a link
    assert "yesterday.csv" in done and "link to a missing file" in done
    # the last line of a failed run is the error (what cron mails and `tail -1` show)
    assert done.strip().splitlines()[-1].startswith(
        "sendlens: error: 1 input file(s) could not be landed"), done[-1500:]
    [log] = s.settings.logs.glob("run-*.log")
    assert "yesterday.csv: a link to a missing file" in log.read_text()
    assert "@example.com" not in log.read_text() + done  # no recipient address in what a run prints
    failed = s.settings.inbox / "_failed" / "send_log"
    assert (failed / "yesterday.csv").is_symlink()
    assert "link to a missing file" in (failed / "yesterday.csv.error.txt").read_text()


# ---- class 3: values that would be SQL ---------------------------------------------------
HOSTILE_HOME = "o'brien [1]* \");copy (select 42 as x) to 'pwned.csv';--"


def test_hostile_home_path_config_and_delivery_ids_stay_values(tmp_path):
    home = tmp_path / HOSTILE_HOME / "home"
    s = Scenario(home)
    home.mkdir(parents=True, exist_ok=True)
    # a machine user agent pattern with a quote is a pattern, not SQL
    (home / "sendlens.toml").write_text('machine_user_agents = ["O\'Reilly-Scanner", "bot"]\n')
    s.settings = load_settings(home)
    s.ingest("deliveries", [
        {"delivery_id": "O'Brien-1", "label": "it's", "channel": "email", "contact_date": "2026-01-05 08:00"},
        {"delivery_id": "d[1]*", "label": "globby", "channel": "email", "contact_date": "2026-01-05 08:00"}])
    s.ingest("send_log", _send_log(3, delivery="O'Brien-1") + _send_log(2, start=10, delivery="d[1]*"))
    s.ingest("tracking", [{"event_id": "t1", "message_id": "m0", "event_at": "2026-01-05 09:00",
                           "type": "open", "user_agent": "O'Reilly-Scanner/1.0"}])
    s.build("2026-01-06T00:00:00Z")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    assert s.one("select count(*) as n from marts.fct_message_status")["n"] == 10
    assert s.one("select machine_reason is not null as m from intermediate.int_tracking_events")["m"]
    before = {r["delivery_id"]: r["stats_computed_at"] for r in
              s.query("select delivery_id, stats_computed_at from marts.dash_delivery_kpis")}

    r = _run(home, "compute-stats", "--delivery", "x' or '1'='1", "--at", "2026-01-06T06:00:00Z", cwd=cwd)
    assert r.returncode == 1 and "unknown delivery" in r.stderr, r.stderr
    r = _run(home, "compute-stats", "--delivery", "O'Brien-1", "--at", "2026-01-06T06:00:00Z", cwd=cwd)
    assert r.returncode == 0, r.stderr
    after = {r["delivery_id"]: r["stats_computed_at"] for r in
             s.query("select delivery_id, stats_computed_at from marts.dash_delivery_kpis")}
    assert after["O'Brien-1"].isoformat() == "2026-01-06T06:00:00"
    assert after["d[1]*"] == before["d[1]*"]  # only the one delivery refreshed
    r = _run(home, "export", cwd=cwd)
    assert r.returncode == 0, r.stderr
    assert not list(tmp_path.rglob("pwned.csv"))  # nothing ran as SQL, anywhere


# ---- class 5: poison instants and a way out for a bad batch -----------------------------
@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Scenario:
    s = Scenario(tmp_path_factory.mktemp("batches") / "home")
    s.ingest("deliveries", DELIVERIES)
    s.ingest("send_log", _send_log(4))
    s.ingest("send_log", _send_log(3, start=100))  # the "bad" batch
    s.build("2026-01-06T00:00:00Z")
    return s


def test_out_of_range_instants_are_refused_before_anything_changes(built):
    before = _tree(built.settings.warehouse_dir)
    for args in (("compute-stats", "--at", "9999-12-31"), ("compute-stats", "--at", "1999-12-31"),
                 ("build", "--as-of", "9999-12-31")):
        r = _run(built.home, *args)
        assert r.returncode == 1 and "out of range" in r.stderr, (args, r.stderr)
    assert _tree(built.settings.warehouse_dir) == before


def test_compute_stats_runs_its_suites_and_keeps_their_results(built):
    built.compute_stats("2026-01-06T03:00:00Z")
    rows = built.query("select gate, check_name, status from audit.gate_results")
    stats = {r["check_name"]: r["status"] for r in rows if r["gate"] == "compute-stats"}
    assert set(pipeline.STATS_SUITES) <= set(stats) and set(stats.values()) == {"passed"}
    assert any(r["gate"] == "build" for r in rows)  # the build's other results stay


def test_batches_lists_and_retires_a_bad_batch(built):
    r = _run(built.home, "batches", "--json")
    assert r.returncode == 0, r.stderr
    listed = [json.loads(line) for line in r.stdout.splitlines()]
    send_logs = [b for b in listed if b["kind"] == "send_log"]
    assert sorted(b["rows_landed"] for b in send_logs) == [3, 4]
    assert all(b["rows_read"] == b["rows_landed"] + b["rows_rejected"] for b in listed)
    bad = next(b for b in send_logs if b["rows_landed"] == 3)

    r = _run(built.home, "batches", "retire", bad["batch_id"], "--reason", "wrong export")
    assert r.returncode == 0, r.stderr
    assert not [p for p in built.settings.lake.glob(f"*/batch_id={bad['batch_id']}")
                if p.parent.name != "_retired"]  # only its retirement record stays in the lake
    kept = built.home / "retired" / "send_log" / f"batch_id={bad['batch_id']}"
    assert (kept / "batch.parquet").exists() and list((kept / "data").glob("*.parquet"))
    result = built.build("2026-01-06T01:00:00Z")
    assert result.mode == "full"  # the published build used a batch that is gone
    assert built.one("select count(*) as n from marts.fct_message_status")["n"] == 8
    rec = built.one("select batch_id, rows_landed, reason from audit.retired_batches")
    assert rec == {"batch_id": bad["batch_id"], "rows_landed": 3, "reason": "wrong export"}
    r = _run(built.home, "batches", "retire", bad["batch_id"], "--reason", "again")
    assert r.returncode == 1 and "already retired" in r.stderr
    r = _run(built.home, "batches", "retire", "../../etc", "--reason", "x")
    assert r.returncode == 1 and "not a batch id" in r.stderr


# ---- class 8: the published warehouse carries the results that gated it -------------------
def test_a_failed_build_leaves_the_published_checks_and_page(built, tmp_path):
    s = built
    published_as_of = s.one("select max(as_of) as a from marts.rpt_delivery_kpis")["a"]
    # a build whose suites fail (the dashboard's instant past the suites' window), allowed
    # through the range rules on purpose
    (s.home / "sendlens.toml").write_text("latest_ahead_days = 36600\n")
    s.settings = load_settings(s.home)
    try:
        with pytest.raises(pipeline.ChecksFailed, match="data-quality checks failed"):
            s.build("2110-01-01T00:00:00Z")
    finally:
        (s.home / "sendlens.toml").unlink()
        s.settings = load_settings(s.home)
    result = pipeline.export(s.settings, tmp_path / "out")
    manifest = json.loads((result.out_dir / "manifest.json").read_text())
    assert manifest["checks_passed"] is True
    assert manifest["as_of"] == published_as_of.isoformat(sep=" ", timespec="microseconds")
    page = (result.out_dir / "data-quality" / "index.html").read_text()
    assert "PASSED" in page and "FAILED" not in page
    gated = s.query("select status, count(*) as n from audit.gate_results group by all")
    assert [g["status"] for g in gated] == ["passed"]
