-- The hand-written analyst baseline (issue 20): one DuckDB script over the files that
-- `sendlens generate --out DIR` writes, no dbt, no lake, no incremental machinery. It computes
--   baseline_message_status   every relayed message's status under BOTH reporting modes as
--                             known at as_of (the columns of marts.fct_message_status,
--                             with is_test_profile and is_proof for the KPIs);
--   baseline_delivery_kpis    the core report KPIs per delivery and mode (the core columns of
--                             marts.rpt_delivery_kpis), recurring parents included.
-- It follows SPEC sections 2 and 3 and the marts' rules; tests/test_baseline.py checks that the
-- two tables equal the marts on a generated sample.
--
-- Bound before it runs (benchmarks/baseline.py does it), never pasted into this text:
--   set variable input = '<folder of deliveries.parquet, send_log.parquet, ...>';
--   set variable seeds = '<folder of failure_reasons.csv and bounce_qualification.csv>';
--   set variable as_of = timestamp '<the instant, UTC>';
--   set variable report_window_days = 7;   -- tracking counts until contact_date + this
--
-- What an afternoon's script leaves out, on purpose: ingest's validation (the generated files
-- are clean; nothing is rejected), several landed batches (one file per kind: the last
-- deliveries row of an id wins, a repeated event_id is an exact copy counted once, send_log's
-- message_id is unique), the diagnostic masking of bounce qualification (rules are matched
-- against the diagnostic with its white space collapsed; no rule of the seed names a masked
-- token), machine opens, and every report beyond the status and the core KPIs.

-- deliveries: the last row of each delivery_id, with the settings' defaults and validity end
-- (contact_date + min(validity_hours, 84) for email, + validity_hours otherwise)
create or replace temp table bl_deliveries as
select
    delivery_id,
    channel,
    coalesce(efs_enabled, false) as efs_enabled,
    contact_date,
    coalesce(is_proof, false) as is_proof,
    parent_delivery_id,
    contact_date + to_microseconds(cast(
        case when channel = 'email' then least(coalesce(validity_hours, 84), 84) else coalesce(validity_hours, 84) end
        * 3600 * 1000000.0 as bigint)) as validity_end_at
from read_parquet(getvariable('input') || '/deliveries.parquet', file_row_number = true)
qualify row_number() over (partition by delivery_id order by file_row_number desc) = 1;

-- messages with their delivery's settings; a stated expires_at ends the validity instead
create or replace temp table bl_messages as
select
    s.message_id,
    s.delivery_id,
    s.profile_id,
    coalesce(s.is_test_profile, false) as is_test_profile,
    s.relayed_at,
    coalesce(s.expires_at, d.validity_end_at) as validity_end_at,
    coalesce(d.is_proof, false) as is_proof,
    d.contact_date
from read_parquet(getvariable('input') || '/send_log.parquet') as s
left join bl_deliveries as d
    on s.delivery_id = d.delivery_id;

-- feedback of relayed messages known by as_of: each event_id once, its reason canonical
create or replace temp table bl_feedback as
with raw as (
    -- each event once: ingest rejects a repeated event_id with other content, so the copies
    -- that land are exact
    select distinct *
    from read_parquet(getvariable('input') || '/feedback.parquet')
),

aliases as (
    select alias, failure_reason
    from read_csv(getvariable('seeds') || '/failure_reasons.csv', header = true, all_varchar = true)
),

events as (
    select
        f.event_id,
        f.message_id,
        f.event_at,
        coalesce(f.received_at, f.event_at) as received_at,
        greatest(coalesce(f.received_at, f.event_at), m.relayed_at) as known_at,
        f.outcome,
        f.smtp_code,
        f.diagnostic,
        case
            when f.failure_reason is null or trim(f.failure_reason) = '' then null
            else coalesce(a.failure_reason, 'other')
        end as feed_reason,
        m.validity_end_at
    from raw as f
    inner join bl_messages as m
        on f.message_id = m.message_id
    left join aliases as a
        on a.alias = lower(trim(replace(replace(f.failure_reason, '_', ' '), '-', ' ')))
    where m.relayed_at <= getvariable('as_of')
        and greatest(coalesce(f.received_at, f.event_at), m.relayed_at) <= getvariable('as_of')
)

select
    *,
    outcome in ('hard_bounce', 'soft_bounce', 'expired')
        and (feed_reason is null or feed_reason = 'not defined') as needs_rule
from events;

-- bounce qualification: a failure without a reason (or 'not defined') takes the reason of the
-- first rule of the seed that matches it (by priority, then rule_id), on its enhanced status
-- code, its reply code or its diagnostic; each distinct text is qualified once
create or replace temp table bl_qualified as
with rules as (
    select
        rule_id,
        cast(priority as integer) as priority,
        lower(trim(match_on)) as match_on,
        trim(pattern) as pattern,
        case when lower(trim(outcomes)) = 'any' then null
             else string_split_regex(lower(trim(outcomes)), '\s+') end as outcomes,
        failure_reason
    from read_csv(getvariable('seeds') || '/bounce_qualification.csv', header = true, all_varchar = true)
    where trim(pattern) <> ''
),

texts as (
    select distinct
        outcome,
        diagnostic,
        smtp_code,
        coalesce(
            nullif(regexp_extract(diagnostic, '(^|[^0-9.])([45][.][0-9][.][0-9]{1,3})($|[^0-9.]|[.]($|[^0-9]))', 2), ''),
            nullif(regexp_extract(smtp_code, '^[ ]*([45][.][0-9][.][0-9]{1,3})[ ]*$', 1), '')
        ) as enhanced_code,
        trim(regexp_replace(diagnostic, '[ \t\r\n]+', ' ', 'g')) as diagnostic_text
    from bl_feedback
    where needs_rule
),

coded as (
    select
        *,
        coalesce(
            nullif(regexp_extract(smtp_code, '^[ ]*([245][0-9][0-9])[ ]*$', 1), ''),
            nullif(regexp_extract(diagnostic_text, '^[ ]*([a-zA-Z0-9-]+;[ ]*)?([245][0-9][0-9])([ -]|$)', 2), '')
        ) as reply_code
    from texts
)

select
    c.outcome,
    c.diagnostic,
    c.smtp_code,
    arg_min(r.failure_reason, (r.priority, r.rule_id)) as rule_reason
from coded as c
inner join rules as r
    on (r.outcomes is null or list_contains(r.outcomes, c.outcome))
    and case r.match_on
        when 'enhanced_code' then
            case when ends_with(r.pattern, '.') then starts_with(c.enhanced_code, r.pattern)
                 else c.enhanced_code = r.pattern end
        when 'smtp_code' then c.reply_code = r.pattern
        when 'diagnostic' then regexp_matches(c.diagnostic_text, r.pattern, 'i')
        else false
    end
group by all;

-- the status of each relayed message under both modes, at as_of (SPEC section 2):
--   a hard bounce known                 -> failed hard (final)
--   else the latest status event by event_at (a soft bounce, an expiry, or a success within
--   the validity period; `ignored` and late successes never count):
--     expired                           -> failed soft                  both modes
--     soft bounce, validity_end passed  -> failed soft                  both modes
--     soft bounce                       -> standard sent, efs failed soft
--     delivered                         -> sent                         both modes
--   no status event                     -> standard sent, efs pending
-- status_at is when the mode's current (status, type, reason) began: the state is recomputed
-- at every instant it can change (the relay, each status event's arrival, validity_end after a
-- soft bounce), as known by as_of.
create or replace table baseline_message_status as
with status_events as (
    select
        f.message_id,
        f.known_at,
        f.event_at,
        f.received_at,
        f.event_id,
        f.outcome,
        case
            when not f.needs_rule then f.feed_reason
            when q.rule_reason is not null then q.rule_reason
            when f.feed_reason is not null then f.feed_reason
            when f.outcome in ('hard_bounce', 'soft_bounce') then 'not defined'
        end as failure_reason
    from bl_feedback as f
    left join bl_qualified as q
        on f.needs_rule
        and f.outcome = q.outcome
        and f.diagnostic is not distinct from q.diagnostic
        and f.smtp_code is not distinct from q.smtp_code
    where f.outcome in ('hard_bounce', 'soft_bounce', 'expired')
        or (f.outcome = 'delivered' and (f.validity_end_at is null or f.event_at <= f.validity_end_at))
),

relayed as (
    select * from bl_messages
    where relayed_at <= getvariable('as_of')
),

eventful as (
    select message_id, relayed_at, validity_end_at
    from relayed
    where message_id in (select message_id from status_events)
),

-- the instants a message's status can change at: its relay, each status event's arrival,
-- and validity_end once a soft bounce is known
change_points as (
    select distinct e.message_id, e.known_at as change_at, m.validity_end_at
    from status_events as e
    inner join eventful as m
        on e.message_id = m.message_id
    union
    select message_id, relayed_at, validity_end_at
    from eventful
    union
    select message_id, greatest(validity_end_at, relayed_at), validity_end_at
    from eventful
    where validity_end_at <= getvariable('as_of')
        and message_id in (select message_id from status_events where outcome = 'soft_bounce')
),

-- what was known at each change point: the first hard bounce, the latest other status event
-- and the latest soft bounce, by event_at (ties by received_at, then event_id)
known as (
    select
        c.message_id,
        c.change_at,
        c.change_at >= c.validity_end_at as is_past_validity,
        arg_min({'reason': e.failure_reason}, (e.event_at, e.received_at, e.event_id))
            filter (where e.outcome = 'hard_bounce') as first_hard,
        arg_max({'outcome': e.outcome, 'reason': e.failure_reason}, (e.event_at, e.received_at, e.event_id))
            filter (where e.outcome <> 'hard_bounce') as latest,
        arg_max({'reason': e.failure_reason}, (e.event_at, e.received_at, e.event_id))
            filter (where e.outcome = 'soft_bounce') as last_soft
    from change_points as c
    left join status_events as e
        on c.message_id = e.message_id
        and e.known_at <= c.change_at
    group by all
),

caused as (
    select
        message_id,
        change_at,
        case
            when first_hard is not null then 'hard_bounce'
            when latest.outcome = 'expired' then 'expired'
            when latest.outcome = 'soft_bounce' and is_past_validity then 'validity_ended'
            when latest.outcome = 'soft_bounce' then 'soft_bounce'
            when latest.outcome = 'delivered' then 'delivered'
            else 'relayed'
        end as cause,
        case
            when first_hard is not null then coalesce(first_hard.reason, 'not defined')
            else coalesce(latest.reason, last_soft.reason, 'not defined')
        end as reason
    from known
),

-- both modes' visible (status, failure type, failure reason) at each change point
visible as (
    select
        message_id,
        change_at,
        case
            when cause = 'hard_bounce' then {'status': 'failed', 'failure_type': 'hard', 'failure_reason': reason}
            when cause in ('expired', 'validity_ended') then {'status': 'failed', 'failure_type': 'soft', 'failure_reason': reason}
            else {'status': 'sent', 'failure_type': null, 'failure_reason': null}
        end as standard_state,
        case
            when cause = 'hard_bounce' then {'status': 'failed', 'failure_type': 'hard', 'failure_reason': reason}
            when cause in ('expired', 'validity_ended', 'soft_bounce') then {'status': 'failed', 'failure_type': 'soft', 'failure_reason': reason}
            when cause = 'delivered' then {'status': 'sent', 'failure_type': null, 'failure_reason': null}
            else {'status': 'pending', 'failure_type': null, 'failure_reason': null}
        end as efs_state
    from caused
),

-- a mode's status_at is the last change point where its visible state changed
changes as (
    select
        *,
        standard_state is distinct from lag(standard_state) over in_order as is_standard_change,
        efs_state is distinct from lag(efs_state) over in_order as is_efs_change
    from visible
    window in_order as (partition by message_id order by change_at)
),

eventful_status as (
    select
        message_id,
        arg_max(standard_state, change_at) as standard_state,
        arg_max(efs_state, change_at) as efs_state,
        max(change_at) filter (where is_standard_change) as standard_status_at,
        max(change_at) filter (where is_efs_change) as efs_status_at
    from changes
    group by message_id
),

both_modes as (
    select
        r.message_id,
        r.delivery_id,
        r.profile_id,
        r.validity_end_at,
        r.is_test_profile,
        r.is_proof,
        coalesce(e.standard_state, {'status': 'sent', 'failure_type': null, 'failure_reason': null}) as standard_state,
        coalesce(e.efs_state, {'status': 'pending', 'failure_type': null, 'failure_reason': null}) as efs_state,
        coalesce(e.standard_status_at, r.relayed_at) as standard_status_at,
        coalesce(e.efs_status_at, r.relayed_at) as efs_status_at
    from relayed as r
    left join eventful_status as e
        on r.message_id = e.message_id
),

by_mode as (
    select message_id, delivery_id, profile_id, validity_end_at, is_test_profile, is_proof, 'standard' as reporting_mode,
        standard_state as state, standard_status_at as status_at
    from both_modes
    union all
    select message_id, delivery_id, profile_id, validity_end_at, is_test_profile, is_proof, 'efs' as reporting_mode,
        efs_state as state, efs_status_at as status_at
    from both_modes
)

select
    message_id,
    delivery_id,
    profile_id,
    reporting_mode,
    state.status as status,
    state.failure_type as failure_type,
    state.failure_reason as failure_reason,
    status_at,
    coalesce(validity_end_at <= getvariable('as_of'), false) as is_final,
    is_test_profile,
    is_proof,
    getvariable('as_of') as as_of
from by_mode;

-- the core report KPIs per delivery and mode (SPEC section 3): proofs and test profiles left
-- out; a recurring execution counts in its own row and in its parent's
create or replace table baseline_delivery_kpis as
with all_deliveries as (
    -- a delivery_id known only from the send log is reported too (standard, never final)
    select delivery_id, is_proof, parent_delivery_id, validity_end_at from bl_deliveries
    union all
    select distinct delivery_id, false, null, null from bl_messages
    where delivery_id not in (select delivery_id from bl_deliveries)
),

rollup as (
    select delivery_id as reporting_delivery_id, delivery_id
    from all_deliveries
    where not is_proof
    union all
    select parent_delivery_id, delivery_id
    from all_deliveries
    where not is_proof and parent_delivery_id is not null and parent_delivery_id <> delivery_id
),

reporting as (
    select
        r.reporting_delivery_id as delivery_id,
        case when bool_or(d.validity_end_at is null) then null else max(d.validity_end_at) end as validity_end_at
    from rollup as r
    inner join all_deliveries as d
        on r.delivery_id = d.delivery_id
    group by r.reporting_delivery_id
),

-- per delivery (each message belongs to one): what the KPIs count, test profiles and proofs
-- left out
sending as (
    select
        delivery_id,
        count(*) as to_deliver,
        count(*) filter (where relayed_at <= getvariable('as_of')) as sent
    from bl_messages
    where not is_test_profile and not is_proof
    group by delivery_id
),

statuses as (
    select
        delivery_id,
        reporting_mode,
        count(*) filter (where status = 'sent') as delivered,
        count(*) filter (where status = 'failed') as bounces_errors,
        count(*) filter (where status = 'pending') as pending,
        count(*) filter (where status = 'failed' and failure_type = 'hard') as hard_bounces,
        count(*) filter (where status = 'failed' and failure_type = 'soft') as soft_bounces
    from baseline_message_status
    where not is_test_profile and not is_proof
    group by delivery_id, reporting_mode
),

-- tracking received by as_of, inside the report window (contact_date + report_window_days),
-- each event once (ingest rejects a repeated event_id with other content: the copies are exact)
engaged_messages as (
    select
        m.delivery_id,
        t.message_id,
        count(*) filter (where t.type = 'open') as open_events,
        count(*) filter (where t.type = 'click') as click_events,
        count(*) filter (where t.type = 'opt_out') as opt_out_events,
        count(*) filter (where t.type = 'mirror_page') as mirror_page_events,
        count(*) filter (where t.type = 'complaint') as complaint_events,
        bool_or(t.type = 'open') as has_open,
        bool_or(t.type = 'click') as has_click,
        bool_or(t.type in ('open', 'click', 'opt_out', 'mirror_page')) as has_open_or_implied
    from (select distinct * from read_parquet(getvariable('input') || '/tracking.parquet')) as t
    inner join bl_messages as m
        on t.message_id = m.message_id
    where not m.is_test_profile and not m.is_proof
        and coalesce(t.received_at, t.event_at) <= getvariable('as_of')
        and (m.contact_date is null
             or t.event_at < m.contact_date + to_microseconds(cast(getvariable('report_window_days') * 86400 * 1000000.0 as bigint)))
    group by m.delivery_id, t.message_id
),

engagement as (
    select
        delivery_id,
        -- opens: every open event, plus one for each message whose activity implies an open
        sum(open_events) + count(*) filter (where has_open_or_implied and not has_open) as opens,
        count(*) filter (where has_open_or_implied and not has_open) as click_implied_opens,
        count(*) filter (where has_open_or_implied) as unique_opens,
        sum(click_events) as clicks,
        count(*) filter (where has_click) as unique_clicks,
        sum(opt_out_events) as opt_outs,
        sum(mirror_page_events) as mirror_pages,
        sum(complaint_events) as complaints
    from engaged_messages
    group by delivery_id
),

per_delivery as (
    select
        s.delivery_id,
        modes.reporting_mode,
        s.to_deliver,
        s.sent,
        coalesce(st.delivered, 0) as delivered,
        coalesce(st.bounces_errors, 0) as bounces_errors,
        coalesce(st.pending, 0) as pending,
        coalesce(st.hard_bounces, 0) as hard_bounces,
        coalesce(st.soft_bounces, 0) as soft_bounces,
        coalesce(e.opens, 0) as opens,
        coalesce(e.click_implied_opens, 0) as click_implied_opens,
        coalesce(e.unique_opens, 0) as unique_opens,
        coalesce(e.clicks, 0) as clicks,
        coalesce(e.unique_clicks, 0) as unique_clicks,
        coalesce(e.opt_outs, 0) as opt_outs,
        coalesce(e.mirror_pages, 0) as mirror_pages,
        coalesce(e.complaints, 0) as complaints
    from sending as s
    cross join (values ('standard'), ('efs')) as modes(reporting_mode)
    left join statuses as st
        on s.delivery_id = st.delivery_id and modes.reporting_mode = st.reporting_mode
    left join engagement as e
        on s.delivery_id = e.delivery_id
),

-- each reporting row sums its deliveries: itself, and a recurring parent its executions
counted as (
    select
        r.reporting_delivery_id as delivery_id,
        p.reporting_mode,
        sum(p.to_deliver) as to_deliver,
        sum(p.sent) as sent,
        sum(p.delivered) as delivered,
        sum(p.bounces_errors) as bounces_errors,
        sum(p.pending) as pending,
        sum(p.hard_bounces) as hard_bounces,
        sum(p.soft_bounces) as soft_bounces,
        sum(p.opens) as opens,
        sum(p.click_implied_opens) as click_implied_opens,
        sum(p.unique_opens) as unique_opens,
        sum(p.clicks) as clicks,
        sum(p.unique_clicks) as unique_clicks,
        sum(p.opt_outs) as opt_outs,
        sum(p.mirror_pages) as mirror_pages,
        sum(p.complaints) as complaints
    from rollup as r
    inner join per_delivery as p
        on r.delivery_id = p.delivery_id
    group by all
),

grid as (
    select reporting.*, modes.reporting_mode
    from reporting
    cross join (values ('standard'), ('efs')) as modes(reporting_mode)
),

filled as (
    select
        g.delivery_id,
        g.reporting_mode,
        g.validity_end_at,
        coalesce(c.to_deliver, 0) as to_deliver,
        coalesce(c.sent, 0) as sent,
        coalesce(c.delivered, 0) as delivered,
        coalesce(c.bounces_errors, 0) as bounces_errors,
        coalesce(c.pending, 0) as pending,
        coalesce(c.hard_bounces, 0) as hard_bounces,
        coalesce(c.soft_bounces, 0) as soft_bounces,
        coalesce(c.opens, 0) as opens,
        coalesce(c.click_implied_opens, 0) as click_implied_opens,
        coalesce(c.unique_opens, 0) as unique_opens,
        coalesce(c.clicks, 0) as clicks,
        coalesce(c.unique_clicks, 0) as unique_clicks,
        coalesce(c.opt_outs, 0) as opt_outs,
        coalesce(c.mirror_pages, 0) as mirror_pages,
        coalesce(c.complaints, 0) as complaints
    from grid as g
    left join counted as c
        on g.delivery_id = c.delivery_id and g.reporting_mode = c.reporting_mode
)

select
    delivery_id,
    reporting_mode,
    getvariable('as_of') as as_of,
    cast(to_deliver as bigint) as to_deliver,
    cast(sent as bigint) as sent,
    cast(delivered + bounces_errors as bigint) as processed,
    cast(delivered as bigint) as delivered,
    cast(bounces_errors as bigint) as bounces_errors,
    cast(pending as bigint) as pending,
    cast(hard_bounces as bigint) as hard_bounces,
    cast(soft_bounces as bigint) as soft_bounces,
    case when delivered + bounces_errors > 0 then delivered / (delivered + bounces_errors) else 0.0 end as delivered_rate,
    case when delivered + bounces_errors > 0 then bounces_errors / (delivered + bounces_errors) else 0.0 end as bounce_rate,
    cast(opens as bigint) as opens,
    cast(click_implied_opens as bigint) as click_implied_opens,
    cast(unique_opens as bigint) as unique_opens,
    cast(clicks as bigint) as clicks,
    cast(unique_clicks as bigint) as unique_clicks,
    least(1.0, case when delivered > 0 then unique_opens / delivered else 0.0 end) as open_rate,
    least(1.0, case when delivered > 0 then unique_clicks / delivered else 0.0 end) as click_through_rate,
    least(1.0, case when unique_opens > 0 then unique_clicks / unique_opens else 0.0 end) as click_to_open_rate,
    cast(opt_outs as bigint) as opt_outs,
    cast(mirror_pages as bigint) as mirror_pages,
    cast(complaints as bigint) as complaints,
    validity_end_at,
    coalesce(validity_end_at <= getvariable('as_of'), false) as is_final
from filled;
