-- The sending-log status of each relayed message under each reporting mode, as known at the
-- build's as_of. A message not yet relayed has no status and no row. A view on DuckDB: the
-- rows are kept in int_message_status_current, this adds the build's as_of.
{{ config(materialized=projection_materialization()) }}
with current_status as (
    select * from {{ ref('int_message_status_current') }}
),

final as (
    select
        *,
        {{ as_of() }} as as_of
    from current_status
)

select * from final
