-- The dynamic report per calendar day and reporting mode, across deliveries: every message
-- that counts in the KPIs (proofs and test profiles left out) once, under its own delivery
-- (never again under a recurring parent) and in its delivery's own mode, on the day it was
-- relayed in the reporting time zone (setting reporting_time_zone, macro reporting_date).
-- A day's row is that day's sends and what became of them by the build's as_of: their status
-- (delivered, bounces, pending), their opens, clicks, opt-outs and complaints, whenever
-- those happened (a cohort: every rate divides counts of the same messages). The per-message
-- rules are those of rpt_delivery_kpis: statuses from fct_message_status, tracking from
-- int_message_engagement (report window, each event_id once, machine activity flagged), so
-- the days of a mode sum to rpt_delivery_kpis over the non-parent deliveries of that own mode.
-- A recurring parent sends nothing itself (Campaign; the generator); messages that name one all
-- the same (a delivery landed again as a parent, its earlier sends kept) are left out, as from
-- every total over deliveries (DECISIONS.md "Totals over deliveries count each message once").
-- The mode is the delivery's own (int_reporting_deliveries, as dim_deliveries and the dashboard).
-- Messages not relayed by as_of have no day: their tracking (a data-quality finding) is on the
-- row whose day is null.
with messages as (
    select * from {{ ref('int_reporting_messages') }}
    where reporting_delivery_id = delivery_id
),

reporting_deliveries as (
    select * from {{ ref('int_reporting_deliveries') }}
    where not is_recurring_parent
),

statuses as (
    select * from {{ ref('fct_message_status') }}
),

engagement as (
    select * from {{ ref('int_message_engagement') }}
),

own_messages as (
    select
        messages.*,
        reporting_deliveries.own_reporting_mode as reporting_mode
    from messages
    inner join reporting_deliveries
        on messages.delivery_id = reporting_deliveries.delivery_id
),

message_rows as (
    select
        own_messages.message_id,
        own_messages.reporting_mode,
        case
            when own_messages.relayed_at is not null and own_messages.relayed_at <= {{ as_of() }}
                then {{ reporting_date('own_messages.relayed_at') }}
        end as day,
        own_messages.relayed_at is not null and own_messages.relayed_at <= {{ as_of() }} as is_sent,
        own_messages.delivery_id,
        statuses.status,
        statuses.failure_type,
        coalesce(engagement.open_events, 0) as open_events,
        coalesce(engagement.machine_open_events, 0) as machine_open_events,
        coalesce(engagement.human_open_events, 0) as human_open_events,
        coalesce(engagement.click_events, 0) as click_events,
        coalesce(engagement.human_click_events, 0) as human_click_events,
        coalesce(engagement.opt_out_events, 0) as opt_out_events,
        coalesce(engagement.complaint_events, 0) as complaint_events,
        coalesce(engagement.has_open, false) as has_open,
        coalesce(engagement.has_click, false) as has_click,
        coalesce(engagement.has_open_or_implied, false) as has_open_or_implied,
        coalesce(engagement.has_human_open, false) as has_human_open,
        coalesce(engagement.has_human_click, false) as has_human_click,
        coalesce(engagement.has_human_open_or_implied, false) as has_human_open_or_implied
    from own_messages
    left join statuses
        on own_messages.message_id = statuses.message_id
        and own_messages.reporting_mode = statuses.reporting_mode
    left join engagement
        on own_messages.message_id = engagement.message_id
    -- a message not relayed by as_of counts only through its tracking
    where (own_messages.relayed_at is not null and own_messages.relayed_at <= {{ as_of() }})
        or engagement.message_id is not null
),

aggregated as (
    select
        day,
        reporting_mode,
        count(distinct case when is_sent then delivery_id end) as deliveries,
        count(case when is_sent then 1 end) as sent,
        count(case when status = 'sent' then 1 end) as delivered,
        count(case when status = 'failed' then 1 end) as bounces_errors,
        count(case when status = 'pending' then 1 end) as pending,
        count(case when status = 'failed' and failure_type = 'hard' then 1 end) as hard_bounces,
        count(case when status = 'failed' and failure_type = 'soft' then 1 end) as soft_bounces,
        sum(open_events) + count(case when has_open_or_implied and not has_open then 1 end) as opens,
        count(case when has_open_or_implied then 1 end) as unique_opens,
        sum(click_events) as clicks,
        count(case when has_click then 1 end) as unique_clicks,
        sum(machine_open_events) as machine_opens,
        sum(human_open_events) + count(case when has_human_open_or_implied and not has_human_open then 1 end) as human_opens,
        count(case when has_human_open_or_implied then 1 end) as human_unique_opens,
        sum(human_click_events) as human_clicks,
        count(case when has_human_click then 1 end) as human_unique_clicks,
        sum(opt_out_events) as opt_outs,
        count(case when opt_out_events > 0 then 1 end) as opted_out_messages,
        sum(complaint_events) as complaints,
        count(case when complaint_events > 0 then 1 end) as complained_messages
    from message_rows
    group by day, reporting_mode
),

final as (
    select
        day,
        reporting_mode,
        {{ sql_literal(var('reporting_time_zone')) }} as reporting_time_zone,
        cast(deliveries as bigint) as deliveries,
        cast(sent as bigint) as sent,
        cast(delivered + bounces_errors as bigint) as processed,
        cast(delivered as bigint) as delivered,
        cast(bounces_errors as bigint) as bounces_errors,
        cast(hard_bounces as bigint) as hard_bounces,
        cast(soft_bounces as bigint) as soft_bounces,
        cast(pending as bigint) as pending,
        {{ safe_rate('delivered', 'delivered + bounces_errors') }} as delivered_rate,
        {{ safe_rate('bounces_errors', 'delivered + bounces_errors') }} as bounce_rate,
        {{ safe_rate('hard_bounces', 'delivered + bounces_errors') }} as hard_bounce_rate,
        {{ safe_rate('soft_bounces', 'delivered + bounces_errors') }} as soft_bounce_rate,
        cast(opens as bigint) as opens,
        cast(unique_opens as bigint) as unique_opens,
        cast(clicks as bigint) as clicks,
        cast(unique_clicks as bigint) as unique_clicks,
        least(1.0, {{ safe_rate('unique_opens', 'delivered') }}) as open_rate,
        least(1.0, {{ safe_rate('unique_clicks', 'delivered') }}) as click_through_rate,
        least(1.0, {{ safe_rate('unique_clicks', 'unique_opens') }}) as click_to_open_rate,
        cast(machine_opens as bigint) as machine_opens,
        cast(human_opens as bigint) as human_opens,
        cast(human_unique_opens as bigint) as human_unique_opens,
        cast(human_clicks as bigint) as human_clicks,
        cast(human_unique_clicks as bigint) as human_unique_clicks,
        least(1.0, {{ safe_rate('human_unique_opens', 'delivered') }}) as open_rate_excl_machine,
        least(1.0, {{ safe_rate('human_unique_clicks', 'delivered') }}) as click_through_rate_excl_machine,
        cast(opt_outs as bigint) as opt_outs,
        cast(complaints as bigint) as complaints,
        least(1.0, {{ safe_rate('opted_out_messages', 'delivered') }}) as opt_out_rate,
        least(1.0, {{ safe_rate('complained_messages', 'delivered') }}) as complaint_rate,
        {{ as_of() }} as as_of
    from aggregated
)

select * from final
