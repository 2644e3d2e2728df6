-- A profile's marketing history: one row per message of the sending log (profile x message);
-- see int_profile_history. A view on DuckDB that adds the build's as_of to the kept rows.
{{ config(materialized=projection_materialization()) }}
with profile_history as (
    select * from {{ ref('int_profile_history') }}
),

final as (
    select
        *,
        {{ as_of() }} as as_of
    from profile_history
)

select * from final
