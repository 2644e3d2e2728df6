{{ kept_by('delivery_id', rows='snapshot') }}
-- The quick-look deployment dashboard: one row per delivery in its own reporting mode, a
-- snapshot at stats_computed_at (`sendlens build --as-of T` refreshes every delivery at T;
-- `sendlens compute-stats [--delivery ID] [--at T]` refreshes all or one, like the "Compute
-- stats" button; only the one-delivery refresh keeps the other deliveries' rows; so does an
-- incremental build at an unchanged as_of for the deliveries not in int_changed_deliveries).
-- Statuses are the sending logs' at that instant; open rate and CTR count tracking received before the
-- last full hour (hourly refresh), every event as it came: no click-implied opens, no report
-- window, no machine filter.
with reporting_deliveries as (
    select * from {{ ref('int_reporting_deliveries') }}
    where {{ kept_rows() }}
),

messages as (
    select * from {{ ref('int_reporting_messages') }}
    where {{ kept_rows('reporting_delivery_id') }}
),

-- the statuses and tracking of the messages above only, when those are a few deliveries' (the
-- same rows either way: both are left-joined to these messages)
timeline as (
    select * from {{ ref('int_message_status_timeline') }}
    where valid_from <= {{ stats_at() }}
        and (valid_to is null or valid_to > {{ stats_at() }})
        {% if delivery_reports_kept() %}
        and message_id in (select message_id from messages)
        {% endif %}
),

hourly_tracking as (
    select
        message_id,
        max(case when tracking_type = 'open' then 1 else 0 end) = 1 as has_open,
        max(case when tracking_type = 'click' then 1 else 0 end) = 1 as has_click,
        sum(case when tracking_type = 'open' then copies else 0 end) as open_copies,
        sum(case when tracking_type = 'click' then copies else 0 end) as click_copies
    from {{ ref('int_tracking_events') }}
    where received_at < {{ dbt.date_trunc('hour', stats_at()) }}
        {% if delivery_reports_kept() %}
        and message_id in (select message_id from messages)
        {% endif %}
    group by message_id
),

message_rows as (
    select
        reporting_deliveries.delivery_id,
        reporting_deliveries.own_reporting_mode as reporting_mode,
        messages.message_id,
        messages.relayed_at is not null and messages.relayed_at <= {{ stats_at() }} as is_sent,
        timeline.status,
        coalesce(hourly_tracking.has_open, false) as has_open,
        coalesce(hourly_tracking.has_click, false) as has_click,
        coalesce(hourly_tracking.open_copies, 0) as open_copies,
        coalesce(hourly_tracking.click_copies, 0) as click_copies
    from reporting_deliveries
    inner join messages
        on reporting_deliveries.delivery_id = messages.reporting_delivery_id
    left join timeline
        on messages.message_id = timeline.message_id
        and reporting_deliveries.own_reporting_mode = timeline.reporting_mode
    left join hourly_tracking
        on messages.message_id = hourly_tracking.message_id
),

aggregated as (
    select
        delivery_id,
        count(*) as to_deliver,
        count(case when is_sent then 1 end) as sent,
        count(case when status = 'sent' then 1 end) as delivered,
        count(case when status = 'failed' then 1 end) as bounces_errors,
        count(case when status = 'pending' then 1 end) as pending,
        count(case when has_open then 1 end) as opened_messages,
        count(case when has_click then 1 end) as clicked_messages,
        sum(open_copies) as opens,
        sum(click_copies) as clicks
    from message_rows
    group by delivery_id
),

final as (
    select
        reporting_deliveries.delivery_id,
        reporting_deliveries.own_reporting_mode as reporting_mode,
        {{ stats_at() }} as stats_computed_at,
        {{ dbt.date_trunc('hour', stats_at()) }} as tracking_counted_until,
        cast(coalesce(a.to_deliver, 0) as bigint) as to_deliver,
        cast(coalesce(a.sent, 0) as bigint) as sent,
        cast(coalesce(a.delivered, 0) as bigint) as delivered,
        cast(coalesce(a.bounces_errors, 0) as bigint) as bounces_errors,
        cast(coalesce(a.pending, 0) as bigint) as pending,
        {{ safe_rate('coalesce(a.delivered, 0)', 'coalesce(a.sent, 0)') }} as delivered_rate,
        {{ safe_rate('coalesce(a.bounces_errors, 0)', 'coalesce(a.sent, 0)') }} as bounces_errors_rate,
        cast(coalesce(a.opened_messages, 0) as bigint) as opened_messages,
        cast(coalesce(a.clicked_messages, 0) as bigint) as clicked_messages,
        cast(coalesce(a.opens, 0) as bigint) as opens,
        cast(coalesce(a.clicks, 0) as bigint) as clicks,
        least(1.0, {{ safe_rate('coalesce(a.opened_messages, 0)', 'coalesce(a.delivered, 0)') }}) as open_rate,
        least(1.0, {{ safe_rate('coalesce(a.clicked_messages, 0)', 'coalesce(a.delivered, 0)') }}) as click_through_rate,
        -- a recurring parent's row repeats its executions' messages: totals leave it out
        reporting_deliveries.is_recurring_parent
    from reporting_deliveries
    left join aggregated as a
        on reporting_deliveries.delivery_id = a.delivery_id
)

select * from final
