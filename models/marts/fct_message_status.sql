-- The sending-log status of each relayed message under each reporting mode, as known at the
-- build's as_of. A message not yet relayed has no status and no row.
with history as (
    select * from {{ ref('fct_message_status_history') }}
    where is_current
),

messages as (
    select * from {{ ref('int_messages') }}
),

final as (
    select
        history.message_id,
        history.delivery_id,
        history.profile_id,
        history.reporting_mode,
        history.status,
        history.failure_type,
        history.failure_reason,
        history.valid_from as status_at,
        messages.validity_end_at is not null and messages.validity_end_at <= {{ as_of() }} as is_final,
        history.status_cause,
        history.cause_event_id,
        history.reporting_mode = messages.own_reporting_mode as is_own_mode,
        messages.channel,
        messages.relayed_at,
        messages.validity_end_at,
        messages.is_test_profile,
        messages.is_proof,
        {{ as_of() }} as as_of
    from history
    inner join messages
        on history.message_id = messages.message_id
)

select * from final
