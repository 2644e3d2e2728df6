-- Failed messages per delivery, mode, failure type and reason, as of the build's as_of
-- (recurring executions also count in their parent's rows, flagged is_recurring_parent: totals
-- over deliveries leave those rows out; proofs and test profiles excluded).
{{ kept_by('delivery_id', rows='report') }}
with rollup as (
    select * from {{ ref('int_delivery_rollup') }}
    where {{ kept_rows('reporting_delivery_id') }}
),

reporting_deliveries as (
    select delivery_id, is_recurring_parent from {{ ref('int_reporting_deliveries') }}
),

statuses as (
    select * from {{ ref('fct_message_status') }}
    where status = 'failed' and not is_test_profile and not is_proof
),

final as (
    select
        rollup.reporting_delivery_id as delivery_id,
        statuses.reporting_mode,
        statuses.failure_type,
        statuses.failure_reason,
        count(*) as messages,
        coalesce(reporting_deliveries.is_recurring_parent, false) as is_recurring_parent
    from statuses
    inner join rollup
        on statuses.delivery_id = rollup.delivery_id
    left join reporting_deliveries
        on rollup.reporting_delivery_id = reporting_deliveries.delivery_id
    group by 1, 2, 3, 4, 6
)

select * from final
