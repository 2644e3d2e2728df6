"""Opens by client (issue 21): marts.rpt_opens_by_client counts a delivery's opens and clicks by
email client and device class, the user agents parsed by ua-parser before the build into the
lake's derived table (sendlens/ingest/user_agents.py), machine opens in rows of their own.

One home, three builds at the same as_of (the second and third incremental):
  1. deliveries d1, d2 and their sends, no tracking yet  -> an empty mart; the lake had no
     derived table before this build (as a lake from before the table)
  2. tracking with five real user agents and one event without any:
       m1  open 09:00 by Gmail's image proxy                -> machine (user agent), Gmail / other
       m2  opens 09:00 and 10:00 by Apple Mail on an iPhone -> Apple Mail / mobile, 2 opens, 1 unique
       m3  open 09:30 by Apple Mail on an iPhone
       m4  open 09:05 and a click 09:06 by Outlook on Windows -> Outlook / desktop
       m5  open 09:40 by Thunderbird on Linux              -> Thunderbird / desktop
       m6  open 09:50 and click 09:51 by Chrome on Android -> Chrome Mobile / mobile
       m7  open 10:30, no user agent                       -> Unknown / other
       m8  open 08:00:01 by Outlook (a second after the relay) -> machine (prefetch), Outlook / desktop
       n1  (d2) open 09:00 by Thunderbird
  3. d1 again: an open by Apple Mail on an iPad (a new agent) and one by Thunderbird (known)
     -> only the iPad's agent is parsed; d2's kept row stays.
"""

from __future__ import annotations

import duckdb
import pytest

from sendlens.ingest import user_agents
from sendlens.ingest.lake import Lake
from tests.scenario import Scenario

AS_OF = "2026-01-10T00:00:00Z"
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
APPLE_MAIL_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 "
                     "(KHTML, like Gecko) Mobile/15E148")
APPLE_MAIL_IPAD = ("Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 "
                   "(KHTML, like Gecko) Mobile/15E148")
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)"
THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0"
CHROME_ANDROID = ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/131.0.6778.104 Mobile Safari/537.36")


def _open(event_id: str, message_id: str, at: str, agent: str | None, kind: str = "open") -> dict:
    row = {"event_id": event_id, "message_id": message_id, "event_at": f"2026-01-05 {at}", "type": kind}
    if kind == "click":
        row["url"] = "https://shop.example.com/a"
    row["user_agent"] = agent
    return row


def _derived(s: Scenario) -> tuple[int, list[str]]:
    """(rows, file names) of the lake's derived user-agent table."""
    lake = Lake(s.settings.lake)
    con = duckdb.connect()
    try:
        rows = user_agents.parsed_count(con, lake)
    finally:
        con.close()
    return rows, sorted(p.name for p in user_agents.folder(lake).glob("*.parquet"))


def _mart(s: Scenario, delivery_id: str = "d1") -> dict[tuple, dict]:
    rows = s.query("select * from marts.rpt_opens_by_client where delivery_id = ?", [delivery_id])
    return {(r["is_machine"], r["client_family"], r["device_class"]): r for r in rows}


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> dict:
    s = Scenario(tmp_path_factory.mktemp("opens-by-client") / "home")
    s.ingest("deliveries", [
        {"delivery_id": "d1", "label": "January", "channel": "email", "contact_date": "2026-01-05 08:00"},
        {"delivery_id": "d2", "label": "January B", "channel": "email", "contact_date": "2026-01-05 08:00"},
    ])
    sends = [{"message_id": f"m{i}", "delivery_id": "d1", "profile_id": f"p{i}",
              "address": f"u{i}@example.com", "relayed_at": "2026-01-05 08:00"} for i in range(1, 10)]
    sends.append({"message_id": "n1", "delivery_id": "d2", "profile_id": "q1", "address": "v1@example.com",
                  "relayed_at": "2026-01-05 08:00"})
    s.ingest("send_log", sends)
    found: dict = {"scenario": s}
    assert not user_agents.folder(Lake(s.settings.lake)).exists()  # a lake without the table
    found["build1"] = s.build(AS_OF)
    found["mart1"] = s.query("select * from marts.rpt_opens_by_client")
    found["derived1"] = _derived(s)

    s.ingest("tracking", [
        _open("o1", "m1", "09:00", GMAIL_PROXY),
        _open("o2", "m2", "09:00", APPLE_MAIL_IPHONE),
        _open("o3", "m2", "10:00", APPLE_MAIL_IPHONE),
        _open("o4", "m3", "09:30", APPLE_MAIL_IPHONE),
        _open("o5", "m4", "09:05", OUTLOOK),
        _open("k5", "m4", "09:06", OUTLOOK, "click"),
        _open("o6", "m5", "09:40", THUNDERBIRD),
        _open("o7", "m6", "09:50", CHROME_ANDROID),
        _open("k7", "m6", "09:51", CHROME_ANDROID, "click"),
        _open("o8", "m7", "10:30", None),
        _open("o9", "m8", "08:00:01", OUTLOOK),
        _open("p1", "n1", "09:00", THUNDERBIRD),
    ])
    found["build2"] = s.build(AS_OF)
    found["mart2"] = _mart(s)
    found["d2_after2"] = _mart(s, "d2")
    found["derived2"] = _derived(s)

    s.ingest("tracking", [
        _open("q1", "m9", "11:00", APPLE_MAIL_IPAD),
        _open("q2", "m5", "11:30", THUNDERBIRD),
    ])
    found["build3"] = s.build(AS_OF)
    found["mart3"] = _mart(s)
    found["d2_after3"] = _mart(s, "d2")
    found["derived3"] = _derived(s)
    return found


def test_a_build_without_tracking_has_an_empty_mart_and_an_empty_derived_table(history):
    assert history["build1"].mode == "full"
    assert history["mart1"] == []
    rows, files = history["derived1"]
    assert rows == 0 and files == [user_agents.EMPTY_FILE]


def test_opens_and_clicks_by_client_family_and_device_class(history):
    mart = history["mart2"]
    counts = {key: (r["opens"], r["unique_opens"], r["clicks"], r["unique_clicks"]) for key, r in mart.items()}
    assert counts == {
        (False, "Apple Mail", "mobile"): (3, 2, 0, 0),
        (False, "Outlook", "desktop"): (1, 1, 1, 1),
        (False, "Thunderbird", "desktop"): (1, 1, 0, 0),
        (False, "Chrome Mobile", "mobile"): (1, 1, 1, 1),
        (False, "Unknown", "other"): (1, 1, 0, 0),
        # machine opens apart: Gmail's image proxy (its user agent) and Outlook's prefetch
        (True, "Gmail", "other"): (1, 1, 0, 0),
        (True, "Outlook", "desktop"): (1, 1, 0, 0),
    }
    apple = mart[(False, "Apple Mail", "mobile")]
    assert apple["share_of_opens"] == pytest.approx(3 / 9)
    assert apple["share_of_human_opens"] == pytest.approx(3 / 7)
    assert mart[(True, "Gmail", "other")]["share_of_human_opens"] is None
    assert sum(r["share_of_opens"] for r in mart.values()) == pytest.approx(1.0)
    assert sum(r["share_of_human_opens"] or 0 for r in mart.values()) == pytest.approx(1.0)
    assert {r["is_recurring_parent"] for r in mart.values()} == {False}


def test_the_opens_over_all_families_equal_the_delivery_report(history):
    s = history["scenario"]
    by_client = s.query(
        "select delivery_id, sum(opens) as opens, sum(case when is_machine then opens else 0 end) as machine, "
        "sum(clicks) as clicks from marts.rpt_opens_by_client group by delivery_id order by delivery_id")
    kpis = s.query(
        "select delivery_id, opens - click_implied_opens as opens, machine_opens as machine, clicks "
        "from marts.rpt_delivery_kpis where reporting_mode = 'standard' order by delivery_id")
    assert by_client == kpis
    assert [r["opens"] for r in kpis] == [11, 1]  # d1 after the third build, d2


def test_each_user_agent_is_parsed_once_and_a_later_build_parses_only_the_new_one(history):
    rows2, files2 = history["derived2"]
    rows3, files3 = history["derived3"]
    assert rows2 == 5  # five distinct agents; the event without one is not parsed
    assert len(files2) == 2 and user_agents.EMPTY_FILE in files2
    assert rows3 == 6 and len(files3) == 3 and set(files2) < set(files3)
    [new_file] = set(files3) - set(files2)
    s = history["scenario"]
    folder = user_agents.folder(Lake(s.settings.lake))
    con = duckdb.connect()
    try:
        [(agent, family, device, version)] = con.execute(
            "select user_agent, client_family, device_class, parser_version from read_parquet(?)",
            [str(folder / new_file)]).fetchall()
        parsed = dict(con.execute(
            "select user_agent, device_class from read_parquet(?)", [str(folder / "*.parquet")]).fetchall())
    finally:
        con.close()
    assert (agent, family, device) == (APPLE_MAIL_IPAD, "Apple Mail", "tablet")
    assert version == user_agents.parser_version() and version.startswith("ua-parser 1.")
    assert parsed == {GMAIL_PROXY: "other", APPLE_MAIL_IPHONE: "mobile", APPLE_MAIL_IPAD: "tablet",
                      OUTLOOK: "desktop", THUNDERBIRD: "desktop", CHROME_ANDROID: "mobile"}
    # the staging model is the derived table, one row per agent
    assert s.one("select count(*) as n, count(distinct user_agent) as d from staging.stg_user_agents") \
        == {"n": 6, "d": 6}


def test_the_third_build_adds_the_new_rows_and_keeps_the_other_delivery(history):
    assert history["build3"].mode == "incremental"
    mart = history["mart3"]
    assert mart[(False, "Apple Mail", "tablet")]["opens"] == 1
    assert (mart[(False, "Thunderbird", "desktop")]["opens"],
            mart[(False, "Thunderbird", "desktop")]["unique_opens"]) == (2, 1)
    assert history["d2_after3"] == history["d2_after2"]
    assert list(history["d2_after3"]) == [(False, "Thunderbird", "desktop")]


@pytest.mark.parametrize("agent, family, device", [
    (GMAIL_PROXY, "Gmail", "other"),
    (APPLE_MAIL_IPHONE, "Apple Mail", "mobile"),
    (APPLE_MAIL_IPAD, "Apple Mail", "tablet"),
    (OUTLOOK, "Outlook", "desktop"),
    (THUNDERBIRD, "Thunderbird", "desktop"),
    (CHROME_ANDROID, "Chrome Mobile", "mobile"),
    ("Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Safari/537.36", "Chrome", "tablet"),
    ("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", "Yahoo Mail", "other"),
    ("Mozilla/5.0 (compatible; Barracuda Sentinel)", "Other", "other"),
])
def test_the_client_family_and_device_class_of_real_agents(agent, family, device):
    row = user_agents.parse_agent(agent, "v")
    assert (row["client_family"], row["device_class"]) == (family, device)
