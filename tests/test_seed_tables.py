"""The seed's two tables (confirming the send, with and without EFS), step by step, on the
deployment dashboard (compute-stats at each step), on the hourly series and on the sending
logs, in both modes.

Two deliveries receive identical events: d_std (no EFS, own mode standard) and d_efs (EFS).
Contact 2026-01-05 08:00, all relayed 08:00, validity 84 h -> validity_end 2026-01-08 20:00.
  m1  hard bounce 10:00 (user unknown)
  m2  soft bounce 11:00, retry succeeds 2026-01-06 09:00
  m3  soft bounce 12:00, no success: fails silently at validity_end
  m4  soft bounce 12:30, expired reported at validity_end
  m5  delivered 08:05
"""

from __future__ import annotations

import pytest

STEPS_STANDARD = [
    # (instant, delivered_rate, bounces_errors_rate) without EFS; sent = 5 throughout
    ("2026-01-05T08:01:00Z", 1.0, 0.0),   # relayed: Delivered starts at 100%, B+E at 0%
    ("2026-01-05T10:30:00Z", 0.8, 0.2),   # hard bounce: Delivered down, B+E up
    ("2026-01-05T12:45:00Z", 0.8, 0.2),   # soft bounces: no change
    ("2026-01-06T10:00:00Z", 0.8, 0.2),   # a retry succeeds: no change
    ("2026-01-08T21:00:00Z", 0.4, 0.6),   # retries fail (silent expiry m3, expired m4): Delivered down, B+E up
]
STEPS_EFS = [
    ("2026-01-05T08:01:00Z", 0.0, 0.0),   # relayed: Delivered starts at 0%, B+E at 0%, logs Pending
    ("2026-01-05T08:10:00Z", 0.2, 0.0),   # real-time delivery m5: Delivered up
    ("2026-01-05T10:30:00Z", 0.2, 0.2),   # hard bounce: no change in Delivered, B+E up
    ("2026-01-05T12:45:00Z", 0.2, 0.8),   # soft bounces m2 m3 m4: no change in Delivered, B+E up
    ("2026-01-06T10:00:00Z", 0.4, 0.6),   # retry of m2 succeeds: Delivered up, B+E down
    ("2026-01-08T21:00:00Z", 0.4, 0.6),   # retries fail: no change in either
]


def _events(mid_prefix: str) -> list[dict]:
    m = lambda i: f"{mid_prefix}{i}"  # noqa: E731
    return [
        {"event_id": f"{mid_prefix}e1", "message_id": m(1), "event_at": "2026-01-05 10:00:00", "outcome": "hard_bounce", "failure_reason": "user unknown"},
        {"event_id": f"{mid_prefix}e2", "message_id": m(2), "event_at": "2026-01-05 11:00:00", "outcome": "soft_bounce", "failure_reason": "mailbox full"},
        {"event_id": f"{mid_prefix}e3", "message_id": m(2), "event_at": "2026-01-06 09:00:00", "outcome": "delivered"},
        {"event_id": f"{mid_prefix}e4", "message_id": m(3), "event_at": "2026-01-05 12:00:00", "outcome": "soft_bounce", "failure_reason": "invalid domain"},
        {"event_id": f"{mid_prefix}e5", "message_id": m(4), "event_at": "2026-01-05 12:30:00", "outcome": "soft_bounce", "failure_reason": "unreachable"},
        {"event_id": f"{mid_prefix}e6", "message_id": m(4), "event_at": "2026-01-08 20:00:00", "outcome": "expired"},
        {"event_id": f"{mid_prefix}e7", "message_id": m(5), "event_at": "2026-01-05 08:05:00", "outcome": "delivered"},
    ]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    from tests.scenario import Scenario

    s = Scenario(tmp_path_factory.mktemp("seed") / "home")
    s.ingest("deliveries", [
        {"delivery_id": "d_std", "label": "without EFS", "channel": "email", "efs_enabled": "false", "contact_date": "2026-01-05 08:00:00"},
        {"delivery_id": "d_efs", "label": "with EFS", "channel": "email", "efs_enabled": "true", "contact_date": "2026-01-05 08:00:00"},
    ])
    s.ingest("send_log", [
        {"message_id": f"{p}{i}", "delivery_id": d, "profile_id": f"p{i}", "address": f"u{i}@example.com", "relayed_at": "2026-01-05 08:00:00"}
        for p, d in (("s", "d_std"), ("e", "d_efs")) for i in range(1, 6)
    ])
    s.ingest("feedback", _events("s") + _events("e"))
    s.build("2026-01-09T00:00:00Z")
    return s


def test_dashboard_follows_the_seed_tables_step_by_step(seeded):
    instants = sorted({t for t, *_ in STEPS_STANDARD} | {t for t, *_ in STEPS_EFS})
    expected = {("d_std", t): (d, b) for t, d, b in STEPS_STANDARD} | {("d_efs", t): (d, b) for t, d, b in STEPS_EFS}
    for instant in instants:
        seeded.compute_stats(instant)
        for row in seeded.query("select * from marts.dash_delivery_kpis order by delivery_id"):
            key = (row["delivery_id"], instant)
            if key not in expected:
                continue
            assert row["sent"] == 5 and row["to_deliver"] == 5
            assert row["reporting_mode"] == ("efs" if row["delivery_id"] == "d_efs" else "standard")
            assert (row["delivered_rate"], row["bounces_errors_rate"]) == pytest.approx(expected[key]), key


def test_sending_logs_follow_the_seed_tables_in_both_modes(seeded):
    def status_at(message_id: str, mode: str, instant: str) -> str:
        return seeded.one(
            "select status from marts.fct_message_status_history where message_id = ? and reporting_mode = ? "
            "and valid_from <= cast(? as timestamp) and (valid_to is null or valid_to > cast(? as timestamp))",
            [message_id, mode, instant, instant])["status"]

    # relayed: standard Sent, efs Pending
    assert status_at("s1", "standard", "2026-01-05 09:00") == "sent"
    assert status_at("s1", "efs", "2026-01-05 09:00") == "pending"
    # hard bounce: Failed in both
    assert status_at("s1", "standard", "2026-01-05 10:00") == "failed"
    assert status_at("s1", "efs", "2026-01-05 10:00") == "failed"
    # soft bounce: standard unchanged Sent, efs Failed
    assert status_at("s2", "standard", "2026-01-05 11:00") == "sent"
    assert status_at("s2", "efs", "2026-01-05 11:00") == "failed"
    # retry succeeds: Sent in both
    assert status_at("s2", "standard", "2026-01-06 09:00") == "sent"
    assert status_at("s2", "efs", "2026-01-06 09:00") == "sent"
    # retries fail: standard Failed at validity_end (silently or by the expired report), efs unchanged Failed
    for mid in ("s3", "s4"):
        assert status_at(mid, "standard", "2026-01-08 19:59:59") == "sent"
        assert status_at(mid, "standard", "2026-01-08 20:00") == "failed"
        assert status_at(mid, "efs", "2026-01-08 20:00") == "failed"
    # the same events give the same statuses whatever mode the delivery is configured for
    final = seeded.query("select replace(message_id, 'e', 's') as m, reporting_mode, status, failure_type, failure_reason "
                         "from marts.fct_message_status where delivery_id = 'd_efs' order by 1, 2")
    same = seeded.query("select message_id as m, reporting_mode, status, failure_type, failure_reason "
                        "from marts.fct_message_status where delivery_id = 'd_std' order by 1, 2")
    assert final == same
    assert seeded.one("select status, failure_type, failure_reason from marts.fct_message_status "
                      "where message_id = 's3' and reporting_mode = 'standard'") == {
        "status": "failed", "failure_type": "soft", "failure_reason": "invalid domain"}


def test_hourly_series_starts_at_100_standard_and_0_efs(seeded):
    def curve(delivery: str, mode: str) -> dict[str, tuple[float, float]]:
        return {str(r["hour_start"]): (r["delivered_rate"], r["bounces_errors_rate"]) for r in seeded.query(
            "select * from marts.rpt_delivery_kpis_hourly where delivery_id = ? and reporting_mode = ? order by hour_start",
            [delivery, mode])}

    std, efs = curve("d_std", "standard"), curve("d_std", "efs")
    # hour 08:00-09:00: standard 100% delivered; efs 20% (m5 delivered in real time at 08:05)
    assert std["2026-01-05 08:00:00"] == pytest.approx((1.0, 0.0))
    assert efs["2026-01-05 08:00:00"] == pytest.approx((0.2, 0.0))
    assert std["2026-01-05 10:00:00"] == pytest.approx((0.8, 0.2))
    assert efs["2026-01-05 12:00:00"] == pytest.approx((0.2, 0.8))
    assert efs["2026-01-06 09:00:00"] == pytest.approx((0.4, 0.6))
    # the last hour (validity_end 20:00 falls at its top): retries failed
    last = max(std)
    assert last == "2026-01-08 20:00:00"
    assert std[last] == pytest.approx((0.4, 0.6)) and efs[last] == pytest.approx((0.4, 0.6))
    # standard decreases monotonically, never increases
    values = [v[0] for _, v in sorted(std.items())]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_report_is_final_after_validity_and_provisional_before(seeded):
    rows = seeded.query("select delivery_id, reporting_mode, is_final, processed, delivered, bounces_errors, "
                        "hard_bounces, soft_bounces, delivered_rate from marts.rpt_delivery_kpis where delivery_id = 'd_std' order by reporting_mode")
    # efs and standard agree once everything is settled: 2 delivered, 3 failed (1 hard, 2 soft)
    for r in rows:
        assert r["is_final"] is True
        assert (r["processed"], r["delivered"], r["bounces_errors"], r["hard_bounces"], r["soft_bounces"]) == (5, 2, 3, 1, 2)
        assert r["delivered_rate"] == pytest.approx(0.4)
