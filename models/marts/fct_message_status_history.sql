-- Every status interval of every message under both modes, as known at the build's as_of:
-- the status at any earlier instant T is
--   where valid_from <= T and (valid_to is null or valid_to > T).
-- A view on DuckDB: the knowledge-time timeline (kept between builds) cut at as_of.
{{ config(materialized=projection_materialization()) }}
with timeline as (
    select * from {{ ref('int_message_status_timeline') }}
),

known as (
    select * from timeline
    where valid_from <= {{ as_of() }}
),

final as (
    select
        message_id,
        delivery_id,
        profile_id,
        reporting_mode,
        status,
        failure_type,
        failure_reason,
        status_cause,
        cause_event_id,
        valid_from,
        case when valid_to <= {{ as_of() }} then valid_to end as valid_to,
        valid_to is null or valid_to > {{ as_of() }} as is_current
    from known
)

select * from final
