"""The analyst marts (issue 21): dim_deliveries, rpt_bounce_details, rpt_delivery_kpis_daily and
rpt_link_clicks, built through the real pipeline from hand-made inputs whose answers are
known, with the reporting time zone set to Europe/Amsterdam (UTC+1 in January).

Deliveries (email; contact 2026-01-05 20:00 UTC unless said; validity 84 h):
  d1    standard
    a1  relayed 2026-01-05 22:30 UTC (23:30 in Amsterdam: day 01-05); delivered; an open and
        two clicks on U1 and one on U2 the next morning (they count on a1's relay day)
    a2  relayed 2026-01-05 23:30 UTC (00:30 on 01-06 in Amsterdam: day 01-06; 01-05 in UTC);
        a scanner click on U2 5 s after the relay (machine), a human click on U1, no open
        (click-implied open)
    a3  relayed 22:45 UTC (day 01-05); hard bounce 550, diagnostic naming john.doe@example.com
    a4  relayed 2026-01-06 10:00 (day 01-06); two soft bounces 452 "mailbox full": failed (soft)
        in standard only once validity_end passed, with no event of its own: its code and
        diagnostic are the latest soft bounce's
    a5  never relayed
  d2    efs: b1 relayed 21:00 UTC delivered, opened by GoogleImageProxy (a machine open);
        b2 relayed 21:00 hard bounce (no diagnostic)
  dpar  recurring parent (no messages of its own); executions dc1 (c1 relayed 2026-01-05 21:00,
        hard bounce) and dc2 (contact 2026-01-06 20:00; c2 relayed 2026-01-06 21:00, opened)
  dp    proof (one message: left out of every count)
The build is as of 2026-01-12 00:00 UTC: every validity has ended.
"""

from __future__ import annotations

import datetime as dt

import pytest

from sendlens.reports.warehouse import mask_emails
from tests.scenario import Scenario

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
U1 = "https://shop.example/p?email=john.doe@example.com"
U2 = "https://shop.example/sale"
A3_DIAGNOSTIC = "550 5.1.1 <john.doe@example.com>: Recipient address rejected: User unknown"
A4_DIAGNOSTIC = "452 4.2.2 Mailbox full for   jane_q@example.org"
DAY5, DAY6 = dt.date(2026, 1, 5), dt.date(2026, 1, 6)


def _send(message_id: str, delivery_id: str, address: str, relayed_at: str | None) -> dict:
    return {"message_id": message_id, "delivery_id": delivery_id, "profile_id": "p-" + message_id,
            "address": address, "relayed_at": relayed_at}


@pytest.fixture(scope="module")
def s(tmp_path_factory) -> Scenario:
    home = tmp_path_factory.mktemp("analyst-marts") / "home"
    home.mkdir()
    (home / "sendlens.toml").write_text('reporting_time_zone = "Europe/Amsterdam"\n')
    s = Scenario(home)
    assert s.settings.reporting_time_zone == "Europe/Amsterdam"
    contact = "2026-01-05 20:00"
    s.ingest("deliveries", [
        {"delivery_id": "d1", "label": "January", "channel": "email", "contact_date": contact},
        {"delivery_id": "d2", "label": "January EFS", "channel": "email", "contact_date": contact, "efs_enabled": "true"},
        {"delivery_id": "dpar", "label": "welcome (recurring)", "channel": "email", "contact_date": contact},
        {"delivery_id": "dc1", "label": "welcome #1", "channel": "email", "contact_date": contact, "parent_delivery_id": "dpar"},
        {"delivery_id": "dc2", "label": "welcome #2", "channel": "email", "contact_date": "2026-01-06 20:00",
         "parent_delivery_id": "dpar"},
        {"delivery_id": "dp", "label": "proof", "channel": "email", "contact_date": contact, "is_proof": "true"},
    ])
    s.ingest("send_log", [
        _send("a1", "d1", "a1@example.com", "2026-01-05 22:30"),
        _send("a2", "d1", "a2@example.com", "2026-01-05 23:30"),
        _send("a3", "d1", "john.doe@example.com", "2026-01-05 22:45"),
        _send("a4", "d1", "jane_q@example.org", "2026-01-06 10:00"),
        _send("a5", "d1", "a5@example.com", None),
        _send("b1", "d2", "b1@example.com", "2026-01-05 21:00"),
        _send("b2", "d2", "b2@example.net", "2026-01-05 21:00"),
        _send("c1", "dc1", "c1@example.net", "2026-01-05 21:00"),
        _send("c2", "dc2", "c2@example.com", "2026-01-06 21:00"),
        _send("p1", "dp", "qa@example.com", "2026-01-05 21:00"),
    ])
    s.ingest("feedback", [
        {"event_id": "fa1", "message_id": "a1", "event_at": "2026-01-05 22:31", "outcome": "delivered"},
        {"event_id": "fa3", "message_id": "a3", "event_at": "2026-01-05 22:46", "outcome": "hard_bounce",
         "failure_reason": "user unknown", "smtp_code": "550", "diagnostic": A3_DIAGNOSTIC},
        {"event_id": "fa4a", "message_id": "a4", "event_at": "2026-01-06 11:00", "outcome": "soft_bounce",
         "failure_reason": "mailbox full", "smtp_code": "452", "diagnostic": "452 mailbox full"},
        {"event_id": "fa4b", "message_id": "a4", "event_at": "2026-01-07 11:00", "outcome": "soft_bounce",
         "failure_reason": "mailbox full", "smtp_code": "452", "diagnostic": A4_DIAGNOSTIC},
        {"event_id": "fb1", "message_id": "b1", "event_at": "2026-01-05 21:01", "outcome": "delivered"},
        {"event_id": "fb2", "message_id": "b2", "event_at": "2026-01-05 21:02", "outcome": "hard_bounce",
         "failure_reason": "invalid domain"},
        {"event_id": "fc1", "message_id": "c1", "event_at": "2026-01-05 21:05", "outcome": "hard_bounce",
         "failure_reason": "user unknown", "smtp_code": "550", "diagnostic": "550 unknown user c.one@example.net"},
        {"event_id": "fp1", "message_id": "p1", "event_at": "2026-01-05 21:01", "outcome": "hard_bounce",
         "failure_reason": "user unknown", "smtp_code": "550"},
    ])

    def t(event_id, message_id, at, kind, url=None, ua=BROWSER):
        return {"event_id": event_id, "message_id": message_id, "event_at": at, "type": kind, "url": url,
                "user_agent": ua}

    s.ingest("tracking", [
        t("o-a1", "a1", "2026-01-06 08:00", "open"),
        t("k-a1-1", "a1", "2026-01-06 08:05", "click", U1),
        t("k-a1-2", "a1", "2026-01-06 08:10", "click", U1),
        t("k-a1-3", "a1", "2026-01-06 08:20", "click", U2),
        t("k-a2-scan", "a2", "2026-01-05 23:30:05", "click", U2),
        t("k-a2", "a2", "2026-01-06 09:00", "click", U1),
        t("o-b1", "b1", "2026-01-05 21:30", "open", ua="Mozilla/5.0 (via ggpht.com GoogleImageProxy)"),
        t("o-c2", "c2", "2026-01-06 22:00", "open"),
        t("o-p1", "p1", "2026-01-05 21:30", "open"),
    ])
    s.build("2026-01-12T00:00:00Z")
    return s


def test_daily_kpis_count_each_send_on_its_relay_day_in_the_reporting_time_zone(s):
    rows = {(r["day"], r["reporting_mode"]): r for r in s.query("select * from marts.rpt_delivery_kpis_daily")}
    # a2, relayed 23:30 UTC on 01-05, is 00:30 on 01-06 in Amsterdam: on 01-06 with a4 and c2
    assert set(rows) == {(DAY5, "standard"), (DAY6, "standard"), (DAY5, "efs")}
    day5, day6, efs = rows[(DAY5, "standard")], rows[(DAY6, "standard")], rows[(DAY5, "efs")]
    assert {r["reporting_time_zone"] for r in rows.values()} == {"Europe/Amsterdam"}
    # 01-05: a1, a3 and c1 (dc1's: the parent dpar does not count it again); the proof left out
    assert (day5["sent"], day5["delivered"], day5["bounces_errors"], day5["hard_bounces"]) == (3, 1, 2, 2)
    assert day5["deliveries"] == 2 and day5["bounce_rate"] == pytest.approx(2 / 3)
    # a1's open and clicks happened on 01-06 but count on its relay day: the day's rates are its sends'
    assert (day5["opens"], day5["unique_opens"], day5["clicks"], day5["unique_clicks"]) == (1, 1, 3, 1)
    assert day5["open_rate"] == 1.0 and day5["click_through_rate"] == 1.0
    # 01-06: a2 (delivered in standard), a4 (failed soft once validity ended), c2
    assert (day6["sent"], day6["delivered"], day6["bounces_errors"], day6["soft_bounces"]) == (3, 2, 1, 1)
    # a2's click implies an open, c2 opened; a2's scanner click is a machine click
    assert (day6["opens"], day6["unique_opens"], day6["clicks"], day6["unique_clicks"]) == (2, 2, 2, 1)
    assert (day6["human_clicks"], day6["human_unique_clicks"]) == (1, 1)
    # d2 is efs: its own mode; b1's open is GoogleImageProxy's
    assert (efs["sent"], efs["delivered"], efs["bounces_errors"], efs["pending"]) == (2, 1, 1, 0)
    assert (efs["machine_opens"], efs["open_rate"], efs["open_rate_excl_machine"]) == (1, 1.0, 0.0)


def test_daily_kpis_sum_to_the_delivery_kpis_with_recurring_executions_once(s):
    [daily] = s.query("select sum(sent) as sent, sum(bounces_errors) as bounces, sum(clicks) as clicks "
                      "from marts.rpt_delivery_kpis_daily")
    # own modes of the non-parent deliveries; the parent's row repeats c1 and c2
    [report] = s.query("""
        select sum(k.sent) as sent, sum(k.bounces_errors) as bounces, sum(k.clicks) as clicks
        from marts.rpt_delivery_kpis k join marts.dim_deliveries d on d.delivery_id = k.delivery_id and d.own_reporting_mode = k.reporting_mode
        where not k.is_recurring_parent""")
    assert daily == report == {"sent": 8, "bounces": 4, "clicks": 5}
    parent = s.one("select sent from marts.rpt_delivery_kpis where delivery_id = 'dpar' and reporting_mode = 'standard'")
    assert parent["sent"] == 2  # c1 and c2, counted once each in the days


def test_bounce_details_mask_the_sample_diagnostic_in_the_mart(s):
    rows = {(r["delivery_id"], r["reporting_mode"], r["recipient_domain"], r["failure_reason"]): r
            for r in s.query("select * from marts.rpt_bounce_details")}
    a3 = rows[("d1", "standard", "example.com", "user unknown")]
    assert (a3["failure_type"], a3["smtp_code"], a3["messages"], a3["failures"]) == ("hard", "550", 1, 1)
    assert a3["sample_diagnostic"] == "550 5.1.1 <j***@example.com>: Recipient address rejected: User unknown"
    assert a3["sample_diagnostic"] == mask_emails(A3_DIAGNOSTIC)  # the exports' rule
    # a4: failed in standard when validity ended (no event of its own): the latest soft bounce's
    # code and text; both soft bounces count as failures
    a4 = rows[("d1", "standard", "example.org", "mailbox full")]
    assert (a4["failure_type"], a4["smtp_code"], a4["messages"], a4["failures"]) == ("soft", "452", 1, 2)
    assert a4["sample_diagnostic"] == "452 4.2.2 Mailbox full for   j***@example.org"
    assert (str(a4["first_seen_at"]), str(a4["last_seen_at"])) == ("2026-01-06 11:00:00", "2026-01-07 11:00:00")
    # c1 counts in its execution's row and in the parent's, flagged
    assert rows[("dc1", "standard", "example.net", "user unknown")]["is_recurring_parent"] is False
    assert rows[("dpar", "standard", "example.net", "user unknown")]["is_recurring_parent"] is True
    assert rows[("dpar", "standard", "example.net", "user unknown")]["sample_diagnostic"] == "550 unknown user c***@example.net"
    assert ("d2", "efs", "example.net", "invalid domain") in rows
    assert not any(r[0] == "dp" for r in rows)
    # no address is left unmasked anywhere in the mart
    assert all("john.doe@" not in (r["sample_diagnostic"] or "") for r in rows.values())


def test_bounce_details_sum_to_the_failure_reasons(s):
    details = s.query("""select delivery_id, reporting_mode, failure_type, failure_reason, sum(messages) as messages
                         from marts.rpt_bounce_details group by all order by all""")
    reasons = s.query("""select delivery_id, reporting_mode, failure_type, failure_reason, messages
                         from marts.rpt_delivery_failure_reasons order by all""")
    assert details == reasons and len(details) >= 6


def test_link_clicks_tell_unique_from_total_and_machine_clicks_apart(s):
    rows = {r["url"]: r for r in s.query("select * from marts.rpt_link_clicks where delivery_id = 'd1'")}
    assert set(rows) == {U1, U2}
    u1, u2 = rows[U1], rows[U2]
    # U1: a1 twice and a2 once; U2: a1 once (human), a2's scanner once (machine)
    assert (u1["clicks"], u1["unique_clicks"], u1["human_clicks"], u1["machine_clicks"]) == (3, 2, 3, 0)
    assert (u2["clicks"], u2["unique_clicks"], u2["human_clicks"], u2["machine_clicks"]) == (2, 2, 1, 1)
    assert (u1["share_of_clicks"], u2["share_of_clicks"]) == (pytest.approx(0.6), pytest.approx(0.4))
    assert (u1["share_of_human_clicks"], u2["share_of_human_clicks"]) == (pytest.approx(0.75), pytest.approx(0.25))
    kpis = s.one("select clicks, human_clicks from marts.rpt_delivery_kpis where delivery_id = 'd1' and reporting_mode = 'standard'")
    assert kpis == {"clicks": 5, "human_clicks": 4}
    # the url may carry an address: declared free text, so the exports mask it
    [declared] = s.query("select personal_data from audit.personal_data_columns "
                         "where table_name = 'rpt_link_clicks' and column_name = 'url'")
    assert declared["personal_data"] == "free_text"


def test_dim_deliveries_gives_the_send_date_and_the_own_mode(s):
    rows = {r["delivery_id"]: r for r in s.query("select * from marts.dim_deliveries")}
    assert set(rows) == {"d1", "d2", "dpar", "dc1", "dc2", "dp"}
    d1 = rows["d1"]
    assert (d1["own_reporting_mode"], str(d1["contact_date"]), str(d1["first_relayed_at"])) == (
        "standard", "2026-01-05 20:00:00", "2026-01-05 22:30:00")
    assert (str(d1["validity_end_at"]), d1["is_final"]) == ("2026-01-09 08:00:00", True)
    assert rows["d2"]["own_reporting_mode"] == "efs"
    assert (rows["dpar"]["is_recurring_parent"], rows["dpar"]["first_relayed_at"]) == (True, None)
    # the parent's validity is its executions' latest (as in rpt_delivery_kpis)
    assert str(rows["dpar"]["validity_end_at"]) == "2026-01-10 08:00:00"
    assert (rows["dc2"]["parent_delivery_id"], rows["dc2"]["is_recurring_parent"]) == ("dpar", False)
    assert rows["dp"]["is_proof"] is True and str(rows["dp"]["first_relayed_at"]) == "2026-01-05 21:00:00"
