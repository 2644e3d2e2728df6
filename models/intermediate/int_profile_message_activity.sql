-- Per message, the tracking activity a profile's marketing history shows: every tracking
-- event received by the build's as_of, each event_id once, with no report window and no
-- machine-open filter (it is the profile's record, not a KPI). has_opened means a recorded
-- open event: a click or opt-out does not set it (has_open_or_implied does).
{{ kept_by('message_id') }}
with tracking as (
    select * from {{ ref('stg_tracking') }}
    where received_at <= {{ as_of() }}
        and {{ kept_rows() }}
),

final as (
    select
        message_id,
        count(case when tracking_type = 'open' then 1 end) as open_events,
        count(case when tracking_type = 'click' then 1 end) as click_events,
        max(case when tracking_type = 'open' then 1 else 0 end) = 1 as has_opened,
        max(case when tracking_type = 'click' then 1 else 0 end) = 1 as has_clicked,
        max(case when tracking_type = 'opt_out' then 1 else 0 end) = 1 as has_opted_out,
        max(case when tracking_type = 'mirror_page' then 1 else 0 end) = 1 as has_viewed_mirror_page,
        max(case when tracking_type = 'complaint' then 1 else 0 end) = 1 as has_complained,
        max(case when tracking_type in ('open', 'click', 'opt_out', 'mirror_page') then 1 else 0 end) = 1 as has_open_or_implied,
        min(case when tracking_type = 'open' then event_at end) as first_opened_at,
        min(case when tracking_type = 'click' then event_at end) as first_clicked_at,
        min(case when tracking_type = 'opt_out' then event_at end) as opted_out_at
    from tracking
    group by message_id
)

select * from final
