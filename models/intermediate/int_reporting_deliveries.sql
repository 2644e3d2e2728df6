-- One row per reporting delivery (every non-proof delivery, and every recurring parent even
-- if it has no deliveries row of its own) with the mode and validity it is reported under.
with rollup as (
    select * from {{ ref('int_delivery_rollup') }}
),

deliveries as (
    select * from {{ ref('int_deliveries') }}
),

members as (
    select
        rollup.reporting_delivery_id,
        max(deliveries.validity_end_at) as validity_end_at,
        min(deliveries.contact_at) as contact_at,
        bool_or(deliveries.validity_end_at is null) as has_open_ended_member
    from rollup
    inner join deliveries
        on rollup.delivery_id = deliveries.delivery_id
    group by rollup.reporting_delivery_id
),

final as (
    select
        members.reporting_delivery_id as delivery_id,
        coalesce(own.own_reporting_mode, 'standard') as own_reporting_mode,
        own.label,
        own.channel,
        members.contact_at,
        case when members.has_open_ended_member then null else members.validity_end_at end as validity_end_at,
        exists (
            select 1 from rollup as r
            where r.reporting_delivery_id = members.reporting_delivery_id and not r.is_own
        ) as is_recurring_parent
    from members
    left join deliveries as own
        on members.reporting_delivery_id = own.delivery_id
)

select * from final
