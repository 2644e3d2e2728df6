-- Exclusion causes (SPEC section 5): per delivery and cause, how many targets were excluded
-- (stg_exclusions recorded by the build's as_of). Excluded targets are never in the sending
-- log: an exclusion whose (delivery, address) is nevertheless in the sending log is counted in
-- excluded_targets and also in excluded_but_in_send_log, a data-quality finding that should be 0.
with exclusions as (
    select * from {{ ref('stg_exclusions') }}
    where excluded_at <= {{ as_of() }}
),

messages as (
    select delivery_id, address from {{ ref('int_messages') }}
),

deliveries as (
    select * from {{ ref('stg_deliveries') }}
),

-- the excluded (delivery, address) pairs found in the sending log (probing the sending log
-- with the exclusions, not deduplicating the whole sending log)
in_send_log as (
    select distinct exclusions.delivery_id, exclusions.address
    from exclusions
    inner join messages
        on exclusions.delivery_id = messages.delivery_id
        and exclusions.address = messages.address
),

flagged as (
    select
        exclusions.*,
        in_send_log.address is not null as is_in_send_log
    from exclusions
    left join in_send_log
        on exclusions.delivery_id = in_send_log.delivery_id
        and exclusions.address = in_send_log.address
),

final as (
    select
        flagged.delivery_id,
        deliveries.label,
        deliveries.channel,
        flagged.exclusion_reason,
        count(*) as excluded_targets,
        count(distinct flagged.profile_id) as excluded_profiles,
        count(case when flagged.is_in_send_log then 1 end) as excluded_but_in_send_log,
        min(flagged.excluded_at) as first_excluded_at,
        max(flagged.excluded_at) as last_excluded_at,
        {{ as_of() }} as as_of
    from flagged
    left join deliveries
        on flagged.delivery_id = deliveries.delivery_id
    group by flagged.delivery_id, deliveries.label, deliveries.channel, flagged.exclusion_reason
)

select * from final
