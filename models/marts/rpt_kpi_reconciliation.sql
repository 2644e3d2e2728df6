-- Dashboard versus dynamic report, per delivery (its own mode) and KPI: both values, the
-- difference (report - dashboard) and the reasons that explain it. A reason is listed only
-- when its mechanism is present for that delivery and the values differ:
--   stale snapshot      the snapshot (stats_computed_at) and the report (as_of) differ in time
--                       and messages were relayed, changed status or were tracked in between
--   hourly lag          tracking received after the last full hour before the snapshot
--   click-implied opens a click, opt-out or mirror-page view without an open counts as an open
--   report window       tracking after contact date + report window counts only on the dashboard
--   duplicates removed  repeated event_ids count once in the report
--   machine opens       the report's machine-filtered rates leave machine activity out
--   late events         events that happened before the snapshot but arrived after it
--   rate denominator    the dashboard divides by sent, the report by processed (pending excluded)
-- Kept per reporting delivery while as_of stays put (like the delivery reports).
{{ kept_by('delivery_id', rows='report') }}
with dash as (
    select * from {{ ref('dash_delivery_kpis') }}
    where {{ kept_rows() }}
),

report as (
    select * from {{ ref('rpt_delivery_kpis') }}
    where {{ kept_rows() }}
),

messages as (
    select * from {{ ref('int_reporting_messages') }}
    where {{ kept_rows('reporting_delivery_id') }}
),

timeline as (
    select * from {{ ref('int_message_status_timeline') }}
),

tracking as (
    select * from {{ ref('int_tracking_events') }}
    where counts_in_kpis
),

feedback as (
    select * from {{ ref('int_feedback_events') }}
),

engagement as (
    select * from {{ ref('int_message_engagement') }}
),

instants as (
    select
        dash.delivery_id,
        dash.reporting_mode,
        dash.stats_computed_at,
        dash.tracking_counted_until,
        report.as_of,
        least(dash.stats_computed_at, report.as_of) as earlier_at,
        greatest(dash.stats_computed_at, report.as_of) as later_at
    from dash
    inner join report
        on dash.delivery_id = report.delivery_id
        and dash.reporting_mode = report.reporting_mode
),

delivery_messages as (
    select instants.*, messages.message_id, messages.relayed_at
    from instants
    inner join messages on instants.delivery_id = messages.reporting_delivery_id
),

status_changes as (
    -- messages whose status changed between the two instants
    select delivery_messages.delivery_id, count(distinct delivery_messages.message_id) as changed
    from delivery_messages
    inner join timeline
        on delivery_messages.message_id = timeline.message_id
        and delivery_messages.reporting_mode = timeline.reporting_mode
    where timeline.valid_from > delivery_messages.earlier_at
        and timeline.valid_from <= delivery_messages.later_at
    group by 1
),

relay_changes as (
    select delivery_id, count(*) as relayed_between
    from delivery_messages
    where relayed_at > earlier_at and relayed_at <= later_at
    group by 1
),

tracking_facts as (
    select
        delivery_messages.delivery_id,
        count(case when tracking.tracking_type in ('open', 'click')
            and tracking.received_at >= delivery_messages.tracking_counted_until
            and tracking.received_at <= delivery_messages.stats_computed_at then 1 end) as hourly_lag_events,
        count(case when tracking.tracking_type in ('open', 'click', 'opt_out', 'mirror_page')
            and tracking.received_at > delivery_messages.stats_computed_at
            and tracking.received_at <= delivery_messages.as_of then 1 end) as after_snapshot_events,
        count(case when tracking.tracking_type in ('open', 'click')
            and not tracking.is_in_report_window
            and tracking.received_at < delivery_messages.tracking_counted_until then 1 end) as outside_window_events,
        count(case when tracking.event_at <= delivery_messages.stats_computed_at
            and tracking.received_at > delivery_messages.stats_computed_at
            and tracking.received_at <= delivery_messages.as_of then 1 end) as late_tracking_events,
        sum(case when tracking.tracking_type in ('open', 'click') then tracking.copies - 1 else 0 end) as duplicate_copies,
        count(case when tracking.is_machine and tracking.tracking_type in ('open', 'click')
            and tracking.received_at <= delivery_messages.as_of then 1 end) as machine_events
    from delivery_messages
    inner join tracking
        on delivery_messages.message_id = tracking.message_id
    group by 1
),

feedback_facts as (
    select
        delivery_messages.delivery_id,
        count(case when feedback.event_at <= delivery_messages.stats_computed_at
            and feedback.received_at > delivery_messages.stats_computed_at
            and feedback.received_at <= delivery_messages.as_of then 1 end) as late_feedback_events
    from delivery_messages
    inner join feedback
        on delivery_messages.message_id = feedback.message_id
    group by 1
),

implied as (
    select delivery_messages.delivery_id,
        count(case when engagement.has_open_or_implied and not engagement.has_open then 1 end) as click_implied
    from delivery_messages
    inner join engagement
        on delivery_messages.message_id = engagement.message_id
    group by 1
),

facts as (
    select
        instants.delivery_id,
        instants.reporting_mode,
        instants.stats_computed_at <> instants.as_of
            and (coalesce(status_changes.changed, 0) > 0 or coalesce(relay_changes.relayed_between, 0) > 0) as has_stale_status,
        instants.stats_computed_at <> instants.as_of
            and (coalesce(status_changes.changed, 0) > 0 or coalesce(relay_changes.relayed_between, 0) > 0
                 or coalesce(tracking_facts.after_snapshot_events, 0) > 0) as has_stale_tracking,
        coalesce(tracking_facts.hourly_lag_events, 0) > 0 as has_hourly_lag,
        coalesce(implied.click_implied, 0) > 0 as has_click_implied,
        coalesce(tracking_facts.outside_window_events, 0) > 0 as has_window_effect,
        coalesce(tracking_facts.duplicate_copies, 0) > 0 as has_duplicates,
        coalesce(tracking_facts.machine_events, 0) > 0 as has_machine,
        coalesce(feedback_facts.late_feedback_events, 0) > 0 as has_late_feedback,
        coalesce(tracking_facts.late_tracking_events, 0) > 0 as has_late_tracking,
        report.pending > 0 or dash.pending > 0 as has_pending
    from instants
    inner join dash on instants.delivery_id = dash.delivery_id
    inner join report on instants.delivery_id = report.delivery_id and instants.reporting_mode = report.reporting_mode
    left join status_changes on instants.delivery_id = status_changes.delivery_id
    left join relay_changes on instants.delivery_id = relay_changes.delivery_id
    left join tracking_facts on instants.delivery_id = tracking_facts.delivery_id
    left join feedback_facts on instants.delivery_id = feedback_facts.delivery_id
    left join implied on instants.delivery_id = implied.delivery_id
),

kpis as (
    {% set kpis = [
        ('to_deliver', 'to_deliver', 'to_deliver', []),
        ('sent', 'sent', 'sent', ['stale_status']),
        ('delivered', 'delivered', 'delivered', ['stale_status', 'late_feedback']),
        ('bounces_errors', 'bounces_errors', 'bounces_errors', ['stale_status', 'late_feedback']),
        ('delivered_rate', 'delivered_rate', 'delivered_rate', ['stale_status', 'late_feedback', 'pending']),
        ('bounces_errors_rate', 'bounces_errors_rate', 'bounce_rate', ['stale_status', 'late_feedback', 'pending']),
        ('opens', 'opens', 'opens', ['stale_tracking', 'hourly_lag', 'click_implied', 'window', 'duplicates', 'late_tracking']),
        ('clicks', 'clicks', 'clicks', ['stale_tracking', 'hourly_lag', 'window', 'duplicates', 'late_tracking']),
        ('open_rate', 'open_rate', 'open_rate', ['stale_tracking', 'hourly_lag', 'click_implied', 'window', 'late_tracking', 'late_feedback']),
        ('click_through_rate', 'click_through_rate', 'click_through_rate', ['stale_tracking', 'hourly_lag', 'window', 'late_tracking', 'late_feedback']),
        ('open_rate_excl_machine', 'open_rate', 'open_rate_excl_machine', ['stale_tracking', 'hourly_lag', 'click_implied', 'window', 'late_tracking', 'late_feedback', 'machine']),
        ('click_through_rate_excl_machine', 'click_through_rate', 'click_through_rate_excl_machine', ['stale_tracking', 'hourly_lag', 'window', 'late_tracking', 'late_feedback', 'machine']),
    ] %}
    {% set labels = {
        'stale_status': ('has_stale_status', 'stale snapshot'),
        'stale_tracking': ('has_stale_tracking', 'stale snapshot'),
        'hourly_lag': ('has_hourly_lag', 'hourly lag'),
        'click_implied': ('has_click_implied', 'click-implied opens'),
        'window': ('has_window_effect', 'report window'),
        'duplicates': ('has_duplicates', 'duplicates removed'),
        'machine': ('has_machine', 'machine opens'),
        'late_feedback': ('has_late_feedback', 'late events'),
        'late_tracking': ('has_late_tracking', 'late events'),
        'pending': ('has_pending', 'rate denominator'),
    } %}
    {% for kpi, dash_col, report_col, reasons in kpis %}
    select
        dash.delivery_id,
        dash.reporting_mode,
        '{{ kpi }}' as kpi,
        {{ loop.index }} as kpi_order,
        cast(dash.{{ dash_col }} as double) as dashboard_value,
        cast(report.{{ report_col }} as double) as report_value,
        report.is_recurring_parent,
        {% if reasons %}
        concat_ws('; '
            {%- for r in reasons %}, case when facts.{{ labels[r][0] }} then '{{ labels[r][1] }}' end{% endfor -%}
        ) as candidate_reasons
        {% else %}
        '' as candidate_reasons
        {% endif %}
    from dash
    inner join report on dash.delivery_id = report.delivery_id and dash.reporting_mode = report.reporting_mode
    inner join facts on dash.delivery_id = facts.delivery_id
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select
        delivery_id,
        reporting_mode,
        kpi,
        dashboard_value,
        report_value,
        report_value - dashboard_value as difference,
        case
            when abs(report_value - dashboard_value) < 1e-9 then null
            when candidate_reasons = '' then 'unexplained'
            else candidate_reasons
        end as reasons,
        kpi_order,
        is_recurring_parent
    from kpis
)

select * from final
