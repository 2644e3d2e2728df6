-- The reporting deliveries an incremental build recomputes in the delivery-level reports
-- (empty on a full build; unused when as_of moved, the reports are then rebuilt whole): the
-- deliveries of the recomputed messages, before and after, every delivery landed again, and
-- the recurring parents they count in, before and after, and the deliveries whose dashboard
-- row a compute-stats refreshed at another instant.
-- The kept tables it reads (previous()) are the published build's: int_messages and
-- int_delivery_rollup are recomputed after this model.
{%- set changed_messages = ref('int_changed_messages') %}
{%- set stg_deliveries = ref('stg_deliveries') %}
{% if is_incremental_build() %}
with changed_messages as (
    select message_id from {{ changed_messages }}
),

deliveries as (
    select * from {{ stg_deliveries }}
),

member_ids as (
    select delivery_id from {{ previous('int_messages') }}
    where message_id in (select message_id from changed_messages)
    union all
    select delivery_id from {{ lake_scan_new('send_log') }}
    union all
    select delivery_id from {{ lake_scan_new('deliveries') }}
    union all
    select parent_delivery_id from {{ lake_scan_new('deliveries') }}
),

reporting_ids as (
    select delivery_id from member_ids
    union all
    select reporting_delivery_id from {{ previous('int_delivery_rollup') }}
    where delivery_id in (select delivery_id from member_ids)
    union all
    select parent_delivery_id from deliveries
    where delivery_id in (select delivery_id from member_ids)
),

-- dashboard rows a compute-stats moved off the build's instant: the build refreshes them
stale_dashboard as (
    select delivery_id from {{ previous('dash_delivery_kpis') }}
    where stats_computed_at <> {{ stats_at() }}
),

final as (
    select distinct delivery_id from (
        select delivery_id from reporting_ids
        union all
        select delivery_id from stale_dashboard
    ) as changed
    where delivery_id is not null
)

select * from final
{% else %}
select cast(null as {{ dbt.type_string() }}) as delivery_id
where 1 = 0
{% endif %}
