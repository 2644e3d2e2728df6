-- One row per message: the newest landed version of each message_id (a prepared message
-- landed again once relayed takes its relayed_at from the later batch). Canonical rows win over
-- rows derived from email-service-provider exports; among derived rows the earliest relay wins
-- (a later export may only show a later event of the same message). expires_at (when the
-- provider stops retrying the message, if it said so) is the latest any version states.
-- Kept between builds on DuckDB: an incremental build ranks the new batches' rows with the
-- kept row of the same message_id (macro kept_staging_rows).
{{ kept_by('message_id', rows='landed') }}
with source as (
    select * from {{ staging_source('send_log') }}
),

renamed as (
    select
        message_id,
        delivery_id,
        profile_id,
        address,
        is_test_profile,
        relayed_at,
        expires_at,
        _origin as origin,
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
        row_number() over (
            partition by message_id
            order by
                case when origin = 'canonical' then 0 else 1 end,
                case when origin = 'canonical' then batch_id end desc,
                relayed_at nulls last,
                batch_id desc,
                source_row desc
        ) as version_rank,
        max(expires_at) over (partition by message_id) as stated_expires_at
    from candidates
),

final as (
    select
        message_id,
        delivery_id,
        profile_id,
        address,
        is_test_profile,
        relayed_at,
        stated_expires_at as expires_at,
        origin,
        batch_id,
        source_row
    from ranked
    where version_rank = 1
)

select * from final
