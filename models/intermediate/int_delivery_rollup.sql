-- Which deliveries each reporting row counts: itself, and for a recurring parent also each of
-- its executions ("a recurring execution counts in its own row and in its parent's").
-- Proof deliveries are reported apart (rpt_proof_and_test_sends) and roll up nowhere.
-- Rebuilt whole on every build, after the change sets read its published version.
{{ rebuilt_after_changes() }}
with deliveries as (
    select * from {{ ref('int_deliveries') }}
    where not is_proof
),

own as (
    select delivery_id as reporting_delivery_id, delivery_id, true as is_own
    from deliveries
),

to_parent as (
    select parent_delivery_id as reporting_delivery_id, delivery_id, false as is_own
    from deliveries
    where parent_delivery_id is not null and parent_delivery_id <> delivery_id
),

final as (
    select * from own
    union all
    select * from to_parent
)

select * from final
