-- Two ways to the same totals: rpt_delivery_kpis_daily summed over its days, per mode, equals
-- rpt_delivery_kpis summed over the non-parent deliveries in their own mode (a recurring
-- parent has no messages of its own: its row repeats its executions'). Rows: the modes and
-- KPIs that differ.
with daily as (
    select
        reporting_mode,
        sum(sent) as sent, sum(delivered) as delivered, sum(bounces_errors) as bounces_errors,
        sum(hard_bounces) as hard_bounces, sum(soft_bounces) as soft_bounces, sum(pending) as pending,
        sum(opens) as opens, sum(unique_opens) as unique_opens, sum(clicks) as clicks,
        sum(unique_clicks) as unique_clicks, sum(machine_opens) as machine_opens,
        sum(human_opens) as human_opens, sum(human_unique_opens) as human_unique_opens,
        sum(human_clicks) as human_clicks, sum(human_unique_clicks) as human_unique_clicks,
        sum(opt_outs) as opt_outs, sum(complaints) as complaints
    from {{ ref('rpt_delivery_kpis_daily') }}
    group by reporting_mode
),

deliveries as (
    select delivery_id, own_reporting_mode from {{ ref('dim_deliveries') }}
),

per_delivery as (
    select
        kpis.reporting_mode,
        sum(kpis.sent) as sent, sum(kpis.delivered) as delivered, sum(kpis.bounces_errors) as bounces_errors,
        sum(kpis.hard_bounces) as hard_bounces, sum(kpis.soft_bounces) as soft_bounces, sum(kpis.pending) as pending,
        sum(kpis.opens) as opens, sum(kpis.unique_opens) as unique_opens, sum(kpis.clicks) as clicks,
        sum(kpis.unique_clicks) as unique_clicks, sum(kpis.machine_opens) as machine_opens,
        sum(kpis.human_opens) as human_opens, sum(kpis.human_unique_opens) as human_unique_opens,
        sum(kpis.human_clicks) as human_clicks, sum(kpis.human_unique_clicks) as human_unique_clicks,
        sum(kpis.opt_outs) as opt_outs, sum(kpis.complaints) as complaints
    from {{ ref('rpt_delivery_kpis') }} as kpis
    inner join deliveries
        on kpis.delivery_id = deliveries.delivery_id
        and kpis.reporting_mode = deliveries.own_reporting_mode
    where not kpis.is_recurring_parent
    group by kpis.reporting_mode
    -- a mode without a message has no daily row
    having sum(kpis.to_deliver) > 0
),

compared as (
    select
        coalesce(daily.reporting_mode, per_delivery.reporting_mode) as reporting_mode,
        daily.sent as daily_sent,
        per_delivery.sent as report_sent,
        {% set kpis = ['sent', 'delivered', 'bounces_errors', 'hard_bounces', 'soft_bounces', 'pending',
                       'opens', 'unique_opens', 'clicks', 'unique_clicks', 'machine_opens', 'human_opens',
                       'human_unique_opens', 'human_clicks', 'human_unique_clicks', 'opt_outs', 'complaints'] %}
        {%- for kpi in kpis %}
        case when coalesce(daily.{{ kpi }}, 0) <> coalesce(per_delivery.{{ kpi }}, 0) then '{{ kpi }}' end as {{ kpi }}_differs{{ ',' if not loop.last }}
        {%- endfor %}
    from daily
    full outer join per_delivery
        on daily.reporting_mode = per_delivery.reporting_mode
),

final as (
    select *
    from compared
    where {% for kpi in kpis %}{{ kpi }}_differs is not null{{ ' or ' if not loop.last }}{% endfor %}
)

select * from final
