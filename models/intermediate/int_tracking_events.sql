-- Tracking events of known messages, one row per distinct event_id, with the report-window
-- flag and the machine-activity heuristics (README "Machine opens"):
--   * user agent of a privacy proxy, prefetcher or security scanner (var machine_user_agents,
--     regular expressions, case-insensitive);
--   * Apple Mail Privacy Protection: an open whose user agent is exactly the generic
--     WebKit string MPP proxies send, with nothing after "(KHTML, like Gecko)";
--   * an open within machine_open_seconds of the relay (prefetch);
--   * a click within machine_click_seconds of the relay (link scanners click at once).
{{ kept_by('message_id') }}
with tracking as (
    select * from {{ ref('stg_tracking') }}
    where {{ kept_rows() }}
),

messages as (
    select * from {{ ref('int_messages') }}
    where {{ kept_rows() }}
),

joined as (
    select
        tracking.event_id,
        tracking.message_id,
        messages.delivery_id,
        tracking.tracking_type,
        tracking.event_at,
        tracking.received_at,
        tracking.url,
        tracking.user_agent,
        tracking.copies,
        messages.relayed_at,
        messages.contact_at,
        messages.counts_in_kpis
    from tracking
    inner join messages
        on tracking.message_id = messages.message_id
),

flagged as (
    select
        *,
        coalesce({{ regex_match('user_agent', sql_literal('(?i)(' ~ (var('machine_user_agents') | join('|')) ~ ')')) }}, false) as is_machine_user_agent,
        tracking_type = 'open'
            and coalesce({{ regex_match('user_agent', "'^Mozilla/5\\.0 \\(Macintosh; Intel Mac OS X [0-9_]+\\) AppleWebKit/[0-9.]+ \\(KHTML, like Gecko\\)$'") }}, false) as is_privacy_proxy,
        tracking_type = 'open' and relayed_at is not null
            and {{ seconds_between('relayed_at', 'event_at') }} between 0 and {{ var('machine_open_seconds') }} as is_prefetch,
        tracking_type = 'click' and relayed_at is not null
            and {{ seconds_between('relayed_at', 'event_at') }} between 0 and {{ var('machine_click_seconds') }} as is_scanner_click
    from joined
),

final as (
    select
        *,
        is_machine_user_agent or is_privacy_proxy or is_prefetch or is_scanner_click as is_machine,
        case
            when is_privacy_proxy then 'privacy proxy'
            when is_machine_user_agent then 'machine user agent'
            when is_prefetch then 'prefetch'
            when is_scanner_click then 'scanner click'
        end as machine_reason,
        contact_at is null
            or event_at < {{ add_seconds('contact_at', var('report_window_days') ~ ' * 86400') }} as is_in_report_window
    from flagged
)

select * from final
