"""Incremental builds in place (``build_in_place``), for a warehouse too large to copy on its
disk: the build writes into the published file, gives what a full refresh gives, and a failed
one leaves the warehouse marked incomplete until the next, full, build replaces it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from sendlens import pipeline
from sendlens.config import Settings
from sendlens.incremental import plan_build
from sendlens.publish import NotEnoughRoom, check_room_for_copy, in_place_marker
from tests.scenario import Scenario, ts
from tests.test_incremental import _differences

DELIVERIES = [{"delivery_id": "d1", "label": "x", "channel": "email", "contact_date": "2026-01-05 08:00"}]


def _messages(start: int, n: int) -> list[dict]:
    return [{"message_id": f"m{i}", "delivery_id": "d1", "profile_id": f"p{i}", "address": f"user{i}@example.com",
             "relayed_at": "2026-01-05 08:00"} for i in range(start, start + n)]


def _feedback(start: int, n: int) -> list[dict]:
    outcomes = ("delivered", "soft_bounce", "hard_bounce")
    return [{"event_id": f"f{i}", "message_id": f"m{i}", "event_at": "2026-01-05 09:00:00",
             "outcome": outcomes[i % 3], "failure_reason": "" if i % 3 == 0 else "refused"}
            for i in range(start, start + n)]


def _in_place(tmp_path: Path) -> Scenario:
    s = Scenario(tmp_path / "home")
    s.settings.build_in_place = True
    s.ingest("deliveries", DELIVERIES)
    s.ingest("send_log", _messages(0, 6))
    s.ingest("feedback", _feedback(0, 3))
    s.build("2026-01-06T00:00:00Z")  # the first build is a full one, written beside and swapped in
    return s


def _full_refresh_of(s: Scenario, home: Path, as_of: str) -> Path:
    shutil.copytree(s.settings.home, home)
    other = Settings(home=home)
    assert pipeline.build(other, ts(as_of), full_refresh=True).mode == "full"
    return other.warehouse


def test_in_place_build_writes_into_the_published_file_and_equals_a_full_refresh(tmp_path):
    s = _in_place(tmp_path)
    inode = s.settings.warehouse.stat().st_ino
    s.ingest("send_log", _messages(6, 4))
    s.ingest("feedback", _feedback(3, 7))

    result = s.build("2026-01-07T00:00:00Z")

    assert result.mode == "incremental"
    assert s.settings.warehouse.stat().st_ino == inode  # the same file: no copy, no swap
    assert not in_place_marker(s.settings.warehouse).exists()
    assert not list(s.settings.staging_dir.glob("build-*"))
    assert s.one("select count(*) as n from marts.fct_message_status")["n"] == 20
    assert s.one("select count(*) as n from marts.fct_message_status where status = 'failed' "
                 "and reporting_mode = 'efs'")["n"] == 6  # m1, m2, m4, m5, m7, m8
    assert _differences(s.settings.warehouse, _full_refresh_of(s, tmp_path / "full", "2026-01-07T00:00:00Z")) == {}
    # with nothing new the next build has nothing to do; a later as_of is incremental again,
    # and the dashboard refresh works in place too
    assert plan_build(s.settings, ts("2026-01-07T00:00:00Z")).mode == "no-op"
    assert plan_build(s.settings, ts("2026-01-07T00:15:00Z")).mode == "incremental"
    s.compute_stats("2026-01-06T12:00:00Z", "d1")
    assert s.settings.warehouse.stat().st_ino == inode
    assert not in_place_marker(s.settings.warehouse).exists()
    assert s.one("select stats_computed_at from marts.dash_delivery_kpis where delivery_id = 'd1'")["stats_computed_at"] == ts("2026-01-06T12:00:00Z")


def test_failed_in_place_build_leaves_the_warehouse_marked_until_a_full_build(tmp_path):
    s = _in_place(tmp_path)
    # a contact date in 1990 fails the suite's sane window; the ingest range rule would reject
    # it, so it is widened here to let the poison value land (the gate must still hold)
    s.settings.earliest_timestamp = "1980-01-01T00:00:00Z"
    s.ingest("deliveries", [{"delivery_id": "d2", "label": "old", "channel": "email",
                             "contact_date": "1990-01-05 08:00"}])
    with pytest.raises(pipeline.ChecksFailed) as err:
        s.build("2026-01-07T00:00:00Z")
    assert "built in place, is incomplete" in str(err.value) and "contact" in str(err.value)

    marker = json.loads(in_place_marker(s.settings.warehouse).read_text())
    assert marker["status"] == "failed" and "data-quality checks failed" in marker["error"]
    assert marker["build"] == "incremental build as of 2026-01-07 00:00:00.000000"
    with pytest.raises(pipeline.SendlensError, match="may be incomplete: the incremental build .* failed"):
        pipeline.export(s.settings, tmp_path / "out")
    with pytest.raises(pipeline.SendlensError, match="may be incomplete"):
        s.compute_stats("2026-01-07T00:00:00Z")
    plan = plan_build(s.settings, ts("2026-01-07T00:00:00Z"))
    assert plan.mode == "full" and "failed" in plan.reason

    # the delivery landed again with a sane date: the next build is full, replaces the file,
    # and the warehouse is whole again
    s.ingest("deliveries", [{"delivery_id": "d2", "label": "old", "channel": "email",
                             "contact_date": "2026-01-05 08:00"}])
    inode = s.settings.warehouse.stat().st_ino
    assert s.build("2026-01-07T00:00:00Z").mode == "full"
    assert s.settings.warehouse.stat().st_ino != inode
    assert not in_place_marker(s.settings.warehouse).exists()
    exported = pipeline.export(s.settings, tmp_path / "out")
    assert exported.row_counts["fct_message_status"] == 12 and exported.html_report.exists()


def test_in_place_build_refuses_a_warehouse_another_process_holds_open(tmp_path):
    s = _in_place(tmp_path)
    s.ingest("send_log", _messages(6, 2))
    reader = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time\n"
         f"con = duckdb.connect({str(s.settings.warehouse)!r}, read_only=True)\n"
         "print('open', flush=True)\ntime.sleep(120)"], stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "open"
        before = s.settings.warehouse.stat()
        with pytest.raises(pipeline.SendlensError, match="open in another process"):
            s.build("2026-01-07T00:00:00Z")
        assert not in_place_marker(s.settings.warehouse).exists()  # nothing was changed
        after = s.settings.warehouse.stat()
        assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    finally:
        reader.kill()
        reader.wait()
    assert s.build("2026-01-07T00:00:00Z").mode == "incremental"
    assert s.one("select count(*) as n from marts.fct_message_status")["n"] == 16


def test_incremental_build_checks_the_copy_fits_on_the_disk(tmp_path):
    settings = Settings(home=tmp_path / "home")
    settings.warehouse_dir.mkdir(parents=True)
    free = shutil.disk_usage(tmp_path).free
    with open(settings.warehouse, "wb") as f:  # sparse: as large as the disk's free space
        f.truncate(free)
    with pytest.raises(NotEnoughRoom, match=r"set build_in_place = true in .*sendlens.toml"):
        check_room_for_copy(settings)
    os.truncate(settings.warehouse, 1 << 20)
    check_room_for_copy(settings)  # a small one fits


def test_build_in_place_must_be_a_boolean(tmp_path):
    from sendlens.config import load_settings

    home = tmp_path / "home"
    home.mkdir()
    (home / "sendlens.toml").write_text('build_in_place = "yes"\n')
    with pytest.raises(ValueError, match="build_in_place must be true or false"):
        load_settings(home)
    (home / "sendlens.toml").write_text("build_in_place = true\n")
    assert load_settings(home).build_in_place is True
