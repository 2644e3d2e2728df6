"""Email-service-provider imports (issue 8), end to end: each provider's fixture
(tests/fixtures/esp/, written from the provider's documented payloads, every event type it
documents) is ingested with `sendlens ingest --source`, all into one home, one delivery key per
provider, then one build; the statuses (both modes) and the dynamic report are asserted. Plus:
an SNS envelope file, a mixed file with one malformed event, epoch and ISO timestamps,
re-ingest, and a SendGrid delivery against its canonical equivalent.

All providers relay at 2026-03-02 09:00 UTC; the build is as of 2026-03-05 12:00, inside the
validity period (contact + 84 h = 2026-03-05 21:00), so a retrying soft bounce still reads
`sent` in the standard mode and `failed (soft)` in efs, while a final one (expiry) is `failed`
in both; except where the provider said when it stops retrying (SES expirationTime), which ends
that message's validity. Every delivery key is a recurring parent with one execution per UTC
day (`<key>:2026-03-02` here): statuses are read through the parent, KPIs on the parent's row.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from sendlens.ingest.esp import map_export
from sendlens.ingest.esp.errors import EventRejected
from sendlens.ingest.esp.fields import parse_ts
from sendlens import pipeline
from tests.scenario import Scenario

FIXTURES = Path(__file__).parent / "fixtures" / "esp"
AS_OF = "2026-03-05T12:00:00Z"
FILES = [
    ("ses", "ses.jsonl"),
    ("ses", "ses-sns.jsonl"),
    ("sendgrid", "sendgrid.json"),
    ("mailgun", "mailgun.jsonl"),
    ("postmark", "postmark.jsonl"),
    ("sparkpost", "sparkpost.json"),
]
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
MPP = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"

# A Mailgun export with one line that is not JSON (the 3rd event).
MIXED = [
    '{"signature": {"timestamp": "1772442000", "token": "t1", "signature": "s"}, "event-data": {"id": "mx-1", '
    '"event": "accepted", "timestamp": 1772442000.0, "recipient": "x1@example.com", "tags": ["mg-mixed"], '
    '"message": {"headers": {"message-id": "mixed.1@mg.shop.example"}}}}',
    '{"signature": {"timestamp": "1772442060", "token": "t2", "signature": "s"}, "event-data": {"id": "mx-2", '
    '"event": "delivered", "timestamp": 1772442060.0, "recipient": "x1@example.com", "tags": ["mg-mixed"], '
    '"message": {"headers": {"message-id": "mixed.1@mg.shop.example"}}, "delivery-status": {"code": 250, '
    '"attempt-no": 1, "message": "OK"}}}',
    '{"signature": {"timestamp": "1772442120", "token": "t3"}, "event-data": {"id": "mx-3", "event": "deliv',
    '{"signature": {"timestamp": "1772442180", "token": "t4", "signature": "s"}, "event-data": {"id": "mx-4", '
    '"event": "failed", "severity": "permanent", "reason": "bounce", "timestamp": 1772442180.0, '
    '"recipient": "x2@example.com", "tags": ["mg-mixed"], "message": {"headers": {"message-id": '
    '"mixed.2@mg.shop.example"}}, "delivery-status": {"code": 550, "attempt-no": 1, '
    '"message": "5.1.1 No such user", "enhanced-code": "5.1.1"}}}',
]


def _canonical_sendgrid_equivalent(s: Scenario) -> None:
    """The story of tests/fixtures/esp/sendgrid.json told in canonical input (delivery canon-sg,
    messages c1..c11 for s1..s11)."""
    s.ingest("deliveries", [{"delivery_id": "canon-sg", "label": "canon-sg", "channel": "email",
                             "efs_enabled": "true", "contact_date": "2026-03-02 09:00:00"}])
    s.ingest("send_log", [{"message_id": f"c{i}", "delivery_id": "canon-sg", "profile_id": f"c{i}@example.com",
                           "address": f"c{i}@example.com", "relayed_at": "2026-03-02 09:00:00"} for i in range(1, 12)])
    fb = [
        ("c1", "09:01", "delivered", None), ("c2", "09:10", "soft_bounce", "refused"),
        ("c2", "09:40", "soft_bounce", "refused"), ("c2", "10:40", "delivered", None),
        ("c3", "09:10", "soft_bounce", "mailbox full"), ("c4", "09:02", "hard_bounce", "user unknown"),
        ("c5", "09:02", "expired", "refused"), ("c7", "09:00", "hard_bounce", "quarantined address"),
        ("c8", "09:00", "hard_bounce", "denylisted"), ("c9", "09:01", "delivered", None),
        ("c10", "09:01", "delivered", None), ("c11", "09:00", "hard_bounce", "denylisted"),
    ]
    rows = [{"event_id": f"cf{n}", "message_id": m, "event_at": f"2026-03-02 {t}:00", "outcome": o,
             "failure_reason": r or ""} for n, (m, t, o, r) in enumerate(fb)]
    rows.append({"event_id": "cf-exp", "message_id": "c6", "event_at": "2026-03-05 09:00:00", "outcome": "expired",
                 "failure_reason": "unreachable"})
    s.ingest("feedback", rows)
    s.ingest("tracking", [
        {"event_id": "ct1", "message_id": "c1", "event_at": "2026-03-02 09:40:00", "type": "open", "user_agent": BROWSER},
        {"event_id": "ct2", "message_id": "c1", "event_at": "2026-03-02 09:41:00", "type": "click",
         "url": "https://shop.example/spring", "user_agent": BROWSER},
        {"event_id": "ct3", "message_id": "c9", "event_at": "2026-03-02 09:30:00", "type": "open",
         "user_agent": "Apple Mail Privacy Protection bot"},
        {"event_id": "ct4", "message_id": "c10", "event_at": "2026-03-02 12:20:00", "type": "complaint"},
        {"event_id": "ct5", "message_id": "c10", "event_at": "2026-03-02 12:21:00", "type": "opt_out"},
        {"event_id": "ct6", "message_id": "c10", "event_at": "2026-03-02 12:22:00", "type": "opt_out",
         "url": "https://shop.example/prefs"},
    ])


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Scenario:
    s = Scenario(tmp_path_factory.mktemp("esp") / "home")
    s.outcomes = {}
    for source, name in FILES:
        (outcome,) = pipeline.ingest(s.settings, "", [FIXTURES / name], source=source)
        s.outcomes[name] = outcome
    mixed = s.inputs / "mailgun-mixed.jsonl"
    mixed.write_text("\n".join(MIXED) + "\n")
    (s.outcomes["mixed"],) = pipeline.ingest(s.settings, "", [mixed], source="mailgun")
    _canonical_sendgrid_equivalent(s)
    s.build(AS_OF)
    return s


def _statuses(s: Scenario, delivery_id: str) -> dict[str, tuple[str, str]]:
    rows = s.query(
        "select profile_id, reporting_mode, status, failure_type, failure_reason "
        "from marts.fct_message_status where delivery_id in "
        "(select delivery_id from staging.stg_deliveries where parent_delivery_id = ?)", [delivery_id])
    out: dict[str, dict[str, str]] = {}
    for r in rows:
        label = r["status"] if r["status"] != "failed" else f"{r['failure_type']}:{r['failure_reason']}"
        out.setdefault(r["profile_id"].split("@")[0], {})[r["reporting_mode"]] = label
    return {k: (v["standard"], v["efs"]) for k, v in out.items()}


def _kpis(s: Scenario, delivery_id: str, mode: str) -> dict:
    return s.one("select * from marts.rpt_delivery_kpis where delivery_id = ? and reporting_mode = ?",
                 [delivery_id, mode])


KPI_COLUMNS = ("to_deliver", "delivered", "bounces_errors", "hard_bounces", "soft_bounces", "opens",
               "unique_opens", "clicks", "opt_outs", "complaints", "machine_opens")

# Per provider: (delivery key, expected statuses (standard, efs) per recipient, KPIs per mode).
# KPI tuple order: KPI_COLUMNS.
EXPECTED = {
    "ses": ("ses-spring", {
        "a1": ("sent", "sent"),  # Send, Delivery, Open, Click
        "a2": ("hard:user unknown", "hard:user unknown"),  # Bounce Permanent 5.1.1
        # DeliveryDelay: SES retries until its expirationTime (2026-03-02 23:20), which passed
        # before the build: the message's validity ended then, so failed in both modes
        "a3": ("soft:mailbox full", "soft:mailbox full"),
        "a4": ("soft:mailbox full", "soft:mailbox full"),  # Bounce Transient: SES gave up (expired)
        "a5": ("soft:refused", "soft:refused"),  # Reject (virus): final, never a quarantine
        "a6": ("sent", "sent"),  # Delivery, Complaint
        "a7": ("sent", "sent"),  # Delivery, Subscription (unsubscribe all)
        "a8": ("soft:other", "soft:other"),  # Rendering Failure
        "a9": ("sent", "sent"),  # DeliveryDelay then Delivery
        "a10": ("hard:quarantined address", "hard:quarantined address"),  # OnAccountSuppressionList
        "a11": ("sent", "pending"),  # Send only
    }, {"standard": (11, 5, 6, 2, 4, 2, 2, 1, 1, 1, 0), "efs": (11, 4, 6, 2, 4, 2, 2, 1, 1, 1, 0)}),
    "sendgrid": ("sg-spring", {
        "s1": ("sent", "sent"),  # processed, delivered, open, click
        "s2": ("sent", "sent"),  # deferred twice, then delivered
        "s3": ("sent", "soft:mailbox full"),  # deferred: retrying
        "s4": ("hard:user unknown", "hard:user unknown"),  # bounce type bounce
        "s5": ("soft:refused", "soft:refused"),  # bounce type blocked: final, never a quarantine
        "s6": ("soft:unreachable", "soft:unreachable"),  # bounce type expired
        "s7": ("hard:quarantined address", "hard:quarantined address"),  # dropped: Bounced Address
        "s8": ("hard:denylisted", "hard:denylisted"),  # dropped: Unsubscribed Address
        "s9": ("sent", "sent"),  # delivered, machine open
        "s10": ("sent", "sent"),  # delivered, spamreport, unsubscribe, group_unsubscribe
        "s11": ("hard:denylisted", "hard:denylisted"),  # dropped: Spam Reporting Address
    }, {"standard": (11, 5, 6, 4, 2, 3, 3, 1, 2, 1, 1), "efs": (11, 4, 7, 4, 3, 3, 3, 1, 2, 1, 1)}),
    "mailgun": ("mg-spring", {
        "g1": ("sent", "sent"),  # accepted, delivered, opened, clicked
        "g2": ("sent", "sent"),  # failed temporary, delivered (attempt-no 2)
        "g3": ("sent", "soft:unreachable"),  # failed temporary: retrying
        "g4": ("hard:user unknown", "hard:user unknown"),  # failed permanent bounce
        "g5": ("soft:unreachable", "soft:unreachable"),  # failed permanent, reason old
        "g6": ("hard:quarantined address", "hard:quarantined address"),  # suppress-bounce
        "g7": ("hard:denylisted", "hard:denylisted"),  # suppress-unsubscribe
        "g8": ("hard:denylisted", "hard:denylisted"),  # suppress-complaint
        "g9": ("sent", "sent"),  # delivered, unsubscribed, complained
        "g10": ("soft:refused", "soft:refused"),  # rejected: final, never a quarantine
    }, {"standard": (10, 4, 6, 4, 2, 2, 2, 1, 1, 1, 0), "efs": (10, 3, 7, 4, 3, 2, 2, 1, 1, 1, 0)}),
    "postmark": ("pm-spring", {
        "p1": ("sent", "sent"),  # Delivery, Open, Click
        "p2": ("hard:user unknown", "hard:user unknown"),  # Bounce HardBounce
        "p3": ("sent", "soft:unreachable"),  # Bounce Transient (delay notice): retrying
        "p4": ("soft:mailbox full", "soft:mailbox full"),  # Bounce SoftBounce: Postmark stopped
        "p5": ("hard:quarantined address", "hard:quarantined address"),  # ManuallyDeactivated
        "p6": ("sent", "sent"),  # Delivery, SpamComplaint
        "p7": ("sent", "sent"),  # Delivery, SubscriptionChange (ManualSuppression)
        "p8": ("sent", "sent"),  # Delivery, Bounce AutoResponder (ignored)
        "p9": ("soft:invalid domain", "soft:invalid domain"),  # Bounce DnsError
        "p10": ("soft:refused", "soft:refused"),  # Bounce Blocked: final, never a quarantine
    }, {"standard": (10, 5, 5, 2, 3, 2, 2, 1, 1, 1, 0), "efs": (10, 4, 6, 2, 4, 2, 2, 1, 1, 1, 0)}),
    "sparkpost": ("sp-spring", {
        "k1": ("sent", "sent"),  # injection, delivery, initial_open, open, click
        "k2": ("sent", "sent"),  # delay, delivery (num_retries 2)
        "k3": ("sent", "soft:unreachable"),  # delay: retrying
        "k4": ("hard:user unknown", "hard:user unknown"),  # bounce class 10
        "k5": ("soft:mailbox full", "soft:mailbox full"),  # bounce class 22: gave up
        "k6": ("soft:refused", "soft:refused"),  # bounce class 50 (mail block): never a quarantine
        "k7": ("hard:user unknown", "hard:user unknown"),  # delivery, then out_of_band class 10
        "k8": ("soft:refused", "soft:refused"),  # policy_rejection class 25: never a quarantine
        "k9": ("soft:other", "soft:other"),  # generation_failure
        "k10": ("sent", "sent"),  # delivery, spam_complaint, list_unsubscribe, link_unsubscribe
        "k11": ("sent", "sent"),  # delivery, bounce class 60 (auto-reply: ignored)
    }, {"standard": (11, 5, 6, 2, 4, 3, 2, 1, 2, 1, 0), "efs": (11, 4, 7, 2, 5, 3, 2, 1, 2, 1, 0)}),
}


@pytest.mark.parametrize("provider", list(EXPECTED))
def test_provider_statuses_and_kpis(home, provider):
    key, statuses, kpis = EXPECTED[provider]
    assert _statuses(home, key) == statuses
    for mode, values in kpis.items():
        r = _kpis(home, key, mode)
        assert {c: r[c] for c in KPI_COLUMNS} == dict(zip(KPI_COLUMNS, values)), mode
        assert r["is_final"] is False


def test_accounting_and_unsupported_events(home):
    # every event is landed or rejected; unsupported ones are rejected with that reason
    expected = {  # file: (read, landed, rejected)
        "ses.jsonl": (26, 25, 1),  # a future eventType
        "ses-sns.jsonl": (4, 3, 1),  # an SNS SubscriptionConfirmation
        "sendgrid.json": (31, 30, 1),  # group_resubscribe
        "mailgun.jsonl": (25, 24, 1),  # stored (inbound)
        "postmark.jsonl": (16, 15, 1),  # SubscriptionChange reactivating the address
        "sparkpost.json": (33, 31, 2),  # the webhook's empty test ping, a relay_event
    }
    for name, (read, landed, rejected) in expected.items():
        o = home.outcomes[name]
        assert (o.status, o.rows_read, o.rows_landed, o.rows_rejected) == ("landed", read, landed, rejected), name
    rej = home.query("select kind, field, reason, raw_record from audit.rejected_rows "
                     "where kind in ('ses', 'sendgrid', 'mailgun', 'postmark', 'sparkpost') "
                     "and reason = 'unsupported event type'")
    assert sorted((r["kind"], r["field"]) for r in rej) == [
        ("mailgun", "event"), ("postmark", "SuppressSending"), ("sendgrid", "event"),
        ("ses", "Type"), ("ses", "eventType"), ("sparkpost", "msys"), ("sparkpost", "type")]
    assert any(json.loads(r["raw_record"]).get("event") == "group_resubscribe" for r in rej)
    batches = {r["file"].rsplit("/", 1)[-1]: r for r in home.query(
        "select * from audit.ingest_batches where kind in ('ses', 'sendgrid', 'mailgun', 'postmark', 'sparkpost')")}
    for name, (read, landed, rejected) in expected.items():
        b = batches[name]
        assert (b["rows_read"], b["rows_landed"], b["rows_rejected"]) == (read, landed, rejected)
        assert b["rows_landed"] + b["rows_rejected"] == b["rows_read"]


def test_mixed_file_with_one_malformed_event(home):
    o = home.outcomes["mixed"]
    assert (o.rows_read, o.rows_landed, o.rows_rejected) == (4, 3, 1)
    assert o.warnings and "1 of 4 events rejected" in o.warnings[0]
    (rej,) = home.query("select row_number, field, reason, raw_record from audit.rejected_rows where kind = 'mailgun' "
                        "and file like '%mailgun-mixed.jsonl'")
    assert rej["row_number"] == 3 and rej["reason"].startswith("invalid JSON on line 3")
    assert json.loads(rej["raw_record"]) == MIXED[2]  # the line, as a JSON string
    assert _statuses(home, "mg-mixed") == {"x1": ("sent", "sent"), "x2": ("hard:user unknown", "hard:user unknown")}


def test_sns_envelope_and_old_notification_format(home):
    # SNS Notification envelopes around an event-publishing record (configuration set ses-sns)
    # and around an older bounce notification (no tags: delivery ses:unknown)
    assert _statuses(home, "ses-sns") == {"n1": ("sent", "sent")}
    assert _statuses(home, "ses:unknown") == {"n2": ("hard:invalid domain", "hard:invalid domain")}
    d = home.one("select label, channel, is_efs_enabled, contact_at, validity_hours from staging.stg_deliveries "
                 "where delivery_id = 'ses-sns'")
    assert d == {"label": "ses-sns", "channel": "email", "is_efs_enabled": True,
                 "contact_at": datetime(2026, 3, 2, 9, 0), "validity_hours": 84.0}


def test_epoch_and_iso_timestamps(home):
    def feedback_at(message_like: str, outcome: str) -> datetime:
        return home.one("select event_at from staging.stg_feedback where message_id like ? and outcome = ?",
                        [message_like, outcome])["event_at"]

    def relayed_at(address: str) -> datetime:
        return home.one("select relayed_at from marts.fct_message_status where profile_id = ? "
                        "and reporting_mode = 'efs'", [address])["relayed_at"]

    # SES: ISO 8601 'Z' with milliseconds; relay = mail.timestamp on every record
    assert feedback_at("%:a1@example.com", "delivered") == datetime(2026, 3, 2, 9, 1)
    assert relayed_at("a10@example.com") == datetime(2026, 3, 2, 9, 0)  # no Send exported
    # SendGrid: epoch seconds (integer)
    assert feedback_at("%:s4@example.com", "hard_bounce") == datetime(2026, 3, 2, 9, 2)
    # Mailgun: epoch seconds with a fraction
    assert relayed_at("g1@example.com") == datetime(2026, 3, 2, 9, 0, 0, 371902)
    # Postmark: ISO 8601 with a -05:00 offset and 7 fractional digits; no relay event, so the
    # earliest event of the message is its relay
    assert feedback_at("%:p1@example.com", "delivered") == datetime(2026, 3, 2, 9, 1, 0, 907025)
    assert relayed_at("p4@example.com") == datetime(2026, 3, 2, 21, 0, 0, 907025)
    # SparkPost: epoch seconds as text; injection_time (ISO) is the relay
    assert feedback_at("%:k4@example.com", "hard_bounce") == datetime(2026, 3, 2, 9, 2)
    assert relayed_at("k9@example.com") == datetime(2026, 3, 2, 9, 0)


def test_timestamp_parsing_units():
    assert parse_ts(1772442000, "t") == datetime(2026, 3, 2, 9, 0)
    assert parse_ts(1772442000.5, "t") == datetime(2026, 3, 2, 9, 0, 0, 500000)
    assert parse_ts("1772442000", "t") == datetime(2026, 3, 2, 9, 0)
    assert parse_ts(1772442000123, "t") == datetime(2026, 3, 2, 9, 0, 0, 123000)  # epoch ms
    assert parse_ts("2026-03-02T10:00:00+01:00", "t") == datetime(2026, 3, 2, 9, 0)
    assert parse_ts("2026-03-02T04:00:00.1234567-0500", "t") == datetime(2026, 3, 2, 9, 0, 0, 123456)
    assert parse_ts("2026-03-02 09:00:00", "t") == datetime(2026, 3, 2, 9, 0)  # no offset = UTC
    with pytest.raises(EventRejected):
        parse_ts("yesterday", "t")


def test_failure_details_and_machine_open(home):
    # raw code, diagnostic and attempt are kept
    r = home.one("select smtp_code, diagnostic, attempt from staging.stg_feedback "
                 "where message_id like '%:g2@example.com' and outcome = 'delivered'")
    assert r == {"smtp_code": "250", "diagnostic": "OK", "attempt": 2}
    r = home.one("select smtp_code, diagnostic, attempt from staging.stg_feedback "
                 "where message_id like '%:k2@example.com' and outcome = 'delivered'")
    assert r["attempt"] == 3  # SparkPost num_retries 2
    r = home.one("select smtp_code, diagnostic from staging.stg_feedback "
                 "where message_id like '%:s4@example.com'")
    assert r["smtp_code"] == "550" and "5.1.1" in r["diagnostic"]
    # SendGrid's sg_machine_open makes the open a machine open
    (ua,) = [x["user_agent"] for x in home.query(
        "select user_agent from staging.stg_tracking where message_id like '%:s9@example.com'")]
    assert ua == MPP + " (machine open; bot)"


def test_reingest_is_a_noop(home):
    def landed_batches() -> int:
        con = duckdb.connect()
        try:
            return con.execute(f"select count(*) from read_parquet('{home.settings.lake}/*/batch_id=*/batch.parquet')"
                               ).fetchone()[0]
        finally:
            con.close()

    before = landed_batches()
    (again,) = pipeline.ingest(home.settings, "", [FIXTURES / "sendgrid.json"], source="sendgrid")
    assert (again.status, again.rows_read, again.rows_landed, again.rows_rejected) == ("already_ingested", 0, 0, 0)
    assert again.batch_id == home.outcomes["sendgrid.json"].batch_id
    assert landed_batches() == before


def test_sendgrid_delivery_matches_its_canonical_equivalent(home):
    esp = home.query("select profile_id, reporting_mode, status, failure_type, failure_reason, status_at, is_final "
                     "from marts.fct_message_status where delivery_id = 'sg-spring:2026-03-02'")
    canon = home.query("select profile_id, reporting_mode, status, failure_type, failure_reason, status_at, is_final "
                       "from marts.fct_message_status where delivery_id = 'canon-sg'")
    assert len(esp) == len(canon) == 22

    def keyed(rows, prefix):
        return {(r["profile_id"].removeprefix(prefix), r["reporting_mode"]):
                {k: v for k, v in r.items() if k not in ("profile_id", "reporting_mode")} for r in rows}

    assert keyed(esp, "s") == keyed(canon, "c")
    for mode in ("standard", "efs"):
        a, b = _kpis(home, "sg-spring:2026-03-02", mode), _kpis(home, "canon-sg", mode)
        differing = {k: (a[k], b[k]) for k in a if k not in ("delivery_id",) and a[k] != b[k]}
        assert differing == {}, mode


def _keys(m) -> set[str]:
    """The delivery keys of a mapped export: its recurring parents."""
    return {d["delivery_id"] for d in m.deliveries if d["parent_delivery_id"] is None}


def test_mapping_is_pure_and_the_delivery_field_configurable(monkeypatch):
    m = map_export("sendgrid", FIXTURES / "sendgrid.json")
    assert _keys(m) == {"sg-spring"}  # first category
    # one execution per UTC day under the key, which every message belongs to
    assert {(d["delivery_id"], d["parent_delivery_id"]) for d in m.deliveries if d["parent_delivery_id"]} == {
        ("sg-spring:2026-03-02", "sg-spring")}
    assert {r["delivery_id"] for r in m.send_log} == {"sg-spring:2026-03-02"}
    # a custom argument instead
    m = map_export("sendgrid", FIXTURES / "sendgrid.json", delivery_field="campaign")
    assert _keys(m) == {"spring-2026"}
    # SES: a bare name is a message tag
    m = map_export("ses", FIXTURES / "ses.jsonl", delivery_field="campaign")
    assert _keys(m) == {"spring-2026"}
    # Postmark: Metadata; SparkPost: rcpt_meta; Mailgun: user-variables -- through the environment
    monkeypatch.setenv("SENDLENS_ESP_DELIVERY_FIELD", "campaign")
    for source, name in (("postmark", "postmark.jsonl"), ("sparkpost", "sparkpost.json"),
                         ("mailgun", "mailgun.jsonl")):
        m = map_export(source, FIXTURES / name)
        assert _keys(m) == {"spring-2026"}, source
    # a field no event has: the provider's unknown key
    monkeypatch.setenv("SENDLENS_POSTMARK_DELIVERY_FIELD", "NoSuchField")
    m = map_export("postmark", FIXTURES / "postmark.jsonl")
    assert _keys(m) == {"postmark:unknown"}
    # derived deliveries: email, EFS (a provider reports every outcome), default validity
    d = m.deliveries[0]
    assert (d["channel"], d["efs_enabled"], d["validity_hours"], d["is_proof"]) == ("email", True, 84.0, False)


def test_a_file_that_is_not_json_is_refused(tmp_path):
    s = Scenario(tmp_path / "home")
    bad = tmp_path / "events.json"
    bad.write_text("email,event,timestamp\nx@example.com,delivered,1772442000\n")
    with pytest.raises(pipeline.SendlensError, match=str(bad)):
        pipeline.ingest(s.settings, "", [bad], source="sendgrid")
    assert not list((s.settings.lake / "esp").glob("batch_id=2*"))


def test_a_later_export_keeps_the_first_contact_date(tmp_path):
    s = Scenario(tmp_path / "home")
    first = [{"email": "z1@example.com", "timestamp": 1772442000, "event": "processed", "category": "sg-later",
              "sg_event_id": "z-1", "sg_message_id": "zmsg1.filter-1"}]
    later = [{"email": "z2@example.com", "timestamp": 1772442000 + 86400, "event": "processed", "category": "sg-later",
              "sg_event_id": "z-2", "sg_message_id": "zmsg2.filter-1"}]
    for n, events in enumerate((first, later)):
        f = tmp_path / f"sg-{n}.json"
        f.write_text(json.dumps(events))
        pipeline.ingest(s.settings, "", [f], source="sendgrid")
    con = duckdb.connect()
    try:
        rows = con.execute(
            f"select contact_date from read_parquet('{s.settings.lake}/esp/batch_id=*/deliveries/*.parquet') "
            "where delivery_id = 'sg-later' order by _batch_id").fetchall()
    finally:
        con.close()
    # the newest derived row (the one staging keeps) still carries the first relay of the key
    assert [r[0] for r in rows] == [datetime(2026, 3, 2, 9, 0), datetime(2026, 3, 2, 9, 0)]


def test_refusals_fail_in_both_modes_but_never_quarantine(home):
    """Issue 19: a provider's refusal of the MESSAGE (SES Reject for a virus, SendGrid block,
    Mailgun rejected, Postmark Blocked, SparkPost mail block and policy rejection) is final in
    both modes with reason `refused`, and leaves the address out of quarantine; an address error
    in the same files (5.1.1 user unknown) quarantines at once."""
    refused = ["a5@example.com", "s5@example.com", "g10@example.com", "p10@example.com",
               "k6@example.com", "k8@example.com"]
    rows = home.query("select profile_id, reporting_mode, status, failure_type, failure_reason "
                      "from marts.fct_message_status where list_contains(?, profile_id)", [refused])
    assert len(rows) == 2 * len(refused)
    assert {(r["status"], r["failure_type"], r["failure_reason"]) for r in rows} == {("failed", "soft", "refused")}
    quarantine = {r["address"]: r["status"] for r in home.query(
        "select address, status from marts.dim_address_quarantine where list_contains(?, address)",
        [refused + ["a2@example.com", "s4@example.com"]])}
    assert {a: quarantine.get(a, "valid") for a in refused} == {a: "valid" for a in refused}
    assert quarantine["a2@example.com"] == quarantine["s4@example.com"] == "quarantine"
