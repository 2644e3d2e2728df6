-- Every rejected input row with its file, row number, field and reason (audit.rejected_rows).
with rejected as (
    select * from {{ lake_audit_scan('rejected.parquet') }}
),

final as (
    select
        batch_id,
        kind,
        file,
        row_number,
        field,
        reason,
        raw_record
    from rejected
)

select * from final
