-- Every quarantine state interval of every address, as known at the build's as_of (events
-- received by then, in event time). The state at any earlier instant T is
--   where valid_from <= T and (valid_to is null or valid_to > T).
-- A new interval starts whenever status, error_count, last_reason or last_error_at changes: at an event
-- (int_quarantine_states) or when a state lifts by itself (counter reset after the reset
-- period, mailbox-full release). Releases due after as_of have not happened yet.
{{ kept_by('address') }}
with states as (
    select * from {{ ref('int_quarantine_states') }}
    where {{ kept_rows() }}
),

addresses as (
    select * from {{ ref('int_quarantine_addresses') }}
    where {{ kept_rows() }}
),

with_previous as (
    select
        *,
        lag(last_reason) over (partition by address order by event_seq) as previous_last_reason,
        lag(last_error_at) over (partition by address order by event_seq) as previous_last_error_at,
        max(event_seq) over (partition by address) as last_event_seq
    from states
),

change_points as (
    -- the state after each event (and the valid start)
    select
        address,
        event_at as change_at,
        event_seq,
        1 as change_order,
        case when event_kind = 'soft_bounce' and not is_counted_error then 'soft_bounce_not_counted' else event_kind end as change_cause,
        event_id as cause_event_id,
        status,
        error_count,
        last_reason,
        last_error_at,
        status_since,
        release_at
    from with_previous

    union all

    -- a release that fired before (or at) the next event
    select
        address,
        timer_fired_at as change_at,
        event_seq,
        0 as change_order,
        timer_cause as change_cause,
        cast(null as {{ dbt.type_string() }}) as cause_event_id,
        'valid' as status,
        0 as error_count,
        previous_last_reason as last_reason,
        previous_last_error_at as last_error_at,
        timer_fired_at as status_since,
        cast(null as timestamp) as release_at
    from with_previous
    where timer_fired_at is not null

    union all

    -- the release of the latest state, once its time has come
    select
        address,
        release_at as change_at,
        event_seq,
        2 as change_order,
        case
            when status = 'quarantine' then 'mailbox_full_release'
            when last_reason = 'mailbox full'
                and {{ var('quarantine_mailbox_full_release_days') }} < {{ var('quarantine_counter_reset_days') }}
                then 'mailbox_full_release'
            else 'counter_reset'
        end as change_cause,
        cast(null as {{ dbt.type_string() }}) as cause_event_id,
        'valid' as status,
        0 as error_count,
        last_reason,
        last_error_at,
        release_at as status_since,
        cast(null as timestamp) as release_at
    from with_previous
    where event_seq = last_event_seq
        and release_at is not null
        and release_at <= {{ as_of() }}
),

known as (
    select
        *,
        row_number() over (
            partition by address, change_at order by event_seq desc, change_order desc
        ) as rank_in_instant
    from change_points
    where change_at <= {{ as_of() }}
),

-- the state after the last change at each instant
instants as (
    select
        *,
        lag(status) over by_time as previous_status,
        lag(error_count) over by_time as previous_error_count,
        lag(last_reason) over by_time as previous_reason,
        lag(last_error_at) over by_time as previous_last_error_at
    from known
    where rank_in_instant = 1
    window by_time as (partition by address order by change_at)
),

-- islands: keep only the instants where the visible state changes
changes as (
    select * from instants
    where previous_status is null
        or previous_status <> status
        or previous_error_count <> error_count
        or previous_reason is distinct from last_reason
        or previous_last_error_at is distinct from last_error_at
),

final as (
    select
        changes.address,
        addresses.channel,
        changes.status,
        changes.error_count,
        changes.last_reason,
        changes.last_error_at,
        changes.status_since,
        changes.change_cause,
        changes.cause_event_id,
        changes.change_at as valid_from,
        lead(changes.change_at) over (partition by changes.address order by changes.change_at) as valid_to,
        case when changes.release_at > {{ as_of() }} then changes.release_at end as release_at
    from changes
    inner join addresses
        on changes.address = addresses.address
),

with_current as (
    select
        *,
        valid_to is null as is_current
    from final
)

select * from with_current
