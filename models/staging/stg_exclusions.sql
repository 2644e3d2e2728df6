-- One row per (delivery, excluded address): the newest landed version.
with source as (
    select * from {{ lake_scan('exclusions') }}
),

ranked as (
    select
        *,
        row_number() over (partition by delivery_id, address order by _batch_id desc, _row desc) as version_rank
    from source
),

final as (
    select
        delivery_id,
        address,
        profile_id,
        reason as exclusion_reason,
        excluded_at,
        _batch_id as batch_id
    from ranked
    where version_rank = 1
)

select * from final
