-- The authoritative dynamic report: one row per delivery and reporting mode, from every event
-- known at the build's as_of (SPEC section 3). Recurring executions count in their own row
-- and in their parent's; proofs and test profiles are excluded (rpt_proof_and_test_sends).
{{ kept_by('delivery_id', rows='report') }}
with reporting_deliveries as (
    select * from {{ ref('int_reporting_deliveries') }}
    where {{ kept_rows() }}
),

messages as (
    select * from {{ ref('int_reporting_messages') }}
    where {{ kept_rows('reporting_delivery_id') }}
),

statuses as (
    select * from {{ ref('fct_message_status') }}
),

engagement as (
    select * from {{ ref('int_message_engagement') }}
),

modes as (
    select 'standard' as reporting_mode
    union all
    select 'efs' as reporting_mode
),

grid as (
    select reporting_deliveries.delivery_id, modes.reporting_mode, reporting_deliveries.validity_end_at,
        reporting_deliveries.is_recurring_parent
    from reporting_deliveries
    cross join modes
),

message_rows as (
    select
        messages.reporting_delivery_id,
        modes.reporting_mode,
        messages.message_id,
        messages.relayed_at is not null and messages.relayed_at <= {{ as_of() }} as is_sent,
        statuses.status,
        statuses.failure_type,
        coalesce(engagement.open_events, 0) as open_events,
        coalesce(engagement.machine_open_events, 0) as machine_open_events,
        coalesce(engagement.human_open_events, 0) as human_open_events,
        coalesce(engagement.click_events, 0) as click_events,
        coalesce(engagement.human_click_events, 0) as human_click_events,
        coalesce(engagement.opt_out_events, 0) as opt_out_events,
        coalesce(engagement.mirror_page_events, 0) as mirror_page_events,
        coalesce(engagement.complaint_events, 0) as complaint_events,
        coalesce(engagement.has_open, false) as has_open,
        coalesce(engagement.has_click, false) as has_click,
        coalesce(engagement.has_open_or_implied, false) as has_open_or_implied,
        coalesce(engagement.has_human_open, false) as has_human_open,
        coalesce(engagement.has_human_click, false) as has_human_click,
        coalesce(engagement.has_human_open_or_implied, false) as has_human_open_or_implied
    from messages
    cross join modes
    left join statuses
        on messages.message_id = statuses.message_id
        and modes.reporting_mode = statuses.reporting_mode
    left join engagement
        on messages.message_id = engagement.message_id
),

aggregated as (
    select
        reporting_delivery_id as delivery_id,
        reporting_mode,
        count(*) as to_deliver,
        count(case when is_sent then 1 end) as sent,
        count(case when status = 'sent' then 1 end) as delivered,
        count(case when status = 'failed' then 1 end) as bounces_errors,
        count(case when status = 'pending' then 1 end) as pending,
        count(case when status = 'failed' and failure_type = 'hard' then 1 end) as hard_bounces,
        count(case when status = 'failed' and failure_type = 'soft' then 1 end) as soft_bounces,
        sum(open_events) + count(case when has_open_or_implied and not has_open then 1 end) as opens,
        count(case when has_open_or_implied and not has_open then 1 end) as click_implied_opens,
        count(case when has_open_or_implied then 1 end) as unique_opens,
        sum(click_events) as clicks,
        count(case when has_click then 1 end) as unique_clicks,
        sum(opt_out_events) as opt_outs,
        sum(mirror_page_events) as mirror_pages,
        sum(complaint_events) as complaints,
        sum(machine_open_events) as machine_opens,
        sum(human_open_events) + count(case when has_human_open_or_implied and not has_human_open then 1 end) as human_opens,
        count(case when has_human_open_or_implied then 1 end) as human_unique_opens,
        sum(human_click_events) as human_clicks,
        count(case when has_human_click then 1 end) as human_unique_clicks
    from message_rows
    group by reporting_delivery_id, reporting_mode
),

final as (
    select
        grid.delivery_id,
        grid.reporting_mode,
        {{ as_of() }} as as_of,
        cast(coalesce(a.to_deliver, 0) as bigint) as to_deliver,
        cast(coalesce(a.sent, 0) as bigint) as sent,
        cast(coalesce(a.delivered, 0) + coalesce(a.bounces_errors, 0) as bigint) as processed,
        cast(coalesce(a.delivered, 0) as bigint) as delivered,
        cast(coalesce(a.bounces_errors, 0) as bigint) as bounces_errors,
        cast(coalesce(a.pending, 0) as bigint) as pending,
        cast(coalesce(a.hard_bounces, 0) as bigint) as hard_bounces,
        cast(coalesce(a.soft_bounces, 0) as bigint) as soft_bounces,
        {{ safe_rate('coalesce(a.delivered, 0)', 'coalesce(a.delivered, 0) + coalesce(a.bounces_errors, 0)') }} as delivered_rate,
        {{ safe_rate('coalesce(a.bounces_errors, 0)', 'coalesce(a.delivered, 0) + coalesce(a.bounces_errors, 0)') }} as bounce_rate,
        cast(coalesce(a.opens, 0) as bigint) as opens,
        cast(coalesce(a.click_implied_opens, 0) as bigint) as click_implied_opens,
        cast(coalesce(a.unique_opens, 0) as bigint) as unique_opens,
        cast(coalesce(a.clicks, 0) as bigint) as clicks,
        cast(coalesce(a.unique_clicks, 0) as bigint) as unique_clicks,
        least(1.0, {{ safe_rate('coalesce(a.unique_opens, 0)', 'coalesce(a.delivered, 0)') }}) as open_rate,
        least(1.0, {{ safe_rate('coalesce(a.unique_clicks, 0)', 'coalesce(a.delivered, 0)') }}) as click_through_rate,
        least(1.0, {{ safe_rate('coalesce(a.unique_clicks, 0)', 'coalesce(a.unique_opens, 0)') }}) as click_to_open_rate,
        cast(coalesce(a.opt_outs, 0) as bigint) as opt_outs,
        cast(coalesce(a.mirror_pages, 0) as bigint) as mirror_pages,
        cast(coalesce(a.complaints, 0) as bigint) as complaints,
        cast(coalesce(a.machine_opens, 0) as bigint) as machine_opens,
        cast(coalesce(a.human_opens, 0) as bigint) as human_opens,
        cast(coalesce(a.human_unique_opens, 0) as bigint) as human_unique_opens,
        cast(coalesce(a.human_clicks, 0) as bigint) as human_clicks,
        cast(coalesce(a.human_unique_clicks, 0) as bigint) as human_unique_clicks,
        least(1.0, {{ safe_rate('coalesce(a.human_unique_opens, 0)', 'coalesce(a.delivered, 0)') }}) as open_rate_excl_machine,
        least(1.0, {{ safe_rate('coalesce(a.human_unique_clicks, 0)', 'coalesce(a.delivered, 0)') }}) as click_through_rate_excl_machine,
        grid.validity_end_at,
        grid.validity_end_at is not null and grid.validity_end_at <= {{ as_of() }} as is_final,
        -- a recurring parent's row repeats its executions' messages: totals leave it out
        grid.is_recurring_parent
    from grid
    left join aggregated as a
        on grid.delivery_id = a.delivery_id
        and grid.reporting_mode = a.reporting_mode
)

select * from final
