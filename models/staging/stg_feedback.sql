-- One row per MTA feedback event: repeats of an event_id (exact duplicates, or the same event
-- landed again in a later batch) count once; the first landed copy wins. `copies` keeps how
-- many were received, for the reconciliation's "duplicates removed".
with source as (
    select * from {{ lake_scan('feedback') }}
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
        outcome,
        failure_reason as failure_reason_raw,
        smtp_code,
        diagnostic,
        attempt,
        copies,
        _batch_id as batch_id
    from ranked
    where copy_rank = 1
)

select * from final
