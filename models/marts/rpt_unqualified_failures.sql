-- The failures no qualification rule matched (int_feedback_events.reason_source 'unmatched':
-- the feed gave no reason, or 'not defined', and no rule of seeds/bounce_qualification.csv
-- applied), known by the build's as_of, most frequent first: what to write the next rules
-- for (docs/bounce-qualification.md). One row per masked diagnostic, smtp_code, enhanced
-- code, outcome and channel. The masked diagnostic (int_feedback_events.diagnostic_pattern:
-- addresses, ids, IPs, times and long numbers replaced, macro qualification_mask_diagnostic)
-- is the very text the diagnostic rules are matched against, so a rule written for a row
-- matches every failure of it.
-- An unmatched expiry of a message whose retries have a reason is left out: the expiry says
-- when the retries ended, and the message's status takes its retries' reason
-- (int_message_status_timeline), so there is nothing to qualify.
-- All messages count, proofs and test profiles too: a diagnostic is a diagnostic.
with events as (
    select * from {{ ref('int_feedback_events') }}
    where known_at <= {{ as_of() }}
),

retried_with_reason as (
    select distinct message_id
    from events
    where outcome = 'soft_bounce'
        and reason_source in ('feed', 'rule')
),

failures as (
    select events.*
    from events
    left join retried_with_reason
        on events.message_id = retried_with_reason.message_id
    where events.reason_source = 'unmatched'
        and not (events.outcome = 'expired' and retried_with_reason.message_id is not null)
),

messages as (
    select message_id, channel, recipient_domain from {{ ref('int_messages') }}
),

masked as (
    select
        failures.event_id,
        failures.message_id,
        failures.delivery_id,
        failures.event_at,
        failures.outcome,
        failures.smtp_code,
        failures.enhanced_code,
        messages.channel,
        messages.recipient_domain,
        failures.diagnostic_pattern,
        {{ qualification_mask_addresses('failures.diagnostic') }} as sample_diagnostic
    from failures
    inner join messages
        on failures.message_id = messages.message_id
),

grouped as (
    select
        diagnostic_pattern,
        smtp_code,
        enhanced_code,
        outcome,
        case when outcome = 'hard_bounce' then 'hard' else 'soft' end as failure_type,
        channel,
        count(*) as failures,
        count(distinct message_id) as messages,
        count(distinct delivery_id) as deliveries,
        count(distinct recipient_domain) as recipient_domains,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at,
        min(sample_diagnostic) as sample_diagnostic
    from masked
    group by diagnostic_pattern, smtp_code, enhanced_code, outcome, channel
),

final as (
    select
        row_number() over (
            order by failures desc, messages desc, diagnostic_pattern nulls last, smtp_code nulls last,
                enhanced_code nulls last, outcome, channel nulls last
        ) as failure_rank,
        diagnostic_pattern,
        smtp_code,
        enhanced_code,
        outcome,
        failure_type,
        channel,
        failures,
        messages,
        deliveries,
        recipient_domains,
        first_seen_at,
        last_seen_at,
        sample_diagnostic,
        {{ as_of() }} as as_of
    from grouped
)

select * from final
