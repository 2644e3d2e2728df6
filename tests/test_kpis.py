"""Dashboard and dynamic report, hand-computed (SPEC section 3).

Delivery d1: email, standard (no EFS), contact 2026-01-05 08:00, relayed 08:00, validity_end
2026-01-08 20:00, report window until 2026-01-12 08:00 (7 days).
  m1  two opens (o1 09:10 landed twice, o2 10:00 landed twice), a click 09:15
  m2  a click 11:00, no open                       -> click-implied open
  m3  an open 2026-01-14 (after the window)         -> dashboard only
  m4  hard bounce 08:30
  m5  an opt-out 12:00, no open                     -> implied open
  m6  an open 09:00 by GoogleImageProxy             -> machine open (user agent)
  m7  an open 09:20 by Apple Mail Privacy Protection -> machine open (privacy proxy)
  mt  a test profile with an open                   -> excluded from every KPI
Proof delivery dp (one message) -> no KPI row, reported apart.
Recurring parent dpar (no messages of its own), executions dc1 (2 messages) and dc2 (1 message,
hard bounce) -> dpar counts 3 messages, 1 bounce.
"""

from __future__ import annotations

import pytest

MPP = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


def _setup(s):
    s.ingest("deliveries", [
        {"delivery_id": "d1", "label": "January newsletter", "channel": "email", "contact_date": "2026-01-05 08:00"},
        {"delivery_id": "dp", "label": "proof", "channel": "email", "contact_date": "2026-01-05 07:00", "is_proof": "true"},
        {"delivery_id": "dpar", "label": "daily welcome", "channel": "email", "contact_date": "2026-01-05 08:00"},
        {"delivery_id": "dc1", "label": "daily welcome #1", "channel": "email", "contact_date": "2026-01-05 08:00", "parent_delivery_id": "dpar"},
        {"delivery_id": "dc2", "label": "daily welcome #2", "channel": "email", "contact_date": "2026-01-06 08:00", "parent_delivery_id": "dpar"},
    ])
    rows = [{"message_id": f"m{i}", "delivery_id": "d1", "profile_id": f"p{i}", "address": f"u{i}@example.com",
             "relayed_at": "2026-01-05 08:00"} for i in range(1, 8)]
    rows += [
        {"message_id": "mt", "delivery_id": "d1", "profile_id": "pt", "address": "qa@example.com", "is_test_profile": "true", "relayed_at": "2026-01-05 08:00"},
        {"message_id": "mp", "delivery_id": "dp", "profile_id": "pt", "address": "qa@example.com", "is_test_profile": "true", "relayed_at": "2026-01-05 07:00"},
        {"message_id": "c1a", "delivery_id": "dc1", "profile_id": "p1", "address": "u1@example.com", "relayed_at": "2026-01-05 08:00"},
        {"message_id": "c1b", "delivery_id": "dc1", "profile_id": "p2", "address": "u2@example.com", "relayed_at": "2026-01-05 08:00"},
        {"message_id": "c2a", "delivery_id": "dc2", "profile_id": "p3", "address": "u3@gmial.com", "relayed_at": "2026-01-06 08:00"},
    ]
    s.ingest("send_log", rows)
    s.ingest("feedback", [
        {"event_id": "f4", "message_id": "m4", "event_at": "2026-01-05 08:30", "outcome": "hard_bounce", "failure_reason": "user unknown"},
        {"event_id": "f5", "message_id": "c2a", "event_at": "2026-01-06 08:01", "outcome": "hard_bounce", "failure_reason": "invalid domain"},
    ])
    o1 = {"event_id": "o1", "message_id": "m1", "event_at": "2026-01-05 09:10", "type": "open", "user_agent": BROWSER}
    o2 = {"event_id": "o2", "message_id": "m1", "event_at": "2026-01-05 10:00", "type": "open", "user_agent": BROWSER}
    s.ingest("tracking", [
        o1, dict(o1), o2, dict(o2),
        {"event_id": "k1", "message_id": "m1", "event_at": "2026-01-05 09:15", "type": "click", "url": "https://shop/a", "user_agent": BROWSER},
        {"event_id": "k2", "message_id": "m2", "event_at": "2026-01-05 11:00", "type": "click", "url": "https://shop/b", "user_agent": BROWSER},
        {"event_id": "o3", "message_id": "m3", "event_at": "2026-01-14 09:00", "type": "open", "user_agent": BROWSER},
        {"event_id": "x5", "message_id": "m5", "event_at": "2026-01-05 12:00", "type": "opt_out", "url": "https://shop/unsub", "user_agent": BROWSER},
        {"event_id": "o6", "message_id": "m6", "event_at": "2026-01-05 09:00", "type": "open", "user_agent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"},
        {"event_id": "o7", "message_id": "m7", "event_at": "2026-01-05 09:20", "type": "open", "user_agent": MPP},
        {"event_id": "ot", "message_id": "mt", "event_at": "2026-01-05 09:30", "type": "open", "user_agent": BROWSER},
        {"event_id": "kt", "message_id": "c1a", "event_at": "2026-01-05 08:00:03", "type": "click", "url": "https://shop/a", "user_agent": BROWSER},
    ])


@pytest.fixture(scope="module")
def kpis(tmp_path_factory):
    from tests.scenario import Scenario

    s = Scenario(tmp_path_factory.mktemp("kpis") / "home")
    _setup(s)
    s.build("2026-01-20T00:00:00Z")
    return s


def test_dynamic_report_hand_computed(kpis):
    r = kpis.one("select * from marts.rpt_delivery_kpis where delivery_id = 'd1' and reporting_mode = 'standard'")
    # m1..m7: 7 messages (mt excluded); all relayed; m4 failed (hard), 6 sent
    assert (r["to_deliver"], r["sent"], r["processed"], r["delivered"], r["bounces_errors"]) == (7, 7, 7, 6, 1)
    assert (r["hard_bounces"], r["soft_bounces"]) == (1, 0)
    assert r["delivered_rate"] == pytest.approx(6 / 7) and r["bounce_rate"] == pytest.approx(1 / 7)
    # opens: o1, o2 (duplicates count once), o6, o7 in window = 4; o3 is out of the window;
    # + implied opens for m2 (click) and m5 (opt-out) = 6
    assert (r["opens"], r["click_implied_opens"]) == (6, 2)
    assert r["unique_opens"] == 5            # m1, m2, m5, m6, m7
    assert (r["clicks"], r["unique_clicks"]) == (2, 2)   # k1 (m1), k2 (m2)
    assert r["open_rate"] == pytest.approx(5 / 6)
    assert r["click_through_rate"] == pytest.approx(2 / 6)
    assert r["click_to_open_rate"] == pytest.approx(2 / 5)
    assert (r["opt_outs"], r["mirror_pages"], r["complaints"]) == (1, 0, 0)
    assert r["machine_opens"] == 2           # o6 (proxy user agent), o7 (Apple MPP)
    assert r["human_unique_opens"] == 3      # m1, m2, m5
    assert r["open_rate_excl_machine"] == pytest.approx(3 / 6)
    assert r["is_final"] is True


def test_efs_mode_of_a_standard_delivery(kpis):
    r = kpis.one("select * from marts.rpt_delivery_kpis where delivery_id = 'd1' and reporting_mode = 'efs'")
    # no delivered reports: with EFS the six un-bounced messages are still pending
    assert (r["processed"], r["delivered"], r["bounces_errors"], r["pending"]) == (1, 0, 1, 6)
    assert r["delivered_rate"] == 0.0 and r["bounce_rate"] == 1.0
    assert r["open_rate"] == 0.0  # nothing delivered: rate 0, not above 1


def test_dashboard_hand_computed(kpis):
    d = kpis.one("select * from marts.dash_delivery_kpis where delivery_id = 'd1'")
    assert d["reporting_mode"] == "standard"
    assert (d["to_deliver"], d["sent"], d["delivered"], d["bounces_errors"]) == (7, 7, 6, 1)
    # messages with an open event, any time, raw: m1, m3 (outside the window), m6, m7 -> 4 / 6
    assert d["open_rate"] == pytest.approx(4 / 6)
    assert d["click_through_rate"] == pytest.approx(2 / 6)
    # raw open events, duplicates included: o1 x2, o2 x2, o3, o6, o7 = 7
    assert d["opens"] == 7


def test_reconciliation_explains_every_difference(kpis):
    rows = {r["kpi"]: r for r in kpis.query("select * from marts.rpt_kpi_reconciliation where delivery_id = 'd1'")}
    assert rows["delivered"]["difference"] == 0 and rows["delivered"]["reasons"] is None
    # dashboard 4/6 vs report 5/6: +m2, +m5 implied, -m3 outside the window
    o = rows["open_rate"]
    assert o["dashboard_value"] == pytest.approx(4 / 6) and o["report_value"] == pytest.approx(5 / 6)
    assert set(o["reasons"].split("; ")) == {"click-implied opens", "report window"}
    opens = rows["opens"]
    assert (opens["dashboard_value"], opens["report_value"], opens["difference"]) == (7, 6, -1)
    assert set(opens["reasons"].split("; ")) == {"click-implied opens", "report window", "duplicates removed"}
    m = rows["open_rate_excl_machine"]
    assert m["report_value"] == pytest.approx(3 / 6)
    assert "machine opens" in m["reasons"]
    for r in rows.values():
        assert (r["reasons"] is None) == (abs(r["difference"]) < 1e-9), r


def test_proofs_and_test_profiles_are_reported_apart(kpis):
    assert kpis.query("select * from marts.dash_delivery_kpis where delivery_id = 'dp'") == []
    assert kpis.query("select * from marts.rpt_delivery_kpis where delivery_id = 'dp'") == []
    apart = {r["delivery_id"]: r for r in kpis.query("select * from marts.rpt_proof_and_test_sends")}
    assert apart["dp"]["is_proof"] is True and apart["dp"]["messages"] == 1
    assert apart["d1"]["is_proof"] is False and apart["d1"]["test_profile_messages"] == 1


def test_recurring_executions_count_in_their_parent(kpis):
    rows = {r["delivery_id"]: r for r in kpis.query(
        "select * from marts.rpt_delivery_kpis where reporting_mode = 'standard' and delivery_id in ('dpar', 'dc1', 'dc2')")}
    assert rows["dc1"]["to_deliver"] == 2 and rows["dc2"]["to_deliver"] == 1
    assert (rows["dpar"]["to_deliver"], rows["dpar"]["delivered"], rows["dpar"]["bounces_errors"]) == (3, 2, 1)
    dash = kpis.one("select * from marts.dash_delivery_kpis where delivery_id = 'dpar'")
    assert (dash["sent"], dash["bounces_errors"]) == (3, 1)
    # the scanner click 3 s after the relay is machine activity
    assert rows["dc1"]["clicks"] == 1 and rows["dc1"]["human_clicks"] == 0
    reasons = {r["failure_reason"]: r["messages"] for r in kpis.query(
        "select * from marts.rpt_delivery_failure_reasons where delivery_id = 'dpar' and reporting_mode = 'standard'")}
    assert reasons == {"invalid domain": 1}


def test_per_domain_breakdown(kpis):
    rows = {r["recipient_domain"]: r for r in kpis.query(
        "select * from marts.rpt_delivery_domains where delivery_id = 'dpar' and reporting_mode = 'standard'")}
    assert rows["example.com"]["delivered"] == 2 and rows["gmial.com"]["bounces_errors"] == 1
    assert rows["gmial.com"]["bounce_rate"] == 1.0


def test_hourly_lag_and_stale_snapshot(kpis):
    # snapshot at 09:30: opens count until 09:00 -> none yet; o1 (09:10) and o7 (09:20) lag
    kpis.compute_stats("2026-01-05T09:30:00Z", delivery_id="d1")
    d = kpis.one("select * from marts.dash_delivery_kpis where delivery_id = 'd1'")
    assert str(d["tracking_counted_until"]) == "2026-01-05 09:00:00"
    assert (d["delivered"], d["open_rate"]) == (6, 0.0)
    # only d1 was refreshed: dpar keeps the build's snapshot
    assert str(kpis.one("select stats_computed_at from marts.dash_delivery_kpis where delivery_id = 'dpar'")["stats_computed_at"]) == "2026-01-20 00:00:00"
    o = kpis.one("select * from marts.rpt_kpi_reconciliation where delivery_id = 'd1' and kpi = 'open_rate'")
    assert {"hourly lag", "stale snapshot", "click-implied opens"} <= set(o["reasons"].split("; "))
    kpis.compute_stats("2026-01-20T00:00:00Z")  # back to the build's instant for other tests


def test_report_window_is_configurable(tmp_path):
    from tests.scenario import Scenario

    s = Scenario(tmp_path / "home")
    (s.home).mkdir(parents=True, exist_ok=True)
    (s.home / "sendlens.toml").write_text("report_window_days = 10\n")
    s.settings = type(s.settings)  # reload below
    from sendlens.config import load_settings
    s.settings = load_settings(s.home)
    assert s.settings.report_window_days == 10
    _setup(s)
    s.build("2026-01-20T00:00:00Z")
    r = s.one("select unique_opens, opens from marts.rpt_delivery_kpis where delivery_id = 'd1' and reporting_mode = 'standard'")
    assert (r["unique_opens"], r["opens"]) == (6, 7)  # m3's open on day 9 now counts


def test_conflicts_are_findings_not_failures(scenario):
    scenario.ingest("deliveries", [{"delivery_id": "d1", "label": "x", "channel": "email", "contact_date": "2026-01-05 08:00"}])
    scenario.ingest("send_log", [
        {"message_id": "m1", "delivery_id": "d1", "profile_id": "p1", "address": "a@x.com", "relayed_at": "2026-01-05 08:00"},
        {"message_id": "m2", "delivery_id": "d1", "profile_id": "p2", "address": "b@x.com"},
        {"message_id": "m3", "delivery_id": "dX", "profile_id": "p3", "address": "c@x.com", "relayed_at": "2026-01-05 08:00"},
    ])
    scenario.ingest("feedback", [
        {"event_id": "h", "message_id": "m1", "event_at": "2026-01-05 09:00", "outcome": "hard_bounce", "failure_reason": "user unknown"},
        {"event_id": "s", "message_id": "m1", "event_at": "2026-01-05 10:00", "outcome": "delivered"},
        {"event_id": "b", "message_id": "m1", "event_at": "2026-01-05 07:00", "outcome": "ignored"},
        {"event_id": "u", "message_id": "nope", "event_at": "2026-01-05 10:00", "outcome": "delivered"},
        {"event_id": "n", "message_id": "m2", "event_at": "2026-01-05 10:00", "outcome": "delivered"},
    ])
    scenario.ingest("feedback", [  # the same event again in a later file
        {"event_id": "s", "message_id": "m1", "event_at": "2026-01-05 10:00", "outcome": "delivered"}])
    scenario.build("2026-01-10T00:00:00Z")
    got = {(r["finding"], r["item_id"]) for r in scenario.query("select * from marts.rpt_data_quality_findings")}
    assert got == {("success_after_hard_bounce", "s"), ("event_before_relay", "b"),
                   ("feedback_unknown_message", "u"), ("feedback_not_relayed", "n"),
                   ("unknown_delivery", "m3"), ("duplicate_event", "s")}
    # the hard bounce stands; the not-relayed message has no status; the unknown delivery's message does
    st = {(r["message_id"], r["reporting_mode"]): r["status"] for r in scenario.query("select * from marts.fct_message_status")}
    assert st[("m1", "standard")] == "failed" and ("m2", "standard") not in st and st[("m3", "efs")] == "pending"
