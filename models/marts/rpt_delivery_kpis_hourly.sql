-- Per delivery, mode and hour from the contact date to validity_end (and never past the
-- build's as_of): the sending-log counts as known at the end of that hour (events up to,
-- not including, the top of the next hour; the last, partial hour as of as_of).
-- Rates divide by the messages sent (relayed) by then, as the deployment dashboard does:
-- without EFS the delivered curve starts at 100% and decreases; with EFS it starts at 0%.
{{ kept_by('delivery_id', rows='report') }}
with reporting_deliveries as (
    select * from {{ ref('int_reporting_deliveries') }}
    where {{ kept_rows() }}
),

rollup as (
    select * from {{ ref('int_delivery_rollup') }}
    where {{ kept_rows('reporting_delivery_id') }}
),

messages as (
    select * from {{ ref('int_messages') }}
    where counts_in_kpis and relayed_at is not null and relayed_at <= {{ as_of() }}
    {% if is_incremental() %}
        and delivery_id in (select delivery_id from rollup)
    {% endif %}
),

history as (
    select * from {{ ref('fct_message_status_history') }}
),

digits as (
    select 0 as d union all select 1 union all select 2 union all select 3 union all select 4
    union all select 5 union all select 6 union all select 7 union all select 8 union all select 9
),

hour_offsets as (
    select a.d + 10 * b.d + 100 * c.d + 1000 * e.d as hour_offset
    from digits as a
    cross join digits as b
    cross join digits as c
    cross join digits as e
),

bounds as (
    select
        reporting_deliveries.delivery_id,
        {{ dbt.date_trunc('hour', 'min(messages.relayed_at)') }} as first_hour,
        {{ dbt.date_trunc('hour', 'least(coalesce(max(reporting_deliveries.validity_end_at), ' ~ as_of() ~ '), ' ~ as_of() ~ ')') }} as last_hour
    from reporting_deliveries
    inner join rollup
        on reporting_deliveries.delivery_id = rollup.reporting_delivery_id
    inner join messages
        on rollup.delivery_id = messages.delivery_id
    group by reporting_deliveries.delivery_id
),

hours as (
    select
        bounds.delivery_id,
        {{ add_seconds('bounds.first_hour', 'hour_offsets.hour_offset * 3600') }} as hour_start
    from bounds
    inner join hour_offsets
        on {{ add_seconds('bounds.first_hour', 'hour_offsets.hour_offset * 3600') }} <= bounds.last_hour
),

modes as (
    select 'standard' as reporting_mode
    union all
    select 'efs' as reporting_mode
),

-- +1 when an interval starts, -1 when it ends, per status and hour bucket
deltas as (
    select rollup.reporting_delivery_id as delivery_id, history.reporting_mode, history.status,
        {{ dbt.date_trunc('hour', 'history.valid_from') }} as hour_start, 1 as delta
    from history
    inner join messages on history.message_id = messages.message_id
    inner join rollup on messages.delivery_id = rollup.delivery_id
    union all
    select rollup.reporting_delivery_id, history.reporting_mode, history.status,
        {{ dbt.date_trunc('hour', 'history.valid_to') }}, -1
    from history
    inner join messages on history.message_id = messages.message_id
    inner join rollup on messages.delivery_id = rollup.delivery_id
    where history.valid_to is not null
),

relays as (
    select rollup.reporting_delivery_id as delivery_id,
        {{ dbt.date_trunc('hour', 'messages.relayed_at') }} as hour_start, count(*) as relayed
    from messages
    inner join rollup on messages.delivery_id = rollup.delivery_id
    group by 1, 2
),

bucketed as (
    select
        delivery_id, reporting_mode, hour_start,
        sum(case when status = 'sent' then delta else 0 end) as delivered_delta,
        sum(case when status = 'failed' then delta else 0 end) as failed_delta,
        sum(case when status = 'pending' then delta else 0 end) as pending_delta
    from deltas
    group by 1, 2, 3
),

series as (
    select
        hours.delivery_id,
        modes.reporting_mode,
        hours.hour_start,
        sum(coalesce(relays.relayed, 0)) over by_hour as sent,
        sum(coalesce(bucketed.delivered_delta, 0)) over by_hour as delivered,
        sum(coalesce(bucketed.failed_delta, 0)) over by_hour as bounces_errors,
        sum(coalesce(bucketed.pending_delta, 0)) over by_hour as pending
    from hours
    cross join modes
    left join relays
        on hours.delivery_id = relays.delivery_id and hours.hour_start = relays.hour_start
    left join bucketed
        on hours.delivery_id = bucketed.delivery_id
        and modes.reporting_mode = bucketed.reporting_mode
        and hours.hour_start = bucketed.hour_start
    window by_hour as (
        partition by hours.delivery_id, modes.reporting_mode order by hours.hour_start
        rows between unbounded preceding and current row
    )
),

final as (
    select
        series.delivery_id,
        series.reporting_mode,
        series.hour_start,
        cast(sent as bigint) as sent,
        cast(delivered as bigint) as delivered,
        cast(bounces_errors as bigint) as bounces_errors,
        cast(pending as bigint) as pending,
        {{ safe_rate('delivered', 'sent') }} as delivered_rate,
        {{ safe_rate('bounces_errors', 'sent') }} as bounces_errors_rate,
        coalesce(reporting_deliveries.is_recurring_parent, false) as is_recurring_parent
    from series
    left join reporting_deliveries
        on series.delivery_id = reporting_deliveries.delivery_id
)

select * from final
