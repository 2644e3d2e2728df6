-- The sending-log status of every relayed message under BOTH reporting modes, over knowledge
-- time: each row is an interval [valid_from, valid_to) during which that status was what we
-- knew. It holds every landed event; the public history truncates it at the build's as_of.
--
-- The status changes only at a change point: the relay, the arrival of a feedback event
-- (its received_at, never before the relay), or validity_end. At each change point the state
-- is a function of the events known by then (SPEC section 2):
--   * any hard bounce known                  -> failed (hard), final
--   * else the latest status event by event_at (soft bounce, expiry, or a success whose
--     event_at is within the validity period; `ignored` never counts):
--       expired                              -> failed (soft)                       both modes
--       soft_bounce                          -> standard: sent, failed once validity_end passed
--                                               efs: failed (soft)
--       delivered                            -> sent                                both modes
--   * no status event                        -> standard: sent; efs: pending
-- Messages without any feedback take a short path (one interval per mode from the relay);
-- validity_end is a change point only for messages with a soft bounce (the only ones whose
-- status can change then).
{{ kept_by('message_id') }}
with all_messages as (
    select * from {{ ref('int_messages') }}
    where is_relayed
        and {{ kept_rows() }}
),

events as (
    select * from {{ ref('int_feedback_events') }}
    where {{ kept_rows() }}
),

event_summary as (
    select
        message_id,
        max(case when outcome = 'soft_bounce' then 1 else 0 end) = 1 as has_soft_bounce
    from events
    group by message_id
),

messages as (
    select all_messages.*, event_summary.has_soft_bounce
    from all_messages
    inner join event_summary
        on all_messages.message_id = event_summary.message_id
),

quiet_messages as (
    select all_messages.*
    from all_messages
    left join event_summary
        on all_messages.message_id = event_summary.message_id
    where event_summary.message_id is null
),

change_points as (
    select message_id, relayed_at as change_at, 0 as change_kind,
        cast(null as bigint) as event_seq, cast(null as {{ dbt.type_string() }}) as outcome, false as is_status_event
    from messages
    union all
    select message_id, known_at as change_at, 1 as change_kind,
        event_seq, outcome, is_status_event
    from events
    union all
    select message_id, greatest(validity_end_at, relayed_at) as change_at, 2 as change_kind,
        cast(null as bigint) as event_seq, cast(null as {{ dbt.type_string() }}) as outcome, false as is_status_event
    from messages
    where validity_end_at is not null and has_soft_bounce
),

running as (
    select
        message_id,
        change_at,
        min(case when outcome = 'hard_bounce' then event_seq end) over known_so_far as first_hard_seq,
        max(case when is_status_event and outcome <> 'hard_bounce' then event_seq end) over known_so_far as last_status_seq,
        max(case when outcome = 'soft_bounce' then event_seq end) over known_so_far as last_soft_seq,
        lead(change_at) over in_order as next_change_at
    from change_points
    window
        in_order as (partition by message_id order by change_at, change_kind, event_seq),
        known_so_far as (
            partition by message_id order by change_at, change_kind, event_seq
            rows between unbounded preceding and current row
        )
),

-- the state after the last change at each instant (the same sort as the running state)
instants as (
    select * from running
    where next_change_at is null or next_change_at <> change_at
),

states as (
    select
        instants.message_id,
        instants.change_at,
        messages.delivery_id,
        messages.profile_id,
        messages.validity_end_at,
        messages.validity_end_at is not null and instants.change_at >= messages.validity_end_at as is_past_validity,
        hard.event_id as hard_event_id,
        hard.failure_reason as hard_reason,
        latest.event_id as latest_event_id,
        latest.outcome as latest_outcome,
        latest.failure_reason as latest_reason,
        soft.failure_reason as soft_reason
    from instants
    inner join messages
        on instants.message_id = messages.message_id
    left join events as hard
        on instants.message_id = hard.message_id and instants.first_hard_seq = hard.event_seq
    left join events as latest
        on instants.message_id = latest.message_id and instants.last_status_seq = latest.event_seq
    left join events as soft
        on instants.message_id = soft.message_id and instants.last_soft_seq = soft.event_seq
),

classified as (
    select
        *,
        case
            when hard_event_id is not null then 'hard_bounce'
            when latest_outcome = 'expired' then 'expired'
            when latest_outcome = 'soft_bounce' and is_past_validity then 'validity_ended'
            when latest_outcome = 'soft_bounce' then 'soft_bounce'
            when latest_outcome = 'delivered' then 'delivered'
            else 'relayed'
        end as status_cause,
        coalesce(hard_event_id, latest_event_id) as cause_event_id
    from states
),

-- both modes' visible status at each instant, side by side (one sort per message, not per mode)
by_instant as (
    select
        message_id,
        change_at,
        delivery_id,
        profile_id,
        validity_end_at,
        status_cause,
        cause_event_id,
        case
            when status_cause in ('hard_bounce', 'expired', 'validity_ended') then 'failed'
            else 'sent'
        end as standard_status,
        case
            when status_cause = 'hard_bounce' then 'hard'
            when status_cause in ('expired', 'validity_ended') then 'soft'
        end as standard_failure_type,
        case
            when status_cause = 'hard_bounce' then coalesce(hard_reason, 'not defined')
            when status_cause in ('expired', 'validity_ended') then coalesce(latest_reason, soft_reason, 'not defined')
        end as standard_failure_reason,
        case
            when status_cause in ('hard_bounce', 'expired', 'validity_ended', 'soft_bounce') then 'failed'
            when status_cause = 'delivered' then 'sent'
            else 'pending'
        end as efs_status,
        case
            when status_cause = 'hard_bounce' then 'hard'
            when status_cause in ('expired', 'validity_ended', 'soft_bounce') then 'soft'
        end as efs_failure_type,
        case
            when status_cause = 'hard_bounce' then coalesce(hard_reason, 'not defined')
            when status_cause in ('expired', 'validity_ended', 'soft_bounce') then coalesce(latest_reason, soft_reason, 'not defined')
        end as efs_failure_reason
    from classified
),

keyed as (
    select
        *,
        lag(standard_status) over by_time as previous_standard_status,
        lag(standard_failure_type) over by_time as previous_standard_failure_type,
        lag(standard_failure_reason) over by_time as previous_standard_failure_reason,
        lag(efs_status) over by_time as previous_efs_status,
        lag(efs_failure_type) over by_time as previous_efs_failure_type,
        lag(efs_failure_reason) over by_time as previous_efs_failure_reason
    from by_instant
    window by_time as (partition by message_id order by change_at)
),

-- islands: the instants where a mode's visible status changes
flagged as (
    select
        *,
        previous_standard_status is null
            or previous_standard_status <> standard_status
            or coalesce(previous_standard_failure_type, '') <> coalesce(standard_failure_type, '')
            or coalesce(previous_standard_failure_reason, '') <> coalesce(standard_failure_reason, '')
            as is_standard_change,
        previous_efs_status is null
            or previous_efs_status <> efs_status
            or coalesce(previous_efs_failure_type, '') <> coalesce(efs_failure_type, '')
            or coalesce(previous_efs_failure_reason, '') <> coalesce(efs_failure_reason, '')
            as is_efs_change
    from keyed
),

-- each change holds until that mode's next change
bounded as (
    select
        *,
        min(case when is_standard_change then change_at end) over later as next_standard_change_at,
        min(case when is_efs_change then change_at end) over later as next_efs_change_at
    from flagged
    where is_standard_change or is_efs_change
    window later as (
        partition by message_id order by change_at
        rows between 1 following and unbounded following
    )
),

eventful as (
    select
        message_id,
        delivery_id,
        profile_id,
        'standard' as reporting_mode,
        standard_status as status,
        standard_failure_type as failure_type,
        standard_failure_reason as failure_reason,
        status_cause,
        cause_event_id,
        change_at as valid_from,
        next_standard_change_at as valid_to,
        validity_end_at
    from bounded
    where is_standard_change
    union all
    select
        message_id,
        delivery_id,
        profile_id,
        'efs' as reporting_mode,
        efs_status as status,
        efs_failure_type as failure_type,
        efs_failure_reason as failure_reason,
        status_cause,
        cause_event_id,
        change_at as valid_from,
        next_efs_change_at as valid_to,
        validity_end_at
    from bounded
    where is_efs_change
),

quiet as (
    select
        message_id,
        delivery_id,
        profile_id,
        modes.reporting_mode,
        case when modes.reporting_mode = 'efs' then 'pending' else 'sent' end as status,
        cast(null as {{ dbt.type_string() }}) as failure_type,
        cast(null as {{ dbt.type_string() }}) as failure_reason,
        'relayed' as status_cause,
        cast(null as {{ dbt.type_string() }}) as cause_event_id,
        relayed_at as valid_from,
        cast(null as timestamp) as valid_to,
        validity_end_at
    from quiet_messages
    cross join (select 'standard' as reporting_mode union all select 'efs' as reporting_mode) as modes
),

final as (
    select * from eventful
    union all
    select * from quiet
)

select * from final
