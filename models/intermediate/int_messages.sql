-- One row per sending-log message with its delivery's settings and validity window.
-- validity_end = contact_date + min(validity_hours, 84) for email (the MTA retries at most
-- 3.5 days), contact_date + validity_hours for SMS and push. Messages whose delivery is
-- unknown are kept (no validity_end: they never expire) and reported as findings.
-- depends_on: {{ ref('int_changed_messages') }}
-- depends_on: {{ ref('int_changed_addresses') }}
-- depends_on: {{ ref('int_changed_deliveries') }}
{{ config(materialized=kept_materialization(), incremental_strategy='append', pre_hook="{{ delete_changed('message_id', 'int_changed_messages') }}") }}
with send_log as (
    select * from {{ ref('stg_send_log') }}
    where {{ only_changed('message_id', 'int_changed_messages') }}
),

deliveries as (
    select * from {{ ref('stg_deliveries') }}
),

joined as (
    select
        send_log.message_id,
        send_log.delivery_id,
        send_log.profile_id,
        send_log.address,
        send_log.is_test_profile,
        send_log.relayed_at,
        deliveries.delivery_id is not null as has_known_delivery,
        deliveries.label,
        deliveries.channel,
        coalesce(deliveries.is_efs_enabled, false) as is_efs_enabled,
        deliveries.contact_at,
        deliveries.validity_hours,
        coalesce(deliveries.is_proof, false) as is_proof,
        deliveries.parent_delivery_id
    from send_log
    left join deliveries
        on send_log.delivery_id = deliveries.delivery_id
),

final as (
    select
        *,
        case when is_efs_enabled then 'efs' else 'standard' end as own_reporting_mode,
        case
            when channel = 'email'
                then {{ add_seconds('contact_at', 'least(validity_hours, 84) * 3600') }}
            else {{ add_seconds('contact_at', 'validity_hours * 3600') }}
        end as validity_end_at,
        case
            when channel = 'email' and position('@' in address) > 0
                then lower(substr(address, position('@' in address) + 1))
        end as recipient_domain,
        relayed_at is not null as is_relayed,
        not is_test_profile and not is_proof as counts_in_kpis
    from joined
)

select * from final
