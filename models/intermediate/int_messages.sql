-- One row per sending-log message with its delivery's settings and validity window.
-- validity_end and the own reporting mode follow the delivery rules of the macros
-- validity_end_at and own_reporting_mode (macros/sendlens_macros.sql), except that a message whose
-- MTA / provider stated when it stops retrying it (send_log.expires_at, e.g. SES expirationTime)
-- ends its validity then. Messages whose delivery is unknown are kept (no validity_end unless
-- stated: they never expire) and reported as findings.
{{ kept_by('message_id') }}
with send_log as (
    select * from {{ ref('stg_send_log') }}
    where {{ kept_rows() }}
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
        send_log.expires_at,
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
        {{ own_reporting_mode('is_efs_enabled') }} as own_reporting_mode,
        coalesce(
            expires_at,
            {{ validity_end_at('channel', 'contact_at', 'validity_hours') }}
        ) as validity_end_at,
        case
            when channel = 'email' and position('@' in address) > 0
                then lower(substr(address, position('@' in address) + 1))
        end as recipient_domain,
        relayed_at is not null as is_relayed,
        not is_test_profile and not is_proof as counts_in_kpis
    from joined
)

select * from final
