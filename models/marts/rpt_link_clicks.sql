-- Clicks per delivery and tracked URL, as the dynamic report counts them (rpt_delivery_kpis
-- clicks): click events received by the build's as_of, inside the report window, each
-- event_id once, proofs and test profiles left out; the machine flag of int_tracking_events
-- (machine user agent, link scanner within machine_click_seconds of the relay) puts machine
-- clicks apart. Recurring executions also count in their parent's rows, flagged
-- is_recurring_parent: totals over deliveries leave those rows out. A URL is kept as the
-- tracking feed gave it (its query string may hold personal data); a click without one has
-- a null url.
with rollup as (
    select * from {{ ref('int_delivery_rollup') }}
),

reporting_deliveries as (
    select delivery_id, is_recurring_parent from {{ ref('int_reporting_deliveries') }}
),

clicks as (
    select * from {{ ref('int_tracking_events') }}
    where tracking_type = 'click'
        and counts_in_kpis
        and is_in_report_window
        and received_at <= {{ as_of() }}
),

per_url as (
    select
        rollup.reporting_delivery_id as delivery_id,
        clicks.url,
        count(*) as clicks,
        count(distinct clicks.message_id) as unique_clicks,
        count(case when not clicks.is_machine then 1 end) as human_clicks,
        count(distinct case when not clicks.is_machine then clicks.message_id end) as human_unique_clicks,
        count(case when clicks.is_machine then 1 end) as machine_clicks,
        min(clicks.event_at) as first_clicked_at,
        max(clicks.event_at) as last_clicked_at
    from clicks
    inner join rollup
        on clicks.delivery_id = rollup.delivery_id
    group by 1, 2
),

per_delivery as (
    select
        delivery_id,
        sum(clicks) as delivery_clicks,
        sum(human_clicks) as delivery_human_clicks
    from per_url
    group by delivery_id
),

final as (
    select
        per_url.delivery_id,
        per_url.url,
        cast(per_url.clicks as bigint) as clicks,
        cast(per_url.unique_clicks as bigint) as unique_clicks,
        cast(per_url.human_clicks as bigint) as human_clicks,
        cast(per_url.human_unique_clicks as bigint) as human_unique_clicks,
        cast(per_url.machine_clicks as bigint) as machine_clicks,
        {{ safe_rate('per_url.clicks', 'per_delivery.delivery_clicks') }} as share_of_clicks,
        {{ safe_rate('per_url.human_clicks', 'per_delivery.delivery_human_clicks') }} as share_of_human_clicks,
        per_url.first_clicked_at,
        per_url.last_clicked_at,
        coalesce(reporting_deliveries.is_recurring_parent, false) as is_recurring_parent,
        {{ as_of() }} as as_of
    from per_url
    inner join per_delivery
        on per_url.delivery_id = per_delivery.delivery_id
    left join reporting_deliveries
        on per_url.delivery_id = reporting_deliveries.delivery_id
)

select * from final
