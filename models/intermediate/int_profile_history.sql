-- A profile's marketing history: one row per message of the sending log (profile x message),
-- relayed or not, with its delivery, its final status in the delivery's own reporting mode as
-- of the build's as_of (null while not relayed) and the recipient's activity.
-- A message relayed after as_of counts as not relayed yet (relayed_at null). Kept between
-- builds (fct_profile_history adds the build's as_of).
{{ kept_by('message_id') }}
with messages as (
    select * from {{ ref('int_messages') }}
    where {{ kept_rows() }}
),

status as (
    select * from {{ ref('int_message_status_current') }}
    where is_own_mode
        and {{ kept_rows() }}
),

activity as (
    select * from {{ ref('int_profile_message_activity') }}
    where {{ kept_rows() }}
),

final as (
    select
        messages.profile_id,
        messages.message_id,
        messages.delivery_id,
        messages.label,
        messages.channel,
        messages.address,
        case when messages.relayed_at <= {{ as_of() }} then messages.relayed_at end as relayed_at,
        messages.relayed_at is not null and messages.relayed_at <= {{ as_of() }} as is_relayed,
        status.status as final_status,
        status.failure_type,
        status.failure_reason,
        status.status_at,
        status.is_final,
        case when status.message_id is not null then messages.own_reporting_mode end as reporting_mode,
        coalesce(activity.has_opened, false) as has_opened,
        coalesce(activity.has_clicked, false) as has_clicked,
        coalesce(activity.has_opted_out, false) as has_opted_out,
        coalesce(activity.has_viewed_mirror_page, false) as has_viewed_mirror_page,
        coalesce(activity.has_complained, false) as has_complained,
        coalesce(activity.has_open_or_implied, false) as has_open_or_implied,
        coalesce(activity.open_events, 0) as open_events,
        coalesce(activity.click_events, 0) as click_events,
        activity.first_opened_at,
        activity.first_clicked_at,
        activity.opted_out_at,
        messages.contact_at,
        messages.is_test_profile,
        messages.is_proof
    from messages
    left join status
        on messages.message_id = status.message_id
    left join activity
        on messages.message_id = activity.message_id
)

select * from final
