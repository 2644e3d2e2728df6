"""Sources with freshness (issue 22): a feed that stops while the sends go on is a warning in
the build's output and on the data-quality page, and a row of marts.rpt_source_freshness,
evaluated at the build's as_of; it never stops the build."""

from __future__ import annotations

import logging

import pytest

from sendlens import pipeline
from tests.scenario import Scenario

DELIVERIES = [{"delivery_id": "d1", "label": "x", "channel": "email", "contact_date": "2026-01-05 08:00"}]


def _send(i: int, at: str) -> dict:
    return {"message_id": f"m{i}", "delivery_id": "d1", "profile_id": f"p{i}",
            "address": f"user{i}@example.com", "relayed_at": at}


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Scenario:
    s = Scenario(tmp_path_factory.mktemp("freshness") / "home")
    s.ingest("deliveries", DELIVERIES)
    # sends from 08:00 to 16:00; the MTA's feedback stops after 08:30, tracking has nothing
    s.ingest("send_log", [_send(i, f"2026-01-05 {8 + i:02d}:00") for i in range(9)])
    s.ingest("feedback", [{"event_id": "f0", "message_id": "m0", "event_at": "2026-01-05 08:20",
                           "received_at": "2026-01-05 08:30", "outcome": "delivered"}])
    return s


def test_a_feed_that_stopped_while_the_sends_went_on_is_stale(home, caplog, tmp_path):
    with caplog.at_level(logging.WARNING, logger="sendlens"):
        result = home.build("2026-01-06T00:00:00Z")
    rows = {r["feed"]: r for r in home.query("select * from marts.rpt_source_freshness")}
    fb, tr = rows["feedback"], rows["tracking"]
    # feedback: 7.5 hours of sends (08:30 -> 16:00) after its newest event, 8 messages, > 6 h
    assert fb["is_stale"] is True and fb["messages_relayed_since"] == 8
    assert fb["hours_of_sends_since"] == pytest.approx(7.5) and fb["warn_after_hours"] == 6.0
    assert fb["events_received"] == 1 and str(fb["latest_received_at"]) == "2026-01-05 08:30:00"
    # tracking: no event yet, measured from the first send: 8 hours, under its 24
    assert tr["is_stale"] is False and tr["latest_received_at"] is None
    assert tr["hours_of_sends_since"] == pytest.approx(8.0) and tr["messages_relayed_since"] == 9
    # the build published (a warning, not a failure) and said so
    [check] = [c for c in result.checks if c["name"] == "freshness.feeds"]
    assert check["status"] == "passed" and len(check["warnings"]) == 1
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith("freshness.feeds: the feedback feed is stale: 8 messages were relayed "
                            "over 7.5 hours") for m in said), said
    assert not any("tracking feed" in m for m in said)
    # the data-quality page of the export lists it among its warnings
    out = pipeline.export(home.settings, tmp_path / "out")
    page = (out.out_dir / "data-quality" / "index.html").read_text(encoding="utf-8")
    assert "id='warnings'" in page and "the feedback feed is stale" in page


def test_the_feed_is_fresh_again_once_its_events_arrive(home):
    home.ingest("feedback", [{"event_id": "f8", "message_id": "m8", "event_at": "2026-01-05 16:05",
                              "received_at": "2026-01-05 16:10", "outcome": "delivered"}])
    result = home.build("2026-01-06T00:15:00Z")  # incremental: one new batch, as_of moved
    fb = home.one("select * from marts.rpt_source_freshness where feed = 'feedback'")
    assert fb["is_stale"] is False and fb["messages_relayed_since"] == 0 and fb["hours_of_sends_since"] == 0
    [check] = [c for c in result.checks if c["name"] == "freshness.feeds"]
    assert "warnings" not in check and "arriving" in check["details"]
