-- The messages an incremental build recomputes (empty on a full build, which recomputes all):
--   * every message with a row in a batch landed since the published build (send_log,
--     feedback, tracking), and every message of a delivery landed again with other settings;
--   * every message sharing an event_id with a new event (a later copy changes `copies`);
--   * when as_of moved forward from the published build's: the messages whose status can still
--     change (not relayed yet, no validity_end, or within late_event_lookback_days past it) and,
--     so that nothing else is missed, every message with something in the window
--     (previous as_of, as_of]: a tracking event received, a status interval starting or
--     ending, its relay or its validity end (the as_of cuts the kept per-message tables apply).
-- The kept tables it reads (previous()) are the published build's, before this build.
{% if is_incremental_build() %}
with new_send_log as (
    select message_id, delivery_id from {{ lake_scan_new('send_log') }}
),

new_feedback as (
    select event_id, message_id from {{ lake_scan_new('feedback') }}
),

new_tracking as (
    select event_id, message_id from {{ lake_scan_new('tracking') }}
),

new_deliveries as (
    select delivery_id, _batch_id from {{ lake_scan_new('deliveries') }}
),

-- a delivery landed again changes its messages only if the version that now wins differs from
-- the one that won before in what a message takes from it (stg_deliveries' order)
delivery_versions as (
    select
        delivery_id, label, channel, efs_enabled, contact_date, validity_hours, is_proof,
        parent_delivery_id,
        _batch_id in (select _batch_id from new_deliveries) as is_new,
        row_number() over (
            partition by delivery_id
            order by {{ delivery_version_order() }}
        ) as rank_now
    from {{ lake_scan('deliveries') }}
    where delivery_id in (select delivery_id from new_deliveries)
),

winners_before as (
    select *
    from (
        select
            *,
            row_number() over (
                partition by delivery_id
                order by rank_now
            ) as rank_before
        from delivery_versions
        where not is_new
    ) as old_versions
    where rank_before = 1
),

changed_deliveries as (
    select now.delivery_id
    from delivery_versions as now
    left join winners_before as before
        on now.delivery_id = before.delivery_id
    where now.rank_now = 1
        and (
            before.delivery_id is null
            or now.label is distinct from before.label
            or now.channel is distinct from before.channel
            or now.efs_enabled is distinct from before.efs_enabled
            or now.contact_date is distinct from before.contact_date
            or now.validity_hours is distinct from before.validity_hours
            or now.is_proof is distinct from before.is_proof
            or now.parent_delivery_id is distinct from before.parent_delivery_id
        )
),

of_changed_deliveries as (
    select message_id from {{ lake_scan('send_log') }}
    where delivery_id in (select delivery_id from changed_deliveries)
),

sharing_feedback_events as (
    select message_id from {{ lake_scan('feedback') }}
    where event_id in (select event_id from new_feedback)
),

sharing_tracking_events as (
    select message_id from {{ lake_scan('tracking') }}
    where event_id in (select event_id from new_tracking)
),

{% if build_var('as_of_moved_from') %}
still_changing as (
    select message_id from {{ previous('int_messages') }}
    where relayed_at is null
        or validity_end_at is null
        or {{ add_seconds('validity_end_at', var('late_event_lookback_days') ~ ' * 86400') }} > cast({{ sql_literal(build_var("as_of_moved_from")) }} as timestamp)
),

tracked_in_window as (
    select message_id from {{ previous('int_tracking_events') }}
    where {{ in_moved_window('received_at') }}
),

-- a status interval starts or ends, or the validity period ends (is_final), in the window
status_in_window as (
    select message_id from {{ previous('int_message_status_timeline') }}
    where {{ in_moved_window('valid_from') }} or {{ in_moved_window('valid_to') }}
    union all
    select message_id from {{ previous('int_messages') }}
    where {{ in_moved_window('validity_end_at') }} or {{ in_moved_window('relayed_at') }}
),
{% endif %}

all_changed as (
    select message_id from new_send_log
    union all select message_id from new_feedback
    union all select message_id from new_tracking
    union all select message_id from of_changed_deliveries
    union all select message_id from sharing_feedback_events
    union all select message_id from sharing_tracking_events
    {% if build_var('as_of_moved_from') %}
    union all select message_id from still_changing
    union all select message_id from tracked_in_window
    union all select message_id from status_in_window
    {% endif %}
),

final as (
    select distinct message_id from all_changed
    where message_id is not null
)

select * from final
{% else %}
select cast(null as {{ dbt.type_string() }}) as message_id
where 1 = 0
{% endif %}
