-- The address-level events that drive quarantine (SPEC section 4), known at the build's
-- as_of, in the order the rules read them (`event_seq`: by event_at, then received_at, then
-- source and event_id for a stable order).
--   * feedback of relayed messages known by as_of (known_at = received_at, never before the
--     relay): hard_bounce, soft_bounce, delivered. `expired` (the end of the retries that may
--     follow a soft bounce) and `ignored` never affect an address, so they are not here.
--   * spam complaints: tracking events of type 'complaint' received by as_of.
-- The failure type comes from the outcome; the reason is the canonical label
-- (int_feedback_events), 'not defined' when the MTA gave none, 'denylisted' for a complaint.
-- A run of consecutive successes is kept as its first success only: a success after a
-- success can never change an address's state.
{{ kept_by('address') }}
with messages as (
    select * from {{ ref('int_messages') }}
    where {{ kept_rows() }}
),

feedback as (
    select * from {{ ref('int_feedback_events') }}
    where known_at <= {{ as_of() }}
        and outcome in ('hard_bounce', 'soft_bounce', 'delivered')
),

complaints as (
    select * from {{ ref('int_tracking_events') }}
    where tracking_type = 'complaint'
        and received_at <= {{ as_of() }}
),

feedback_events as (
    select
        messages.address,
        'feedback' as source,
        feedback.event_id,
        feedback.message_id,
        feedback.delivery_id,
        feedback.event_at,
        feedback.received_at,
        feedback.outcome as event_kind,
        case
            when feedback.outcome in ('hard_bounce', 'soft_bounce') then coalesce(feedback.failure_reason, 'not defined')
        end as failure_reason
    from feedback
    inner join messages
        on feedback.message_id = messages.message_id
),

complaint_events as (
    select
        messages.address,
        'tracking' as source,
        complaints.event_id,
        complaints.message_id,
        messages.delivery_id,
        complaints.event_at,
        complaints.received_at,
        'complaint' as event_kind,
        'denylisted' as failure_reason
    from complaints
    inner join messages
        on complaints.message_id = messages.message_id
),

unioned as (
    select * from feedback_events
    union all
    select * from complaint_events
),

with_previous as (
    select
        *,
        lag(event_kind) over (
            partition by address order by event_at, received_at, source, event_id
        ) as previous_event_kind
    from unioned
),

kept as (
    select * from with_previous
    where not (event_kind = 'delivered' and coalesce(previous_event_kind, '') = 'delivered')
),

final as (
    select
        address,
        row_number() over (
            partition by address order by event_at, received_at, source, event_id
        ) as event_seq,
        event_kind,
        failure_reason,
        event_at,
        received_at,
        source,
        event_id,
        message_id,
        delivery_id
    from kept
)

select * from final
