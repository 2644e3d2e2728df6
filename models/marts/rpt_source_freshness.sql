-- The freshness of the lake's event feeds at the build's as_of: is a feed still arriving while
-- the sends go on? One row per feed (feedback, tracking). A feed is stale when the messages
-- relayed during more than its threshold (settings stale_feedback_hours, stale_tracking_hours;
-- the sources' freshness in models/staging/_sources.yml) came after its newest event: the
-- sends went on, the feed did not. A feed with no event yet is measured from the first send.
-- Only what was received by as_of counts, so the table reads the same for any past instant.
-- A stale feed warns (run output, data-quality page); it never stops the build.
with send_log as (
    select relayed_at from {{ ref('stg_send_log') }}
    where relayed_at is not null
        and relayed_at <= {{ as_of() }}
),

feedback as (
    select received_at from {{ ref('stg_feedback') }}
    where received_at <= {{ as_of() }}
),

tracking as (
    select received_at from {{ ref('stg_tracking') }}
    where received_at <= {{ as_of() }}
),

sends as (
    select
        min(relayed_at) as first_relayed_at,
        max(relayed_at) as latest_relayed_at
    from send_log
),

feeds as (
    select
        'feedback' as feed,
        max(received_at) as latest_received_at,
        count(*) as events_received,
        cast({{ var('stale_feedback_hours') }} as double) as warn_after_hours
    from feedback
    union all
    select
        'tracking' as feed,
        max(received_at) as latest_received_at,
        count(*) as events_received,
        cast({{ var('stale_tracking_hours') }} as double) as warn_after_hours
    from tracking
),

measured as (
    select
        feeds.feed,
        feeds.latest_received_at,
        cast(feeds.events_received as bigint) as events_received,
        sends.latest_relayed_at,
        feeds.warn_after_hours,
        case
            when sends.latest_relayed_at is null then cast(0 as double)
            else greatest(cast(0 as double),
                {{ seconds_between('coalesce(feeds.latest_received_at, sends.first_relayed_at)',
                                   'sends.latest_relayed_at') }} / 3600.0)
        end as hours_of_sends_since
    from feeds
    cross join sends
),

-- one pass over the sends for both feeds
latest as (
    select
        max(case when feed = 'feedback' then latest_received_at end) as feedback_latest_at,
        max(case when feed = 'tracking' then latest_received_at end) as tracking_latest_at
    from feeds
),

counted as (
    select
        cast(sum(case when latest.feedback_latest_at is null
                        or send_log.relayed_at > latest.feedback_latest_at then 1 else 0 end) as bigint)
            as feedback_since,
        cast(sum(case when latest.tracking_latest_at is null
                        or send_log.relayed_at > latest.tracking_latest_at then 1 else 0 end) as bigint)
            as tracking_since
    from send_log
    cross join latest
),

messages_since as (
    select 'feedback' as feed, coalesce(feedback_since, 0) as messages_relayed_since from counted
    union all
    select 'tracking' as feed, coalesce(tracking_since, 0) as messages_relayed_since from counted
),

final as (
    select
        measured.feed,
        measured.latest_received_at,
        measured.events_received,
        measured.latest_relayed_at,
        messages_since.messages_relayed_since,
        measured.hours_of_sends_since,
        measured.warn_after_hours,
        measured.hours_of_sends_since > measured.warn_after_hours as is_stale,
        {{ as_of() }} as as_of
    from measured
    inner join messages_since
        on measured.feed = messages_since.feed
)

select * from final
