-- One row per address of the sending log: its quarantine state as of the build's as_of; see
-- int_address_quarantine. A view on DuckDB that adds the build's as_of to the kept rows.
{{ config(materialized=projection_materialization()) }}
with address_quarantine as (
    select * from {{ ref('int_address_quarantine') }}
),

final as (
    select
        *,
        {{ as_of() }} as as_of
    from address_quarantine
)

select * from final
