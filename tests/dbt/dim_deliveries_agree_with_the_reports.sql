-- Two ways to the same delivery facts: dim_deliveries' send date equals
-- rpt_confirmation_audit's first_relayed_at, and its validity end, finality and recurring-parent
-- flag equal rpt_delivery_kpis' for every reporting delivery. Rows: the deliveries that differ.
with deliveries as (
    select * from {{ ref('dim_deliveries') }}
),

audit as (
    select delivery_id, first_relayed_at from {{ ref('rpt_confirmation_audit') }}
),

kpis as (
    select delivery_id, validity_end_at, is_final, is_recurring_parent
    from {{ ref('rpt_delivery_kpis') }}
    where reporting_mode = 'standard'
),

final as (
    select
        coalesce(deliveries.delivery_id, audit.delivery_id, kpis.delivery_id) as delivery_id,
        deliveries.first_relayed_at,
        audit.first_relayed_at as audit_first_relayed_at,
        deliveries.validity_end_at,
        kpis.validity_end_at as report_validity_end_at,
        deliveries.is_final,
        kpis.is_final as report_is_final
    from deliveries
    full outer join audit
        on deliveries.delivery_id = audit.delivery_id
    full outer join kpis
        on coalesce(deliveries.delivery_id, audit.delivery_id) = kpis.delivery_id
    where deliveries.delivery_id is null
        or (audit.delivery_id is not null and deliveries.first_relayed_at is distinct from audit.first_relayed_at)
        or (kpis.delivery_id is not null and (
            deliveries.validity_end_at is distinct from kpis.validity_end_at
            or deliveries.is_final is distinct from kpis.is_final
            or deliveries.is_recurring_parent is distinct from kpis.is_recurring_parent))
)

select * from final
