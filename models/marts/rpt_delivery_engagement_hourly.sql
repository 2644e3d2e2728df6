-- Opens and clicks over time: per delivery (recurring executions also in their parent) and
-- hour of the event, tracking events known at the build's as_of, each event_id once
-- (proofs and test profiles excluded; machine activity counted apart as well). A recurring
-- parent's rows (is_recurring_parent) repeat its executions' events: totals leave them out.
{{ kept_by('delivery_id', rows='report') }}
with rollup as (
    select * from {{ ref('int_delivery_rollup') }}
    where {{ kept_rows('reporting_delivery_id') }}
),

reporting_deliveries as (
    select delivery_id, is_recurring_parent from {{ ref('int_reporting_deliveries') }}
),

events as (
    select * from {{ ref('int_tracking_events') }}
    where counts_in_kpis and received_at <= {{ as_of() }}
),

final as (
    select
        rollup.reporting_delivery_id as delivery_id,
        {{ dbt.date_trunc('hour', 'events.event_at') }} as hour_start,
        count(case when events.tracking_type = 'open' then 1 end) as opens,
        count(case when events.tracking_type = 'click' then 1 end) as clicks,
        count(case when events.tracking_type = 'open' and events.is_machine then 1 end) as machine_opens,
        count(case when events.tracking_type = 'click' and events.is_machine then 1 end) as machine_clicks,
        count(case when events.tracking_type = 'opt_out' then 1 end) as opt_outs,
        count(case when events.tracking_type = 'complaint' then 1 end) as complaints,
        bool_and(events.is_in_report_window) as is_in_report_window,
        coalesce(reporting_deliveries.is_recurring_parent, false) as is_recurring_parent
    from events
    inner join rollup
        on events.delivery_id = rollup.delivery_id
    left join reporting_deliveries
        on rollup.reporting_delivery_id = reporting_deliveries.delivery_id
    group by 1, 2, 10
)

select * from final
