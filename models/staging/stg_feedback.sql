-- One row per MTA feedback event: repeats of an event_id (exact duplicates, or the same event
-- landed again in a later batch) count once; the first landed copy wins. `copies` keeps how
-- many were received, for the reconciliation's "duplicates removed".
-- Kept between builds on DuckDB: an incremental build ranks the new batches' rows with the
-- kept row of the same event_id (macro kept_staging_rows).
{{ kept_by('event_id', rows='landed') }}
with source as (
    select * from {{ staging_source('feedback') }}
),

renamed as (
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
        1 as copies,
        _batch_id as batch_id,
        _row as source_row
    from source
),

candidates as (
    select * from renamed
    {{ kept_staging_rows() }}
),

ranked as (
    select
        *,
        row_number() over (partition by event_id order by batch_id, source_row) as copy_rank,
        sum(copies) over (partition by event_id) as total_copies
    from candidates
),

final as (
    select
        event_id,
        message_id,
        event_at,
        received_at,
        outcome,
        failure_reason_raw,
        smtp_code,
        diagnostic,
        attempt,
        cast(total_copies as bigint) as copies,
        batch_id,
        source_row
    from ranked
    where copy_rank = 1
)

select * from final
