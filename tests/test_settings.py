"""The typed settings: every value checked when it loads, naming where it came from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sendlens.config import Settings, load_settings, setting_fields


def _home(tmp_path, toml: str):
    home = tmp_path / "home"
    home.mkdir()
    (home / "sendlens.toml").write_text(toml)
    return home


@pytest.mark.parametrize("toml, message", [
    ('threads = "four"', "threads must be a whole number, not 'four'"),
    ('report_window_days = "fourteen"', "report_window_days must be a number, not 'fourteen'"),
    ("report_window_days = 0", "report_window_days must be more than 0"),
    ("threads = 0", "threads must be at least 1"),
    ("build_in_place = 1", "build_in_place must be true or false"),
    ('memory_limit = "lots"', "memory_limit must be a size such as 8GB"),
    ('machine_user_agents = "bot"', "machine_user_agents must be a list of text values"),
    ('earliest_timestamp = "yesterday"', "earliest_timestamp: invalid timestamp 'yesterday'"),
    ('reporting_time_zone = "Mars/Olympus_Mons"',
     "reporting_time_zone must be an IANA time zone such as UTC or Europe/Amsterdam, not 'Mars/Olympus_Mons'"),
    ('reporting_time_zone = "europe/amsterdam"', "reporting_time_zone must be an IANA time zone"),
    ('reporting_time_zone = "/etc/localtime"', "reporting_time_zone must be an IANA time zone"),
    ("reporting_time_zone = 1", "reporting_time_zone must be text, not 1"),
    ("no_such_setting = 1", "unknown setting 'no_such_setting'"),
    ("threads = [", "not valid TOML"),
])
def test_a_bad_setting_is_named_when_the_file_loads(tmp_path, toml, message):
    home = _home(tmp_path, toml + "\n")
    with pytest.raises(ValueError) as err:
        load_settings(home, environ={})
    assert str(home / "sendlens.toml") in str(err.value) and message in str(err.value)


def test_environment_overrides_the_file_and_says_so(tmp_path):
    home = _home(tmp_path, "threads = 3\nreport_window_days = 14\n")
    s = load_settings(home, environ={"SENDLENS_THREADS": "1", "SENDLENS_MACHINE_USER_AGENTS": "bot, spider"})
    assert (s.threads, s.report_window_days, s.machine_user_agents) == (1, 14.0, ("bot", "spider"))
    assert s.sources == {"threads": "environment", "report_window_days": str(home / "sendlens.toml"),
                         "machine_user_agents": "environment"}
    with pytest.raises(ValueError, match="environment variable SENDLENS_THREADS: threads must be a whole number"):
        load_settings(home, environ={"SENDLENS_THREADS": "four"})


def test_sendlens_config_prints_every_setting_and_its_source(tmp_path):
    home = _home(tmp_path, "report_window_days = 14\n")
    env = dict(os.environ, SENDLENS_HOME=str(home), SENDLENS_THREADS="1")
    out = subprocess.run([sys.executable, "-m", "sendlens", "config", "--json"], env=env,
                         capture_output=True, text=True, check=True).stdout
    rows = {r["name"]: r for r in map(json.loads, out.splitlines())}
    assert set(rows) == {f.name for f in setting_fields()}
    assert rows["threads"]["value"] == 1 and rows["threads"]["source"] == "environment"
    assert rows["report_window_days"]["value"] == 14.0
    assert rows["report_window_days"]["source"].endswith("sendlens.toml")
    assert rows["quarantine_max_errors"]["source"] == "default"
    assert all(r["doc"] for r in rows.values())


def test_dbt_gets_every_model_setting_from_the_one_model():
    s = Settings(home=Path("/nowhere"))
    declared = {f.name for f in setting_fields() if f.metadata["dbt"]}
    assert declared >= {"report_window_days", "machine_user_agents", "quarantine_max_errors"}
    assert set(s.dbt_vars(__import__("datetime").datetime(2026, 1, 1))) == \
        declared | {"lake_root", "as_of", "stats_at", "stats_delivery_id"}


def test_the_reporting_time_zone_is_utc_unless_set_and_reaches_dbt(tmp_path):
    assert load_settings(_home(tmp_path, ""), environ={}).reporting_time_zone == "UTC"
    s = load_settings(tmp_path / "home", environ={"SENDLENS_REPORTING_TIME_ZONE": "Europe/Amsterdam"})
    assert (s.reporting_time_zone, s.sources["reporting_time_zone"]) == ("Europe/Amsterdam", "environment")
    assert s.model_vars()["reporting_time_zone"] == "Europe/Amsterdam"
    with pytest.raises(ValueError, match="environment variable SENDLENS_REPORTING_TIME_ZONE: reporting_time_zone "
                                         "must be an IANA time zone"):
        load_settings(tmp_path / "home", environ={"SENDLENS_REPORTING_TIME_ZONE": "UTC+2"})


@pytest.mark.parametrize("name", ["why?", "no#1"])
def test_a_home_that_dbt_duckdb_would_read_as_a_url_is_refused(tmp_path, name):
    with pytest.raises(ValueError, match="has a '\\?' or '#' in its path"):
        load_settings(tmp_path / name / "home", environ={})
