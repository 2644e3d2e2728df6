"""Postfix maillog imports (issue 19, part 4): `sendlens ingest --source postfix FILE`.

Fixtures (tests/fixtures/mta/postfix/, README.md there says where each line shape comes from):

- `maillog`: classic syslog timestamps (`Mar  2 09:00:01`, no year: the tests set
  $SENDLENS_POSTFIX_YEAR=2026), host `mail`, short queue ids. One message to five recipients
  (delivered, user unknown 5.1.1, spam block 5.7.1, domain not found 5.4.4, a relay's own
  refusal through the error transport), a greylisted deferral then delivery, a message whose
  second recipient is deferred three times and then expires (qmgr `status=expired, returned to
  sender`), a queue id reused the next day (without a Message-ID), a message with no
  header_checks key (key `postfix`), a truncated status line, a status line whose queue id
  has no context, Postfix's own bounce notifications, an address-verification probe, a
  NOQUEUE reject and lines of other programs.
- `maillog-rfc3339`: RFC 3339 timestamps with a +01:00 offset, long queue ids
  (enable_long_queue_ids), host `mx-out`: a message relayed at 00:30 local time (23:30 UTC the
  day before) with one delivery and one deferral still retrying, and a message handed to a
  content filter (amavis) and re-queued, which then hard-bounces (5.2.1 disabled).

Pure reader / mapping tests first (`map_export`), then ONE end-to-end build of both files
(module-scoped), as of 2026-03-05 12:00 UTC: inside every execution's validity (84 h), so a
deferral still retrying reads standard `sent`, efs `failed (soft)`.
"""

from __future__ import annotations

import gzip
import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from sendlens import pipeline
from sendlens.ingest.esp import map_export
from sendlens.ingest.esp import postfix
from sendlens.ingest.land import IngestError
from tests.scenario import Scenario

FIXTURES = Path(__file__).parent / "fixtures" / "mta" / "postfix"
CLASSIC = FIXTURES / "maillog"
RFC3339 = FIXTURES / "maillog-rfc3339"
AS_OF = "2026-03-05T12:00:00Z"
ENV = (postfix.YEAR_ENV, postfix.TZ_ENV, postfix.SENDER_PATTERN_ENV, "SENDLENS_POSTFIX_DELIVERY_FIELD",
       "SENDLENS_ESP_DELIVERY_FIELD")


@pytest.fixture
def env(monkeypatch):
    """A clean Postfix environment with the classic fixture's year set."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(postfix.YEAR_ENV, "2026")
    return monkeypatch


def _by_message(mapped) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for r in sorted(mapped.feedback, key=lambda r: (r["event_at"], r["_row"])):
        out.setdefault(r["message_id"], []).append((r["outcome"], r["failure_reason"]))
    return out


def _write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


QUEUED = [  # a minimal message: submitted, queued, header logged by header_checks INFO
    "Mar  2 09:00:00 mail postfix/smtpd[1]: ABCDEF1234: client=app[192.0.2.10]",
    "Mar  2 09:00:00 mail postfix/cleanup[2]: ABCDEF1234: info: header X-Campaign: promo-7 from app[192.0.2.10]; "
    "from=<news+promo7@shop.example> to=<x@example.com> proto=ESMTP helo=<app>",
    "Mar  2 09:00:00 mail postfix/cleanup[2]: ABCDEF1234: message-id=<m1@shop.example>",
    "Mar  2 09:00:01 mail postfix/qmgr[3]: ABCDEF1234: from=<news+promo7@shop.example>, size=100, nrcpt=1 (queue active)",
]


def _status_line(status: str, text: str, dsn: str = "2.0.0", at: str = "Mar  2 09:00:02", qid: str = "ABCDEF1234",
                 program: str = "smtp") -> str:
    return (f"{at} mail postfix/{program}[4]: {qid}: to=<x@example.com>, relay=mx.example.com[198.51.100.1]:25, "
            f"delay=1, delays=0.1/0/0.4/0.5, dsn={dsn}, status={status} ({text})")


# ---- the fixtures, read and mapped ----------------------------------------------------------
def test_accounting_records_rejects_and_notes(env):
    m = map_export("postfix", CLASSIC)
    # records = delivery-status lines of real sends; read = landed + rejected
    assert (m.events_read, m.events_landed, len(m.rejects)) == (17, 15, 2)
    assert [(r.number, r.field) for r in m.rejects] == [(40, "status"), (47, "queue_id")]
    assert m.rejects[0].reason.startswith("no status= in the delivery-status line")
    assert "0C1D2E3F4A has no from= line" in m.rejects[1].reason
    lines = CLASSIC.read_text().split("\n")
    assert json.loads(m.rejects[0].raw) == lines[39]  # the line itself, as a JSON string
    events = postfix.read(CLASSIC)
    assert events.counts == {"context": 38, "notification": 2, "probe": 1, "hop": 0, "noqueue": 1,
                             "other": 6, "not_postfix": 1, "not_syslog": 0}
    assert len(events.notes) == 1 and "1 address verification probes" in events.notes[0]
    r = map_export("postfix", RFC3339)
    assert (r.events_read, r.events_landed, len(r.rejects)) == (3, 3, 0)
    assert postfix.read(RFC3339).counts["hop"] == 1


def test_outcomes_per_recipient(env):
    got = _by_message(map_export("postfix", CLASSIC))
    assert got == {
        "spring.1@shop.example:alice@example.com": [("delivered", None)],
        "spring.1@shop.example:bob@example.net": [("hard_bounce", None)],  # 5.1.1 user unknown
        "spring.1@shop.example:carol@example.org": [("expired", "refused")],  # 5.7.1 blocked: not the address
        "spring.1@shop.example:mallory@nonexistent.example": [("hard_bounce", None)],  # 5.4.4 no such domain
        "spring.1@shop.example:oscar@blocked.example": [("expired", None)],  # error transport, relay's own rule
        "spring.2@shop.example:dave@example.com": [("soft_bounce", None), ("delivered", None)],
        "spring.3@shop.example:frank@example.net": [("delivered", None)],
        "spring.3@shop.example:erin@example.com": [("soft_bounce", None)] * 3 + [("expired", None)],
        "inv-2026-0042@shop.example:grace@example.com": [("delivered", None)],
        "inv-2026-0042@shop.example:ivan@example.com": [("expired", None)],  # 5.2.2 mailbox full: not hard
        "postfix:mail:3F1A2B4C5D:2026-03-03T08:00:01Z:alice@example.com": [("delivered", None)],
    }


def test_multiple_recipients_share_the_queue_messages_relay_and_key(env):
    m = map_export("postfix", CLASSIC)
    spring1 = [r for r in m.send_log if r["message_id"].startswith("spring.1@shop.example:")]
    assert len(spring1) == 5
    # relayed when qmgr took the message into the active queue (09:00:00), not at each delivery
    assert {(r["relayed_at"], r["delivery_id"]) for r in spring1} == {(datetime(2026, 3, 2, 9, 0), "spring-sale:2026-03-02")}
    assert {r["address"] for r in spring1} == {"alice@example.com", "bob@example.net", "carol@example.org",
                                               "mallory@nonexistent.example", "oscar@blocked.example"}


def test_a_reused_queue_id_is_a_new_message(env):
    m = map_export("postfix", CLASSIC)
    alice = {r["message_id"]: r for r in m.send_log if r["address"] == "alice@example.com"}
    # 3F1A2B4C5D: removed on Mar 2, reused on Mar 3 by a message without a Message-ID header
    # (cleanup logged message-id=<>): host, queue id and first-seen time make its id
    assert set(alice) == {"spring.1@shop.example:alice@example.com",
                          "postfix:mail:3F1A2B4C5D:2026-03-03T08:00:01Z:alice@example.com"}
    later = alice["postfix:mail:3F1A2B4C5D:2026-03-03T08:00:01Z:alice@example.com"]
    assert (later["relayed_at"], later["delivery_id"]) == (datetime(2026, 3, 3, 8, 0, 2), "spring-sale:2026-03-03")


def test_deferrals_count_attempts_and_the_expiry_follows_the_last_one(env):
    m = map_export("postfix", CLASSIC)
    erin = sorted((r for r in m.feedback if r["message_id"].endswith(":erin@example.com")), key=lambda r: r["event_at"])
    assert [(r["outcome"], r["attempt"]) for r in erin] == [
        ("soft_bounce", 1), ("soft_bounce", 2), ("soft_bounce", 3), ("expired", 3)]
    # the last deferral and the expiry share a second in the log: the expiry is placed 1 us later
    assert erin[2]["event_at"] == datetime(2026, 3, 3, 9, 2, 35)
    assert erin[3]["event_at"] == datetime(2026, 3, 3, 9, 2, 35, 1)
    assert erin[3]["diagnostic"] == ("status=expired, returned to sender; last deferral: 4.4.1 connect to "
                                     "mx.example.com[198.51.100.41]:25: Connection timed out")
    assert erin[3]["smtp_code"] == "4.4.1"
    # frank (same queue id, delivered first time) is not expired
    assert [r["outcome"] for r in m.feedback if r["message_id"].endswith(":frank@example.net")] == ["delivered"]
    dave = sorted((r for r in m.feedback if r["message_id"].endswith(":dave@example.com")), key=lambda r: r["event_at"])
    assert [(r["outcome"], r["attempt"], r["smtp_code"]) for r in dave] == [("soft_bounce", 1, "450"), ("delivered", 2, "250")]


def test_diagnostics_carry_the_reply_code_and_the_enhanced_code(env):
    m = map_export("postfix", CLASSIC)
    fb = {r["message_id"].rsplit(":", 1)[1]: r for r in m.feedback if r["outcome"] != "soft_bounce"}
    assert (fb["bob@example.net"]["smtp_code"], fb["bob@example.net"]["diagnostic"]) == (
        "550", "550 5.1.1 <Bob@Example.NET>: Recipient address rejected: User unknown in virtual mailbox table "
               "(in reply to RCPT TO command)")
    # Postfix's own text (no remote reply): the enhanced code in front, and as the code
    assert (fb["mallory@nonexistent.example"]["smtp_code"], fb["mallory@nonexistent.example"]["diagnostic"]) == (
        "5.4.4", "5.4.4 Host or domain name not found. Name service error for name=nonexistent.example type=A: "
                 "Host not found")
    assert fb["carol@example.org"]["diagnostic"].startswith("554 5.7.1 Service unavailable; Client host")
    assert fb["alice@example.com"]["diagnostic"].startswith("250 2.0.0 OK")
    # a reply without an enhanced code gets Postfix's dsn= inserted after the reply code
    assert postfix.response("5.0.0", "host mx.example[192.0.2.1] said: 550 No such user here "
                                     "(in reply to RCPT TO command)") == (
        "550", "550 5.0.0 No such user here (in reply to RCPT TO command)")


def test_the_default_key_header_then_postfix(env):
    m = map_export("postfix", CLASSIC)
    keys = {r["delivery_id"] for r in m.send_log}
    assert keys == {"spring-sale:2026-03-02", "spring-sale:2026-03-03", "postfix:2026-03-02"}
    parents = {d["delivery_id"]: d["parent_delivery_id"] for d in m.deliveries}
    assert parents == {"spring-sale": None, "spring-sale:2026-03-02": "spring-sale",
                       "spring-sale:2026-03-03": "spring-sale", "postfix": None, "postfix:2026-03-02": "postfix"}
    # the sender address is never the default key
    assert not any("@" in k for k in keys)


def test_rfc3339_offsets_long_queue_ids_and_the_utc_day(env):
    m = map_export("postfix", RFC3339)
    rows = {r["message_id"]: r for r in m.send_log}
    nina = rows["march.1@shop.example:nina@example.com"]
    # 00:30:00.25 at +01:00 is 23:30:00.25 UTC the day before: that UTC day's execution
    assert (nina["relayed_at"], nina["delivery_id"]) == (datetime(2026, 3, 2, 23, 30, 0, 250000), "march-news:2026-03-02")
    fb = {r["message_id"]: r for r in m.feedback}
    assert fb["march.1@shop.example:nina@example.com"]["event_at"] == datetime(2026, 3, 2, 23, 30, 1, 400512)
    assert fb["march.1@shop.example:oliver@example.net"]["outcome"] == "soft_bounce"  # still retrying


def test_a_content_filter_hand_off_is_followed_to_the_real_delivery(env):
    m = map_export("postfix", RFC3339)
    peggy = [r for r in m.feedback if r["message_id"].endswith(":peggy@example.com")]
    # the hop to amavis (relay 127.0.0.1:10024, "queued as 4Wb8Kq4Tf9zHv5") is not the delivery:
    # the re-queued message's bounce is, under the same Message-ID, with the first queue entry's
    # header key (header_checks ran only on the first pass) and relay time
    assert [(r["message_id"], r["outcome"], r["smtp_code"]) for r in peggy] == [
        ("march.2@shop.example:peggy@example.com", "hard_bounce", "550")]
    (row,) = [r for r in m.send_log if r["address"] == "peggy@example.com"]
    assert (row["delivery_id"], row["relayed_at"]) == ("march-news:2026-03-03", datetime(2026, 3, 3, 9, 0, 0, 200000))


def test_a_retry_of_a_message_queued_before_the_file_starts(env, tmp_path):
    # rotated logs: the message's first lines are in yesterday's file; today's has the retry
    lines = [
        "Mar  3 06:00:00 mail postfix/qmgr[3]: 1122334455: from=<news@shop.example>, size=9, nrcpt=1 (queue active)",
        "Mar  3 06:00:31 mail postfix/smtp[4]: 1122334455: to=<r@example.com>, relay=mx.example.com[198.51.100.1]:25, "
        "delay=75631, delays=75600/0.01/30/0, dsn=2.0.0, status=sent (250 2.0.0 Ok)",
    ]
    m = map_export("postfix", _write(tmp_path, "m", lines))
    (row,) = m.send_log
    # relayed when it arrived, as delay= says (06:00:31 - 75631 s), not at today's retry
    assert row["relayed_at"] == datetime(2026, 3, 2, 9, 0)
    assert row["delivery_id"] == "postfix:2026-03-02"


# ---- timestamps: year and time zone ------------------------------------------------------
def test_the_year_comes_from_the_setting_or_the_files_modification_time(env, tmp_path):
    path = _write(tmp_path, "maillog", [*QUEUED, _status_line("sent", "250 2.0.0 Ok")])
    assert map_export("postfix", path).feedback[0]["event_at"] == datetime(2026, 3, 2, 9, 0, 2)
    env.delenv(postfix.YEAR_ENV)
    os.utime(path, (datetime(2024, 6, 1).timestamp(),) * 2)
    assert map_export("postfix", path).feedback[0]["event_at"] == datetime(2024, 3, 2, 9, 0, 2)
    # a file modified in January holding lines of March: they are from the year before
    os.utime(path, (datetime(2025, 1, 10).timestamp(),) * 2)
    assert map_export("postfix", path).feedback[0]["event_at"] == datetime(2024, 3, 2, 9, 0, 2)
    env.setenv(postfix.YEAR_ENV, "twenty")
    with pytest.raises(IngestError, match="four-digit year"):
        map_export("postfix", path)


def test_the_year_rolls_over_when_months_go_backwards(env, tmp_path):
    lines = [
        "Dec 31 23:59:58 mail postfix/qmgr[3]: ABCDEF1234: from=<news@shop.example>, size=1, nrcpt=2 (queue active)",
        "Dec 31 23:59:59 mail postfix/smtp[4]: ABCDEF1234: to=<a@example.com>, relay=mx[192.0.2.1]:25, delay=1, "
        "delays=0/0/0/1, dsn=4.4.2, status=deferred (lost connection with mx[192.0.2.1] while receiving the "
        "initial server greeting)",
        "Jan  1 00:00:01 mail postfix/smtp[4]: ABCDEF1234: to=<b@example.com>, relay=mx[192.0.2.1]:25, delay=3, "
        "delays=0/0/0/3, dsn=2.0.0, status=sent (250 ok)",
        # written a moment late by another process: still the old year, not the next December
        "Dec 31 23:59:59 mail postfix/smtp[5]: ABCDEF1234: to=<c@example.com>, relay=mx[192.0.2.1]:25, delay=1, "
        "delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
        "Jan  1 00:10:00 mail postfix/smtp[4]: ABCDEF1234: to=<a@example.com>, relay=mx[192.0.2.1]:25, delay=602, "
        "delays=600/0/0/2, dsn=2.0.0, status=sent (250 ok)",
    ]
    env.setenv(postfix.YEAR_ENV, "2025")
    got = [r["event_at"] for r in sorted(map_export("postfix", _write(tmp_path, "m", lines)).feedback,
                                         key=lambda r: r["_row"])]
    assert got == [datetime(2025, 12, 31, 23, 59, 59), datetime(2026, 1, 1, 0, 0, 1),
                   datetime(2025, 12, 31, 23, 59, 59), datetime(2026, 1, 1, 0, 10)]
    # without the setting, the last line is not after the file's modification time
    env.delenv(postfix.YEAR_ENV)
    path = _write(tmp_path, "m2", lines)
    os.utime(path, (datetime(2026, 1, 1, 0, 10, 5).timestamp(),) * 2)
    assert min(r["event_at"] for r in map_export("postfix", path).feedback) == datetime(2025, 12, 31, 23, 59, 59)


def test_the_time_zone_of_timestamps_without_an_offset(env, tmp_path):
    path = _write(tmp_path, "maillog", [*QUEUED, _status_line("sent", "250 2.0.0 Ok")])
    env.setenv(postfix.TZ_ENV, "Europe/Paris")  # CET in March: UTC+1
    m = map_export("postfix", path)
    assert m.feedback[0]["event_at"] == datetime(2026, 3, 2, 8, 0, 2)
    assert m.send_log[0]["relayed_at"] == datetime(2026, 3, 2, 8, 0, 1)
    env.setenv(postfix.TZ_ENV, "-05:00")
    assert map_export("postfix", path).feedback[0]["event_at"] == datetime(2026, 3, 2, 14, 0, 2)
    # an RFC 3339 offset wins over the setting
    assert map_export("postfix", RFC3339).send_log[0]["relayed_at"] == datetime(2026, 3, 2, 23, 30, 0, 250000)
    env.setenv(postfix.TZ_ENV, "Mars/Olympus_Mons")
    with pytest.raises(IngestError, match="not a time zone"):
        map_export("postfix", path)


# ---- the delivery key ----------------------------------------------------------------------
def test_the_sender_pattern_and_a_configured_header(env, tmp_path):
    no_header = [QUEUED[0], QUEUED[2], QUEUED[3], _status_line("sent", "250 2.0.0 Ok")]
    path = _write(tmp_path, "m", no_header)
    assert map_export("postfix", path).send_log[0]["delivery_id"] == "postfix:2026-03-02"
    env.setenv(postfix.SENDER_PATTERN_ENV, r"^news\+([^@]+)@")
    assert map_export("postfix", path).send_log[0]["delivery_id"] == "promo7:2026-03-02"
    # the logged header wins over the sender pattern (DEFAULT_DELIVERY_FIELDS order)
    both = _write(tmp_path, "m2", [*QUEUED, _status_line("sent", "250 2.0.0 Ok")])
    assert map_export("postfix", both).send_log[0]["delivery_id"] == "promo-7:2026-03-02"
    # a configured field: header names are case-insensitive
    assert map_export("postfix", both, delivery_field="header.X-CAMPAIGN").send_log[0]["delivery_id"] == \
        "promo-7:2026-03-02"
    assert map_export("postfix", both, delivery_field="sasl_username,queue_id").send_log[0]["delivery_id"] == \
        "ABCDEF1234:2026-03-02"
    env.setenv(postfix.SENDER_PATTERN_ENV, r"^news")
    with pytest.raises(IngestError, match="first group"):
        map_export("postfix", path)


# ---- line shapes -----------------------------------------------------------------------------
def test_failure_classification():
    cases = {  # (dsn, diagnostic): (outcome, reason)
        ("5.1.1", "550 5.1.1 <a@b.example>: Recipient address rejected: User unknown"): ("hard_bounce", None),
        ("5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found"): ("hard_bounce", None),
        ("5.1.8", "553 5.1.8 <s@shop.example>: Sender address rejected: Domain not found"): ("expired", None),
        ("5.1.0", "550 5.1.0 Sender rejected: unverified"): ("expired", None),
        ("5.1.4", "550 5.1.4 Destination mailbox address ambiguous"): ("expired", None),
        ("5.7.13", "550 5.7.13 User account disabled"): ("hard_bounce", None),  # RFC 7372
        ("5.7.1", "550 5.7.1 <a@b.example>: Recipient address rejected: User unknown"): ("expired", "refused"),
        ("5.2.1", "550-5.2.1 The email account that you tried to reach is disabled"): ("hard_bounce", None),
        ("5.2.2", "552 5.2.2 Mailbox full"): ("expired", None),
        ("5.7.1", "550 5.7.1 Message rejected as spam"): ("expired", "refused"),
        ("5.7.26", "550 5.7.26 This mail is unauthenticated"): ("expired", "refused"),
        ("5.6.0", "550 5.6.0 lines too long"): ("expired", "refused"),
        ("5.0.0", "554 Service unavailable; Client host [192.0.2.25] blocked using zen.spamhaus.org"):
            ("expired", "refused"),
        ("5.0.0", "550 No such user here"): ("hard_bounce", None),
        ("5.0.0", "5.0.0 unknown user: \"foo\""): ("hard_bounce", None),  # postfix/local
        ("5.5.0", "550 5.5.0 Requested action not taken: mailbox unavailable"): ("hard_bounce", None),
        ("5.4.1", "550 5.4.1 Recipient address rejected: Access denied"): ("hard_bounce", None),  # Microsoft DBEB
        ("5.4.4", "5.4.4 Host or domain name not found. Name service error for name=x.example type=A: Host not found"):
            ("hard_bounce", None),
        ("5.4.6", "5.4.6 mail for shop.example loops back to myself"): ("expired", None),
        ("5.3.4", "552 5.3.4 Message size exceeds fixed limit"): ("expired", None),
        ("5.0.0", "5.0.0 mail for blocked.example is not accepted"): ("expired", None),  # a name is no word
        (None, "554 5.7.1 Relay access denied"): ("expired", "refused"),  # old Postfix: no dsn=
    }
    for (dsn, diag), expected in cases.items():
        assert postfix.final_failure(dsn, diag) == expected, (dsn, diag)


def test_status_words_and_odd_lines(env, tmp_path):
    lines = [
        *QUEUED,
        _status_line("SOFTBOUNCE", "host mx.example.com[198.51.100.1] said: 550 5.1.1 unknown (in reply to RCPT TO "
                                   "command)", dsn="4.1.1"),
        _status_line("frobbed", "what is this", at="Mar  2 09:00:03"),
        "Mar  2 09:00:04 mail postfix/smtp[4]: ABCDEF1234: to=<x@example.com, relay=mx.example.com",
        "no syslog header: ABCDEF1234: to=<x@example.com>, relay=none, dsn=2.0.0, status=sent (ok)",
        "Feb 30 09:00:05 mail postfix/smtp[4]: ABCDEF1234: to=<x@example.com>, relay=none, delay=1, delays=0/0/0/1, "
        "dsn=2.0.0, status=sent (250 ok)",
        _status_line("sent", "250 ok", dsn="2.0", at="Mar  2 09:00:06"),
        "Mar  2 09:00:07 mail postfix/qmgr[3]: ABCDEF1234: from=<news+promo7@shop.example>, "
        "status=force-expired, returned to sender",
        "Mar  2 09:00:08 mail postfix/qmgr[3]: ABCDEF1234: removed",
    ]
    m = map_export("postfix", _write(tmp_path, "m", lines))
    assert [(r.number, r.field) for r in m.rejects] == [(6, "status"), (7, "to"), (8, "timestamp"), (9, "timestamp"),
                                                        (10, "dsn")]
    assert "day is out of range" in m.rejects[3].reason
    assert "unsupported status 'frobbed'" in m.rejects[0].reason
    assert m.events_read == 7 and m.events_landed == 2
    assert [(r["outcome"], r["attempt"]) for r in sorted(m.feedback, key=lambda r: r["event_at"])] == [
        ("soft_bounce", 1), ("expired", 1)]  # SOFTBOUNCE (soft_bounce = yes) retries; force-expired is final


def test_probes_notifications_and_filters_are_not_sends(env, tmp_path):
    lines = [
        *QUEUED,
        _status_line("undeliverable", "host mx.example.com[198.51.100.1] said: 550 5.1.1 unknown", dsn="5.1.1"),
        "Mar  2 09:00:03 mail postfix/qmgr[3]: FEDCBA9876: from=<>, size=9, nrcpt=1 (queue active)",
        _status_line("sent", "250 ok", qid="FEDCBA9876"),
        "Mar  2 09:00:04 mail postfix/smtpd[1]: NOQUEUE: reject: RCPT from x[203.0.113.9]: 554 5.7.1 <v@elsewhere>: "
        "Relay access denied; from=<s@spam.example> to=<v@elsewhere> proto=ESMTP helo=<x>",
        "Mar  2 09:00:05 mail dovecot: lmtp(x@example.com): saved mail to INBOX",
    ]
    events = postfix.read(_write(tmp_path, "m", lines))
    assert len(events) == 0
    assert (events.counts["probe"], events.counts["notification"], events.counts["noqueue"],
            events.counts["not_postfix"]) == (1, 1, 1, 1)


def test_a_gzip_rotated_log_reads_the_same(env, tmp_path):
    path = tmp_path / "maillog.1.gz"
    path.write_bytes(gzip.compress(CLASSIC.read_bytes()))
    a, b = map_export("postfix", CLASSIC), map_export("postfix", path)
    assert (a.events_read, a.events_landed, len(a.feedback)) == (b.events_read, b.events_landed, len(b.feedback))


# ---- end to end ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Scenario:
    s = Scenario(tmp_path_factory.mktemp("postfix") / "home")
    with pytest.MonkeyPatch.context() as mp:
        for name in ENV:
            mp.delenv(name, raising=False)
        mp.setenv(postfix.YEAR_ENV, "2026")
        s.outcomes = {p.name: pipeline.ingest(s.settings, "", [p], source="postfix")[0] for p in (CLASSIC, RFC3339)}
    s.build(AS_OF)
    return s


def _statuses(s: Scenario) -> dict[str, tuple[str, str]]:
    rows = s.query("select message_id, reporting_mode, status, failure_type, failure_reason "
                   "from marts.fct_message_status where message_id in (select message_id from staging.stg_send_log "
                   "where delivery_id like 'spring-sale%' or delivery_id like 'march-news%' "
                   "or delivery_id like 'postfix%')")
    out: dict[str, dict[str, str]] = {}
    for r in rows:
        label = r["status"] if r["status"] != "failed" else f"{r['failure_type']}:{r['failure_reason']}"
        key = r["message_id"] if r["message_id"].startswith("postfix:") else r["message_id"].rsplit(":", 1)[1]
        out.setdefault(key, {})[r["reporting_mode"]] = label
    return {k: (v["standard"], v["efs"]) for k, v in out.items()}


def test_statuses_in_both_modes(home):
    got = _statuses(home)
    types = {k: (a.split(":")[0], b.split(":")[0]) for k, (a, b) in got.items()}
    assert types == {
        "alice@example.com": ("sent", "sent"),
        "postfix:mail:3F1A2B4C5D:2026-03-03T08:00:01Z:alice@example.com": ("sent", "sent"),
        "bob@example.net": ("hard", "hard"),  # 5.1.1
        "carol@example.org": ("soft", "soft"),  # 5.7.1 spam block: final, not hard
        "mallory@nonexistent.example": ("hard", "hard"),  # 5.4.4
        "oscar@blocked.example": ("soft", "soft"),
        "dave@example.com": ("sent", "sent"),  # deferred, then sent
        "frank@example.net": ("sent", "sent"),
        "erin@example.com": ("soft", "soft"),  # deferred three times, then expired: final
        "grace@example.com": ("sent", "sent"),
        "ivan@example.com": ("soft", "soft"),  # 5.2.2 mailbox full, bounced
        "nina@example.com": ("sent", "sent"),
        "oliver@example.net": ("sent", "soft"),  # deferred, retrying: never final
        "peggy@example.com": ("hard", "hard"),  # 5.2.1 disabled, after the content filter
    }
    assert got["carol@example.org"] == ("soft:refused", "soft:refused")
    # heidi's status line was truncated, ken's had no context: no message for them
    assert not any(k.startswith(("heidi", "ken")) for k in got)


def test_a_policy_bounce_never_quarantines(home):
    q = {r["address"]: r["is_quarantined"] for r in home.query(
        "select address, is_quarantined from marts.dim_address_quarantine")}
    assert q["bob@example.net"] is True and q["mallory@nonexistent.example"] is True
    assert q["peggy@example.com"] is True
    for address in ("carol@example.org", "oscar@blocked.example", "erin@example.com", "ivan@example.com",
                    "dave@example.com", "alice@example.com"):
        assert q[address] is False, address
    assert home.one("select error_count from marts.dim_address_quarantine where address = 'carol@example.org'") == {
        "error_count": 0}


def test_accounting_and_the_rejected_lines(home):
    expected = {"maillog": (17, 15, 2), "maillog-rfc3339": (3, 3, 0)}
    for name, (read, landed, rejected) in expected.items():
        o = home.outcomes[name]
        assert (o.status, o.rows_read, o.rows_landed, o.rows_rejected) == ("landed", read, landed, rejected), name
    batches = {r["file"].rsplit("/", 1)[-1]: r for r in home.query(
        "select file, rows_read, rows_landed, rows_rejected from audit.ingest_batches where kind = 'postfix'")}
    assert {n: (b["rows_read"], b["rows_landed"], b["rows_rejected"]) for n, b in batches.items()} == expected
    rej = home.query("select row_number, field, reason, raw_record from audit.rejected_rows "
                     "where kind = 'postfix' order by row_number")
    assert [(r["row_number"], r["field"]) for r in rej] == [(40, "status"), (47, "queue_id")]
    assert "heidi@example.com" in json.loads(rej[0]["raw_record"])


def test_executions_per_utc_day_under_each_key(home):
    rows = home.query("select delivery_id, parent_delivery_id from staging.stg_deliveries "
                      "where delivery_id like 'spring-sale%' or delivery_id like 'march-news%' "
                      "or delivery_id like 'postfix%' order by delivery_id")
    executions = {r["delivery_id"] for r in rows if r["parent_delivery_id"] is not None}
    parents = {r["delivery_id"] for r in rows if r["parent_delivery_id"] is None}
    assert parents == {"spring-sale", "march-news", "postfix"}
    assert executions == {"spring-sale:2026-03-02", "spring-sale:2026-03-03", "march-news:2026-03-02",
                          "march-news:2026-03-03", "postfix:2026-03-02"}
    for mode in ("standard", "efs"):  # no spring-sale message is still retrying: both modes agree
        k = home.one("select to_deliver, delivered, bounces_errors, hard_bounces from marts.rpt_delivery_kpis "
                     "where delivery_id = 'spring-sale' and reporting_mode = ?", [mode])
        assert k == {"to_deliver": 9, "delivered": 4, "bounces_errors": 5, "hard_bounces": 2}, mode
