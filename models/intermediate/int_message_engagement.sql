-- Per message, the tracking activity the dynamic report counts: events received by the
-- build's as_of, inside the report window, each event_id once. Machine activity is counted
-- both ways (all, and human only).
{{ kept_by('message_id') }}
with events as (
    select * from {{ ref('int_tracking_events') }}
    where received_at <= {{ as_of() }}
        and {{ kept_rows() }}
        and is_in_report_window
),

final as (
    select
        message_id,
        delivery_id,
        count(case when tracking_type = 'open' then 1 end) as open_events,
        count(case when tracking_type = 'open' and is_machine then 1 end) as machine_open_events,
        count(case when tracking_type = 'click' then 1 end) as click_events,
        count(case when tracking_type = 'click' and not is_machine then 1 end) as human_click_events,
        count(case when tracking_type = 'opt_out' then 1 end) as opt_out_events,
        count(case when tracking_type = 'mirror_page' then 1 end) as mirror_page_events,
        count(case when tracking_type = 'complaint' then 1 end) as complaint_events,
        count(case when tracking_type = 'open' and not is_machine then 1 end) as human_open_events,
        max(case when tracking_type = 'open' then 1 else 0 end) = 1 as has_open,
        max(case when tracking_type = 'click' then 1 else 0 end) = 1 as has_click,
        max(case when tracking_type in ('open', 'click', 'opt_out', 'mirror_page') then 1 else 0 end) = 1 as has_open_or_implied,
        max(case when tracking_type = 'open' and not is_machine then 1 else 0 end) = 1 as has_human_open,
        max(case when tracking_type = 'click' and not is_machine then 1 else 0 end) = 1 as has_human_click,
        max(case when tracking_type in ('open', 'click', 'opt_out', 'mirror_page') and not is_machine then 1 else 0 end) = 1 as has_human_open_or_implied,
        sum(case when tracking_type in ('open', 'click') then copies - 1 else 0 end) as duplicate_copies
    from events
    group by message_id, delivery_id
)

select * from final
