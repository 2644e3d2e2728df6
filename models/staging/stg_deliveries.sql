-- One row per delivery: the newest landed version of each delivery_id. A canonical row always
-- wins over one derived from an email-service-provider export.
with source as (
    select * from {{ lake_scan('deliveries') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by delivery_id
            order by {{ delivery_version_order() }}
        ) as version_rank
    from source
),

final as (
    select
        delivery_id,
        label,
        channel,
        efs_enabled as is_efs_enabled,
        contact_date as contact_at,
        validity_hours,
        is_proof,
        parent_delivery_id,
        requires_confirmation,
        scheduled_at,
        confirmed_at,
        confirmed_by,
        _origin as origin,
        _batch_id as batch_id
    from ranked
    where version_rank = 1
)

select * from final
