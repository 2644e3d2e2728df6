-- What an incremental build recomputes, per key a kept model may be kept by: the size of each
-- change set (zero keys on a full build, which recomputes everything). Every kept model runs
-- after this model (the kept_by macro), so every change set is taken from the published build
-- before any kept table it reads is recomputed.
with change_sets as (
    select 'message_id' as kept_by, 'int_changed_messages' as change_set, count(*) as changed_keys
    from {{ ref('int_changed_messages') }}
    union all
    select 'address' as kept_by, 'int_changed_addresses' as change_set, count(*) as changed_keys
    from {{ ref('int_changed_addresses') }}
    union all
    select 'delivery_id' as kept_by, 'int_changed_deliveries' as change_set, count(*) as changed_keys
    from {{ ref('int_changed_deliveries') }}
),

final as (
    select
        kept_by,
        change_set,
        cast(changed_keys as bigint) as changed_keys,
        {{ sql_literal(build_var('build_mode', 'full')) }} as build_mode
    from change_sets
)

select * from final
