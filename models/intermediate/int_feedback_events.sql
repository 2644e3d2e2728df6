-- MTA feedback of relayed messages, one row per distinct event, in the order the status
-- logic reads them: by event_at, ties broken stably by received_at then event_id
-- (`event_seq`). Failure reasons take their canonical label; unknown labels become 'other'.
-- Feedback of unknown or not-yet-relayed messages is not here: see int_data_quality_findings.
--
-- Bounce qualification (docs/bounce-qualification.md): a failure (hard_bounce, soft_bounce,
-- expired) whose feed gave no reason (or 'not defined', Campaign's "in qualification") takes
-- the reason of the first rule of seeds/bounce_qualification.csv that matches it, by priority
-- then rule_id, whatever the rule matches on: its enhanced status code (qualification_enhanced_code),
-- its basic reply code (qualification_reply_code) or its masked diagnostic (a regular
-- expression); a rule may be limited to some outcomes (the vague ones are to bounces). A
-- reason the feed gives always wins. An unmatched hard or soft bounce is 'not defined'; an
-- unmatched expiry keeps no reason, so its message's status takes the reason of the retries
-- it ends (then 'not defined'). reason_source (feed, rule, unmatched)
-- says which applied, qualification_rule_id which rule, diagnostic_pattern what text the
-- rules read. Only the failures to qualify meet the rules, each distinct text once; the
-- rules are one CASE of constant conditions, read from the loaded seed when the model
-- compiles (macros/qualification.sql).
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

rules as (
    select rule_id, failure_reason from {{ ref('bounce_qualification') }}
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
        end as feed_reason,
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

classified as (
    select
        *,
        case
            when outcome in {{ qualification_failure_outcomes() }}
                then {{ qualification_enhanced_code('diagnostic', 'smtp_code') }}
        end as enhanced_code,
        outcome in {{ qualification_failure_outcomes() }}
            and (feed_reason is null or feed_reason = 'not defined') as needs_rule
    from joined
),

-- the failures to qualify, each distinct text once (masking is the costly part)
raw_texts as (
    select
        outcome,
        coalesce(diagnostic, '') as diagnostic_raw_key,
        coalesce(smtp_code, '') as smtp_code_key,
        coalesce(enhanced_code, '') as enhanced_code_key,
        max(diagnostic) as diagnostic,
        max(smtp_code) as smtp_code,
        max(enhanced_code) as enhanced_code
    from classified
    where needs_rule
    group by 1, 2, 3, 4
),

masked_texts as {{ qualification_materialized() }} (
    select
        *,
        {{ qualification_mask_diagnostic('diagnostic') }} as diagnostic_masked
    from raw_texts
),

-- each distinct masked text once, with what the rules read
texts as (
    select
        outcome,
        coalesce(diagnostic_masked, '') as diagnostic_key,
        smtp_code_key,
        enhanced_code_key,
        max(diagnostic_masked) as diagnostic_masked,
        max(enhanced_code) as enhanced_code,
        max({{ qualification_reply_code('diagnostic_masked', 'smtp_code') }}) as reply_code
    from masked_texts
    group by 1, 2, 3, 4
),

-- the first matching rule, by priority then rule_id (macro qualification_first_rule: the
-- seed's rules, each a constant condition of one CASE)
matched as (
    select
        outcome,
        diagnostic_key,
        smtp_code_key,
        enhanced_code_key,
        {{ qualification_first_rule('diagnostic_masked', 'enhanced_code', 'reply_code', 'outcome') }} as rule_id
    from texts
),

qualified as (
    select
        masked_texts.outcome,
        masked_texts.diagnostic_raw_key,
        masked_texts.smtp_code_key,
        masked_texts.enhanced_code_key,
        masked_texts.diagnostic_masked,
        rules.rule_id,
        rules.failure_reason
    from masked_texts
    inner join matched
        on masked_texts.outcome = matched.outcome
        and coalesce(masked_texts.diagnostic_masked, '') = matched.diagnostic_key
        and masked_texts.smtp_code_key = matched.smtp_code_key
        and masked_texts.enhanced_code_key = matched.enhanced_code_key
    left join rules
        on matched.rule_id = rules.rule_id
),

reasoned as (
    select
        classified.*,
        qualified.diagnostic_masked as diagnostic_pattern,
        qualified.rule_id as qualification_rule_id,
        qualified.failure_reason as rule_reason
    from classified
    left join qualified
        on classified.needs_rule
        and classified.outcome = qualified.outcome
        and coalesce(classified.diagnostic, '') = qualified.diagnostic_raw_key
        and coalesce(classified.smtp_code, '') = qualified.smtp_code_key
        and coalesce(classified.enhanced_code, '') = qualified.enhanced_code_key
),

final as (
    select
        event_id,
        message_id,
        delivery_id,
        event_at,
        received_at,
        outcome,
        failure_reason_raw,
        case
            when not needs_rule then feed_reason
            when rule_reason is not null then rule_reason
            when feed_reason is not null then feed_reason
            when outcome in ('hard_bounce', 'soft_bounce') then 'not defined'
        end as failure_reason,
        case
            when not needs_rule and feed_reason is not null then 'feed'
            when rule_reason is not null then 'rule'
            when needs_rule then 'unmatched'
        end as reason_source,
        qualification_rule_id,
        enhanced_code,
        smtp_code,
        diagnostic,
        diagnostic_pattern,
        attempt,
        copies,
        relayed_at,
        validity_end_at,
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
    from reasoned
)

select * from final
