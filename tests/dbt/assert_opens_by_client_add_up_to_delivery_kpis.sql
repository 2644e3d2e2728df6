-- rpt_opens_by_client against the dynamic report: per delivery (and each reporting mode, which
-- tracking does not depend on), the opens over all client rows equal rpt_delivery_kpis' opens
-- less its click-implied opens, the machine rows its machine opens, and the clicks its clicks.
-- Returns the deliveries where they differ (a delivery in only one of the two included).
with by_client as (
    select
        delivery_id,
        sum(opens) as opens,
        sum(case when is_machine then opens else 0 end) as machine_opens,
        sum(clicks) as clicks
    from {{ ref('rpt_opens_by_client') }}
    group by delivery_id
),

kpis as (
    select
        delivery_id,
        reporting_mode,
        opens - click_implied_opens as open_events,
        machine_opens,
        clicks
    from {{ ref('rpt_delivery_kpis') }}
),

final as (
    select
        coalesce(kpis.delivery_id, by_client.delivery_id) as delivery_id,
        kpis.reporting_mode,
        kpis.open_events,
        by_client.opens,
        kpis.machine_opens as kpi_machine_opens,
        by_client.machine_opens,
        kpis.clicks as kpi_clicks,
        by_client.clicks
    from kpis
    full outer join by_client
        on kpis.delivery_id = by_client.delivery_id
    where kpis.delivery_id is null
        or coalesce(by_client.opens, 0) <> kpis.open_events
        or coalesce(by_client.machine_opens, 0) <> kpis.machine_opens
        or coalesce(by_client.clicks, 0) <> kpis.clicks
)

select * from final
