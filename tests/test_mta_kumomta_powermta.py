"""The KumoMTA and PowerMTA readers (issue 19, section 4): `--source kumomta` (JSON log
records) and `--source powermta` (accounting CSV).

Pure mapping tests read the fixtures (tests/fixtures/mta/*/, built from each MTA's documented
record shapes: see the README there) with `map_export` and check each record type's outcome,
reason, codes, message identity, relay time and delivery key. One end-to-end build ingests both
fixtures through `sendlens.pipeline.ingest(..., source=...)` and checks the statuses in both
reporting modes, that refusals do not quarantine, and the accounting of landed and rejected
rows.

Both fixtures relay on 2026-03-02 (first key) and 2026-03-03 (second key); the build is as of
2026-03-04 12:00, inside both days' validity periods (84 h), so a retrying message still reads
`sent` in the standard mode and `failed (soft)` in efs, while a final failure is `failed` in both.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest

from sendlens import pipeline
from sendlens.ingest.esp import kumomta, map_export, powermta
from sendlens.ingest.esp.errors import UNSUPPORTED
from sendlens.ingest.esp.mapping import Mapped
from sendlens.ingest.land import IngestError
from tests.scenario import Scenario

FIXTURES = Path(__file__).parent / "fixtures" / "mta"
KUMO = FIXTURES / "kumomta" / "kumomta.jsonl"
PMTA = FIXTURES / "powermta" / "acct.csv"
DOC = Path(__file__).parents[1] / "docs" / "mta-mapping.md"
AS_OF = "2026-03-04T12:00:00Z"


def doc_section(title: str) -> str:
    """The text of one '## title' section of docs/mta-mapping.md."""
    doc = DOC.read_text()
    start = doc.index(f"\n## {title}\n")
    end = doc.find("\n## ", start + 1)
    return doc[start:end if end > 0 else None]


def outcomes(mapped: Mapped) -> dict[str, list[tuple[str, str | None]]]:
    """Per recipient (local part): its feedback rows in file order as (outcome, reason), and
    its tracking rows as ('tracking', type)."""
    rows = sorted([(r["_row"], r["outcome"], r["failure_reason"], r["message_id"]) for r in mapped.feedback]
                  + [(r["_row"], "tracking", r["type"], r["message_id"]) for r in mapped.tracking])
    out: dict[str, list[tuple[str, str | None]]] = {}
    for _, outcome, reason, mid in rows:
        out.setdefault(mid.rsplit(":", 1)[1].split("@")[0], []).append((outcome, reason))
    return out


def messages(mapped: Mapped) -> dict[str, dict]:
    return {r["address"].split("@")[0]: r for r in mapped.send_log}


# ---- KumoMTA: pure mapping ---------------------------------------------------------------
@pytest.fixture(scope="module")
def kumo() -> Mapped:
    return map_export("kumomta", KUMO)


def test_kumomta_record_types(kumo):
    assert outcomes(kumo) == {
        "k1": [("delivered", None)],
        "k2": [("soft_bounce", None), ("delivered", None)],  # greylisted, then delivered
        "k3": [("soft_bounce", "mailbox full"), ("soft_bounce", "mailbox full"), ("expired", None)],
        "k4": [("hard_bounce", "user unknown")],  # InvalidRecipient
        "k5": [("expired", "refused")],  # SpamBlock: final, not the address's fault
        "k6": [("delivered", None), ("tracking", "complaint")],  # then an ARF report
        "k7": [("delivered", None), ("hard_bounce", "user unknown")],  # then an OOB bounce
        "k8": [("expired", "refused")],  # AdminBounce (whatever the classifier said)
        "k9": [("hard_bounce", None)],  # Uncategorized 550 5.1.1: the code; the table names the reason
        "k11": [("soft_bounce", None)],  # KumoMTA could not connect: retrying
        "k13": [("delivered", None)], "k14": [("delivered", None)], "k15": [("delivered", None)],
        "k16": [("delivered", None)],
    }
    # Reception and Delayed records land as the message's relay only
    assert set(messages(kumo)) == {f"k{n}" for n in (*range(1, 12), 13, 14, 15, 16)}
    assert (kumo.events_read, kumo.events_landed) == (36, 33)
    assert [(r.number, r.field) for r in kumo.rejects] == [(26, "type"), (27, "(event)"), (34, "id")]
    rejection, truncated, dsn = kumo.rejects
    assert rejection.reason == UNSUPPORTED and json.loads(rejection.raw)["type"] == "Rejection"
    assert truncated.reason.startswith("invalid JSON on line 27")
    assert json.loads(truncated.raw) == KUMO.read_text().splitlines()[26]  # the line, as a JSON string
    assert dsn.reason.startswith(UNSUPPORTED) and "report" in dsn.reason  # the DSN's own Reception


def test_kumomta_codes_diagnostics_and_attempts(kumo):
    fb = {(r["message_id"].rsplit(":", 1)[1], r["outcome"]): r for r in kumo.feedback}
    hard = fb[("k4@example.com", "hard_bounce")]
    assert (hard["smtp_code"], hard["diagnostic"]) == (
        "550", "550 5.1.1 <k4@example.com>: Recipient address rejected: User unknown in virtual mailbox table")
    # an OOB record's content already starts with the enhanced code: not repeated
    assert fb[("k7@example.com", "hard_bounce")]["diagnostic"] == \
        "550 5.1.1 <k7@example.com>: Recipient address rejected: mailbox unavailable"
    expiry = fb[("k3@example.com", "expired")]
    assert expiry["smtp_code"] == "551" and expiry["diagnostic"].startswith("551 5.4.7 Next delivery time")
    # num_attempts counts the attempts made before this one: attempt = num_attempts + 1
    k2 = sorted((r["event_at"], r["attempt"]) for r in kumo.feedback if "k2@" in r["message_id"])
    assert [a for _, a in k2] == [1, 2]
    assert expiry["attempt"] == 2  # an expiry is no attempt: the attempts made


def test_kumomta_message_relay_and_delivery_key(kumo):
    m = messages(kumo)
    assert m["k1"]["message_id"] == "0198076abbbc11ed940250ebf67f93bd:k1@example.com"
    assert m["k1"]["relayed_at"] == datetime(2026, 3, 2, 9, 0)
    assert m["k13"]["relayed_at"] == datetime(2026, 3, 3, 10, 0, 0, 120000)  # created_time, with its fraction
    # campaign (queue spring:shop@example.com), tenant (billing@example.org), none (example.net)
    assert {k: r["delivery_id"] for k, r in m.items() if k in ("k1", "k13", "k14", "k16")} == {
        "k1": "spring:2026-03-02", "k13": "billing:2026-03-03", "k14": "billing:2026-03-03",
        "k16": "kumomta:unknown:2026-03-03"}
    parents = {d["delivery_id"] for d in kumo.deliveries if d["parent_delivery_id"] is None}
    assert parents == {"spring", "billing", "kumomta:unknown"}
    # the recipient domain is never a key; the tenant can be chosen instead of the campaign
    by_tenant = messages(map_export("kumomta", KUMO, delivery_field="queue_name.tenant"))
    assert by_tenant["k1"]["delivery_id"] == "shop:2026-03-02"
    assert kumomta.queue_parts("campaign:@example.com!relay.example") == {
        "campaign": "campaign", "tenant": None, "domain": "example.com", "routing_domain": "relay.example"}
    assert kumomta.queue_parts("example.com")["campaign"] is None


def test_kumomta_reports_join_the_message_they_are_about(kumo):
    m = messages(kumo)
    oob = next(r for r in kumo.feedback if r["outcome"] == "hard_bounce" and "k7@" in r["message_id"])
    assert oob["message_id"] == m["k7"]["message_id"]  # not the DSN's own spool id
    (complaint,) = kumo.tracking
    assert complaint["message_id"] == m["k6"]["message_id"] and complaint["user_agent"] == "Hotmail FBL/1.0"
    assert complaint["event_at"] == datetime(2026, 3, 3, 12, 0)


def test_kumomta_report_without_its_message(tmp_path):
    """A report whose message is not in the file is a message of its own (the address still
    gets its bounce); a feedback report that is not a complaint is not supported."""
    lines = [line for line in KUMO.read_text().splitlines() if '"type":"OOB"' in line or '"type":"Feedback"' in line]
    not_spam = json.loads(lines[1])
    not_spam["feedback_report"]["feedback_type"] = "not-spam"
    f = tmp_path / "reports.jsonl"
    f.write_text("\n".join([*lines, json.dumps(not_spam)]) + "\n")
    m = map_export("kumomta", f)
    assert [(r.number, r.field, r.reason) for r in m.rejects] == [(3, "feedback_report.feedback_type", UNSUPPORTED)]
    assert {r["message_id"] for r in m.send_log} == {"7f3e8a90bd1211eeb206960002ccea16:k7@example.com",
                                                      "8a1b2c3dbd1211eeb206960002ccea16:k6@example.com"}
    # the feedback report's trace header carried the campaign: its key
    assert {r["address"]: r["delivery_id"] for r in m.send_log} == {
        "k7@example.com": "kumomta:unknown:2026-03-03", "k6@example.com": "spring:2026-03-03"}


def _kumo_record(type_: str, id_: str, rcpt: str, at: int, created: int, sender: str, **extra) -> str:
    r = {"type": type_, "id": id_, "sender": sender, "recipient": rcpt, "queue": "c1:t1@example.com", "site": "",
         "size": 10, "response": {"code": 250, "enhanced_code": None, "content": "", "command": None},
         "timestamp": at, "created": created, "num_attempts": 0, "bounce_classification": "Uncategorized", **extra}
    return json.dumps(r)


def test_kumomta_report_matching_rules(tmp_path):
    """An OOB record with the original's own id and recipient joins it exactly (that record is
    not mistaken for the report's); else the latest earlier message to the recipient, the one
    with the report's envelope sender first (VERP)."""
    bounce = {"code": 550, "enhanced_code": {"class": 5, "subject": 1, "detail": 1}, "content": "no such user",
              "command": None}
    f = tmp_path / "k.jsonl"
    f.write_text("\n".join([
        _kumo_record("Reception", "a" * 32, "r1@example.com", 1772442000, 1772442000, "b-1@shop.example"),
        _kumo_record("OOB", "a" * 32, "r1@example.com", 1772445600, 1772445600, "b-1@shop.example", response=bounce),
        _kumo_record("Reception", "b" * 32, "r2@example.com", 1772442000, 1772442000, "b-2@shop.example"),
        _kumo_record("Reception", "c" * 32, "r2@example.com", 1772442600, 1772442600, "b-3@shop.example"),
        _kumo_record("Reception", "d" * 32, "r2@example.com", 1772449200, 1772449200, "b-2@shop.example"),
        _kumo_record("OOB", "e" * 32, "r2@example.com", 1772445600, 1772445600, "b-2@shop.example", response=bounce),
    ]) + "\n")
    m = map_export("kumomta", f)
    assert m.rejects == [] and len(m.send_log) == 4
    # r2's bounce: b (its sender), not c (another sender), nor d (received after the report)
    assert sorted(r["message_id"].split(":")[0][0] for r in m.feedback) == ["a", "b"]
    assert all(r["outcome"] == "hard_bounce" for r in m.feedback)


def test_kumomta_final_outcome_by_classification_then_code():
    f = kumomta.final_outcome
    assert f("InvalidRecipient", None) == ("hard_bounce", "user unknown")
    assert f("PolicyRelated", (5, 1, 1)) == ("expired", "refused")  # the classifier wins
    assert f("Uncategorized", (5, 1, 1)) == ("hard_bounce", None)
    assert f("Uncategorized", (5, 1, 10)) == ("hard_bounce", None)  # null MX
    assert f("Uncategorized", (5, 7, 1)) == ("expired", None)  # a refusal: the table says why
    assert f("MyOwnClass", (4, 1, 1)) == ("expired", None)  # a 4xx is never permanent
    assert f(None, None) == ("expired", None)
    assert kumomta.transient_reason("AutoReply") is None and kumomta.transient_reason("QuotaIssues") == "mailbox full"


# Every predefined class of KumoMTA's bounce classifier (crates/bounce-classify/src/lib.rs,
# enum PreDefinedBounceClass).
KUMO_CLASSES = (
    "InvalidRecipient DNSFailure SpamBlock SpamContent ProhibitedAttachment RelayDenied AutoReply "
    "TransientFailure Subscribe Unsubscribe ChallengeResponse BadConfiguration BadConnection BadDomain "
    "ContentRelated InactiveMailbox InvalidSender MessageExpired NoAnswerFromHost PolicyRelated "
    "ProtocolErrors QuotaIssues RelayingIssues RoutingErrors SpamRelated VirusRelated AuthenticationFailed "
    "TooManyRecipients Uncategorized").split()


def test_kumomta_every_classification_and_record_type_is_mapped_and_documented():
    assert set(kumomta.CLASSIFICATION) | {"Uncategorized"} == set(KUMO_CLASSES)
    section = doc_section("KumoMTA")
    for name in KUMO_CLASSES:
        assert f"`{name}`" in section, name
    for kind in (*kumomta.ORIGINALS, *kumomta.REPORTS, "Rejection"):
        assert f"`{kind}`" in section, kind


def test_kumomta_reads_a_compressed_log_segment(tmp_path, kumo):
    """KumoMTA writes zstd-compressed segments by default: read as they are."""
    seg = tmp_path / "20260302-090000"
    with pa.CompressedOutputStream(str(seg), "zstd") as out:
        out.write(KUMO.read_bytes())
    assert seg.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"
    m = map_export("kumomta", seg)
    assert (m.events_read, m.events_landed, m.feedback, m.send_log) == \
        (kumo.events_read, kumo.events_landed, kumo.feedback, kumo.send_log)
    cut = tmp_path / "current"
    cut.write_bytes(seg.read_bytes()[:-20])  # the segment KumoMTA is still writing
    with pytest.raises(IngestError, match="not a complete zstd stream"):
        map_export("kumomta", cut)


def test_kumomta_a_file_of_no_records_is_refused(tmp_path):
    f = tmp_path / "maillog"
    f.write_text("Mar  2 09:00:00 mx postfix/smtp[123]: 4Zx1: to=<a@example.com>, status=sent\n")
    with pytest.raises(IngestError, match=r"maillog: line 1: Expecting value .*not KumoMTA JSON log records"):
        map_export("kumomta", f)


# ---- PowerMTA: pure mapping --------------------------------------------------------------
@pytest.fixture(scope="module")
def pmta() -> Mapped:
    return map_export("powermta", PMTA)


def test_powermta_record_types(pmta):
    assert outcomes(pmta) == {
        "p1": [("delivered", None)],
        "p2": [("soft_bounce", "refused"), ("delivered", None)],  # t (greylisted), then d
        # t, t, then b message-expired
        "p3": [("soft_bounce", "mailbox full"), ("soft_bounce", "mailbox full"), ("expired", None)],
        "p4": [("hard_bounce", "user unknown")],  # bad-mailbox
        "p5": [("expired", "refused")],  # spam-related
        "p6": [("delivered", None), ("tracking", "complaint")],  # then an f record
        "p7": [("delivered", None), ("hard_bounce", "user unknown")],  # then an rb record
        "p8": [("expired", "refused")],  # policy-related
        "p9": [("soft_bounce", "refused"), ("soft_bounce", "unreachable")],  # t, then rs delayed
        "p11": [("expired", None)],  # other, 5.0.0: not the address's fault as far as anyone says
        "p12": [("hard_bounce", "account disabled")],  # inactive-mailbox
        "p13": [("delivered", None)],
        "p14": [("hard_bounce", "invalid domain")],  # bad-domain
        "p15": [("delivered", None)],
    }
    assert "p10" in messages(pmta)  # an r record: received, the relay only
    assert (pmta.events_read, pmta.events_landed) == (23, 21)
    assert [(r.number, r.field, r.reason) for r in pmta.rejects] == [
        (16, "type", UNSUPPORTED),  # tq: a queue's transient failure
        (18, "(event)", "malformed row on line 18: 7 fields where the header names 23")]
    assert json.loads(pmta.rejects[1].raw) == PMTA.read_text().splitlines()[17]


def test_powermta_one_message_per_recipient_of_a_queued_message(pmta):
    by_rcpt: dict[str, set[str]] = {}
    for r in (*pmta.feedback, *pmta.tracking):
        by_rcpt.setdefault(r["message_id"].rsplit(":", 1)[1], set()).add(r["message_id"])
    assert all(len(ids) == 1 for ids in by_rcpt.values()), by_rcpt  # t, d, rb, f of one message agree
    m = messages(pmta)
    assert set(by_rcpt) <= {r["address"] for r in pmta.send_log}
    assert re.fullmatch(r"powermta:q[0-9a-f]{20}:p2@example\.com", m["p2"]["message_id"])
    assert m["p13"]["message_id"] == "inv-13@billing.shop.example:p13@example.org"  # the Message-ID header
    # relay = timeQueued; +0100 and unix times are both UTC here
    assert m["p1"]["relayed_at"] == datetime(2026, 3, 2, 9, 0)
    assert m["p13"]["relayed_at"] == datetime(2026, 3, 3, 10, 0)
    assert {k: m[k]["delivery_id"] for k in ("p1", "p13", "p15")} == {
        "p1": "spring-2026:2026-03-02", "p13": "invoice-2026-03:2026-03-03", "p15": "powermta:unknown:2026-03-03"}
    by_vmta = messages(map_export("powermta", PMTA, delivery_field="vmta"))
    assert by_vmta["p13"]["delivery_id"] == "vmta-billing:2026-03-03"


def test_powermta_identifiers_on_one_row_link_the_records_of_a_message(tmp_path):
    f = tmp_path / "acct.csv"
    f.write_text("type,timeLogged,timeQueued,orig,rcpt,dsnDiag,jobId,header_Message-Id\r\n"
                 "t,1772442003,1772442000,a@shop.example,z1@example.com,smtp;451 4.3.0 try later,job-c,\r\n"
                 "d,1772445603,1772442000,a@shop.example,z1@example.com,smtp;250 ok,job-c,<m1@shop.example>\r\n"
                 "d,1772445603,1772442000,a@shop.example,z2@example.com,smtp;250 ok,job-c,\r\n")
    m = map_export("powermta", f)
    ids = {r["message_id"] for r in m.feedback if "z1@" in r["message_id"]}
    assert ids == {"m1@shop.example:z1@example.com"}  # the t row without the header joins it
    assert len(m.send_log) == 2


def test_powermta_diagnostics_carry_the_codes(pmta):
    fb = {(r["message_id"].rsplit(":", 1)[1].split("@")[0], r["outcome"]): r for r in pmta.feedback}
    assert (fb["p4", "hard_bounce"]["smtp_code"], fb["p4", "hard_bounce"]["diagnostic"]) == (
        "550", "550 5.1.1 <p4@example.com>: Recipient address rejected: User unknown in virtual mailbox table")
    # no enhanced code in the response: PowerMTA's dsnStatus code is put after the reply code
    assert fb["p11", "expired"]["diagnostic"] == "550 5.0.0 Requested action not taken: mailbox unavailable"
    # no response at all (PowerMTA found no such domain itself): the dsnStatus
    assert (fb["p14", "hard_bounce"]["smtp_code"], fb["p14", "hard_bounce"]["diagnostic"]) == (
        "5.1.2", "5.1.2 (bad destination system: no such domain)")
    assert fb["p3", "expired"]["event_at"] == datetime(2026, 3, 3, 9, 0, 6)


def test_powermta_header_lines_per_record_type_and_multiline_fields():
    m = map_export("powermta", FIXTURES / "powermta" / "acct-per-type.csv")
    assert outcomes(m) == {"x1": [("delivered", None)], "x2": [("hard_bounce", "user unknown")],
                           "x3": [("expired", "refused")]}
    x2 = next(r for r in m.feedback if "x2@" in r["message_id"])
    assert x2["diagnostic"] == '550 5.1.1 "x2"@example.com... User unknown, see\nhttps://mail.example.com/help'
    assert {r["delivery_id"] for r in m.send_log} == {"job-a:2026-03-02"}


def test_powermta_the_user_guide_example():
    """The accounting file example of the PowerMTA User's Guide: one header, the union of the
    two record types' fields, each record leaving the other's empty."""
    m = map_export("powermta", FIXTURES / "powermta" / "acct-guide-example.csv")
    assert (m.events_read, m.events_landed) == (4, 4)
    assert outcomes(m) == {"user1": [("delivered", None)], "user2": [("delivered", None)],
                           "user3": [("expired", "refused")], "user4": [("expired", "refused")]}
    user1 = next(r for r in m.send_log if r["address"] == "user1@domain.com")
    assert user1["relayed_at"] == datetime(2007, 5, 10, 14, 38, 23)  # no timeQueued: its only time


def test_powermta_malformed_rows_and_files(tmp_path):
    ok = "d,1772442003,1772442000,a@shop.example,y1@example.com,job-b"
    f = tmp_path / "acct.csv"
    f.write_text("type,timeLogged,timeQueued,orig,rcpt,jobId\n"
                 'b,1772442004,1772442001,a@shop.example,y2@example.com,"job-b\n'  # a quote never closed
                 f"{ok}\n"
                 "d,yesterday,1772442000,a@shop.example,y3@example.com,job-b\n"
                 "z,1772442005,1772442000,a@shop.example,y4@example.com,job-b\n")
    m = map_export("powermta", f)
    assert [(r.number, r.field, r.reason[:30]) for r in m.rejects] == [
        (2, "(event)", "malformed row on line 2: a quo"),
        (4, "timeLogged", "invalid timestamp 'yesterday':"),
        (5, "type", UNSUPPORTED)]
    assert [r["address"] for r in m.send_log] == ["y1@example.com"]
    not_acct = tmp_path / "events.csv"
    not_acct.write_text("event,email,timestamp\ndelivered,a@example.com,1772442000\n")
    with pytest.raises(IngestError, match=r"events\.csv: line 1: not a PowerMTA accounting file"):
        map_export("powermta", not_acct)
    empty = tmp_path / "empty.csv"
    empty.write_text("type,timeLogged,orig,rcpt\n")
    assert map_export("powermta", empty).events_read == 0


def test_powermta_every_bounce_category_and_record_type_is_documented():
    section = doc_section("PowerMTA")
    for cat in (*powermta.BOUNCE_CATEGORIES, "other"):
        assert f"`{cat}`" in section, cat
    for kind in ("d", "b", "t", "tq", "r", "rb", "rs", "f"):
        assert f"`{kind}`" in section, kind
    assert powermta.final_outcome("other", (5, 1, 1)) == ("hard_bounce", None)
    assert powermta.final_outcome(None, (5, 7, 1)) == ("expired", None)


# ---- one build: both logs through the pipeline -------------------------------------------
@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Scenario:
    s = Scenario(tmp_path_factory.mktemp("mta") / "home")
    s.outcomes = {}
    for source, path in (("kumomta", KUMO), ("powermta", PMTA)):
        (s.outcomes[source],) = pipeline.ingest(s.settings, "", [path], source=source)
    s.build(AS_OF)
    return s


def _statuses(s: Scenario, prefix: str) -> dict[str, tuple[str, str]]:
    rows = s.query("select profile_id as address, reporting_mode, status, failure_type, failure_reason "
                   "from marts.fct_message_status where profile_id like ?", [f"{prefix}%"])
    out: dict[str, dict[str, str]] = {}
    for r in rows:
        label = r["status"] if r["status"] != "failed" else f"{r['failure_type']}:{r['failure_reason']}"
        out.setdefault(r["address"].split("@")[0], {})[r["reporting_mode"]] = label
    return {k: (v["standard"], v["efs"]) for k, v in out.items()}


def _matches(actual: tuple[str, str], expected: tuple[str, str]) -> bool:
    """'soft:*' accepts any reason: one the qualification table gives (no reason in the log)."""
    return all(a == e or (e.endswith(":*") and a.startswith(e[:-1])) for a, e in zip(actual, expected))


EXPECTED = {
    "k": {
        "k1": ("sent", "sent"), "k2": ("sent", "sent"),  # delivered; retried then delivered
        "k3": ("soft:*", "soft:*"),  # expired after retries: final
        "k4": ("hard:user unknown", "hard:user unknown"),
        "k5": ("soft:refused", "soft:refused"),  # spam block: final, not hard
        "k6": ("sent", "sent"),  # delivered, complained
        "k7": ("hard:user unknown", "hard:user unknown"),  # delivered, then an OOB bounce
        "k8": ("soft:refused", "soft:refused"),  # administrator bounce
        "k9": ("hard:*", "hard:*"),  # unclassified 5.1.1
        "k10": ("sent", "pending"),  # received (and delayed) only
        "k11": ("sent", "soft:*"),  # retrying
        "k13": ("sent", "sent"), "k14": ("sent", "sent"), "k15": ("sent", "sent"), "k16": ("sent", "sent"),
    },
    "p": {
        "p1": ("sent", "sent"), "p2": ("sent", "sent"),
        "p3": ("soft:*", "soft:*"),  # bounced once bounce-after passed
        "p4": ("hard:user unknown", "hard:user unknown"),
        "p5": ("soft:refused", "soft:refused"), "p6": ("sent", "sent"),
        "p7": ("hard:user unknown", "hard:user unknown"),  # delivered, then a remote bounce
        "p8": ("soft:refused", "soft:refused"),
        "p9": ("sent", "soft:unreachable"),  # retrying (t, then a remote delay notice)
        "p10": ("sent", "pending"),  # received only
        "p11": ("soft:*", "soft:*"),
        "p12": ("hard:account disabled", "hard:account disabled"),
        "p13": ("sent", "sent"), "p14": ("hard:invalid domain", "hard:invalid domain"), "p15": ("sent", "sent"),
    },
}


@pytest.mark.parametrize("prefix", ["k", "p"])
def test_statuses_in_both_modes(home, prefix):
    actual = _statuses(home, prefix)
    assert set(actual) == set(EXPECTED[prefix])
    wrong = {k: (actual[k], e) for k, e in EXPECTED[prefix].items() if not _matches(actual[k], e)}
    assert wrong == {}


def test_deliveries_are_the_keys_with_one_execution_per_day(home):
    rows = home.query("select profile_id as address, delivery_id from marts.fct_message_status "
                      "where reporting_mode = 'standard' "
                      "and split_part(profile_id, '@', 1) in ('k1', 'k13', 'k16', 'p1', 'p13', 'p15')")
    assert {r["address"].split("@")[0]: r["delivery_id"] for r in rows} == {
        "k1": "spring:2026-03-02", "k13": "billing:2026-03-03", "k16": "kumomta:unknown:2026-03-03",
        "p1": "spring-2026:2026-03-02", "p13": "invoice-2026-03:2026-03-03", "p15": "powermta:unknown:2026-03-03"}
    kpis = {r["delivery_id"]: r for r in home.query(
        "select delivery_id, to_deliver, complaints, hard_bounces from marts.rpt_delivery_kpis "
        "where reporting_mode = 'standard'")}
    assert (kpis["spring"]["to_deliver"], kpis["spring"]["complaints"], kpis["spring"]["hard_bounces"]) == (11, 1, 3)
    assert (kpis["spring-2026"]["to_deliver"], kpis["spring-2026"]["complaints"],
            kpis["spring-2026"]["hard_bounces"]) == (12, 1, 3)
    assert kpis["billing"]["to_deliver"] == 3 and kpis["invoice-2026-03"]["to_deliver"] == 2


def test_refusals_do_not_quarantine(home):
    q = {r["address"].split("@")[0]: r["status"] for r in home.query(
        "select address, status from marts.dim_address_quarantine")}
    for hard in ("k4", "k7", "k9", "p4", "p7", "p12", "p14"):
        assert q[hard] == "quarantine", hard
    for refused in ("k5", "k8", "p5", "p8"):  # policy, spam and administrator refusals
        assert q[refused] not in ("quarantine", "denylisted"), refused
    assert q["k6"] == q["p6"] == "denylisted"  # the complaints


def test_accounting_and_rejected_rows(home):
    expected = {"kumomta": (36, 33, 3), "powermta": (23, 21, 2)}
    for source, (read, landed, rejected) in expected.items():
        o = home.outcomes[source]
        assert (o.status, o.rows_read, o.rows_landed, o.rows_rejected) == ("landed", read, landed, rejected)
    batches = {r["kind"]: r for r in home.query(
        "select kind, rows_read, rows_landed, rows_rejected from audit.ingest_batches "
        "where kind in ('kumomta', 'powermta')")}
    for source, (read, landed, rejected) in expected.items():
        b = batches[source]
        assert (b["rows_read"], b["rows_landed"], b["rows_rejected"]) == (read, landed, rejected)
        assert b["rows_read"] == b["rows_landed"] + b["rows_rejected"]
    rej = home.query("select kind, row_number, field, reason, raw_record from audit.rejected_rows "
                     "where kind in ('kumomta', 'powermta') order by kind, row_number")
    assert [(r["kind"], r["row_number"], r["field"]) for r in rej] == [
        ("kumomta", 26, "type"), ("kumomta", 27, "(event)"), ("kumomta", 34, "id"),
        ("powermta", 16, "type"), ("powermta", 18, "(event)")]
    malformed = rej[-1]
    assert malformed["reason"] == "malformed row on line 18: 7 fields where the header names 23"
    assert json.loads(malformed["raw_record"]) == PMTA.read_text().splitlines()[17]
    assert rej[1]["reason"].startswith("invalid JSON on line 27")
