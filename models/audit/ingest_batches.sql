-- Every landed batch: one row per ingested file and kind (audit.ingest_batches).
with batches as (
    select * from {{ lake_audit_scan('batch.parquet') }}
),

final as (
    select
        batch_id,
        kind,
        file,
        sha256,
        source,
        rows_read,
        rows_landed,
        rows_rejected,
        ingested_at
    from batches
)

select * from final
