"""Bounce qualification (issue 19, docs/bounce-qualification.md) end to end: failures whose
feed gives no reason take the reason of the first matching rule of
seeds/bounce_qualification.csv, through the real pipeline (files -> lake -> dbt on DuckDB).

Real diagnostic strings only: those of the provider fixtures (tests/fixtures/esp, checked to
be there verbatim) and the documented examples of Gmail, Microsoft and Yahoo (each cited),
plus the RFC 3463 / RFC 5321 codes alone. One module-scoped build reads them all.

Delivery d1: email with EFS, contact 2026-03-01 08:00 (validity_end 2026-03-04 20:00), every
message relayed at 08:00 and bounced at 09:00; the build's as_of 2026-03-05 12:00, so every
soft bounce has also failed in standard mode (validity ended). Delivery dq: one message a day
to two addresses, 2026-02-01 .. 02-05, for the quarantine.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sendlens import incremental
from sendlens.config import PROJECT_DIR, load_settings
from tests.scenario import Scenario, ts

AS_OF = "2026-03-05T12:00:00Z"
FIXTURES = Path(__file__).parent / "fixtures" / "esp"
GMAIL = "Gmail SMTP errors and codes, support.google.com/a/answer/3726730"
MICROSOFT = "Exchange Online NDRs, learn.microsoft.com/exchange/troubleshoot/email-delivery/ndr/non-delivery-reports-in-exchange-online"
OUTLOOK = "Outlook.com postmaster troubleshooting, sendersupport.olc.protection.outlook.com/pm/troubleshooting.aspx"
YAHOO = "Yahoo Sender Hub SMTP error codes, senders.yahooinc.com/smtp-error-codes"

# (case, where the text comes from, outcome, smtp_code, diagnostic, the reason it must read)
CASES: list[tuple[str, str, str, str | None, str, str]] = [
    # the provider fixtures, as their mappers carry them into feedback
    ("mg-quota", "mailgun.jsonl", "soft_bounce", "452", "4.2.2 The email account that you tried to reach is over quota.", "mailbox full"),
    ("mg-unknown", "mailgun.jsonl", "hard_bounce", "550", "5.1.1 The email account that you tried to reach does not exist.", "user unknown"),
    ("mg-timeout", "mailgun.jsonl", "soft_bounce", "421", "4.4.2 Connection timed out", "unreachable"),
    ("pm-unknown", "postmark.jsonl", "hard_bounce", "550", "smtp;550 5.1.1 The email account that you tried to reach does not exist.", "user unknown"),
    ("pm-dns", "postmark.jsonl", "soft_bounce", "451", "smtp;451 4.4.0 DNS resolution failed", "invalid domain"),
    ("pm-spamhaus", "postmark.jsonl", "hard_bounce", "554", "smtp;554 5.7.1 Service unavailable; client host blocked using Spamhaus", "refused"),
    ("sg-later", "sendgrid.json", "soft_bounce", "421", "421 4.7.0 Try again later, closing connection.", "refused"),
    ("sg-spamhaus", "sendgrid.json", "hard_bounce", "554", "554 5.7.1 Service unavailable; Client host [168.1.1.1] blocked using Spamhaus", "refused"),
    ("sg-expired", "sendgrid.json", "expired", "421", "421 4.4.2 Connection timed out; message expired after 72 hours of deferrals", "unreachable"),
    ("ses-domain", "ses-sns.jsonl", "hard_bounce", "550", "smtp; 550 5.1.2 Host or domain name not found", "invalid domain"),
    ("ses-unknown", "ses.jsonl", "hard_bounce", "550", "smtp; 550 5.1.1 user unknown", "user unknown"),
    ("ses-full", "ses.jsonl", "soft_bounce", "452", "smtp; 452 4.2.2 Mailbox full", "mailbox full"),
    ("ses-timeout", "ses.jsonl", "soft_bounce", "421", "smtp; 421 4.4.1 Connection timed out", "unreachable"),
    ("sp-unknown", "sparkpost.json", "hard_bounce", "550", "550 5.1.1 <k7@example.com>: Recipient address rejected: User unknown", "user unknown"),
    ("sp-policy", "sparkpost.json", "hard_bounce", "554", "554 5.7.1 Message rejected due to local policy", "refused"),
    ("sp-render", "sparkpost.json", "hard_bounce", "554", "554 5.3.3 [internal] Error while rendering part html: substitution value 'first_name' did not match the expected type", "refused"),
    # Gmail's documented replies, as a receiving MTA logs them (multi-line replies flattened)
    ("g-unknown", GMAIL, "hard_bounce", "550", "550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 unnecessary spaces. For more information, go to 550 5.1.1 https://support.google.com/mail/?p=NoSuchUser p140si105618wmd.67 - gsmtp", "user unknown"),
    ("g-domain", GMAIL, "hard_bounce", "553", "553-5.1.2 We weren't able to find the recipient domain. Please check for any spelling errors", "invalid domain"),
    ("g-inactive", GMAIL, "hard_bounce", "550", "550-5.2.1 The email account that you tried to reach is inactive. For more information, go to https://support.google.com/mail/?p=DisabledUser", "account disabled"),
    ("g-storage", GMAIL, "soft_bounce", "452", "452-4.2.2 The recipient's inbox is out of storage space. Please direct the recipient to 452 4.2.2 https://support.google.com/mail/?p=OverQuotaTemp z12si998wra.1 - gsmtp", "mailbox full"),
    ("g-overquota", GMAIL, "hard_bounce", "552", "552-5.2.2 The email account that you tried to reach is over quota. Please direct 552 5.2.2 the recipient to https://support.google.com/mail/?p=OverQuotaPerm", "mailbox full"),
    ("g-rate", GMAIL, "soft_bounce", "450", "450-4.2.1 The user you are trying to contact is receiving mail at a rate that\r\n450-4.2.1 prevents additional messages from being delivered. Please resend your\r\n450-4.2.1 message at a later time.", "refused"),
    ("g-unsolicited", GMAIL, "hard_bounce", "550", "550-5.7.1 [2001:8d8:9b5:5700::a6:8a23 12] Our system has detected that this message is\n550-5.7.1 likely unsolicited mail. To reduce the amount of spam sent to Gmail,\n550-5.7.1 this message has been blocked. r128si5261221lfr.351 - gsmtp", "refused"),
    ("g-blocked", GMAIL, "hard_bounce", "552", "552 5.7.0 This message was blocked because its content presents a potential security issue.", "refused"),
    ("g-unusual", GMAIL, "soft_bounce", "421", "421-4.7.28 Gmail has detected an unusual rate of unsolicited email originating from your IP address 192.0.2.25. To protect our users from spam, email sent from your IP address has been temporarily rate limited.", "refused"),
    ("g-busy", GMAIL, "soft_bounce", "421", "421 4.7.0 Connection expired, try reconnecting. For more information, go to About SMTP error messages.", "unreachable"),
    # Microsoft 365 / Outlook.com
    ("ms-notfound", MICROSOFT, "hard_bounce", "550", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", "user unknown"),
    ("ms-recipnotfound", MICROSOFT, "hard_bounce", "550", "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found", "user unknown"),
    ("ms-unavailable", OUTLOOK, "hard_bounce", "550", "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [BN1NAM02FT045.eop-nam02.prod.protection.outlook.com]", "user unknown"),
    ("ms-s3150", OUTLOOK, "hard_bounce", "550", "550 5.7.1 Unfortunately, messages from [192.0.2.5] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150). You can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors.", "refused"),
    ("ms-dbeb", MICROSOFT, "hard_bounce", "550", "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [DB5EUR03FT024.eop-EUR03.prod.protection.outlook.com]", "user unknown"),
    ("pf-access", "a Postfix access map (check_recipient_access)", "hard_bounce", "554", "554 5.7.1 <gratnam1@example.com>: Recipient address rejected: Access denied", "refused"),
    ("ms-banned", MICROSOFT, "hard_bounce", "550", "550 5.7.606 Access denied, banned sending IP [192.0.2.45]. To request removal from this list please visit https://sender.office.com/", "refused"),
    ("ms-disabled", MICROSOFT, "hard_bounce", "550", "550 5.7.13 STOREDRV.Deliver.Exception:AccountDisabledException.MapiExceptionADUserDisabledAndHidden", "account disabled"),
    ("ms-quota", MICROSOFT, "hard_bounce", "554", "554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded", "mailbox full"),
    # Yahoo
    ("y-noaccount", YAHOO, "hard_bounce", "554", "554 delivery error: dd This user doesn't have a yahoo.com account (testing123@yahoo.com) [-5] - mta123.mail.mud.yahoo.com", "user unknown"),
    ("y-notfound", YAHOO, "hard_bounce", "552", "552 1 Requested mail action aborted, mailbox not found", "user unknown"),
    ("y-tss04", YAHOO, "soft_bounce", "421", "421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes", "refused"),
    ("y-tss09", YAHOO, "hard_bounce", "553", "553 5.7.2 [TSS09] All messages from 192.0.2.25 will be permanently deferred; Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes", "refused"),
    ("y-disabled", YAHOO, "hard_bounce", "554", "554 30 Sorry, your message to someone@aol.jp cannot be delivered. This mailbox is disabled (554.30)", "account disabled"),
    ("y-resources", YAHOO, "soft_bounce", "421", "421 Resources temporarily unavailable. Please try again later", "unreachable"),
    # RFC 3463 enhanced status codes alone (issue 19's list)
    ("x-5.1.1", "RFC 3463", "hard_bounce", None, "smtp; 550 5.1.1", "user unknown"),
    ("x-5.2.2", "RFC 3463", "hard_bounce", None, "smtp; 552 5.2.2", "mailbox full"),
    ("x-4.2.2", "RFC 3463", "soft_bounce", None, "smtp; 452 4.2.2", "mailbox full"),
    ("x-5.1.2", "RFC 3463", "hard_bounce", None, "smtp; 550 5.1.2", "invalid domain"),
    ("x-4.4.4", "RFC 3463", "soft_bounce", None, "smtp; 451 4.4.4", "invalid domain"),
    ("x-5.1.10", "RFC 7505", "hard_bounce", None, "smtp; 550 5.1.10", "invalid domain"),
    ("x-5.7.26", "RFC 7372", "hard_bounce", None, "smtp; 550 5.7.26", "refused"),
    ("x-4.4.1", "RFC 3463", "soft_bounce", None, "smtp; 421 4.4.1", "unreachable"),
    ("x-5.2.1", "RFC 3463", "hard_bounce", None, "smtp; 550 5.2.1", "account disabled"),
    ("x-smtp-code", "RFC 3463", "hard_bounce", "5.1.1", "Amazon SES did not send the message to this address", "user unknown"),
    # RFC 5321 reply codes alone
    ("r-421", "RFC 5321", "soft_bounce", "421", None, "unreachable"),
    ("r-452", "RFC 5321", "soft_bounce", "452", None, "mailbox full"),
    ("r-550", "RFC 5321", "hard_bounce", "550", None, "user unknown"),
    ("r-552", "RFC 5321", "hard_bounce", "552", None, "mailbox full"),
    ("r-554", "RFC 5321", "hard_bounce", "554", None, "refused"),
    ("r-556", "RFC 7504", "hard_bounce", "556", None, "invalid domain"),
]

UNMATCHED = "Frobnication of {address} failed at stage 42 (ref {ref})"
FOREIGN = {"bob.smith@example.org": "8d0f3a2c41be77", "alice.jones@example.net": "0c9e71d2aa55f3"}


def _book() -> tuple[list[dict], list[dict], list[dict]]:
    """send_log, feedback and quarantine rows of the scenario (deliveries are fixed)."""
    send_log, feedback = [], []

    def message(mid: str, address: str, delivery: str = "d1", relayed: str = "2026-03-01 08:00") -> str:
        send_log.append({"message_id": mid, "delivery_id": delivery, "profile_id": "p-" + mid,
                         "address": address, "relayed_at": relayed})
        return mid

    def event(eid: str, mid: str, outcome: str, at: str = "2026-03-01 09:00", **extra) -> None:
        feedback.append({"event_id": eid, "message_id": mid, "event_at": at, "outcome": outcome, **extra})

    for case, _, outcome, code, diagnostic, _ in CASES:
        event("f-" + case, message("m-" + case, case + "@example.com"), outcome,
              smtp_code=code, diagnostic=diagnostic)
    # a reason the feed gives wins over the rules (this text alone reads user unknown)
    event("f-feed", message("m-feed", "feed@example.com"), "hard_bounce", failure_reason="mailbox_full",
          smtp_code="550", diagnostic="550 5.1.1 The email account that you tried to reach does not exist.")
    # two failures no rule matches, differing only in an address and an id: one masked group
    for n, (address, ref) in enumerate(FOREIGN.items()):
        event(f"f-odd{n}", message(f"m-odd{n}", address), "hard_bounce",
              diagnostic=UNMATCHED.format(address=address, ref=ref))
    # a soft bounce qualified from Gmail's words, then an expiry no rule reads
    mid = message("m-retried", "retried@example.com")
    event("f-retried-1", mid, "soft_bounce", smtp_code="452",
          diagnostic="452-4.2.2 The recipient's inbox is out of storage space. Please direct the recipient")
    event("f-retried-2", mid, "expired", at="2026-03-04 20:00", diagnostic="Message expired after 5 delivery attempts")
    # KumoMTA's own expiry reply (docs/mta-mapping.md) after a Yahoo deferral: its 551 and
    # 5.4.7 say when the retries ended, not why, so the deferral's reason stays
    mid = message("m-kumo", "kumo@yahoo.com")
    event("f-kumo-1", mid, "soft_bounce", smtp_code="421",
          diagnostic="421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or user complaints")
    event("f-kumo-2", mid, "expired", at="2026-03-04 20:00", smtp_code="551",
          diagnostic="551 5.4.7 Next delivery time would be at 2026-03-04T20:10:00Z which exceeds the expiry time 2026-03-04T20:00:00Z")
    # quarantine: five counted soft bounces a day apart for each address, qualified as
    # mailbox full (released 30 days after the last) or not matched at all (never released)
    for day in range(1, 6):
        relayed = f"2026-02-0{day} 08:00"
        event(f"fq-full-{day}", message(f"mq-full-{day}", "full@gmail.com", "dq", relayed), "soft_bounce",
              at=f"2026-02-0{day} 09:00", smtp_code="452",
              diagnostic="452-4.2.2 The recipient's inbox is out of storage space. z12si998wra.1 - gsmtp")
        event(f"fq-odd-{day}", message(f"mq-odd-{day}", "odd@example.com", "dq", relayed), "soft_bounce",
              at=f"2026-02-0{day} 09:00", diagnostic=f"Frobnication deferred (ref {day}a{day}b{day}c)")
    return send_log, feedback


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Scenario:
    s = Scenario(tmp_path_factory.mktemp("qualification") / "home")
    s.ingest("deliveries", [
        {"delivery_id": "d1", "label": "March newsletter", "channel": "email", "contact_date": "2026-03-01 08:00",
         "efs_enabled": "true"},
        {"delivery_id": "dq", "label": "February daily", "channel": "email", "contact_date": "2026-02-01 08:00",
         "validity_hours": "120"},
    ])
    send_log, feedback = _book()
    s.ingest("send_log", send_log)
    s.ingest("feedback", feedback, fmt="jsonl")
    s.build(AS_OF)
    return s


def _reasons(s: Scenario, mode: str = "efs") -> dict[str, str | None]:
    return {r["message_id"]: r["failure_reason"] for r in s.query(
        "select message_id, failure_reason from marts.fct_message_status where reporting_mode = ?", [mode])}


def test_the_fixture_strings_are_real():
    for case, source, _, _, diagnostic, _ in CASES:
        if source.endswith((".json", ".jsonl")):
            assert diagnostic in (FIXTURES / source).read_text(), case


@pytest.mark.parametrize("mode", ["efs", "standard"])
def test_each_real_diagnostic_is_qualified(built, mode):
    reasons = _reasons(built, mode)
    wrong = {case: (reasons.get("m-" + case), want) for case, _, _, _, _, want in CASES
             if reasons.get("m-" + case) != want}
    assert wrong == {}


def test_the_rule_and_the_enhanced_code_are_kept(built):
    rows = {r["event_id"]: r for r in built.query(
        "select event_id, reason_source, qualification_rule_id, enhanced_code, diagnostic_pattern "
        "from intermediate.int_feedback_events")}
    assert all(rows["f-" + case]["reason_source"] == "rule" for case, *_ in CASES)
    assert rows["f-g-unknown"]["qualification_rule_id"] == "gmail-user-unknown"
    assert rows["f-y-notfound"]["qualification_rule_id"] == "yahoo-mailbox-not-found"  # not 552's mailbox full
    assert rows["f-ms-dbeb"]["qualification_rule_id"] == "microsoft-access-denied"  # not 5.4.1's unreachable
    assert rows["f-pm-dns"]["qualification_rule_id"] == "text-invalid-domain"  # the words before X.4.*
    assert (rows["f-x-5.1.10"]["qualification_rule_id"], rows["f-x-5.1.10"]["enhanced_code"]) == ("rfc7505-5.1.10", "5.1.10")
    assert rows["f-x-smtp-code"]["enhanced_code"] == "5.1.1"  # from smtp_code: the text has none
    assert rows["f-y-tss04"]["enhanced_code"] == "4.7.0"  # not Yahoo's 4.16.55.1
    # the text the rules read: the repeated line prefixes gone, the session id masked
    assert rows["f-g-unknown"]["diagnostic_pattern"].startswith(
        "550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking")
    assert rows["f-g-unknown"]["diagnostic_pattern"].endswith("<id> - gsmtp")


def test_a_reason_the_feed_gives_wins(built):
    assert _reasons(built)["m-feed"] == "mailbox full"
    row = built.one("select reason_source, qualification_rule_id, enhanced_code from intermediate.int_feedback_events "
                    "where event_id = 'f-feed'")
    assert row == {"reason_source": "feed", "qualification_rule_id": None, "enhanced_code": "5.1.1"}


def test_an_unmatched_failure_is_not_defined(built):
    reasons = _reasons(built)
    assert reasons["m-odd0"] == reasons["m-odd1"] == "not defined"
    assert {r["reason_source"] for r in built.query(
        "select reason_source from intermediate.int_feedback_events where event_id like 'f-odd%'")} == {"unmatched"}


def test_an_unmatched_expiry_takes_the_reason_of_its_retries(built):
    for mode in ("efs", "standard"):
        reasons = _reasons(built, mode)
        assert (reasons["m-retried"], reasons["m-kumo"]) == ("mailbox full", "refused"), mode
    expiries = {r["event_id"]: (r["failure_reason"], r["reason_source"], r["enhanced_code"]) for r in built.query(
        "select event_id, failure_reason, reason_source, enhanced_code from intermediate.int_feedback_events "
        "where event_id in ('f-retried-2', 'f-kumo-2')")}
    assert expiries == {"f-retried-2": (None, "unmatched", None), "f-kumo-2": (None, "unmatched", "5.4.7")}
    # nothing to qualify: the report of unqualified failures leaves them out
    listed = {r["diagnostic_pattern"] for r in built.query("select diagnostic_pattern from marts.rpt_unqualified_failures")}
    assert not any("expir" in (d or "").lower() for d in listed), listed


def test_unmatched_failures_are_reported_masked_most_frequent_first(built):
    rows = built.query("select * from marts.rpt_unqualified_failures order by failure_rank")
    odd = [r for r in rows if (r["diagnostic_pattern"] or "").startswith("Frobnication of")]
    assert len(odd) == 1  # the two texts differ only in masked parts
    row = odd[0]
    assert row["diagnostic_pattern"] == "Frobnication of <address> failed at stage 42 (ref <id>)"
    assert (row["failures"], row["messages"], row["deliveries"], row["recipient_domains"]) == (2, 2, 1, 2)
    assert (row["outcome"], row["failure_type"], row["channel"], row["smtp_code"], row["enhanced_code"]) == (
        "hard_bounce", "hard", "email", None, None)
    assert row["sample_diagnostic"] in {UNMATCHED.format(address="<address>", ref=ref) for ref in FOREIGN.values()}
    assert row["first_seen_at"] == row["last_seen_at"] == ts("2026-03-01 09:00")
    # the five quarantine soft bounces no rule reads (their refs masked)
    deferred = next(r for r in rows if r["diagnostic_pattern"] == "Frobnication deferred (ref <id>)")
    assert (deferred["failures"], deferred["outcome"], deferred["failure_type"]) == (5, "soft_bounce", "soft")
    # the unmatched expiries end retries that have a reason (their status takes it): not listed
    assert not [r for r in rows if r["outcome"] == "expired"]
    # most frequent first, ranked 1..n
    assert [r["failure_rank"] for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0]["diagnostic_pattern"] == "Frobnication deferred (ref <id>)"
    assert [r["failures"] for r in rows] == sorted((r["failures"] for r in rows), reverse=True)
    # qualified failures are not listed; no raw address in any text
    assert len(rows) == 2
    text = " ".join(str(v) for r in rows for v in r.values())
    assert "@" not in text
    assert all(r["as_of"] == ts(AS_OF) for r in rows)


def test_the_report_declares_its_free_text(built):
    declared = {(r["column_name"], r["personal_data"]) for r in built.query(
        "select column_name, personal_data from audit.personal_data_columns where table_name = 'rpt_unqualified_failures'")}
    assert declared == {("diagnostic_pattern", "free_text"), ("sample_diagnostic", "free_text")}


def test_quarantine_uses_the_qualified_reason(built):
    rows = {r["address"]: r for r in built.query(
        "select address, status, error_count, last_reason, release_at from marts.dim_address_quarantine "
        "where address in ('full@gmail.com', 'odd@example.com')")}
    full, odd = rows["full@gmail.com"], rows["odd@example.com"]
    assert (full["status"], full["error_count"], full["last_reason"]) == ("quarantine", 5, "mailbox full")
    assert full["release_at"] == ts("2026-03-07 09:00")  # mailbox full: released 30 days after the last error
    assert (odd["status"], odd["error_count"], odd["last_reason"]) == ("quarantine", 5, "not defined")
    assert odd["release_at"] is None


def test_a_changed_rule_table_forces_a_full_build(tmp_path, monkeypatch):
    """The seeds are part of the build's fingerprint (sendlens/incremental.py): editing the
    rule table makes the next build a full one, so every kept failure is qualified anew."""
    project = tmp_path / "project"
    for name in incremental._FINGERPRINTED:
        src = PROJECT_DIR / name
        (shutil.copytree if src.is_dir() else shutil.copyfile)(src, project / name)
    monkeypatch.setattr(incremental, "PROJECT_DIR", project)
    settings = load_settings(tmp_path / "home")
    before = incremental.fingerprint(settings, ts(AS_OF))
    seed = project / "seeds" / "bounce_qualification.csv"
    seed.write_text(seed.read_text() + "local-rule,90,diagnostic,frobnication,any,hard,refused,local rule\n")
    assert incremental.fingerprint(settings, ts(AS_OF)) != before


def test_an_incremental_build_qualifies_the_new_failures(tmp_path):
    s = Scenario(tmp_path / "home")
    s.ingest("deliveries", [{"delivery_id": "d1", "label": "x", "channel": "email", "contact_date": "2026-03-01 08:00",
                             "efs_enabled": "true"}])
    s.ingest("send_log", [{"message_id": m, "delivery_id": "d1", "profile_id": m, "address": m + "@example.com",
                           "relayed_at": "2026-03-01 08:00"} for m in ("m1", "m2")])
    s.ingest("feedback", [{"event_id": "f1", "message_id": "m1", "event_at": "2026-03-01 09:00",
                           "outcome": "hard_bounce", "smtp_code": "550",
                           "diagnostic": "550 5.1.1 The email account that you tried to reach does not exist."}])
    assert s.build("2026-03-02T00:00:00Z").mode == "full"
    s.ingest("feedback", [{"event_id": "f2", "message_id": "m2", "event_at": "2026-03-02 09:00",
                           "outcome": "soft_bounce", "smtp_code": "421",
                           "diagnostic": "421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or user complaints"}])
    assert s.build("2026-03-03T00:00:00Z").mode == "incremental"
    rows = {r["event_id"]: (r["failure_reason"], r["qualification_rule_id"]) for r in s.query(
        "select event_id, failure_reason, qualification_rule_id from intermediate.int_feedback_events")}
    assert rows == {"f1": ("user unknown", "gmail-user-unknown"), "f2": ("refused", "yahoo-deferred")}
