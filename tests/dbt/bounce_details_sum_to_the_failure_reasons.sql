-- Two ways to the same failures: rpt_bounce_details summed over recipient domains and SMTP
-- codes equals rpt_delivery_failure_reasons, row for row (delivery, mode, type, reason).
-- Rows: the groups that differ or exist on one side only.
with details as (
    select
        delivery_id, reporting_mode, failure_type, failure_reason,
        sum(messages) as messages,
        bool_and(is_recurring_parent) as is_recurring_parent
    from {{ ref('rpt_bounce_details') }}
    group by delivery_id, reporting_mode, failure_type, failure_reason
),

reasons as (
    select * from {{ ref('rpt_delivery_failure_reasons') }}
),

final as (
    select
        coalesce(details.delivery_id, reasons.delivery_id) as delivery_id,
        coalesce(details.reporting_mode, reasons.reporting_mode) as reporting_mode,
        coalesce(details.failure_type, reasons.failure_type) as failure_type,
        coalesce(details.failure_reason, reasons.failure_reason) as failure_reason,
        details.messages as detail_messages,
        reasons.messages as reason_messages
    from details
    full outer join reasons
        on details.delivery_id = reasons.delivery_id
        and details.reporting_mode = reasons.reporting_mode
        and details.failure_type = reasons.failure_type
        and details.failure_reason is not distinct from reasons.failure_reason
    where coalesce(details.messages, 0) <> coalesce(reasons.messages, 0)
        or details.is_recurring_parent <> reasons.is_recurring_parent
)

select * from final
