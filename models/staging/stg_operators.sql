-- One row per operator (newest landed version) with a flag per role the SPEC relies on.
with source as (
    select * from {{ lake_scan('operators') }}
),

ranked as (
    select
        *,
        row_number() over (partition by operator order by _batch_id desc, _row desc) as version_rank
    from source
),

final as (
    select
        operator,
        roles,
        {{ list_has('roles', "'start_deliveries'") }} as can_start_deliveries,
        _batch_id as batch_id
    from ranked
    where version_rank = 1
)

select * from final
