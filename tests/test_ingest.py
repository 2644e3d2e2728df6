"""Landing contract: validation, rejection reasons, accounting, idempotency, formats, atomicity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sendlens.ingest.contracts import CONTRACTS, KINDS
from sendlens import pipeline
from sendlens.config import load_settings


def _lake_rows(settings, kind: str) -> list[dict]:
    con = duckdb.connect()
    glob = str(settings.lake / kind / "batch_id=*" / "data" / "*.parquet")
    cur = con.execute(f"select * from read_parquet('{glob}', hive_partitioning = false) order by _batch_id, _row")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _rejected(settings) -> list[dict]:
    con = duckdb.connect()
    glob = str(settings.lake / "*" / "batch_id=*" / "rejected.parquet")
    cur = con.execute(f"select * from read_parquet('{glob}', hive_partitioning = false) order by file, row_number")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def test_every_rejection_reason_names_file_row_field(scenario):
    rows = [
        {"event_id": "e1", "message_id": "m1", "event_at": "2026-01-05T08:01:00Z", "outcome": "delivered", "attempt": "1"},
        {"event_id": "e2", "message_id": "m1", "event_at": "yesterday", "outcome": "delivered", "attempt": "1"},
        {"event_id": "e3", "message_id": "", "event_at": "2026-01-05T08:01:00Z", "outcome": "delivered", "attempt": "1"},
        {"event_id": "e4", "message_id": "m1", "event_at": "2026-01-05T08:01:00Z", "outcome": "bounced", "attempt": "1"},
        {"event_id": "e5", "message_id": "m1", "event_at": "2026-01-05T08:01:00Z", "outcome": "delivered", "attempt": "two"},
        {"event_id": "e1", "message_id": "m1", "event_at": "2026-01-05T08:01:00Z", "outcome": "hard_bounce", "attempt": "1"},
        {"event_id": "e1", "message_id": "m1", "event_at": "2026-01-05T08:01:00Z", "outcome": "delivered", "attempt": "1"},
        {"event_id": "", "message_id": "m1", "event_at": "2026-01-05T08:01:00Z", "outcome": "delivered", "attempt": "1"},
    ]
    [outcome] = scenario.ingest("feedback", rows)
    assert (outcome.rows_read, outcome.rows_landed, outcome.rows_rejected) == (8, 2, 6)
    rejected = {r["row_number"]: (r["field"], r["reason"]) for r in _rejected(scenario.settings)}
    assert rejected == {
        2: ("event_at", "not a timestamp"),
        3: ("message_id", "required value missing"),
        4: ("outcome", "not one of delivered, soft_bounce, hard_bounce, expired, ignored"),
        5: ("attempt", "not an integer"),
        6: ("event_id", "conflicting duplicate of row 1 (same key, different content)"),
        8: ("event_id", "required value missing"),
    }
    # every rejected row names its file and keeps the raw record
    for r in _rejected(scenario.settings):
        assert r["file"].endswith(".csv") and "event_id" in json.loads(r["raw_record"])
    # row 7 is an exact duplicate of row 1: landed (and counted once downstream)
    assert [r["_row"] for r in _lake_rows(scenario.settings, "feedback")] == [1, 7]


def test_type_rejections_for_bool_double_and_defaults(scenario):
    rows = [
        {"delivery_id": "d1", "label": "ok", "channel": "Email", "contact_date": "2026-01-05 08:00:00"},
        {"delivery_id": "d2", "label": "bad bool", "channel": "email", "contact_date": "2026-01-05 08:00:00", "efs_enabled": "maybe"},
        {"delivery_id": "d3", "label": "bad hours", "channel": "sms", "contact_date": "2026-01-05 08:00:00", "validity_hours": "-3"},
        {"delivery_id": "d4", "label": "nan hours", "channel": "sms", "contact_date": "2026-01-05 08:00:00", "validity_hours": "abc"},
        {"delivery_id": "d5", "label": "bad channel", "channel": "fax", "contact_date": "2026-01-05 08:00:00"},
        {"delivery_id": "d6", "label": "offset", "channel": "push", "contact_date": "2026-01-05T10:00:00+02:00", "efs_enabled": "yes"},
    ]
    [o] = scenario.ingest("deliveries", rows)
    assert (o.rows_read, o.rows_landed, o.rows_rejected) == (6, 2, 4)
    reasons = {r["row_number"]: (r["field"], r["reason"]) for r in _rejected(scenario.settings)}
    assert reasons == {
        2: ("efs_enabled", "not a boolean"),
        3: ("validity_hours", "must be a positive number"),
        4: ("validity_hours", "not a number"),
        5: ("channel", "not one of email, sms, push"),
    }
    landed = {r["delivery_id"]: r for r in _lake_rows(scenario.settings, "deliveries")}
    d1, d6 = landed["d1"], landed["d6"]
    # SPEC defaults for optional columns
    assert (d1["efs_enabled"], d1["validity_hours"], d1["is_proof"], d1["requires_confirmation"]) == (False, 84.0, False, True)
    assert d1["channel"] == "email"
    # an offset is converted to UTC
    assert d6["contact_date"].isoformat() == "2026-01-05T08:00:00" and d6["efs_enabled"] is True


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_formats_land_the_same_rows(tmp_path, fmt):
    settings = load_settings(tmp_path / "home")
    rows = [
        {"operator": "alice", "roles": ["start_deliveries", "prepare_deliveries"]},
        {"operator": "bob", "roles": ["prepare_deliveries"]},
    ]
    path = tmp_path / f"operators.{fmt}"
    if fmt == "csv":
        path.write_text("operator,roles\nalice,start_deliveries;prepare_deliveries\nbob,prepare_deliveries\n")
    elif fmt == "jsonl":
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    [o] = pipeline.ingest(settings, "operators", [path])
    assert (o.rows_read, o.rows_landed, o.rows_rejected) == (2, 2, 0)
    landed = {r["operator"]: r["roles"] for r in _lake_rows(settings, "operators")}
    assert landed == {"alice": ["start_deliveries", "prepare_deliveries"], "bob": ["prepare_deliveries"]}


def test_parquet_native_types_and_jsonl_mixed_types(tmp_path):
    settings = load_settings(tmp_path / "home")
    from datetime import datetime
    table = pa.table({
        "message_id": ["m1", "m2"], "delivery_id": ["d1", "d1"], "profile_id": ["p1", "p2"],
        "address": ["a@x.com", "b@x.com"], "is_test_profile": [False, True],
        "relayed_at": pa.array([datetime(2026, 1, 5, 8, 1), None], pa.timestamp("us")),
    })
    pq.write_table(table, tmp_path / "send_log.parquet")
    [o] = pipeline.ingest(settings, "send_log", [tmp_path / "send_log.parquet"])
    assert (o.rows_landed, o.rows_rejected) == (2, 0)
    got = {r["message_id"]: (r["is_test_profile"], r["relayed_at"]) for r in _lake_rows(settings, "send_log")}
    assert got == {"m1": (False, datetime(2026, 1, 5, 8, 1)), "m2": (True, None)}
    # JSON Lines where a column has mixed JSON types: strings are read unquoted
    p = tmp_path / "tracking.jsonl"
    p.write_text('{"event_id": 1, "message_id": "m1", "event_at": "2026-01-05T09:00:00Z", "type": "open"}\n'
                 '{"event_id": "t2", "message_id": "m1", "event_at": "2026-01-05T09:00:00Z", "type": "click"}\n')
    [o] = pipeline.ingest(settings, "tracking", [p])
    assert (o.rows_landed, o.rows_rejected) == (2, 0)
    assert sorted(r["event_id"] for r in _lake_rows(settings, "tracking")) == ["1", "t2"]


def test_reingest_same_content_is_a_noop(scenario):
    path = scenario.write("operators", [{"operator": "alice", "roles": "start_deliveries"}])
    first = pipeline.ingest(scenario.settings, "operators", [path])[0]
    copy = path.with_name("renamed-copy.csv")
    copy.write_bytes(path.read_bytes())
    second = pipeline.ingest(scenario.settings, "operators", [copy])[0]
    assert first.status == "landed" and second.status == "already_ingested"
    assert second.batch_id == first.batch_id
    assert (second.rows_read, second.rows_landed, second.rows_rejected) == (0, 0, 0)
    assert len(_lake_rows(scenario.settings, "operators")) == 1


def test_missing_required_column_fails_whole_file_and_lands_nothing(scenario):
    path = scenario.write("send_log", [{"message_id": "m1", "delivery_id": "d1", "address": "a@x.com"}])
    with pytest.raises(pipeline.SendlensError, match=r"send_log-\d+\.csv: missing required column profile_id"):
        pipeline.ingest(scenario.settings, "send_log", [path])
    assert _lake_rows(scenario.settings, "send_log") == []
    assert not list((scenario.settings.lake / "_tmp").glob("*")) if (scenario.settings.lake / "_tmp").exists() else True


def test_corrupt_file_fails_with_its_name(tmp_path):
    settings = load_settings(tmp_path / "home")
    bad = tmp_path / "feedback.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(pipeline.SendlensError, match=r"feedback\.parquet: cannot read as parquet"):
        pipeline.ingest(settings, "feedback", [bad])
    ragged = tmp_path / "feedback.csv"
    ragged.write_text("event_id,message_id\ne1,m1,extra,cells\n\"unterminated\n")
    with pytest.raises(pipeline.SendlensError, match=r"feedback\.csv: cannot read as csv"):
        pipeline.ingest(settings, "feedback", [ragged])
    assert _lake_rows(settings, "feedback") == []


def test_unknown_columns_warn_and_are_ignored(scenario):
    [o] = scenario.ingest("operators", [{"operator": "a", "roles": "workflow", "team": "crm"}])
    assert o.rows_landed == 1
    assert any("'team' is not part of the operators contract" in w for w in o.warnings)


def test_accounting_reconciles_in_the_warehouse(scenario):
    scenario.ingest("deliveries", [{"delivery_id": "d1", "label": "x", "channel": "email", "contact_date": "2026-01-05 08:00"}])
    scenario.ingest("send_log", [
        {"message_id": "m1", "delivery_id": "d1", "profile_id": "p1", "address": "a@x.com", "relayed_at": "2026-01-05 08:01"},
        {"message_id": "m2", "delivery_id": "d1", "profile_id": "", "address": "b@x.com", "relayed_at": "2026-01-05 08:01"},
    ])
    scenario.build("2026-01-06T00:00:00Z")
    batches = scenario.query("select kind, rows_read, rows_landed, rows_rejected from audit.ingest_batches order by kind")
    assert batches == [
        {"kind": "deliveries", "rows_read": 1, "rows_landed": 1, "rows_rejected": 0},
        {"kind": "send_log", "rows_read": 2, "rows_landed": 1, "rows_rejected": 1},
    ]
    rej = scenario.one("select kind, row_number, field, reason from audit.rejected_rows")
    assert rej == {"kind": "send_log", "row_number": 2, "field": "profile_id", "reason": "required value missing"}


def test_crashed_ingest_leaves_nothing_visible(tmp_path):
    """A batch is staged under lake/_tmp and renamed into place: kill -9 mid-ingest leaves no
    partial batch, and the next ingest lands the file completely."""
    settings = load_settings(tmp_path / "home")
    path = tmp_path / "send_log.csv"
    n = 300_000
    with open(path, "w") as fh:
        fh.write("message_id,delivery_id,profile_id,address,relayed_at\n")
        for i in range(n):
            fh.write(f"m{i},d1,p{i},u{i}@x.com,2026-01-05 08:01:00\n")
    env = dict(os.environ, SENDLENS_HOME=str(settings.home))
    proc = subprocess.Popen([sys.executable, "-m", "sendlens", "ingest", "--kind", "send_log", str(path)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import time
    deadline = time.time() + 60
    tmp = settings.lake / "_tmp"
    while time.time() < deadline and not (tmp.exists() and any(p.name.startswith("2") for p in tmp.iterdir())):
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    assert _lake_rows(settings, "send_log") == []  # nothing half-landed
    [o] = pipeline.ingest(settings, "send_log", [path])
    assert (o.status, o.rows_landed) == ("landed", n)
    con = duckdb.connect()
    count = con.execute(
        f"select count(*), count(distinct message_id) from read_parquet('{settings.lake}/send_log/batch_id=*/data/*.parquet')"
    ).fetchone()
    assert count == (n, n)


def test_cli_json_output_and_error_paths(tmp_path):
    home = tmp_path / "home"
    good = tmp_path / "operators.csv"
    good.write_text("operator,roles\nalice,start_deliveries\n,workflow\n")

    def sl(*args):
        return subprocess.run([sys.executable, "-m", "sendlens", "--home", str(home), *args],
                              capture_output=True, text=True)

    r = sl("ingest", "--kind", "operators", "--json", str(good))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[0])
    assert {k: out[k] for k in ("file", "kind", "rows_read", "rows_landed", "rows_rejected")} == {
        "file": str(good), "kind": "operators", "rows_read": 2, "rows_landed": 1, "rows_rejected": 1}

    cases = [
        (("ingest", "--kind", "nope", str(good)), "unknown kind 'nope'"),
        (("ingest", "--kind", "operators", str(tmp_path / "missing.csv")), "missing.csv: no such file"),
        (("ingest", "--kind", "operators", str(tmp_path)), "no such file"),
        (("build", "--as-of", "not-a-time"), "invalid timestamp"),
        (("compute-stats",), "no warehouse"),
        (("export",), "no warehouse"),
        (("ingest", str(good)), "needs --kind"),
    ]
    for args, message in cases:
        r = sl(*args)
        assert r.returncode != 0, args
        assert message in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
    txt = tmp_path / "ops.txt"
    txt.write_text("x")
    r = sl("ingest", "--kind", "operators", str(txt))
    assert r.returncode == 1 and "unsupported extension '.txt'" in r.stderr
    for cmd in ("ingest", "build", "compute-stats", "export", "run", "generate", "demo"):
        r = sl(cmd, "--help")
        assert r.returncode == 0 and "usage: sendlens" in r.stdout


def test_every_kind_has_an_empty_readable_lake(tmp_path):
    settings = load_settings(tmp_path / "home")
    pipeline.init_home(settings)
    con = duckdb.connect()
    for kind in KINDS:
        glob = str(settings.lake / kind / "batch_id=*" / "data" / "*.parquet")
        cols = [d[0] for d in con.execute(f"select * from read_parquet('{glob}', hive_partitioning=false)").description]
        assert cols[: len(CONTRACTS[kind].names)] == list(CONTRACTS[kind].names)


def test_cli_version_and_help_name_every_choice():
    import tomllib

    from sendlens.ingest.contracts import KINDS, SOURCES

    root = Path(__file__).resolve().parents[1]
    declared = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    r = subprocess.run([sys.executable, "-m", "sendlens", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == f"sendlens {declared}"
    r = subprocess.run([sys.executable, "-m", "sendlens", "ingest", "--help"], capture_output=True, text=True)
    flat = " ".join(r.stdout.split())
    assert all(k in flat for k in KINDS) and all(s in flat for s in SOURCES), flat
    for command in ("generate", "demo"):
        r = subprocess.run([sys.executable, "-m", "sendlens", command, "--help"], capture_output=True, text=True)
        assert "how many sending-log messages" in r.stdout and "random seed" in r.stdout, command
