-- One row per tracking event; repeats of an event_id count once (first landed copy wins).
-- Kept between builds on DuckDB: an incremental build ranks the new batches' rows together
-- with the kept row of the same event_id (the winner of every earlier batch), so a batch
-- costs in proportion to its rows (macro kept_staging_rows).
{{ kept_by('event_id', rows='landed') }}
with source as (
    select * from {{ staging_source('tracking') }}
),

renamed as (
    select
        event_id,
        message_id,
        event_at,
        coalesce(received_at, event_at) as received_at,
        {{ adapter.quote('type') }} as tracking_type,
        url,
        user_agent,
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
        tracking_type,
        url,
        user_agent,
        cast(total_copies as bigint) as copies,
        batch_id,
        source_row
    from ranked
    where copy_rank = 1
)

select * from final
