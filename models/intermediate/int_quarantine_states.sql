{#- Thresholds (dbt vars, defaults in sendlens/config.py). -#}
{%- set min_gap_seconds = var('quarantine_min_hours_between_errors') | float * 3600 -%}
{%- set max_errors = var('quarantine_max_errors') | int -%}
{%- set reset_seconds = var('quarantine_counter_reset_days') | float * 86400 -%}
{%- set mailbox_full_seconds = var('quarantine_mailbox_full_release_days') | float * 86400 -%}
-- The quarantine state of each address after each of its events (int_quarantine_events),
-- replayed in event order by a recursive CTE: the 24-hour spacing between counted errors is
-- inherently sequential (whether an error counts depends on which earlier ones counted).
-- Row event_seq = 0 is the address's start (first relay, or its first event if earlier): valid.
--
-- State: status, error_count, last_error_at / last_reason (the last counted error: a hard
-- bounce, a counted soft bounce or a complaint; kept after a reset), status_since, and
-- release_at (when the state lifts by itself if nothing happens first).
--
-- Before an event at t, a pending release fires if t >= release_at (-> valid, counter 0,
-- `timer_fired_at` = release_at, `timer_cause`). Then the event applies:
--   complaint           -> denylisted (from any status; denylisted is never lifted)
--   hard_bounce         -> quarantine (counts as an error); on a quarantined address it only
--                          updates last_error_at / last_reason
--   soft_bounce         -> on valid/erroneous, counts only if the counter is 0 or t is at least
--                          {{ min_gap_seconds / 3600 }} h after last_error_at; a counted error
--                          increments the counter: erroneous, quarantine at {{ max_errors }}.
--                          On quarantine / denylisted: no change.
--   delivered           -> erroneous -> valid (counter 0); no change otherwise (quarantine and
--                          denylisted are never lifted by a success)
-- Releases: erroneous -> valid at last_error_at + {{ reset_seconds / 86400 }} d (counter reset),
-- or + {{ mailbox_full_seconds / 86400 }} d if sooner and the last reason is 'mailbox full';
-- quarantine whose last reason is 'mailbox full' -> valid at last_error_at + {{ mailbox_full_seconds / 86400 }} d.
-- Denylisted and any other quarantine never lift.
{{ kept_by('address') }}
{%- set is_released = '(states.release_at is not null and events.event_at >= states.release_at)' %}
with recursive

addresses as (
    select * from {{ ref('int_quarantine_addresses') }}
    where {{ kept_rows() }}
),

events as (
    select * from {{ ref('int_quarantine_events') }}
    where {{ kept_rows() }}
),

first_events as (
    select address, min(event_at) as first_event_at
    from events
    group by address
),

starts as (
    select
        addresses.address,
        case
            when addresses.first_relayed_at is null then first_events.first_event_at
            when first_events.first_event_at is null then addresses.first_relayed_at
            when first_events.first_event_at < addresses.first_relayed_at then first_events.first_event_at
            else addresses.first_relayed_at
        end as start_at
    from addresses
    left join first_events
        on addresses.address = first_events.address
),

states as (
    select
        address,
        cast(0 as bigint) as event_seq,
        start_at as event_at,
        'first_seen' as event_kind,
        cast(null as {{ dbt.type_string() }}) as event_id,
        cast(null as {{ dbt.type_string() }}) as event_reason,
        false as is_counted_error,
        cast(null as timestamp) as timer_fired_at,
        cast(null as {{ dbt.type_string() }}) as timer_cause,
        'valid' as status,
        cast(0 as bigint) as error_count,
        cast(null as timestamp) as last_error_at,
        cast(null as {{ dbt.type_string() }}) as last_reason,
        start_at as status_since,
        cast(null as timestamp) as release_at
    from starts
    where start_at is not null

    union all

    -- 3. the release time of the new state
    select
        applied.address,
        applied.event_seq,
        applied.event_at,
        applied.event_kind,
        applied.event_id,
        applied.event_reason,
        applied.is_counted_error,
        applied.timer_fired_at,
        applied.timer_cause,
        applied.status,
        applied.error_count,
        applied.last_error_at,
        applied.last_reason,
        case when applied.status = applied.prior_status then applied.prior_since else applied.event_at end as status_since,
        case
            when applied.status = 'erroneous' and applied.last_reason = 'mailbox full'
                then {{ add_seconds('applied.last_error_at', [reset_seconds, mailbox_full_seconds] | min) }}
            when applied.status = 'erroneous'
                then {{ add_seconds('applied.last_error_at', reset_seconds) }}
            when applied.status = 'quarantine' and applied.last_reason = 'mailbox full'
                then {{ add_seconds('applied.last_error_at', mailbox_full_seconds) }}
        end as release_at
    from (
        -- 2. the event applied to the state it found
        select
            prior.*,
            case
                when prior.prior_status = 'denylisted' then 'denylisted'
                when prior.event_kind = 'complaint' then 'denylisted'
                when prior.prior_status = 'quarantine' then 'quarantine'
                when prior.event_kind = 'hard_bounce' then 'quarantine'
                when prior.is_counted_soft and prior.prior_count + 1 >= {{ max_errors }} then 'quarantine'
                when prior.is_counted_soft then 'erroneous'
                when prior.event_kind = 'delivered' then 'valid'
                else prior.prior_status
            end as status,
            case
                when prior.prior_status in ('valid', 'erroneous') and (prior.event_kind = 'hard_bounce' or prior.is_counted_soft)
                    then prior.prior_count + 1
                when prior.prior_status in ('valid', 'erroneous') and prior.event_kind = 'delivered' then 0
                else prior.prior_count
            end as error_count,
            case
                when prior.prior_status = 'denylisted' then prior.prior_last_error_at
                when prior.event_kind in ('complaint', 'hard_bounce') or prior.is_counted_soft then prior.event_at
                else prior.prior_last_error_at
            end as last_error_at,
            case
                when prior.prior_status = 'denylisted' then prior.prior_last_reason
                when prior.event_kind in ('complaint', 'hard_bounce') or prior.is_counted_soft then prior.event_reason
                else prior.prior_last_reason
            end as last_reason,
            prior.prior_status <> 'denylisted'
                and (prior.event_kind = 'complaint'
                    or (prior.prior_status <> 'quarantine' and prior.event_kind = 'hard_bounce')
                    or prior.is_counted_soft) as is_counted_error
        from (
            -- 1. the state the event finds: the previous state, released if its time came
            select
                fired.*,
                fired.event_kind = 'soft_bounce'
                    and fired.prior_status in ('valid', 'erroneous')
                    and (fired.prior_count = 0
                        or fired.prior_last_error_at is null
                        or fired.event_at >= {{ add_seconds('fired.prior_last_error_at', min_gap_seconds) }}) as is_counted_soft
            from (
                select
                    events.address,
                    events.event_seq,
                    events.event_at,
                    events.event_kind,
                    events.event_id,
                    events.failure_reason as event_reason,
                    case when {{ is_released }} then states.release_at end as timer_fired_at,
                    case
                        when not {{ is_released }} then null
                        when states.status = 'quarantine' then 'mailbox_full_release'
                        when states.last_reason = 'mailbox full' and {{ mailbox_full_seconds }} < {{ reset_seconds }} then 'mailbox_full_release'
                        else 'counter_reset'
                    end as timer_cause,
                    case when {{ is_released }} then 'valid' else states.status end as prior_status,
                    case when {{ is_released }} then 0 else states.error_count end as prior_count,
                    states.last_error_at as prior_last_error_at,
                    states.last_reason as prior_last_reason,
                    case when {{ is_released }} then states.release_at else states.status_since end as prior_since
                from states
                inner join events
                    on events.address = states.address
                    and events.event_seq = states.event_seq + 1
            ) as fired
        ) as prior
    ) as applied
)

select * from states
