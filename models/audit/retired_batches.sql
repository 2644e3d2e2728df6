-- Every retired batch (`sendlens batches retire`): what it held, when and why it left the lake.
with retirements as (
    select * from {{ lake_audit_scan('retired.parquet') }}
),

final as (
    select
        batch_id,
        kind,
        file,
        sha256,
        rows_read,
        rows_landed,
        rows_rejected,
        ingested_at,
        retired_at,
        reason,
        moved_to
    from retirements
)

select * from final
