-- The sending-log status of each relayed message under each reporting mode, as known at the
-- build's as_of (fct_message_status without its as_of column, kept between builds: a message
-- is recomputed when new data or a moved as_of can change it, see int_changed_messages).
{{ kept_by('message_id') }}
with timeline as (
    select * from {{ ref('int_message_status_timeline') }}
    where {{ kept_rows() }}
),

messages as (
    select * from {{ ref('int_messages') }}
    where {{ kept_rows() }}
),

current_intervals as (
    select * from timeline
    where valid_from <= {{ as_of() }}
        and (valid_to is null or valid_to > {{ as_of() }})
),

final as (
    select
        current_intervals.message_id,
        current_intervals.delivery_id,
        current_intervals.profile_id,
        current_intervals.reporting_mode,
        current_intervals.status,
        current_intervals.failure_type,
        current_intervals.failure_reason,
        current_intervals.valid_from as status_at,
        messages.validity_end_at is not null and messages.validity_end_at <= {{ as_of() }} as is_final,
        current_intervals.status_cause,
        current_intervals.cause_event_id,
        current_intervals.reporting_mode = messages.own_reporting_mode as is_own_mode,
        messages.channel,
        messages.relayed_at,
        messages.validity_end_at,
        messages.is_test_profile,
        messages.is_proof
    from current_intervals
    inner join messages
        on current_intervals.message_id = messages.message_id
)

select * from final
