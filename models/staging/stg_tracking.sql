-- One row per tracking event; repeats of an event_id count once (first landed copy wins).
with source as (
    select * from {{ lake_scan('tracking') }}
),

ranked as (
    select
        *,
        row_number() over (partition by event_id order by _batch_id, _row) as copy_rank,
        count(*) over (partition by event_id) as copies
    from source
),

final as (
    select
        event_id,
        message_id,
        event_at,
        coalesce(received_at, event_at) as received_at,
        {{ adapter.quote('type') }} as tracking_type,
        url,
        user_agent,
        copies,
        _batch_id as batch_id
    from ranked
    where copy_rank = 1
)

select * from final
