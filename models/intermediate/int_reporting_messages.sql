-- Every message that counts in the KPIs (proofs and test profiles left out), once under each
-- reporting delivery it counts in: its own delivery and, for a recurring execution, its parent.
{{ config(materialized=projection_materialization()) }}
with rollup as (
    select * from {{ ref('int_delivery_rollup') }}
),

messages as (
    select * from {{ ref('int_messages') }}
    where counts_in_kpis
),

final as (
    select
        rollup.reporting_delivery_id,
        messages.*
    from rollup
    inner join messages
        on rollup.delivery_id = messages.delivery_id
)

select * from final
