-- Two ways to the same clicks: per delivery, rpt_link_clicks summed over its URLs equals
-- rpt_delivery_kpis' clicks and human_clicks (mode-independent: its standard row), and no URL
-- has more distinct clicking messages than the delivery (unique_clicks). Rows: the deliveries
-- that differ.
with links as (
    select
        delivery_id,
        sum(clicks) as clicks,
        sum(human_clicks) as human_clicks,
        max(unique_clicks) as most_unique_clicks
    from {{ ref('rpt_link_clicks') }}
    group by delivery_id
),

kpis as (
    select delivery_id, clicks, human_clicks, unique_clicks
    from {{ ref('rpt_delivery_kpis') }}
    where reporting_mode = 'standard'
),

final as (
    select
        coalesce(kpis.delivery_id, links.delivery_id) as delivery_id,
        links.clicks as link_clicks,
        kpis.clicks as report_clicks,
        links.human_clicks as link_human_clicks,
        kpis.human_clicks as report_human_clicks,
        links.most_unique_clicks,
        kpis.unique_clicks as report_unique_clicks
    from kpis
    full outer join links
        on kpis.delivery_id = links.delivery_id
    where coalesce(links.clicks, 0) <> coalesce(kpis.clicks, 0)
        or coalesce(links.human_clicks, 0) <> coalesce(kpis.human_clicks, 0)
        or coalesce(links.most_unique_clicks, 0) > coalesce(kpis.unique_clicks, 0)
)

select * from final
