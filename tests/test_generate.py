"""The synthetic data generator: determinism, contract, integrity and realism bands."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sendlens.ingest.contracts import CONTRACTS, FAILURE_REASONS, KINDS
from sendlens.ingest.readers import load_raw
from sendlens.ingest.validate import validation_sql
from sendlens.sample import UA_MPP, generate

SAMPLE = 50_000
ARROW = {
    "string": (pa.string(), pa.large_string()),
    "bool": (pa.bool_(),),
    "timestamp": (pa.timestamp("us"),),
    "double": (pa.float64(),),
    "int": (pa.int64(),),
    "list": (pa.list_(pa.string()), pa.list_(pa.large_string()), pa.large_list(pa.string())),
}
MACHINE_UA = "(GoogleImageProxy|Barracuda|Mimecast)"


def content_hash(paths: dict[str, Path]) -> str:
    digest = hashlib.sha256()
    for kind in sorted(paths):
        digest.update(kind.encode())
        digest.update(pickle.dumps(pq.read_table(paths[kind]).to_pydict()))
    return digest.hexdigest()


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict[str, Path]:
    return generate(tmp_path_factory.mktemp("sample"), SAMPLE, seed=42)


@pytest.fixture(scope="module")
def db(sample) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for kind, path in sample.items():
        con.execute(f"create view {kind} as select * from read_parquet('{path}')")
    # Executions: deliveries that carry messages and count in KPIs (no proofs, no recurring parents).
    con.execute("""
        create view executions as select * from deliveries
        where not is_proof and delivery_id not in
            (select parent_delivery_id from deliveries where parent_delivery_id is not null)""")
    con.execute("""
        create view messages as
        select s.*, d.channel, d.efs_enabled, d.contact_date, d.is_proof,
            d.contact_date + to_hours(cast(case when d.channel = 'email' then least(d.validity_hours, 84)
                                              else d.validity_hours end as bigint)) as validity_end
        from send_log s join deliveries d using (delivery_id)""")
    con.execute("""
        create view fb_message as
        select m.message_id, m.channel, m.efs_enabled, m.address,
            count(f.event_id) as events,
            coalesce(bool_or(f.outcome = 'hard_bounce'), false) as hard,
            coalesce(bool_or(f.outcome = 'soft_bounce'), false) as soft,
            coalesce(bool_or(f.outcome = 'delivered'), false) as delivered,
            coalesce(bool_or(f.outcome = 'expired'), false) as expired
        from messages m left join (select distinct * from feedback) f using (message_id)
        where m.relayed_at is not null and not m.is_test_profile
        group by all""")
    con.execute(f"""
        create view tr_message as
        select m.message_id, m.channel,
            coalesce(sum((t.type = 'open' and not regexp_matches(t.user_agent, '{MACHINE_UA}')
                          and t.user_agent <> '{UA_MPP}')::int), 0) as human_opens,
            coalesce(bool_or(t.type = 'open'), false) as any_open,
            coalesce(bool_or(t.type = 'click' and not regexp_matches(t.user_agent, '{MACHINE_UA}')), false)
                as human_click,
            coalesce(bool_or(t.type = 'opt_out'), false) as opt_out,
            coalesce(bool_or(t.type = 'mirror_page'), false) as mirror_page,
            coalesce(bool_or(t.type = 'complaint'), false) as complaint
        from fb_message m left join (select distinct * from tracking) t using (message_id)
        where not m.hard and not m.expired
        group by all""")
    return con


def one(con: duckdb.DuckDBPyConnection, sql: str):
    return con.execute(sql).fetchone()[0]


# ----------------------------------------------------------------------------- interface


def test_returns_one_zstd_parquet_per_kind_and_reports_progress(tmp_path):
    calls: list[str] = []
    paths = generate(tmp_path, 2_500, chunk_size=1_000, progress=calls.append)
    assert set(paths) == set(KINDS)
    for kind, path in paths.items():
        assert path == tmp_path / f"{kind}.parquet" and path.is_file()
        meta = pq.ParquetFile(path).metadata
        if meta.num_row_groups:
            assert meta.row_group(0).column(0).compression == "ZSTD"
    assert len(calls) == 3
    assert pq.ParquetFile(paths["send_log"]).metadata.num_row_groups == 3
    assert pq.read_table(paths["send_log"]).num_rows == 2_500


def test_same_seed_same_content_other_seed_other_content(tmp_path):
    a = content_hash(generate(tmp_path / "a", 8_000, seed=3))
    b = content_hash(generate(tmp_path / "b", 8_000, seed=3))
    c = content_hash(generate(tmp_path / "c", 8_000, seed=4))
    assert a == b
    assert a != c


def test_content_does_not_depend_on_chunk_size(tmp_path):
    a = content_hash(generate(tmp_path / "a", 6_000, seed=5))
    b = content_hash(generate(tmp_path / "b", 6_000, seed=5, chunk_size=777))
    assert a == b


@pytest.mark.parametrize("messages", [1, 7, 100])
def test_tiny_volumes_still_produce_every_file(tmp_path, messages):
    paths = generate(tmp_path, messages)
    assert pq.read_table(paths["send_log"]).num_rows == messages
    assert all(p.is_file() for p in paths.values())


# ----------------------------------------------------------------------------- contract


def test_schema_matches_the_contract(sample):
    for kind, contract in CONTRACTS.items():
        schema = pq.read_schema(sample[kind])
        assert tuple(schema.names) == contract.names, kind
        for column in contract.columns:
            assert schema.field(column.name).type in ARROW[column.dtype], (kind, column.name)


def test_every_row_passes_landing_validation(sample):
    con = duckdb.connect()
    for kind, contract in CONTRACTS.items():
        columns = {c.name: c for c in load_raw(con, sample[kind]) if c.name in contract.names}
        bad = con.execute(f"select _field, _reason, count(*) from ({validation_sql(contract, columns)}) "
                          "where _reason is not null group by all").fetchall()
        assert bad == [], (kind, bad)


def test_keys_are_unique_and_duplicates_are_exact_copies(db):
    assert one(db, "select count(*) - count(distinct delivery_id) from deliveries") == 0
    assert one(db, "select count(*) - count(distinct message_id) from send_log") == 0
    assert one(db, "select count(*) - count(distinct (delivery_id, address)) from exclusions") == 0
    assert one(db, "select count(*) - count(distinct operator) from operators") == 0
    for kind in ("feedback", "tracking"):
        # same event_id => same row
        assert one(db, f"select count(distinct event_id) - count(*) from (select distinct * from {kind})") == 0


# ----------------------------------------------------------------------------- integrity


def test_referential_integrity(db):
    assert one(db, "select count(*) from send_log where delivery_id not in (select delivery_id from deliveries)") == 0
    for kind in ("feedback", "tracking"):
        assert one(db, f"select count(*) from {kind} where message_id not in (select message_id from send_log)") == 0
    assert one(db, "select count(*) from exclusions where delivery_id not in (select delivery_id from deliveries)") == 0
    assert one(db, """select count(*) from deliveries where parent_delivery_id is not null
                      and parent_delivery_id not in (select delivery_id from deliveries)""") == 0
    assert one(db, """select count(*) from deliveries where confirmed_by is not null
                      and confirmed_by not in (select operator from operators)""") == 0


def test_excluded_targets_never_reach_the_send_log(db):
    assert one(db, "select count(*) from exclusions") > 0
    assert one(db, """select count(*) from exclusions e join send_log s
                      on s.delivery_id = e.delivery_id and s.profile_id = e.profile_id""") == 0
    assert one(db, "select count(distinct reason) from exclusions") == 5
    assert one(db, """select count(*) from exclusions e join deliveries d using (delivery_id)
                      where e.excluded_at >= d.contact_date""") == 0


def test_events_of_unrelayed_messages_and_bounced_messages_do_not_exist(db):
    assert one(db, """select count(*) from feedback join send_log using (message_id) where relayed_at is null""") == 0
    assert one(db, """select count(*) from tracking join send_log using (message_id) where relayed_at is null""") == 0
    assert one(db, """select count(*) from tracking where message_id in
                      (select message_id from feedback where outcome in ('hard_bounce', 'expired'))""") == 0
    assert one(db, """select count(*) from (select event_at, received_at from feedback union all
                      select event_at, received_at from tracking) where received_at < event_at""") == 0


# ----------------------------------------------------------------------------- realism: deliveries


def test_delivery_mix(db):
    n = one(db, "select count(*) from executions")
    assert n >= 12
    assert 0.75 <= one(db, "select avg((channel = 'email')::int) from executions") <= 0.95
    assert one(db, "select count(*) from executions where channel = 'sms'") >= 1
    assert one(db, "select count(*) from executions where channel = 'push'") >= 1
    assert 0.20 <= one(db, "select avg(efs_enabled::int) from executions") <= 0.40
    assert one(db, "select count(*) from executions where efs_enabled and channel <> 'email'") == 0
    span = one(db, "select max(contact_date) - min(contact_date) from deliveries")
    assert 1 <= span.days <= 7
    assert one(db, "select avg((validity_hours = 84)::int) from deliveries") >= 0.6
    assert one(db, "select count(*) from deliveries where channel = 'email' and validity_hours = 120") >= 1
    assert one(db, "select count(*) from deliveries where channel = 'sms' and validity_hours in (24, 48)") >= 1


def test_proofs_go_to_a_few_test_profiles(db):
    rows = db.execute("""select delivery_id, count(*), bool_and(is_test_profile) from send_log
                         join deliveries using (delivery_id) where is_proof group by 1""").fetchall()
    assert len(rows) >= 2
    assert all(2 <= n <= 5 and all_test for _, n, all_test in rows)


def test_recurring_children_run_daily_under_their_parent(db):
    rows = db.execute("""select parent_delivery_id, list(contact_date order by contact_date)
                         from deliveries where parent_delivery_id is not null group by 1""").fetchall()
    assert rows
    for parent, dates in rows:
        assert len(dates) >= 3
        assert all((b - a).total_seconds() == 86400 for a, b in zip(dates, dates[1:]))
        assert one(db, f"select count(*) from send_log where delivery_id = '{parent}'") == 0
    assert one(db, "select count(*) from send_log join deliveries using (delivery_id) "
                   "where parent_delivery_id is not null") > 0


def test_confirmations_include_findings(db):
    assert one(db, "select avg(requires_confirmation::int) from executions where parent_delivery_id is null") >= 0.7
    unconfirmed = one(db, """select count(*) from executions where requires_confirmation
                             and confirmed_by is null and confirmed_at is null""")
    assert 1 <= unconfirmed <= 2
    wrong = one(db, """select count(*) from deliveries d join operators o on o.operator = d.confirmed_by
                       where not list_contains(o.roles, 'start_deliveries')""")
    assert wrong >= 1
    assert one(db, """select count(*) from deliveries d join operators o on o.operator = d.confirmed_by
                      where list_contains(o.roles, 'start_deliveries')""") > wrong
    assert one(db, "select count(*) from deliveries where confirmed_at > scheduled_at") == 0
    assert one(db, "select count(*) from deliveries where scheduled_at > contact_date") == 0


def test_operators(db):
    rows = db.execute("select operator, roles from operators").fetchall()
    assert 6 <= len(rows) <= 10
    assert all(len(roles) >= 1 for _, roles in rows)
    assert any("start_deliveries" in roles for _, roles in rows)
    assert any("start_deliveries" not in roles and "prepare_deliveries" in roles for _, roles in rows)


# ----------------------------------------------------------------------------- realism: send log


def test_send_log_shapes(db):
    assert 0.003 <= one(db, "select avg(is_test_profile::int) from send_log") <= 0.012
    assert 0.001 <= one(db, "select avg((relayed_at is null)::int) from send_log") <= 0.006
    assert one(db, "select count(*) * 1.0 / count(distinct profile_id) from send_log where not is_test_profile") >= 2.5
    assert one(db, "select max(n) from (select count(*) n from send_log group by delivery_id, profile_id)") == 1
    assert one(db, "select count(*) from messages where relayed_at < contact_date") == 0
    assert one(db, "select quantile_cont(epoch(relayed_at - contact_date), 0.99) from messages") < 30 * 60
    domains = {r[0] for r in db.execute(
        "select split_part(address, '@', 2) from messages where channel = 'email'").fetchall()}
    assert {"gmail.com", "yahoo.com", "outlook.com", "orange.fr", "acme-corp.com", "gmial.com"} <= domains
    assert one(db, "select bool_and(regexp_matches(address, '^\\+3[13]6[0-9]{8}$')) from messages where channel = 'sms'")
    assert one(db, "select bool_and(regexp_matches(address, '^[0-9a-f]{64}$')) from messages where channel = 'push'")


# ----------------------------------------------------------------------------- realism: feedback


def test_bounce_rates(db):
    assert 0.01 <= one(db, "select avg(hard::int) from fb_message where channel = 'email'") <= 0.03
    assert 0.03 <= one(db, "select avg(soft::int) from fb_message where channel = 'email'") <= 0.06
    recovered = one(db, "select sum((soft and delivered)::int) / sum(soft::int) from fb_message")
    assert 0.50 <= recovered <= 0.70
    assert one(db, "select count(*) from fb_message where soft and not delivered and not expired") == 0


def test_typo_domain_always_hard_bounces_invalid_domain(db):
    rows = db.execute("""select count(*), count(f.event_id) from messages m left join feedback f
                         on f.message_id = m.message_id and f.outcome = 'hard_bounce'
                         and f.failure_reason = 'invalid domain'
                         where m.address like '%@gmial.com' and m.relayed_at is not null""").fetchone()
    assert rows[0] > 0 and rows[1] >= rows[0]


def test_efs_reports_every_outcome_standard_only_failures(db):
    assert one(db, "select count(*) from fb_message where efs_enabled and events = 0") == 0
    assert one(db, "select count(*) from fb_message where not efs_enabled and delivered and not soft and not hard") == 0
    assert one(db, "select count(*) from fb_message where not efs_enabled and events = 0") > 0


def test_retry_timelines(db):
    # soft bounces numbered 1..n, hours apart, inside the validity period
    assert one(db, """select count(*) from (select message_id, max(attempt) a, count(distinct attempt) n
                      from feedback where outcome = 'soft_bounce' group by 1) where a <> n""") == 0
    assert one(db, "select max(attempt) from feedback where outcome = 'soft_bounce'") >= 3
    assert one(db, """select count(*) from feedback f join messages m using (message_id)
                      where f.outcome = 'soft_bounce' and f.event_at >= m.validity_end""") == 0
    gap_h = one(db, """select median(gap) from (select epoch(event_at - lag(event_at) over
                       (partition by message_id order by attempt)) / 3600 gap
                       from (select distinct * from feedback) where outcome = 'soft_bounce') where gap is not null""")
    assert 1 <= gap_h <= 24
    assert one(db, """select count(*) from feedback f join messages m using (message_id)
                      where f.outcome = 'expired' and f.event_at < m.validity_end""") == 0
    late = one(db, """select count(*) from feedback f join messages m using (message_id)
                      where f.outcome = 'delivered' and f.attempt > 1 and f.event_at > m.validity_end""")
    assert late >= 1


def test_failure_reasons_and_codes(db):
    reasons = {r[0] for r in db.execute("select distinct failure_reason from feedback where failure_reason is not null").fetchall()}
    assert {"user unknown", "mailbox full", "invalid domain", "error ignored"} <= reasons
    assert reasons - set(FAILURE_REASONS), "some unknown reasons exercise the 'other' mapping"
    assert one(db, "select count(*) from feedback where outcome = 'ignored'") > 0
    assert one(db, """select bool_and(smtp_code = '452' and diagnostic like '452 4.2.2%') from feedback
                      where failure_reason = 'mailbox full' and outcome = 'soft_bounce'""")
    assert one(db, """select count(*) from feedback f join messages m using (message_id) where m.channel = 'email'
                      and f.outcome = 'hard_bounce' and f.failure_reason = 'user unknown'
                      and f.diagnostic like '%5.1.1%'""") > 0


@pytest.mark.parametrize("kind", ["feedback", "tracking"])
def test_arrival_noise(db, kind):
    dup = one(db, f"select 1 - count(distinct event_id) / count(*) from {kind}")
    assert 0.005 <= dup <= 0.016
    late = one(db, f"select avg((received_at >= event_at + interval 30 minute)::int) from {kind}")
    assert 0.01 <= late <= 0.035
    assert 0.6 <= one(db, f"select avg((received_at = event_at)::int) from {kind}") <= 0.8


def test_arrival_order_differs_from_event_order(db):
    assert one(db, """select count(*) from feedback a join feedback b using (message_id)
                      where a.event_at < b.event_at and a.received_at > b.received_at""") > 0


# ----------------------------------------------------------------------------- realism: tracking


def test_open_and_click_rates(db):
    human_open_rate = one(db, "select avg((human_opens > 0)::int) from tr_message where channel = 'email'")
    assert 0.20 <= human_open_rate <= 0.35
    assert one(db, "select avg(human_opens) from tr_message where human_opens > 0") >= 1.3
    ctr_of_openers = one(db, """select avg(human_click::int) from tr_message
                                where channel = 'email' and human_opens > 0""")
    assert 0.10 <= ctr_of_openers <= 0.20
    click_without_open = one(db, """select avg((not any_open)::int) from tr_message
                                    where channel = 'email' and human_click""")
    assert 0.02 <= click_without_open <= 0.10
    assert 0.001 <= one(db, "select avg(opt_out::int) from tr_message where channel = 'email'") <= 0.006
    assert 0.005 <= one(db, "select avg(mirror_page::int) from tr_message where channel = 'email'") <= 0.02
    assert one(db, "select count(*) from tr_message where complaint") >= 1


def test_open_delays_decay_with_a_long_tail(db):
    hours = db.execute("""select quantile_cont(epoch(t.event_at - m.contact_date) / 3600, [0.5, 0.9]),
                          avg((t.event_at > m.contact_date + interval 7 day)::int)
                          from tracking t join messages m using (message_id)
                          where t.type = 'open' and m.channel = 'email'""").fetchone()
    (median, p90), beyond_7d = hours
    assert median < 12 and p90 > 24
    assert 0.001 <= beyond_7d <= 0.03


def test_machine_activity(db):
    mpp = one(db, f"""select avg((user_agent = '{UA_MPP}')::int) from (select distinct * from tracking) t
                      join messages m using (message_id) where t.type = 'open' and m.channel = 'email'""")
    assert 0.10 <= mpp <= 0.20
    assert one(db, f"""select max(epoch(t.event_at - m.relayed_at)) from tracking t join messages m using (message_id)
                       where t.user_agent = '{UA_MPP}'
                       and m.message_id in (select message_id from fb_message where not soft)""") < 60
    assert one(db, "select count(*) from tracking where user_agent like '%GoogleImageProxy%'") > 0
    scanner = db.execute("""select count(*), max(epoch(t.event_at - m.relayed_at)), min(epoch(t.event_at - m.relayed_at)),
                            count(distinct url) from tracking t join messages m using (message_id)
                            where t.type = 'click' and regexp_matches(t.user_agent, 'Barracuda|Mimecast')
                            and m.message_id in (select message_id from fb_message where not soft)""").fetchone()
    assert scanner[0] > 0 and scanner[1] <= 5 and scanner[2] >= 1 and scanner[3] >= 3
    # humans never look like machines to the time heuristics (open within 2 s, click within 10 s)
    assert one(db, f"""select count(*) from tracking t join messages m using (message_id)
                       where not regexp_matches(coalesce(t.user_agent, ''), '{MACHINE_UA}')
                       and coalesce(t.user_agent, '') <> '{UA_MPP}'
                       and epoch(t.event_at - m.relayed_at) <= 10""") == 0


def test_tracking_by_channel(db):
    rows = dict(db.execute("""select m.channel, list(distinct t.type) from tracking t
                              join messages m using (message_id) group by 1""").fetchall())
    assert sorted(rows["sms"]) == ["click"]
    assert sorted(rows["push"]) == ["click", "open"]
    assert set(rows["email"]) == {"open", "click", "opt_out", "mirror_page", "complaint"}
    assert one(db, "select count(*) from tracking where type in ('click', 'opt_out', 'mirror_page') and url is null") == 0
