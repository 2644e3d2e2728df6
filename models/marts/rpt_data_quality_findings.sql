-- Data-quality findings: events and rows that contradict each other or point nowhere. They are
-- listed here, never silently dropped, and never stop the build.
--   success_after_hard_bounce   a delivered report after a hard bounce (the hard bounce stands)
--   success_after_validity_end  a delivered report after validity_end (it does not count)
--   event_before_relay          feedback that happened before the message was relayed
--   feedback_unknown_message    feedback for a message_id not in the sending log
--   feedback_not_relayed        feedback for a message that was never relayed
--   tracking_unknown_message    tracking for a message_id not in the sending log
--   unknown_delivery            sending-log rows of a delivery_id with no deliveries row
--   duplicate_event             an event_id received more than once (counted once)
--   engagement_without_delivery an open, click, opt-out, mirror page or complaint of a message of
--                               an efs delivery whose MTA reported no delivery: the engagement
--                               proves it arrived, but the sending-log status stays what the MTA
--                               reported (efs pending; DECISIONS.md "Implied delivery")
-- Every finding names its message: the table is kept per message while as_of stays put.
{{ kept_by('message_id', rows='report') }}
with feedback as (
    select * from {{ ref('stg_feedback') }}
    where {{ kept_rows() }}
        and received_at <= {{ as_of() }}
),

tracking as (
    select * from {{ ref('stg_tracking') }}
    where {{ kept_rows() }}
        and received_at <= {{ as_of() }}
),

messages as (
    select * from {{ ref('int_messages') }}
    where {{ kept_rows() }}
),

events as (
    select * from {{ ref('int_feedback_events') }}
    where {{ kept_rows() }}
        and received_at <= {{ as_of() }}
),

delivered as (
    select distinct message_id
    from events
    where outcome = 'delivered'
),

-- the first engagement of each relayed efs message that has no delivery report
engaged_undelivered as (
    select * from (
        select
            tracking.event_id,
            tracking.message_id,
            tracking.tracking_type,
            messages.delivery_id,
            row_number() over (
                partition by tracking.message_id order by tracking.event_at, tracking.event_id
            ) as engagement_rank
        from tracking
        inner join messages on tracking.message_id = messages.message_id
        left join delivered on tracking.message_id = delivered.message_id
        where messages.is_relayed
            and messages.own_reporting_mode = 'efs'
            and delivered.message_id is null
    ) as ranked
    where engagement_rank = 1
),

first_hard as (
    select message_id, min(event_seq) as hard_seq
    from events
    where outcome = 'hard_bounce'
    group by message_id
),

findings as (
    select 'success_after_hard_bounce' as finding, 'feedback' as kind, events.event_id as item_id,
        events.message_id, events.delivery_id, 'the earlier hard bounce stands' as details
    from events
    inner join first_hard on events.message_id = first_hard.message_id
    where events.outcome = 'delivered' and events.event_seq > first_hard.hard_seq
    union all
    select 'success_after_validity_end', 'feedback', event_id, message_id, delivery_id,
        'delivered after validity_end; not counted'
    from events
    where is_late_success
    union all
    select 'event_before_relay', 'feedback', event_id, message_id, delivery_id,
        'event_at before relayed_at; counted from the relay'
    from events
    where event_at < relayed_at
    union all
    select 'feedback_unknown_message', 'feedback', feedback.event_id, feedback.message_id,
        cast(null as {{ dbt.type_string() }}), 'message_id not in the sending log'
    from feedback
    left join messages on feedback.message_id = messages.message_id
    where messages.message_id is null
    union all
    select 'feedback_not_relayed', 'feedback', feedback.event_id, feedback.message_id,
        messages.delivery_id, 'message never relayed; no status'
    from feedback
    inner join messages on feedback.message_id = messages.message_id
    where messages.relayed_at is null
    union all
    select 'tracking_unknown_message', 'tracking', tracking.event_id, tracking.message_id,
        cast(null as {{ dbt.type_string() }}), 'message_id not in the sending log'
    from tracking
    left join messages on tracking.message_id = messages.message_id
    where messages.message_id is null
    union all
    select 'unknown_delivery', 'send_log', message_id, message_id, delivery_id,
        'delivery_id has no deliveries row; no validity period'
    from messages
    where not has_known_delivery
    union all
    select 'duplicate_event', 'feedback', event_id, message_id, cast(null as {{ dbt.type_string() }}),
        cast(copies as {{ dbt.type_string() }}) || ' copies received; counted once'
    from feedback
    where copies > 1
    union all
    select 'duplicate_event', 'tracking', event_id, message_id, cast(null as {{ dbt.type_string() }}),
        cast(copies as {{ dbt.type_string() }}) || ' copies received; counted once'
    from tracking
    where copies > 1
    union all
    select 'engagement_without_delivery', 'tracking', event_id, message_id, delivery_id,
        tracking_type || ' without a delivery report; the status stays as the MTA reported it'
    from engaged_undelivered
),

final as (
    select
        finding,
        kind,
        item_id,
        message_id,
        delivery_id,
        details,
        case when finding in ('duplicate_event', 'engagement_without_delivery') then 'info' else 'warning' end as severity,
        {{ as_of() }} as as_of
    from findings
)

select * from final
