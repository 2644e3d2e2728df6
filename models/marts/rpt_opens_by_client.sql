-- Opens and clicks by email client and device: per delivery (recurring executions also in
-- their parent), machine activity or not (int_tracking_events' is_machine, not re-derived),
-- client family and device class. The events the dynamic report counts: received by the
-- build's as_of, inside the report window, each event_id once, proofs and test profiles left
-- out; so the opens of a delivery's rows add up to its open events in rpt_delivery_kpis (opens
-- less click-implied opens, which have no open of their own). Not per reporting mode: tracking
-- does not depend on it. The user agents were parsed by ua-parser before the build
-- (stg_user_agents); an event without one is client Unknown, device other.
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
    where counts_in_kpis
        and received_at <= {{ as_of() }}
        and is_in_report_window
        and tracking_type in ('open', 'click')
),

user_agents as (
    select * from {{ ref('stg_user_agents') }}
),

classified as (
    select
        rollup.reporting_delivery_id as delivery_id,
        events.message_id,
        events.tracking_type,
        events.is_machine,
        coalesce(user_agents.client_family, 'Unknown') as client_family,
        coalesce(user_agents.device_class, 'other') as device_class
    from events
    inner join rollup
        on events.delivery_id = rollup.delivery_id
    left join user_agents
        on events.user_agent = user_agents.user_agent
),

aggregated as (
    select
        delivery_id,
        is_machine,
        client_family,
        device_class,
        count(case when tracking_type = 'open' then 1 end) as opens,
        count(distinct case when tracking_type = 'open' then message_id end) as unique_opens,
        count(case when tracking_type = 'click' then 1 end) as clicks,
        count(distinct case when tracking_type = 'click' then message_id end) as unique_clicks
    from classified
    group by delivery_id, is_machine, client_family, device_class
),

delivery_totals as (
    select
        *,
        sum(opens) over (partition by delivery_id) as delivery_opens,
        sum(case when is_machine then 0 else opens end) over (partition by delivery_id) as delivery_human_opens
    from aggregated
),

final as (
    select
        delivery_totals.delivery_id,
        delivery_totals.is_machine,
        delivery_totals.client_family,
        delivery_totals.device_class,
        cast(delivery_totals.opens as bigint) as opens,
        cast(delivery_totals.unique_opens as bigint) as unique_opens,
        cast(delivery_totals.clicks as bigint) as clicks,
        cast(delivery_totals.unique_clicks as bigint) as unique_clicks,
        {{ safe_rate('delivery_totals.opens', 'delivery_totals.delivery_opens') }} as share_of_opens,
        case when not delivery_totals.is_machine
            then {{ safe_rate('delivery_totals.opens', 'delivery_totals.delivery_human_opens') }}
        end as share_of_human_opens,
        coalesce(reporting_deliveries.is_recurring_parent, false) as is_recurring_parent,
        {{ as_of() }} as as_of
    from delivery_totals
    left join reporting_deliveries
        on delivery_totals.delivery_id = reporting_deliveries.delivery_id
)

select * from final
