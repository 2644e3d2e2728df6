-- Every delivery known to the sending log or the deliveries kind, with its own reporting mode
-- and validity end. A delivery_id referenced only by send_log rows (no deliveries row) is kept
-- with unknown settings (standard mode, never expires) and reported as a finding.
with deliveries as (
    select * from {{ ref('stg_deliveries') }}
),

referenced as (
    select distinct delivery_id from {{ ref('int_messages') }}
),

all_ids as (
    select delivery_id from deliveries
    union
    select delivery_id from referenced
),

final as (
    select
        all_ids.delivery_id,
        deliveries.delivery_id is not null as is_known,
        deliveries.label,
        deliveries.channel,
        coalesce(deliveries.is_efs_enabled, false) as is_efs_enabled,
        {{ own_reporting_mode('deliveries.is_efs_enabled') }} as own_reporting_mode,
        deliveries.contact_at,
        deliveries.validity_hours,
        {{ validity_end_at('deliveries.channel', 'deliveries.contact_at', 'deliveries.validity_hours') }} as validity_end_at,
        coalesce(deliveries.is_proof, false) as is_proof,
        deliveries.parent_delivery_id,
        deliveries.requires_confirmation,
        deliveries.scheduled_at,
        deliveries.confirmed_at,
        deliveries.confirmed_by
    from all_ids
    left join deliveries
        on all_ids.delivery_id = deliveries.delivery_id
)

select * from final
