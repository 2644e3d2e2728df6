-- MTA feedback of relayed messages, one row per distinct event, in the order the status
-- logic reads them: by event_at, ties broken stably by received_at then event_id
-- (`event_seq`). Failure reasons take their canonical label; unknown labels become 'other'.
-- Feedback of unknown or not-yet-relayed messages is not here: see int_data_quality_findings.
{{ kept_by('message_id') }}
with feedback as (
    select * from {{ ref('stg_feedback') }}
    where {{ kept_rows() }}
),

messages as (
    select * from {{ ref('int_messages') }}
    where is_relayed
        and {{ kept_rows() }}
),

reasons as (
    select * from {{ ref('failure_reasons') }}
),

joined as (
    select
        feedback.event_id,
        feedback.message_id,
        messages.delivery_id,
        feedback.event_at,
        feedback.received_at,
        feedback.outcome,
        feedback.failure_reason_raw,
        case
            when feedback.failure_reason_raw is null or trim(feedback.failure_reason_raw) = '' then null
            else coalesce(reasons.failure_reason, 'other')
        end as failure_reason,
        feedback.smtp_code,
        feedback.diagnostic,
        feedback.attempt,
        feedback.copies,
        messages.relayed_at,
        messages.validity_end_at
    from feedback
    inner join messages
        on feedback.message_id = messages.message_id
    left join reasons
        on reasons.alias = lower(trim(replace(replace(feedback.failure_reason_raw, '_', ' '), '-', ' ')))
),

final as (
    select
        *,
        row_number() over (
            partition by message_id order by event_at, received_at, event_id
        ) as event_seq,
        -- a success counts only when it happened within the validity period
        outcome = 'delivered' and (validity_end_at is null or event_at <= validity_end_at) as is_counted_success,
        outcome = 'delivered' and validity_end_at is not null and event_at > validity_end_at as is_late_success,
        -- the events that can set a status: hard and soft bounces, expiries, counted successes
        outcome in ('hard_bounce', 'soft_bounce', 'expired')
            or (outcome = 'delivered' and (validity_end_at is null or event_at <= validity_end_at)) as is_status_event,
        -- knowledge time: never before the message was relayed
        greatest(received_at, relayed_at) as known_at
    from joined
)

select * from final
