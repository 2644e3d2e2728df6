"""Around the send (SPEC sections 4 and 5): address quarantine, profile history, confirmation
audit, exclusion causes. End to end through the real pipeline (tests/scenario.py).

Builds take several seconds, so each module-scoped scenario below is built once and several
tests read it; earlier instants are answered from the history tables
(state at T = where valid_from <= T and (valid_to is null or valid_to > T)).
Expectations are computed by hand in the comments.
"""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta

import pytest

from tests.scenario import Scenario

# The data-quality gate (expectations/runner.py) runs on every build when installed.
RUN_CHECKS = True

H = timedelta(hours=1)
D = timedelta(days=1)
S = timedelta(seconds=1)
T0 = datetime(2026, 1, 5, 10, 0, 0)  # a Monday, 10:00 UTC
LATE = "2026-04-01 00:00:00"         # as_of of the main quarantine build


def fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


class Book:
    """Collects rows for one scenario: each send is a message of a per-day delivery."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.ids = itertools.count(1)
        self.deliveries: dict[str, dict] = {}
        self.send_log: list[dict] = []
        self.feedback: list[dict] = []
        self.tracking: list[dict] = []

    def delivery(self, delivery_id: str, **row) -> str:
        base = {"delivery_id": delivery_id, "label": f"label {delivery_id}", "channel": "email",
                "contact_date": fmt(T0), "requires_confirmation": "false"}
        base.update(row)
        self.deliveries[delivery_id] = base
        return delivery_id

    def send(self, address: str, relayed: datetime | None, channel: str = "email",
             profile: str = "p-any", delivery: str | None = None) -> str:
        if delivery is None:
            day = (relayed or T0).strftime("%m%d")
            delivery = f"{self.prefix}-{channel}-{day}"
            if delivery not in self.deliveries:
                self.delivery(delivery, channel=channel, contact_date=fmt((relayed or T0).replace(hour=0, minute=0, second=0)))
        message_id = f"{self.prefix}-m{next(self.ids)}"
        self.send_log.append({"message_id": message_id, "delivery_id": delivery, "profile_id": profile,
                              "address": address, "relayed_at": fmt(relayed) if relayed else None})
        return message_id

    def bounce(self, address: str, at: datetime, outcome: str, reason: str | None = None,
               received: datetime | None = None, channel: str = "email") -> str:
        """A message relayed an hour before `at` with one feedback event at `at`."""
        message_id = self.send(address, at - H, channel=channel)
        self.event(message_id, at, outcome, reason, received)
        return message_id

    def event(self, message_id: str, at: datetime, outcome: str, reason: str | None = None,
              received: datetime | None = None) -> None:
        self.feedback.append({"event_id": f"{self.prefix}-f{next(self.ids)}", "message_id": message_id,
                              "event_at": fmt(at), "received_at": fmt(received or at),
                              "outcome": outcome, "failure_reason": reason})

    def track(self, message_id: str, at: datetime, kind: str, received: datetime | None = None) -> None:
        self.tracking.append({"event_id": f"{self.prefix}-t{next(self.ids)}", "message_id": message_id,
                              "event_at": fmt(at), "received_at": fmt(received or at), "type": kind})

    def land(self, s: Scenario, operators: list[dict] | None = None,
             exclusions: list[dict] | None = None) -> None:
        s.ingest("deliveries", list(self.deliveries.values()))
        s.ingest("send_log", self.send_log)
        if self.feedback:
            s.ingest("feedback", self.feedback)
        if self.tracking:
            s.ingest("tracking", self.tracking)
        if operators:
            s.ingest("operators", operators)
        if exclusions:
            s.ingest("exclusions", exclusions)


def state_at(s: Scenario, address: str, t: datetime) -> tuple:
    """(status, error_count, last_reason) of an address at instant t, from the history."""
    row = s.one(
        "select status, error_count, last_reason from marts.fct_address_quarantine_history "
        "where address = ? and valid_from <= ? and (valid_to is null or valid_to > ?)",
        [address, t, t],
    )
    return row["status"], row["error_count"], row["last_reason"]


def dim(s: Scenario, address: str) -> dict:
    return s.one("select * from marts.dim_address_quarantine where address = ?", [address])


# ---- quarantine: one build, one address per rule ------------------------------------------
@pytest.fixture(scope="module")
def quarantine(tmp_path_factory) -> Scenario:
    s = Scenario(tmp_path_factory.mktemp("quarantine") / "home")
    b = Book("q")

    # hard@: a hard bounce quarantines at once; a later success does not lift it, nor does
    # time (reason is not 'mailbox full').
    b.bounce("hard@q.test", T0, "hard_bounce", "user unknown")
    b.bounce("hard@q.test", T0 + 2 * D, "delivered")

    # gap@: counted errors need >= 24 h between them (measured from the last COUNTED error).
    #   T0            soft  -> counted, 1
    #   T0+23:59      soft  -> 23h59 after T0: not counted, 1
    #   T0+24:00      soft  -> exactly 24 h after T0: counted, 2
    #   T0+47:59      soft  -> 23h59 after T0+24h: not counted, 2
    #   T0+48:00      soft  -> counted, 3
    #   T0+48h+10d    counter reset -> valid, 0
    for offset in (0 * H, 23 * H + 59 * 60 * S, 24 * H, 47 * H + 59 * 60 * S, 48 * H):
        b.bounce("gap@q.test", T0 + offset, "soft_bounce", "invalid domain")

    # five@: soft bounces exactly 24 h apart: 1, 2, 3, 4, then quarantine at the 5th
    # (T0+4d); a 6th soft bounce and a success change nothing; never released.
    for k in range(5):
        b.bounce("five@q.test", T0 + k * D, "soft_bounce", "unreachable")
    b.bounce("five@q.test", T0 + 5 * D, "soft_bounce", "unreachable")
    b.bounce("five@q.test", T0 + 6 * D, "delivered")

    # reset@: soft T0 (1), soft T0+3d (2); nothing for 10 days -> valid at T0+13d, counter 0;
    # a soft bounce at T0+20d starts a fresh counter (1); valid again at T0+30d.
    b.bounce("reset@q.test", T0, "soft_bounce", "account disabled")
    b.bounce("reset@q.test", T0 + 3 * D, "soft_bounce", "account disabled")
    b.bounce("reset@q.test", T0 + 20 * D, "soft_bounce", "account disabled")

    # mbf@: five 'mailbox full' soft bounces 24 h apart -> quarantine at T0+4d; a mailbox-full
    # quarantine is released 30 days after that error: valid at T0+34d.
    for k in range(5):
        b.bounce("mbf@q.test", T0 + k * D, "soft_bounce", "mailbox full")
    # mbf-err@: one 'mailbox full' soft bounce -> erroneous; with the default thresholds the
    # 10-day counter reset comes before the 30-day release: valid at T0+10d.
    b.bounce("mbf-err@q.test", T0, "soft_bounce", "mailbox full")

    # complaint@: delivered T0 (valid), spam complaint T0+1d -> denylisted; a later success
    # and a later hard bounce change nothing.
    m = b.bounce("complaint@q.test", T0, "delivered")
    b.track(m, T0 + D, "complaint")
    b.bounce("complaint@q.test", T0 + 3 * D, "delivered")
    b.bounce("complaint@q.test", T0 + 4 * D, "hard_bounce", "user unknown")
    # hardcomplaint@: quarantined (hard) T0, complaint T0+1d -> denylisted.
    m = b.bounce("hardcomplaint@q.test", T0, "hard_bounce", "user unknown")
    b.track(m, T0 + D, "complaint")

    # success@: soft T0 (1), soft T0+1d (2), delivered T0+1d+2h -> valid 0; soft T0+1d+3h
    # counts again at once (counter back to 0): erroneous 1.
    b.bounce("success@q.test", T0, "soft_bounce", "invalid domain")
    b.bounce("success@q.test", T0 + D, "soft_bounce", "invalid domain")
    b.bounce("success@q.test", T0 + D + 2 * H, "delivered")
    b.bounce("success@q.test", T0 + D + 3 * H, "soft_bounce", "refused")

    # ignored@: six ignored outcomes 24 h apart never count: valid, 0.
    for k in range(6):
        b.bounce("ignored@q.test", T0 + k * D, "ignored", "not connected")
    # expired@: one message soft-bounces at T0 (1) and its retries expire at T0+1d and T0+2d:
    # the expiries do not count: erroneous 1 until the reset at T0+10d.
    m = b.bounce("expired@q.test", T0, "soft_bounce", "unreachable")
    b.event(m, T0 + D, "expired", "unreachable")
    m2 = b.send("expired@q.test", T0 + D)
    b.event(m2, T0 + 2 * D, "expired")

    # Case@ and case@ are two addresses: only Case@ is quarantined.
    b.bounce("Case@q.test", T0, "hard_bounce", "user unknown")
    b.bounce("case@q.test", T0, "delivered")

    # never@: relayed and delivered, nothing else; prepared@: in the sending log, never relayed.
    b.bounce("never@q.test", T0, "delivered")
    b.send("prepared@q.test", None)

    # SMS numbers follow the same rules: a hard bounce quarantines.
    b.bounce("+15550001", T0, "hard_bounce", "unreachable", channel="sms")

    b.land(s)
    s.build(LATE, run_checks=RUN_CHECKS)
    return s


def test_hard_bounce_quarantines_at_once_and_is_never_lifted(quarantine):
    s = quarantine
    assert state_at(s, "hard@q.test", T0 - S) == ("valid", 0, None)
    # a hard bounce counts as one error
    assert state_at(s, "hard@q.test", T0) == ("quarantine", 1, "user unknown")
    # the success at T0+2d does not lift it; neither do 30 days
    assert state_at(s, "hard@q.test", T0 + 2 * D + H) == ("quarantine", 1, "user unknown")
    row = dim(s, "hard@q.test")
    assert (row["status"], row["error_count"], row["last_reason"]) == ("quarantine", 1, "user unknown")
    assert row["status_since"] == T0
    assert row["release_at"] is None and row["is_quarantined"]


def test_soft_bounces_count_only_24_hours_apart(quarantine):
    s = quarantine
    assert state_at(s, "gap@q.test", T0) == ("erroneous", 1, "invalid domain")
    assert state_at(s, "gap@q.test", T0 + 23 * H + 59 * 60 * S) == ("erroneous", 1, "invalid domain")
    assert state_at(s, "gap@q.test", T0 + 24 * H - S) == ("erroneous", 1, "invalid domain")
    assert state_at(s, "gap@q.test", T0 + 24 * H) == ("erroneous", 2, "invalid domain")
    assert state_at(s, "gap@q.test", T0 + 47 * H + 59 * 60 * S) == ("erroneous", 2, "invalid domain")
    assert state_at(s, "gap@q.test", T0 + 48 * H) == ("erroneous", 3, "invalid domain")
    # the uncounted bounces leave no interval of their own: 1 -> 2 -> 3 -> reset
    rows = s.query("select status, error_count, change_cause, valid_from from marts.fct_address_quarantine_history "
                   "where address = 'gap@q.test' order by valid_from")
    assert [(r["status"], r["error_count"], r["change_cause"]) for r in rows] == [
        ("valid", 0, "first_seen"), ("erroneous", 1, "soft_bounce"), ("erroneous", 2, "soft_bounce"),
        ("erroneous", 3, "soft_bounce"), ("valid", 0, "counter_reset")]
    assert rows[0]["valid_from"] == T0 - H  # first relay
    assert rows[-1]["valid_from"] == T0 + 48 * H + 10 * D


def test_fifth_counted_error_quarantines(quarantine):
    s = quarantine
    for k in range(4):
        assert state_at(s, "five@q.test", T0 + k * D) == ("erroneous", k + 1, "unreachable")
    assert state_at(s, "five@q.test", T0 + 4 * D - S) == ("erroneous", 4, "unreachable")
    assert state_at(s, "five@q.test", T0 + 4 * D) == ("quarantine", 5, "unreachable")
    # the 6th bounce and the success change nothing; no release (not mailbox full)
    assert state_at(s, "five@q.test", T0 + 40 * D) == ("quarantine", 5, "unreachable")
    row = dim(s, "five@q.test")
    assert (row["status"], row["error_count"], row["status_since"]) == ("quarantine", 5, T0 + 4 * D)


def test_counter_resets_after_10_days(quarantine):
    s = quarantine
    assert state_at(s, "reset@q.test", T0 + 3 * D) == ("erroneous", 2, "account disabled")
    # last counted error at T0+3d: reset exactly 10 days later
    assert state_at(s, "reset@q.test", T0 + 13 * D - S) == ("erroneous", 2, "account disabled")
    assert state_at(s, "reset@q.test", T0 + 13 * D) == ("valid", 0, "account disabled")
    # a later soft bounce starts from 0
    assert state_at(s, "reset@q.test", T0 + 20 * D) == ("erroneous", 1, "account disabled")
    assert state_at(s, "reset@q.test", T0 + 30 * D - S) == ("erroneous", 1, "account disabled")
    row = dim(s, "reset@q.test")
    assert (row["status"], row["error_count"], row["status_since"], row["last_change_cause"]) == (
        "valid", 0, T0 + 30 * D, "counter_reset")
    # expiries never count: one counted error, reset at T0+10d
    assert state_at(s, "expired@q.test", T0 + 2 * D + H) == ("erroneous", 1, "unreachable")
    assert state_at(s, "expired@q.test", T0 + 10 * D) == ("valid", 0, "unreachable")


def test_mailbox_full_released_after_30_days(quarantine):
    s = quarantine
    assert state_at(s, "mbf@q.test", T0 + 4 * D) == ("quarantine", 5, "mailbox full")
    assert state_at(s, "mbf@q.test", T0 + 34 * D - S) == ("quarantine", 5, "mailbox full")
    assert state_at(s, "mbf@q.test", T0 + 34 * D) == ("valid", 0, "mailbox full")
    assert dim(s, "mbf@q.test")["last_change_cause"] == "mailbox_full_release"
    # an erroneous mailbox-full address: the 10-day counter reset comes first (defaults)
    assert state_at(s, "mbf-err@q.test", T0 + 10 * D - S) == ("erroneous", 1, "mailbox full")
    assert state_at(s, "mbf-err@q.test", T0 + 10 * D) == ("valid", 0, "mailbox full")


def test_complaint_denylists_for_good(quarantine):
    s = quarantine
    assert state_at(s, "complaint@q.test", T0 + D - S) == ("valid", 0, None)
    assert state_at(s, "complaint@q.test", T0 + D) == ("denylisted", 0, "denylisted")
    # success at T0+3d and hard bounce at T0+4d: still denylisted
    row = dim(s, "complaint@q.test")
    assert (row["status"], row["last_reason"], row["status_since"]) == ("denylisted", "denylisted", T0 + D)
    assert state_at(s, "hardcomplaint@q.test", T0) == ("quarantine", 1, "user unknown")
    assert state_at(s, "hardcomplaint@q.test", T0 + D) == ("denylisted", 1, "denylisted")


def test_success_clears_erroneous(quarantine):
    s = quarantine
    assert state_at(s, "success@q.test", T0 + D) == ("erroneous", 2, "invalid domain")
    assert state_at(s, "success@q.test", T0 + D + 2 * H) == ("valid", 0, "invalid domain")
    # counter at 0: the next soft bounce counts although within 24 h of the last counted one
    assert state_at(s, "success@q.test", T0 + D + 3 * H) == ("erroneous", 1, "refused")


def test_ignored_never_counts_and_addresses_are_case_sensitive(quarantine):
    s = quarantine
    row = dim(s, "ignored@q.test")
    assert (row["status"], row["error_count"], row["last_reason"]) == ("valid", 0, None)
    assert s.one("select count(*) as n from marts.fct_address_quarantine_history "
                 "where address = 'ignored@q.test'")["n"] == 1
    assert dim(s, "Case@q.test")["status"] == "quarantine"
    assert dim(s, "case@q.test")["status"] == "valid"
    sms = dim(s, "+15550001")
    assert (sms["channel"], sms["status"], sms["last_reason"]) == ("sms", "quarantine", "unreachable")


def test_dim_has_every_sending_log_address(quarantine):
    s = quarantine
    n_addresses = s.one("select count(distinct address) as n from staging.stg_send_log")["n"]
    assert s.one("select count(*) as n from marts.dim_address_quarantine")["n"] == n_addresses == 16
    never = dim(s, "never@q.test")
    assert (never["status"], never["error_count"], never["status_since"]) == ("valid", 0, T0 - H)
    prepared = dim(s, "prepared@q.test")
    assert (prepared["status"], prepared["error_count"], prepared["status_since"]) == ("valid", 0, None)
    # the dim is the history's answer at as_of
    mismatches = s.query("""
        select d.address from marts.dim_address_quarantine d
        left join marts.fct_address_quarantine_history h
          on h.address = d.address and h.valid_from <= d.as_of and (h.valid_to is null or h.valid_to > d.as_of)
        where h.address is null and d.status_since is not null
           or h.address is not null and (h.status <> d.status or h.error_count <> d.error_count)""")
    assert mismatches == []


def test_quarantine_thresholds_are_settings(scenario):
    # reset period 60 days, quarantine at the 3rd error: now the 30-day mailbox-full release of
    # an erroneous address shows, and 3 errors quarantine.
    (scenario.home).mkdir(parents=True, exist_ok=True)
    (scenario.home / "sendlens.toml").write_text("quarantine_counter_reset_days = 60\nquarantine_max_errors = 3\n")
    s = Scenario(scenario.home)
    b = Book("cfg")
    # mbf@: one mailbox-full soft bounce -> erroneous 1; released at T0+30d (before the 60-day reset)
    b.bounce("mbf@c.test", T0, "soft_bounce", "mailbox full")
    # dom@: one invalid-domain soft bounce -> erroneous until T0+60d
    b.bounce("dom@c.test", T0, "soft_bounce", "invalid domain")
    # three@: 3 soft bounces 24 h apart -> quarantine at the third (T0+2d)
    for k in range(3):
        b.bounce("three@c.test", T0 + k * D, "soft_bounce", "refused")
    b.land(s)
    s.build(LATE, run_checks=RUN_CHECKS)
    assert state_at(s, "mbf@c.test", T0 + 30 * D - S) == ("erroneous", 1, "mailbox full")
    assert state_at(s, "mbf@c.test", T0 + 30 * D) == ("valid", 0, "mailbox full")
    assert dim(s, "mbf@c.test")["last_change_cause"] == "mailbox_full_release"
    assert state_at(s, "dom@c.test", T0 + 30 * D) == ("erroneous", 1, "invalid domain")
    assert state_at(s, "dom@c.test", T0 + 60 * D) == ("valid", 0, "invalid domain")
    assert state_at(s, "three@c.test", T0 + 2 * D - S) == ("erroneous", 2, "refused")
    assert state_at(s, "three@c.test", T0 + 2 * D) == ("quarantine", 3, "refused")


def test_as_of_knowledge(scenario):
    """What a build knows is what had been received by its as_of."""
    s = scenario
    b = Book("k")
    # late@: soft T0 (received at once) -> erroneous 1; hard bounce at T0+1d received only at
    # T0+3d.
    b.bounce("late@k.test", T0, "soft_bounce", "invalid domain")
    b.bounce("late@k.test", T0 + D, "hard_bounce", "user unknown", received=T0 + 3 * D)
    # audit: AK1 requires confirmation, confirmed by alice at T0+4d, relayed at T0+2d.
    b.delivery("AK1", requires_confirmation="true", confirmed_by="alice", confirmed_at=fmt(T0 + 4 * D),
               scheduled_at=fmt(T0 + 2 * D))
    b.send("x@k.test", T0 + 2 * D, delivery="AK1")
    b.land(s, operators=[{"operator": "alice", "roles": "start_deliveries"}])

    # As of T0+2d+1h the hard bounce is not known: erroneous 1, release pending at T0+10d.
    # AK1 was sent at T0+2d and its confirmation (T0+4d) lies in the future: sent without
    # the required confirmation.
    s.build(fmt(T0 + 2 * D + H), run_checks=RUN_CHECKS)
    row = dim(s, "late@k.test")
    assert (row["status"], row["error_count"], row["release_at"]) == ("erroneous", 1, T0 + 10 * D)
    audit = s.one("select * from marts.rpt_confirmation_audit where delivery_id = 'AK1'")
    assert (audit["is_confirmed"], audit["confirmer_may_start"], audit["sent_messages"], audit["finding"]) == (
        False, None, 1, "sent_without_required_confirmation")

    # As of T0+5d: the hard bounce is known and dated at its event time, T0+1d.
    # AK1 is now confirmed, after it started.
    s.build(fmt(T0 + 5 * D), run_checks=RUN_CHECKS)
    assert state_at(s, "late@k.test", T0 + D - S) == ("erroneous", 1, "invalid domain")
    assert state_at(s, "late@k.test", T0 + D) == ("quarantine", 2, "user unknown")
    assert dim(s, "late@k.test")["release_at"] is None
    audit = s.one("select * from marts.rpt_confirmation_audit where delivery_id = 'AK1'")
    assert (audit["is_confirmed"], audit["confirmer_may_start"], audit["finding"], audit["start_lag_seconds"]) == (
        True, True, "started_before_confirmation", 0)


# ---- profile history, confirmation audit, exclusion causes: one build ----------------------
AS_OF_AROUND = fmt(T0 + 10 * D)


@pytest.fixture(scope="module")
def around(tmp_path_factory) -> Scenario:
    s = Scenario(tmp_path_factory.mktemp("around") / "home")
    b = Book("a")

    # Profile p1's history (contact T0; as_of T0+10d: every email delivery is past validity).
    b.delivery("DA", efs_enabled="false")   # standard
    b.delivery("DB", efs_enabled="true")    # efs
    b.delivery("DC", channel="sms")         # standard
    b.delivery("DD")                        # prepared, never relayed
    b.delivery("DE", efs_enabled="true")    # efs
    ma = b.send("p1@a.test", T0, profile="p1", delivery="DA")
    b.event(ma, T0 + 5 * 60 * S, "delivered")
    b.track(ma, T0 + H, "open")
    b.track(ma, T0 + 2 * H, "click")
    mb = b.send("p1@a.test", T0 + 10 * 60 * S, profile="p1", delivery="DB")
    b.event(mb, T0 + 20 * 60 * S, "hard_bounce", "user unknown")
    mc = b.send("+15550002", T0 + 15 * 60 * S, profile="p1", delivery="DC")
    b.track(mc, T0 + 3 * H, "opt_out")
    b.send("p1@a.test", None, profile="p1", delivery="DD")
    me = b.send("p1@a.test", T0 + D, profile="p1", delivery="DE")
    b.track(me, T0 + D + H, "click")
    b.track(me, T0 + D + 2 * H, "open", received=T0 + 20 * D)  # received after as_of
    mp2 = b.send("p2@a.test", T0, profile="p2", delivery="DA")
    b.track(mp2, T0 + H, "open")

    # Confirmation audit. Operators: alice may start, bob may only prepare, carol is unknown.
    def audited(delivery_id: str, relayed: datetime | None, **row) -> None:
        b.delivery(delivery_id, requires_confirmation=row.pop("requires_confirmation", "true"),
                   scheduled_at=fmt(T0), **row)
        b.send(f"{delivery_id.lower()}@a.test", relayed, profile=f"p-{delivery_id}", delivery=delivery_id)

    audited("AU1", T0 + 5 * 60 * S, confirmed_by="alice", confirmed_at=fmt(T0 - H))  # fine, lag 300 s
    audited("AU2", T0, confirmed_by="bob", confirmed_at=fmt(T0 - H))   # bob lacks start_deliveries
    audited("AU3", T0)                                                 # never confirmed, sent
    audited("AU4", T0, requires_confirmation="false")                  # no confirmation needed
    audited("AU5", T0, confirmed_by="alice", confirmed_at=fmt(T0 + H))  # started 1 h before
    audited("AU6", T0, confirmed_by="carol", confirmed_at=fmt(T0 - H))  # not an operator
    audited("AU7", T0, confirmed_by="bob", confirmed_at=fmt(T0 + H))    # two findings
    audited("AU8", None)                                               # not sent yet
    audited("AU9", T0, is_proof="true")                                # a proof: exempt
    audited("AU10", T0 + 20 * D, confirmed_by="alice", confirmed_at=fmt(T0 - H))  # relayed after as_of
    operators = [
        {"operator": "alice", "roles": "start_deliveries;prepare_deliveries"},
        {"operator": "bob", "roles": "prepare_deliveries"},
    ]

    # Exclusions: AU1 3 quarantined + 1 denylisted + 2 duplicate (the 2nd excluded after
    # as_of: not counted); AU3 1 address_empty.
    def excl(delivery_id: str, address: str, reason: str, at: datetime) -> dict:
        return {"delivery_id": delivery_id, "address": address, "profile_id": f"p-{address}",
                "reason": reason, "excluded_at": fmt(at)}
    exclusions = [
        excl("AU1", "q1@a.test", "quarantined", T0 - D),
        excl("AU1", "q2@a.test", "quarantined", T0 - D),
        excl("AU1", "q3@a.test", "quarantined", T0 - D),
        excl("AU1", "dl@a.test", "denylisted", T0 - D),
        excl("AU1", "dup1@a.test", "duplicate", T0 - D),
        excl("AU1", "dup2@a.test", "duplicate", T0 + 20 * D),
        excl("AU3", "no-address-1", "address_empty", T0 - D),
    ]
    b.land(s, operators=operators, exclusions=exclusions)
    s.build(AS_OF_AROUND, run_checks=RUN_CHECKS)
    return s


def test_profile_history(around):
    s = around
    rows = s.query("""select message_id, delivery_id, label, channel, relayed_at, final_status,
                             has_opened, has_clicked, has_opted_out, has_open_or_implied
                      from marts.fct_profile_history where profile_id = 'p1' order by delivery_id""")
    got = [(r["delivery_id"], r["channel"], r["relayed_at"], r["final_status"],
            r["has_opened"], r["has_clicked"], r["has_opted_out"], r["has_open_or_implied"]) for r in rows]
    assert got == [
        # DA standard, delivered: sent; opened and clicked
        ("DA", "email", T0, "sent", True, True, False, True),
        # DB efs, hard bounce: failed; no activity
        ("DB", "email", T0 + 10 * 60 * S, "failed", False, False, False, False),
        # DC sms standard, no feedback: sent; opted out (does not set has_opened)
        ("DC", "sms", T0 + 15 * 60 * S, "sent", False, False, True, True),
        # DD never relayed: no status
        ("DD", "email", None, None, False, False, False, False),
        # DE efs, no feedback yet: pending; a click; the open arrives after as_of
        ("DE", "email", T0 + D, "pending", False, True, False, True),
    ]
    assert rows[0]["label"] == "label DA"
    # every sending-log message has exactly one row
    assert s.one("select count(*) as n from marts.fct_profile_history")["n"] == \
        s.one("select count(*) as n from staging.stg_send_log")["n"]


def test_confirmation_audit(around):
    s = around
    rows = {r["delivery_id"]: r for r in s.query(
        "select * from marts.rpt_confirmation_audit where delivery_id like 'AU%'")}
    got = {k: (r["confirmer_may_start"], r["finding"]) for k, r in rows.items()}
    assert got == {
        "AU1": (True, None),
        "AU2": (False, "confirmed_by_operator_without_start_deliveries"),
        "AU3": (None, "sent_without_required_confirmation"),
        "AU4": (None, None),
        "AU5": (True, "started_before_confirmation"),
        "AU6": (False, "confirmer_unknown"),
        "AU7": (False, "confirmed_by_operator_without_start_deliveries; started_before_confirmation"),
        "AU8": (None, None),
        "AU9": (None, None),
        "AU10": (True, None),
    }
    assert rows["AU1"]["scheduled_at"] == T0
    assert rows["AU1"]["first_relayed_at"] == T0 + 5 * 60 * S
    assert rows["AU1"]["start_lag_seconds"] == 300
    # relayed only after as_of: not sent yet
    assert (rows["AU10"]["first_relayed_at"], rows["AU10"]["sent_messages"]) == (None, 0)
    assert (rows["AU8"]["first_relayed_at"], rows["AU8"]["start_lag_seconds"]) == (None, None)
    assert rows["AU7"]["finding_count"] == 2


def test_exclusion_causes(around):
    s = around
    rows = s.query("select delivery_id, exclusion_reason, excluded_targets, excluded_but_in_send_log "
                   "from marts.rpt_exclusion_causes order by delivery_id, exclusion_reason")
    assert [tuple(r.values()) for r in rows] == [
        ("AU1", "denylisted", 1, 0),
        ("AU1", "duplicate", 1, 0),     # dup2 is excluded after as_of
        ("AU1", "quarantined", 3, 0),
        ("AU3", "address_empty", 1, 0),
    ]
    # excluded targets never appear in the sending log
    assert s.query("""select * from staging.stg_exclusions e join staging.stg_send_log l
                      using (delivery_id, address)""") == []


# ---- the rules against an independent replay, on random event sequences -----------------
def reference_replay(events: list[tuple], start: datetime, as_of: datetime) -> list[tuple]:
    """The rules of SPEC section 4 written plainly: (instant, status, error_count, last_reason)
    after the start, each event and each timed release. events: (event_at, kind, reason)."""
    status, count, last_at, reason = "valid", 0, None, None
    points = [(start, status, count, reason)]

    def release_at():
        if status == "erroneous":
            return min(last_at + 10 * D, last_at + 30 * D) if reason == "mailbox full" else last_at + 10 * D
        if status == "quarantine" and reason == "mailbox full":
            return last_at + 30 * D
        return None

    for at, kind, why in events:
        release = release_at()
        if release is not None and at >= release:
            status, count = "valid", 0
            points.append((release, status, count, reason))
        if kind in ("ignored", "expired") or status == "denylisted":
            pass
        elif kind == "complaint":
            status, last_at, reason = "denylisted", at, "denylisted"
        elif kind == "hard_bounce":
            count += 0 if status == "quarantine" else 1
            status, last_at, reason = "quarantine", at, why or "not defined"
        elif kind == "soft_bounce" and status != "quarantine":
            if count == 0 or at >= last_at + 24 * H:
                count, last_at, reason = count + 1, at, why or "not defined"
                status = "quarantine" if count >= 5 else "erroneous"
        elif kind == "delivered" and status == "erroneous":
            status, count = "valid", 0
        points.append((at, status, count, reason))
    release = release_at()
    if release is not None and release <= as_of:
        points.append((release, "valid", 0, reason))
    return points


def test_quarantine_matches_reference_replay(scenario):
    # 120 addresses, each a random walk of events whose spacing sits on the rule boundaries
    # (23h59m / 24 h / 24 h + 1 s, 10 days, 30 days ...); every change point and the second
    # before it are checked against reference_replay.
    rng = random.Random(20260105)
    steps = [H, 23 * H + 59 * 60 * S, 24 * H, 24 * H + S, 3 * D, 10 * D - S, 10 * D, 30 * D - S, 30 * D]
    kinds = ["soft_bounce"] * 6 + ["hard_bounce", "delivered", "delivered", "ignored", "expired", "complaint"]
    reasons = ["mailbox full", "mailbox full", "invalid domain", None]
    b = Book("r")
    expected: dict[str, list[tuple]] = {}
    as_of = datetime(2027, 6, 1)
    for n in range(120):
        address = f"r{n}@r.test"
        at, events = T0, []
        for _ in range(rng.randint(1, 12)):
            kind = rng.choice(kinds)
            if kind == "complaint":
                m = b.send(address, at - H)
                b.track(m, at, "complaint")
            else:
                b.bounce(address, at, kind, rng.choice(reasons) if "bounce" in kind else None)
            events.append((at, kind, None if kind == "complaint" else b.feedback[-1]["failure_reason"]))
            at += rng.choice(steps)
        expected[address] = reference_replay(events, T0 - H, as_of)
    b.land(scenario)
    scenario.build(fmt(as_of), run_checks=RUN_CHECKS)

    history: dict[str, list[tuple]] = {}
    for r in scenario.query("select address, valid_from, valid_to, status, error_count, last_reason "
                            "from marts.fct_address_quarantine_history where address like '%@r.test'"):
        history.setdefault(r["address"], []).append(
            (r["valid_from"], r["valid_to"], (r["status"], r["error_count"], r["last_reason"])))
    checked = 0
    for address, points in expected.items():
        for instant in sorted({p[0] for p in points} | {p[0] - S for p in points[1:]}):
            want = [p[1:] for p in points if p[0] <= instant][-1]
            got = [state for vf, vt, state in history[address] if vf <= instant and (vt is None or vt > instant)]
            assert got == [want], (address, instant, points)
            checked += 1
    assert checked > 1000
