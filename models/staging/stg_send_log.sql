-- One row per message: the newest landed version of each message_id (a prepared message
-- landed again once relayed takes its relayed_at from the later batch). Canonical rows win over
-- rows derived from email-service-provider exports; among derived rows the earliest relay wins
-- (a later export may only show a later event of the same message).
with source as (
    select * from {{ lake_scan('send_log') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by message_id
            order by
                case when _origin = 'canonical' then 0 else 1 end,
                case when _origin = 'canonical' then _batch_id end desc,
                relayed_at nulls last,
                _batch_id desc,
                _row desc
        ) as version_rank
    from source
),

final as (
    select
        message_id,
        delivery_id,
        profile_id,
        address,
        is_test_profile,
        relayed_at,
        _origin as origin,
        _batch_id as batch_id
    from ranked
    where version_rank = 1
)

select * from final
