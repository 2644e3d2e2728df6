-- Failed messages per delivery, reporting mode, recipient domain, failure type, failure
-- reason and SMTP code, as of the build's as_of: rpt_delivery_failure_reasons split by domain
-- and code (the same messages: fct_message_status failed, proofs and test profiles left out;
-- recurring executions also count in their parent's rows, flagged is_recurring_parent).
-- A message's SMTP code and diagnostic are those of the feedback event that made it fail
-- (fct_message_status.cause_event_id); a message with no such event (standard mode: failed
-- once validity_end passed after soft bounces) takes its latest failure event known by as_of.
-- failures counts every failure event (hard_bounce, soft_bounce, expired) of those messages
-- known by as_of, retries included. The sample diagnostic has its e-mail addresses masked here,
-- in the mart (macro mask_emails_in_text, the exports' rule: j***@domain).
with rollup as (
    select * from {{ ref('int_delivery_rollup') }}
),

reporting_deliveries as (
    select delivery_id, is_recurring_parent from {{ ref('int_reporting_deliveries') }}
),

statuses as (
    select * from {{ ref('fct_message_status') }}
    where status = 'failed' and not is_test_profile and not is_proof
),

messages as (
    select message_id, recipient_domain from {{ ref('int_messages') }}
),

failure_events as (
    select * from {{ ref('int_feedback_events') }}
    where outcome in {{ qualification_failure_outcomes() }}
        and known_at <= {{ as_of() }}
),

latest_failure_events as (
    select *
    from (
        select
            *,
            row_number() over (partition by message_id order by event_seq desc) as recency
        from failure_events
    ) as ranked
    where recency = 1
),

event_spans as (
    select
        message_id,
        count(*) as failure_events,
        min(event_at) as first_failed_at,
        max(event_at) as last_failed_at
    from failure_events
    group by message_id
),

message_failures as (
    select
        statuses.message_id,
        statuses.delivery_id,
        statuses.reporting_mode,
        messages.recipient_domain,
        statuses.failure_type,
        statuses.failure_reason,
        case when cause.event_id is not null then cause.smtp_code else latest.smtp_code end as smtp_code,
        case when cause.event_id is not null then cause.diagnostic else latest.diagnostic end as diagnostic,
        coalesce(event_spans.failure_events, 0) as failure_events,
        coalesce(event_spans.first_failed_at, statuses.status_at) as first_failed_at,
        coalesce(event_spans.last_failed_at, statuses.status_at) as last_failed_at
    from statuses
    left join messages
        on statuses.message_id = messages.message_id
    left join failure_events as cause
        on statuses.cause_event_id = cause.event_id
        and statuses.message_id = cause.message_id
    left join latest_failure_events as latest
        on statuses.message_id = latest.message_id
    left join event_spans
        on statuses.message_id = event_spans.message_id
),

masked as (
    select
        *,
        {{ mask_emails_in_text('diagnostic') }} as masked_diagnostic
    from message_failures
),

grouped as (
    select
        rollup.reporting_delivery_id as delivery_id,
        masked.reporting_mode,
        masked.recipient_domain,
        masked.failure_type,
        masked.failure_reason,
        masked.smtp_code,
        count(*) as messages,
        sum(masked.failure_events) as failures,
        min(masked.first_failed_at) as first_seen_at,
        max(masked.last_failed_at) as last_seen_at,
        min(masked.masked_diagnostic) as sample_diagnostic
    from masked
    inner join rollup
        on masked.delivery_id = rollup.delivery_id
    group by 1, 2, 3, 4, 5, 6
),

final as (
    select
        grouped.delivery_id,
        grouped.reporting_mode,
        grouped.recipient_domain,
        grouped.failure_type,
        grouped.failure_reason,
        grouped.smtp_code,
        cast(grouped.messages as bigint) as messages,
        cast(grouped.failures as bigint) as failures,
        grouped.first_seen_at,
        grouped.last_seen_at,
        grouped.sample_diagnostic,
        coalesce(reporting_deliveries.is_recurring_parent, false) as is_recurring_parent,
        {{ as_of() }} as as_of
    from grouped
    left join reporting_deliveries
        on grouped.delivery_id = reporting_deliveries.delivery_id
)

select * from final
