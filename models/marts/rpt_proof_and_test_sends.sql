-- Proof deliveries and test-profile messages, reported apart from every KPI: per delivery,
-- how many such messages went out and how they fared in the delivery's own mode.
with messages as (
    select * from {{ ref('int_messages') }}
    where is_proof or is_test_profile
),

statuses as (
    select * from {{ ref('fct_message_status') }}
    where is_own_mode
),

final as (
    select
        messages.delivery_id,
        bool_or(messages.is_proof) as is_proof,
        count(*) as messages,
        count(case when messages.is_test_profile then 1 end) as test_profile_messages,
        count(case when messages.relayed_at <= {{ as_of() }} then 1 end) as sent,
        count(case when statuses.status = 'sent' then 1 end) as delivered,
        count(case when statuses.status = 'failed' then 1 end) as bounces_errors
    from messages
    left join statuses
        on messages.message_id = statuses.message_id
    group by messages.delivery_id
)

select * from final
