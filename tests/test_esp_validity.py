"""Validity for provider exports (issue 19, part 1): an Amazon SES export that spans three weeks
under ONE configuration set reads right in both modes.

A provider's delivery key is long-lived, so sendlens makes it a recurring parent and each UTC
day of sends a recurring execution (`<key>:<YYYY-MM-DD>`): every message's validity starts from
its own day's first send, never from the key's first send weeks before. Where SES states when it
stops retrying (DeliveryDelay `expirationTime`), the message's validity ends then.

The export (written here in SES's documented event-publishing shape): 21 days of sends under
`weekly-news`, two recipients a day at 09:00 and 17:00 UTC. The build is as of day 21, 12:00:

- day 7: a Delivery on day 7 (six days after the key's first send): `sent` in efs, not
  `pending` (the bug this fixes);
- day 21: a DeliveryDelay at 09:20 whose expirationTime (day 21 23:20) is still ahead: retries
  run, so standard `sent`, efs `failed (soft)`; before the fix it read standard `failed`;
- day 10: a DeliveryDelay whose expirationTime passed with no later success: `failed (soft)` in
  both modes, though day 10's execution validity (84 h) has passed too;
- day 14: a DeliveryDelay, then its Delivery 30 hours later (inside its own retry window): sent;
- day 20: a message with a Send and an Open but no Delivery (implied delivery).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from sendlens import pipeline
from tests.scenario import Scenario

KEY = "weekly-news"
DAY1 = datetime(2026, 3, 2)
AS_OF = "2026-03-22T12:00:00Z"  # day 21, 12:00 UTC


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _mail(n: int, address: str, sent: datetime) -> dict:
    return {"timestamp": _iso(sent), "source": "Weekly <news@shop.example>",
            "messageId": f"0100018e{n:08d}-5c3b-4b7e-9d2a-0f1e2d3c4b00-000000", "destination": [address],
            "headersTruncated": False, "tags": {"ses:configuration-set": [KEY]}}


def _events() -> list[dict]:
    events: list[dict] = []
    n = 0
    for day in range(21):
        for hour in (9, 17):
            n += 1
            address = f"d{day + 1:02d}h{hour}@example.com"
            sent = DAY1 + timedelta(days=day, hours=hour)
            mail = _mail(n, address, sent)
            events.append({"eventType": "Send", "mail": mail, "send": {}})
            if (day + 1, hour) == (10, 9):  # retries that ran out: SES stopped at expirationTime
                events.append({"eventType": "DeliveryDelay", "mail": mail, "deliveryDelay": {
                    "timestamp": _iso(sent + timedelta(minutes=20)), "delayType": "MailboxFull",
                    "expirationTime": _iso(sent + timedelta(hours=14)),
                    "delayedRecipients": [{"emailAddress": address, "status": "4.2.2",
                                           "diagnosticCode": "smtp; 452 4.2.2 Mailbox full"}]}})
            elif (day + 1, hour) == (21, 9):  # still retrying at the build's instant
                events.append({"eventType": "DeliveryDelay", "mail": mail, "deliveryDelay": {
                    "timestamp": _iso(sent + timedelta(minutes=20)), "delayType": "TransientCommunicationFailure",
                    "expirationTime": _iso(sent + timedelta(hours=14, minutes=20)),
                    "delayedRecipients": [{"emailAddress": address, "status": "4.4.7",
                                           "diagnosticCode": "smtp; 421 4.4.7 Connection timed out"}]}})
            elif (day + 1, hour) == (14, 17):  # a delay, then success within its own window
                events.append({"eventType": "DeliveryDelay", "mail": mail, "deliveryDelay": {
                    "timestamp": _iso(sent + timedelta(minutes=5)), "delayType": "MailboxFull",
                    "expirationTime": _iso(sent + timedelta(hours=40)),
                    "delayedRecipients": [{"emailAddress": address, "status": "4.2.2",
                                           "diagnosticCode": "smtp; 452 4.2.2 Mailbox full"}]}})
                events.append({"eventType": "Delivery", "mail": mail, "delivery": {
                    "timestamp": _iso(sent + timedelta(hours=30)), "recipients": [address],
                    "smtpResponse": "250 2.6.0 Message received"}})
            else:
                events.append({"eventType": "Delivery", "mail": mail, "delivery": {
                    "timestamp": _iso(sent + timedelta(minutes=1)), "recipients": [address],
                    "smtpResponse": "250 2.6.0 Message received"}})
    # implied delivery: SES exported the Send and the recipient's Open, but no Delivery
    n += 1
    address = "opened-only@example.com"
    sent = DAY1 + timedelta(days=19, hours=11)
    mail = _mail(n, address, sent)
    events.append({"eventType": "Send", "mail": mail, "send": {}})
    events.append({"eventType": "Open", "mail": mail, "open": {
        "timestamp": _iso(sent + timedelta(hours=2)), "ipAddress": "192.0.2.1",
        "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"}})
    return events


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Scenario:
    s = Scenario(tmp_path_factory.mktemp("ses-weeks") / "home")
    export = s.inputs / "ses-three-weeks.jsonl"
    export.write_text("".join(json.dumps(e) + "\n" for e in _events()))
    (s.outcome,) = pipeline.ingest(s.settings, "", [export], source="ses")
    s.build(AS_OF)
    return s


def _status(s: Scenario, address: str) -> dict[str, str]:
    rows = s.query("select reporting_mode, status, failure_type, failure_reason from marts.fct_message_status "
                   "where profile_id = ?", [address])
    return {r["reporting_mode"]: r["status"] if r["status"] != "failed" else f"{r['failure_type']}:{r['failure_reason']}"
            for r in rows}


def test_the_key_is_a_recurring_parent_with_one_execution_a_day(home):
    assert home.outcome.rows_read == home.outcome.rows_landed == len(_events())
    executions = home.query(
        "select delivery_id, parent_delivery_id, contact_at from staging.stg_deliveries "
        "where parent_delivery_id is not null order by delivery_id")
    assert len(executions) == 21
    assert {r["parent_delivery_id"] for r in executions} == {KEY}
    assert executions[0] == {"delivery_id": f"{KEY}:2026-03-02", "parent_delivery_id": KEY,
                             "contact_at": datetime(2026, 3, 2, 9, 0)}
    parent = home.one("select contact_at, parent_delivery_id from staging.stg_deliveries where delivery_id = ?", [KEY])
    assert parent == {"contact_at": datetime(2026, 3, 2, 9, 0), "parent_delivery_id": None}
    # every message belongs to the execution of its own UTC day of relay
    wrong = home.query("select message_id from marts.fct_message_status "
                       "where delivery_id <> ? || ':' || strftime(relayed_at, '%Y-%m-%d')", [KEY])
    assert wrong == []


def test_no_message_validity_ends_before_its_relay_or_starts_weeks_before_it(home):
    bad = home.query(
        "select message_id, relayed_at, validity_end_at from intermediate.int_messages "
        "where validity_end_at < relayed_at or validity_end_at > relayed_at + interval 84 hours")
    assert bad == []


def test_a_delivery_six_days_after_the_keys_first_send_counts(home):
    assert _status(home, "d07h9@example.com") == {"standard": "sent", "efs": "sent"}
    assert _status(home, "d07h17@example.com") == {"standard": "sent", "efs": "sent"}


def test_a_delay_inside_its_own_retry_window_is_not_a_failure_yet(home):
    assert _status(home, "d21h9@example.com") == {"standard": "sent", "efs": "soft:unreachable"}


def test_a_delay_past_the_stated_expiration_fails_in_both_modes(home):
    assert _status(home, "d10h9@example.com") == {"standard": "soft:mailbox full", "efs": "soft:mailbox full"}
    # its validity ends at the expirationTime SES stated, not 84 h after the day's first send
    row = home.one("select m.validity_end_at from intermediate.int_messages m join marts.fct_message_status f "
                   "using (message_id) where f.profile_id = 'd10h9@example.com' limit 1")
    assert row["validity_end_at"] == datetime(2026, 3, 11, 23, 0)


def test_a_success_inside_its_own_window_after_a_delay(home):
    assert _status(home, "d14h17@example.com") == {"standard": "sent", "efs": "sent"}


def test_the_parent_counts_every_execution_once(home):
    for mode in ("standard", "efs"):
        parent = home.one("select to_deliver, delivered, bounces_errors, soft_bounces from marts.rpt_delivery_kpis "
                          "where delivery_id = ? and reporting_mode = ?", [KEY, mode])
        days = home.one("select sum(to_deliver) as to_deliver, sum(delivered) as delivered, "
                        "sum(bounces_errors) as bounces_errors, sum(soft_bounces) as soft_bounces "
                        "from marts.rpt_delivery_kpis where starts_with(delivery_id, ?) and reporting_mode = ?",
                        [KEY + ":", mode])
        assert parent == days, mode
        assert parent["to_deliver"] == 43
    standard = home.one("select delivered, bounces_errors from marts.rpt_delivery_kpis "
                        "where delivery_id = ? and reporting_mode = 'standard'", [KEY])
    efs = home.one("select delivered, bounces_errors from marts.rpt_delivery_kpis "
                   "where delivery_id = ? and reporting_mode = 'efs'", [KEY])
    # 42 relayed by the build's instant (day 21's 17:00 send is later); standard: only day 10's
    # expired delay failed; efs: that one and day 21's retrying delay, and the opened message
    # without a Delivery is pending
    assert standard == {"delivered": 41, "bounces_errors": 1}
    assert efs == {"delivered": 39, "bounces_errors": 2}


def test_engagement_without_a_delivery_report_keeps_the_status_and_is_a_finding(home):
    # DECISIONS.md "Implied delivery": the open proves the message arrived, but the sending-log
    # status follows what the MTA reported: efs stays pending; the open still counts in the report
    assert _status(home, "opened-only@example.com") == {"standard": "sent", "efs": "pending"}
    (finding,) = home.query(
        "select f.finding, f.kind, f.severity, f.details from marts.rpt_data_quality_findings f "
        "join marts.fct_message_status m on f.message_id = m.message_id and m.reporting_mode = 'efs' "
        "where m.profile_id = 'opened-only@example.com'")
    assert finding == {"finding": "engagement_without_delivery", "kind": "tracking", "severity": "info",
                       "details": "open without a delivery report; the status stays as the MTA reported it"}
    # the only such finding: every other opened message had its Delivery
    assert home.one("select count(*) as n from marts.rpt_data_quality_findings "
                    "where finding = 'engagement_without_delivery'")["n"] == 1
    day = home.one("select unique_opens from marts.rpt_delivery_kpis where delivery_id = ? and reporting_mode = 'efs'",
                   [f"{KEY}:2026-03-21"])
    assert day["unique_opens"] == 1
